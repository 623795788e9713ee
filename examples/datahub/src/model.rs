//! The hub's messages: what teams publish ([`Event`] and its per-domain [`Payload`]), what the
//! publisher answers ([`ItemResult`] per event), and the rows the listener stores.
//!
//! These types are the schema: `proto/datahub.v1.proto` is rendered from them and guarded by
//! the golden test, so a change here that would break a peer built from the checked-in schema
//! fails the build. Field numbers follow declaration order; add fields at the end.

use std::collections::BTreeMap;

/// One change from a team. `event_id` is the idempotency key (a retried publish is answered
/// `Duplicate`); `partition_key` decides order and placement; `key` names the entity.
#[arpc::message]
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Unique per event, chosen by the producer (a UUIDv7, say); at most 128 bytes.
    pub event_id: String,
    /// Events with one partition key are applied in publish order. For the member group it
    /// is the member id, for the seller group the seller id (decimal).
    pub partition_key: String,
    /// The entity inside its domain, e.g. `member:42`, `item:7` (see [`Payload::natural_key`]).
    pub key: String,
    /// The producer's version of the entity (a row version), if it keeps one: a row never goes
    /// back to a lower version. Without it, log order decides.
    pub source_version: Option<u64>,
    /// When the change happened at the source (Unix milliseconds).
    pub occurred_at_ms: i64,
    /// The change: one variant per domain the hub owns.
    pub payload: Payload,
    /// Optional trace id carried to the stored row's lineage.
    pub trace_id: Option<String>,
}

/// The change an event carries. A new domain is a new variant at the end (a compatible
/// change); a variant this publisher does not know arrives over protobuf as `Unknown`, and is
/// answered `Invalid` for that item alone.
#[arpc::message]
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// No payload, or one this version of the hub does not know.
    Unknown,
    /// A member's profile.
    Member(Member),
    /// A seller's shop.
    Seller(Seller),
    /// A benefit offered to a member.
    Benefit(Benefit),
    /// A change of a member's points.
    Points(PointsChange),
    /// A product of a seller.
    Item(Item),
    /// A versioned delete (a tombstone: deletes must be versioned so that a partition move or
    /// a replay never brings a deleted row back).
    Delete(Tombstone),
}

/// Membership grade.
#[arpc::message]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Grade {
    /// No grade.
    Basic,
    /// Silver.
    Silver,
    /// Gold.
    Gold,
    /// VIP.
    Vip,
}

/// A member's profile.
#[arpc::message]
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// Member id (not 0).
    pub member_id: u64,
    /// Display name (1 to 200 bytes).
    pub name: String,
    /// Grade.
    pub grade: Grade,
    /// Email, if shared.
    pub email: Option<String>,
    /// Unix seconds.
    pub joined_at: i64,
}

/// A seller's shop.
#[arpc::message]
#[derive(Debug, Clone, PartialEq)]
pub struct Seller {
    /// Seller id (not 0).
    pub seller_id: u64,
    /// Shop name.
    pub name: String,
    /// Average rating, 0 to 5.
    pub rating: f32,
    /// Badges.
    pub badges: Vec<String>,
}

/// What a benefit gives.
#[arpc::message]
#[derive(Debug, Clone, PartialEq)]
pub enum BenefitKind {
    /// Free shipping.
    FreeShipping,
    /// Percent off (1 to 100).
    Discount(u32),
    /// A coupon code.
    Coupon(String),
}

/// A benefit offered to a member.
#[arpc::message]
#[derive(Debug, Clone, PartialEq)]
pub struct Benefit {
    /// Benefit id (not 0).
    pub benefit_id: u64,
    /// The member it is for (not 0): the partition key.
    pub member_id: u64,
    /// What it gives.
    pub kind: BenefitKind,
    /// Headline.
    pub title: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// A change of a member's points, with the balance after it (the points system owns the
/// arithmetic; the hub stores what it says, so re-applying a change is harmless).
#[arpc::message]
#[derive(Debug, Clone, PartialEq)]
pub struct PointsChange {
    /// The member (not 0).
    pub member_id: u64,
    /// The change.
    pub delta: i32,
    /// The balance after the change.
    pub balance_after: i64,
    /// Points not yet confirmed.
    pub pending: i64,
    /// Why.
    pub reason: String,
    /// Unix seconds.
    pub at: i64,
}

/// A product of a seller.
#[arpc::message]
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// Item id (not 0).
    pub item_id: u64,
    /// The seller (not 0): the partition key.
    pub seller_id: u64,
    /// Name.
    pub name: String,
    /// Price in the smallest currency unit.
    pub price: u64,
    /// Discount, 0 to 1.
    pub discount_rate: f32,
    /// Units in stock.
    pub stock: u32,
    /// Image.
    pub image_url: String,
    /// Attributes (size, colour, ...).
    pub attributes: BTreeMap<String, String>,
}

/// The domains whose rows the hub stores.
#[arpc::message]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Domain {
    /// Not set.
    #[default]
    Unspecified,
    /// Members (`member:{id}`).
    Member,
    /// Sellers (`seller:{id}`).
    Seller,
    /// Benefits (`benefit:{id}`).
    Benefit,
    /// Point balances (`points:{member id}`).
    Points,
    /// Items (`item:{id}`).
    Item,
    /// Point history entries (`points:{member id}:{version}`), projected from point changes.
    PointsHistory,
    /// A member's benefits, indexed under the member (`benefits:{member id}:{benefit id}`),
    /// projected from benefits so that a screen reads them in one range of its partition.
    MemberBenefits,
    /// A seller's items, indexed under the seller (`items:{seller id}:{item id}`), projected
    /// from items.
    SellerItems,
}

/// A versioned delete of one entity.
#[arpc::message]
#[derive(Debug, Clone, PartialEq)]
pub struct Tombstone {
    /// The entity's domain.
    pub domain: Domain,
    /// The entity's key (the same as the event's `key`).
    pub key: String,
}

/// When the publisher answers.
#[arpc::message]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ack {
    /// Once the events are durable in the log (or, in Kafka mode, in the local outbox).
    #[default]
    Durable,
    /// Once the events are stored on their shards and visible to reads.
    Applied,
}

/// A batch of events to publish.
#[arpc::message]
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PublishRequest {
    /// The events, in order (order matters per partition key).
    pub events: Vec<Event>,
    /// When to answer.
    pub ack: Ack,
    /// How long to wait for the acknowledgement (0: the publisher's default, 5 s).
    pub timeout_ms: u32,
}

/// The publisher's answer: one result per event, in the request's order.
#[arpc::message]
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PublishResponse {
    /// Per-event results.
    pub results: Vec<ItemResult>,
}

/// What happened to one event.
#[arpc::message]
#[derive(Debug, Clone, PartialEq)]
pub enum ItemStatus {
    /// Taken: durable (and applied, with `Ack::Applied`).
    Accepted,
    /// An event with this `event_id` was taken before; nothing new was written.
    Duplicate,
    /// The entity already has this `source_version` or a newer one; nothing was changed.
    Stale,
    /// The event breaks a rule of its domain; the reason says which. Nothing was written.
    Invalid(String),
    /// The event could not be taken now (the log is unavailable, or the wait for the
    /// acknowledgement ran out); safe to retry with the same `event_id`.
    Unavailable(String),
}

/// The result of one event of a publish.
#[arpc::message]
#[derive(Debug, Clone, PartialEq)]
pub struct ItemResult {
    /// The event's id.
    pub event_id: String,
    /// What happened.
    pub status: ItemStatus,
    /// The log partition it went to (within its domain group's log).
    pub log_partition: u32,
    /// Its offset in that partition.
    pub offset: u64,
    /// With `Ack::Applied`: the row version now stored (pass it to reads as `min_version`).
    pub applied_version: Option<u64>,
    /// True when the broker was unreachable and the local outbox took the event.
    pub via_outbox: bool,
}

/// A member row as stored: the profile, enriched with the perks of its grade.
#[arpc::message]
#[derive(Debug, Clone, PartialEq)]
pub struct MemberRow {
    /// The profile.
    pub member: Member,
    /// Perks of the member's grade (from the hub's reference data).
    pub perks: Vec<String>,
    /// Points earned per 1,000 spent at this grade.
    pub point_rate_permille: u32,
}

/// An item row as stored: the product, enriched with its price after discount.
#[arpc::message]
#[derive(Debug, Clone, PartialEq)]
pub struct ItemRow {
    /// The product.
    pub item: Item,
    /// `price × (1 − discount_rate)`, rounded down.
    pub final_price: u64,
}

/// A point balance row.
#[arpc::message]
#[derive(Debug, Clone, PartialEq)]
pub struct PointsRow {
    /// The member.
    pub member_id: u64,
    /// Balance.
    pub balance: i64,
    /// Not yet confirmed.
    pub pending: i64,
}

/// A point history row (one per change).
#[arpc::message]
#[derive(Debug, Clone, PartialEq)]
pub struct PointsHistoryRow {
    /// Unix seconds.
    pub at: i64,
    /// Change.
    pub delta: i32,
    /// Why.
    pub reason: String,
}

/// A read-your-writes token: the version a publish with `Ack::Applied` answered for one key
/// (`ItemResult::applied_version` of the event with that `key`).
#[arpc::message]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinVersion {
    /// The entity key (`points:42`), one the screen shows.
    pub key: String,
    /// The version the screen must show it at, or later.
    pub version: u64,
}

/// One display screen: a member and a seller, composed from at most two shard reads.
#[arpc::message]
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ScreenRequest {
    /// The member (not 0).
    pub member_id: u64,
    /// The seller whose items are shown (not 0).
    pub seller_id: u64,
    /// How many of the seller's items to show (at most 100).
    pub items: u32,
    /// Read your writes: wait until the screen shows this key at this version or later.
    pub min_version: Option<MinVersion>,
    /// How long to wait for `min_version` (0: 1 s, at most 10 s); then `DEADLINE_EXCEEDED`.
    pub max_wait_ms: u32,
}

/// The version a screen shows an entity at.
#[arpc::message]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowVersion {
    /// The entity key (`member:42`, `benefit:7`).
    pub key: String,
    /// Its version (the source version, or the log position when the source gave none).
    pub version: u64,
}

/// What one screen of the app shows: the large, nested response whose best encoding depends
/// on the caller.
#[arpc::message]
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DisplayScreen {
    /// The member's profile and perks, if known.
    pub member: Option<MemberRow>,
    /// The member's point balance, if known.
    pub points: Option<PointsRow>,
    /// The member's latest point changes, newest first.
    pub history: Vec<PointsHistoryRow>,
    /// The member's benefits.
    pub benefits: Vec<Benefit>,
    /// The seller's shop, if known.
    pub seller: Option<Seller>,
    /// The seller's items.
    pub items: Vec<ItemRow>,
    /// The version of every entity shown (for read-your-writes and regression checks).
    pub versions: Vec<RowVersion>,
}

/// Raw records by key.
#[arpc::message]
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GetRequest {
    /// The keys (at most 1,000).
    pub keys: Vec<RecordKey>,
}

/// Where a record is: its domain, the partition key it was published under, and its key.
#[arpc::message]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordKey {
    /// The domain.
    pub domain: Domain,
    /// The partition key (member or seller id, decimal).
    pub partition_key: String,
    /// The entity key.
    pub key: String,
}

/// One stored record, as the shard holds it.
#[arpc::message]
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The domain.
    pub domain: Domain,
    /// The key.
    pub key: String,
    /// Its version.
    pub version: u64,
    /// A tombstone (deleted at `version`).
    pub deleted: bool,
    /// The row (protobuf of the domain's row type: `MemberRow`, `Seller`, `Benefit`,
    /// `PointsRow`, `ItemRow`, `PointsHistoryRow`).
    pub payload: bytes::Bytes,
    /// When it was last written (Unix milliseconds).
    pub updated_at_ms: i64,
}

/// Records found, in the order asked; keys never written are left out.
#[arpc::message]
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Records {
    /// The records.
    pub records: Vec<Record>,
}

/// A message with no fields.
#[arpc::message]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Empty {}

impl Domain {
    /// Every storable domain.
    pub const ALL: [Domain; 8] = [
        Domain::Member,
        Domain::Seller,
        Domain::Benefit,
        Domain::Points,
        Domain::Item,
        Domain::PointsHistory,
        Domain::MemberBenefits,
        Domain::SellerItems,
    ];

    /// The stable number stored in shard rows.
    pub fn id(self) -> u8 {
        match self {
            Domain::Unspecified => 0,
            Domain::Member => 1,
            Domain::Seller => 2,
            Domain::Benefit => 3,
            Domain::Points => 4,
            Domain::Item => 5,
            Domain::PointsHistory => 6,
            Domain::MemberBenefits => 7,
            Domain::SellerItems => 8,
        }
    }

    /// The domain stored under `id`.
    pub fn from_id(id: u8) -> Option<Domain> {
        Self::ALL.into_iter().find(|d| d.id() == id)
    }

    /// Lower-case name (`member`, `points-history`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Domain::Unspecified => "unspecified",
            Domain::Member => "member",
            Domain::Seller => "seller",
            Domain::Benefit => "benefit",
            Domain::Points => "points",
            Domain::Item => "item",
            Domain::PointsHistory => "points-history",
            Domain::MemberBenefits => "member-benefits",
            Domain::SellerItems => "seller-items",
        }
    }

    /// The prefix of this domain's keys (`member:`).
    pub fn key_prefix(self) -> &'static str {
        match self {
            Domain::Unspecified => "",
            Domain::Member => "member:",
            Domain::Seller => "seller:",
            Domain::Benefit => "benefit:",
            Domain::Points | Domain::PointsHistory => "points:",
            Domain::Item => "item:",
            Domain::MemberBenefits => "benefits:",
            Domain::SellerItems => "items:",
        }
    }
}

/// The key of a member's benefit in the member's index (`benefits:{member}:{benefit:020}`:
/// zero-padded, so a range of the index is in id order).
pub fn benefit_index_key(member_id: u64, benefit_id: u64) -> String {
    format!("benefits:{member_id}:{benefit_id:020}")
}

/// The key of a seller's item in the seller's index (`items:{seller}:{item:020}`).
pub fn item_index_key(seller_id: u64, item_id: u64) -> String {
    format!("items:{seller_id}:{item_id:020}")
}

/// The index key an entity row also has, from its domain, key and partition id: benefits are
/// indexed under their member, items under their seller (`None` for the other domains).
pub fn index_key(domain: Domain, key: &str, partition_id: u64) -> Option<(Domain, String)> {
    let id = |prefix: &str| key.strip_prefix(prefix)?.parse::<u64>().ok();
    match domain {
        Domain::Benefit => Some((
            Domain::MemberBenefits,
            benefit_index_key(partition_id, id("benefit:")?),
        )),
        Domain::Item => Some((
            Domain::SellerItems,
            item_index_key(partition_id, id("item:")?),
        )),
        _ => None,
    }
}

impl std::str::FromStr for Domain {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|d| d.name() == s)
            .ok_or_else(|| format!("unknown domain `{s}` (member, seller, benefit, points, item)"))
    }
}

impl std::fmt::Display for Domain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Payload {
    /// The domain of the entity this payload changes (`None` for `Unknown`).
    pub fn domain(&self) -> Option<Domain> {
        match self {
            Payload::Unknown => None,
            Payload::Member(_) => Some(Domain::Member),
            Payload::Seller(_) => Some(Domain::Seller),
            Payload::Benefit(_) => Some(Domain::Benefit),
            Payload::Points(_) => Some(Domain::Points),
            Payload::Item(_) => Some(Domain::Item),
            Payload::Delete(t) => Some(t.domain),
        }
    }

    /// The entity key the payload implies (`member:42`); `None` for deletes (their key is
    /// the tombstone's) and `Unknown`.
    pub fn natural_key(&self) -> Option<String> {
        match self {
            Payload::Member(m) => Some(format!("member:{}", m.member_id)),
            Payload::Seller(s) => Some(format!("seller:{}", s.seller_id)),
            Payload::Benefit(b) => Some(format!("benefit:{}", b.benefit_id)),
            Payload::Points(p) => Some(format!("points:{}", p.member_id)),
            Payload::Item(i) => Some(format!("item:{}", i.item_id)),
            Payload::Unknown | Payload::Delete(_) => None,
        }
    }

    /// The key's prefix and id the payload implies (`("member:", 42)` for `member:42`),
    /// without building the string; `None` for deletes and `Unknown`.
    pub fn natural_key_parts(&self) -> Option<(&'static str, u64)> {
        match self {
            Payload::Member(m) => Some(("member:", m.member_id)),
            Payload::Seller(s) => Some(("seller:", s.seller_id)),
            Payload::Benefit(b) => Some(("benefit:", b.benefit_id)),
            Payload::Points(p) => Some(("points:", p.member_id)),
            Payload::Item(i) => Some(("item:", i.item_id)),
            Payload::Unknown | Payload::Delete(_) => None,
        }
    }

    /// The partition id the payload implies (the member or seller id), without building the
    /// string.
    pub fn natural_partition_id(&self) -> Option<u64> {
        match self {
            Payload::Member(m) => Some(m.member_id),
            Payload::Benefit(b) => Some(b.member_id),
            Payload::Points(p) => Some(p.member_id),
            Payload::Seller(s) => Some(s.seller_id),
            Payload::Item(i) => Some(i.seller_id),
            Payload::Unknown | Payload::Delete(_) => None,
        }
    }

    /// The partition key the payload implies (the member or seller id); `None` for deletes
    /// and `Unknown`.
    pub fn natural_partition_key(&self) -> Option<String> {
        match self {
            Payload::Member(m) => Some(m.member_id.to_string()),
            Payload::Benefit(b) => Some(b.member_id.to_string()),
            Payload::Points(p) => Some(p.member_id.to_string()),
            Payload::Seller(s) => Some(s.seller_id.to_string()),
            Payload::Item(i) => Some(i.seller_id.to_string()),
            Payload::Unknown | Payload::Delete(_) => None,
        }
    }
}
