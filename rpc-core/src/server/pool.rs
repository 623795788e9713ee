//! [`BlockingPool`]: a fixed set of threads with a bounded queue, for write handlers that
//! call blocking code (a database driver). Reads stay on the async runtime, so a saturated
//! pool never stalls them; when the queue is full a new job is refused at once, and the call
//! gets `RESOURCE_EXHAUSTED` instead of waiting in an unbounded queue.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};

use tokio::sync::oneshot;

/// Settings of a [`BlockingPool`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolConfig {
    /// Worker threads. Default 16: enough to overlap many blocking database round trips on a
    /// small machine; size it to your database connection pool.
    pub threads: usize,
    /// Jobs that may wait for a worker. Default 64; beyond it calls are refused with
    /// `RESOURCE_EXHAUSTED`, which a client can retry elsewhere, instead of queueing without
    /// bound and timing out late.
    pub queue: usize,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            threads: 16,
            queue: 64,
        }
    }
}

impl PoolConfig {
    /// Sets the number of worker threads (at least 1).
    #[must_use]
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = n.max(1);
        self
    }

    /// Sets the queue length (0 means a job runs only if a worker is idle).
    #[must_use]
    pub fn queue(mut self, n: usize) -> Self {
        self.queue = n;
        self
    }
}

type Job = Box<dyn FnOnce() + Send + 'static>;

/// A handle to a pool of worker threads; cheap to clone. The threads end when the last handle
/// is dropped and the queue is drained.
#[derive(Debug, Clone)]
pub struct BlockingPool {
    sender: Sender<Job>,
    /// Jobs admitted and not yet finished (running or waiting); admission keeps it at most
    /// `threads + queue`, which is what bounds the channel.
    admitted: Arc<AtomicUsize>,
    config: Arc<PoolConfig>,
    /// Callers waiting in `poll_reserve` for a place; woken when a job finishes.
    waiting: Arc<Mutex<Vec<Waker>>>,
    /// What a refusal says, made once.
    saturated: Arc<str>,
}

/// A place in the pool (a thread or a queue slot), taken by [`BlockingPool::poll_reserve`]:
/// [`spawn`](Reservation::spawn) uses it, dropping it gives it back.
#[derive(Debug)]
pub struct Reservation {
    pool: BlockingPool,
    used: bool,
}

/// The pool refused a job: every worker is busy and the queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the blocking pool is saturated ({threads} threads busy, {queue} jobs queued)")]
pub struct PoolFull {
    threads: usize,
    queue: usize,
}

/// A job ran but panicked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the handler panicked")]
pub struct JobPanicked;

impl BlockingPool {
    /// Starts a pool.
    pub fn new(config: PoolConfig) -> Self {
        let (sender, receiver) = channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        for i in 0..config.threads.max(1) {
            let receiver = Arc::clone(&receiver);
            std::thread::Builder::new()
                .name(format!("arpc-blocking-{i}"))
                .spawn(move || worker(&receiver))
                .expect("spawning a blocking-pool thread");
        }
        let saturated = PoolFull {
            threads: config.threads,
            queue: config.queue,
        }
        .to_string()
        .into();
        Self {
            sender,
            admitted: Arc::new(AtomicUsize::new(0)),
            config: Arc::new(config),
            waiting: Arc::default(),
            saturated,
        }
    }

    /// The pool used by services mounted without one (outside `arpc::Server`), created on
    /// first use with [`PoolConfig::default`].
    pub fn shared_default() -> BlockingPool {
        static POOL: OnceLock<BlockingPool> = OnceLock::new();
        POOL.get_or_init(|| BlockingPool::new(PoolConfig::default()))
            .clone()
    }

    /// The pool's settings.
    pub fn config(&self) -> &PoolConfig {
        &self.config
    }

    /// Jobs admitted and not finished: running plus waiting. At most `threads + queue`.
    pub fn in_flight(&self) -> usize {
        self.admitted.load(Ordering::Acquire)
    }

    /// What a call refused by a saturated pool is told.
    pub fn saturated(&self) -> Arc<str> {
        Arc::clone(&self.saturated)
    }

    fn capacity(&self) -> usize {
        self.config.threads.max(1) + self.config.queue
    }

    fn try_reserve(&self) -> Option<Reservation> {
        if self.admitted.fetch_add(1, Ordering::AcqRel) >= self.capacity() {
            self.release();
            return None;
        }
        Some(Reservation {
            pool: self.clone(),
            used: false,
        })
    }

    /// Gives a place back, and wakes the callers waiting for one.
    fn release(&self) {
        self.admitted.fetch_sub(1, Ordering::AcqRel);
        let waiting =
            std::mem::take(&mut *self.waiting.lock().unwrap_or_else(PoisonError::into_inner));
        for waker in waiting {
            waker.wake();
        }
    }

    /// A place in the pool, or `Pending` until a job finishes (as `tower::Service::poll_ready`
    /// would wait; arpc's write methods shed the call instead of waiting).
    pub fn poll_reserve(&self, cx: &mut Context<'_>) -> Poll<Reservation> {
        if let Some(reservation) = self.try_reserve() {
            return Poll::Ready(reservation);
        }
        self.waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(cx.waker().clone());
        // A job may have finished between the refusal and the registration.
        match self.try_reserve() {
            Some(reservation) => Poll::Ready(reservation),
            None => Poll::Pending,
        }
    }

    /// Queues `f`, or refuses it at once if the queue is full. The returned future resolves
    /// to `f`'s result (or [`JobPanicked`]).
    pub fn try_spawn<R, F>(
        &self,
        f: F,
    ) -> Result<impl Future<Output = Result<R, JobPanicked>> + use<R, F>, PoolFull>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let full = PoolFull {
            threads: self.config.threads,
            queue: self.config.queue,
        };
        self.try_reserve().map(|r| r.spawn(f)).ok_or(full)
    }
}

impl Reservation {
    /// Runs `f` in the reserved place. The returned future resolves to `f`'s result (or
    /// [`JobPanicked`]).
    pub fn spawn<R, F>(mut self, f: F) -> impl Future<Output = Result<R, JobPanicked>> + use<R, F>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.used = true;
        let pool = self.pool.clone();
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            let result = catch_unwind(AssertUnwindSafe(f)).map_err(|_| JobPanicked);
            pool.release();
            let _ = tx.send(result);
        });
        if self.pool.sender.send(job).is_err() {
            // The workers are gone (they never end while a handle lives): give the place
            // back; the call sees the job as failed.
            self.pool.release();
        }
        async move { rx.await.unwrap_or(Err(JobPanicked)) }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.used {
            self.pool.release();
        }
    }
}

fn worker(receiver: &Mutex<Receiver<Job>>) {
    loop {
        let job = {
            let Ok(guard) = receiver.lock() else { return };
            match guard.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        job();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Barrier;

    #[test]
    fn refuses_at_once_when_saturated_and_recovers() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let pool = BlockingPool::new(PoolConfig::default().threads(1).queue(1));
        let gate = Arc::new(Barrier::new(2));
        let g = Arc::clone(&gate);
        let running = pool.try_spawn(move || g.wait()).unwrap();
        // Wait until the worker holds the first job, so the second one sits in the queue.
        std::thread::sleep(std::time::Duration::from_millis(50));
        let queued = pool.try_spawn(|| 2).unwrap();
        assert!(pool.try_spawn(|| 3).is_err(), "third job must be refused");
        gate.wait();
        rt.block_on(async {
            running.await.unwrap();
            assert_eq!(queued.await.unwrap(), 2);
        });
        assert_eq!(rt.block_on(pool.try_spawn(|| 4).unwrap()).unwrap(), 4);
    }

    #[test]
    fn panics_are_contained() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let pool = BlockingPool::new(PoolConfig::default().threads(1));
        let boom = pool.try_spawn(|| -> u8 { panic!("boom") }).unwrap();
        assert_eq!(rt.block_on(boom), Err(JobPanicked));
        assert_eq!(rt.block_on(pool.try_spawn(|| 1).unwrap()).unwrap(), 1);
    }
}
