//! The `grpc-timeout` header: an integer of at most eight digits and a unit
//! (`H`, `M`, `S`, `m`, `u`, `n`).

use std::time::Duration;

/// Parses a `grpc-timeout` value; `None` if malformed.
pub(crate) fn parse_timeout(value: &str) -> Option<Duration> {
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    // Split as bytes: a value ending in a multi-byte character is malformed, not a panic.
    let (digits, unit) = value.as_bytes().split_at(value.len() - 1);
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(match unit {
        b"H" => Duration::from_secs(n.checked_mul(3600)?),
        b"M" => Duration::from_secs(n.checked_mul(60)?),
        b"S" => Duration::from_secs(n),
        b"m" => Duration::from_millis(n),
        b"u" => Duration::from_micros(n),
        b"n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// Formats a duration as the most precise `grpc-timeout` value that fits eight digits.
pub(crate) fn format_timeout(d: Duration) -> String {
    const MAX: u128 = 99_999_999;
    let nanos = d.as_nanos();
    if nanos <= MAX {
        return format!("{nanos}n");
    }
    let micros = d.as_micros();
    if micros <= MAX {
        return format!("{micros}u");
    }
    let millis = d.as_millis();
    if millis <= MAX {
        return format!("{millis}m");
    }
    let secs = u128::from(d.as_secs());
    if secs <= MAX {
        return format!("{secs}S");
    }
    format!("{}H", (secs / 3600).min(MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit_and_rejects_junk() {
        assert_eq!(parse_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_timeout("2M"), Some(Duration::from_secs(120)));
        assert_eq!(parse_timeout("3S"), Some(Duration::from_secs(3)));
        assert_eq!(parse_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_timeout("7u"), Some(Duration::from_micros(7)));
        assert_eq!(parse_timeout("9n"), Some(Duration::from_nanos(9)));
        for bad in [
            "",
            "m",
            "10",
            "-1m",
            "1x",
            "123456789m",
            "1.5S",
            "12é",
            "1\u{fffd}",
        ] {
            assert_eq!(parse_timeout(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_round_trip() {
        for d in [
            Duration::from_nanos(5),
            Duration::from_millis(1500),
            Duration::from_secs(86_400 * 400),
        ] {
            let text = format_timeout(d);
            let back = parse_timeout(&text).unwrap();
            assert!(
                back <= d && d - back < d / 1000 + Duration::from_nanos(1),
                "{d:?} {text}"
            );
        }
    }
}
