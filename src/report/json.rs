//! The JSON report (schema [`super::SCHEMA`], documented by `schemas/report.schema.json`, which
//! a test validates every produced report against). Seeds are `0x` hex strings.

use super::Report;

/// The report as pretty-printed JSON, newline-terminated.
pub fn to_json(report: &Report) -> String {
    let mut s = serde_json::to_string_pretty(report).unwrap_or_default();
    s.push('\n');
    s
}

/// Reads a report written by [`to_json`] (what `wlcs merge` takes).
pub fn from_json(text: &str) -> Result<Report, serde_json::Error> {
    serde_json::from_str(text)
}
