//! Durations as users write them: whole seconds (`3600`) or `"90s"`, `"5m"`, `"1h30m"`;
//! and sizes: bytes or `"512KB"`, `"10MB"`, `"1GB"`.

use std::time::Duration;

/// Text that is not a duration (`"5 minutes"`, `"30m1h"`), or one too long to count.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "\"{text}\" is not a duration; write whole seconds (3600) or a number with a \
     unit: \"90s\", \"5m\", \"1h\", \"2d\", or combined like \"1h30m\""
)]
pub struct BadDuration {
    pub text: String,
}

/// Text that is not a size (`"1.5MB"`, `"10TB"`), or one too large to count.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "\"{text}\" is not a size; write bytes (1048576) or a number with a unit: \"512KB\", \"10MB\", \"1GB\""
)]
pub struct BadSize {
    pub text: String,
}

/// Parse `"90s"`, `"5m"`, `"1h"`, `"2d"`, or a combination such as `"1h30m"`.
/// A bare number string is seconds. Units are s, m, h, d; nothing else, so that
/// "1M" (month? minute?) can never be misread.
pub fn parse_duration(text: &str) -> Result<Duration, BadDuration> {
    let text = text.trim();
    let bad = || BadDuration {
        text: text.to_string(),
    };
    if text.is_empty() {
        return Err(bad());
    }
    if text.chars().all(|c| c.is_ascii_digit()) {
        return text.parse().map(Duration::from_secs).map_err(|_| bad());
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    let mut last_unit = u64::MAX;
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(bad()),
        };
        // Each unit once, largest first: "1h30m", not "30m1h" or "1h1h".
        if digits.is_empty() || unit >= last_unit {
            return Err(bad());
        }
        last_unit = unit;
        let n: u64 = digits.parse().map_err(|_| bad())?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
        digits.clear();
    }
    if !digits.is_empty() {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

/// Render a duration the way users write it: `"1h30m"`, `"45s"`, `"0s"`.
pub fn format_duration(d: Duration) -> String {
    let mut secs = d.as_secs();
    if secs == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    for (unit, name) in [(86_400, 'd'), (3600, 'h'), (60, 'm'), (1, 's')] {
        if secs >= unit {
            out.push_str(&format!("{}{name}", secs / unit));
            secs %= unit;
        }
    }
    out
}

/// Parse a size: bytes (`"1048576"`) or a number with a binary unit, `K`, `M` or `G`,
/// optionally followed by `B` or `iB` (`"512KB"`, `"10MB"`, `"1GiB"`; 1 KB = 1024 bytes,
/// as log sizes are usually meant).
pub fn parse_size(text: &str) -> Result<u64, BadSize> {
    let bad = || BadSize {
        text: text.to_string(),
    };
    let trimmed = text.trim();
    let digits_end = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(digits_end);
    let number: u64 = number.parse().map_err(|_| bad())?;
    let factor: u64 = match unit.trim_start().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        _ => return Err(bad()),
    };
    number.checked_mul(factor).ok_or_else(bad)
}

/// Render a size the way users write it, exactly: `"2GB"`, `"512MB"`, `"1000"` (bytes
/// when no unit divides it); [`parse_size`] reads it back to the same number.
pub fn format_size(bytes: u64) -> String {
    for (shift, unit) in [(30, "GB"), (20, "MB"), (10, "KB")] {
        if bytes != 0 && bytes.is_multiple_of(1 << shift) {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    bytes.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("512KB"), Ok(512 << 10));
        assert_eq!(parse_size("10 MB"), Ok(10 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        for bad in ["", "MB", "1.5MB", "10TB", "-1", "5 megabytes"] {
            assert!(parse_size(bad).is_err(), "{bad:?} should be rejected");
        }
        for bytes in [
            0,
            1000,
            1 << 10,
            3 << 20,
            2 << 30,
            (1 << 30) + (1 << 20),
            1536,
        ] {
            let text = format_size(bytes);
            assert_eq!(parse_size(&text), Ok(bytes), "{text} reads back");
        }
        assert_eq!(format_size(2 << 30), "2GB");
        assert_eq!(format_size(1536), "1536");
    }

    #[test]
    fn accepts_units_and_combinations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        assert_eq!(parse_duration("3600"), Ok(Duration::from_secs(3600)));
    }

    #[test]
    fn rejects_ambiguous_or_malformed() {
        for bad in [
            "",
            "1M",
            "5 m",
            "m",
            "1.5h",
            "30m1h",
            "1h1h",
            "-5s",
            "5mins",
            "99999999999999999999d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn formats_round_trip() {
        for s in ["0s", "45s", "1h30m", "2d", "1d1h1m1s"] {
            assert_eq!(format_duration(parse_duration(s).unwrap()), s);
        }
    }
}
