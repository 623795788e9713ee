//! A screen from two owners' rows: what one shard read of the member's partition and one of
//! the seller's partition return, decoded once (and cached decoded), and composed per call.

use arpc::Status;

use super::cache::Weighted;
use crate::model::{
    Benefit, DisplayScreen, Domain, ItemRow, MemberRow, PointsHistoryRow, PointsRow, RowVersion,
    Seller,
};
use crate::store::{ReadPart, Row};

/// Point changes a screen shows.
pub const HISTORY: u32 = 10;
/// Benefits a screen shows at most.
pub const BENEFITS: u32 = 50;
/// Items a screen can ask for.
pub const MAX_ITEMS: u32 = 100;

/// A row's version as a screen reports it, with whether it is a tombstone (a deleted entity
/// is not shown, but its version still satisfies a `min_version` on it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The entity key.
    pub key: String,
    /// Its version.
    pub version: u64,
    /// Deleted at that version.
    pub deleted: bool,
}

/// A member's part of a screen.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MemberPart {
    /// Profile.
    pub member: Option<MemberRow>,
    /// Balance.
    pub points: Option<PointsRow>,
    /// Latest changes, newest first.
    pub history: Vec<PointsHistoryRow>,
    /// Benefits.
    pub benefits: Vec<Benefit>,
    /// Versions of the entities read.
    pub seen: Vec<Seen>,
    bytes: u32,
}

/// A seller's part of a screen.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SellerPart {
    /// Shop.
    pub seller: Option<Seller>,
    /// Items, highest id first.
    pub items: Vec<ItemRow>,
    /// Versions of the entities read.
    pub seen: Vec<Seen>,
    bytes: u32,
}

/// Either part, as cached.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    /// A member's.
    Member(MemberPart),
    /// A seller's.
    Seller(SellerPart),
}

impl Weighted for Part {
    fn weight(&self) -> u32 {
        match self {
            Part::Member(m) => m.bytes,
            Part::Seller(s) => s.bytes,
        }
    }
}

impl Part {
    /// The versions it saw.
    pub fn seen(&self) -> &[Seen] {
        match self {
            Part::Member(m) => &m.seen,
            Part::Seller(s) => &s.seen,
        }
    }
}

/// What to read of a member's partition.
pub fn member_reads(member_id: u64) -> Vec<ReadPart> {
    vec![
        ReadPart::Key(Domain::Member, format!("member:{member_id}")),
        ReadPart::Key(Domain::Points, format!("points:{member_id}")),
        ReadPart::Prefix {
            domain: Domain::PointsHistory,
            prefix: format!("points:{member_id}:"),
            limit: HISTORY,
        },
        ReadPart::Prefix {
            domain: Domain::MemberBenefits,
            prefix: format!("benefits:{member_id}:"),
            limit: BENEFITS,
        },
    ]
}

/// What to read of a seller's partition.
pub fn seller_reads(seller_id: u64) -> Vec<ReadPart> {
    vec![
        ReadPart::Key(Domain::Seller, format!("seller:{seller_id}")),
        ReadPart::Prefix {
            domain: Domain::SellerItems,
            prefix: format!("items:{seller_id}:"),
            limit: MAX_ITEMS,
        },
    ]
}

fn decode<T: arpc::Message>(row: &Row) -> Result<T, Status> {
    arpc::codec::CodecKind::Proto
        .decode(row.payload.clone())
        .map_err(|e| Status::internal(format!("stored row {} does not decode: {e}", row.key)))
}

fn seen(key: String, row: &Row) -> Seen {
    Seen {
        key,
        version: row.version(),
        deleted: row.deleted,
    }
}

fn weight(rows: &[Row]) -> u32 {
    let bytes: usize = rows
        .iter()
        .map(|r| r.payload.len() + r.key.len() + 64)
        .sum();
    u32::try_from(bytes + 128).unwrap_or(u32::MAX)
}

/// Decodes a member's rows (what [`member_reads`] returned).
pub fn member_part(rows: &[Row]) -> Result<MemberPart, Status> {
    let mut part = MemberPart {
        bytes: weight(rows),
        ..MemberPart::default()
    };
    for row in rows {
        match row.domain {
            Domain::Member => {
                part.seen.push(seen(row.key.clone(), row));
                if !row.deleted {
                    part.member = Some(decode(row)?);
                }
            }
            Domain::Points => {
                part.seen.push(seen(row.key.clone(), row));
                if !row.deleted {
                    part.points = Some(decode(row)?);
                }
            }
            Domain::PointsHistory if !row.deleted => part.history.push(decode(row)?),
            Domain::MemberBenefits => {
                let id = index_id(&row.key);
                part.seen.push(seen(format!("benefit:{id}"), row));
                if !row.deleted {
                    part.benefits.push(decode(row)?);
                }
            }
            _ => {}
        }
    }
    Ok(part)
}

/// Decodes a seller's rows (what [`seller_reads`] returned).
pub fn seller_part(rows: &[Row]) -> Result<SellerPart, Status> {
    let mut part = SellerPart {
        bytes: weight(rows),
        ..SellerPart::default()
    };
    for row in rows {
        match row.domain {
            Domain::Seller => {
                part.seen.push(seen(row.key.clone(), row));
                if !row.deleted {
                    part.seller = Some(decode(row)?);
                }
            }
            Domain::SellerItems => {
                let id = index_id(&row.key);
                part.seen.push(seen(format!("item:{id}"), row));
                if !row.deleted {
                    part.items.push(decode(row)?);
                }
            }
            _ => {}
        }
    }
    Ok(part)
}

/// The entity id at the end of an index key (`benefits:42:00000000000000000007` → 7).
fn index_id(key: &str) -> u64 {
    key.rsplit(':')
        .next()
        .and_then(|id| id.parse().ok())
        .unwrap_or(0)
}

/// The screen of a member part and a seller part, with `items` items.
pub fn compose(member: &MemberPart, seller: &SellerPart, items: u32) -> DisplayScreen {
    let items = seller.items.iter().take(items as usize).cloned().collect();
    let versions = member
        .seen
        .iter()
        .chain(&seller.seen)
        .filter(|s| !s.deleted)
        .map(|s| RowVersion {
            key: s.key.clone(),
            version: s.version,
        })
        .collect();
    DisplayScreen {
        member: member.member.clone(),
        points: member.points.clone(),
        history: member.history.clone(),
        benefits: member.benefits.clone(),
        seller: seller.seller.clone(),
        items,
        versions,
    }
}
