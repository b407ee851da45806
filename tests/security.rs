//! Security checks for vendors (src/security.rs): the reference implementation passes them in
//! process and over HTTP; IDs that are counters, timestamps or 32 random bits in a UUID's
//! clothing fail REQ-6's ID quality; a router that matches cookies case-insensitively is caught
//! by the fixation probes.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use wlcs::security::{self, SecStatus, SecurityConfig, id_quality};
use wlcs_http::{HttpSut, ServeOptions, serve};
use wlcs_model::vocab::{OptionSet, RecordRef, Slot, VarName, WorldConfig};
use wlcs_sut::memory::MemorySut;
use wlcs_sut::mutants::Mutant;
use wlcs_sut::{
    Begun, Capabilities, Response, Sut, SutError, WireAction, WireHook, WireHookRun, WireProc,
    WireRead, WireRequest,
};

fn status(rows: &[security::SecRow], id: &str) -> SecStatus {
    rows.iter()
        .find(|r| r.id == id)
        .map(|r| r.status)
        .unwrap_or(SecStatus::Skip)
}

#[test]
fn reference_passes_in_process() {
    let report = security::check(&MemorySut::new(), &SecurityConfig::default());
    eprintln!("{}", report.render_text());
    assert!(!report.failed(), "{}", report.render_text());
    assert_eq!(report.ids_sampled, security::ID_SAMPLE_DEFAULT);
    assert_eq!(report.ids_distinct, report.ids_sampled);
    assert_eq!(report.bits_tested, security::UUID_V4_RANDOM_BITS);
    for id in [
        "REQ-6/unique",
        "REQ-6/structure",
        "REQ-6/random",
        "REQ-3/fixation",
    ] {
        assert_eq!(status(&report.rows, id), SecStatus::Pass, "{id}");
    }
    assert_eq!(status(&report.rows, "cookie/attributes"), SecStatus::Info);
    assert!(report.fixation_probes >= 40 && report.fixations == 0);
}

#[test]
fn reference_passes_over_http() {
    let addr: SocketAddr = "127.0.0.1:0".parse().expect("literal address");
    let server =
        serve(addr, Arc::new(MemorySut::new()), ServeOptions::default()).expect("server starts");
    let sut = HttpSut::connect(&server.base_url()).expect("adapter connects");
    let cfg = SecurityConfig {
        id_sample: 500,
        fixation_probes: 4,
    };
    let report = security::check(&sut, &cfg);
    assert!(!report.failed(), "{}", report.render_text());
    assert_eq!(status(&report.rows, "REQ-6/random"), SecStatus::Pass);
    let cookie = report
        .rows
        .iter()
        .find(|r| r.id == "cookie/attributes")
        .map(|r| r.detail.clone())
        .unwrap_or_default();
    assert!(cookie.contains("Path=/"), "{cookie}");
}

/// The reference behind a router that matches cookies case-insensitively (it upper-cases
/// the cookie before the lookup, as the reference mints upper-case IDs).
struct CaseFoldingRouter(MemorySut);

impl Sut for CaseFoldingRouter {
    fn name(&self) -> String {
        "case-folding router".into()
    }
    fn capabilities(&self) -> Capabilities {
        self.0.capabilities()
    }
    fn reset(&self, config: &WorldConfig) -> Result<(), SutError> {
        self.0.reset(config)
    }
    fn request(&self, request: &WireRequest) -> Result<Response, SutError> {
        let mut folded = request.clone();
        folded.cookie = folded.cookie.map(|c| c.to_ascii_uppercase());
        self.0.request(&folded)
    }
    fn begin(&self, slot: Slot, request: &WireRequest) -> Result<Begun, SutError> {
        self.0.begin(slot, request)
    }
    fn end(&self, slot: Slot, actions: &[WireAction]) -> Result<Response, SutError> {
        self.0.end(slot, actions)
    }
    fn non_web(&self, process: u8, actions: &[WireAction]) -> Result<Vec<WireRead>, SutError> {
        self.0.non_web(process, actions)
    }
    fn set_option(&self, option: &OptionSet) -> Result<(), SutError> {
        self.0.set_option(option)
    }
    fn set_hook(&self, behavior: &WireHook) -> Result<(), SutError> {
        self.0.set_hook(behavior)
    }
    fn advance(&self, seconds: u64) -> Result<(), SutError> {
        self.0.advance(seconds)
    }
    fn take_hook_runs(&self) -> Result<Vec<WireHookRun>, SutError> {
        self.0.take_hook_runs()
    }
    fn locks(&self) -> Result<BTreeMap<RecordRef, WireProc>, SutError> {
        self.0.locks()
    }
    fn ipvars(&self) -> Result<BTreeMap<VarName, i64>, SutError> {
        self.0.ipvars()
    }
}

#[test]
fn a_case_folding_router_is_a_fixation() {
    let report = security::check(
        &CaseFoldingRouter(MemorySut::new()),
        &SecurityConfig::default(),
    );
    assert_eq!(
        status(&report.rows, "REQ-3/fixation"),
        SecStatus::Fail,
        "{}",
        report.render_text()
    );
    // Exactly the other-case probes: one per live session probed.
    assert_eq!(report.fixations, security::FIXATION_PROBES_DEFAULT);
}

/// 32-bit xorshift, for IDs with only 32 random bits.
fn xorshift(mut x: u32) -> u32 {
    x ^= x << 13;
    x ^= x >> 17;
    x ^ (x << 5)
}

#[test]
fn counter_timestamp_and_32_bit_ids_fail_id_quality() {
    let n = 2_000u64;
    let counter: Vec<String> = (1..=n).map(|i| format!("{i:032X}")).collect();
    let timestamp: Vec<String> = (0..n)
        .map(|i| {
            let nanos = 1_764_633_600_000_000_000u128 + u128::from(i) * 1_000_003;
            format!(
                "{:08X}-{:04X}-4{:03X}-8{:03X}-{:012X}",
                (nanos >> 96) as u32,
                (nanos >> 80) as u16,
                (nanos >> 64) as u16 & 0xFFF,
                (nanos >> 48) as u16 & 0xFFF,
                nanos as u64 & 0xFFFF_FFFF_FFFF
            )
        })
        .collect();
    let mut x = 0x9E37_79B9u32;
    let random32: Vec<String> = (0..n)
        .map(|_| {
            x = xorshift(x);
            format!("{x:08X}00004000800000000000")
        })
        .collect();
    for (name, ids) in [
        ("counter", &counter),
        ("timestamp", &timestamp),
        ("32 random bits", &random32),
    ] {
        let (rows, tests) = id_quality(ids);
        eprintln!("{name}: {:?}", tests);
        assert_eq!(
            status(&rows, "REQ-6/random"),
            SecStatus::Fail,
            "{name}: {rows:?}"
        );
    }
    // The counter is not even shaped as a v4 UUID.
    let (rows, _) = id_quality(&counter);
    assert_eq!(status(&rows, "REQ-6/structure"), SecStatus::Fail);
}

/// The reference's ID mutants (sut/src/mutants): each fails REQ-6's ID quality, and the
/// mutant that adopts the client's cookie value fails the fixation probes.
#[test]
fn id_mutants_fail_id_quality_and_adopting_fails_fixation() {
    for mutant in [
        Mutant::IdsFromCounter,
        Mutant::IdsFromClock,
        Mutant::Ids32RandomBits,
    ] {
        let report = security::check(&mutant.sut(), &SecurityConfig::default());
        eprintln!("{mutant}:\n{}", report.render_text());
        assert!(report.failed(), "{mutant}: {}", report.render_text());
        assert_eq!(
            status(&report.rows, "REQ-6/random"),
            SecStatus::Fail,
            "{mutant}: {}",
            report.render_text()
        );
    }
    let report = security::check(&Mutant::AdoptsClientId.sut(), &SecurityConfig::default());
    eprintln!("adopts-client-id:\n{}", report.render_text());
    assert_eq!(status(&report.rows, "REQ-3/fixation"), SecStatus::Fail);
}

/// A run's report carries the security rows in every format, and a run of the reference
/// passes them.
#[test]
fn a_run_reports_security_rows_in_every_format() {
    let cfg = wlcs::runner::RunConfig {
        seed: 7,
        cases: 20,
        ..wlcs::runner::RunConfig::default()
    };
    let report = wlcs::runner::run(&MemorySut::new(), &[], &cfg, "reference");
    let ids: Vec<&str> = report.security.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "REQ-6/unique",
            "REQ-6/structure",
            "REQ-6/random",
            "REQ-3/fixation",
            "cookie/attributes"
        ]
    );
    assert!(
        report.security.iter().all(|r| r.status != SecStatus::Fail),
        "{:?}",
        report.security
    );
    let text = wlcs::report::render_text(&report);
    let md = wlcs::report::markdown::to_markdown(&report);
    let html = wlcs::report::html::to_html(&report);
    let junit = wlcs::report::junit::to_junit(&report).expect("junit");
    let json = serde_json::to_string(&report).expect("json");
    for (format, out) in [
        ("text", &text),
        ("markdown", &md),
        ("html", &html),
        ("junit", &junit),
        ("json", &json),
    ] {
        for id in &ids {
            assert!(out.contains(id), "{format} lacks the security row {id}");
        }
    }
    assert!(junit.contains("wlcs.security"), "{junit}");
    // The rows are the same on every run: no minted ID or random p-value in them.
    let again = wlcs::runner::run(&MemorySut::new(), &[], &cfg, "reference");
    assert_eq!(report.security, again.security);
}

/// A target minting counter IDs diverges on REQ-6 in a run (the row, the rule and the
/// verdict), even though no trace can see it: a warning, REQ-6 being a SHOULD, and a failure
/// under `--strict`; `--no-security` leaves the rule to the traces alone.
#[test]
fn a_run_flags_req_6_on_counter_ids_and_no_security_turns_the_check_off() {
    let cfg = wlcs::runner::RunConfig {
        seed: 7,
        cases: 20,
        ..wlcs::runner::RunConfig::default()
    };
    let sut = Mutant::IdsFromCounter.sut();
    let req6 = |report: &wlcs::report::Report| {
        report
            .rules
            .iter()
            .find(|r| r.id == wlcs_model::RuleId::Req6)
            .cloned()
            .expect("REQ-6 row")
    };
    let report = wlcs::runner::run(&sut, &[], &cfg, "ids-from-counter");
    assert_eq!(
        status(&report.security, "REQ-6/random"),
        SecStatus::Fail,
        "{:?}",
        report.security
    );
    assert_eq!(
        req6(&report).status,
        wlcs::report::Status::Warn,
        "{:?}",
        req6(&report)
    );
    assert!(req6(&report).divergences >= 1);

    let strict = wlcs::runner::RunConfig {
        strict: true,
        ..cfg.clone()
    };
    let report = wlcs::runner::run(&sut, &[], &strict, "ids-from-counter");
    assert_eq!(
        req6(&report).status,
        wlcs::report::Status::Fail,
        "{:?}",
        req6(&report)
    );
    assert_eq!(report.verdict, wlcs::report::Verdict::Fail);

    let off = wlcs::runner::RunConfig {
        security: false,
        strict: true,
        ..cfg
    };
    let report = wlcs::runner::run(&sut, &[], &off, "ids-from-counter");
    assert!(report.security.is_empty());
    assert_eq!(req6(&report).divergences, 0, "{:?}", req6(&report));
}

/// Only the first partition checks security, so a merge of partitions counts the checks once
/// and carries the rows once.
#[test]
fn only_the_first_partition_checks_security() {
    let part = |index| wlcs::runner::RunConfig {
        seed: 7,
        cases: 20,
        partition: Some(wlcs::report::Partition { index, count: 2 }),
        ..wlcs::runner::RunConfig::default()
    };
    let first = wlcs::runner::run(&MemorySut::new(), &[], &part(1), "reference");
    let second = wlcs::runner::run(&MemorySut::new(), &[], &part(2), "reference");
    assert!(!first.security.is_empty());
    assert!(second.security.is_empty());
    let merged = wlcs::report::merge::merge(&[first.clone(), second]).expect("merge");
    assert_eq!(merged.security, first.security);
}
