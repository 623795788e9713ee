//! The `Publisher` service: per-item results, idempotency by `event_id`, stale versions
//! refused early, and the acknowledgement the caller asked for.
//!
//! A publish runs on arpc's blocking pool (a `fn` in the trait). Each event is checked on
//! its own, so one bad event is answered `Invalid` and the rest go on. The accepted events go
//! to the log in one append (the group commit shares its `fdatasync` with every concurrent
//! publish); with `Ack::Applied` the handler then waits until the listener has committed them
//! and answers the row version each left.
//!
//! Idempotency: the publisher remembers recent event ids (and rebuilds the memory from the
//! log's tail when it starts), so a retried publish is answered `Duplicate` and nothing is
//! written twice; beyond that window the listener's dedupe and the shards' version guard make
//! a second copy harmless. Stale: an event whose `source_version` is not above the last
//! version this publisher took for its key is answered `Stale` without being logged.

#[cfg(feature = "kafka")]
pub mod outbox;
mod recent;
pub mod sink;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use self::recent::{Check, Recent};
pub use self::sink::Sink;
use crate::listener::applied::{Applied, AppliedTracker};
use crate::log::group_commit::Append;
use crate::model::{Ack, Event, ItemResult, ItemStatus, PublishRequest, PublishResponse};
use crate::partition::{Group, LogPartition, log_partition};
use crate::validate::validate;

/// Most events in one publish.
pub const MAX_EVENTS: usize = 10_000;

/// How the publisher behaves.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PublisherConfig {
    /// Partitions per group's log.
    pub partitions: u32,
    /// How long `Ack::Applied` waits when the request gives no `timeout_ms`. Default 5 s.
    pub default_timeout: Duration,
    /// Event ids (and key versions) remembered. Default 200,000.
    pub window: usize,
}

impl Default for PublisherConfig {
    fn default() -> Self {
        Self {
            partitions: 8,
            default_timeout: Duration::from_secs(5),
            window: 200_000,
        }
    }
}

/// The `Publisher` implementation.
#[derive(Debug)]
pub struct PublisherService {
    sink: Sink,
    config: PublisherConfig,
    recent: Mutex<Recent>,
    applied: Option<Arc<AppliedTracker>>,
}

struct Accepted {
    index: usize,
    partition: LogPartition,
    version: Option<u64>,
    key: String,
    event_id: String,
}

impl PublisherService {
    /// A publisher writing to `sink`; `applied` (the listener's, when it runs in this
    /// process) serves `Ack::Applied`.
    pub fn new(sink: Sink, config: PublisherConfig, applied: Option<Arc<AppliedTracker>>) -> Self {
        let recent = Recent::new(config.window);
        let service = Self {
            sink,
            config,
            recent: Mutex::new(recent),
            applied,
        };
        service.recover();
        service
    }

    /// Rebuilds the memory of recent ids and versions from the log's tail.
    fn recover(&self) {
        let per_partition = self.config.window / (2 * self.config.partitions.max(1) as usize);
        let events = self.sink.tail(per_partition);
        if let Ok(mut recent) = self.recent.lock() {
            for (partition, offset, event) in events {
                recent.remember(
                    &event.event_id,
                    partition,
                    offset,
                    &event.key,
                    event.source_version,
                );
            }
        }
    }

    /// Handles one publish (what the RPC method calls).
    pub fn handle(&self, request: &PublishRequest) -> Result<PublishResponse, arpc::Status> {
        if request.events.len() > MAX_EVENTS {
            return Err(arpc::Status::invalid_argument(format!(
                "{} events in one publish: at most {MAX_EVENTS}",
                request.events.len()
            )));
        }
        let started = Instant::now();
        let timeout = if request.timeout_ms == 0 {
            self.config.default_timeout
        } else {
            Duration::from_millis(u64::from(request.timeout_ms))
        };
        let mut results: Vec<ItemResult> = request
            .events
            .iter()
            .map(|e| ItemResult {
                event_id: e.event_id.clone(),
                status: ItemStatus::Accepted,
                log_partition: 0,
                offset: 0,
                applied_version: None,
                via_outbox: false,
            })
            .collect();
        let mut accepted = Vec::new();
        let mut duplicates = Vec::new();
        let mut appends = Vec::new();
        {
            let mut recent = self
                .recent
                .lock()
                .map_err(|_| arpc::Status::internal("publisher state poisoned"))?;
            for (index, event) in request.events.iter().enumerate() {
                let group = match validate(event) {
                    Ok(g) => g,
                    Err(reason) => {
                        results[index].status = ItemStatus::Invalid(reason);
                        continue;
                    }
                };
                let partition = log_partition(group, &event.partition_key, self.config.partitions);
                results[index].log_partition = partition.partition;
                match recent.check(&event.event_id, &event.key, event.source_version) {
                    Check::New => {}
                    Check::Duplicate(at) => {
                        results[index].status = ItemStatus::Duplicate;
                        if let Some((p, o)) = at {
                            results[index].log_partition = p.partition;
                            results[index].offset = o;
                            duplicates.push((index, p));
                        }
                        continue;
                    }
                    Check::Stale(known) => {
                        results[index].status = ItemStatus::Stale;
                        results[index].applied_version = Some(known);
                        continue;
                    }
                }
                recent.reserve(&event.event_id);
                appends.push(Append {
                    partition,
                    key: Bytes::from(event.partition_key.clone()),
                    value: encode(event),
                });
                accepted.push(Accepted {
                    index,
                    partition,
                    version: event.source_version,
                    key: event.key.clone(),
                    event_id: event.event_id.clone(),
                });
            }
        }
        if request.ack == Ack::Applied {
            // A retry of an event already logged waits for the original to be applied, and
            // answers its version, so a caller that lost the first answer can still read its
            // own write.
            self.wait_duplicates(&duplicates, &mut results, started + timeout);
        }
        if accepted.is_empty() {
            return Ok(PublishResponse { results });
        }
        let written = self.sink.append(appends);
        let mut recent = self
            .recent
            .lock()
            .map_err(|_| arpc::Status::internal("publisher state poisoned"))?;
        match written {
            Ok(offsets) => {
                for (a, (offset, via_outbox)) in accepted.iter().zip(offsets) {
                    recent.remember(&a.event_id, a.partition, offset, &a.key, a.version);
                    let r = &mut results[a.index];
                    r.offset = offset;
                    r.via_outbox = via_outbox;
                }
            }
            Err(e) => {
                let reason = format!("not logged: {e}");
                for a in &accepted {
                    recent.forget(&a.event_id);
                    results[a.index].status = ItemStatus::Unavailable(reason.clone());
                }
                return Ok(PublishResponse { results });
            }
        }
        drop(recent);
        if request.ack == Ack::Applied {
            self.wait_applied(&accepted, &mut results, started + timeout);
        }
        Ok(PublishResponse { results })
    }

    fn wait_duplicates(
        &self,
        duplicates: &[(usize, LogPartition)],
        results: &mut [ItemResult],
        deadline: Instant,
    ) {
        let Some(tracker) = &self.applied else {
            return;
        };
        for (index, partition) in duplicates {
            let r = &mut results[*index];
            if let Some(Applied::Version(v)) = tracker.wait(*partition, r.offset, deadline) {
                r.applied_version = Some(v);
            }
        }
    }

    fn wait_applied(&self, accepted: &[Accepted], results: &mut [ItemResult], deadline: Instant) {
        let Some(tracker) = &self.applied else {
            for a in accepted {
                results[a.index].status = ItemStatus::Unavailable(
                    "Ack::Applied needs the listener in this process; the event is durable \
                     (retry with Ack::Durable, or read with min_version)"
                        .into(),
                );
            }
            return;
        };
        for a in accepted {
            let r = &mut results[a.index];
            match tracker.wait(a.partition, r.offset, deadline) {
                Some(Applied::Version(v)) => r.applied_version = Some(v),
                Some(Applied::Status(status)) => r.status = status,
                None => {
                    r.status = ItemStatus::Unavailable(format!(
                        "durable at {}/{} but not applied within the timeout; a retry with the \
                         same event_id is answered Duplicate",
                        a.partition, r.offset
                    ));
                }
            }
        }
    }
}

impl crate::service::Publisher for PublisherService {
    fn publish(&self, mut request: PublishRequest) -> Result<PublishResponse, arpc::Status> {
        crate::trace::stamp(&mut request.events);
        let response = self.handle(&request)?;
        let counters = crate::metrics::counters();
        for (event, result) in request.events.iter().zip(&response.results) {
            if result.status == ItemStatus::Accepted
                && let Some(domain) = event.payload.domain()
            {
                counters.published(domain);
            }
        }
        Ok(response)
    }
}

/// An event as the log stores it (protobuf, so a JVM consumer can read it with the `.proto`).
pub fn encode(event: &Event) -> Bytes {
    let mut buf = BytesMut::with_capacity(256);
    // Encoding into memory cannot fail for protobuf.
    let _ = arpc::codec::CodecKind::Proto.encode(event, &mut buf);
    buf.freeze()
}

/// The group of a valid event.
pub fn group_of(event: &Event) -> Option<Group> {
    Group::of_payload(&event.payload)
}
