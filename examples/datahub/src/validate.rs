//! The rules an event must follow to be taken: checked by the publisher (an invalid event is
//! answered `Invalid` and never written) and again by the listener's first stage (events
//! written to the log by other producers, or damaged, go to the dead-letter table).

use crate::model::{BenefitKind, Domain, Event, Payload};
use crate::partition::Group;

/// Longest accepted `event_id`.
pub const MAX_EVENT_ID: usize = 128;
/// Longest accepted `key` or `partition_key`.
pub const MAX_KEY: usize = 256;
/// Longest accepted name or title.
pub const MAX_NAME: usize = 200;

/// Checks `event` and returns its domain group, or why it is invalid (a sentence naming the
/// field and the rule).
pub fn validate(event: &Event) -> Result<Group, String> {
    if event.event_id.is_empty() {
        return Err("event_id is empty".into());
    }
    if event.event_id.len() > MAX_EVENT_ID {
        return Err(format!("event_id is longer than {MAX_EVENT_ID} bytes"));
    }
    if event.partition_key.is_empty() || event.partition_key.len() > MAX_KEY {
        return Err(format!("partition_key must be 1 to {MAX_KEY} bytes"));
    }
    if event.key.is_empty() || event.key.len() > MAX_KEY {
        return Err(format!("key must be 1 to {MAX_KEY} bytes"));
    }
    if event.source_version.is_some_and(|v| v > i64::MAX as u64) {
        return Err("source_version is above 2^63 - 1".into());
    }
    let Some(group) = Group::of_payload(&event.payload) else {
        return Err("payload is missing or of a kind this hub does not know".into());
    };
    payload_rules(&event.payload)?;
    match &event.payload {
        Payload::Delete(t) => {
            if t.key != event.key {
                return Err(format!(
                    "tombstone key `{}` differs from the event key `{}`",
                    t.key, event.key
                ));
            }
            if !t.key.starts_with(t.domain.key_prefix()) {
                return Err(format!(
                    "tombstone key `{}` is not a {} key (`{}…`)",
                    t.key,
                    t.domain,
                    t.domain.key_prefix()
                ));
            }
        }
        payload => {
            // Compared without building the expected strings: this runs for every event.
            let (prefix, id) = payload.natural_key_parts().unwrap_or(("", 0));
            let key_ok = event
                .key
                .strip_prefix(prefix)
                .is_some_and(|rest| is_decimal(rest, id));
            if !key_ok {
                return Err(format!(
                    "key `{}` does not match the payload (expected `{prefix}{id}`)",
                    event.key
                ));
            }
            let pk_ok = payload
                .natural_partition_id()
                .is_some_and(|id| is_decimal(&event.partition_key, id));
            if !pk_ok {
                let pk = payload.natural_partition_key().unwrap_or_default();
                return Err(format!(
                    "partition_key `{}` does not match the payload (expected `{pk}`: {} \
                     events are ordered by {} id)",
                    event.partition_key,
                    group,
                    group.name()
                ));
            }
        }
    }
    Ok(group)
}

fn payload_rules(payload: &Payload) -> Result<(), String> {
    match payload {
        Payload::Unknown => Err("payload is missing or of a kind this hub does not know".into()),
        Payload::Member(m) => {
            nonzero("member.member_id", m.member_id)?;
            name("member.name", &m.name)
        }
        Payload::Seller(s) => {
            nonzero("seller.seller_id", s.seller_id)?;
            name("seller.name", &s.name)?;
            if !(0.0..=5.0).contains(&s.rating) {
                return Err(format!("seller.rating {} is outside 0 to 5", s.rating));
            }
            Ok(())
        }
        Payload::Benefit(b) => {
            nonzero("benefit.benefit_id", b.benefit_id)?;
            nonzero("benefit.member_id", b.member_id)?;
            name("benefit.title", &b.title)?;
            match &b.kind {
                BenefitKind::Discount(pct) if !(1..=100).contains(pct) => Err(format!(
                    "benefit.kind.discount {pct} is outside 1 to 100 percent"
                )),
                BenefitKind::Coupon(code) if code.is_empty() => {
                    Err("benefit.kind.coupon is empty".into())
                }
                _ => Ok(()),
            }
        }
        Payload::Points(p) => nonzero("points.member_id", p.member_id),
        Payload::Item(i) => {
            nonzero("item.item_id", i.item_id)?;
            nonzero("item.seller_id", i.seller_id)?;
            name("item.name", &i.name)?;
            if !(0.0..=1.0).contains(&i.discount_rate) {
                return Err(format!(
                    "item.discount_rate {} is outside 0 to 1",
                    i.discount_rate
                ));
            }
            Ok(())
        }
        Payload::Delete(t) => match t.domain {
            Domain::Unspecified
            | Domain::PointsHistory
            | Domain::MemberBenefits
            | Domain::SellerItems => Err(format!(
                "tombstone.domain `{}` cannot be deleted by an event",
                t.domain
            )),
            _ => Ok(()),
        },
    }
}

/// Whether `s` is `n` written in canonical decimal (digits only, no leading zero).
fn is_decimal(s: &str, n: u64) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_digit())
        && (s == "0" || !s.starts_with('0'))
        && s.parse::<u64>() == Ok(n)
}

fn nonzero(field: &str, v: u64) -> Result<(), String> {
    if v == 0 {
        return Err(format!("{field} is 0"));
    }
    Ok(())
}

fn name(field: &str, v: &str) -> Result<(), String> {
    if v.is_empty() || v.len() > MAX_NAME {
        return Err(format!("{field} must be 1 to {MAX_NAME} bytes"));
    }
    Ok(())
}
