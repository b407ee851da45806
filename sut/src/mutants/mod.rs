//! The mutant catalogue: deliberately broken variants of the reference implementation
//! ([`crate::memory`]), each declaring the one rule of SPEC.md it breaks.
//!
//! The suite is run against every mutant to show that it detects the break and blames the
//! right rule: a mutant that survives, or is blamed on another rule, points at a gap in the
//! suite. [`Mutant::Canary`] is the control: it changes internal iteration only, nothing
//! observable. A run that reports a divergence against the canary has a false positive.
//!
//! A mutant is one of three [`Kind`]s, and lives whole in one place:
//! - [`Kind::Perturb`]: a deviation visible at the trait boundary, written as a decorator
//!   ([`perturb`]): [`Perturbed`] wraps *any* [`crate::Sut`] (the reference, a served
//!   implementation behind `HttpSut`, a vendor's) and rewrites its inputs or outputs. The
//!   reference is untouched.
//! - [`Kind::Deviate`]: a deviation of internal state (IDs minted, locks kept, eviction order,
//!   clocks), in [`deviation`]: its state and its code live there, and the reference enters it
//!   through a few one-line hook points (`if let Some(d) = ...`).
//! - [`Kind::Race`]: a deviation of the close's atomicity ([`deviation`] too), seen only under
//!   real concurrency.
//!
//! Adding a decorator mutant is three small edits: a line in the catalogue below (variant,
//! name, declared rule, `Perturb`, description), a unit struct implementing
//! [`perturb::Perturbation`] in `perturb.rs` (override the one or two hooks it perturbs), and
//! its arm in [`perturb::perturbation`]. The tests `every_decorator_mutant_has_a_perturbation`
//! (here), `every_mutant_is_observable_and_the_canary_is_not` (`sut/tests/mutants.rs`) and
//! `every_mutant_is_killed_and_the_reference_and_canary_pass` (`tests/mutants.rs`) then check
//! that it exists, differs from the reference, and is killed by the rule it declares.

pub mod deviation;
pub mod perturb;

pub use perturb::Perturbed;

use crate::memory::{Limits, MemorySut};
use serde::Serialize;
use wlcs_model::rules::RuleId;

/// Where a mutant's deviation lives (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A decorator at the trait boundary ([`perturb`]); it can wrap any implementation.
    Perturb,
    /// Internal state of the reference ([`deviation`]).
    Deviate,
    /// The close's atomicity, under real concurrency only ([`deviation`]).
    Race,
}

macro_rules! mutants {
    ($( $variant:ident = $name:literal, $rule:ident, $kind:ident, $desc:literal; )*) => {
        /// A deliberate deviation of the reference implementation from SPEC.md.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
        pub enum Mutant {
            $(
                #[doc = $desc]
                #[serde(rename = $name)]
                $variant,
            )*
        }

        impl Mutant {
            /// Every mutant: the sequential ones grouped by the rule they break in SPEC.md
            /// order, then the race mutants ([`Mutant::is_race`]), the canary last.
            pub const ALL: &'static [Mutant] = &[$(Mutant::$variant),*];

            /// The mutant's stable kebab-case name (used on the command line and in reports).
            pub fn name(self) -> &'static str {
                match self { $(Mutant::$variant => $name,)* }
            }

            /// The one rule the mutant violates. For [`Mutant::Canary`], which violates none,
            /// this is the rule whose code path it perturbs (MOBILE-1: the close's loop over a
            /// session's processes); callers must check [`Mutant::is_canary`] first, or use
            /// [`Mutant::expected_break`].
            pub fn breaks(self) -> RuleId {
                match self { $(Mutant::$variant => RuleId::$rule,)* }
            }

            /// Where the mutant's deviation lives.
            pub fn kind(self) -> Kind {
                match self { $(Mutant::$variant => Kind::$kind,)* }
            }

            /// What the mutant does wrong, in one line.
            pub fn description(self) -> &'static str {
                match self { $(Mutant::$variant => $desc,)* }
            }

            /// Parses a name as [`Mutant::name`] spells it.
            pub fn parse(name: &str) -> Option<Mutant> {
                match name { $($name => Some(Mutant::$variant),)* _ => None }
            }
        }
    };
}

mutants! {
    CloseKeepsIdRoutable = "close-keeps-id-routable", Close1, Deviate,
        "The command ends the session's processes but leaves its ID routable: the old cookie reaches it again.";
    CaseInsensitiveIds = "case-insensitive-ids", Close2, Perturb,
        "The command matches IDs case-insensitively, so a respelled ID closes the live session.";
    TrimsIdSpaces = "trims-id-spaces", Close2, Perturb,
        "The command trims spaces around the ID, so a padded ID closes the live session.";
    NonWebCloseIgnored = "non-web-close-ignored", Close3, Perturb,
        "A close called from a non-web process (stored procedure, worker) does nothing.";
    WebCloseOfOtherIgnored = "web-close-of-other-ignored", Close3, Perturb,
        "A close called in one session's web request on another session's ID does nothing.";
    SelfCloseKeepsCookie = "self-close-keeps-cookie", Close4, Perturb,
        "A self-close's response carries no expiring Set-Cookie.";
    ExpirationSurvivesClose = "expiration-survives-close", Close4, Perturb,
        "WEB LEGACY GET SESSION EXPIRATION still returns the old expiration of a closed ID.";
    CloseSkipsHook = "close-skips-hook", Close5, Deviate,
        "A close by the command ends the session's processes without running the hook.";
    HookAfterReset = "hook-after-reset", Close6, Deviate,
        "The hook runs after the reset and sees an empty context.";
    CloseKeepsLocks = "close-keeps-locks", Close7, Deviate,
        "A close by the command resets variables and selections but leaves the records locked.";
    CloseResetsIpVars = "close-resets-ipvars", Close7, Deviate,
        "A close by the command also clears the interprocess variables.";
    ClosedCookieNoSetCookie = "closed-cookie-no-set-cookie", Close8, Perturb,
        "A request carrying a closed session's cookie gets a new session but no Set-Cookie for it.";
    ActsInScalableMode = "acts-in-scalable-mode", Close9, Deviate,
        "The command closes sessions (and runs the hook) in scalable sessions mode.";
    SecondCloseRerunsHook = "second-close-reruns-hook", Close10, Deviate,
        "A second close arriving while the first is pending runs the hook again.";
    SelfCloseResetsMidRequest = "self-close-resets-mid-request", Close11, Deviate,
        "A self-close runs the hook and the reset at once; the rest of the request sees an empty context.";
    RemoteCloseResetsMidRequest = "remote-close-resets-mid-request", Close12, Deviate,
        "A close from elsewhere during the target's request runs the hook and reset at once.";
    HookCloseOwnRerunsHook = "hook-close-own-reruns-hook", Close13, Perturb,
        "The hook's close of its own session runs the hook a second time.";
    HookCloseOwnInvalidatesId = "hook-close-own-invalidates-id", Close13, Deviate,
        "A hook's close of its own session invalidates the ID (CLOSE-13's reading invalidates-id): after a process timeout the cookie opens a new session.";
    FailingHookAbortsClose = "failing-hook-aborts-close", Close14, Deviate,
        "A failing hook aborts the cleanup: the ended process's records stay locked.";
    HookFailureUnreported = "hook-failure-unreported", Close14, Perturb,
        "A failing hook's close completes but its run is reported as not failed (CLOSE-14's reading unreported).";
    NoCookieJoinsIpSession = "no-cookie-joins-ip-session", Req1, Deviate,
        "A request without a cookie joins the last legacy session opened from the same IP.";
    SelectionsDroppedBetweenRequests = "selections-dropped-between-requests", Req2, Deviate,
        "Current selections are cleared at the end of every request.";
    AdoptsClientId = "adopts-client-id", Req3, Deviate,
        "An unknown cookie value is adopted as the new session's ID (session fixation).";
    ExpirationDoesNotSlide = "expiration-does-not-slide", Req4, Deviate,
        "The expiration is set when the session opens and never slides.";
    OptionZeroIgnored = "option-zero-ignored", Req4, Deviate,
        "WEB SET OPTION with 0 for selectors 71, 72 and 78 is ignored instead of restoring the default.";
    ScalableHonoursIgnoredOptions = "scalable-honours-ignored-options", Req4, Perturb,
        "WEB SET OPTION for selectors 18, 72, 73 and 78 in scalable mode takes effect (D4 selector 90: they are ignored there).";
    SetCookieOnlyFirstResponse = "set-cookie-only-first-response", Req4, Deviate,
        "Only a session's first response carries its Set-Cookie: the client's cookie expires before the slid session.";
    IpValidationSkipped = "ip-validation-skipped", Req5, Perturb,
        "A live cookie from another IP is accepted even with IP validation on.";
    RefusedRequestSlides = "refused-request-slides-expiration", Req5, Deviate,
        "A request refused with 400 still slides the session's expiration.";
    IdsRepeatAfterRestart = "ids-repeat-after-restart", Req6, Deviate,
        "IDs come from a counter that restarts with the server: IDs repeat and are predictable.";
    IdsFromCounter = "ids-from-counter", Req6, Deviate,
        "IDs come from a counter that never repeats, formatted as UUID v4: unique but predictable.";
    IdsFromClock = "ids-from-clock", Req6, Deviate,
        "IDs are the wall clock in nanoseconds, formatted as UUID v4: unique but predictable.";
    Ids32RandomBits = "ids-32-random-bits", Req6, Deviate,
        "IDs carry 32 random bits, the rest fixed, formatted as UUID v4: guessable by brute force.";
    ExpiredCookieAccepted = "expired-cookie-accepted", Time1, Deviate,
        "An expired cookie still reaches its session while the session's process runs.";
    ExpiryBoundaryOffByOne = "expiry-boundary-off-by-one", Time1, Deviate,
        "A cookie counts as expired only when now > expiration (not now >= expiration).";
    TimeoutSkipsHook = "timeout-skips-hook", Time2, Perturb,
        "A process timeout ends the process without running the hook.";
    TimeoutsOutOfDueOrder = "timeouts-out-of-due-order", Time2, Perturb,
        "The hooks of processes timing out at one clock step run in reverse due order (SPEC.md fixes due order, then session, then lane).";
    ZeroAdvanceIgnored = "zero-advance-ignored", Time2, Perturb,
        "A clock advance of 0 s is ignored: a process made due by a lowered process timeout does not end until the clock really moves.";
    WrongTimeoutProfile = "wrong-timeout-profile", Time3, Deviate,
        "After a process timeout, behaves as the other TIME-3 profile (keeps-id <-> new-id).";
    ProcessTimeoutFollowsCookie = "process-timeout-follows-cookie", Time4, Deviate,
        "Processes time out after the cookie timeout instead of the process timeout.";
    MaxSessionsIgnored = "max-sessions-ignored", Limit1, Perturb,
        "WEB SET OPTION for selector 71 (max sessions) is ignored: a rule vacuous without the options capability (LIMIT-1 is skip there, never pass).";
    EvictsMostRecent = "evicts-most-recent", Limit1, Deviate,
        "At the limit, the most recently active idle session is evicted instead of the least.";
    Never503 = "never-503", Limit2, Deviate,
        "When no session can be evicted the request still opens a session (no 503).";
    LimitIgnoresMaxProcesses = "limit-ignores-max-processes", Limit2, Deviate,
        "The session limit is max sessions alone, not capped by max concurrent processes.";
    ProcessCapAtMax = "process-cap-at-max", Limit2, Deviate,
        "503 only once max processes web processes run, not max - 1 (D4 selector 18's \"minus one\").";
    MobileCloseEndsOneLane = "mobile-close-ends-one-lane", Mobile1, Deviate,
        "Closing a 4D Mobile session ends only its first process; the others keep running.";
    MobileOneHook = "mobile-one-hook", Mobile2, Deviate,
        "Closing a 4D Mobile session runs the hook for its first process only.";
    MobileLaneOwnCookie = "mobile-lane-own-cookie", Mobile3, Perturb,
        "A new process of a 4D Mobile session gets its own Set-Cookie value.";
    TimeoutKeepsLocks = "timeout-keeps-locks", Inv1, Deviate,
        "A process timeout forgets to release the process's locks.";
    EvictionSkipsHook = "eviction-skips-hook", Inv2, Deviate,
        "An evicted session's processes end without the hook.";
    RecyclesClosedIds = "recycles-closed-ids", Inv3, Deviate,
        "A new session reuses the ID of a session the command closed.";
    VarsLeakToNewSession = "vars-leak-to-new-session", Inv4, Deviate,
        "A reset process's variables are recycled into the next new session's context.";
    LimitOffByOne = "limit-off-by-one", Inv5, Deviate,
        "Eviction starts only when live sessions exceed the limit: one session too many.";
    RacyDoubleHook = "racy-double-hook", Close10, Race,
        "A non-web close checks that the session exists and snapshots it, unlocks, then runs the hook and closes: two concurrent closes both run the hook.";
    RacyLateInvalidation = "racy-late-invalidation", Close1, Race,
        "A non-web close runs the hook, unlocks, and only then invalidates the ID and resets: a request arriving meanwhile runs in the old context.";
    RacyEarlyLockRelease = "racy-early-lock-release", Close6, Race,
        "A non-web close invalidates the ID and releases the locks, unlocks, then runs the hook: another process takes a record the hook still lists.";
    Canary = "canary", Mobile1, Deviate,
        "Control: iterates a closed session's processes in another internal order; nothing observable changes.";
}

impl Mutant {
    /// Whether this is the control mutant that changes nothing observable.
    pub fn is_canary(self) -> bool {
        self == Mutant::Canary
    }

    /// The rule the suite must blame for this mutant: `None` for the canary (no divergence
    /// expected), else `Some(self.breaks())`.
    pub fn expected_break(self) -> Option<RuleId> {
        if self.is_canary() {
            None
        } else {
            Some(self.breaks())
        }
    }

    /// Whether the mutant's bug shows only under real concurrency: its close releases the
    /// world's lock in the middle (a window of [`crate::memory::RACE_WINDOW`]) and is otherwise
    /// the reference, so sequential traces cannot tell it apart. The sequential suite
    /// (`wlcs mutants`) skips these; the linearizability checker of concurrent histories
    /// (`wlcs::linearize`) kills them.
    pub fn is_race(self) -> bool {
        self.kind() == Kind::Race
    }

    /// The reference implementation running this mutant: wrapped in its decorator
    /// ([`Kind::Perturb`]) or with its deviation installed ([`Kind::Deviate`], [`Kind::Race`]).
    pub fn sut(self) -> MutantSut {
        sut(Some(self))
    }
}

/// The reference implementation, possibly running one mutant: what `wlcs run --mutant`,
/// `wlcs serve --mutant` and `wlcs mutants` drive. Without a mutant every call goes straight
/// to the reference.
pub type MutantSut = Perturbed<MemorySut>;

/// The reference implementation running `mutant` (`None`: the reference itself).
pub fn sut(mutant: Option<Mutant>) -> MutantSut {
    match mutant {
        None => Perturbed::plain(MemorySut::new()),
        Some(m) => match perturb::perturbation(m) {
            Some(p) => Perturbed::with(MemorySut::new(), m, p),
            // Selector 71 alone caps live sessions: the benches' setting, as a mutant.
            None if m == Mutant::LimitIgnoresMaxProcesses => {
                Perturbed::labelled(MemorySut::new().with_limits(Limits::LIFTED), m)
            }
            None => Perturbed::labelled(MemorySut::deviating(deviation::Deviation::new(m)), m),
        },
    }
}

impl MutantSut {
    /// [`MemorySut::with_slow_hook`] on the wrapped reference.
    pub fn with_slow_hook(self, slow_hook: std::time::Duration) -> MutantSut {
        self.map_inner(|m| m.with_slow_hook(slow_hook))
    }
}

impl std::fmt::Display for Mutant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn names_round_trip_and_are_unique() {
        let mut seen = BTreeSet::new();
        for m in Mutant::ALL {
            assert_eq!(Mutant::parse(m.name()), Some(*m));
            assert!(seen.insert(m.name()), "duplicate name {}", m.name());
            assert!(
                m.name()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            );
            assert_eq!(
                serde_json::to_string(m).ok(),
                Some(format!("\"{}\"", m.name()))
            );
        }
        assert_eq!(Mutant::parse("no-such-mutant"), None);
    }

    #[test]
    fn every_rule_has_a_mutant() {
        for rule in RuleId::ALL {
            assert!(
                Mutant::ALL
                    .iter()
                    .any(|m| m.expected_break() == Some(*rule)),
                "no mutant breaks {rule}"
            );
        }
        assert_eq!(
            Mutant::ALL.iter().filter(|m| m.is_canary()).count(),
            1,
            "exactly one canary"
        );
    }

    #[test]
    fn every_decorator_mutant_has_a_perturbation() {
        for m in Mutant::ALL {
            assert_eq!(
                perturb::perturbation(*m).is_some(),
                m.kind() == Kind::Perturb,
                "{m}"
            );
        }
    }

    #[test]
    fn race_mutants_come_before_the_canary_and_break_close_rules() {
        let race: Vec<Mutant> = Mutant::ALL
            .iter()
            .copied()
            .filter(|m| m.is_race())
            .collect();
        assert_eq!(race.len(), 3);
        let n = Mutant::ALL.len();
        assert_eq!(&Mutant::ALL[n - 4..n - 1], race.as_slice());
        for m in race {
            assert!(m.breaks().as_str().starts_with("CLOSE-"), "{m}");
            assert!(m.name().starts_with("racy-"), "{m}");
        }
    }
}
