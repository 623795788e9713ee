//! Checksums of a logical partition by bucket, to verify a copy: per bucket, the row count
//! and the XOR of a 64-bit hash of every row's identity, version and content. XOR makes the
//! sum independent of scan order, so two shards (or two back ends) compare equal exactly when
//! they hold the same rows (up to hash collisions). Buckets narrow a mismatch down to 1/64 of
//! the partition, which is all that must be copied again (VDiff in miniature).

use super::Row;

/// Buckets per logical partition.
pub const BUCKETS: usize = 64;

/// Per-bucket count and XOR of row hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketSums {
    /// Rows per bucket.
    pub counts: [u64; BUCKETS],
    /// XOR of row hashes per bucket.
    pub xors: [u64; BUCKETS],
}

impl Default for BucketSums {
    fn default() -> Self {
        Self {
            counts: [0; BUCKETS],
            xors: [0; BUCKETS],
        }
    }
}

/// FNV-1a, 64 bits: stable across processes and versions (unlike std's hasher).
fn fnv1a(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// The bucket of a row's key.
pub fn bucket_of(domain_id: u8, key: &str) -> usize {
    let h = fnv1a(fnv1a(FNV_OFFSET, &[domain_id]), key.as_bytes());
    usize::try_from(h % BUCKETS as u64).unwrap_or(0)
}

/// The hash of a row: identity, version, tombstone and content.
pub fn row_hash(row: &Row) -> u64 {
    let mut h = fnv1a(FNV_OFFSET, &[row.domain.id()]);
    h = fnv1a(h, row.key.as_bytes());
    h = fnv1a(h, &row.source_version.to_le_bytes());
    h = fnv1a(h, &row.log_pos.to_le_bytes());
    h = fnv1a(h, &[u8::from(row.deleted)]);
    fnv1a(h, &row.payload)
}

impl BucketSums {
    /// Adds a row.
    pub fn add(&mut self, row: &Row) {
        let b = bucket_of(row.domain.id(), &row.key);
        self.counts[b] += 1;
        self.xors[b] ^= row_hash(row);
    }

    /// The buckets where `self` and `other` differ.
    pub fn mismatches(&self, other: &BucketSums) -> Vec<usize> {
        (0..BUCKETS)
            .filter(|&b| self.counts[b] != other.counts[b] || self.xors[b] != other.xors[b])
            .collect()
    }

    /// Rows counted.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Domain;
    use crate::partition::{Group, Lp};

    fn row(key: &str, v: u64) -> Row {
        Row {
            lp: Lp {
                group: Group::Member,
                lp: 1,
            },
            domain: Domain::Member,
            key: key.into(),
            source_version: v,
            log_pos: 0,
            deleted: false,
            payload: bytes::Bytes::from_static(b"x"),
            updated_at_ms: 0,
        }
    }

    #[test]
    fn order_independent_and_sensitive_to_versions() {
        let rows: Vec<Row> = (0..500).map(|i| row(&format!("member:{i}"), 1)).collect();
        let mut a = BucketSums::default();
        let mut b = BucketSums::default();
        rows.iter().for_each(|r| a.add(r));
        rows.iter().rev().for_each(|r| b.add(r));
        assert_eq!(a, b);
        let mut c = BucketSums::default();
        rows.iter()
            .map(|r| {
                if r.key == "member:7" {
                    row("member:7", 2)
                } else {
                    r.clone()
                }
            })
            .for_each(|r| c.add(&r));
        assert_eq!(
            a.mismatches(&c),
            vec![bucket_of(Domain::Member.id(), "member:7")]
        );
        assert_eq!(a.total(), 500);
    }
}
