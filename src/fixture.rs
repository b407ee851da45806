//! Fixtures: hand-written and shrunk traces stored as JSON (format documented in
//! fixtures/README.md). This module and the CLI are the only places that touch the
//! filesystem. A malformed fixture is a clear error naming the file; nothing is skipped
//! silently.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use wlcs_model::{RuleId, Trace};

/// The fixture format version this build reads and writes.
pub const FORMAT: u32 = 1;

/// Where a fixture came from, when a run saved it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// The run's seed.
    pub seed: u64,
    /// The generated case's seed.
    pub case_seed: Option<u64>,
    /// The target that diverged.
    pub target: String,
    /// The divergence, as the checker said it.
    pub divergence: String,
}

/// A named trace and the rules it exercises.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    /// The format version (1).
    pub format: u32,
    /// A stable name (the file stem by convention).
    pub name: String,
    /// The rules the fixture exercises: each must fire when it runs.
    pub rules: Vec<RuleId>,
    /// What it shows, for a reader.
    #[serde(default)]
    pub description: String,
    /// The trace.
    pub trace: Trace,
    /// Set when a run saved a counterexample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
}

/// Why a fixture could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// The file is not a valid fixture.
    #[error("{path}: not a valid fixture: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, with line and column when JSON is malformed.
        message: String,
    },
}

impl Fixture {
    /// A counterexample as a fixture named `name`, remembering the run it came from.
    pub fn from_counterexample(
        c: &crate::report::Counterexample,
        name: String,
        seed: u64,
        target: String,
    ) -> Fixture {
        let d = &c.divergence;
        Fixture {
            format: FORMAT,
            name,
            rules: vec![c.rule],
            description: format!(
                "Shrunk counterexample ({}): {}: expected {}, got {}",
                c.source, d.what, d.expected, d.actual
            ),
            trace: c.trace.clone(),
            origin: Some(Origin {
                seed,
                case_seed: c.case_seed,
                target,
                divergence: format!("{} at step {}", c.rule, d.step),
            }),
        }
    }

    /// Parses a fixture from JSON text; `path` is only used in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Fixture, FixtureError> {
        let invalid = |message: String| FixtureError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let fixture: Fixture = serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
        if fixture.format != FORMAT {
            return Err(invalid(format!(
                "format {} is not supported (this build reads format {FORMAT})",
                fixture.format
            )));
        }
        if fixture.rules.is_empty() {
            return Err(invalid("`rules` must name at least one rule".into()));
        }
        if fixture.trace.steps.is_empty() {
            return Err(invalid("the trace has no steps".into()));
        }
        if fixture.trace.steps.len() > crate::gate::FIXTURE_STEPS_MAX {
            return Err(invalid(format!(
                "{} steps is above the limit of {} steps per fixture",
                fixture.trace.steps.len(),
                crate::gate::FIXTURE_STEPS_MAX
            )));
        }
        Ok(fixture)
    }

    /// Reads one fixture file: a regular file of at most `gate::FIXTURE_BYTES_MAX` bytes
    /// (a FIFO or a device is refused unopened).
    pub fn load(path: &Path) -> Result<Fixture, FixtureError> {
        use crate::gate::{FIXTURE_BYTES_MAX, InputError, read_bounded};
        let text = read_bounded(path, FIXTURE_BYTES_MAX).map_err(|e| match e {
            InputError::Io(source) => FixtureError::Io {
                path: path.to_path_buf(),
                source,
            },
            other => FixtureError::Invalid {
                path: path.to_path_buf(),
                message: other.to_string(),
            },
        })?;
        Fixture::parse(&text, path)
    }

    /// Reads every `*.json` file of a directory, sorted by file name.
    pub fn load_dir(dir: &Path) -> Result<Vec<Fixture>, FixtureError> {
        let io = |source| FixtureError::Io {
            path: dir.to_path_buf(),
            source,
        };
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(io)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        if paths.len() > crate::gate::FIXTURE_FILES_MAX {
            return Err(FixtureError::Invalid {
                path: dir.to_path_buf(),
                message: format!(
                    "{} fixture files is above the limit of {}",
                    paths.len(),
                    crate::gate::FIXTURE_FILES_MAX
                ),
            });
        }
        paths.sort();
        paths.iter().map(|p| Fixture::load(p)).collect()
    }

    /// The fixture as pretty JSON, one step per line where possible.
    pub fn to_json(&self) -> String {
        let mut out = serde_json::to_string_pretty(self).unwrap_or_default();
        out.push('\n');
        out
    }

    /// Writes the fixture.
    pub fn save(&self, path: &Path) -> Result<(), FixtureError> {
        std::fs::write(path, self.to_json()).map_err(|source| FixtureError::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}
