//! The reference implementation's WEB SET OPTION settings, written from SPEC.md ("The world",
//! "Option values", "Max concurrent processes") and D4, independently of the model's
//! `vocab::Options`: a reference that borrowed the model's option semantics would make the
//! differential check of them a tautology.

use wlcs_model::vocab::{CookieNameProfile, OptionSet, SessionMode, WorldConfig};

/// Selector 18's accepted range, from D4 ("10 to 32000").
const SELECTOR_18_MIN: u32 = 10;
const SELECTOR_18_MAX: u32 = 32_000;

/// D4's defaults: 100 processes, 100 sessions, 480 minutes for both timeouts.
const MAX_PROCESSES_DEFAULT: u32 = 100;
const MAX_SESSIONS_DEFAULT: u32 = 100;
const TIMEOUT_DEFAULT_MIN: u32 = 480;

/// The longest cookie name accepted (a bound, not a documented value).
const COOKIE_NAME_LEN_MAX: usize = 64;

/// The options in force in the reference's world.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Selector 18: max concurrent web processes.
    pub max_processes: u32,
    /// Selectors 70/90.
    pub mode: SessionMode,
    /// Selector 71.
    pub max_sessions: u32,
    /// Selector 72, minutes.
    pub cookie_timeout_min: u32,
    /// Selector 73.
    pub cookie_name: String,
    /// Selector 78, minutes.
    pub process_timeout_min: u32,
    /// Selector 83.
    pub ip_validation: bool,
    /// What `""` for selector 73 restores.
    default_cookie_name: String,
}

impl Settings {
    /// D4's defaults for a world (the cookie name per the world's profile).
    pub fn new(config: &WorldConfig) -> Settings {
        let default_cookie_name = if config.profile.cookie_name == CookieNameProfile::Bare {
            String::from("4DSID")
        } else {
            format!("4DSID_{}", config.app_name)
        };
        Settings {
            max_processes: MAX_PROCESSES_DEFAULT,
            mode: SessionMode::Legacy,
            max_sessions: MAX_SESSIONS_DEFAULT,
            cookie_timeout_min: TIMEOUT_DEFAULT_MIN,
            cookie_name: default_cookie_name.clone(),
            process_timeout_min: TIMEOUT_DEFAULT_MIN,
            ip_validation: true,
            default_cookie_name,
        }
    }

    /// WEB SET OPTION. D4: `0` for 71, 72 and 78 and `""` for 73 mean "the default"; selector
    /// 18 outside its range and names that cannot be cookie names are ignored; in scalable
    /// mode 18, 72, 73 and 78 are ignored ("the following options are ignored").
    pub fn set(&mut self, option: &OptionSet) {
        let legacy = self.mode == SessionMode::Legacy;
        match option {
            OptionSet::Mode(mode) => self.mode = *mode,
            OptionSet::MaxSessions(n) => {
                self.max_sessions = if *n == 0 { MAX_SESSIONS_DEFAULT } else { *n };
            }
            OptionSet::IpValidation(on) => self.ip_validation = *on,
            _ if !legacy => {}
            OptionSet::MaxProcesses(n) => {
                if (SELECTOR_18_MIN..=SELECTOR_18_MAX).contains(n) {
                    self.max_processes = *n;
                }
            }
            OptionSet::CookieTimeoutMin(n) => {
                self.cookie_timeout_min = if *n == 0 { TIMEOUT_DEFAULT_MIN } else { *n };
            }
            OptionSet::ProcessTimeoutMin(n) => {
                self.process_timeout_min = if *n == 0 { TIMEOUT_DEFAULT_MIN } else { *n };
            }
            OptionSet::CookieName(name) => {
                if name.is_empty() {
                    self.cookie_name = self.default_cookie_name.clone();
                } else if token(name) {
                    self.cookie_name = name.clone();
                }
            }
        }
    }

    /// Whether one more web process may start while `running` run: D4 selector 18, "when
    /// this number (minus one) is reached, 4D will not create any other processes".
    pub fn process_fits(&self, running: usize) -> bool {
        let reached = u64::from(self.max_processes) - 1;
        (running as u64) < reached
    }

    /// Selector 72 in seconds.
    pub fn cookie_timeout_s(&self) -> u64 {
        60 * u64::from(self.cookie_timeout_min)
    }

    /// Selector 78 in seconds.
    pub fn process_timeout_s(&self) -> u64 {
        60 * u64::from(self.process_timeout_min)
    }
}

/// An RFC 6265 cookie-name token.
fn token(name: &str) -> bool {
    name.len() <= COOKIE_NAME_LEN_MAX
        && name.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_and_empty_restore_defaults_and_scalable_ignores_four_selectors() {
        let mut s = Settings::new(&WorldConfig::default());
        s.set(&OptionSet::CookieTimeoutMin(3));
        s.set(&OptionSet::CookieTimeoutMin(0));
        s.set(&OptionSet::CookieName("X".into()));
        s.set(&OptionSet::CookieName(String::new()));
        assert_eq!(
            (s.cookie_timeout_min, s.cookie_name.as_str()),
            (480, "4DSID_wlcs")
        );
        s.set(&OptionSet::Mode(SessionMode::Scalable));
        s.set(&OptionSet::MaxProcesses(20));
        s.set(&OptionSet::ProcessTimeoutMin(3));
        assert_eq!((s.max_processes, s.process_timeout_min), (100, 480));
        s.set(&OptionSet::Mode(SessionMode::Legacy));
        s.set(&OptionSet::MaxProcesses(10));
        assert!(s.process_fits(8) && !s.process_fits(9));
    }
}
