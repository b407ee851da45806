//! Rendering a [`BenchReport`]: the readable table and the JSON (pure; the CLI writes files).

use super::*;

/// The report as text, for a terminal.
pub fn render_text(r: &BenchReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "wlcs bench: {} ({}), {} connections on {} threads, {} sessions per round, close: {}",
        r.target,
        r.server,
        r.connections,
        r.threads,
        r.sessions_per_round,
        match r.close {
            CloseKind::SelfClose => "self",
            CloseKind::NonWeb => "non-web",
            CloseKind::Both => "both",
        }
    );
    let _ = writeln!(
        s,
        "  {} rounds in {:.0} ms (stopped by {}); {} opens, {} closes ({} self, {} non-web)",
        r.rounds, r.elapsed_ms, r.stopped_by, r.opens, r.closes, r.self_closes, r.non_web_closes
    );
    let _ = writeln!(
        s,
        "  closes/s: {:.0}   (close phases {:.0} ms)",
        r.closes_per_s, r.close_phase_ms
    );
    let _ = writeln!(
        s,
        "  opens/s:  {:.0}   (open phases {:.0} ms)",
        r.opens_per_s, r.open_phase_ms
    );
    let _ = writeln!(s, "  requests/s overall: {:.0}", r.requests_per_s);
    let _ = writeln!(
        s,
        "  latency (us)        count      mean       p50       p90       p99     p99.9       max"
    );
    for (name, l) in [
        ("close", &r.close_latency),
        ("  self-close", &r.self_close_latency),
        ("  non-web close", &r.non_web_close_latency),
        ("open", &r.open_latency),
    ] {
        let _ = writeln!(
            s,
            "  {name:<16} {:>8} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
            l.count, l.mean_us, l.p50_us, l.p90_us, l.p99_us, l.p999_us, l.max_us
        );
    }
    let _ = writeln!(
        s,
        "  hook runs drained: {} ({})",
        r.hook_runs,
        if r.hooks_match {
            "one per close"
        } else {
            "NOT one per close"
        }
    );
    if !r.options {
        let _ = writeln!(
            s,
            "  note: the server does not accept WEB SET OPTION; its own session limit applies"
        );
    }
    s
}

/// The report as pretty JSON (`--report-json`).
pub fn render_json(r: &BenchReport) -> String {
    serde_json::to_string_pretty(r).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}
