//! A session's running processes by lane, as a vector sorted by lane.
//!
//! A legacy session has one process (lane 0) and a 4D Mobile session a few, so a sorted
//! vector beats a `BTreeMap`: a `BTreeMap<u8, Proc>` allocates a whole leaf node of eleven
//! processes (about 1.1 KB) for the one it holds, which was half the memory of a live session.

use super::Proc;

/// Running processes by lane, lanes in increasing order.
#[derive(Debug, Default)]
pub(crate) struct Procs {
    by_lane: Vec<(u8, Proc)>,
}

impl Procs {
    fn find(&self, lane: u8) -> Result<usize, usize> {
        self.by_lane.binary_search_by_key(&lane, |(l, _)| *l)
    }

    /// The process of `lane`.
    pub(crate) fn get(&self, lane: &u8) -> Option<&Proc> {
        let i = self.find(*lane).ok()?;
        self.by_lane.get(i).map(|(_, p)| p)
    }

    /// The process of `lane`, to change it.
    pub(crate) fn get_mut(&mut self, lane: &u8) -> Option<&mut Proc> {
        let i = self.find(*lane).ok()?;
        self.by_lane.get_mut(i).map(|(_, p)| p)
    }

    /// Whether `lane` runs a process.
    pub(crate) fn contains_key(&self, lane: &u8) -> bool {
        self.find(*lane).is_ok()
    }

    /// The process of `lane`, made by `make` if the lane has none.
    pub(crate) fn get_or_insert_with(&mut self, lane: u8, make: impl FnOnce() -> Proc) -> &mut Proc {
        let i = match self.find(lane) {
            Ok(i) => i,
            Err(i) => {
                if self.by_lane.capacity() == 0 {
                    // Most sessions never run a second lane: no room for one.
                    self.by_lane.reserve_exact(1);
                }
                self.by_lane.insert(i, (lane, make()));
                i
            }
        };
        &mut self.by_lane[i].1
    }

    /// Ends the process of `lane` (takes it out).
    pub(crate) fn remove(&mut self, lane: &u8) -> Option<Proc> {
        let i = self.find(*lane).ok()?;
        Some(self.by_lane.remove(i).1)
    }

    /// How many processes run.
    pub(crate) fn len(&self) -> usize {
        self.by_lane.len()
    }

    /// Whether no process runs.
    pub(crate) fn is_empty(&self) -> bool {
        self.by_lane.is_empty()
    }

    /// The lowest lane at or above `from` that runs a process.
    pub(crate) fn lane_from(&self, from: u16) -> Option<u8> {
        let i = self.by_lane.partition_point(|(l, _)| u16::from(*l) < from);
        self.by_lane.get(i).map(|(l, _)| *l)
    }

    /// Lanes in order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &u8> {
        self.by_lane.iter().map(|(l, _)| l)
    }

    /// Processes in lane order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &Proc> {
        self.by_lane.iter().map(|(_, p)| p)
    }

    /// (lane, process) in lane order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&u8, &Proc)> {
        self.by_lane.iter().map(|(l, p)| (l, p))
    }
}
