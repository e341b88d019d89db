//! Task Scheduler's vocabulary: the trigger elements, the well-known accounts, its
//! durations and how deep its XML may nest, as Microsoft's schema defines them.
//!
//! Below config (it imports only `schedule`, for the month names), so that config validation (which turns
//! `at_startup`, `on_event` and `triggers = [...]` into trigger elements) and the
//! Windows backend (which writes and reads whole tasks) share one definition without
//! config depending on a backend.

mod accounts;
mod triggers;

use std::time::Duration;

pub use accounts::{is_sid, is_system, service_account, well_known_name};
pub use triggers::{boot_trigger, event_trigger, idle_trigger, logon_trigger, trigger_fragment};

/// How deep task XML may nest. Microsoft's schema goes six levels down (Task,
/// Triggers, EventTrigger, ValueQueries, Value); a file anyone can write into the
/// folder must not take orc's stack or memory with 60,000.
pub const MAX_XML_DEPTH: usize = 32;

/// Why task XML (a whole task or one trigger element) cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum XmlError {
    #[error("not well-formed XML: {0}")]
    NotWellFormed(#[from] roxmltree::Error),
    #[error("the XML nests deeper than {MAX_XML_DEPTH} elements, which no task does")]
    TooDeep,
    #[error("the root element is <{0}>, not <Task>")]
    NotATask(String),
    #[error(
        "<WnfStateChangeTrigger> cannot be written: Microsoft's published task schema does not describe its contents, and orc writes only XML that the schema validates"
    )]
    Unwritable,
    #[error("<{0}> is not a Task Scheduler trigger element")]
    NotATrigger(String),
    #[error("<{child}> does not belong in <{parent}>")]
    Misplaced { child: String, parent: String },
    /// An element whose text is not the type the schema gives it.
    #[error("{element} \"{value}\" is not {expected}")]
    Value {
        element: String,
        value: String,
        expected: String,
    },
    /// A count or a day (`<DaysInterval>`, `<Day>`) that is not a number.
    #[error("{element}: \"{value}\" is not a number")]
    Number { element: String, value: String },
    #[error("UTF-16 text with an odd number of bytes")]
    OddUtf16,
    #[error("invalid UTF-16: {0}")]
    Utf16(#[from] std::string::FromUtf16Error),
    #[error("invalid UTF-8: {0}")]
    Utf8(#[from] std::string::FromUtf8Error),
    #[error("the task XML has no <Settings> element")]
    NoSettings,
    #[error("cannot edit the task XML: {0}")]
    Edit(String),
    /// Only as a program's bug would it happen: writing to memory fails.
    #[error("cannot write the XML: {0}")]
    Write(String),
}

impl XmlError {
    pub fn number(element: &str, value: &str) -> XmlError {
        XmlError::Number {
            element: element.to_string(),
            value: value.to_string(),
        }
    }

    /// `element`'s text `value` is not `expected` ("a number", "a duration").
    pub fn value(element: &str, value: &str, expected: impl Into<String>) -> XmlError {
        XmlError::Value {
            element: element.to_string(),
            value: value.to_string(),
            expected: expected.into(),
        }
    }
}

/// Refuse a document nested deeper than [`MAX_XML_DEPTH`]: each node's depth from
/// its parent's, in document order (parents come first), without recursion.
pub fn check_depth(doc: &roxmltree::Document) -> Result<(), XmlError> {
    let mut depth = vec![0usize; doc.descendants().count() + 1];
    for node in doc.descendants() {
        let here = node.parent().map_or(0, |p| depth[p.id().get_usize()] + 1);
        if here > MAX_XML_DEPTH {
            return Err(XmlError::TooDeep);
        }
        depth[node.id().get_usize()] = here;
    }
    Ok(())
}

/// `PT1H30M`, `P1D`, `PT45S`: xs:duration as Task Scheduler writes it.
pub fn iso_duration(d: Duration) -> String {
    let mut secs = d.as_secs();
    if secs == 0 {
        return "PT0S".to_string();
    }
    let days = secs / 86_400;
    secs %= 86_400;
    let mut out = String::from("P");
    if days > 0 {
        out.push_str(&format!("{days}D"));
    }
    if secs > 0 {
        out.push('T');
        for (unit, name) in [(3600, 'H'), (60, 'M'), (1, 'S')] {
            if secs >= unit {
                out.push_str(&format!("{}{name}", secs / unit));
                secs %= unit;
            }
        }
    }
    out
}

/// Read an xs:duration with days, hours, minutes and (fractional) seconds; years and
/// months have no fixed length and are refused.
pub fn parse_iso_duration(text: &str) -> Option<Duration> {
    let rest = text.trim().strip_prefix('P')?;
    let (date, time) = rest.split_once('T').unwrap_or((rest, ""));
    let mut secs = 0f64;
    let mut add = |part: &str, units: &[(char, f64)]| -> Option<()> {
        let mut number = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' {
                number.push(c);
                continue;
            }
            let (_, factor) = units.iter().find(|(u, _)| *u == c)?;
            secs += number.parse::<f64>().ok()? * factor;
            number.clear();
        }
        number.is_empty().then_some(())
    };
    add(date, &[('D', 86_400.0), ('W', 7.0 * 86_400.0)])?;
    add(time, &[('H', 3600.0), ('M', 60.0), ('S', 1.0)])?;
    Some(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_trip() {
        for (secs, text) in [
            (0, "PT0S"),
            (45, "PT45S"),
            (3600, "PT1H"),
            (5400, "PT1H30M"),
            (86_400, "P1D"),
            (90_061, "P1DT1H1M1S"),
        ] {
            assert_eq!(iso_duration(Duration::from_secs(secs)), text);
            assert_eq!(parse_iso_duration(text), Some(Duration::from_secs(secs)));
        }
        assert_eq!(
            parse_iso_duration("PT0.5S"),
            Some(Duration::from_millis(500))
        );
        assert_eq!(parse_iso_duration("P1M"), None, "months have no length");
        assert_eq!(parse_iso_duration("1H"), None);
    }
}
