//! A static single-file HTML report: no server, no CDN, no external resource. Inline CSS and a
//! few lines of inline script (a filter; the report reads the same without it). It shows the
//! verdict and counts, the run (target, seed, capabilities, versions, times), the rule matrix
//! (`#rule-matrix`: one row per selected rule, one cell per status), the fixtures, the
//! counterexamples as timelines (one row per transcript line, the diverging step marked) with
//! their replay commands, the errors, and the security rows (`#security`).

use super::{BaselineOutcome, Report, RuleRow};

/// Escapes text for HTML content and attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "\
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1b1b1b;max-width:1200px}\
h1{font-size:1.5em}h1 .v{padding:.1em .5em;border-radius:4px;color:#fff}\
.v-pass{background:#1a7f37}.v-fail{background:#cf222e}.v-error{background:#9a6700}.v-nothing-checked{background:#57606a}\
table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #d0d7de;padding:.2em .5em;text-align:left;vertical-align:top}\
td.n{text-align:right;font-variant-numeric:tabular-nums}#rule-matrix td:first-child{white-space:nowrap}\
td.s{font-weight:600;text-align:center}\
.s-pass{background:#dafbe1}.s-fail{background:#ffebe9}.s-warn{background:#fff8c5}.s-skip{background:#eaeef2}.s-unreached{background:#ffd8b5}.s-error{background:#ffebe9}\
.b-unexpected-pass{outline:3px solid #8250df}\
dl{display:grid;grid-template-columns:max-content auto;gap:.1em 1em}dt{font-weight:600}\
pre,code{font:12px/1.35 ui-monospace,monospace}pre{background:#f6f8fa;padding:.5em;overflow-x:auto}\
ol.timeline{font:12px/1.35 ui-monospace,monospace;background:#f6f8fa;padding:.5em 0 .5em 3.5em}\
ol.timeline li.at{background:#ffebe9;font-weight:600}\
";

const SCRIPT: &str = "\
(function(){var m=document.getElementById('rule-matrix');if(!m)return;\
var rows=m.querySelectorAll('tbody tr');document.getElementById('rendered').setAttribute('data-rows',rows.length);\
var box=document.getElementById('only-attention');box.addEventListener('change',function(){\
rows.forEach(function(r){r.style.display=box.checked&&r.classList.contains('s-pass')&&!r.dataset.baseline?'none':'';});});})();";

fn status_cell(row: &RuleRow) -> String {
    format!("<td class=\"s s-{0}\">{0}</td>", row.status.as_str())
}

fn baseline_cell(row: &RuleRow) -> String {
    match &row.baseline {
        None => "<td></td>".into(),
        Some(b) => {
            let what = match b.outcome {
                BaselineOutcome::AsExpected => format!("expected {}", b.expect.as_str()),
                BaselineOutcome::UnexpectedPass => {
                    format!(
                        "<strong>unexpected pass</strong> (expected {})",
                        b.expect.as_str()
                    )
                }
                BaselineOutcome::Unmet => format!("expected {}, not met", b.expect.as_str()),
            };
            let link = b
                .link
                .as_deref()
                .map(|l| format!(" <a href=\"{0}\">{0}</a>", esc(l)))
                .unwrap_or_default();
            format!("<td>{what}: {}{link}</td>", esc(&b.reason))
        }
    }
}

fn matrix(report: &Report) -> String {
    let mut out = String::from(
        "<table id=\"rule-matrix\"><thead><tr><th>rule</th><th>grade</th><th>checks</th><th>fired</th>\
         <th>div</th><th>status</th><th>reason</th><th>baseline</th><th>summary</th></tr></thead><tbody>\n",
    );
    for r in &report.rules {
        let b = r.baseline.as_ref().map(|b| match b.outcome {
            BaselineOutcome::AsExpected => "as-expected",
            BaselineOutcome::UnexpectedPass => "unexpected-pass",
            BaselineOutcome::Unmet => "unmet",
        });
        out.push_str(&format!(
            "<tr id=\"rule-{id}\" class=\"rule s-{st}{bc}\" data-rule=\"{id}\"{bd}><td><a href=\"#cx-{id}\">{id}</a></td><td>{gr}</td>\
             <td class=\"n\">{ch}</td><td class=\"n\">{fi}</td><td class=\"n\">{dv}</td>{sc}<td>{why}</td>{bl}<td>{su}</td></tr>\n",
            id = r.id,
            st = r.status.as_str(),
            bc = b.map(|b| format!(" b-{b}")).unwrap_or_default(),
            bd = b.map(|b| format!(" data-baseline=\"{b}\"")).unwrap_or_default(),
            gr = esc(&r.grade),
            ch = r.checks,
            fi = r.fired,
            dv = r.divergences,
            sc = status_cell(r),
            why = esc(r.skip_reason.as_deref().unwrap_or("")),
            bl = baseline_cell(r),
            su = esc(&r.summary),
        ));
    }
    out.push_str("</tbody></table>\n");
    out
}

fn fixtures(report: &Report) -> String {
    if report.fixture_runs.is_empty() {
        return "<p>No fixtures ran.</p>\n".into();
    }
    let mut out = String::from(
        "<table id=\"fixtures\"><thead><tr><th>#</th><th>fixture</th><th>rules</th><th>steps</th>\
         <th>ms</th><th>status</th><th>detail</th></tr></thead><tbody>\n",
    );
    for f in &report.fixture_runs {
        let rules: Vec<&str> = f.rules.iter().map(|r| r.as_str()).collect();
        out.push_str(&format!(
            "<tr class=\"s-{st}\"><td class=\"n\">{i}</td><td>{n}</td><td>{r}</td><td class=\"n\">{s}</td>\
             <td class=\"n\">{ms}</td><td class=\"s s-{st}\">{st}</td><td>{m}</td></tr>\n",
            st = f.status.as_str(),
            i = f.index,
            n = esc(&f.name),
            r = rules.join(", "),
            s = f.steps,
            ms = f.duration_ms,
            m = esc(f.message.as_deref().unwrap_or("")),
        ));
    }
    out.push_str("</tbody></table>\n");
    out
}

fn security(report: &Report) -> String {
    let mut out = String::from(
        "<table id=\"security\"><thead><tr><th>check</th><th>rule</th><th>status</th>\
         <th>detail</th></tr></thead><tbody>\n",
    );
    for r in &report.security {
        let st = r.status.as_str().to_ascii_lowercase();
        out.push_str(&format!(
            "<tr class=\"s-{st}\"><td>{id}</td><td>{rule}</td><td class=\"s s-{st}\">{st}</td>\
             <td>{d}</td></tr>\n",
            id = esc(&r.id),
            rule = esc(&r.rule),
            d = esc(&r.detail),
        ));
    }
    out.push_str("</tbody></table>\n");
    out
}

fn counterexamples(report: &Report) -> String {
    if report.counterexamples.is_empty() {
        return "<p>None.</p>\n".into();
    }
    let mut out = String::new();
    for (i, c) in report.counterexamples.iter().enumerate() {
        let d = &c.divergence;
        out.push_str(&format!(
            "<section class=\"cx\" id=\"cx-{rule}\"><h3>{n}. {rule} {grade}</h3>\
             <blockquote>{req}</blockquote>\
             <p>From {src}{seed}, {steps} steps (shrunk from {before}). Step {step}: {what}</p>\
             <dl><dt>expected</dt><dd><code>{exp}</code></dd><dt>actual</dt><dd><code>{act}</code></dd>{also}</dl>\
             <p>Replay:</p><pre>{replay}</pre><p>Timeline:</p><ol class=\"timeline\" start=\"0\">",
            n = i + 1,
            rule = c.rule,
            grade = c.rule.grade().as_str(),
            req = esc(c.rule.summary()),
            src = esc(&c.source),
            seed = c
                .case_seed
                .map(|s| format!(" (case seed {s:#x})"))
                .unwrap_or_default(),
            steps = c.steps,
            before = c.steps_before_shrink,
            step = d.step,
            what = esc(&d.what),
            exp = esc(&d.expected),
            act = esc(&d.actual),
            also = if d.also.is_empty() {
                String::new()
            } else {
                let also: Vec<&str> = d.also.iter().map(|r| r.as_str()).collect();
                format!("<dt>also breaks</dt><dd>{}</dd>", also.join(", "))
            },
            replay = esc(&c.replay),
        ));
        let last = c.transcript.len().saturating_sub(1);
        for (j, line) in c.transcript.iter().enumerate() {
            let at = if j == last { " class=\"at\"" } else { "" };
            out.push_str(&format!("<li{at}>{}</li>", esc(line)));
        }
        out.push_str("</ol></section>\n");
    }
    out
}

/// The report as one self-contained HTML page.
pub fn to_html(report: &Report) -> String {
    let mut out = head(report);
    out.push_str(&unexpected_passes(report));
    out.push_str(&run_details(report));
    out.push_str(
        "<h2>Rules</h2>\n<p id=\"rendered\"><label><input type=\"checkbox\" id=\"only-attention\"> \
         only rules that need attention</label></p>\n",
    );
    out.push_str(&matrix(report));
    out.push_str(&format!(
        "<h2>Counterexamples ({})</h2>\n",
        report.counterexamples.len()
    ));
    out.push_str(&counterexamples(report));
    if !report.errors.is_empty() {
        out.push_str(&format!(
            "<h2>Harness errors ({})</h2>\n",
            report.errors.len()
        ));
        for e in &report.errors {
            out.push_str(&format!("<pre class=\"s-error\">{}</pre>\n", esc(e)));
        }
    }
    if !report.security.is_empty() {
        out.push_str(&format!(
            "<h2>{}</h2>\n",
            esc(crate::security::SECTION_TITLE)
        ));
        out.push_str(&security(report));
    }
    out.push_str(&format!(
        "<h2>Fixtures ({})</h2>\n",
        report.fixture_runs.len()
    ));
    out.push_str(&fixtures(report));
    out.push_str(&format!("<script>{SCRIPT}</script>\n</body></html>\n"));
    out
}

/// The page's head (title, style) and its first lines: the verdict and the status counts.
fn head(report: &Report) -> String {
    let verdict = report.verdict.as_upper();
    let counts: Vec<String> = report
        .counts()
        .iter()
        .map(|(s, n)| format!("<span class=\"s-{0}\">{n} {0}</span>", s.as_str()))
        .collect();
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>wlcs {verdict}: {target}</title><style>{STYLE}</style></head><body>\n\
         <h1>wlcs <span class=\"v v-{vl}\">{verdict}</span></h1>\n\
         <p id=\"counts\"><strong>{nrules} rules</strong>: {counts}</p>\n",
        target = esc(&report.target),
        vl = verdict.to_ascii_lowercase().replace(' ', "-"),
        nrules = report.rules.len(),
        counts = counts.join(" · "),
    )
}

/// The paragraph naming the rules that passed against the baseline's expectation, empty
/// when there are none.
fn unexpected_passes(report: &Report) -> String {
    let unexpected: Vec<String> = report
        .unexpected_passes()
        .map(|r| r.id.to_string())
        .collect();
    if unexpected.is_empty() {
        return String::new();
    }
    format!(
        "<p class=\"b-unexpected-pass\"><strong>Unexpected passes</strong> (the baseline expects otherwise{}): {}</p>\n",
        if report.strict_baseline {
            "; --strict-baseline fails the run"
        } else {
            ""
        },
        unexpected.join(", ")
    )
}

/// The run's description as a definition list: target, capabilities, seed, profile,
/// partition, totals, times, versions and the baseline.
fn run_details(report: &Report) -> String {
    format!(
        "<dl id=\"run\"><dt>target</dt><dd>{}</dd><dt>capabilities</dt><dd>{}</dd>\
         <dt>seed</dt><dd><code>{:#x}</code></dd><dt>profile</dt><dd>{}{}</dd>{}\
         <dt>run</dt><dd>{} fixtures, {} generated cases, {} steps</dd>\
         <dt>started</dt><dd>{}</dd><dt>durations</dt><dd>{} ms in all: fixtures {} ms, cases {} ms</dd>\
         <dt>wlcs</dt><dd>{}</dd><dt>SPEC</dt><dd><code>{}</code></dd>{}</dl>\n",
        esc(&report.target),
        esc(&super::markdown::capabilities(report)),
        report.seed,
        esc(&report.profile),
        if report.strict { " (strict)" } else { "" },
        report
            .partition
            .map(|p| format!("<dt>partition</dt><dd>{p}</dd>"))
            .unwrap_or_default(),
        report.fixtures,
        report.cases,
        report.steps,
        esc(&report.started_at),
        report.millis,
        report.durations.fixtures_ms,
        report.durations.cases_ms,
        esc(&report.wlcs_version),
        esc(&report.spec_revision),
        if report.baseline.is_some() {
            format!(
                "<dt>baseline</dt><dd>applied{}</dd>",
                if report.strict_baseline {
                    ", strict"
                } else {
                    ""
                }
            )
        } else {
            String::new()
        }
    )
}
