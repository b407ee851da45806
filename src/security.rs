//! Security checks for vendors (issue 15), run through the [`Sut`] trait only, so they work the
//! same on in-process and HTTP targets:
//!
//! - **ID quality (REQ-6)**: a sample of minted IDs (requests without a cookie) must be unique,
//!   shaped as UUID v4 when they look like UUIDs (version nibble 4, variant `10`), carry at
//!   least 122 bits, and pass three statistical tests over their random bits: the frequency of
//!   each bit position (monobit per position), the serial test over overlapping bit pairs
//!   (NIST SP 800-22 2.11, m = 2), and a chi-square over the hexadecimal digits. Each test's
//!   p-value is compared with its share of [`ALPHA`] (Bonferroni), so the whole check raises a
//!   false alarm on a good generator with probability at most `ALPHA` per run.
//! - **Fixation probes (REQ-3)**: forged, closed, respelled (hyphens removed) and other-case
//!   cookies are never adopted: the request runs in a session whose ID differs from the value
//!   sent and from any live session's.
//! - **Cookie attributes**: HttpOnly, Secure, SameSite and Path of the issuing `Set-Cookie`,
//!   reported for information only (SPEC.md: undocumented, never checked).
//!
//! An ID generator seeded with 32 bits and expanded by a good mixer passes every test here:
//! only the birthday bound would show it (a repeat becomes likely near 2^16 x 1.2 = 77 000
//! IDs). The checks catch IDs that are counters, timestamps or mostly constant.

use crate::runner::RunConfig;
use crate::stats::RuleStats;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use wlcs_model::RuleId;
use wlcs_model::vocab::{OptionSet, Spelling, WorldConfig};
use wlcs_sut::{Response, Sut, SutError, WireAction, WireId, WireRequest};

/// The family-wise false-alarm rate of the ID-quality check on an ideal generator.
pub const ALPHA: f64 = 1e-6;
/// IDs sampled by default.
pub const ID_SAMPLE_DEFAULT: usize = 2_000;
/// Probes per fixation kind.
pub const FIXATION_PROBES_DEFAULT: usize = 8;
/// Bits a UUID v4 draws at random (128 minus 4 version and 2 variant bits).
pub const UUID_V4_RANDOM_BITS: usize = 122;

/// What to run.
#[derive(Clone, Copy, Debug)]
pub struct SecurityConfig {
    /// IDs to mint and test.
    pub id_sample: usize,
    /// Probes per fixation kind.
    pub fixation_probes: usize,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        SecurityConfig {
            id_sample: ID_SAMPLE_DEFAULT,
            fixation_probes: FIXATION_PROBES_DEFAULT,
        }
    }
}

/// The outcome of one security row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecStatus {
    /// Checked and fine.
    Pass,
    /// Checked and wrong.
    Fail,
    /// Could not be checked (the target failed, or the IDs are not hexadecimal).
    Skip,
    /// Reported, never judged.
    Info,
}

/// One row of the security section.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecRow {
    /// A stable name (`REQ-6/unique`...).
    pub id: String,
    /// The rule it answers to.
    pub rule: String,
    /// The outcome.
    pub status: SecStatus,
    /// Figures and findings, for a reader.
    pub detail: String,
}

/// A statistical test's figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatTest {
    /// The test.
    pub name: String,
    /// The smallest p-value it produced.
    pub p_min: f64,
    /// The threshold that p-value was compared with (its share of [`ALPHA`]).
    pub threshold: f64,
}

/// Everything the security checks found.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SecurityReport {
    /// IDs sampled.
    pub ids_sampled: usize,
    /// Distinct among them.
    pub ids_distinct: usize,
    /// Bits tested per ID.
    pub bits_tested: usize,
    /// The statistical tests.
    pub tests: Vec<StatTest>,
    /// Fixation probes sent, and how many were adopted.
    pub fixation_probes: usize,
    /// Probes whose value was adopted or reached a live session.
    pub fixations: usize,
    /// The rows, in order.
    pub rows: Vec<SecRow>,
    /// The target's failures during the checks (each also skips its row).
    #[serde(default)]
    pub errors: Vec<String>,
}

impl SecurityReport {
    /// Whether any row failed.
    pub fn failed(&self) -> bool {
        self.rows.iter().any(|r| r.status == SecStatus::Fail)
    }

    /// The section as text, with every statistical test's figures (which a run's report
    /// leaves out for a passing sample: they are random).
    pub fn render_text(&self) -> String {
        let mut out = render_rows_text(&self.rows);
        for t in &self.tests {
            out.push_str(&format!(
                "  {:<22} p_min={:.3e} threshold={:.1e}\n",
                t.name, t.p_min, t.threshold
            ));
        }
        out
    }
}

impl SecStatus {
    /// The status as the reports write it (`FAIL` in capitals, as the rule table does).
    pub fn as_str(self) -> &'static str {
        match self {
            SecStatus::Pass => "pass",
            SecStatus::Fail => "FAIL",
            SecStatus::Skip => "skip",
            SecStatus::Info => "info",
        }
    }
}

/// The title every report format gives the security section.
pub const SECTION_TITLE: &str = "security (REQ-6 ID quality, REQ-3 fixation, cookie attributes)";

/// Security rows as the text report's section.
pub fn render_rows_text(rows: &[SecRow]) -> String {
    let mut out = format!("{SECTION_TITLE}\n");
    for r in rows {
        out.push_str(&format!(
            "  {:<22} {:<5} {}\n",
            r.id,
            r.status.as_str(),
            r.detail
        ));
    }
    out
}

/// What a run's security checks add to its report: the rows, and the harness errors of a
/// target that failed during them.
#[derive(Debug, Default)]
pub struct RunSecurity {
    /// The rows, in order (empty when the run does not check security).
    pub rows: Vec<SecRow>,
    /// Harness errors met while checking.
    pub errors: Vec<String>,
}

/// Whether a run checks security: it generates cases (a replay of one case or of fixtures
/// alone does not), it is the first partition of a sharded run (or not sharded, so a merge
/// counts the checks once), it met no harness error and did not stop early (a failing target
/// would pay a timeout per sampled ID), and it selects REQ-3 or REQ-6.
pub fn runs_in(cfg: &RunConfig, harness_errors: u32, stopped: bool) -> bool {
    planned(cfg) && harness_errors == 0 && !stopped
}

/// What [`runs_in`] knows before the cases run: the configuration's part. A run with worlds
/// to spare checks security meanwhile on one of them (`runner::suite`) and keeps the result
/// only if [`runs_in`] still holds after the cases.
pub fn planned(cfg: &RunConfig) -> bool {
    cfg.security
        && cfg.cases > 0
        && cfg.case_seed.is_none()
        && cfg.partition.is_none_or(|p| p.index == 1)
        && (cfg.selected(RuleId::Req3) || cfg.selected(RuleId::Req6))
}

/// Counts a run's security checks (see [`runs_in`]; `sec`, made by [`check`] with the
/// default configuration): each judged row as one check of its rule, and each failed row as a
/// divergence, so the rule table, the verdict and a merge of partitions all see them. Sets
/// `diverged` when a row failed.
pub fn counted(
    sec: SecurityReport,
    cfg: &RunConfig,
    stats: &mut RuleStats,
    diverged: &mut bool,
) -> RunSecurity {
    let mut out = RunSecurity {
        rows: Vec::new(),
        errors: sec.errors,
    };
    for row in sec.rows {
        let rule = RuleId::parse(&row.rule).filter(|r| cfg.selected(*r));
        if row.rule != "info" && rule.is_none() {
            continue;
        }
        match (rule, row.status) {
            (Some(rule), SecStatus::Pass) => stats.check(rule),
            (Some(rule), SecStatus::Fail) => {
                stats.check(rule);
                stats.diverge(rule);
                *diverged = true;
            }
            // A skip is never counted as a check: the IDs were not hexadecimal, or the target
            // failed (that failure is in `errors`).
            _ => {}
        }
        out.rows.push(row);
    }
    out
}

fn session_cookie_value(resp: &Response, name: &str) -> Option<String> {
    resp.set_cookies
        .iter()
        .rev()
        .find(|c| c.name == name && !c.expiring)
        .map(|c| c.value.clone())
}

fn new_session(sut: &dyn Sut, cookie: Option<String>) -> Result<Response, SutError> {
    sut.request(&WireRequest {
        ip: 0,
        cookie,
        mobile: None,
        actions: vec![WireAction::GetSessionId],
    })
}

/// Runs every check against `sut` from a reset world (and leaves it reset).
pub fn check(sut: &dyn Sut, cfg: &SecurityConfig) -> SecurityReport {
    let world = WorldConfig::default();
    let cookie_name = format!("4DSID_{}", world.app_name);
    let mut rows = Vec::new();
    let mut report = SecurityReport::default();
    let mut sample = IdSample {
        ids: Vec::with_capacity(cfg.id_sample),
        raw_cookie: None,
    };
    match sample.take(sut, &world, &cookie_name, cfg.id_sample) {
        Err(e) => {
            report
                .errors
                .push(format!("security checks, sampling IDs: {e}"));
            rows.push(SecRow {
                id: "REQ-6/ids".into(),
                rule: "REQ-6".into(),
                status: SecStatus::Skip,
                detail: format!("the target failed while IDs were sampled: {e}"),
            })
        }
        Ok(()) => id_rows(&sample.ids, &mut report, &mut rows),
    }
    let probed = fixation(sut, &world, &cookie_name, cfg.fixation_probes);
    rows.push(fixation_row(probed, &mut report));
    rows.push(cookie_row(sample.raw_cookie.as_deref()));
    let _ = sut.reset(&world);
    report.rows = rows;
    report
}

/// The IDs minted for the REQ-6 checks, and the first issuing `Set-Cookie` as sent (for the
/// cookie attributes row, kept even when the target failed part way).
struct IdSample {
    /// The IDs, in the order minted.
    ids: Vec<String>,
    /// The raw text of the first `Set-Cookie` of the session cookie.
    raw_cookie: Option<String>,
}

impl IdSample {
    /// Mints `n` IDs with requests without a cookie, from a reset world.
    fn take(
        &mut self,
        sut: &dyn Sut,
        world: &WorldConfig,
        cookie_name: &str,
        n: usize,
    ) -> Result<(), SutError> {
        sut.reset(world)?;
        if sut.capabilities().options {
            // Keep every sampled session live so no eviction's hook runs during the sample.
            sut.set_option(&OptionSet::MaxSessions(u32::MAX))?;
        }
        for _ in 0..n {
            let resp = new_session(sut, None)?;
            if self.raw_cookie.is_none() {
                self.raw_cookie = resp
                    .set_cookies
                    .iter()
                    .find(|c| c.name == cookie_name)
                    .map(|c| c.raw.clone());
            }
            if let Some(id) = resp
                .session_id
                .clone()
                .or(session_cookie_value(&resp, cookie_name))
            {
                self.ids.push(id);
            }
        }
        Ok(())
    }
}

/// The fixation row (REQ-3) from the probes' outcome, recorded in `report`: a pass when no
/// probe was adopted, a skip (and an error) when the target failed.
fn fixation_row(
    probed: Result<(usize, usize, Vec<String>), SutError>,
    report: &mut SecurityReport,
) -> SecRow {
    match probed {
        Ok((probes, adopted, findings)) => {
            report.fixation_probes = probes;
            report.fixations = adopted;
            SecRow {
                id: "REQ-3/fixation".into(),
                rule: "REQ-3".into(),
                status: if adopted == 0 {
                    SecStatus::Pass
                } else {
                    SecStatus::Fail
                },
                detail: if adopted == 0 {
                    format!(
                        "{probes} forged, closed, respelled and other-case cookies: none adopted"
                    )
                } else {
                    format!("{adopted} of {probes} adopted: {}", findings.join("; "))
                },
            }
        }
        Err(e) => {
            report
                .errors
                .push(format!("security checks, fixation probes: {e}"));
            SecRow {
                id: "REQ-3/fixation".into(),
                rule: "REQ-3".into(),
                status: SecStatus::Skip,
                detail: format!("the target failed during the probes: {e}"),
            }
        }
    }
}

fn cookie_row(raw: Option<&str>) -> SecRow {
    let detail = match raw {
        None => "no issuing Set-Cookie seen".to_string(),
        Some(raw) => {
            let attrs: Vec<String> = raw
                .split(';')
                .skip(1)
                .map(|a| a.trim().to_string())
                .collect();
            let has = |name: &str| {
                attrs.iter().any(|a| {
                    a.split('=')
                        .next()
                        .is_some_and(|n| n.eq_ignore_ascii_case(name))
                })
            };
            let value = |name: &str| {
                attrs.iter().find_map(|a| {
                    let (n, v) = a.split_once('=')?;
                    n.trim()
                        .eq_ignore_ascii_case(name)
                        .then(|| v.trim().to_string())
                })
            };
            format!(
                "HttpOnly={} Secure={} SameSite={} Path={}",
                if has("HttpOnly") { "yes" } else { "no" },
                if has("Secure") { "yes" } else { "no" },
                value("SameSite").unwrap_or_else(|| "absent".into()),
                value("Path").unwrap_or_else(|| "absent".into()),
            )
        }
    };
    SecRow {
        id: "cookie/attributes".into(),
        rule: "info".into(),
        status: SecStatus::Info,
        detail,
    }
}

/// Sends forged, closed, respelled and other-case cookies; counts those adopted (the request
/// ran under the value sent) or that reached a live session they only resemble.
fn fixation(
    sut: &dyn Sut,
    world: &WorldConfig,
    cookie_name: &str,
    per_kind: usize,
) -> Result<(usize, usize, Vec<String>), SutError> {
    sut.reset(world)?;
    let mut probes = 0;
    let mut adopted = 0;
    let mut findings = Vec::new();
    let mut judge = |kind: &str, sent: &str, live: &BTreeSet<String>, resp: &Response| {
        probes += 1;
        let ran = resp.session_id.clone().unwrap_or_default();
        let issued = session_cookie_value(resp, cookie_name).unwrap_or_default();
        if ran == sent || issued == sent {
            adopted += 1;
            findings.push(format!("{kind} {sent:?} adopted"));
        } else if live.contains(&ran) {
            adopted += 1;
            findings.push(format!("{kind} {sent:?} reached live session {ran:?}"));
        }
    };
    for i in 0..per_kind {
        // A live session, whose respellings must reach nothing.
        let resp = new_session(sut, None)?;
        let Some(id) = resp.session_id.clone() else {
            continue;
        };
        let live: BTreeSet<String> = [id.clone()].into();
        for (kind, spelling) in [
            ("other-case", Spelling::SwapCase),
            ("respelled", Spelling::Hyphens),
        ] {
            let sent = spelling.apply(&id);
            let resp = new_session(sut, Some(sent.clone()))?;
            judge(kind, &sent, &live, &resp);
        }
        // Forged: well formed, never issued, in the case the server uses.
        let forged = format!("{:08X}{:024X}", 0x5EC0_0000u32 + i as u32, 0x4000_8000u64);
        let resp = new_session(sut, Some(forged.clone()))?;
        judge("forged", &forged, &live, &resp);
        let dashed = format!("5ec00000-0000-4000-8000-{i:012}");
        let resp = new_session(sut, Some(dashed.clone()))?;
        judge("forged", &dashed, &live, &resp);
        // Closed: the session's own ID after the command closed it.
        sut.non_web(
            0,
            &[WireAction::Close {
                id: WireId::Text(id.clone()),
            }],
        )?;
        let resp = new_session(sut, Some(id.clone()))?;
        judge("closed", &id, &BTreeSet::new(), &resp);
    }
    Ok((probes, adopted, findings))
}

/// The bits an ID carries: its hexadecimal digits with hyphens removed; for a UUID v4, the 122
/// random bits (version nibble and variant bits left out). `None` when it is not hexadecimal.
fn id_bits(id: &str, v4: bool) -> Option<Vec<bool>> {
    let hex: Vec<u8> = id
        .chars()
        .filter(|c| *c != '-')
        .map(|c| c.to_digit(16).map(|d| d as u8))
        .collect::<Option<Vec<u8>>>()?;
    let mut bits = Vec::with_capacity(hex.len() * 4);
    for (i, d) in hex.iter().enumerate() {
        for b in (0..4).rev() {
            let pos = i * 4 + (3 - b);
            // UUID v4: bits 48..52 are the version, 64..66 the variant.
            if v4 && ((48..52).contains(&pos) || (64..66).contains(&pos)) {
                continue;
            }
            bits.push((d >> b) & 1 == 1);
        }
    }
    Some(bits)
}

/// An ID's shape without its value (a report must not change from run to run with the IDs
/// minted): its length and the classes of characters it uses.
fn id_shape(id: &str) -> String {
    let classes: Vec<&str> = [
        ("0-9", id.chars().any(|c| c.is_ascii_digit())),
        ("a-z", id.chars().any(|c| c.is_ascii_lowercase())),
        ("A-Z", id.chars().any(|c| c.is_ascii_uppercase())),
        ("other", id.chars().any(|c| !c.is_ascii_alphanumeric())),
    ]
    .into_iter()
    .filter_map(|(name, used)| used.then_some(name))
    .collect();
    format!(
        "{} characters from [{}]",
        id.chars().count(),
        classes.join(" ")
    )
}

fn is_uuid_shape(id: &str) -> bool {
    let hex: String = id.chars().filter(|c| *c != '-').collect();
    let dashed_ok = !id.contains('-')
        || id.split('-').map(str::len).collect::<Vec<_>>() == vec![8, 4, 4, 4, 12];
    hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit()) && dashed_ok
}

fn is_v4(id: &str) -> bool {
    let hex: Vec<char> = id.chars().filter(|c| *c != '-').collect();
    hex.len() == 32
        && hex[12] == '4'
        && matches!(hex[16].to_ascii_lowercase(), '8' | '9' | 'a' | 'b')
}

/// The ID-quality rows (REQ-6) of a sample of IDs, and the statistical tests' figures.
pub fn id_quality(ids: &[String]) -> (Vec<SecRow>, Vec<StatTest>) {
    let mut report = SecurityReport::default();
    let mut rows = Vec::new();
    id_rows(ids, &mut report, &mut rows);
    (rows, report.tests)
}

/// Appends the ID-quality rows (unique, structure, random) of `ids` to `rows` and records
/// the sample's figures in `report`.
fn id_rows(ids: &[String], report: &mut SecurityReport, rows: &mut Vec<SecRow>) {
    let distinct: BTreeSet<&String> = ids.iter().collect();
    report.ids_sampled = ids.len();
    report.ids_distinct = distinct.len();
    rows.push(SecRow {
        id: "REQ-6/unique".into(),
        rule: "REQ-6".into(),
        status: if distinct.len() == ids.len() && !ids.is_empty() {
            SecStatus::Pass
        } else {
            SecStatus::Fail
        },
        detail: format!("{} IDs, {} distinct", ids.len(), distinct.len()),
    });
    let uuid_like = ids.iter().all(|i| is_uuid_shape(i));
    let v4 = uuid_like && ids.iter().all(|i| is_v4(i));
    rows.push(structure_row(ids, uuid_like, v4));
    let bits: Option<Vec<Vec<bool>>> = ids.iter().map(|i| id_bits(i, v4)).collect();
    let Some(bits) = bits.filter(|b| !b.is_empty()) else {
        rows.push(SecRow {
            id: "REQ-6/random".into(),
            rule: "REQ-6".into(),
            status: SecStatus::Skip,
            detail: "the IDs are not hexadecimal: their randomness is not tested".into(),
        });
        return;
    };
    let width = bits.iter().map(Vec::len).min().unwrap_or(0);
    report.bits_tested = width;
    let tests = randomness(&bits, width);
    rows.push(random_row(&tests, width));
    report.tests = tests;
}

/// The structure row: a pass for UUID v4s, a failure for UUID-shaped IDs that are not v4,
/// information (the shape, never a value) for anything else.
fn structure_row(ids: &[String], uuid_like: bool, v4: bool) -> SecRow {
    SecRow {
        id: "REQ-6/structure".into(),
        rule: "REQ-6".into(),
        status: if v4 {
            SecStatus::Pass
        } else if uuid_like {
            SecStatus::Fail
        } else {
            SecStatus::Info
        },
        detail: if v4 {
            "UUID v4: version nibble 4, variant 10 in every ID".into()
        } else if uuid_like {
            let bad = ids.iter().find(|i| !is_v4(i)).cloned().unwrap_or_default();
            format!("UUID-shaped but not v4 (first: {bad:?})")
        } else {
            format!(
                "not UUID-shaped ({}); tested as hexadecimal when it is",
                id_shape(ids.first().map(String::as_str).unwrap_or_default())
            )
        },
    }
}

/// The randomness row from the statistical `tests` over `width` bits per ID: a failure when
/// a test falls below its threshold or the IDs carry fewer bits than a UUID v4.
fn random_row(tests: &[StatTest], width: usize) -> SecRow {
    let failed = tests.iter().any(|t| t.p_min < t.threshold);
    let short = width < UUID_V4_RANDOM_BITS;
    // The p-values of a passing sample are random: the row names the tests and their
    // thresholds, so a report is the same on every run; the figures of a failing test are
    // shown, and every figure is in `SecurityReport::tests`.
    let figures: Vec<String> = tests
        .iter()
        .map(|t| {
            if t.p_min < t.threshold {
                format!(
                    "{} p_min={:.3e} below its threshold {:.1e}",
                    t.name, t.p_min, t.threshold
                )
            } else {
                format!("{} above {:.1e}", t.name, t.threshold)
            }
        })
        .collect();
    SecRow {
        id: "REQ-6/random".into(),
        rule: "REQ-6".into(),
        status: if !failed && !short {
            SecStatus::Pass
        } else {
            SecStatus::Fail
        },
        detail: format!(
            "{width} bits per ID{}; alpha {ALPHA:e} per run; {}",
            if short {
                " (fewer than a UUID v4's 122)"
            } else {
                ""
            },
            figures.join(", ")
        ),
    }
}

/// The three tests over `bits` (each ID's first `width` bits), with Bonferroni thresholds.
fn randomness(bits: &[Vec<bool>], width: usize) -> Vec<StatTest> {
    let n = bits.len() as f64;
    // ALPHA is split in three equal shares; the per-position test splits its share again.
    let share = ALPHA / 3.0;
    // 1. Frequency of each bit position across IDs.
    let mut p_freq: f64 = 1.0;
    for j in 0..width {
        let ones = bits.iter().filter(|b| b[j]).count() as f64;
        let z = (2.0 * ones - n) / n.sqrt();
        p_freq = p_freq.min(erfc(z.abs() / std::f64::consts::SQRT_2));
    }
    // 2. Serial test (m = 2) over the IDs' bits concatenated, overlapping, circular.
    let seq: Vec<bool> = bits
        .iter()
        .flat_map(|b| b[..width].iter().copied())
        .collect();
    let len = seq.len();
    let psi = |m: usize| -> f64 {
        if m == 0 {
            return 0.0;
        }
        let mut counts = vec![0u64; 1 << m];
        for i in 0..len {
            let mut v = 0usize;
            for k in 0..m {
                v = (v << 1) | usize::from(seq[(i + k) % len]);
            }
            counts[v] += 1;
        }
        let sum: f64 = counts.iter().map(|c| (*c as f64).powi(2)).sum();
        sum * (1u64 << m) as f64 / len as f64 - len as f64
    };
    let (p2, p1, p0) = (psi(2), psi(1), psi(0));
    let d1 = p2 - p1;
    let d2 = p2 - 2.0 * p1 + p0;
    let p_serial = gammq(1.0, d1 / 2.0).min(gammq(0.5, d2 / 2.0));
    // 3. Chi-square over the hexadecimal digits (4-bit groups), 15 degrees of freedom.
    let mut counts = [0u64; 16];
    let mut digits = 0u64;
    for b in bits {
        for chunk in b[..width - width % 4].chunks(4) {
            let v = chunk.iter().fold(0usize, |v, x| (v << 1) | usize::from(*x));
            counts[v] += 1;
            digits += 1;
        }
    }
    let expected = digits as f64 / 16.0;
    let chi2: f64 = counts
        .iter()
        .map(|c| (*c as f64 - expected).powi(2) / expected)
        .sum();
    let p_chi = gammq(7.5, chi2 / 2.0);
    vec![
        StatTest {
            name: "frequency per bit position".into(),
            p_min: p_freq,
            threshold: share / width.max(1) as f64,
        },
        StatTest {
            name: "serial (bit pairs)".into(),
            p_min: p_serial,
            threshold: share / 2.0,
        },
        StatTest {
            name: "chi-square of hex digits".into(),
            p_min: p_chi,
            threshold: share,
        },
    ]
}

/// The complementary error function (Numerical Recipes' erfcc, relative error < 1.2e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

fn ln_gamma(x: f64) -> f64 {
    // Lanczos (g = 7, n = 9).
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    let x = x - 1.0;
    let t = x + 7.5;
    let mut a = C[0];
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The regularized upper incomplete gamma function Q(a, x): the chi-square survival function
/// with 2a degrees of freedom at 2x.
fn gammq(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    const ITERS_MAX: usize = 500;
    const EPS: f64 = 1e-15;
    if x < a + 1.0 {
        // Series for P, then Q = 1 - P.
        let (mut sum, mut del, mut ap) = (1.0 / a, 1.0 / a, a);
        for _ in 0..ITERS_MAX {
            ap += 1.0;
            del *= x / ap;
            sum += del;
            if del.abs() < sum.abs() * EPS {
                break;
            }
        }
        1.0 - sum * (-x + a * x.ln() - ln_gamma(a)).exp()
    } else {
        // Continued fraction (Lentz).
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..ITERS_MAX {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let del = d * c;
            h *= del;
            if (del - 1.0).abs() < EPS {
                break;
            }
        }
        (-x + a * x.ln() - ln_gamma(a)).exp() * h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_functions_match_known_values() {
        assert!((erfc(0.0) - 1.0).abs() < 1e-6);
        assert!((erfc(1.0) - 0.157_299_2).abs() < 1e-6);
        // Chi-square with 2 degrees of freedom: Q(1, x/2) = exp(-x/2).
        assert!((gammq(1.0, 3.0) - (-3.0f64).exp()).abs() < 1e-9);
        // Chi-square with 15 df at 30.578 has p = 0.01.
        assert!((gammq(7.5, 30.578 / 2.0) - 0.01).abs() < 1e-4);
    }

    #[test]
    fn constant_bits_fail_and_uuid_bits_skip_version_and_variant() {
        let v4 = "3F2B8C1D9E4A4B7C8D1E2F3A4B5C6D7E";
        assert!(is_v4(v4) && is_uuid_shape(v4));
        assert_eq!(
            id_bits(v4, true).map(|b| b.len()),
            Some(UUID_V4_RANDOM_BITS)
        );
        let counters: Vec<Vec<bool>> = (0..500u32)
            .map(|i| id_bits(&format!("{i:032X}"), false).unwrap_or_default())
            .collect();
        let tests = randomness(&counters, 128);
        assert!(tests.iter().any(|t| t.p_min < t.threshold));
    }
}
