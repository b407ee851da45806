//! Capability gating audited rule by rule (issue 13.3): with each capability switched off in
//! turn, every rule the table (`wlcs::check::capabilities::GATES`) says needs it is reported
//! `skip` with the table's reason, never `pass`, and the reference still conforms.

use std::collections::BTreeMap;
use std::path::Path;
use wlcs::check::capabilities::Capability;
use wlcs::fixture::Fixture;
use wlcs::report::{Status, Verdict};
use wlcs::runner::{self, RunConfig};
use wlcs_model::vocab::{OptionSet, RecordRef, Slot, VarName, WorldConfig};
use wlcs_sut::memory::MemorySut;
use wlcs_sut::{
    Begun, Capabilities, Response, Sut, SutError, WireAction, WireHook, WireHookRun, WireProc,
    WireRead, WireRequest,
};

/// Generated cases per capability switched off: enough for every other rule to be reached.
const CASES: u64 = 120;

/// The reference, declaring fewer capabilities.
struct Limited {
    inner: MemorySut,
    caps: Capabilities,
}

impl Sut for Limited {
    fn name(&self) -> String {
        "limited".into()
    }
    fn capabilities(&self) -> Capabilities {
        self.caps
    }
    fn reset(&self, c: &WorldConfig) -> Result<(), SutError> {
        self.inner.reset(c)
    }
    fn request(&self, r: &WireRequest) -> Result<Response, SutError> {
        self.inner.request(r)
    }
    fn begin(&self, slot: Slot, r: &WireRequest) -> Result<Begun, SutError> {
        self.inner.begin(slot, r)
    }
    fn end(&self, slot: Slot, a: &[WireAction]) -> Result<Response, SutError> {
        self.inner.end(slot, a)
    }
    fn non_web(&self, p: u8, a: &[WireAction]) -> Result<Vec<WireRead>, SutError> {
        self.inner.non_web(p, a)
    }
    fn set_option(&self, o: &OptionSet) -> Result<(), SutError> {
        self.inner.set_option(o)
    }
    fn set_hook(&self, b: &WireHook) -> Result<(), SutError> {
        self.inner.set_hook(b)
    }
    fn advance(&self, s: u64) -> Result<(), SutError> {
        self.inner.advance(s)
    }
    fn take_hook_runs(&self) -> Result<Vec<WireHookRun>, SutError> {
        self.inner.take_hook_runs()
    }
    fn locks(&self) -> Result<BTreeMap<RecordRef, WireProc>, SutError> {
        self.inner.locks()
    }
    fn ipvars(&self) -> Result<BTreeMap<VarName, i64>, SutError> {
        self.inner.ipvars()
    }
}

#[test]
fn each_capability_switched_off_skips_every_rule_it_gates() {
    let fixtures = Fixture::load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures"))
        .expect("fixtures");
    let cfg = RunConfig {
        seed: 13,
        cases: CASES,
        ..RunConfig::default()
    };
    for capability in Capability::ALL {
        let sut = Limited {
            inner: MemorySut::new(),
            caps: capability.without(Capabilities::ALL),
        };
        let report = runner::run(&sut, &fixtures, &cfg, "limited");
        let text = wlcs::report::render_text(&report);
        assert_ne!(report.verdict, Verdict::Fail, "{capability:?} off\n{text}");
        let gate = capability.gate();
        assert!(!gate.rules.is_empty(), "{capability:?} gates no rule");
        for rule in gate.rules {
            let row = report
                .rules
                .iter()
                .find(|r| r.id == *rule)
                .expect("a row per rule");
            assert_eq!(row.status, Status::Skip, "{capability:?} off: {row:?}");
            assert_eq!(row.skip_reason.as_deref(), Some(gate.reason), "{row:?}");
        }
        // Every rule no gate names is still checked: none is skipped for this capability.
        for row in &report.rules {
            if row.skip_reason.as_deref() == Some(gate.reason) {
                assert!(gate.rules.contains(&row.id), "{row:?}");
            }
        }
    }
}
