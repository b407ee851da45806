//! The one builder of every command the tool prints (replay a run, a case, a fixture, a sim
//! seed, a saved counterexample). A printed command must run as printed from any directory:
//! it carries every flag that changes what runs (target, mutant, profiles, strictness, the
//! fixture directory as an absolute path, the call timeout) exactly once, and a saved file is
//! replayed by `wlcs replay PATH`, never by a name that only resolves in one directory.

use std::path::{Path, PathBuf};

/// The default TIME-3 profile's name: not printed.
pub const PROFILE_DEFAULT: &str = "timeout-keeps-id";
/// The default cookie profile's name: not printed.
pub const COOKIE_PROFILE_DEFAULT: &str = "cookie-4DSID_AppName";

/// The flags of a command that replays something, without what is replayed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplayCommand {
    /// `http://...`; `None` is the embedded reference (`memory`).
    pub target: Option<String>,
    /// A mutant of the embedded reference.
    pub mutant: Option<String>,
    /// A non-default TIME-3 profile.
    pub profile: Option<String>,
    /// A non-default cookie profile.
    pub cookie_profile: Option<String>,
    /// SHOULD divergences fail.
    pub strict: bool,
    /// The `--fixtures` directory, absolute.
    pub fixtures_dir: Option<PathBuf>,
    /// The run used no fixtures.
    pub no_fixtures: bool,
    /// A non-default call timeout of the HTTP adapter.
    pub call_timeout_ms: Option<u64>,
}

/// Quotes a word for a POSIX shell when it needs it.
pub fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

fn path_word(path: &Path) -> String {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    shell_word(&abs.to_string_lossy())
}

impl ReplayCommand {
    /// A profile name, kept only when it is not the default.
    pub fn with_profiles(mut self, profile: &str, cookie_profile: &str) -> Self {
        self.profile = (profile != PROFILE_DEFAULT).then(|| profile.to_string());
        self.cookie_profile =
            (cookie_profile != COOKIE_PROFILE_DEFAULT).then(|| cookie_profile.to_string());
        self
    }

    /// The flags that choose and configure the target (every command carries them).
    fn target_flags(&self) -> String {
        let mut out = String::new();
        if let Some(t) = &self.target {
            out.push_str(&format!(" --target {}", shell_word(t)));
        }
        if let Some(m) = &self.mutant {
            out.push_str(&format!(" --mutant {}", shell_word(m)));
        }
        if let Some(p) = &self.profile {
            out.push_str(&format!(" --profile {}", shell_word(p)));
        }
        if let Some(p) = &self.cookie_profile {
            out.push_str(&format!(" --cookie-profile {}", shell_word(p)));
        }
        if let Some(ms) = self.call_timeout_ms {
            out.push_str(&format!(" --call-timeout-ms {ms}"));
        }
        out
    }

    fn strict_flag(&self) -> &'static str {
        if self.strict { " --strict" } else { "" }
    }

    fn fixture_flags(&self) -> String {
        if self.no_fixtures {
            " --no-fixtures".to_string()
        } else if let Some(dir) = &self.fixtures_dir {
            format!(" --fixtures {}", path_word(dir))
        } else {
            String::new()
        }
    }

    /// Replays a whole `wlcs run`.
    pub fn whole_run(&self, seed: u64, cases: u64, steps: usize) -> String {
        format!(
            "wlcs run{}{}{} --seed {seed:#x} --cases {cases} --steps {steps}",
            self.target_flags(),
            self.strict_flag(),
            self.fixture_flags()
        )
    }

    /// Replays one generated case (fixtures are not run by a case replay).
    pub fn case(&self, case_seed: u64, steps: usize) -> String {
        format!(
            "wlcs run{}{} --case-seed {case_seed:#x} --steps {steps}",
            self.target_flags(),
            self.strict_flag()
        )
    }

    /// Replays one fixture of the run by name (a built-in one, or one of `--fixtures DIR`).
    pub fn fixture(&self, name: &str) -> String {
        let dir = match &self.fixtures_dir {
            Some(dir) => format!(" --fixtures {}", path_word(dir)),
            None => String::new(),
        };
        format!(
            "wlcs run{}{}{dir} --fixture {}",
            self.target_flags(),
            self.strict_flag(),
            shell_word(name)
        )
    }

    /// Replays a fixture file (a saved counterexample, a sim seed's fixture).
    pub fn file(&self, path: &Path) -> String {
        format!(
            "wlcs replay {}{}{}",
            path_word(path),
            self.target_flags(),
            self.strict_flag()
        )
    }

    /// Replays simulator seeds.
    pub fn sim(&self, seed: u64, seeds: u64, steps: usize) -> String {
        format!(
            "wlcs sim{} --seed {seed:#x} --seeds {seeds} --steps {steps}",
            self.target_flags()
        )
    }

    /// Replays a threaded (linearizability) workload of the simulator.
    pub fn sim_threads(&self, seed: u64, threads: usize, keys: usize, ops: u64) -> String {
        format!(
            "wlcs sim{} --seed {seed:#x} --seeds 0 --threads {threads} --keys {keys} --ops {ops}",
            self.target_flags()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flag_once_and_paths_absolute() {
        let cmd = ReplayCommand {
            target: Some("http://127.0.0.1:9".into()),
            strict: true,
            fixtures_dir: Some(PathBuf::from("my fixtures")),
            ..ReplayCommand::default()
        }
        .with_profiles("timeout-new-id", "cookie-4DSID");
        let run = cmd.whole_run(7, 10, 40);
        assert_eq!(run.matches("--steps").count(), 1, "{run}");
        assert!(run.contains("--cookie-profile cookie-4DSID"), "{run}");
        assert!(run.contains("--profile timeout-new-id"), "{run}");
        let fixture = cmd.fixture("x");
        assert!(fixture.contains("--fixtures '/"), "{fixture}");
        let file = cmd.file(Path::new("a.json"));
        assert!(file.starts_with("wlcs replay /"), "{file}");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
    }
}
