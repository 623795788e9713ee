//! [`RetryBudget`]: how many retries a balanced channel may send, so that a failing cluster
//! is not hit twice as hard (Finagle's `RetryBudget`, with its defaults).
//!
//! Every call deposits a fifth of a retry; every retry withdraws one; on top, a reserve of
//! 10 retries per second is always there, for channels that have just started or call
//! rarely. Deposits and withdrawals count for 10 s. So over any 10 s, retries are at most
//! 20 % of calls plus 100.

use std::sync::{Mutex, PoisonError};
#[cfg(test)]
use std::time::Duration;
use std::time::Instant;

/// Seconds a deposit or withdrawal counts for.
const WINDOW_SECS: usize = 10;

/// A retry budget.
#[derive(Debug)]
pub(crate) struct RetryBudget {
    /// Retries earned per call.
    percent: f64,
    /// Retries always allowed per window.
    reserve: f64,
    window: Mutex<Window>,
}

#[derive(Debug)]
struct Window {
    start: Instant,
    /// The second (since `start`) the newest slot belongs to.
    second: u64,
    /// Calls and retries per second, a ring of `WINDOW_SECS` slots.
    slots: [(u32, u32); WINDOW_SECS],
}

impl Default for RetryBudget {
    fn default() -> Self {
        Self::new(0.2, 10, Instant::now())
    }
}

impl RetryBudget {
    /// `percent` of calls may be retried, plus `min_per_sec` retries per second.
    pub(crate) fn new(percent: f64, min_per_sec: u32, now: Instant) -> Self {
        Self {
            percent,
            reserve: f64::from(min_per_sec) * WINDOW_SECS as f64,
            window: Mutex::new(Window {
                start: now,
                second: 0,
                slots: [(0, 0); WINDOW_SECS],
            }),
        }
    }

    /// Counts a call.
    pub(crate) fn deposit(&self, now: Instant) {
        let mut w = self.window.lock().unwrap_or_else(PoisonError::into_inner);
        let slot = w.advance(now);
        w.slots[slot].0 = w.slots[slot].0.saturating_add(1);
    }

    /// Takes one retry if the budget has one.
    pub(crate) fn try_withdraw(&self, now: Instant) -> bool {
        let mut w = self.window.lock().unwrap_or_else(PoisonError::into_inner);
        let slot = w.advance(now);
        let (calls, retries) = w.slots.iter().fold((0u64, 0u64), |(c, r), (sc, sr)| {
            (c + u64::from(*sc), r + u64::from(*sr))
        });
        #[allow(clippy::cast_precision_loss)]
        let balance = self.reserve + self.percent * calls as f64 - retries as f64;
        if balance >= 1.0 {
            w.slots[slot].1 = w.slots[slot].1.saturating_add(1);
            true
        } else {
            false
        }
    }
}

impl Window {
    /// Moves the ring to `now`'s second (clearing the seconds that passed) and returns its slot.
    fn advance(&mut self, now: Instant) -> usize {
        let second = now.saturating_duration_since(self.start).as_secs();
        if second > self.second {
            let passed = second - self.second;
            if passed >= WINDOW_SECS as u64 {
                self.slots = [(0, 0); WINDOW_SECS];
            } else {
                for s in 1..=passed {
                    self.slots[slot_of(self.second + s)] = (0, 0);
                }
            }
            self.second = second;
        }
        slot_of(self.second)
    }
}

/// The ring slot of a second.
fn slot_of(second: u64) -> usize {
    // The remainder is below WINDOW_SECS: it fits.
    usize::try_from(second % WINDOW_SECS as u64).unwrap_or(0)
}

/// How long until a withdrawal made now stops counting.
#[cfg(test)]
const WINDOW: Duration = Duration::from_secs(WINDOW_SECS as u64);

#[cfg(test)]
mod tests {
    use super::*;

    fn retries_allowed(budget: &RetryBudget, now: Instant) -> usize {
        (0..10_000).take_while(|_| budget.try_withdraw(now)).count()
    }

    #[test]
    fn without_calls_the_reserve_allows_ten_retries_a_second_over_the_window() {
        let t0 = Instant::now();
        let budget = RetryBudget::new(0.2, 10, t0);
        assert_eq!(retries_allowed(&budget, t0), 100);
        assert!(!budget.try_withdraw(t0 + Duration::from_secs(9)));
        // Once the withdrawals have aged out, the reserve is back.
        assert_eq!(retries_allowed(&budget, t0 + WINDOW), 100);
    }

    #[test]
    fn calls_earn_a_fifth_of_a_retry_each() {
        let t0 = Instant::now();
        let budget = RetryBudget::new(0.2, 10, t0);
        for i in 0..1_000u64 {
            budget.deposit(t0 + Duration::from_millis(i * 5));
        }
        let now = t0 + Duration::from_secs(5);
        assert_eq!(retries_allowed(&budget, now), 100 + 200);
        // The calls age out with the window: only the reserve's worth is left, and it is spent.
        assert_eq!(retries_allowed(&budget, t0 + Duration::from_secs(11)), 0);
        assert_eq!(retries_allowed(&budget, t0 + Duration::from_secs(16)), 100);
    }
}
