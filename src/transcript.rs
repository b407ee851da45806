//! Readable one-line-per-event renderings of steps and observations, for counterexamples,
//! fixture snapshots and reports. Pure functions: snapshot tests call them directly.

use wlcs_model::vocab::{Action, ContextSnapshot, HookBehavior, OptionSet, Request, Step};
use wlcs_model::{CookieEffect, HookRun, Read, StepObs};

/// A step and the model's observations of it, as one or more lines.
pub fn step_line(index: usize, step: &Step, obs: &StepObs) -> String {
    let mut line = format!("#{index} {}", step_text(step));
    if let Some(r) = obs.ran_in {
        let opened = if r.opened { "new " } else { "" };
        line.push_str(&format!(" => in {opened}{} [{}]", r.session, r.rule));
    }
    if let Some(resp) = &obs.response {
        line.push_str(&format!(
            " => {} {}",
            resp.status.value,
            cookie(&resp.cookie.value)
        ));
    }
    if !obs.reads.is_empty() && obs.reads.iter().any(|r| r.value != Some(Read::Done)) {
        let reads: Vec<String> = obs.reads.iter().map(|r| expected_read(&r.value)).collect();
        line.push_str(&format!(" reads [{}]", reads.join(", ")));
    }
    if !obs.lock_changes.is_empty() {
        let changes: Vec<String> = obs
            .lock_changes
            .iter()
            .map(|(record, owner)| match owner {
                Some(p) => format!("{record}->{p}"),
                None => format!("{record} free"),
            })
            .collect();
        line.push_str(&format!(" locks [{}]", changes.join(", ")));
    }
    for h in &obs.hooks {
        line.push_str(&format!("\n   {}", hook(h)));
    }
    line
}

/// A step, as a trace author would say it.
pub fn step_text(step: &Step) -> String {
    match step {
        Step::Request(r) => format!("request {}", request(r)),
        Step::Begin { slot, request: r } => format!("begin@{slot} {}", request(r)),
        Step::End { slot, actions } => format!("end@{slot} {}", actions_text(actions)),
        Step::NonWeb { process, actions } => {
            format!("nonweb{process} {}", actions_text(actions))
        }
        Step::SetOption(o) => format!("option {}", option(o)),
        Step::SetHook(b) => format!("hook := {}", hook_behavior(b)),
        Step::Advance { seconds } => format!("advance {seconds}s"),
    }
}

fn request(r: &Request) -> String {
    let mut s = String::new();
    if r.ip != 0 {
        s.push_str(&format!("ip{} ", r.ip));
    }
    if let Some(lane) = r.mobile {
        s.push_str(&format!("mobile/p{lane} "));
    }
    match &r.cookie {
        None => s.push_str("no-cookie "),
        Some(c) => s.push_str(&format!("cookie={c} ")),
    }
    s.push_str(&actions_text(&r.actions));
    s
}

fn actions_text(actions: &[Action]) -> String {
    let parts: Vec<String> = actions.iter().map(action).collect();
    format!("[{}]", parts.join("; "))
}

/// One action.
pub fn action(a: &Action) -> String {
    action_with(a, |id| id.to_string())
}

/// One action of any vocabulary, its ID argument said by `id`: the one action renderer, for
/// transcripts and the linearizer's timelines alike.
pub fn action_with<I>(a: &Action<I>, id: impl FnOnce(&I) -> String) -> String {
    match a {
        Action::SetVar { var, value } => format!("v{var}:={value}"),
        Action::GetVar { var } => format!("v{var}?"),
        Action::SetIpVar { var, value } => format!("<>v{var}:={value}"),
        Action::GetIpVar { var } => format!("<>v{var}?"),
        Action::Select { table, records } => format!("select T{table} {records:?}"),
        Action::GetSelection { table } => format!("selection T{table}?"),
        Action::Lock { record } => format!("lock {record}"),
        Action::IsLocked { record } => format!("locked {record}?"),
        Action::GetSessionId => "session-id?".to_string(),
        Action::Close { id: i } => format!("CLOSE {}", id(i)),
        Action::GetExpiration { id: i } => format!("expiration {}?", id(i)),
    }
}

fn option(o: &OptionSet) -> String {
    match o {
        OptionSet::MaxProcesses(n) => format!("max-processes(18)={n}"),
        OptionSet::Mode(m) => format!("mode(70/90)={m:?}"),
        OptionSet::MaxSessions(n) => format!("max-sessions(71)={n}"),
        OptionSet::CookieTimeoutMin(n) => format!("cookie-timeout(72)={n}min"),
        OptionSet::CookieName(n) => format!("cookie-name(73)={n}"),
        OptionSet::ProcessTimeoutMin(n) => format!("process-timeout(78)={n}min"),
        OptionSet::IpValidation(b) => format!("ip-validation(83)={b}"),
    }
}

fn hook_behavior(b: &HookBehavior) -> String {
    match b {
        HookBehavior::Close(id) => format!("close {id}"),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// A read value.
pub fn read(r: &Read) -> String {
    read_with(r, |s| s.map_or("\"\"".into(), |s| s.to_string()))
}

/// An expected read (`None`: not compared).
pub fn expected_read(r: &Option<Read>) -> String {
    r.as_ref().map_or("unchecked".into(), read)
}

/// A read value of any vocabulary, its session ID said by `session`.
pub fn read_with<S>(r: &Read<S>, session: impl FnOnce(&S) -> String) -> String {
    match r {
        Read::Done => "done".into(),
        Read::Var(v) | Read::IpVar(v) => v.map_or("unset".into(), |v| v.to_string()),
        Read::Selection(s) => format!("{s:?}"),
        Read::Locked(b) => if *b { "locked" } else { "refused" }.into(),
        Read::LockState(s) => format!("{s:?}").to_lowercase(),
        Read::SessionId(s) => session(s),
        Read::Expiration(e) => e.map_or("null".into(), |e| format!("{e}s")),
    }
}

/// A cookie effect.
pub fn cookie(c: &CookieEffect) -> String {
    match c {
        CookieEffect::Keep => "cookie kept".into(),
        CookieEffect::Issue(s) => format!("set-cookie {s}"),
        CookieEffect::Expire => "set-cookie expired".into(),
    }
}

/// A hook run.
pub fn hook(h: &HookRun) -> String {
    let lane = if h.lane == 0 {
        String::new()
    } else {
        format!("/p{}", h.lane)
    };
    let failed = if h.failed { " (failed)" } else { "" };
    format!(
        "hook {}{lane} [{}] saw {}{failed}",
        h.session,
        h.cause,
        snapshot(&h.snapshot)
    )
}

/// A context snapshot.
pub fn snapshot(s: &ContextSnapshot) -> String {
    if s.is_empty() {
        return "{}".into();
    }
    let mut parts = Vec::new();
    for (k, v) in &s.vars {
        parts.push(format!("v{k}={v}"));
    }
    for (t, recs) in &s.selections {
        parts.push(format!("T{t}={recs:?}"));
    }
    if !s.locks.is_empty() {
        let locks: Vec<String> = s.locks.iter().map(|r| r.to_string()).collect();
        parts.push(format!("locks={}", locks.join(",")));
    }
    format!("{{{}}}", parts.join(" "))
}
