//! Ordered indexes over the model's sessions, kept in step with them, so that a step costs the
//! same whether the trace opened ten sessions or a hundred thousand (issue 15.3: counting live
//! sessions, choosing eviction victims and finding due timeouts used to scan every session
//! ever opened, which made fixtures that open many sessions quadratic).
//!
//! The index holds no semantics: `world/` says what "live", "idle" and "last activity" mean
//! (SPEC.md "Limits", "Clock and timeouts") and calls [`ActivityIndex::update`] after every
//! change of a session's processes; the index only keeps the answers ordered. Ordered by
//! `(last activity, session, lane)`, which is the due order of process timeouts (every process
//! shares one timeout) and the eviction order (ties: the older session).

use crate::vocab::SessionRef;
use std::collections::BTreeSet;

/// What one session contributes to the index (kept so its old entries can be removed).
#[derive(Clone, Debug, Default)]
struct Entry {
    live: bool,
    procs: usize,
    idle: Option<u64>,
    lanes: Vec<(u64, u8)>,
}

/// Live sessions, idle sessions by last activity, idle processes by last activity.
#[derive(Clone, Debug, Default)]
pub(crate) struct ActivityIndex {
    live: usize,
    procs: usize,
    idle_sessions: BTreeSet<(u64, SessionRef)>,
    idle_lanes: BTreeSet<(u64, SessionRef, u8)>,
    /// Indexed by session number (sessions are only ever added).
    entries: Vec<Entry>,
}

/// A session's state as the index sees it, computed by the model.
pub(crate) struct Indexed {
    /// At least one process runs.
    pub live: bool,
    /// How many of its processes run (what selector 18 caps).
    pub procs: usize,
    /// Running with no request in flight: the session's last activity.
    pub idle: Option<u64>,
    /// Each running process with no request in flight: (last activity, lane).
    pub idle_lanes: Vec<(u64, u8)>,
}

impl ActivityIndex {
    /// Replaces what the index holds for `session`. O(lanes · log sessions).
    pub(crate) fn update(&mut self, session: SessionRef, now: Indexed) {
        let i = session.0 as usize;
        if self.entries.len() <= i {
            self.entries.resize_with(i + 1, Entry::default);
        }
        let old = std::mem::take(&mut self.entries[i]);
        if old.live {
            self.live -= 1;
        }
        self.procs -= old.procs;
        if let Some(at) = old.idle {
            self.idle_sessions.remove(&(at, session));
        }
        for (at, lane) in old.lanes {
            self.idle_lanes.remove(&(at, session, lane));
        }
        if now.live {
            self.live += 1;
        }
        self.procs += now.procs;
        if let Some(at) = now.idle {
            self.idle_sessions.insert((at, session));
        }
        for (at, lane) in &now.idle_lanes {
            self.idle_lanes.insert((*at, session, *lane));
        }
        self.entries[i] = Entry {
            live: now.live,
            procs: now.procs,
            idle: now.idle,
            lanes: now.idle_lanes,
        };
    }

    /// How many sessions have a running process.
    pub(crate) fn live(&self) -> usize {
        self.live
    }

    /// How many processes run, over all sessions.
    pub(crate) fn procs(&self) -> usize {
        self.procs
    }

    /// The idle sessions, least recent activity first (ties: the older session).
    pub(crate) fn idle_sessions(&self) -> impl Iterator<Item = SessionRef> + '_ {
        self.idle_sessions.iter().map(|(_, s)| *s)
    }

    /// The idle process with the least recent activity (ties: session, then lane).
    pub(crate) fn first_idle_lane(&self) -> Option<(u64, SessionRef, u8)> {
        self.idle_lanes.first().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idle(at: u64, lanes: &[(u64, u8)]) -> Indexed {
        Indexed {
            live: true,
            procs: lanes.len(),
            idle: Some(at),
            idle_lanes: lanes.to_vec(),
        }
    }

    #[test]
    fn update_replaces_a_sessions_entries() {
        let mut ix = ActivityIndex::default();
        ix.update(SessionRef(1), idle(5, &[(5, 0)]));
        ix.update(SessionRef(0), idle(5, &[(5, 0)]));
        ix.update(SessionRef(2), idle(3, &[(3, 0), (1, 2)]));
        assert_eq!(ix.live(), 3);
        let order: Vec<SessionRef> = ix.idle_sessions().collect();
        assert_eq!(order, vec![SessionRef(2), SessionRef(0), SessionRef(1)]);
        assert_eq!(ix.first_idle_lane(), Some((1, SessionRef(2), 2)));
        // S2 becomes busy: it leaves both idle sets but stays live.
        ix.update(
            SessionRef(2),
            Indexed {
                live: true,
                procs: 2,
                idle: None,
                idle_lanes: vec![],
            },
        );
        assert_eq!(ix.live(), 3);
        assert_eq!(ix.procs(), 4);
        assert_eq!(ix.idle_sessions().count(), 2);
        assert_eq!(ix.first_idle_lane(), Some((5, SessionRef(0), 0)));
        // S0 ends: no longer live.
        ix.update(
            SessionRef(0),
            Indexed {
                live: false,
                procs: 0,
                idle: None,
                idle_lanes: vec![],
            },
        );
        assert_eq!(ix.live(), 2);
        assert_eq!(ix.procs(), 3);
        assert_eq!(ix.idle_sessions().collect::<Vec<_>>(), vec![SessionRef(1)]);
    }
}
