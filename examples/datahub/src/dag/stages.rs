//! The pure stages: decode+validate, dedupe, enrich, project, route.

use std::collections::{HashSet, VecDeque};

use bytes::Bytes;

use super::{Batch, BatchKind, Enrichment, Item, Projected, ShardWrite};
use crate::clock::now_ms;
use crate::directory::Snapshot;
use crate::meta::DeadLetter;
use crate::model::{
    Domain, Event, Grade, ItemRow, MemberRow, Payload, PointsHistoryRow, PointsRow,
    benefit_index_key, index_key, item_index_key,
};
use crate::partition::logical_partition;
use crate::store::{Row, RowWrite};
use crate::validate::validate;

/// Decodes each record's event (protobuf) and checks it; what fails goes to the dead
/// letters with the reason and the raw bytes. Replay batches keep only the events the replay
/// asks for.
pub fn decode_validate(batch: &mut Batch) {
    let group = batch.partition.group;
    for record in std::mem::take(&mut batch.raw) {
        let dead = |reason: String, event_id: Option<String>| DeadLetter {
            partition: batch.partition,
            offset: record.offset,
            event_id,
            reason,
            raw: record.value.to_vec(),
            at_ms: now_ms(),
        };
        let event: Event = match arpc::codec::CodecKind::Proto.decode(record.value.clone()) {
            Ok(e) => e,
            Err(e) => {
                batch.dead.push(dead(format!("undecodable: {e}"), None));
                continue;
            }
        };
        match validate(&event) {
            Ok(g) if g == group => {}
            Ok(g) => {
                let reason = format!("a {g} event in the {group} log");
                batch.dead.push(dead(reason, Some(event.event_id)));
                continue;
            }
            Err(reason) => {
                batch.dead.push(dead(reason, Some(event.event_id)));
                continue;
            }
        }
        if let Some(replay) = &batch.replay {
            let domain = event.payload.domain().unwrap_or(Domain::Unspecified);
            if !replay.matches(domain, &event.key) {
                continue;
            }
        }
        batch.items.push(Item {
            offset: record.offset,
            logged_ms: record.timestamp_ms,
            event,
            duplicate: false,
            enrichment: Enrichment::default(),
        });
    }
}

/// A window of recently seen event ids for one partition: a second copy of an event within
/// the window is dropped. Missing a duplicate (outside the window) is harmless: the shards'
/// version guard makes re-applying it a no-op.
///
/// Ids are remembered as 128-bit fingerprints (two independently seeded hashes), about 40
/// bytes per id instead of two copies of the string: the window is per partition and the
/// largest part of a listener's memory. Two different ids in one window share a fingerprint
/// with probability about n²/2¹²⁹ (n = 50,000: 10⁻²⁹), which would wrongly drop one.
#[derive(Debug)]
pub struct Dedupe {
    seen: HashSet<u128, foldhash::fast::RandomState>,
    order: VecDeque<u128>,
    capacity: usize,
}

/// Seeds of the two halves of a fingerprint (fixed, so a fingerprint is stable in a process).
const FINGERPRINT: (u64, u64) = (0x9e37_79b9_7f4a_7c15, 0xc2b2_ae3d_27d4_eb4f);

fn fingerprint(id: &str) -> u128 {
    use std::hash::BuildHasher;
    let hi = foldhash::quality::FixedState::with_seed(FINGERPRINT.0).hash_one(id);
    let lo = foldhash::quality::FixedState::with_seed(FINGERPRINT.1).hash_one(id);
    (u128::from(hi) << 64) | u128::from(lo)
}

impl Dedupe {
    /// A window of `capacity` ids.
    pub fn new(capacity: usize) -> Self {
        Self {
            seen: HashSet::with_capacity_and_hasher(capacity.min(1 << 16), Default::default()),
            order: VecDeque::with_capacity(capacity.min(1 << 16)),
            capacity: capacity.max(1),
        }
    }

    /// Forgets everything (after a seek, re-reading is the point).
    pub fn clear(&mut self) {
        self.seen.clear();
        self.order.clear();
    }

    /// Marks duplicates in a live batch (replays re-apply on purpose and are not deduped).
    pub fn apply(&mut self, batch: &mut Batch) {
        if batch.kind != BatchKind::Live {
            return;
        }
        for item in &mut batch.items {
            let id = fingerprint(&item.event.event_id);
            if self.seen.contains(&id) {
                item.duplicate = true;
                continue;
            }
            if self.order.len() == self.capacity
                && let Some(old) = self.order.pop_front()
            {
                self.seen.remove(&old);
            }
            self.seen.insert(id);
            self.order.push_back(id);
        }
    }
}

/// The hub's reference data: what each grade gets. In a real hub this is a cache of another
/// team's data, refreshed in the background; here it is fixed.
fn grade_rules(grade: Grade) -> (Vec<String>, u32) {
    match grade {
        Grade::Basic => (vec![], 5),
        Grade::Silver => (vec!["free-returns".into()], 10),
        Grade::Gold => (vec!["free-returns".into(), "free-shipping".into()], 20),
        Grade::Vip => (
            vec![
                "free-returns".into(),
                "free-shipping".into(),
                "concierge".into(),
            ],
            30,
        ),
    }
}

/// Joins reference data: grade perks for members, the price after discount for items.
pub fn enrich(batch: &mut Batch) {
    for item in batch.items.iter_mut().filter(|i| !i.duplicate) {
        match &item.event.payload {
            Payload::Member(m) => {
                let (perks, rate) = grade_rules(m.grade);
                item.enrichment.perks = perks;
                item.enrichment.point_rate_permille = rate;
            }
            Payload::Item(i) => {
                #[allow(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    clippy::cast_precision_loss
                )]
                let discounted =
                    (i.price as f64 * (1.0 - f64::from(i.discount_rate))).floor() as u64;
                item.enrichment.final_price = Some(discounted);
            }
            _ => {}
        }
    }
}

fn encode<T: arpc::Message>(msg: &T) -> Bytes {
    let mut buf = bytes::BytesMut::new();
    // Encoding a valid message into memory cannot fail for protobuf.
    let _ = arpc::codec::CodecKind::Proto.encode(msg, &mut buf);
    buf.freeze()
}

/// Turns each event into the rows the read side stores: its own row (enriched), and for a
/// point change also a history entry.
pub fn project(batch: &mut Batch) {
    let group = batch.partition.group;
    let now = now_ms();
    for (index, item) in batch.items.iter().enumerate() {
        if item.duplicate {
            continue;
        }
        let e = &item.event;
        let lp = logical_partition(group, &e.partition_key);
        let row = |domain: Domain, key: String, payload: Bytes, deleted: bool| Row {
            lp,
            domain,
            key,
            source_version: e.source_version.unwrap_or(0),
            log_pos: item.offset,
            deleted,
            payload,
            updated_at_ms: now,
        };
        let mut push = |r: Row, primary: bool| {
            batch.rows.push(Projected {
                row: r,
                item: index,
                primary,
            });
        };
        match &e.payload {
            Payload::Member(m) => push(
                row(
                    Domain::Member,
                    e.key.clone(),
                    encode(&MemberRow {
                        member: m.clone(),
                        perks: item.enrichment.perks.clone(),
                        point_rate_permille: item.enrichment.point_rate_permille,
                    }),
                    false,
                ),
                true,
            ),
            Payload::Seller(s) => push(row(Domain::Seller, e.key.clone(), encode(s), false), true),
            Payload::Benefit(b) => {
                let payload = encode(b);
                push(
                    row(Domain::Benefit, e.key.clone(), payload.clone(), false),
                    true,
                );
                // The member's index of benefits: a screen reads it as one key range.
                let key = benefit_index_key(b.member_id, b.benefit_id);
                push(row(Domain::MemberBenefits, key, payload, false), false);
            }
            Payload::Item(i) => {
                let payload = encode(&ItemRow {
                    item: i.clone(),
                    final_price: item.enrichment.final_price.unwrap_or(i.price),
                });
                push(
                    row(Domain::Item, e.key.clone(), payload.clone(), false),
                    true,
                );
                let key = item_index_key(i.seller_id, i.item_id);
                push(row(Domain::SellerItems, key, payload, false), false);
            }
            Payload::Points(p) => {
                push(
                    row(
                        Domain::Points,
                        e.key.clone(),
                        encode(&PointsRow {
                            member_id: p.member_id,
                            balance: p.balance_after,
                            pending: p.pending,
                        }),
                        false,
                    ),
                    true,
                );
                // One history entry per change, keyed by its version (or log position), so
                // re-applying the change rewrites the same entry.
                let seq = e.source_version.unwrap_or(item.offset);
                push(
                    row(
                        Domain::PointsHistory,
                        format!("{}:{seq:020}", e.key),
                        encode(&PointsHistoryRow {
                            at: p.at,
                            delta: p.delta,
                            reason: p.reason.clone(),
                        }),
                        false,
                    ),
                    false,
                );
            }
            Payload::Delete(t) => {
                push(row(t.domain, e.key.clone(), Bytes::new(), true), true);
                if let Some((domain, key)) = e
                    .partition_key
                    .parse()
                    .ok()
                    .and_then(|owner| index_key(t.domain, &e.key, owner))
                {
                    push(row(domain, key, Bytes::new(), true), false);
                }
            }
            Payload::Unknown => {}
        }
    }
}

/// Picks the shards of every row from the directory snapshot: the placement's shard, plus the
/// target while the partition is being moved (dual-write). Rows carry the placement epoch.
pub fn route(batch: &mut Batch, snapshot: &Snapshot) {
    batch.routed_version = snapshot.version;
    batch.writes.clear();
    let mut slots: Vec<Option<usize>> = Vec::new();
    for (index, projected) in batch.rows.iter().enumerate() {
        let placement = snapshot.placement(projected.row.lp);
        for (n, shard) in placement.write_targets().enumerate() {
            let authoritative = n == 0;
            let slot_index = shard as usize * 2 + usize::from(!authoritative);
            if slots.len() <= slot_index {
                slots.resize(slot_index + 1, None);
            }
            let w = match slots[slot_index] {
                Some(w) => w,
                None => {
                    batch.writes.push(ShardWrite {
                        shard,
                        rows: Vec::new(),
                        sources: Vec::new(),
                        authoritative,
                    });
                    slots[slot_index] = Some(batch.writes.len() - 1);
                    batch.writes.len() - 1
                }
            };
            batch.writes[w].rows.push(RowWrite {
                row: projected.row.clone(),
                epoch: placement.epoch,
            });
            batch.writes[w].sources.push(index);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::{DirectoryState, Placement, PlacementState, ShardSpec};
    use crate::log::LogRecord;
    use crate::model::{Member, PointsChange};
    use crate::partition::{Group, LogPartition};

    fn record(offset: u64, event: &Event) -> LogRecord {
        LogRecord {
            partition: LogPartition {
                group: Group::Member,
                partition: 0,
            },
            offset,
            timestamp_ms: 1,
            key: Bytes::from(event.partition_key.clone()),
            value: encode(event),
        }
    }

    fn member(id: u64, event_id: &str) -> Event {
        Event {
            event_id: event_id.into(),
            partition_key: id.to_string(),
            key: format!("member:{id}"),
            source_version: Some(3),
            occurred_at_ms: 0,
            payload: Payload::Member(Member {
                member_id: id,
                name: "Kim".into(),
                grade: Grade::Gold,
                email: None,
                joined_at: 0,
            }),
            trace_id: None,
        }
    }

    #[test]
    fn stages_turn_records_into_routed_rows() {
        let p = LogPartition {
            group: Group::Member,
            partition: 0,
        };
        let mut batch = Batch::new(p, BatchKind::Live, 0, 5);
        let points = Event {
            event_id: "e3".into(),
            partition_key: "7".into(),
            key: "points:7".into(),
            source_version: None,
            occurred_at_ms: 0,
            payload: Payload::Points(PointsChange {
                member_id: 7,
                delta: 10,
                balance_after: 110,
                pending: 0,
                reason: "order".into(),
                at: 0,
            }),
            trace_id: None,
        };
        let mut bad = member(9, "e4");
        bad.key = "member:10".into();
        batch.raw = vec![
            record(0, &member(7, "e1")),
            record(1, &member(7, "e1")),
            record(2, &points),
            record(3, &bad),
            LogRecord {
                value: Bytes::from_static(&[0xff, 0xff, 0xff]),
                ..record(4, &points)
            },
        ];
        decode_validate(&mut batch);
        assert_eq!(batch.items.len(), 3);
        assert_eq!(batch.dead.len(), 2);
        assert!(
            batch.dead[0].reason.contains("does not match"),
            "{:?}",
            batch.dead[0]
        );
        assert!(
            batch.dead[1].reason.starts_with("undecodable"),
            "{:?}",
            batch.dead[1]
        );
        let mut dedupe = Dedupe::new(10);
        dedupe.apply(&mut batch);
        assert!(batch.items[1].duplicate);
        enrich(&mut batch);
        assert_eq!(batch.items[0].enrichment.point_rate_permille, 20);
        project(&mut batch);
        assert_eq!(batch.rows.len(), 3, "member, points, points history");
        assert_eq!(batch.rows[2].row.key, format!("points:7:{:020}", 2));
        let shards = (0..4)
            .map(|i| ShardSpec {
                url: format!("sqlite:/tmp/{i}"),
                added_ms: 0,
            })
            .collect();
        let mut state = DirectoryState::new(shards);
        let lp = batch.rows[0].row.lp;
        let home = state.placement(lp).shard;
        state.set_placement(
            lp,
            Placement {
                shard: home,
                epoch: 2,
                state: PlacementState::DualWrite { to: 3, since: None },
            },
        );
        route(&mut batch, &Snapshot::new(1, state));
        let to_target: usize = batch
            .writes
            .iter()
            .filter(|w| !w.authoritative)
            .map(|w| w.rows.len())
            .sum();
        assert_eq!(
            to_target, 3,
            "every row of the moving partition is written twice"
        );
        assert!(
            batch
                .writes
                .iter()
                .flat_map(|w| &w.rows)
                .all(|r| r.epoch == 2)
        );
    }
}
