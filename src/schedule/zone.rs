//! Turning the `timezone` setting into a jiff time zone.

use jiff::tz::TimeZone;

#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown time zone \"{0}\"; use \"local\" or an IANA name such as \"Europe/Berlin\"")]
pub struct ZoneError(pub String);

/// "local" (or empty) is the machine's zone; anything else must be an IANA name.
pub fn resolve_zone(name: &str) -> Result<TimeZone, ZoneError> {
    match name {
        "" | "local" => Ok(TimeZone::system()),
        "UTC" | "utc" => Ok(TimeZone::UTC),
        _ => TimeZone::get(name).map_err(|_| ZoneError(name.to_string())),
    }
}
