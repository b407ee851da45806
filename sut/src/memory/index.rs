//! Index maintenance: a session's memberships in the world's counts and ordered indexes
//! (live sessions, running processes, `lru`, `idle`, `dormant`), kept in step with its state;
//! removals from `lru` and `idle` are lazy, and dropped in bulk.

use super::{FastMap, Session, World};

/// Stale entries `lru` and `idle` may hold beyond as many as the live ones before they are
/// dropped (so small worlds do not compact on every change).
const STALE_ENTRIES_SLACK: usize = 64;

/// Whether an `lru` entry is its session's current one (removals from `lru` are lazy: a
/// session that leaves the index, or moves in it, only changes its `lru_entry`).
#[inline]
pub(super) fn lru_current(sessions: &FastMap<u64, Session>, entry: &(u64, u64)) -> bool {
    sessions
        .get(&entry.1)
        .is_some_and(|s| s.lru_entry == Some(*entry))
}

/// Whether an `idle` entry stands for a process that is idle now, since that instant
/// (removals from `idle` are lazy: a process that starts a request or ends leaves its entry
/// behind). A process is idle when it is neither busy nor ending.
#[inline]
pub(super) fn idle_current(
    sessions: &FastMap<u64, Session>,
    &(last, key, lane): &(u64, u64, u8),
) -> bool {
    sessions
        .get(&key)
        .and_then(|s| s.procs.get(&lane))
        .is_some_and(|p| !p.busy && !p.ending && p.last_active == last)
}

impl World {
    /// Brings a session's index memberships in line with its state, and drops it when it no
    /// longer exists (no process left, and invalidated, or `timeout-new-id`, or expired).
    pub(crate) fn sync(&mut self, key: u64) {
        let keeps = self.keeps_id();
        let Some(s) = self.sessions.get(&key) else {
            return;
        };
        if s.procs.is_empty() && (!s.valid || !keeps || self.expired(s.expiration)) {
            // TIME-3 (timeout-new-id) / CLOSE-1: nothing of the session remains.
            self.remove_session(key);
            return;
        }
        let Some(s) = self.sessions.get_mut(&key) else {
            return;
        };
        let live = !s.procs.is_empty();
        if s.procs.len() != s.counted_procs {
            self.procs = (self.procs + s.procs.len()).saturating_sub(s.counted_procs);
            s.counted_procs = s.procs.len();
        }
        if live != s.counted_live {
            s.counted_live = live;
            if live {
                self.live += 1;
            } else {
                self.live = self.live.saturating_sub(1);
            }
        }
        let want_lru = (live && s.procs.values().all(|p| !p.busy)).then_some((s.last_active, key));
        let mut inserted = false;
        if s.lru_entry != want_lru {
            // The old entry goes stale (`lru_current`), the index drops it lazily.
            s.lru_entry = want_lru;
            if let Some(new) = want_lru {
                self.lru.insert(new);
                inserted = true;
            }
        }
        let want_dormant = (!live).then_some((s.expiration, key));
        if s.dormant_entry != want_dormant {
            if let Some(old) = s.dormant_entry.take() {
                self.dormant.remove(&old);
            }
            if let Some(new) = want_dormant {
                self.dormant.insert(new);
            }
            s.dormant_entry = want_dormant;
        }
        if inserted {
            // What inserts pays for the bulk drop, so a close never does.
            self.compact_lru();
        }
    }

    /// Forgets a session entirely (its processes must already have ended).
    pub(super) fn remove_session(&mut self, key: u64) {
        let Some(s) = self.sessions.remove(&key) else {
            return;
        };
        if s.valid {
            self.ids.remove_if_names(&s.id, key);
        }
        if self.dev.is_some() {
            // A mutant may keep this session's locks: `locks()` still names its ID.
            self.retired_ids.insert(key, s.id.clone());
        }
        if s.counted_live {
            self.live = self.live.saturating_sub(1);
        }
        self.procs = self.procs.saturating_sub(s.counted_procs);
        // Its `lru` and `idle` entries go stale with it (`lru_current`, `idle_current`).
        if let Some(e) = s.dormant_entry {
            self.dormant.remove(&e);
        }
    }

    /// Drops the stale entries of `lru` once they outnumber the live ones, so the index stays
    /// within about twice the live sessions; each drop pays for many lazy removals.
    fn compact_lru(&mut self) {
        if self.lru.len() > 2 * self.live + STALE_ENTRIES_SLACK {
            let sessions = &self.sessions;
            self.lru.retain(|e| lru_current(sessions, e));
        }
    }

    /// The same for `idle`, bounded by the running processes.
    pub(super) fn compact_idle(&mut self) {
        if self.idle.len() > 2 * self.procs + STALE_ENTRIES_SLACK {
            let sessions = &self.sessions;
            self.idle.retain(|e| idle_current(sessions, e));
        }
    }

    /// CLOSE-1 / LIMIT-1: the ID stops naming the session, at once.
    pub(crate) fn invalidate(&mut self, key: u64, by_command: bool) {
        let Some(s) = self.sessions.get_mut(&key) else {
            return;
        };
        if !s.valid {
            return;
        }
        s.valid = false;
        let id = s.id.clone();
        self.ids.remove_if_names(&id, key);
        if let (true, Some(d)) = (by_command, self.dev.as_deref_mut()) {
            d.closed_by_command(&id, key);
        }
        self.sync(key);
    }
}
