//! Placement, step one: `partition key → murmur2 → logical partition (one of 1024, fixed) →
//! log partition`. Step two, `logical partition → shard`, is the [`directory`](crate::directory).
//!
//! The hash is Kafka's `murmur2` and the log partition is `toPositive(murmur2(key)) % P`,
//! exactly what Kafka's default partitioner does for a keyed record, so a JVM producer that
//! writes the same key straight to the topic lands in the same partition as the hub's
//! publisher. `P` divides [`LOGICAL_PARTITIONS`], so a logical partition lives in exactly one
//! log partition (`lp % P`) and is written by exactly one pipeline: that single writer is
//! what makes the partition move simple.
//!
//! Events come in two **domain groups**, each with its own log (a topic) and its own
//! keyspace of logical partitions: the member group (members, benefits, points; keyed by
//! member id) and the seller group (sellers, items; keyed by seller id). A display screen
//! needs one logical partition of each: at most two shard reads.

use serde::{Deserialize, Serialize};

use crate::model::{Domain, Payload};

/// The number of logical partitions: fixed for the life of a deployment (changing it would
/// move every key; the directory moves logical partitions between shards instead).
pub const LOGICAL_PARTITIONS: u32 = 1024;

/// A domain group: one log (topic), one keyspace of logical partitions, one set of
/// pipelines, paused and scaled together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Group {
    /// Members, benefits and points, keyed by member id.
    Member,
    /// Sellers and items, keyed by seller id.
    Seller,
}

impl Group {
    /// Both groups.
    pub const ALL: [Group; 2] = [Group::Member, Group::Seller];

    /// `member` or `seller`.
    pub fn name(self) -> &'static str {
        match self {
            Group::Member => "member",
            Group::Seller => "seller",
        }
    }

    /// The stable number stored in shard rows.
    pub fn id(self) -> u8 {
        match self {
            Group::Member => 1,
            Group::Seller => 2,
        }
    }

    /// The group stored under `id`.
    pub fn from_id(id: u8) -> Option<Group> {
        Self::ALL.into_iter().find(|g| g.id() == id)
    }

    /// The group whose log carries changes of `domain`.
    pub fn of_domain(domain: Domain) -> Option<Group> {
        match domain {
            Domain::Member
            | Domain::Benefit
            | Domain::Points
            | Domain::PointsHistory
            | Domain::MemberBenefits => Some(Group::Member),
            Domain::Seller | Domain::Item | Domain::SellerItems => Some(Group::Seller),
            Domain::Unspecified => None,
        }
    }

    /// The group of a payload (`None` for `Unknown`).
    pub fn of_payload(payload: &Payload) -> Option<Group> {
        payload.domain().and_then(Group::of_domain)
    }

    /// The name of this group's topic in Kafka mode.
    pub fn topic(self) -> String {
        format!("datahub.{}", self.name())
    }
}

impl std::fmt::Display for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Group {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "member" => Ok(Group::Member),
            "seller" => Ok(Group::Seller),
            _ => Err(format!("unknown domain group `{s}` (member or seller)")),
        }
    }
}

/// One partition of one group's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LogPartition {
    /// The group (the topic).
    pub group: Group,
    /// The partition number, `0..P`.
    pub partition: u32,
}

impl std::fmt::Display for LogPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.group, self.partition)
    }
}

/// A logical partition of one group's keyspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Lp {
    /// The group.
    pub group: Group,
    /// `0..1024`.
    pub lp: u32,
}

impl Lp {
    /// The log partition that carries this logical partition when the log has `partitions`.
    pub fn log_partition(self, partitions: u32) -> LogPartition {
        LogPartition {
            group: self.group,
            partition: self.lp % partitions,
        }
    }
}

impl std::fmt::Display for Lp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.group, self.lp)
    }
}

/// Kafka's `Utils.murmur2` (MurmurHash2, seed `0x9747b28c`), bit for bit, as a `u32`.
pub fn murmur2(data: &[u8]) -> u32 {
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let len = data.len();
    // Kafka folds the length in as a Java int; lengths beyond 2^32 do not occur for keys.
    #[allow(clippy::cast_possible_truncation)]
    let mut h: u32 = 0x9747_b28c ^ (len as u32);
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() == 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if !rest.is_empty() {
        h ^= u32::from(rest[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

/// Kafka's `Utils.toPositive(murmur2(key))`: the number its default partitioner takes modulo
/// the partition count.
pub fn positive_hash(key: &[u8]) -> u32 {
    murmur2(key) & 0x7fff_ffff
}

/// The logical partition of a partition key in `group`.
pub fn logical_partition(group: Group, partition_key: &str) -> Lp {
    Lp {
        group,
        lp: positive_hash(partition_key.as_bytes()) % LOGICAL_PARTITIONS,
    }
}

/// The log partition of a partition key when the group's log has `partitions` (a divisor of
/// 1024): the same number Kafka's default partitioner picks.
pub fn log_partition(group: Group, partition_key: &str, partitions: u32) -> LogPartition {
    LogPartition {
        group,
        partition: positive_hash(partition_key.as_bytes()) % partitions,
    }
}

/// Why a partition count cannot be used.
pub fn check_partition_count(partitions: u32) -> Result<(), String> {
    if partitions == 0 || !partitions.is_power_of_two() || partitions > LOGICAL_PARTITIONS {
        return Err(format!(
            "{partitions} log partitions: must be a power of two from 1 to {LOGICAL_PARTITIONS}, \
             so that each logical partition lives in exactly one log partition"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cases of Kafka's `UtilsTest.testMurmur2` (as Java ints).
    #[test]
    fn murmur2_matches_kafka() {
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
        ];
        for (input, expected) in cases {
            #[allow(clippy::cast_possible_wrap)]
            let got = murmur2(input) as i32;
            assert_eq!(
                got,
                expected,
                "murmur2({:?})",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn a_logical_partition_lives_in_one_log_partition() {
        for key in 0..10_000u32 {
            let key = key.to_string();
            let lp = logical_partition(Group::Member, &key);
            for p in [1, 2, 8, 16, 1024] {
                assert_eq!(lp.log_partition(p), log_partition(Group::Member, &key, p));
            }
        }
    }

    #[test]
    fn partition_counts_must_divide_the_keyspace() {
        assert!(check_partition_count(8).is_ok());
        assert!(check_partition_count(6).is_err());
        assert!(check_partition_count(0).is_err());
        assert!(check_partition_count(2048).is_err());
    }
}
