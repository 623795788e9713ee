//! Benchmark payloads: deterministic, varied data (no all-zero fields that protobuf would
//! skip), scaled to a target size in bytes of the protobuf encoding.

use std::collections::BTreeMap;

use prost::Message as _;

/// The payload sizes every benchmark runs at: about 64 B, 1 KiB, 16 KiB, 256 KiB and 4 MiB.
pub const SIZES: [(&str, usize); 5] = [
    ("64B", 64),
    ("1KiB", 1024),
    ("16KiB", 16 * 1024),
    ("256KiB", 256 * 1024),
    ("4MiB", 4 * 1024 * 1024),
];

/// A small deterministic generator (SplitMix64), so every run sees the same data.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// A float in [0, 1).
    #[allow(clippy::cast_precision_loss)]
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Words from a small vocabulary, the way product names and reviews repeat words.
    pub fn words(&mut self, n: usize) -> String {
        const WORDS: &[&str] = &[
            "fresh", "organic", "apple", "delivery", "premium", "seoul", "coupon", "member",
            "gold", "sale", "limited", "bundle", "kitchen", "coffee", "bean", "roasted", "fast",
            "free", "shipping", "today", "review", "great", "quality", "price", "점심", "배송",
        ];
        let mut s = String::new();
        for i in 0..n {
            if i > 0 {
                s.push(' ');
            }
            s.push_str(WORDS[usize::try_from(self.below(WORDS.len() as u64)).unwrap_or(0)]);
        }
        s
    }
}

/// Grows `build(n)` until its protobuf encoding reaches `target` bytes (or `n` reaches 1 for
/// tiny targets). Size grows linearly in `n`, so one estimate and a short walk suffice.
pub fn scaled<T: prost::Message>(target: usize, build: impl Fn(usize) -> T) -> T {
    let one = build(1).encoded_len();
    let two = build(2).encoded_len();
    let per_item = two.saturating_sub(one).max(1);
    let mut n = (target.saturating_sub(one) / per_item + 1).max(1);
    while n > 1 && build(n).encoded_len() > target + per_item {
        n -= 1;
    }
    build(n)
}

// ---------------------------------------------------------------------------------------
// Numeric-heavy: time series samples.

/// One measurement.
#[arpc::message]
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Unix nanoseconds.
    pub ts: i64,
    /// The measured value.
    pub value: f64,
    /// Events in the interval.
    pub count: u32,
    /// Quality flags.
    pub flags: u32,
}

/// A batch of samples of one series.
#[arpc::message]
#[derive(Debug, Clone, PartialEq)]
pub struct NumericBatch {
    /// The series.
    pub series_id: u64,
    /// The samples.
    pub samples: Vec<Sample>,
    /// A latency histogram.
    pub histogram: Vec<u64>,
}

/// A numeric batch with `n` samples.
pub fn numeric(n: usize) -> NumericBatch {
    let mut r = Rng::new(1);
    let base = 1_763_000_000_000_000_000i64;
    NumericBatch {
        series_id: r.next_u64(),
        samples: (0..n)
            .map(|i| Sample {
                ts: base + i64::try_from(i).unwrap_or(0) * 1_000_000,
                value: r.unit() * 1000.0,
                count: u32::try_from(r.below(5000)).unwrap_or(0),
                flags: u32::try_from(r.below(8)).unwrap_or(0),
            })
            .collect(),
        histogram: (0..n.min(64)).map(|_| r.below(1 << 20)).collect(),
    }
}

/// prost mirror of [`Sample`].
#[derive(Clone, PartialEq, prost::Message)]
pub struct PSample {
    #[prost(int64, tag = "1")]
    ts: i64,
    #[prost(double, tag = "2")]
    value: f64,
    #[prost(uint32, tag = "3")]
    count: u32,
    #[prost(uint32, tag = "4")]
    flags: u32,
}

/// prost mirror of [`NumericBatch`].
#[derive(Clone, PartialEq, prost::Message)]
pub struct PNumericBatch {
    #[prost(uint64, tag = "1")]
    series_id: u64,
    #[prost(message, repeated, tag = "2")]
    samples: Vec<PSample>,
    #[prost(uint64, repeated, tag = "3")]
    histogram: Vec<u64>,
}

impl From<&NumericBatch> for PNumericBatch {
    fn from(b: &NumericBatch) -> Self {
        Self {
            series_id: b.series_id,
            samples: b
                .samples
                .iter()
                .map(|s| PSample {
                    ts: s.ts,
                    value: s.value,
                    count: s.count,
                    flags: s.flags,
                })
                .collect(),
            histogram: b.histogram.clone(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// String-heavy: documents.

/// A text record.
#[arpc::message]
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Key.
    pub key: String,
    /// Title.
    pub title: String,
    /// Body text.
    pub body: String,
    /// Tags.
    pub tags: Vec<String>,
}

/// A batch of text records.
#[arpc::message]
#[derive(Debug, Clone, PartialEq)]
pub struct TextBatch {
    /// The records.
    pub records: Vec<Record>,
}

/// A text batch with `n` records.
pub fn text(n: usize) -> TextBatch {
    let mut r = Rng::new(2);
    TextBatch {
        records: (0..n)
            .map(|i| Record {
                key: format!("doc-{i:08}"),
                title: r.words(4),
                body: r.words(20),
                tags: (0..3).map(|_| r.words(1)).collect(),
            })
            .collect(),
    }
}

/// prost mirror of [`Record`].
#[derive(Clone, PartialEq, prost::Message)]
pub struct PRecord {
    #[prost(string, tag = "1")]
    key: String,
    #[prost(string, tag = "2")]
    title: String,
    #[prost(string, tag = "3")]
    body: String,
    #[prost(string, repeated, tag = "4")]
    tags: Vec<String>,
}

/// prost mirror of [`TextBatch`].
#[derive(Clone, PartialEq, prost::Message)]
pub struct PTextBatch {
    #[prost(message, repeated, tag = "1")]
    records: Vec<PRecord>,
}

impl From<&TextBatch> for PTextBatch {
    fn from(b: &TextBatch) -> Self {
        Self {
            records: b
                .records
                .iter()
                .map(|r| PRecord {
                    key: r.key.clone(),
                    title: r.title.clone(),
                    body: r.body.clone(),
                    tags: r.tags.clone(),
                })
                .collect(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Nested: the display screen of a shopping app.

/// Membership grade.
#[arpc::message]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// The signed-in member.
#[arpc::message]
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// Member id.
    pub member_id: u64,
    /// Display name.
    pub name: String,
    /// Grade.
    pub grade: Grade,
    /// Email, if shared.
    pub email: Option<String>,
    /// Unix seconds.
    pub joined_at: i64,
}

/// The seller of the items on screen.
#[arpc::message]
#[derive(Debug, Clone, PartialEq)]
pub struct Seller {
    /// Seller id.
    pub seller_id: u64,
    /// Shop name.
    pub name: String,
    /// Average rating.
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
    /// Percent off.
    Discount(u32),
    /// A coupon code.
    Coupon(String),
}

/// A benefit shown to the member.
#[arpc::message]
#[derive(Debug, Clone, PartialEq)]
pub struct Benefit {
    /// Benefit id.
    pub benefit_id: u64,
    /// What it gives.
    pub kind: BenefitKind,
    /// Headline.
    pub title: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// One change of the point balance.
#[arpc::message]
#[derive(Debug, Clone, PartialEq)]
pub struct PointEntry {
    /// Unix seconds.
    pub at: i64,
    /// Change.
    pub delta: i32,
    /// Why.
    pub reason: String,
}

/// The member's points.
#[arpc::message]
#[derive(Debug, Clone, PartialEq)]
pub struct Points {
    /// Balance.
    pub balance: i64,
    /// Not yet confirmed.
    pub pending: i64,
    /// Recent changes.
    pub history: Vec<PointEntry>,
}

/// A product tile.
#[arpc::message]
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// Item id.
    pub item_id: u64,
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

/// Everything one screen of the app shows.
#[arpc::message]
#[derive(Debug, Clone, PartialEq)]
pub struct DisplayScreen {
    /// Screen id.
    pub screen_id: String,
    /// Who is looking.
    pub member: Member,
    /// Whose shop.
    pub seller: Seller,
    /// Benefits on offer.
    pub benefits: Vec<Benefit>,
    /// Points.
    pub points: Points,
    /// Items on screen.
    pub items: Vec<Item>,
}

/// A display screen with `n` items (and benefits and point entries growing with it). `n = 0`
/// is the smallest screen: member, seller and points only.
pub fn display(n: usize) -> DisplayScreen {
    let mut r = Rng::new(3);
    let n_i64 = i64::try_from(n).unwrap_or(0);
    DisplayScreen {
        screen_id: "home".into(),
        member: Member {
            member_id: 90_210,
            name: "Kim".into(),
            grade: Grade::Gold,
            email: (n > 0).then(|| "kim@example.com".into()),
            joined_at: 1_600_000_000,
        },
        seller: Seller {
            seller_id: 77,
            name: "Cafe".into(),
            rating: 4.5,
            badges: (0..n.min(3)).map(|_| r.words(1)).collect(),
        },
        benefits: (0..n.div_ceil(4))
            .map(|i| Benefit {
                benefit_id: 1000 + i as u64,
                kind: match i % 3 {
                    0 => BenefitKind::FreeShipping,
                    1 => BenefitKind::Discount(u32::try_from(r.below(50)).unwrap_or(0) + 5),
                    _ => BenefitKind::Coupon(format!("SAVE{}", r.below(10_000))),
                },
                title: r.words(3),
                expires_at: 1_770_000_000 + i64::try_from(r.below(1 << 20)).unwrap_or(0),
            })
            .collect(),
        points: Points {
            balance: 12_500 + n_i64,
            pending: 300,
            history: (0..n.div_ceil(2))
                .map(|i| PointEntry {
                    at: 1_760_000_000 + i64::try_from(i).unwrap_or(0) * 3600,
                    delta: i32::try_from(r.below(2000)).unwrap_or(0) - 1000,
                    reason: r.words(2),
                })
                .collect(),
        },
        items: (0..n)
            .map(|i| Item {
                item_id: 5_000_000 + r.below(1_000_000),
                name: r.words(5),
                price: 1000 + r.below(200_000),
                #[allow(clippy::cast_possible_truncation)]
                discount_rate: (r.unit() * 0.5) as f32,
                stock: u32::try_from(r.below(500)).unwrap_or(0),
                image_url: format!("https://img.example.com/items/{i}/{}.jpg", r.below(1 << 30)),
                attributes: (0..2).map(|k| (format!("attr{k}"), r.words(1))).collect(),
            })
            .collect(),
    }
}

/// prost mirror of [`Member`].
#[derive(Clone, PartialEq, prost::Message)]
pub struct PMember {
    #[prost(uint64, tag = "1")]
    member_id: u64,
    #[prost(string, tag = "2")]
    name: String,
    #[prost(int32, tag = "3")]
    grade: i32,
    #[prost(string, optional, tag = "4")]
    email: Option<String>,
    #[prost(int64, tag = "5")]
    joined_at: i64,
}

/// prost mirror of [`Seller`].
#[derive(Clone, PartialEq, prost::Message)]
pub struct PSeller {
    #[prost(uint64, tag = "1")]
    seller_id: u64,
    #[prost(string, tag = "2")]
    name: String,
    #[prost(float, tag = "3")]
    rating: f32,
    #[prost(string, repeated, tag = "4")]
    badges: Vec<String>,
}

/// prost mirror of [`BenefitKind`]'s oneof.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum PBenefitKindValue {
    /// Free shipping.
    #[prost(message, tag = "1")]
    FreeShipping(()),
    /// Percent off.
    #[prost(uint32, tag = "2")]
    Discount(u32),
    /// Coupon.
    #[prost(string, tag = "3")]
    Coupon(String),
}

/// prost mirror of [`BenefitKind`].
#[derive(Clone, PartialEq, prost::Message)]
pub struct PBenefitKind {
    #[prost(oneof = "PBenefitKindValue", tags = "1, 2, 3")]
    value: Option<PBenefitKindValue>,
}

/// prost mirror of [`Benefit`].
#[derive(Clone, PartialEq, prost::Message)]
pub struct PBenefit {
    #[prost(uint64, tag = "1")]
    benefit_id: u64,
    #[prost(message, optional, tag = "2")]
    kind: Option<PBenefitKind>,
    #[prost(string, tag = "3")]
    title: String,
    #[prost(int64, tag = "4")]
    expires_at: i64,
}

/// prost mirror of [`PointEntry`].
#[derive(Clone, PartialEq, prost::Message)]
pub struct PPointEntry {
    #[prost(int64, tag = "1")]
    at: i64,
    #[prost(int32, tag = "2")]
    delta: i32,
    #[prost(string, tag = "3")]
    reason: String,
}

/// prost mirror of [`Points`].
#[derive(Clone, PartialEq, prost::Message)]
pub struct PPoints {
    #[prost(int64, tag = "1")]
    balance: i64,
    #[prost(int64, tag = "2")]
    pending: i64,
    #[prost(message, repeated, tag = "3")]
    history: Vec<PPointEntry>,
}

/// prost mirror of [`Item`].
#[derive(Clone, PartialEq, prost::Message)]
pub struct PItem {
    #[prost(uint64, tag = "1")]
    item_id: u64,
    #[prost(string, tag = "2")]
    name: String,
    #[prost(uint64, tag = "3")]
    price: u64,
    #[prost(float, tag = "4")]
    discount_rate: f32,
    #[prost(uint32, tag = "5")]
    stock: u32,
    #[prost(string, tag = "6")]
    image_url: String,
    #[prost(btree_map = "string, string", tag = "7")]
    attributes: BTreeMap<String, String>,
}

/// prost mirror of [`DisplayScreen`].
#[derive(Clone, PartialEq, prost::Message)]
pub struct PDisplayScreen {
    #[prost(string, tag = "1")]
    screen_id: String,
    #[prost(message, optional, tag = "2")]
    member: Option<PMember>,
    #[prost(message, optional, tag = "3")]
    seller: Option<PSeller>,
    #[prost(message, repeated, tag = "4")]
    benefits: Vec<PBenefit>,
    #[prost(message, optional, tag = "5")]
    points: Option<PPoints>,
    #[prost(message, repeated, tag = "6")]
    items: Vec<PItem>,
}

impl From<&DisplayScreen> for PDisplayScreen {
    fn from(d: &DisplayScreen) -> Self {
        let m = &d.member;
        let s = &d.seller;
        Self {
            screen_id: d.screen_id.clone(),
            member: Some(PMember {
                member_id: m.member_id,
                name: m.name.clone(),
                grade: m.grade as i32,
                email: m.email.clone(),
                joined_at: m.joined_at,
            }),
            seller: Some(PSeller {
                seller_id: s.seller_id,
                name: s.name.clone(),
                rating: s.rating,
                badges: s.badges.clone(),
            }),
            benefits: d
                .benefits
                .iter()
                .map(|b| PBenefit {
                    benefit_id: b.benefit_id,
                    kind: Some(PBenefitKind {
                        value: Some(match &b.kind {
                            BenefitKind::FreeShipping => PBenefitKindValue::FreeShipping(()),
                            BenefitKind::Discount(p) => PBenefitKindValue::Discount(*p),
                            BenefitKind::Coupon(c) => PBenefitKindValue::Coupon(c.clone()),
                        }),
                    }),
                    title: b.title.clone(),
                    expires_at: b.expires_at,
                })
                .collect(),
            points: Some(PPoints {
                balance: d.points.balance,
                pending: d.points.pending,
                history: d
                    .points
                    .history
                    .iter()
                    .map(|h| PPointEntry {
                        at: h.at,
                        delta: h.delta,
                        reason: h.reason.clone(),
                    })
                    .collect(),
            }),
            items: d
                .items
                .iter()
                .map(|i| PItem {
                    item_id: i.item_id,
                    name: i.name.clone(),
                    price: i.price,
                    discount_rate: i.discount_rate,
                    stock: i.stock,
                    image_url: i.image_url.clone(),
                    attributes: i.attributes.clone(),
                })
                .collect(),
        }
    }
}

/// The benchmark shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// [`NumericBatch`].
    Numeric,
    /// [`TextBatch`].
    Text,
    /// [`DisplayScreen`].
    Display,
}

impl Shape {
    /// All shapes.
    pub const ALL: [Shape; 3] = [Shape::Numeric, Shape::Text, Shape::Display];

    /// Short name used in results.
    pub fn name(self) -> &'static str {
        match self {
            Shape::Numeric => "numeric",
            Shape::Text => "text",
            Shape::Display => "display",
        }
    }
}

/// Checks that a mirror encodes to the same bytes length as the arpc type: the reference
/// comparison is only fair if both write the same message.
pub fn same_size<A: arpc::Message, P: prost::Message>(a: &A, p: &P) -> bool {
    a.encoded_len() == p.encoded_len()
}

/// Builds the display-screen payload at about `target` bytes.
pub fn display_at(target: usize) -> DisplayScreen {
    if display(0).encoded_len() >= target {
        return display(0);
    }
    scaled(target, display)
}

/// Builds the numeric payload at about `target` bytes.
pub fn numeric_at(target: usize) -> NumericBatch {
    scaled(target, numeric)
}

/// Builds the text payload at about `target` bytes.
pub fn text_at(target: usize) -> TextBatch {
    scaled(target, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrors_encode_the_same_bytes_as_arpc_types() {
        for (_, size) in &SIZES[..3] {
            let d = display_at(*size);
            assert!(same_size(&d, &PDisplayScreen::from(&d)));
            let n = numeric_at(*size);
            assert!(same_size(&n, &PNumericBatch::from(&n)));
            let t = text_at(*size);
            assert!(same_size(&t, &PTextBatch::from(&t)));
            // And prost reads ours into an equal mirror.
            let mut buf = bytes::BytesMut::new();
            arpc::codec::CodecKind::Proto.encode(&d, &mut buf).unwrap();
            assert_eq!(
                PDisplayScreen::decode(buf.freeze()).unwrap(),
                PDisplayScreen::from(&d)
            );
        }
    }

    #[test]
    fn payloads_land_near_their_target_size() {
        for (_, size) in &SIZES[1..4] {
            for len in [
                numeric_at(*size).encoded_len(),
                text_at(*size).encoded_len(),
                display_at(*size).encoded_len(),
            ] {
                assert!(
                    len * 10 >= size * 8 && len * 10 <= size * 12,
                    "{len} vs {size}"
                );
            }
        }
    }
}
