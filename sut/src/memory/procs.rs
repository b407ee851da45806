//! A session's running processes by lane, sorted by lane, the first one inline.
//!
//! A legacy session has one process (lane 0) and a 4D Mobile session a few. A
//! `BTreeMap<u8, Proc>` allocated a whole leaf node of eleven processes (about 1.1 KB) for
//! the one it held, half the memory of a live session; a vector still costs an allocation, a
//! free and a pointer to follow on every close. So one process lives inline in the session,
//! and only a second lane moves them all to a vector.

use super::Proc;

/// Running processes by lane, lanes in increasing order.
#[derive(Debug)]
pub(crate) enum Procs {
    /// None or one process (every legacy session).
    Inline(Option<(u8, Proc)>),
    /// Any number, sorted by lane (a 4D Mobile session that ran a second lane).
    Spilled(Vec<(u8, Proc)>),
}

impl Default for Procs {
    fn default() -> Self {
        Procs::Inline(None)
    }
}

impl Procs {
    fn as_slice(&self) -> &[(u8, Proc)] {
        match self {
            Procs::Inline(one) => one.as_slice(),
            Procs::Spilled(all) => all,
        }
    }

    fn as_mut_slice(&mut self) -> &mut [(u8, Proc)] {
        match self {
            Procs::Inline(one) => one.as_mut_slice(),
            Procs::Spilled(all) => all,
        }
    }

    fn find(&self, lane: u8) -> Result<usize, usize> {
        self.as_slice().binary_search_by_key(&lane, |(l, _)| *l)
    }

    /// The process of `lane`.
    pub(crate) fn get(&self, lane: &u8) -> Option<&Proc> {
        let i = self.find(*lane).ok()?;
        self.as_slice().get(i).map(|(_, p)| p)
    }

    /// The process of `lane`, to change it.
    pub(crate) fn get_mut(&mut self, lane: &u8) -> Option<&mut Proc> {
        let i = self.find(*lane).ok()?;
        self.as_mut_slice().get_mut(i).map(|(_, p)| p)
    }

    /// Whether `lane` runs a process.
    pub(crate) fn contains_key(&self, lane: &u8) -> bool {
        self.find(*lane).is_ok()
    }

    /// The process of `lane`, made by `make` if the lane has none.
    pub(crate) fn get_or_insert_with(
        &mut self,
        lane: u8,
        make: impl FnOnce() -> Proc,
    ) -> &mut Proc {
        let i = match self.find(lane) {
            Ok(i) => i,
            Err(i) => {
                match self {
                    Procs::Inline(one @ None) => *one = Some((lane, make())),
                    Procs::Inline(one) => {
                        let mut all: Vec<(u8, Proc)> = one.take().into_iter().collect();
                        all.insert(i, (lane, make()));
                        *self = Procs::Spilled(all);
                    }
                    Procs::Spilled(all) => all.insert(i, (lane, make())),
                }
                i
            }
        };
        // `i` is the lane's index: found, or where it was just inserted.
        let slot = &mut self.as_mut_slice()[i];
        &mut slot.1
    }

    /// Ends the process of `lane` (takes it out).
    pub(crate) fn remove(&mut self, lane: &u8) -> Option<Proc> {
        let i = self.find(*lane).ok()?;
        match self {
            Procs::Inline(one) => one.take().map(|(_, p)| p),
            Procs::Spilled(all) => Some(all.remove(i).1),
        }
    }

    /// How many processes run.
    pub(crate) fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// Whether no process runs.
    pub(crate) fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }

    /// The lowest lane at or above `from` that runs a process.
    pub(crate) fn lane_from(&self, from: u16) -> Option<u8> {
        let all = self.as_slice();
        let i = all.partition_point(|(l, _)| u16::from(*l) < from);
        all.get(i).map(|(l, _)| *l)
    }

    /// Lanes in order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &u8> {
        self.as_slice().iter().map(|(l, _)| l)
    }

    /// Processes in lane order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &Proc> {
        self.as_slice().iter().map(|(_, p)| p)
    }

    /// (lane, process) in lane order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&u8, &Proc)> {
        self.as_slice().iter().map(|(l, p)| (l, p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::Context;

    fn proc(pid: u64) -> Proc {
        Proc {
            pid,
            ctx: Context::default(),
            busy: false,
            pending: None,
            ending: false,
            last_active: 0,
        }
    }

    #[test]
    fn lanes_stay_sorted_inline_and_spilled() {
        let mut procs = Procs::default();
        procs.get_or_insert_with(3, || proc(3));
        assert!(matches!(procs, Procs::Inline(Some(_))));
        procs.get_or_insert_with(1, || proc(1));
        procs.get_or_insert_with(2, || proc(2));
        procs.get_or_insert_with(1, || proc(9));
        assert_eq!(procs.keys().copied().collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(procs.get(&1).map(|p| p.pid), Some(1));
        assert_eq!(procs.lane_from(2), Some(2));
        assert_eq!(procs.remove(&2).map(|p| p.pid), Some(2));
        assert_eq!(procs.lane_from(2), Some(3));
        assert_eq!(procs.lane_from(4), None);
        let mut one = Procs::default();
        one.get_or_insert_with(0, || proc(0));
        assert!(one.remove(&1).is_none() && one.remove(&0).is_some() && one.is_empty());
    }
}
