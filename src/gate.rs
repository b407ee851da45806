//! What makes wlcs a CI gate that fails safe: the exit-code contract, the rule selection
//! (exact IDs and explicit globs, an unknown or empty selection refused), the bounds on every
//! input (named constants, units last) and the checks of output paths before a run starts.
//!
//! Exit codes (README "Exit codes", `wlcs --help`):
//! - [`EXIT_CONFORMANT`] 0: every selected rule checked and passed (or only baselined failures);
//! - [`EXIT_FAILURE`] 1: a conformance failure, even when the same run had harness errors;
//! - [`EXIT_HARNESS`] 2: the target misbehaved (no answer, garbage, a panic) and no rule failed;
//! - [`EXIT_USAGE`] 3: a usage or input error (bad flag, unknown rule, bad fixture, bound);
//! - [`EXIT_NOTHING_CHECKED`] 4: nothing was checked (nextest's `NO_TESTS_RUN` is 4 too).

use std::io::Read;
use std::path::Path;
use wlcs_model::RuleId;
use wlcs_sut::Capabilities;

/// Exit code: conformant.
pub const EXIT_CONFORMANT: u8 = 0;
/// Exit code: a conformance failure.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code: a harness error (the target misbehaved) and no conformance failure.
pub const EXIT_HARNESS: u8 = 2;
/// Exit code: a usage or input error.
pub const EXIT_USAGE: u8 = 3;
/// Exit code: nothing was checked.
pub const EXIT_NOTHING_CHECKED: u8 = 4;

/// Harness errors after which a run stops generating cases (`--harness-errors-max`): a target
/// that fails every call is reported in seconds, not after every case timed out.
pub const HARNESS_ERRORS_MAX: u32 = 3;
/// Wall time spent shrinking one harness error, at most (a stalled target pays the call
/// timeout on every attempt).
pub const ERROR_SHRINK_MS: u64 = 2_000;

/// Steps (choices) per generated trace, at most (`--steps`).
pub const TRACE_STEPS_MAX: usize = 10_000;
/// Generated cases per run, at most (`--cases`); more belong in partitions.
pub const CASES_MAX: u64 = 100_000_000;
/// Simulator seeds per run, at most (`--seeds`).
pub const SIM_SEEDS_MAX: u64 = 10_000_000;
/// Bytes of one fixture file, at most (read with this cap: no file is read whole first).
pub const FIXTURE_BYTES_MAX: u64 = 32 * 1024 * 1024;
/// Steps of one fixture, at most.
pub const FIXTURE_STEPS_MAX: usize = 250_000;
/// Fixture files in one directory, at most.
pub const FIXTURE_FILES_MAX: usize = 10_000;
/// Operations of one threaded (concurrent) run, at most (`sim --ops`).
pub const CONCURRENT_OPS_MAX: u64 = 10_000_000;
/// Threads of one threaded run, at most (`sim --threads`).
pub const CONCURRENT_THREADS_MAX: usize = 256;
/// Keys (clients) of one threaded run, at most (`sim --keys`).
pub const CONCURRENT_KEYS_MAX: usize = 4_096;
/// The HTTP adapter's call timeout, at most (`--call-timeout-ms`).
pub const CALL_TIMEOUT_MS_MAX: u64 = 600_000;

/// No capability at all (what a run requires by default).
pub const NO_CAPABILITIES: Capabilities = Capabilities {
    clock: false,
    multi_ip: false,
    mobile: false,
    hook_faults: false,
    in_flight: false,
    options: false,
};

/// A capability a run can require (`--require CAP`): the one list of capabilities, with the
/// rules each gates, is `check::capabilities`.
pub use crate::check::capabilities::Capability;

/// The capability set of a list of required capabilities.
pub fn required(caps: &[Capability]) -> Capabilities {
    caps.iter().fold(NO_CAPABILITIES, |out, c| c.with(out))
}

/// A usage or input error: the process exits with [`EXIT_USAGE`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// A usage error from text.
pub fn usage(message: impl Into<String>) -> UsageError {
    UsageError(message.into())
}

/// Refuses a number above its bound, naming the flag and the bound.
pub fn bounded<T: PartialOrd + std::fmt::Display>(
    flag: &str,
    value: T,
    max: T,
) -> Result<T, UsageError> {
    if value > max {
        Err(usage(format!("{flag} {value} is above the limit of {max}")))
    } else {
        Ok(value)
    }
}

/// Whether `rule` matches a pattern: an exact ID or a glob with `*` and `?` (case-insensitive).
pub fn rule_matches(pattern: &str, rule: RuleId) -> bool {
    glob(
        pattern.to_ascii_uppercase().as_bytes(),
        rule.as_str().as_bytes(),
    )
}

fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|i| glob(rest, &text[i..])),
        Some((b'?', rest)) => !text.is_empty() && glob(rest, &text[1..]),
        Some((c, rest)) => text.first() == Some(c) && glob(rest, &text[1..]),
    }
}

/// Checks `--rule` and `--exclude-rule` patterns: each must match a rule, and the selection
/// must not be empty. Returns the selected rules in SPEC.md order.
pub fn select_rules(include: &[String], exclude: &[String]) -> Result<Vec<RuleId>, UsageError> {
    for (flag, patterns) in [("--rule", include), ("--exclude-rule", exclude)] {
        for p in patterns {
            if !RuleId::ALL.iter().any(|r| rule_matches(p, *r)) {
                let hint = if p.contains(['*', '?']) {
                    String::new()
                } else {
                    format!(" (rules are exact IDs such as CLOSE-1, or globs such as {p}*)")
                };
                let known: Vec<&str> = RuleId::ALL.iter().map(|r| r.as_str()).collect();
                return Err(usage(format!(
                    "{flag} {p:?} matches no rule{hint}; the rules: {}",
                    known.join(" ")
                )));
            }
        }
    }
    let selected: Vec<RuleId> = RuleId::ALL
        .iter()
        .copied()
        .filter(|r| include.is_empty() || include.iter().any(|p| rule_matches(p, *r)))
        .filter(|r| !exclude.iter().any(|p| rule_matches(p, *r)))
        .collect();
    if selected.is_empty() {
        return Err(usage(
            "the rule selection is empty: --exclude-rule removes every rule --rule selects",
        ));
    }
    Ok(selected)
}

/// Checks, before a run starts, that a report or save path can be written: `-` (stdout) is
/// always fine; otherwise the path is not a directory and its directory exists. A file that
/// did not exist is created and removed again, so an unwritable path is found at once.
pub fn check_output_path(flag: &str, path: &Path) -> Result<(), UsageError> {
    if path.as_os_str() == "-" {
        return Ok(());
    }
    let shown = path.display();
    if path.is_dir() {
        return Err(usage(format!("{flag} {shown}: is a directory")));
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        return Err(usage(format!(
            "{flag} {shown}: the directory {} does not exist",
            parent.display()
        )));
    }
    let existed = path.exists();
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| usage(format!("{flag} {shown}: cannot be written: {e}")))?;
    if !existed {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

/// Checks a directory a run may create files in (`sim --save-dir`): a directory, or a path
/// whose nearest existing ancestor is a directory (it is created only when something is saved).
pub fn check_output_dir(flag: &str, dir: &Path) -> Result<(), UsageError> {
    let shown = dir.display();
    let mut at = Some(dir);
    while let Some(p) = at {
        if p.as_os_str().is_empty() {
            return Ok(());
        }
        if p.exists() {
            return if p.is_dir() {
                Ok(())
            } else {
                Err(usage(format!(
                    "{flag} {shown}: {} is not a directory",
                    p.display()
                )))
            };
        }
        at = p.parent();
    }
    Ok(())
}

/// Why an input file was refused.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// Not a regular file (a FIFO, a device, a directory): never opened, so never a hang.
    #[error("not a regular file (a FIFO, a device or a directory is refused)")]
    NotRegular,
    /// Larger than the cap.
    #[error("larger than the limit of {0} bytes")]
    TooLarge(u64),
    /// Not UTF-8 text.
    #[error("not UTF-8 text")]
    NotText,
    /// The file could not be read.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Reads a regular file of at most `bytes_max` bytes as text. The file type is checked before
/// opening (opening a FIFO blocks) and the read stops one byte past the cap.
pub fn read_bounded(path: &Path, bytes_max: u64) -> Result<String, InputError> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(InputError::NotRegular);
    }
    if meta.len() > bytes_max {
        return Err(InputError::TooLarge(bytes_max));
    }
    let file = std::fs::File::open(path)?;
    // The file may be swapped for another after the check: the read is capped anyway.
    if !file.metadata()?.is_file() {
        return Err(InputError::NotRegular);
    }
    let mut bytes = Vec::new();
    file.take(bytes_max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > bytes_max {
        return Err(InputError::TooLarge(bytes_max));
    }
    String::from_utf8(bytes).map_err(|_| InputError::NotText)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_ids_and_explicit_globs() {
        let sel = |inc: &[&str], exc: &[&str]| {
            let inc: Vec<String> = inc.iter().map(|s| s.to_string()).collect();
            let exc: Vec<String> = exc.iter().map(|s| s.to_string()).collect();
            select_rules(&inc, &exc).map(|v| v.iter().map(|r| r.as_str()).collect::<Vec<_>>())
        };
        assert_eq!(sel(&["CLOSE-1"], &[]).ok(), Some(vec!["CLOSE-1"]));
        assert_eq!(sel(&["close-1"], &[]).ok(), Some(vec!["CLOSE-1"]));
        assert_eq!(sel(&["CLOSE-1*"], &[]).map(|v| v.len()).ok(), Some(6));
        assert_eq!(
            sel(&["TIME-*"], &["TIME-3"]).ok(),
            Some(vec!["TIME-1", "TIME-2", "TIME-4"])
        );
        assert!(sel(&["BOGUS"], &[]).is_err());
        assert!(sel(&["CLOSE"], &[]).is_err(), "a prefix is not an ID");
        assert!(sel(&["TIME-1"], &["TIME-*"]).is_err(), "empty selection");
        assert!(sel(&[], &["NOPE-*"]).is_err());
    }

    #[test]
    fn special_files_are_refused_without_reading() {
        assert!(matches!(
            read_bounded(Path::new("/dev/zero"), 10),
            Err(InputError::NotRegular)
        ));
        assert!(matches!(
            read_bounded(Path::new("/"), 10),
            Err(InputError::NotRegular)
        ));
        let path = std::env::temp_dir().join(format!("wlcs-gate-{}.txt", std::process::id()));
        std::fs::write(&path, "0123456789ab").expect("write");
        assert!(matches!(
            read_bounded(&path, 10),
            Err(InputError::TooLarge(10))
        ));
        assert_eq!(
            read_bounded(&path, 12).ok().as_deref(),
            Some("0123456789ab")
        );
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn output_paths_are_checked_first() {
        assert!(check_output_path("--report-json", Path::new("-")).is_ok());
        assert!(check_output_path("--report-json", Path::new("/nonexistent/dir/r.json")).is_err());
        assert!(check_output_path("--report-json", &std::env::temp_dir()).is_err());
        let path = std::env::temp_dir().join(format!("wlcs-out-{}.json", std::process::id()));
        assert!(check_output_path("--report-json", &path).is_ok());
        assert!(!path.exists(), "the probe leaves no file behind");
    }
}
