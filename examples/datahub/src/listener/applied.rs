//! What the listener applied, per partition, for publishers that answer with `Ack::Applied`:
//! the committed offset and each recent event's outcome (the row version it left, or why it
//! did not apply). A publish handler waits here, on its blocking-pool thread, until its
//! events' offsets are committed.

use std::collections::{HashMap, VecDeque};
use std::sync::{Condvar, Mutex};
use std::time::Instant;

use crate::model::ItemStatus;
use crate::partition::{Group, LogPartition};

/// Recent outcomes kept per partition.
const RECENT: usize = 16 * 1024;

/// What one event came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// Stored (or already stored): the row's version now.
    Version(u64),
    /// Not stored, and why (stale, duplicate, invalid), or taken with no version known.
    Status(ItemStatus),
}

#[derive(Debug, Default)]
struct State {
    committed: u64,
    recent: VecDeque<(u64, Applied)>,
}

#[derive(Debug, Default)]
struct Partition {
    state: Mutex<State>,
    advanced: Condvar,
}

/// Outcomes by partition.
#[derive(Debug)]
pub struct AppliedTracker {
    partitions: HashMap<LogPartition, Partition>,
}

impl AppliedTracker {
    /// A tracker for `partitions` per group.
    pub fn new(partitions: u32) -> Self {
        let mut map = HashMap::new();
        for group in Group::ALL {
            for partition in 0..partitions {
                map.insert(LogPartition { group, partition }, Partition::default());
            }
        }
        Self { partitions: map }
    }

    /// Records a committed batch: offsets below `committed` are done; `outcomes` (by offset,
    /// ascending) say how.
    pub fn publish(&self, p: LogPartition, committed: u64, outcomes: Vec<(u64, Applied)>) {
        let Some(part) = self.partitions.get(&p) else {
            return;
        };
        if let Ok(mut state) = part.state.lock() {
            for o in outcomes {
                if state.recent.len() == RECENT {
                    state.recent.pop_front();
                }
                state.recent.push_back(o);
            }
            state.committed = state.committed.max(committed);
        }
        part.advanced.notify_all();
    }

    /// Moves the committed offset without outcomes (a seek, or a start from a stored offset).
    pub fn reset(&self, p: LogPartition, committed: u64) {
        if let Some(part) = self.partitions.get(&p)
            && let Ok(mut state) = part.state.lock()
        {
            state.committed = committed;
            state.recent.clear();
        }
    }

    /// Blocks until `offset` of `p` is committed or `deadline` passes; the event's outcome,
    /// or `None` on time-out.
    pub fn wait(&self, p: LogPartition, offset: u64, deadline: Instant) -> Option<Applied> {
        let part = self.partitions.get(&p)?;
        let mut state = part.state.lock().ok()?;
        while state.committed <= offset {
            let left = deadline.checked_duration_since(Instant::now())?;
            state = part.advanced.wait_timeout(state, left).ok()?.0;
        }
        let found = state
            .recent
            .binary_search_by_key(&offset, |(o, _)| *o)
            .ok()
            .map(|i| state.recent[i].1.clone());
        Some(found.unwrap_or(Applied::Status(ItemStatus::Accepted)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn waiters_see_their_outcome_or_time_out() {
        let t = std::sync::Arc::new(AppliedTracker::new(2));
        let p = LogPartition {
            group: Group::Seller,
            partition: 1,
        };
        let waiter = {
            let t = std::sync::Arc::clone(&t);
            std::thread::spawn(move || t.wait(p, 5, Instant::now() + Duration::from_secs(5)))
        };
        std::thread::sleep(Duration::from_millis(20));
        t.publish(
            p,
            7,
            vec![
                (5, Applied::Version(42)),
                (6, Applied::Status(ItemStatus::Stale)),
            ],
        );
        assert_eq!(waiter.join().unwrap(), Some(Applied::Version(42)));
        assert_eq!(
            t.wait(p, 6, Instant::now()),
            Some(Applied::Status(ItemStatus::Stale))
        );
        assert_eq!(
            t.wait(p, 7, Instant::now() + Duration::from_millis(10)),
            None
        );
    }
}
