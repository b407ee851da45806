//! Trait-level tests of the reference implementation (`MemorySut`), without the model: each
//! test drives the `Sut` trait and checks one decision of SPEC.md's "Precise semantics".

// A test: a failed unwrap or expect is a failed test, with its message (STYLE.md allows them here).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use wlcs_model::vocab::{
    CookieNameProfile, LockState, OptionSet, Profile, RecordRef, SessionMode, TimeoutProfile,
    WorldConfig,
};
use wlcs_sut::memory::{Limits, MemorySut};
use wlcs_sut::mutants::Mutant;
use wlcs_sut::{
    Begun, Response, Sut, SutError, WireAction, WireHook, WireHookRun, WireId, WireProc, WireRead,
    WireRequest,
};

const COOKIE: &str = "4DSID_wlcs";

fn rec(table: u8, record: u32) -> RecordRef {
    RecordRef { table, record }
}

fn req(ip: u8, cookie: Option<&str>, actions: Vec<WireAction>) -> WireRequest {
    WireRequest {
        ip,
        cookie: cookie.map(str::to_string),
        mobile: None,
        actions,
    }
}

fn mobile(lane: u8, cookie: Option<&str>, actions: Vec<WireAction>) -> WireRequest {
    WireRequest {
        mobile: Some(lane),
        ..req(0, cookie, actions)
    }
}

fn close(id: &str) -> WireAction {
    WireAction::Close {
        id: WireId::Text(id.to_string()),
    }
}

fn close_current() -> WireAction {
    WireAction::Close {
        id: WireId::Current,
    }
}

fn expiration(id: &str) -> WireAction {
    WireAction::GetExpiration {
        id: WireId::Text(id.to_string()),
    }
}

fn set(var: u8, value: i64) -> WireAction {
    WireAction::SetVar { var, value }
}

fn get(var: u8) -> WireAction {
    WireAction::GetVar { var }
}

fn fresh(config: &WorldConfig) -> MemorySut {
    let sut = MemorySut::new();
    sut.reset(config).expect("reset");
    sut
}

fn sut() -> MemorySut {
    fresh(&WorldConfig::default())
}

fn keeps_id() -> WorldConfig {
    WorldConfig::default()
}

fn new_id() -> WorldConfig {
    WorldConfig {
        profile: Profile {
            timeout: TimeoutProfile::NewId,
            cookie_name: CookieNameProfile::WithAppName,
        },
        ..WorldConfig::default()
    }
}

/// Opens a session with the given actions; returns its ID.
fn open(sut: &dyn Sut, actions: Vec<WireAction>) -> String {
    let r = sut.request(&req(0, None, actions)).expect("request");
    assert_eq!(r.status, 200);
    r.session_id.expect("session id")
}

fn issued(r: &Response) -> Option<&str> {
    r.set_cookies
        .iter()
        .rev()
        .find(|c| c.name == COOKIE && !c.expiring)
        .map(|c| c.value.as_str())
}

fn last_expires(r: &Response) -> bool {
    r.set_cookies
        .last()
        .is_some_and(|c| c.name == COOKIE && c.expiring && c.value.is_empty())
}

fn hooks(sut: &dyn Sut) -> Vec<WireHookRun> {
    sut.take_hook_runs().expect("hook runs")
}

#[test]
fn new_session_issues_cookie_and_keeps_its_context() {
    // REQ-1, REQ-2, REQ-4.
    let sut = sut();
    let r = sut
        .request(&req(0, None, vec![set(1, 7), WireAction::GetSessionId]))
        .expect("request");
    let id = r.session_id.clone().expect("id");
    assert_eq!(id.len(), 32);
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_lowercase())
    );
    assert_eq!(
        r.reads,
        vec![WireRead::Done, WireRead::SessionId(id.clone())]
    );
    assert_eq!(issued(&r), Some(id.as_str()));
    assert_eq!(
        r.set_cookies[0].raw,
        format!("{COOKIE}={id}; Path=/; SameSite=Strict; Max-Age=28800")
    );

    sut.advance(100).expect("advance");
    let r2 = sut
        .request(&req(0, Some(&id), vec![get(1), expiration(&id)]))
        .expect("request");
    assert_eq!(r2.session_id.as_deref(), Some(id.as_str()));
    // REQ-4 (SHOULD): the same cookie again, with the slid lifetime (28 800 s from now).
    assert_eq!(
        r2.set_cookies.len(),
        1,
        "the known session's cookie is refreshed"
    );
    assert_eq!(r2.set_cookies[0].value, id);
    assert!(r2.set_cookies[0].raw.contains("Max-Age=28800"));
    assert_eq!(
        r2.reads,
        vec![
            WireRead::Var(Some(7)),
            WireRead::Expiration(Some(100 + 28800))
        ]
    );
    // Non-web processes see "" as their session ID.
    assert_eq!(
        sut.non_web(0, &[WireAction::GetSessionId])
            .expect("non-web"),
        vec![WireRead::SessionId(String::new())]
    );
}

#[test]
fn close_from_non_web_runs_hook_on_saved_context_then_resets() {
    // CLOSE-1, CLOSE-3, CLOSE-5, CLOSE-6, CLOSE-7, CLOSE-8, CLOSE-2 (second close).
    let sut = sut();
    let id = open(
        &sut,
        vec![
            set(1, 11),
            WireAction::Select {
                table: 2,
                records: vec![5, 3, 5],
            },
            WireAction::Lock { record: rec(1, 9) },
            WireAction::SetIpVar { var: 4, value: 44 },
        ],
    );
    let other = open(&sut, vec![WireAction::Lock { record: rec(1, 10) }]);
    assert_eq!(
        sut.non_web(0, &[close(&id), expiration(&id)])
            .expect("close"),
        vec![WireRead::Done, WireRead::Expiration(None)]
    );
    let runs = hooks(&sut);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].session_id, id);
    assert_eq!(runs[0].lane, 0);
    assert!(!runs[0].failed);
    assert_eq!(runs[0].snapshot.vars, BTreeMap::from([(1, 11)]));
    assert_eq!(
        runs[0].snapshot.selections,
        BTreeMap::from([(2, vec![3, 5])])
    );
    assert_eq!(runs[0].snapshot.locks, vec![rec(1, 9)]);

    // Its lock is released; the other session's lock and the interprocess variable stay.
    let locks = sut.locks().expect("locks");
    assert_eq!(
        locks,
        BTreeMap::from([(
            rec(1, 10),
            WireProc::Web {
                session_id: other.clone(),
                lane: 0
            }
        )])
    );
    assert_eq!(sut.ipvars().expect("ipvars"), BTreeMap::from([(4, 44)]));

    // Second close: nothing.
    sut.non_web(1, &[close(&id)]).expect("close");
    assert!(hooks(&sut).is_empty());

    assert_closed_cookie_opens_an_empty_session(&sut, &id);
}

/// The closed cookie `id` (whose session set variable 1, selected in table 2 and locked record
/// 1/9) opens a new session with an empty context: nothing of the old one is seen (CLOSE-7,
/// CLOSE-8).
fn assert_closed_cookie_opens_an_empty_session(sut: &dyn Sut, id: &str) {
    let r = sut
        .request(&req(
            0,
            Some(id),
            vec![
                get(1),
                WireAction::GetSelection { table: 2 },
                WireAction::IsLocked { record: rec(1, 9) },
            ],
        ))
        .expect("request");
    let new = r.session_id.clone().expect("id");
    assert_ne!(new, id);
    assert_eq!(issued(&r), Some(new.as_str()));
    assert_eq!(
        r.reads,
        vec![
            WireRead::Var(None),
            WireRead::Selection(vec![]),
            WireRead::LockState(LockState::Free)
        ]
    );
}

#[test]
fn ids_that_name_no_session_do_nothing() {
    // CLOSE-2: respelled, padded, empty, malformed, forged.
    let sut = sut();
    let id = open(&sut, vec![set(1, 1)]);
    let lower = id.to_ascii_lowercase();
    let padded = format!(" {id} ");
    let hyphen = format!("{}-{}", &id[..1], &id[1..]);
    let forged = wlcs_model::vocab::IdText::forged_id(3);
    for text in [
        lower.as_str(),
        padded.as_str(),
        hyphen.as_str(),
        "",
        "not an id",
        &forged,
    ] {
        sut.non_web(0, &[close(text)]).expect("close");
    }
    // "" is also what Current resolves to in a non-web process.
    sut.non_web(0, &[close_current()]).expect("close");
    assert!(hooks(&sut).is_empty());
    let r = sut
        .request(&req(0, Some(&id), vec![get(1)]))
        .expect("request");
    assert_eq!(r.session_id.as_deref(), Some(id.as_str()));
    assert_eq!(r.reads, vec![WireRead::Var(Some(1))]);
}

#[test]
fn self_close_finishes_request_then_hooks_and_expires_cookie() {
    // CLOSE-11, CLOSE-4, CLOSE-6.
    let sut = sut();
    let id = open(&sut, vec![set(1, 1)]);
    let r = sut
        .request(&req(
            0,
            Some(&id),
            vec![
                close_current(),
                get(1),
                set(2, 2),
                WireAction::GetSessionId,
                WireAction::GetExpiration {
                    id: WireId::Current,
                },
            ],
        ))
        .expect("request");
    assert_eq!(r.status, 200);
    assert_eq!(r.session_id.as_deref(), Some(id.as_str()));
    assert_eq!(
        r.reads,
        vec![
            WireRead::Done,
            WireRead::Var(Some(1)),
            WireRead::Done,
            WireRead::SessionId(id.clone()),
            WireRead::Expiration(None),
        ]
    );
    assert_eq!(r.set_cookies.len(), 1);
    assert!(last_expires(&r));
    assert!(r.set_cookies[0].raw.contains("Max-Age=0"));
    let runs = hooks(&sut);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].snapshot.vars, BTreeMap::from([(1, 1), (2, 2)]));

    // A session opened and closed by the same request: Issue, then Expire last.
    let r = sut
        .request(&req(0, None, vec![close_current()]))
        .expect("request");
    assert_eq!(r.set_cookies.len(), 2);
    assert!(!r.set_cookies[0].expiring);
    assert!(last_expires(&r));
    assert_eq!(hooks(&sut).len(), 1);
}

#[test]
fn close_from_elsewhere_during_request_defers_hook_to_request_end() {
    // CLOSE-12, CLOSE-1, CLOSE-10 (the second close while pending is a no-op).
    let sut = sut();
    let id = open(&sut, vec![]);
    let begun = sut
        .begin(
            3,
            &req(
                0,
                Some(&id),
                vec![set(1, 5), WireAction::Lock { record: rec(0, 1) }],
            ),
        )
        .expect("begin");
    assert!(matches!(begun, Begun::Running { ref session_id, .. } if *session_id == id));
    assert_eq!(
        sut.non_web(0, &[close(&id), expiration(&id), close(&id)])
            .expect("close"),
        vec![WireRead::Done, WireRead::Expiration(None), WireRead::Done]
    );
    assert!(hooks(&sut).is_empty(), "hook waits for the request's end");
    // The cookie no longer reaches the session (invalidation is immediate).
    let other = sut
        .request(&req(0, Some(&id), vec![get(1)]))
        .expect("request");
    assert_ne!(other.session_id.as_deref(), Some(id.as_str()));
    assert_eq!(other.reads, vec![WireRead::Var(None)]);
    // The in-flight request still runs in its context.
    let r = sut.end(3, &[get(1)]).expect("end");
    assert_eq!(r.reads, vec![WireRead::Var(Some(5))]);
    assert!(last_expires(&r));
    let runs = hooks(&sut);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].snapshot.vars, BTreeMap::from([(1, 5)]));
    assert_eq!(runs[0].snapshot.locks, vec![rec(0, 1)]);
    assert!(sut.locks().expect("locks").is_empty());
}

#[test]
fn hook_behaviours_fail_close_own_and_nested_close() {
    // CLOSE-14, CLOSE-13, nested close order.
    let sut = sut();
    sut.set_hook(&WireHook::Fail).expect("hook");
    let a = open(&sut, vec![WireAction::Lock { record: rec(0, 1) }]);
    sut.non_web(0, &[close(&a)]).expect("close");
    let runs = hooks(&sut);
    assert_eq!(runs.len(), 1);
    assert!(runs[0].failed);
    assert!(
        sut.locks().expect("locks").is_empty(),
        "a failed hook still releases"
    );
    let r = sut.request(&req(0, Some(&a), vec![])).expect("request");
    assert_ne!(r.session_id.as_deref(), Some(a.as_str()));

    sut.set_hook(&WireHook::CloseOwn).expect("hook");
    let b = open(&sut, vec![]);
    sut.non_web(0, &[close(&b)]).expect("close");
    assert_eq!(
        hooks(&sut).len(),
        1,
        "closing its own session from its hook is a no-op"
    );

    let c = open(&sut, vec![set(1, 3)]);
    let d = open(&sut, vec![set(1, 4)]);
    sut.set_hook(&WireHook::Close(d.clone())).expect("hook");
    sut.non_web(0, &[close(&c)]).expect("close");
    let runs = hooks(&sut);
    let order: Vec<&str> = runs.iter().map(|h| h.session_id.as_str()).collect();
    assert_eq!(order, vec![c.as_str(), d.as_str()]);
    assert_eq!(runs[1].snapshot.vars, BTreeMap::from([(1, 4)]));
}

#[test]
fn eviction_picks_least_recently_active_idle_session_and_503_when_none() {
    // LIMIT-1, LIMIT-2, INV-5.
    let sut = sut();
    sut.set_option(&OptionSet::MaxSessions(2)).expect("option");
    let a = open(&sut, vec![set(1, 1)]);
    sut.advance(1).expect("advance");
    let b = open(&sut, vec![set(1, 2)]);
    sut.advance(1).expect("advance");
    sut.request(&req(0, Some(&a), vec![])).expect("touch a");
    sut.advance(1).expect("advance");
    let c = open(&sut, vec![]);
    let runs = hooks(&sut);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].session_id, b, "b is the least recently active");
    assert_eq!(runs[0].snapshot.vars, BTreeMap::from([(1, 2)]));
    let rb = sut.request(&req(0, Some(&b), vec![])).expect("request");
    assert_ne!(
        rb.session_id.as_deref(),
        Some(b.as_str()),
        "evicted ID invalidated"
    );
    // That evicted a (least recent now: a at t=2, c at t=3).
    assert_eq!(hooks(&sut)[0].session_id, a);
    let nb = rb.session_id.expect("id");

    // Both live sessions busy: 503, nothing changes.
    sut.begin(0, &req(0, Some(&c), vec![])).expect("begin c");
    sut.begin(1, &req(0, Some(&nb), vec![])).expect("begin nb");
    let refused = sut
        .request(&req(0, None, vec![set(1, 1)]))
        .expect("request");
    assert_eq!(refused.status, 503);
    assert_eq!(refused.session_id, None);
    assert!(refused.set_cookies.is_empty() && refused.reads.is_empty());
    assert!(hooks(&sut).is_empty());
    let begun = sut.begin(2, &req(0, None, vec![])).expect("begin");
    assert!(matches!(begun, Begun::Done(Response { status: 503, .. })));
    sut.end(0, &[]).expect("end c");
    sut.end(1, &[]).expect("end nb");

    // Max processes 10 caps the web processes at 10 - 1 (D4 selector 18): the tenth
    // session evicts the first.
    let sut = self::sut();
    sut.set_option(&OptionSet::MaxSessions(12)).expect("option");
    sut.set_option(&OptionSet::MaxProcesses(10))
        .expect("option");
    sut.set_option(&OptionSet::MaxProcesses(5))
        .expect("ignored: out of range");
    for _ in 0..9 {
        open(&sut, vec![]);
    }
    assert!(hooks(&sut).is_empty());
    open(&sut, vec![]);
    assert_eq!(hooks(&sut).len(), 1);
}

#[test]
fn another_ip_gets_400_and_changes_nothing() {
    // REQ-5.
    let sut = sut();
    let id = open(&sut, vec![set(1, 1)]);
    sut.advance(50).expect("advance");
    let r = sut
        .request(&req(1, Some(&id), vec![set(1, 2)]))
        .expect("request");
    assert_eq!(r.status, 400);
    assert_eq!(r.session_id, None);
    assert!(r.set_cookies.is_empty() && r.reads.is_empty());
    // Not even the expiration slid.
    assert_eq!(
        sut.non_web(0, &[expiration(&id)]).expect("non-web"),
        vec![WireRead::Expiration(Some(28800))]
    );
    let r = sut
        .request(&req(0, Some(&id), vec![get(1)]))
        .expect("request");
    assert_eq!(r.reads, vec![WireRead::Var(Some(1))]);

    // With validation off, the other IP reaches the session.
    sut.set_option(&OptionSet::IpValidation(false))
        .expect("option");
    let r = sut
        .request(&req(1, Some(&id), vec![get(1)]))
        .expect("request");
    assert_eq!(r.session_id.as_deref(), Some(id.as_str()));
}

#[test]
fn process_timeout_keeps_id_profile() {
    // TIME-2, TIME-3 (timeout-keeps-id).
    let sut = fresh(&keeps_id());
    sut.set_option(&OptionSet::ProcessTimeoutMin(1))
        .expect("option");
    let id = open(
        &sut,
        vec![set(1, 1), WireAction::Lock { record: rec(0, 0) }],
    );
    sut.advance(59).expect("advance");
    assert!(hooks(&sut).is_empty());
    sut.advance(1).expect("advance");
    let runs = hooks(&sut);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].snapshot.vars, BTreeMap::from([(1, 1)]));
    assert!(sut.locks().expect("locks").is_empty());
    // The ID still exists: its expiration is reported, and the cookie revives it empty.
    assert_eq!(
        sut.non_web(0, &[expiration(&id)]).expect("non-web"),
        vec![WireRead::Expiration(Some(28800))]
    );
    let r = sut
        .request(&req(0, Some(&id), vec![get(1)]))
        .expect("request");
    assert_eq!(r.session_id.as_deref(), Some(id.as_str()));
    assert!(r.set_cookies.iter().all(|c| c.value == id), "the same ID");
    assert_eq!(r.reads, vec![WireRead::Var(None)]);

    // Closing a process-less session only invalidates it: no hook.
    sut.advance(60).expect("advance");
    assert_eq!(hooks(&sut).len(), 1);
    sut.non_web(0, &[close(&id)]).expect("close");
    assert!(hooks(&sut).is_empty());
    let r = sut.request(&req(0, Some(&id), vec![])).expect("request");
    assert_ne!(r.session_id.as_deref(), Some(id.as_str()));
}

#[test]
fn process_timeout_new_id_profile() {
    // TIME-3 (timeout-new-id).
    let sut = fresh(&new_id());
    sut.set_option(&OptionSet::ProcessTimeoutMin(1))
        .expect("option");
    let id = open(&sut, vec![set(1, 1)]);
    sut.advance(60).expect("advance");
    assert_eq!(hooks(&sut).len(), 1);
    assert_eq!(
        sut.non_web(0, &[expiration(&id)]).expect("non-web"),
        vec![WireRead::Expiration(None)]
    );
    let r = sut
        .request(&req(0, Some(&id), vec![get(1)]))
        .expect("request");
    let new = r.session_id.clone().expect("id");
    assert_ne!(new, id);
    assert_eq!(issued(&r), Some(new.as_str()));
    assert_eq!(r.reads, vec![WireRead::Var(None)]);
}

#[test]
fn cookie_and_process_timeouts_are_independent() {
    // TIME-1, TIME-4, and the `now >= expiration` boundary.
    let sut = sut();
    sut.set_option(&OptionSet::CookieTimeoutMin(1))
        .expect("option");
    sut.set_option(&OptionSet::ProcessTimeoutMin(2))
        .expect("option");
    let id = open(&sut, vec![set(1, 1)]);
    sut.advance(59).expect("advance");
    let r = sut
        .request(&req(0, Some(&id), vec![]))
        .expect("request at 59");
    assert_eq!(r.session_id.as_deref(), Some(id.as_str()));
    sut.advance(60).expect("advance");
    // now == expiration (59 + 60): expired.
    let r = sut
        .request(&req(0, Some(&id), vec![]))
        .expect("request at 119");
    assert_ne!(r.session_id.as_deref(), Some(id.as_str()));
    // The old process still runs: the session exists, with its past expiration.
    assert_eq!(
        sut.non_web(0, &[expiration(&id)]).expect("non-web"),
        vec![WireRead::Expiration(Some(119))]
    );
    assert!(hooks(&sut).is_empty());
    sut.advance(60).expect("advance");
    let runs = hooks(&sut);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].session_id, id);
    // Timeouts fire in due order: the second session (due at 119 + 120) has not timed out.
    sut.advance(59).expect("advance");
    assert!(hooks(&sut).is_empty());
    sut.advance(1).expect("advance");
    assert_eq!(hooks(&sut).len(), 1);
}

#[test]
fn busy_processes_never_time_out() {
    // TIME-2: a request in flight holds its process.
    let sut = sut();
    sut.set_option(&OptionSet::ProcessTimeoutMin(1))
        .expect("option");
    let id = open(&sut, vec![]);
    sut.begin(0, &req(0, Some(&id), vec![set(1, 1)]))
        .expect("begin");
    sut.advance(600).expect("advance");
    assert!(hooks(&sut).is_empty());
    sut.end(0, &[]).expect("end");
    sut.advance(59).expect("advance");
    assert!(hooks(&sut).is_empty());
    sut.advance(1).expect("advance");
    assert_eq!(hooks(&sut).len(), 1);
}

#[test]
fn mobile_close_ends_every_lane_with_its_own_hook() {
    // MOBILE-1, MOBILE-2, MOBILE-3.
    let sut = sut();
    let r = sut
        .request(&mobile(0, None, vec![set(1, 10)]))
        .expect("request");
    let id = r.session_id.clone().expect("id");
    assert_eq!(issued(&r), Some(id.as_str()));
    let r1 = sut
        .request(&mobile(1, Some(&id), vec![set(1, 11)]))
        .expect("lane 1");
    assert_eq!(r1.session_id.as_deref(), Some(id.as_str()));
    assert!(
        r1.set_cookies.iter().all(|c| c.value == id),
        "lanes share the cookie"
    );
    // A legacy request with the cookie runs in lane 0.
    let r0 = sut
        .request(&req(0, Some(&id), vec![get(1)]))
        .expect("lane 0");
    assert_eq!(r0.reads, vec![WireRead::Var(Some(10))]);

    sut.non_web(0, &[close(&id)]).expect("close");
    let runs = hooks(&sut);
    assert_eq!(runs.len(), 2);
    assert_eq!((runs[0].lane, runs[1].lane), (0, 1));
    assert_eq!(runs[0].snapshot.vars, BTreeMap::from([(1, 10)]));
    assert_eq!(runs[1].snapshot.vars, BTreeMap::from([(1, 11)]));
    let r = sut
        .request(&mobile(1, Some(&id), vec![get(1)]))
        .expect("request");
    assert_ne!(r.session_id.as_deref(), Some(id.as_str()));
    assert_eq!(r.reads, vec![WireRead::Var(None)]);
}

#[test]
fn mode_switch_restarts_and_scalable_close_does_nothing() {
    // CLOSE-9.
    let sut = sut();
    let id = open(
        &sut,
        vec![
            set(1, 1),
            WireAction::Lock { record: rec(0, 0) },
            WireAction::SetIpVar { var: 1, value: 1 },
        ],
    );
    sut.non_web(0, &[set(1, 5)]).expect("non-web");
    sut.advance(10).expect("advance");
    sut.set_option(&OptionSet::CookieTimeoutMin(2))
        .expect("option");
    sut.set_option(&OptionSet::Mode(SessionMode::Scalable))
        .expect("mode");
    assert!(hooks(&sut).is_empty(), "a restart runs no hooks");
    assert!(sut.locks().expect("locks").is_empty());
    assert!(sut.ipvars().expect("ipvars").is_empty());
    assert_eq!(
        sut.non_web(0, &[get(1)]).expect("non-web"),
        vec![WireRead::Var(None)]
    );

    let r = sut.request(&req(0, Some(&id), vec![])).expect("request");
    let s = r.session_id.clone().expect("id");
    assert_ne!(s, id, "the restart dropped the session");
    // Options other than the mode survive, and the clock kept running.
    assert!(r.set_cookies[0].raw.ends_with("Max-Age=120"));
    assert_eq!(
        sut.non_web(0, &[expiration(&s)]).expect("non-web"),
        vec![WireRead::Expiration(Some(130))]
    );

    sut.non_web(0, &[close(&s)]).expect("close");
    let r = sut
        .request(&req(0, Some(&s), vec![close_current()]))
        .expect("request");
    assert_eq!(r.session_id.as_deref(), Some(s.as_str()));
    assert!(r.set_cookies.iter().all(|c| !c.expiring && c.value == s));
    sut.advance(1_000_000).expect("advance");
    assert!(
        hooks(&sut).is_empty(),
        "no hooks, no timeouts in scalable mode"
    );
    // Setting the same mode again is not a change: no restart.
    sut.set_option(&OptionSet::Mode(SessionMode::Scalable))
        .expect("mode");
    sut.set_option(&OptionSet::Mode(SessionMode::Legacy))
        .expect("mode");
    let r = sut.request(&req(0, Some(&s), vec![])).expect("request");
    assert_ne!(r.session_id.as_deref(), Some(s.as_str()));
}

#[test]
fn request_is_begin_then_end_and_slot_misuse_is_unsupported() {
    let sut = sut();
    let whole = sut
        .request(&req(0, None, vec![set(1, 1), get(1)]))
        .expect("request");
    let begun = sut.begin(0, &req(0, None, vec![set(1, 1)])).expect("begin");
    assert!(matches!(
        sut.begin(0, &req(0, None, vec![])),
        Err(SutError::Unsupported(_))
    ));
    let Begun::Running { session_id, reads } = begun else {
        panic!("expected a running request");
    };
    assert_eq!(reads, vec![WireRead::Done]);
    let ended = sut.end(0, &[get(1)]).expect("end");
    assert_eq!(ended.session_id.as_deref(), Some(session_id.as_str()));
    assert_eq!(whole.reads, vec![WireRead::Done, WireRead::Var(Some(1))]);
    assert_eq!(ended.reads, vec![WireRead::Var(Some(1))]);
    assert_eq!(whole.set_cookies.len(), ended.set_cookies.len());
    assert!(matches!(sut.end(0, &[]), Err(SutError::Unsupported(_))));
    // A second request into a busy process is not a valid step.
    sut.begin(1, &req(0, Some(&session_id), vec![]))
        .expect("begin");
    assert!(matches!(
        sut.request(&req(0, Some(&session_id), vec![])),
        Err(SutError::Unsupported(_))
    ));
    assert!(matches!(
        sut.set_option(&OptionSet::Mode(SessionMode::Scalable)),
        Err(SutError::Unsupported(_))
    ));
}

#[test]
fn locks_are_per_process() {
    // D8: Lock/IsLocked from several processes.
    let sut = sut();
    let a = open(&sut, vec![WireAction::Lock { record: rec(0, 1) }]);
    assert_eq!(
        sut.non_web(
            2,
            &[
                WireAction::Lock { record: rec(0, 1) },
                WireAction::IsLocked { record: rec(0, 1) },
                WireAction::Lock { record: rec(0, 2) },
                WireAction::Lock { record: rec(0, 2) },
                WireAction::IsLocked { record: rec(0, 2) },
            ]
        )
        .expect("non-web"),
        vec![
            WireRead::Locked(false),
            WireRead::LockState(LockState::Other),
            WireRead::Locked(true),
            WireRead::Locked(true),
            WireRead::LockState(LockState::Mine),
        ]
    );
    let r = sut
        .request(&req(
            0,
            Some(&a),
            vec![WireAction::IsLocked { record: rec(0, 1) }],
        ))
        .expect("request");
    assert_eq!(r.reads, vec![WireRead::LockState(LockState::Mine)]);
    assert_eq!(
        sut.locks().expect("locks").get(&rec(0, 2)),
        Some(&WireProc::NonWeb(2))
    );
}

#[test]
fn concurrent_closes_run_each_hook_once() {
    // CLOSE-10: two threads close the same sessions; every hook runs exactly once.
    let sut = Arc::new(sut());
    sut.set_hook(&WireHook::Slow).expect("hook");
    sut.set_option(&OptionSet::MaxSessions(1000))
        .expect("option");
    let ids: Arc<Vec<String>> = Arc::new((0..200).map(|i| open(&*sut, vec![set(1, i)])).collect());
    let threads: Vec<_> = (0..2u8)
        .map(|t| {
            let sut = Arc::clone(&sut);
            let ids = Arc::clone(&ids);
            std::thread::spawn(move || {
                for (i, id) in ids.iter().enumerate() {
                    // Alternate orders so the threads really race on the same sessions.
                    let id = if t == 0 { id } else { &ids[ids.len() - 1 - i] };
                    sut.non_web(t, &[close(id)]).expect("close");
                    // A request racing the close: old session or a new one, never an error.
                    let r = sut.request(&req(0, Some(id), vec![])).expect("request");
                    assert_eq!(r.status, 200);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    let runs = hooks(&*sut);
    let mut per_id: BTreeMap<&str, usize> = BTreeMap::new();
    for run in &runs {
        *per_id.entry(run.session_id.as_str()).or_default() += 1;
    }
    for id in ids.iter() {
        assert_eq!(per_id.get(id.as_str()), Some(&1), "hook count for {id}");
    }
}

#[test]
fn reset_starts_an_empty_world() {
    let sut = sut();
    let id = open(&sut, vec![WireAction::Lock { record: rec(0, 0) }]);
    sut.non_web(0, &[WireAction::SetIpVar { var: 0, value: 1 }])
        .expect("non-web");
    sut.set_hook(&WireHook::Fail).expect("hook");
    sut.advance(5).expect("advance");
    sut.reset(&WorldConfig {
        app_name: "shop".into(),
        ..WorldConfig::default()
    })
    .expect("reset");
    assert!(sut.locks().expect("locks").is_empty());
    assert!(sut.ipvars().expect("ipvars").is_empty());
    assert!(hooks(&sut).is_empty());
    let r = sut.request(&req(0, Some(&id), vec![])).expect("request");
    assert_ne!(r.session_id.as_deref(), Some(id.as_str()));
    assert_eq!(r.set_cookies[0].name, "4DSID_shop");
    let new = r.session_id.expect("id");
    // Clock back at 0, hook back to Save.
    sut.non_web(0, &[close(&new)]).expect("close");
    assert!(!hooks(&sut)[0].failed);
    let r = sut.request(&req(0, None, vec![])).expect("request");
    let id = r.session_id.expect("id");
    assert_eq!(
        sut.non_web(0, &[expiration(&id)]).expect("non-web"),
        vec![WireRead::Expiration(Some(28800))]
    );
}

#[test]
fn every_mutant_runs_a_mixed_workload_without_errors() {
    for mutant in Mutant::ALL {
        let sut = mutant.sut();
        assert!(sut.name().contains(mutant.name()));
        sut.reset(&WorldConfig::default()).expect("reset");
        sut.set_option(&OptionSet::MaxSessions(2)).expect("option");
        sut.set_option(&OptionSet::ProcessTimeoutMin(1))
            .expect("option");
        let a = open(
            &sut,
            vec![set(1, 1), WireAction::Lock { record: rec(0, 0) }],
        );
        let m = sut
            .request(&mobile(2, None, vec![set(1, 2)]))
            .expect("mobile");
        let m = m.session_id.expect("id");
        sut.request(&mobile(3, Some(&m), vec![])).expect("lane 3");
        sut.begin(0, &req(0, Some(&a), vec![close_current()]))
            .expect("begin");
        sut.non_web(0, &[close(&a), close(&m.to_ascii_lowercase())])
            .expect("close");
        sut.end(0, &[get(1)]).expect("end");
        sut.set_hook(&WireHook::CloseOwn).expect("hook");
        open(&sut, vec![]);
        open(&sut, vec![]);
        sut.set_hook(&WireHook::Fail).expect("hook");
        sut.advance(120).expect("advance");
        sut.request(&req(1, Some(&a), vec![])).expect("request");
        sut.set_option(&OptionSet::Mode(SessionMode::Scalable))
            .expect("mode");
        open(&sut, vec![close_current()]);
        sut.take_hook_runs().expect("hooks");
        sut.locks().expect("locks");
    }
}

/// `MemorySut::with_limits(Limits::LIFTED)` is a setting, not a mutant: LIMIT-2 caps live
/// sessions by selector 18 too, so with max processes 10 and max sessions 20 the reference
/// evicts from the 10th session on (no new process once `max - 1` run, D4 selector 18);
/// lifted, selector 71 alone decides and nothing is evicted.
#[test]
fn lifted_limits_let_selector_71_alone_cap_live_sessions() {
    const OPENED: usize = 15;
    for (limits, evictions) in [(Limits::SPEC, OPENED - 9), (Limits::LIFTED, 0)] {
        let sut = MemorySut::new().with_limits(limits);
        sut.reset(&WorldConfig::default()).expect("reset");
        sut.set_option(&OptionSet::MaxProcesses(10))
            .expect("selector 18");
        sut.set_option(&OptionSet::MaxSessions(20))
            .expect("selector 71");
        for _ in 0..OPENED {
            open(&sut, vec![]);
        }
        assert_eq!(hooks(&sut).len(), evictions, "{limits:?}");
    }
}
