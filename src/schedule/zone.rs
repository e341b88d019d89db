//! Turning the `timezone` setting into a jiff time zone, once.

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

/// A task's time zone as written (`"local"`, `"UTC"`, `"Europe/Berlin"`) and resolved:
/// validation resolves it once, and `orc run`, the daemon, status and the missed-run
/// check use the same zone instead of each resolving the name again (and each
/// deciding what an unknown one means). Stored in a task's definition as its name.
#[derive(Debug, Clone)]
pub struct Zone {
    name: String,
    tz: TimeZone,
}

impl Zone {
    pub fn resolve(name: &str) -> Result<Zone, ZoneError> {
        Ok(Zone {
            name: name.to_string(),
            tz: resolve_zone(name)?,
        })
    }

    /// The machine's zone, as `"local"`.
    pub fn local() -> Zone {
        Zone {
            name: "local".to_string(),
            tz: TimeZone::system(),
        }
    }

    /// The name as written.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn tz(&self) -> &TimeZone {
        &self.tz
    }

    /// Written as UTC: Task Scheduler's triggers then carry a `Z`.
    pub fn is_utc(&self) -> bool {
        matches!(self.name.as_str(), "UTC" | "utc" | "Etc/UTC")
    }
}

impl Default for Zone {
    fn default() -> Zone {
        Zone::local()
    }
}

/// Two zones are the same setting when they are written the same.
impl PartialEq for Zone {
    fn eq(&self, other: &Zone) -> bool {
        self.name == other.name
    }
}

impl Eq for Zone {}

impl std::fmt::Display for Zone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(&self.name)
    }
}

impl serde::Serialize for Zone {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name)
    }
}

impl<'de> serde::Deserialize<'de> for Zone {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Zone, D::Error> {
        let name = String::deserialize(d)?;
        Zone::resolve(&name).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_once_and_round_trips_as_its_name() {
        let zone = Zone::resolve("Europe/Berlin").unwrap();
        assert_eq!(zone.tz().iana_name(), Some("Europe/Berlin"));
        let json = serde_json::to_string(&zone).unwrap();
        assert_eq!(json, "\"Europe/Berlin\"");
        let back: Zone = serde_json::from_str(&json).unwrap();
        assert_eq!(back, zone);
        assert!(serde_json::from_str::<Zone>("\"Mars/Olympus\"").is_err());
        assert!(Zone::resolve("utc").unwrap().is_utc());
        assert_eq!(Zone::default().name(), "local");
    }
}
