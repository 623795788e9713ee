//! Synthetic teams for the demo, the tests and the benchmarks: five producers (members,
//! sellers, benefits, points, items) drawing entity ids from a Zipf distribution, so a few
//! keys (and so a few logical partitions) are hot, as in real traffic. Each team keeps a
//! version per key, so every event carries a `source_version` one above the key's last.

use std::collections::BTreeMap;
use std::collections::HashMap;

use crate::model::{
    Benefit, BenefitKind, Domain, Event, Grade, Item, Member, Payload, PointsChange, Seller,
};
use crate::partition::Group;

/// SplitMix64: small, fast, deterministic.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A float in [0, 1).
    #[allow(clippy::cast_precision_loss)]
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// Zipf over `1..=n` with exponent `s`: rank k has weight `1 / k^s`.
#[derive(Debug, Clone)]
pub struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    /// The distribution over `1..=n`.
    pub fn new(n: u64, s: f64) -> Self {
        let mut cdf = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
        let mut sum = 0.0;
        for k in 1..=n {
            #[allow(clippy::cast_precision_loss)]
            let w = 1.0 / (k as f64).powf(s);
            sum += w;
            cdf.push(sum);
        }
        for c in &mut cdf {
            *c /= sum;
        }
        Self { cdf }
    }

    /// A rank in `1..=n`.
    pub fn sample(&self, rng: &mut Rng) -> u64 {
        let u = rng.unit();
        self.cdf.partition_point(|c| *c < u) as u64 + 1
    }
}

/// The five teams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Team {
    /// Member profiles.
    Members,
    /// Seller shops.
    Sellers,
    /// Benefits for members.
    Benefits,
    /// Point changes.
    Points,
    /// Items of sellers.
    Items,
}

impl Team {
    /// All of them.
    pub const ALL: [Team; 5] = [
        Team::Members,
        Team::Sellers,
        Team::Benefits,
        Team::Points,
        Team::Items,
    ];

    /// The team's name.
    pub fn name(self) -> &'static str {
        match self {
            Team::Members => "members",
            Team::Sellers => "sellers",
            Team::Benefits => "benefits",
            Team::Points => "points",
            Team::Items => "items",
        }
    }
}

/// One team's event generator.
#[derive(Debug, Clone)]
pub struct Producer {
    team: Team,
    rng: Rng,
    zipf: Zipf,
    versions: HashMap<String, u64>,
    balances: HashMap<u64, i64>,
    seq: u64,
    seed: u64,
    offset: u64,
    members: u64,
    sellers: u64,
}

/// What a generated event is about (for checks).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyRef {
    /// Its group.
    pub group: Group,
    /// Its partition key.
    pub partition_key: String,
    /// Its domain.
    pub domain: Domain,
    /// Its key.
    pub key: String,
}

impl Producer {
    /// A producer for `team` over `keys` entities (Zipf exponent `skew`), seeded.
    pub fn new(team: Team, keys: u64, skew: f64, seed: u64) -> Self {
        Self {
            team,
            rng: Rng::new(seed ^ (team as u64 + 1).wrapping_mul(0x1234_5678_9abc)),
            zipf: Zipf::new(keys, skew),
            versions: HashMap::new(),
            balances: HashMap::new(),
            seq: 0,
            seed,
            offset: 0,
            members: keys,
            sellers: (keys / 10).max(1),
        }
    }

    /// Entity ids start above `offset` (producers with different offsets never share a
    /// key, so each can keep its own versions).
    pub fn offset(mut self, offset: u64) -> Self {
        self.offset = offset;
        self
    }

    /// The team.
    pub fn team(&self) -> Team {
        self.team
    }

    /// The next event (and what it is about).
    pub fn next_event(&mut self) -> (Event, KeyRef) {
        self.seq += 1;
        let rank = self.zipf.sample(&mut self.rng);
        let (rank, base) = (rank + self.offset, self.offset);
        let event_id = format!(
            "{}-{}-{}-{}",
            self.team.name(),
            self.seed,
            std::process::id(),
            self.seq
        );
        let now = crate::clock::now_ms();
        let (pk, key, payload) = match self.team {
            Team::Members => (
                rank,
                format!("member:{rank}"),
                Payload::Member(Member {
                    member_id: rank,
                    name: format!("member {rank}"),
                    grade: [Grade::Basic, Grade::Silver, Grade::Gold, Grade::Vip]
                        [usize::try_from(self.rng.below(4)).unwrap_or(0)],
                    email: rank
                        .is_multiple_of(3)
                        .then(|| format!("m{rank}@example.com")),
                    joined_at: 1_600_000_000,
                }),
            ),
            Team::Sellers => {
                let id = (rank - base - 1) % self.sellers + 1 + base;
                (
                    id,
                    format!("seller:{id}"),
                    Payload::Seller(Seller {
                        seller_id: id,
                        name: format!("shop {id}"),
                        #[allow(clippy::cast_possible_truncation)]
                        rating: (self.rng.unit() * 5.0) as f32,
                        badges: vec!["fast".into()],
                    }),
                )
            }
            Team::Benefits => {
                let member = (rank - base - 1) % self.members + 1 + base;
                (
                    member,
                    format!("benefit:{rank}"),
                    Payload::Benefit(Benefit {
                        benefit_id: rank,
                        member_id: member,
                        kind: BenefitKind::Discount(
                            u32::try_from(self.rng.below(50)).unwrap_or(0) + 1,
                        ),
                        title: format!("{}% off", rank % 50 + 1),
                        expires_at: 1_800_000_000,
                    }),
                )
            }
            Team::Points => {
                let delta = i32::try_from(self.rng.below(200)).unwrap_or(0) - 50;
                let balance = self.balances.entry(rank).or_insert(0);
                *balance += i64::from(delta);
                (
                    rank,
                    format!("points:{rank}"),
                    Payload::Points(PointsChange {
                        member_id: rank,
                        delta,
                        balance_after: *balance,
                        pending: 0,
                        reason: "order".into(),
                        at: now / 1000,
                    }),
                )
            }
            Team::Items => {
                let seller = (rank - base - 1) % self.sellers + 1 + base;
                let mut attributes = BTreeMap::new();
                attributes.insert(
                    "size".to_owned(),
                    ["S", "M", "L"][usize::try_from(rank % 3).unwrap_or(0)].to_owned(),
                );
                (
                    seller,
                    format!("item:{rank}"),
                    Payload::Item(Item {
                        item_id: rank,
                        seller_id: seller,
                        name: format!("item {rank}"),
                        price: 1000 + self.rng.below(100_000),
                        #[allow(clippy::cast_possible_truncation)]
                        discount_rate: (self.rng.unit() * 0.5) as f32,
                        stock: u32::try_from(self.rng.below(500)).unwrap_or(0),
                        image_url: format!("https://img.example.com/{rank}.jpg"),
                        attributes,
                    }),
                )
            }
        };
        let version = {
            let v = self.versions.entry(key.clone()).or_insert(0);
            *v += 1;
            *v
        };
        let domain = payload.domain().unwrap_or(Domain::Unspecified);
        let group = Group::of_domain(domain).unwrap_or(Group::Member);
        let partition_key = pk.to_string();
        let event = Event {
            event_id,
            partition_key: partition_key.clone(),
            key: key.clone(),
            source_version: Some(version),
            occurred_at_ms: now,
            payload,
            trace_id: None,
        };
        (
            event,
            KeyRef {
                group,
                partition_key,
                domain,
                key,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipf_is_skewed_and_in_range() {
        let z = Zipf::new(1000, 1.1);
        let mut rng = Rng::new(7);
        let mut counts = vec![0u32; 1001];
        for _ in 0..100_000 {
            let k = z.sample(&mut rng);
            assert!((1..=1000).contains(&k));
            counts[usize::try_from(k).unwrap()] += 1;
        }
        assert!(
            counts[1] > 10 * counts[100],
            "{} vs {}",
            counts[1],
            counts[100]
        );
    }

    #[test]
    fn every_generated_event_is_valid() {
        for team in Team::ALL {
            let mut p = Producer::new(team, 500, 1.1, 1);
            for _ in 0..200 {
                let (e, k) = p.next_event();
                let group = crate::validate::validate(&e).unwrap_or_else(|r| panic!("{e:?}: {r}"));
                assert_eq!(group, k.group);
            }
        }
    }
}
