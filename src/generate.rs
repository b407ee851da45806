//! Trace generation. A trace is generated as a sequence of abstract [`Choice`]s (plain
//! numbers, which proptest generates and shrinks) and *interpreted* against the model's state:
//! "request with the cookie of session a mod n". Interpretation only emits steps whose
//! preconditions hold in the state reached so far, so every shrunk trace is valid by
//! construction: deleting a choice never leaves a step that names a session that no longer
//! exists (proptest-state-machine re-checks preconditions for the same reason).

use crate::coverage::Coverage;
use proptest::collection::vec;
use proptest::prelude::*;
use wlcs_model::Model;
use wlcs_model::vocab::{
    Action, HookBehavior, IdText, OptionSet, RecordRef, Request, SessionMode, SessionRef, Spelling,
    Step, Trace, WorldConfig,
};
use wlcs_sut::Capabilities;

/// In-flight slots the generator uses.
pub const SLOTS_MAX: u8 = 3;
/// Actions per request, at most.
pub const ACTIONS_PER_REQUEST_MAX: usize = 4;

/// One abstract generation decision. `kind` picks the step kind, `a` and `b` its parameters,
/// `acts` the request's actions; all shrink toward 0, which is the simplest choice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    /// Which kind of step (scaled over the weight table).
    pub kind: u8,
    /// First parameter.
    pub a: u16,
    /// Second parameter.
    pub b: u16,
    /// The actions: (kind, parameter).
    pub acts: Vec<(u8, u16)>,
}

/// The strategy for one choice.
pub fn choice() -> impl Strategy<Value = Choice> {
    (
        any::<u8>(),
        any::<u16>(),
        any::<u16>(),
        vec((any::<u8>(), any::<u16>()), 0..=ACTIONS_PER_REQUEST_MAX),
    )
        .prop_map(|(kind, a, b, acts)| Choice { kind, a, b, acts })
}

/// The strategy for a trace of up to `steps_max` choices.
pub fn choices(steps_max: usize) -> impl Strategy<Value = Vec<Choice>> {
    vec(choice(), 1..=steps_max.max(1))
}

/// Step kinds, in shrink order (the first is the simplest).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    RequestNew,
    RequestSession,
    CloseNonWeb,
    End,
    Begin,
    Advance,
    SetOption,
    SetHook,
    RequestBadCookie,
    RequestOtherIp,
    Mobile,
    NonWebOther,
}

/// How often each step kind is chosen, relative to the others.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Weights {
    table: Vec<(Kind, u32)>,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            table: vec![
                (Kind::RequestNew, 12),
                (Kind::RequestSession, 26),
                (Kind::CloseNonWeb, 12),
                (Kind::End, 9),
                (Kind::Begin, 7),
                (Kind::Advance, 6),
                (Kind::SetOption, 7),
                (Kind::SetHook, 4),
                (Kind::RequestBadCookie, 5),
                (Kind::RequestOtherIp, 3),
                (Kind::Mobile, 6),
                (Kind::NonWebOther, 5),
            ],
        }
    }
}

impl Weights {
    /// Swarm weights (TigerBeetle's VOPR, FoundationDB): each seed picks its own mix. Every
    /// kind but the two that keep a trace alive (new requests, requests with a cookie) is
    /// switched off with probability 1/4, and the others get a weight in 1..=30, so some seeds
    /// hammer closes during requests, others timeouts, evictions or 4D Mobile.
    pub fn swarm(rng: &mut impl rand_core::Rng) -> Weights {
        let mut table = Weights::default().table;
        for (kind, weight) in &mut table {
            let roll = rng.next_u32();
            let core = matches!(kind, Kind::RequestNew | Kind::RequestSession);
            *weight = if !core && roll.is_multiple_of(4) {
                0
            } else {
                1 + (roll >> 8) % 30
            };
        }
        Weights { table }
    }

    /// The weights as `kind=weight` pairs, for reports.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = self
            .table
            .iter()
            .map(|(k, w)| format!("{k:?}={w}"))
            .collect();
        parts.join(" ")
    }
}

/// What the generator may produce.
#[derive(Clone, Debug)]
pub struct GenConfig {
    /// The world traces start from.
    pub world: WorldConfig,
    /// What the system under test supports: steps needing more are never generated.
    pub caps: Capabilities,
    /// Step kind weights.
    pub weights: Weights,
}

impl GenConfig {
    fn allowed(&self, kind: Kind) -> bool {
        let c = &self.caps;
        match kind {
            Kind::Begin | Kind::End => c.in_flight,
            Kind::Advance => c.clock,
            Kind::SetOption => c.options,
            Kind::SetHook => c.hook_faults,
            Kind::RequestOtherIp => c.multi_ip,
            Kind::Mobile => c.mobile,
            _ => true,
        }
    }
}

/// Clock advances, seconds. 0 is a case of its own: it fires timeouts already due (after the
/// process timeout was lowered) and nothing else (SPEC.md "Clock and timeouts").
const ADVANCE_S: [u64; 13] = [0, 1, 30, 59, 60, 61, 119, 120, 299, 300, 600, 3600, 28800];

/// Interprets choices into a valid trace.
pub fn interpret(choices: &[Choice], cfg: &GenConfig) -> Trace {
    interpret_with(choices, cfg, None)
}

/// [`interpret`], counting the coverage cells each step reaches (`wlcs coverage`).
pub fn interpret_measured(choices: &[Choice], cfg: &GenConfig, cov: &mut Coverage) -> Trace {
    interpret_with(choices, cfg, Some(cov))
}

fn interpret_with(choices: &[Choice], cfg: &GenConfig, mut cov: Option<&mut Coverage>) -> Trace {
    let mut model = Model::new(cfg.world.clone());
    let mut steps = Vec::with_capacity(choices.len());
    for (i, c) in choices.iter().enumerate() {
        let Some(step) = make_step(i, c, &model, cfg) else {
            continue;
        };
        let before = cov.as_ref().map(|cov| cov.before(&model, &step));
        let obs = model.step(&step);
        if obs.invalid.is_none() {
            if let (Some(cov), Some(before)) = (cov.as_deref_mut(), before) {
                cov.after(&model, &step, &obs, before);
            }
            steps.push(step);
        }
    }
    Trace {
        config: cfg.world.clone(),
        steps,
    }
}

fn pick_kind(c: &Choice, model: &Model, cfg: &GenConfig) -> Option<Kind> {
    let in_flight = !model.in_flight().is_empty();
    // Two passes over the table rather than a filtered copy: this runs once per step.
    let usable = || {
        cfg.weights
            .table
            .iter()
            .copied()
            .filter(move |(k, w)| *w > 0 && cfg.allowed(*k) && (*k != Kind::End || in_flight))
    };
    let total: u32 = usable().map(|(_, w)| w).sum();
    if total == 0 {
        return None;
    }
    let mut at = u32::from(c.kind) * total / 256;
    for (k, w) in usable() {
        if at < w {
            return Some(k);
        }
        at -= w;
    }
    None
}

/// The `a mod count`-th session (in order) that `keep` holds for, `None` when none does;
/// counted in two passes, without collecting them (this runs once per step).
fn nth_session(model: &Model, a: u16, keep: impl Fn(SessionRef) -> bool) -> Option<SessionRef> {
    let all = || {
        (0..model.sessions_opened())
            .map(SessionRef)
            .filter(|s| keep(*s))
    };
    let count = all().count();
    if count == 0 {
        return None;
    }
    all().nth(usize::from(a) % count)
}

/// A known session, preferring ones a request can still reach.
fn pick_session(model: &Model, a: u16, b: u16) -> Option<SessionRef> {
    let n = model.sessions_opened();
    if n == 0 {
        return None;
    }
    if !b.is_multiple_of(4)
        && let Some(s) = nth_session(model, a, |s| model.routable(s))
    {
        return Some(s);
    }
    Some(SessionRef(u32::from(a) % n))
}

/// The step choice `i` makes in the state `model` is in (`None`: it makes none here); the
/// model is not stepped. [`crate::check::Checker::run_generated`] steps it once for the
/// generator and the checker both.
pub(crate) fn make_step(i: usize, c: &Choice, model: &Model, cfg: &GenConfig) -> Option<Step> {
    let kind = pick_kind(c, model, cfg)?;
    let m = StepMaker {
        i,
        c,
        model,
        cfg,
        session: pick_session(model, c.a, c.b),
    };
    match kind {
        Kind::RequestNew => Some(Step::Request(m.request(None, 0, None))),
        Kind::RequestSession => m.request_session(),
        Kind::RequestOtherIp => m.request_other_ip(),
        Kind::RequestBadCookie => Some(m.request_bad_cookie()),
        Kind::Mobile => Some(m.mobile()),
        Kind::Begin => m.begin(),
        Kind::End => m.end(),
        Kind::CloseNonWeb => m.close_non_web(),
        Kind::NonWebOther => Some(Step::NonWeb {
            process: u8::try_from(c.b % 2).unwrap_or(0),
            actions: nonweb_actions(i, &c.acts, model),
        }),
        Kind::Advance => Some(m.advance()),
        Kind::SetOption => Some(Step::SetOption(m.option())),
        Kind::SetHook => m.set_hook(),
    }
}

/// What building one step from a choice needs: the choice and its index, the state reached,
/// the generator's configuration and the session the choice picks (if any). Each step kind is
/// one method; borrowed only, nothing allocated beyond the step.
struct StepMaker<'a> {
    i: usize,
    c: &'a Choice,
    model: &'a Model,
    cfg: &'a GenConfig,
    session: Option<SessionRef>,
}

impl StepMaker<'_> {
    /// A request with the choice's actions.
    #[inline]
    fn request(&self, cookie: Option<IdText>, ip: u8, mobile: Option<u8>) -> Request {
        Request {
            ip,
            cookie,
            mobile,
            actions: actions(self.i, &self.c.acts, self.model, None),
        }
    }

    /// A request with the picked session's cookie, from its IP.
    #[inline]
    fn request_session(&self) -> Option<Step> {
        let s = self.session?;
        let ip = self.model.session_ip(s).unwrap_or(0);
        Some(Step::Request(self.request(
            Some(IdText::Session(s)),
            ip,
            None,
        )))
    }

    /// A request with the picked session's cookie from the other client IP (REQ-5).
    #[inline]
    fn request_other_ip(&self) -> Option<Step> {
        let s = self.session?;
        let ip = 1 - self.model.session_ip(s).unwrap_or(0).min(1);
        let mut r = self.request(Some(IdText::Session(s)), ip, None);
        if self.model.scalable() {
            // Whether IP validation refuses it in scalable mode is not compared (out of
            // scope beyond CLOSE-9): without actions nothing else depends on the answer.
            r.actions.clear();
        }
        Some(Step::Request(r))
    }

    /// A request whose cookie names no session.
    #[inline]
    fn request_bad_cookie(&self) -> Step {
        let c = self.c;
        // Sometimes from the other client IP: a wrong cookie names nothing whatever the IP.
        let ip = u8::from(self.cfg.caps.multi_ip && (c.b / 5) % 3 == 1);
        Step::Request(self.request(Some(bad_cookie(c.a, c.b, self.session)), ip, None))
    }

    /// A 4D Mobile request on a lane, with a mobile session's cookie or none.
    #[inline]
    fn mobile(&self) -> Step {
        let (c, model) = (self.c, self.model);
        let mobile =
            |s: SessionRef| model.session_kind(s) == Some(wlcs_model::world::SessionKind::Mobile);
        let cookie = if c.b.is_multiple_of(3) {
            None
        } else {
            nth_session(model, c.a, mobile).map(IdText::Session)
        };
        let lane = u8::try_from(c.a % 3).unwrap_or(0);
        Step::Request(self.request(cookie, 0, Some(lane)))
    }

    /// A request held in flight in a free slot (none free: no step).
    #[inline]
    fn begin(&self) -> Option<Step> {
        let model = self.model;
        let busy: Vec<u8> = model.in_flight().iter().map(|f| f.0).collect();
        let slot = (0..SLOTS_MAX).find(|s| !busy.contains(s))?;
        let cookie = if self.c.b.is_multiple_of(3) {
            None
        } else {
            self.session.map(IdText::Session)
        };
        let ip = match &cookie {
            Some(IdText::Session(s)) => model.session_ip(*s).unwrap_or(0),
            _ => 0,
        };
        Some(Step::Begin {
            slot,
            request: self.request(cookie, ip, None),
        })
    }

    /// The end of a request in flight, with its actions.
    #[inline]
    fn end(&self) -> Option<Step> {
        let flights = self.model.in_flight();
        let (slot, own, _) = *flights.get(usize::from(self.c.a) % flights.len().max(1))?;
        Some(Step::End {
            slot,
            actions: actions(self.i, &self.c.acts, self.model, Some(own)),
        })
    }

    /// A non-web process closing the picked session (or an ID that names none), sometimes
    /// twice in one call.
    #[inline]
    fn close_non_web(&self) -> Option<Step> {
        let (c, session) = (self.c, self.session);
        let id = if c.b.is_multiple_of(8) {
            bad_id(c.a, c.b / 8, session)
        } else {
            IdText::Session(session?)
        };
        let mut acts = vec![Action::Close { id }];
        if c.b % 5 == 1 {
            acts.push(Action::Close {
                id: IdText::Session(session?),
            });
        }
        Some(Step::NonWeb {
            process: u8::try_from(c.b % 2).unwrap_or(0),
            actions: acts,
        })
    }

    /// A clock move.
    #[inline]
    fn advance(&self) -> Step {
        let c = self.c;
        Step::Advance {
            // A process made due by a lowered process timeout ends at the next clock step,
            // also one of 0 s (HARNESS.md readings): that combination is generated on purpose.
            seconds: if self.model.timeout_due() && c.b.is_multiple_of(2) {
                0
            } else {
                ADVANCE_S[usize::from(c.a) % ADVANCE_S.len()]
            },
        }
    }

    /// A WEB SET OPTION.
    #[inline]
    fn option(&self) -> OptionSet {
        let (c, model) = (self.c, self.model);
        // In scalable mode D4 ignores selectors 18, 72, 73 and 78, which only a return to legacy
        // mode shows: those and the return are chosen more often there.
        if model.scalable() && c.b % 9 < 5 {
            return match c.b % 5 {
                0 => OptionSet::CookieTimeoutMin(1 + u32::from(c.a % 10)),
                1 => OptionSet::ProcessTimeoutMin(1 + u32::from(c.a % 10)),
                2 => OptionSet::CookieName("SID2".into()),
                3 => OptionSet::MaxProcesses(10),
                _ => OptionSet::Mode(SessionMode::Legacy),
            };
        }
        match c.b % 9 {
            // Edge values: 0 (ignored), the minimum, the default (coverage.rs "option/...").
            0 | 1 => OptionSet::MaxSessions([1, 2, 3, 4, 1, 2, 0, 100][usize::from(c.a % 8)]),
            2 => OptionSet::CookieTimeoutMin(timeout_min(c.a)),
            3 | 4 => OptionSet::ProcessTimeoutMin(timeout_min(c.a)),
            5 => OptionSet::IpValidation(c.a.is_multiple_of(2)),
            6 => {
                OptionSet::MaxProcesses([5, 10, 12, 100, 0, 10, 32000, 32001][usize::from(c.a % 8)])
            }
            // The default, others, "" (restores the default) and names that are not RFC 6265
            // tokens (a space, a separator, one byte over the length limit: ignored).
            7 => OptionSet::CookieName(
                [
                    "4DSID_wlcs",
                    "SID2",
                    "4DSID",
                    "SID2",
                    "",
                    "SID 2",
                    "SID;2",
                    NAME_TOO_LONG,
                ][usize::from(c.a % 8)]
                .into(),
            ),
            _ => OptionSet::Mode(if c.a.is_multiple_of(3) && !model.scalable() {
                SessionMode::Scalable
            } else {
                SessionMode::Legacy
            }),
        }
    }

    /// The close hook's behaviour.
    #[inline]
    fn set_hook(&self) -> Option<Step> {
        let (c, session) = (self.c, self.session);
        Some(Step::SetHook(match c.b % 6 {
            0 => HookBehavior::Save,
            1 => HookBehavior::Fail,
            2 => HookBehavior::CloseOwn,
            3 => HookBehavior::Close(IdText::Session(session?)),
            4 => HookBehavior::Slow,
            _ => HookBehavior::Close(bad_id(c.a, c.b, session)),
        }))
    }
}

/// A cookie name one byte longer than the model accepts (`vocab::is_cookie_name`: 64).
const NAME_TOO_LONG: &str = "SID_6789012345678901234567890123456789012345678901234567890123456";

/// A timeout option in minutes: mostly 1..=10, sometimes 0 (ignored) or the default.
fn timeout_min(a: u16) -> u32 {
    match a % 12 {
        10 => 0,
        11 => 480,
        n => 1 + u32::from(n),
    }
}

/// A cookie value that names no session. Only values a cookie can carry byte for byte over
/// HTTP (RFC 6265 cookie octets: no spaces, no `;`), so the same trace means the same thing
/// in process and over HTTP.
fn bad_cookie(a: u16, b: u16, session: Option<SessionRef>) -> IdText {
    match (b % 5, session) {
        (0, _) => IdText::Forged(u32::from(a % 16)),
        (1, _) => IdText::Malformed(["not-a-uuid", "ZZZZ", "0"][usize::from(a % 3)].into()),
        (2, _) => IdText::Empty,
        (3, Some(s)) => IdText::Respelled(s, Spelling::SwapCase),
        (4, Some(s)) => IdText::Respelled(s, Spelling::Hyphens),
        _ => IdText::Forged(u32::from(a % 16)),
    }
}

/// A close argument that names no session: anything the command may be passed.
fn bad_id(a: u16, b: u16, session: Option<SessionRef>) -> IdText {
    match (b % 7, session) {
        (0, _) => IdText::Forged(u32::from(a % 16)),
        (1, _) => IdText::Malformed(["not-a-uuid", "x;y", "  ", "ZZZZ"][usize::from(a % 4)].into()),
        (2, _) => IdText::Empty,
        (3, Some(s)) => IdText::Respelled(s, Spelling::SwapCase),
        (4, Some(s)) => IdText::Respelled(s, Spelling::Hyphens),
        (5, Some(s)) => IdText::Respelled(s, Spelling::Padded),
        (6, _) if a.is_multiple_of(2) => IdText::Current,
        _ => IdText::Forged(u32::from(a % 16)),
    }
}

/// A value unique to its place in the trace, so a value seen in the wrong context is a leak
/// (INV-4) and never a coincidence.
fn unique_value(step: usize, action: usize) -> i64 {
    (step as i64 + 1) * 100 + action as i64
}

fn record(x: u16) -> RecordRef {
    RecordRef {
        table: 1,
        record: u32::from(x % 5),
    }
}

/// A request's actions; `own` is the session of an ending held request (its own ID is then
/// sometimes named exactly, as its cookie may have expired while it was held: TIME-4).
fn actions(step: usize, acts: &[(u8, u16)], model: &Model, own: Option<SessionRef>) -> Vec<Action> {
    acts.iter()
        .enumerate()
        .map(|(j, (k, x))| {
            let var = u8::try_from(x % 3).unwrap_or(0);
            match u32::from(*k) * 100 / 256 {
                0..=15 => Action::SetVar {
                    var,
                    value: unique_value(step, j),
                },
                16..=29 => Action::GetVar { var },
                30..=37 => Action::Select {
                    table: 2,
                    records: vec![u32::from(x % 7), u32::from((x / 7) % 7)],
                },
                38..=45 => Action::GetSelection { table: 2 },
                46..=55 => Action::Lock { record: record(*x) },
                56..=63 => Action::IsLocked { record: record(*x) },
                64..=67 => Action::SetIpVar {
                    var,
                    value: unique_value(step, j),
                },
                68..=71 => Action::GetIpVar { var },
                72..=75 => Action::GetSessionId,
                76..=85 => Action::Close {
                    id: IdText::Current,
                },
                86..=93 => match pick_session(model, *x, x / 3) {
                    // Any text the command may be passed, from a web request too.
                    Some(s) if x % 4 == 3 => Action::Close {
                        id: bad_id(x / 4, x / 16, Some(s)),
                    },
                    Some(s) => Action::Close {
                        id: IdText::Session(s),
                    },
                    None => Action::Close {
                        id: IdText::Current,
                    },
                },
                _ => Action::GetExpiration {
                    id: match pick_session(model, *x, 1 + x / 2) {
                        _ if x % 4 == 2 && own.is_some() => {
                            own.map_or(IdText::Current, IdText::Session)
                        }
                        Some(s) if x.is_multiple_of(2) => IdText::Session(s),
                        Some(s) if x % 6 == 1 => bad_id(x / 6, x / 36, Some(s)),
                        _ => IdText::Current,
                    },
                },
            }
        })
        .collect()
}

fn nonweb_actions(step: usize, acts: &[(u8, u16)], model: &Model) -> Vec<Action> {
    acts.iter()
        .enumerate()
        .map(|(j, (k, x))| match k % 6 {
            0 => Action::Lock { record: record(*x) },
            1 => Action::IsLocked { record: record(*x) },
            2 => Action::SetIpVar {
                var: u8::try_from(x % 3).unwrap_or(0),
                value: unique_value(step, j),
            },
            3 => Action::GetIpVar {
                var: u8::try_from(x % 3).unwrap_or(0),
            },
            4 => Action::GetSessionId,
            _ => Action::GetExpiration {
                id: match pick_session(model, *x, 1) {
                    Some(s) if x % 3 == 1 => IdText::Respelled(
                        s,
                        [Spelling::SwapCase, Spelling::Hyphens, Spelling::Padded]
                            [usize::from(x / 3 % 3)],
                    ),
                    Some(s) if x % 3 == 2 => bad_id(x / 3, x / 9, Some(s)),
                    Some(s) => IdText::Session(s),
                    None => IdText::Current,
                },
            },
        })
        .collect()
}
