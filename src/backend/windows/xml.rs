//! Task Scheduler XML: written with quick-xml's writer (never pasted together as
//! strings), read back leniently.
//!
//! Windows registers XML as UTF-16 LE with a byte-order mark ([`to_utf16`]); the
//! writer produces the text with that declaration.

use std::io;
use std::time::Duration;

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};

use crate::tasksched::XmlError;

use super::triggers::{Days, LAST_WEEK, Trigger};
use crate::config::Overlap;
use crate::schedule::{DAY_NAMES as WEEKDAYS, MONTH_NAMES as MONTHS};
pub use crate::tasksched::{
    boot_trigger, event_trigger, idle_trigger, iso_duration, logon_trigger, parse_iso_duration,
    trigger_fragment,
};

pub const NAMESPACE: &str = "http://schemas.microsoft.com/windows/2004/02/mit/task";
/// `RegistrationInfo/Source` of every task orc manages: how plan tells them apart.
pub const SOURCE: &str = "orc";
/// The date part of every trigger's StartBoundary. Fixed, so that rendering is
/// deterministic and a re-plan never differs; with intervals of one day or week
/// only the time of day matters.
const START_DATE: &str = "2024-01-01";

/// Everything orc puts into one task's XML.
#[derive(Debug, Clone)]
pub struct TaskXml<'a> {
    /// The folder, without slashes ("Orc").
    pub folder: &'a str,
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub command: &'a str,
    pub arguments: &'a str,
    /// Where the action starts (`orc run` also goes there itself, and Task Scheduler's
    /// window shows it as "Start in").
    pub working_dir: Option<&'a str>,
    pub triggers: &'a [Trigger],
    /// Trigger elements given as XML (`triggers = [...]` in tasks.toml).
    pub raw_triggers: &'a [String],
    /// Fire at UTC times (`StartBoundary` with `Z`); otherwise the machine's local time.
    pub utc: bool,
    pub enabled: bool,
    pub overlap: Overlap,
    /// Start a missed run when the machine is available again.
    pub start_when_available: bool,
    pub random_delay: Option<Duration>,
    /// Task Scheduler's own limit, a safety net above orc's timeout.
    pub time_limit: Option<Duration>,
    pub principal: Principal,
    /// RunLevel HighestAvailable (elevated) instead of LeastPrivilege.
    pub highest: bool,
    /// Priority, power, network and visibility settings.
    pub settings: crate::config::WindowsSettings,
    /// EndBoundary of orc's calendar triggers (`expires`), `YYYY-MM-DDTHH:MM:SS`.
    pub end: Option<&'a str>,
}

/// Whom the task runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// LocalSystem (`S-1-5-18`), with no password to store.
    System,
    /// A user, only while logged on (InteractiveToken).
    Interactive(String),
    /// A user, whether logged on or not, without a stored password (S4U).
    S4u(String),
    /// A user, whether logged on or not; the password is given at registration,
    /// never in the XML (a gMSA's, none: the domain holds it).
    Password(String),
    /// LOCAL SERVICE or NETWORK SERVICE, by SID (a service-account logon).
    Service(String),
    /// Whoever of a group is logged on.
    Group(String),
}

/// The task as XML text (declared UTF-16, as Windows expects it once encoded).
pub fn render(task: &TaskXml) -> String {
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    // Writing to a Vec cannot fail.
    let _ = write_task(&mut writer, task);
    String::from_utf8(writer.into_inner()).unwrap_or_default()
}

/// The same XML declaring UTF-8, for printing it as UTF-8 text.
pub fn declared_utf8(xml: &str) -> String {
    xml.replacen(
        r#"<?xml version="1.0" encoding="UTF-16"?>"#,
        r#"<?xml version="1.0" encoding="UTF-8"?>"#,
        1,
    )
}

/// UTF-16 LE with a byte-order mark: what Task Scheduler registers.
pub fn to_utf16(xml: &str) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xFE];
    for unit in xml.encode_utf16() {
        bytes.extend_from_slice(&unit.to_le_bytes());
    }
    bytes
}

/// Task XML as text, its encoding told by its bytes, not by its declaration: Windows
/// exports UTF-16 LE with a BOM, and files re-saved by editors are often UTF-8 that
/// still declare `encoding="UTF-16"`.
pub fn decode(bytes: &[u8]) -> Result<String, XmlError> {
    let utf16 = |body: &[u8], big_endian: bool| -> Result<String, XmlError> {
        if !body.len().is_multiple_of(2) {
            return Err(XmlError::OddUtf16);
        }
        let units: Vec<u16> = body
            .chunks(2)
            .map(|b| {
                if big_endian {
                    u16::from_be_bytes([b[0], b[1]])
                } else {
                    u16::from_le_bytes([b[0], b[1]])
                }
            })
            .collect();
        Ok(String::from_utf16(&units)?)
    };
    match bytes {
        [0xFF, 0xFE, rest @ ..] => utf16(rest, false),
        [0xFE, 0xFF, rest @ ..] => utf16(rest, true),
        [0xEF, 0xBB, 0xBF, rest @ ..] => Ok(String::from_utf8(rest.to_vec())?),
        [b'<', 0, ..] => utf16(bytes, false),
        [0, b'<', ..] => utf16(bytes, true),
        _ => Ok(String::from_utf8(bytes.to_vec())?),
    }
}

fn text<W: io::Write>(w: &mut Writer<W>, name: &str, value: &str) -> io::Result<()> {
    w.create_element(name)
        .write_text_content(BytesText::new(value))?;
    Ok(())
}

fn write_task<W: io::Write>(w: &mut Writer<W>, task: &TaskXml) -> io::Result<()> {
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-16"), None)))?;
    w.create_element("Task")
        .with_attribute(("version", "1.2"))
        .with_attribute(("xmlns", NAMESPACE))
        .write_inner_content(|w| {
            w.create_element("RegistrationInfo")
                .write_inner_content(|w| {
                    text(w, "Source", SOURCE)?;
                    text(w, "Author", "orc")?;
                    let description = match task.description {
                        Some(d) => format!("{d} (managed by orc: edit tasks.toml, not this task)"),
                        None => "Managed by orc: edit tasks.toml, not this task".to_string(),
                    };
                    text(w, "Description", &description)?;
                    text(w, "URI", &format!("\\{}\\{}", task.folder, task.name))
                })?;
            w.create_element("Triggers").write_inner_content(|w| {
                for trigger in task.triggers {
                    write_trigger(w, trigger, task)?;
                }
                for fragment in task.raw_triggers {
                    write_fragment(w, fragment)?;
                }
                Ok(())
            })?;
            write_settings(w, task)?;
            w.create_element("Principals").write_inner_content(|w| {
                w.create_element("Principal")
                    .with_attribute(("id", "Author"))
                    .write_inner_content(|w| {
                        let (user, logon) = match &task.principal {
                            Principal::System => ("S-1-5-18", None),
                            Principal::Interactive(u) => (u.as_str(), Some("InteractiveToken")),
                            Principal::S4u(u) => (u.as_str(), Some("S4U")),
                            Principal::Password(u) => (u.as_str(), Some("Password")),
                            Principal::Service(a) if a == "NETWORK SERVICE" => ("S-1-5-20", None),
                            Principal::Service(a) if a == "LOCAL SERVICE" => ("S-1-5-19", None),
                            // Validation names only those two; anything else is not
                            // a service account to guess at.
                            Principal::Service(a) => (a.as_str(), None),
                            Principal::Group(g) => {
                                text(w, "GroupId", g)?;
                                ("", None)
                            }
                        };
                        if !user.is_empty() {
                            text(w, "UserId", user)?;
                        }
                        if let Some(logon) = logon {
                            text(w, "LogonType", logon)?;
                        }
                        let level = if task.highest {
                            "HighestAvailable"
                        } else {
                            "LeastPrivilege"
                        };
                        text(w, "RunLevel", level)
                    })?;
                Ok(())
            })?;
            w.create_element("Actions")
                .with_attribute(("Context", "Author"))
                .write_inner_content(|w| {
                    w.create_element("Exec").write_inner_content(|w| {
                        text(w, "Command", task.command)?;
                        text(w, "Arguments", task.arguments)?;
                        if let Some(dir) = task.working_dir {
                            text(w, "WorkingDirectory", dir)?;
                        }
                        Ok(())
                    })?;
                    Ok(())
                })?;
            Ok(())
        })?;
    Ok(())
}

fn write_settings<W: io::Write>(w: &mut Writer<W>, task: &TaskXml) -> io::Result<()> {
    w.create_element("Settings").write_inner_content(|w| {
        let policy = match task.overlap {
            Overlap::Skip => "IgnoreNew",
            Overlap::Queue => "Queue",
            Overlap::Allow => "Parallel",
            Overlap::Replace => "StopExisting",
        };
        let yes_no = |b: bool| if b { "true" } else { "false" };
        let s = &task.settings;
        text(w, "MultipleInstancesPolicy", policy)?;
        text(w, "DisallowStartIfOnBatteries", yes_no(!s.start_on_battery))?;
        text(w, "StopIfGoingOnBatteries", yes_no(s.stop_on_battery))?;
        text(
            w,
            "RunOnlyIfNetworkAvailable",
            yes_no(s.run_only_if_network),
        )?;
        text(w, "WakeToRun", yes_no(s.wake_to_run))?;
        text(w, "Hidden", yes_no(s.hidden))?;
        text(w, "Priority", &s.priority.to_string())?;
        text(
            w,
            "StartWhenAvailable",
            if task.start_when_available {
                "true"
            } else {
                "false"
            },
        )?;
        text(w, "Enabled", if task.enabled { "true" } else { "false" })?;
        let limit = task
            .time_limit
            .map_or_else(|| "PT0S".to_string(), iso_duration);
        text(w, "ExecutionTimeLimit", &limit)
    })?;
    Ok(())
}

fn write_trigger<W: io::Write>(w: &mut Writer<W>, t: &Trigger, task: &TaskXml) -> io::Result<()> {
    w.create_element("CalendarTrigger")
        .write_inner_content(|w| {
            if t.times.count > 1 {
                // Fires at start + k × interval while k × interval < duration: half an
                // interval past the last fire is unambiguous whichever way the end is read.
                let interval = u64::from(t.times.interval) * 60;
                let duration = interval * u64::from(t.times.count - 1) + interval / 2;
                w.create_element("Repetition").write_inner_content(|w| {
                    text(w, "Interval", &iso_duration(Duration::from_secs(interval)))?;
                    text(w, "Duration", &iso_duration(Duration::from_secs(duration)))?;
                    text(w, "StopAtDurationEnd", "false")
                })?;
            }
            let start = format!(
                "{START_DATE}T{:02}:{:02}:00{}",
                t.times.start / 60,
                t.times.start % 60,
                if task.utc { "Z" } else { "" }
            );
            text(w, "StartBoundary", &start)?;
            if let Some(end) = task.end {
                let z = if task.utc { "Z" } else { "" };
                text(w, "EndBoundary", &format!("{end}{z}"))?;
            }
            text(w, "Enabled", "true")?;
            if let Some(delay) = task.random_delay.filter(|d| !d.is_zero()) {
                text(w, "RandomDelay", &iso_duration(delay))?;
            }
            write_days(w, &t.days)
        })?;
    Ok(())
}

fn names<W: io::Write>(
    w: &mut Writer<W>,
    element: &str,
    bits: u32,
    first_bit: u32,
    all: &[&str],
) -> io::Result<()> {
    w.create_element(element).write_inner_content(|w| {
        for (i, name) in all.iter().enumerate() {
            if bits & (1 << (i as u32 + first_bit)) != 0 {
                w.create_element(*name).write_empty()?;
            }
        }
        Ok(())
    })?;
    Ok(())
}

fn write_days<W: io::Write>(w: &mut Writer<W>, days: &Days) -> io::Result<()> {
    match days {
        Days::Daily => {
            w.create_element("ScheduleByDay")
                .write_inner_content(|w| text(w, "DaysInterval", "1"))?;
        }
        Days::Weekly { weekdays } => {
            w.create_element("ScheduleByWeek")
                .write_inner_content(|w| {
                    text(w, "WeeksInterval", "1")?;
                    names(w, "DaysOfWeek", u32::from(*weekdays), 0, &WEEKDAYS)
                })?;
        }
        Days::Monthly { days, last, months } => {
            w.create_element("ScheduleByMonth")
                .write_inner_content(|w| {
                    w.create_element("DaysOfMonth").write_inner_content(|w| {
                        for day in 1..=31 {
                            if days & (1 << day) != 0 {
                                text(w, "Day", &day.to_string())?;
                            }
                        }
                        if *last {
                            text(w, "Day", "Last")?;
                        }
                        Ok(())
                    })?;
                    names(w, "Months", u32::from(*months), 1, &MONTHS)
                })?;
        }
        Days::MonthlyDayOfWeek {
            weeks,
            weekdays,
            months,
        } => {
            w.create_element("ScheduleByMonthDayOfWeek")
                .write_inner_content(|w| {
                    w.create_element("Weeks").write_inner_content(|w| {
                        for week in 1..=4 {
                            if weeks & (1 << week) != 0 {
                                text(w, "Week", &week.to_string())?;
                            }
                        }
                        if weeks & LAST_WEEK != 0 {
                            text(w, "Week", "Last")?;
                        }
                        Ok(())
                    })?;
                    names(w, "DaysOfWeek", u32::from(*weekdays), 0, &WEEKDAYS)?;
                    names(w, "Months", u32::from(*months), 1, &MONTHS)
                })?;
        }
    }
    Ok(())
}

/// Write a checked trigger fragment (see [`trigger_fragment`]) exactly as it is. Not
/// through the indenting writer: quick-xml reads text as pieces split at entity
/// references, and indentation written between the pieces would change values (an
/// event query `Data!=&apos;&apos;` became `Data!='\n    '`).
fn write_fragment<W: io::Write>(w: &mut Writer<W>, fragment: &str) -> io::Result<()> {
    w.get_mut().write_all(fragment.as_bytes())
}

/// The same task XML with `Settings/Enabled` set, everything else passed through event
/// by event: what "Disable" in the Task Scheduler GUI does to a task's file.
pub fn set_enabled(xml: &str, enabled: bool) -> Result<String, XmlError> {
    let value = if enabled { "true" } else { "false" };
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut writer = Writer::new(Vec::new());
    let mut path: Vec<String> = Vec::new();
    let mut seen = false;
    let in_settings = |path: &[String]| path.len() == 2 && path[1] == "Settings";
    let fail = |e: &dyn std::fmt::Display| XmlError::Edit(e.to_string());
    loop {
        let event = reader.read_event().map_err(|e| fail(&e))?;
        match &event {
            Event::Start(e) => path.push(e.local_name().as_ref().to_string()),
            Event::Empty(e) if in_settings(&path) && e.local_name().as_ref() == "Enabled" => {
                // `<Enabled/>`: replace it with a value.
                seen = true;
                writer
                    .create_element("Enabled")
                    .write_text_content(BytesText::new(value))
                    .map_err(|e| fail(&e))?;
                continue;
            }
            Event::Text(_) if path.len() == 3 && path[1] == "Settings" && path[2] == "Enabled" => {
                seen = true;
                writer
                    .write_event(Event::Text(BytesText::new(value)))
                    .map_err(|e| fail(&e))?;
                continue;
            }
            Event::End(_) => {
                if in_settings(&path) && !seen {
                    writer
                        .create_element("Enabled")
                        .write_text_content(BytesText::new(value))
                        .map_err(|e| fail(&e))?;
                    seen = true;
                }
                path.pop();
            }
            Event::Eof => break,
            _ => {}
        }
        writer.write_event(event).map_err(|e| fail(&e))?;
    }
    if !seen {
        return Err(XmlError::NoSettings);
    }
    String::from_utf8(writer.into_inner()).map_err(|e| fail(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_has_a_bom_and_little_endian_units() {
        assert_eq!(
            to_utf16("<a/>"),
            [0xFF, 0xFE, b'<', 0, b'a', 0, b'/', 0, b'>', 0]
        );
    }
}
