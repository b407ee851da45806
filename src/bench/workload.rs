//! The workload of `wlcs bench`: what each connection sends, round after round, and the state
//! the connections share. A round is an open phase (web requests without a cookie, each
//! writing a realistic context: [`CONTEXT_VARS`] process variables, a
//! [`CONTEXT_SELECTION_RECORDS`]-record selection, [`CONTEXT_LOCKS`] locked records), a close
//! phase (the mix of [`CloseKind`]: a self-close in a web request carrying the session's
//! cookie, or a close from a non-web process with its ID), then, between rounds, one drain of
//! the hook log. Barriers separate the phases so the phase clock measures each phase alone.

use super::*;

/// Latencies above this are clamped into the histogram's top bucket.
const LATENCY_NS_MAX: u64 = 60_000_000_000;
/// Significant digits of the histograms.
const LATENCY_SIGFIG: u8 = 3;
/// Process variables, selection size and locks of an opened session's context.
const CONTEXT_VARS: u32 = 4;
const CONTEXT_SELECTION_RECORDS: u32 = 16;
const CONTEXT_LOCKS: u32 = 2;
/// The cookie name of the default world (`4DSID_<app_name>`), used until a `Set-Cookie`
/// names another.
const COOKIE_NAME_DEFAULT: &str = "4DSID_wlcs";
/// The body of a self-close: one `close_current` in the session's own web request.
const SELF_CLOSE_BODY: &[u8] = br#"{"actions":[{"op":"close_current"}]}"#;

impl CloseKind {
    /// Whether the session in slot `index` closes itself (in a web request) rather than
    /// being closed from a non-web process.
    fn self_close(self, index: usize) -> bool {
        match self {
            CloseKind::SelfClose => true,
            CloseKind::NonWeb => false,
            CloseKind::Both => index.is_multiple_of(2),
        }
    }
}

/// A session a connection opened this round.
struct Opened {
    id: String,
    index: usize,
}

/// Histograms of one connection.
pub(super) struct Hists {
    pub(super) open: Histogram<u64>,
    pub(super) self_close: Histogram<u64>,
    pub(super) non_web: Histogram<u64>,
}

impl Hists {
    /// Three empty histograms with the run's bounds and precision.
    pub(super) fn new() -> Result<Hists, BenchError> {
        let h = || {
            Histogram::<u64>::new_with_bounds(1, LATENCY_NS_MAX, LATENCY_SIGFIG)
                .map_err(|e| BenchError::Config(format!("histogram: {e}")))
        };
        Ok(Hists {
            open: h()?,
            self_close: h()?,
            non_web: h()?,
        })
    }
}

/// Records one latency, clamped into the histogram's bounds.
fn record(h: &mut Histogram<u64>, d: Duration) {
    let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    h.saturating_record(ns.clamp(1, LATENCY_NS_MAX));
}

/// The JSON body of an open: a realistic context for session slot `slot`.
fn open_body(slot: usize) -> Vec<u8> {
    use proto::ActionV1;
    let slot = slot as u64;
    let record = |n: u64| (n % (1 << 32)) as u32;
    let mut actions: Vec<ActionV1> = (0..CONTEXT_VARS)
        .map(|var| ActionV1::SetVar {
            var: var as u8,
            value: (slot * 8 + u64::from(var)) as i64,
        })
        .collect();
    actions.push(ActionV1::Select {
        table: 2,
        records: (0..u64::from(CONTEXT_SELECTION_RECORDS))
            .map(|r| record(slot * u64::from(CONTEXT_SELECTION_RECORDS) + r))
            .collect(),
    });
    actions.extend((0..u64::from(CONTEXT_LOCKS)).map(|l| ActionV1::Lock {
        table: 1,
        record: record(slot * u64::from(CONTEXT_LOCKS) + l),
    }));
    // The protocol's own types, serialised: the body is what HARNESS.md says by construction.
    serde_json::to_vec(&proto::ActionsV1 { actions }).unwrap_or_default()
}

#[derive(Deserialize)]
struct WebAnswer {
    session_id: Option<String>,
}

#[derive(Deserialize)]
struct RunsAnswer {
    runs: Vec<serde::de::IgnoredAny>,
}

/// Shared state of the workers.
pub(super) struct Shared {
    pub(super) stop: AtomicBool,
    pub(super) error: Mutex<Option<BenchError>>,
    pub(super) clock: Mutex<Clock>,
}

/// The phase clock and the counts only the leader of a barrier updates.
#[derive(Default)]
pub(super) struct Clock {
    pub(super) phase_start: Option<Instant>,
    pub(super) open_phase: Duration,
    pub(super) close_phase: Duration,
    pub(super) rounds: u64,
    pub(super) hook_runs: u64,
    pub(super) extra_requests: u64,
    pub(super) stopped_by: &'static str,
}

impl Shared {
    /// Keeps the run's first error and stops every worker.
    fn fail(&self, e: BenchError) {
        let mut slot = self.error.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.is_none() {
            *slot = Some(e);
        }
        self.stop.store(true, Ordering::SeqCst);
    }

    /// The phase clock. Never held across an `await` (the guard is a std mutex's).
    pub(super) fn clock(&self) -> std::sync::MutexGuard<'_, Clock> {
        self.clock.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether a worker should stop sending (an error, or the last round's end).
    #[inline]
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// What one worker counted.
pub(super) struct WorkerOut {
    pub(super) hists: Hists,
    pub(super) opens: u64,
    pub(super) self_closes: u64,
    pub(super) non_web_closes: u64,
}

/// What every worker shares.
pub(super) struct Plan {
    pub(super) cfg: BenchConfig,
    pub(super) target: Target,
    pub(super) timeout: Duration,
    pub(super) deadline: Instant,
    pub(super) hard_deadline: Instant,
    pub(super) shared: Shared,
    pub(super) barrier: Barrier,
}

/// One connection's share of every round. Every worker passes the same barriers in the same
/// order whatever happens (errors only stop the work between them), so none is left waiting.
pub(super) async fn worker(w: usize, plan: Arc<Plan>) -> Result<WorkerOut, BenchError> {
    let plan = &*plan;
    let shared = &plan.shared;
    let mut conn = Connection::new(w, plan)?;
    if plan.barrier.wait().await.is_leader() {
        shared.clock().phase_start = Some(Instant::now());
    }
    let mut stopped = false;
    for _ in 0..ROUNDS_MAX {
        conn.open_phase().await;
        if plan.barrier.wait().await.is_leader() {
            let mut c = shared.clock();
            let now = Instant::now();
            if let Some(s) = c.phase_start.replace(now) {
                c.open_phase += now - s;
            }
        }
        conn.close_phase().await;
        if plan.barrier.wait().await.is_leader() {
            conn.between_rounds().await;
        }
        // Nobody sets `stop` between this barrier and the next check: every worker sees the
        // same value and leaves the loop in the same round.
        plan.barrier.wait().await;
        if shared.stop.load(Ordering::SeqCst) {
            stopped = true;
            break;
        }
    }
    if !stopped {
        shared.clock().stopped_by = "rounds";
    }
    Ok(conn.out)
}

/// One worker's connection and what it keeps from round to round: its session slots and
/// their open bodies (built once), the sessions it opened this round, its counts.
struct Connection<'a> {
    plan: &'a Plan,
    conn: Conn,
    out: WorkerOut,
    /// This worker's slots: w, w + connections, ... below `sessions`.
    mine: Vec<usize>,
    /// The open body of each slot of `mine`.
    bodies: Vec<Vec<u8>>,
    /// The non-web process this worker's closes run in.
    process: u8,
    /// The session cookie's name, as the server's `Set-Cookie` gives it.
    cookie_name: String,
    opened: Vec<Opened>,
    /// The non-web close's body, reused.
    close_body: Vec<u8>,
}

impl<'a> Connection<'a> {
    /// Worker `w`'s connection (not connected until its first call).
    fn new(w: usize, plan: &'a Plan) -> Result<Self, BenchError> {
        let cfg = &plan.cfg;
        let mine: Vec<usize> = (w..cfg.sessions).step_by(cfg.connections).collect();
        let bodies = mine.iter().map(|&slot| open_body(slot)).collect();
        Ok(Connection {
            plan,
            conn: Conn::new(&plan.target, plan.timeout),
            out: WorkerOut {
                hists: Hists::new()?,
                opens: 0,
                self_closes: 0,
                non_web_closes: 0,
            },
            opened: Vec::with_capacity(mine.len()),
            mine,
            bodies,
            process: (w % 256) as u8, // fits
            cookie_name: COOKIE_NAME_DEFAULT.to_string(),
            close_body: Vec::with_capacity(256),
        })
    }

    /// Opens a session per slot until the deadline or an error.
    async fn open_phase(&mut self) {
        for i in 0..self.bodies.len() {
            if self.plan.shared.stopping() || Instant::now() >= self.plan.deadline {
                break;
            }
            let t = Instant::now();
            let result = self
                .conn
                .ok("open", "POST", proto::PATH_WEB, None, &self.bodies[i])
                .await
                .and_then(|b| {
                    serde_json::from_slice::<WebAnswer>(b)
                        .ok()
                        .and_then(|a| a.session_id)
                        .ok_or_else(|| protocol("open", "a 200 answer without session_id"))
                });
            record(&mut self.out.hists.open, t.elapsed());
            match result {
                Ok(id) => {
                    self.learn_cookie_name(&id);
                    self.out.opens += 1;
                    self.opened.push(Opened {
                        id,
                        index: self.mine[i],
                    });
                }
                Err(e) => {
                    self.plan.shared.fail(e);
                    break;
                }
            }
        }
    }

    /// Takes the cookie name from the last answer's `Set-Cookie` when it carries session
    /// `id` under a name other than the one in use.
    fn learn_cookie_name(&mut self, id: &str) {
        if let Some(sc) = self.conn.set_cookie.as_deref()
            && let Some((name, value)) = sc.split_once('=')
            && value == id
            && name != self.cookie_name
        {
            self.cookie_name.clear();
            self.cookie_name.push_str(name);
        }
    }

    /// Closes everything opened this round, unless an error stopped the run or the hard
    /// deadline passed.
    async fn close_phase(&mut self) {
        let mut opened = std::mem::take(&mut self.opened);
        for o in opened.drain(..) {
            if self.plan.shared.stopping() || Instant::now() >= self.plan.hard_deadline {
                break;
            }
            let t = Instant::now();
            let result = self.close(&o).await;
            let d = t.elapsed();
            match result {
                Ok(true) => {
                    record(&mut self.out.hists.self_close, d);
                    self.out.self_closes += 1;
                }
                Ok(false) => {
                    record(&mut self.out.hists.non_web, d);
                    self.out.non_web_closes += 1;
                }
                Err(e) => {
                    self.plan.shared.fail(e);
                    break;
                }
            }
        }
        opened.clear();
        self.opened = opened;
    }

    /// Closes one session the way the mix says; `Ok(true)` for a self-close, `Ok(false)` for
    /// a non-web close.
    async fn close(&mut self, o: &Opened) -> Result<bool, BenchError> {
        if !self.plan.cfg.close.self_close(o.index) {
            self.close_body.clear();
            let body = proto::NonWebV1 {
                process: self.process,
                actions: vec![proto::ActionV1::Close { id: o.id.clone() }],
            };
            let _ = serde_json::to_writer(&mut self.close_body, &body);
            return self
                .conn
                .ok(
                    "non-web close",
                    "POST",
                    proto::PATH_NON_WEB,
                    None,
                    &self.close_body,
                )
                .await
                .map(|_| false);
        }
        let cookie = Some((self.cookie_name.as_str(), o.id.as_str()));
        let b = self
            .conn
            .ok(
                "self-close",
                "POST",
                proto::PATH_WEB,
                cookie,
                SELF_CLOSE_BODY,
            )
            .await?;
        // It ran in the session (it was still live), which it closed.
        if find(b, o.id.as_bytes()).is_some() {
            Ok(true)
        } else {
            Err(protocol(
                "self-close",
                format!(
                    "the request did not run in session {} (was it evicted?): {}",
                    o.id,
                    excerpt(b)
                ),
            ))
        }
    }

    /// The barrier leader's work after a close phase: the phase clock, then (outside both
    /// phases) one drain of the hook log, then the stop at the deadline.
    async fn between_rounds(&mut self) {
        let shared = &self.plan.shared;
        let now = Instant::now();
        {
            let mut c = shared.clock();
            if let Some(s) = c.phase_start.take() {
                c.close_phase += now - s;
            }
            c.rounds += 1;
        }
        if !shared.stopping() {
            let drained = self.conn.take_hook_runs().await.and_then(|b| {
                serde_json::from_slice::<RunsAnswer>(b)
                    .map(|r| r.runs.len() as u64)
                    .map_err(|e| protocol("hook-runs/take", format!("malformed: {e}")))
            });
            match drained {
                Ok(n) => {
                    let mut c = shared.clock();
                    c.hook_runs += n;
                    c.extra_requests += 1;
                }
                Err(e) => shared.fail(e),
            }
        }
        if Instant::now() >= self.plan.deadline {
            shared.stop.store(true, Ordering::SeqCst);
        }
        shared.clock().phase_start = Some(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_bodies_are_json() {
        let v: serde_json::Value = serde_json::from_slice(&open_body(7)).unwrap_or_default();
        assert_eq!(v["actions"].as_array().map(Vec::len), Some(7));
    }
}
