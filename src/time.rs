//! Time: Unix seconds everywhere, RFC 3339 for people, `8760h`-style durations.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in Unix seconds.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `2020-07-24T03:52:22Z`, or the raw number when it is out of range.
pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("@{unix}"))
}

/// A duration flag that is not a positive number and a unit.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error(
    "invalid duration {0:?}: expected a positive whole number followed by ms, s, m, h or d (e.g. 8760h)"
)]
pub struct DurationError(String);

/// Parses a duration such as `30s`, `15m`, `8760h` or `365d` into seconds.
pub(crate) fn parse_duration(s: &str) -> Result<u64, DurationError> {
    let bad = || DurationError(crate::oci::digest::shorten(s));
    let unit = s.chars().last().ok_or_else(bad)?;
    let factor = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86400,
        _ => return Err(bad()),
    };
    let n: u64 = s[..s.len() - 1].parse().map_err(|_| bad())?;
    if n == 0 {
        return Err(bad());
    }
    n.checked_mul(factor).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("8760h"), Ok(8760 * 3600));
        assert_eq!(parse_duration("30s"), Ok(30));
        assert_eq!(parse_duration("2d"), Ok(172800));
        assert_eq!(parse_duration("5m"), Ok(300));
        for bad in ["", "h", "0h", "-1h", "1y", "1.5h", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn formats_rfc3339() {
        assert_eq!(rfc3339(1595562742), "2020-07-24T03:52:22Z");
    }
}
