//! Reading task XML as Windows returns it: lenient about encoding declarations,
//! element order, defaults left out and other spellings of dates and durations.
//!
//! The document is read into a tree (roxmltree) and queried by element name, so the
//! order of children and unknown elements do not matter. Values Windows may omit take
//! the defaults Microsoft's schema gives them.

use std::time::Duration;

use jiff::civil::DateTime;
use roxmltree::{Document, Node};

use super::triggers::{ALL_DAYS, ALL_MONTHS, ALL_WEEKS, LAST_WEEK};
use crate::schedule::{DAY_NAMES as WEEKDAYS, MONTH_NAMES as MONTHS};
use crate::tasksched::{XmlError, check_depth, parse_iso_duration};

/// One task, as much of it as orc models; the rest is kept by Windows, untouched.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReadTask {
    pub uri: Option<String>,
    pub source: Option<String>,
    pub author: Option<String>,
    pub description: Option<String>,
    pub triggers: Vec<ReadTrigger>,
    /// Settings/Enabled (default true).
    pub enabled: bool,
    /// Settings/MultipleInstancesPolicy (default IgnoreNew).
    pub instances: String,
    /// Settings/StartWhenAvailable (default false).
    pub start_when_available: bool,
    /// Settings/ExecutionTimeLimit (default 72 hours); `None` for no limit (PT0S).
    pub time_limit: Option<Duration>,
    pub principal: ReadPrincipal,
    pub actions: Vec<ReadAction>,
    /// Priority, power, network and visibility, with the schema's defaults.
    pub settings: crate::config::WindowsSettings,
}

/// The principal the actions run as.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReadPrincipal {
    pub user: Option<String>,
    pub group: Option<String>,
    pub logon_type: Option<String>,
    /// RunLevel (default LeastPrivilege).
    pub highest: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadAction {
    Exec {
        command: String,
        arguments: Option<String>,
        working_directory: Option<String>,
    },
    /// ComHandler, SendEmail, ShowMessage: kept and shown, not modelled.
    Other {
        kind: String,
        detail: Option<String>,
    },
}

/// A trigger: what the simulator and drift need, in Task Scheduler's own terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadTrigger {
    /// `StartBoundary`: the first day and the time of day.
    pub start: DateTime,
    /// `StartBoundary` ended in `Z` (or an offset): UTC, not local time.
    pub utc: bool,
    pub end: Option<DateTime>,
    pub enabled: bool,
    /// Repetition Interval, and Duration (`None`: indefinitely).
    pub repetition: Option<(Duration, Option<Duration>)>,
    pub random_delay: Option<Duration>,
    pub schedule: ReadSchedule,
    /// Every other value of the trigger, by its path below the trigger element
    /// (`Delay`, `Subscription`, `ValueQueries/Value[name]`), in document order and
    /// trimmed: what plan compares besides the schedule (see `describe`).
    pub rest: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadSchedule {
    /// TimeTrigger: once, at `start`.
    Once,
    Daily {
        every: u32,
    },
    Weekly {
        every: u32,
        weekdays: u8,
    },
    Monthly {
        days: u32,
        last: bool,
        months: u16,
    },
    MonthlyDayOfWeek {
        weeks: u8,
        weekdays: u8,
        months: u16,
    },
    /// A trigger orc does not model (Boot, Logon, Event, …), by element name.
    Other(String),
}

fn child<'a, 'i>(node: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    node.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

fn elements<'a, 'i>(node: Node<'a, 'i>) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children().filter(Node::is_element)
}

/// The trimmed text of `node/name`, if present and not empty.
fn text(node: Node, name: &str) -> Option<String> {
    child(node, name)
        .and_then(|c| c.text())
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

fn boolean(node: Node, name: &str, default: bool) -> bool {
    match text(node, name).as_deref() {
        Some("true") | Some("1") => true,
        Some("false") | Some("0") => false,
        _ => default,
    }
}

fn duration(node: Node, name: &str) -> Result<Option<Duration>, XmlError> {
    text(node, name)
        .map(|t| parse_iso_duration(&t).ok_or_else(|| XmlError::value(name, &t, "a duration")))
        .transpose()
}

/// Parse task XML as exported (a DTD allowed; the declaration may claim UTF-16 for
/// text that is now a Rust string).
pub fn parse_document(xml: &str) -> Result<Document<'_>, XmlError> {
    let doc = Document::parse_with_options(
        xml,
        roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        },
    )?;
    check_depth(&doc)?;
    Ok(doc)
}

/// What Microsoft's schema says a task without these settings does: priority 7
/// (below normal), no start on battery, stopped when going on battery.
pub const SCHEMA_DEFAULTS: crate::config::WindowsSettings = crate::config::WindowsSettings {
    priority: 7,
    wake_to_run: false,
    run_only_if_network: false,
    start_on_battery: false,
    stop_on_battery: true,
    hidden: false,
};

/// Read one task's XML (already decoded to text: see [`super::xml::decode`]).
pub fn read_task(xml: &str) -> Result<ReadTask, XmlError> {
    let doc = parse_document(xml)?;
    let root = doc.root_element();
    if root.tag_name().name() != "Task" {
        return Err(XmlError::NotATask(root.tag_name().name().to_string()));
    }
    let mut task = ReadTask {
        enabled: true,
        instances: "IgnoreNew".to_string(),
        time_limit: Some(Duration::from_secs(72 * 3600)),
        settings: SCHEMA_DEFAULTS,
        ..ReadTask::default()
    };
    if let Some(info) = child(root, "RegistrationInfo") {
        task.uri = text(info, "URI");
        task.source = text(info, "Source");
        task.author = text(info, "Author");
        task.description = text(info, "Description");
    }
    if let Some(triggers) = child(root, "Triggers") {
        for t in elements(triggers) {
            task.triggers.push(read_trigger(t)?);
        }
    }
    if let Some(settings) = child(root, "Settings") {
        task.enabled = boolean(settings, "Enabled", true);
        if let Some(policy) = text(settings, "MultipleInstancesPolicy") {
            task.instances = policy;
        }
        task.start_when_available = boolean(settings, "StartWhenAvailable", false);
        let d = SCHEMA_DEFAULTS;
        task.settings = crate::config::WindowsSettings {
            priority: text(settings, "Priority")
                .and_then(|p| p.parse().ok())
                .unwrap_or(d.priority),
            wake_to_run: boolean(settings, "WakeToRun", d.wake_to_run),
            run_only_if_network: boolean(
                settings,
                "RunOnlyIfNetworkAvailable",
                d.run_only_if_network,
            ),
            start_on_battery: !boolean(settings, "DisallowStartIfOnBatteries", !d.start_on_battery),
            stop_on_battery: boolean(settings, "StopIfGoingOnBatteries", d.stop_on_battery),
            hidden: boolean(settings, "Hidden", d.hidden),
        };
        if let Some(limit) = duration(settings, "ExecutionTimeLimit")? {
            task.time_limit = (!limit.is_zero()).then_some(limit);
        }
    }
    // Actions name the principal they run as by id; a task has one in practice.
    if let Some(principal) = child(root, "Principals").and_then(|p| child(p, "Principal")) {
        task.principal = ReadPrincipal {
            user: text(principal, "UserId"),
            group: text(principal, "GroupId"),
            logon_type: text(principal, "LogonType"),
            highest: text(principal, "RunLevel").as_deref() == Some("HighestAvailable"),
        };
    }
    if let Some(actions) = child(root, "Actions") {
        for a in elements(actions) {
            task.actions.push(match a.tag_name().name() {
                "Exec" => ReadAction::Exec {
                    command: text(a, "Command").unwrap_or_default(),
                    arguments: text(a, "Arguments"),
                    working_directory: text(a, "WorkingDirectory"),
                },
                kind => ReadAction::Other {
                    kind: kind.to_string(),
                    detail: text(a, "ClassId")
                        .or_else(|| text(a, "Subject"))
                        .or_else(|| text(a, "Title")),
                },
            });
        }
    }
    Ok(task)
}

/// The triggers of a task's XML, in document order.
pub fn read_triggers(xml: &str) -> Result<Vec<ReadTrigger>, XmlError> {
    read_task(xml).map(|t| t.triggers)
}

/// The bits of the named children of `node/list` (`<Monday/>`, `<June/>`).
fn name_bits(node: Node, list: &str, all: &[&str], first_bit: u32) -> u32 {
    child(node, list).map_or(0, |l| {
        elements(l)
            .filter_map(|e| all.iter().position(|n| *n == e.tag_name().name()))
            .fold(0, |bits, i| bits | 1 << (i as u32 + first_bit))
    })
}

/// Numbered entries of `node/list/item` (days of the month, weeks), `Last` as a flag.
fn numbers(
    node: Node,
    list: &str,
    item: &str,
    range: std::ops::RangeInclusive<u32>,
) -> Result<(u32, bool), XmlError> {
    let mut bits = 0;
    let mut last = false;
    if let Some(l) = child(node, list) {
        for e in elements(l).filter(|e| e.tag_name().name() == item) {
            let value = e.text().unwrap_or("").trim();
            if value == "Last" {
                last = true;
                continue;
            }
            let n: u32 = value.parse().map_err(|_| XmlError::number(item, value))?;
            if range.contains(&n) {
                bits |= 1 << n;
            }
        }
    }
    Ok((bits, last))
}

fn read_trigger(t: Node) -> Result<ReadTrigger, XmlError> {
    let kind = t.tag_name().name();
    let schedule = match kind {
        "TimeTrigger" => ReadSchedule::Once,
        "CalendarTrigger" => calendar_schedule(t)?,
        other => ReadSchedule::Other(other.to_string()),
    };
    let (start, utc) = match text(t, "StartBoundary") {
        Some(s) => parse_boundary(&s)?,
        None => (DateTime::default(), false),
    };
    let end = text(t, "EndBoundary")
        .map(|s| parse_boundary(&s).map(|(dt, _)| dt))
        .transpose()?;
    let repetition = match child(t, "Repetition") {
        Some(r) => duration(r, "Interval")?
            .filter(|i| !i.is_zero())
            .map(|i| Ok::<_, XmlError>((i, duration(r, "Duration")?.filter(|d| !d.is_zero()))))
            .transpose()?,
        None => None,
    };
    let modelled: &[&str] = match schedule {
        ReadSchedule::Other(_) => &["Enabled", "EndBoundary", "RandomDelay"],
        _ => &[
            "Enabled",
            "EndBoundary",
            "RandomDelay",
            "StartBoundary",
            "Repetition/Interval",
            "Repetition/Duration",
        ],
    };
    let mut rest = Vec::new();
    for c in elements(t) {
        let name = c.tag_name().name();
        // The calendar's days are the schedule itself.
        if !name.starts_with("ScheduleBy") {
            leaves(c, name, modelled, &mut rest);
        }
    }
    Ok(ReadTrigger {
        start,
        utc,
        end,
        enabled: boolean(t, "Enabled", true),
        repetition,
        random_delay: duration(t, "RandomDelay")?.filter(|d| !d.is_zero()),
        schedule,
        rest,
    })
}

/// The values below `node` (at `path`) by path, except the `modelled` ones; a
/// `<Value name="x">` is told apart by its name.
fn leaves(node: Node, path: &str, modelled: &[&str], out: &mut Vec<(String, String)>) {
    let path = match node.attribute("name") {
        Some(name) => format!("{path}[{name}]"),
        None => path.to_string(),
    };
    if modelled.contains(&path.as_str()) {
        return;
    }
    let children: Vec<Node> = elements(node).collect();
    if children.is_empty() {
        let value = node.text().unwrap_or("").trim();
        if !value.is_empty() {
            out.push((path, value.to_string()));
        }
        return;
    }
    for c in children {
        leaves(c, &format!("{path}/{}", c.tag_name().name()), modelled, out);
    }
}

fn calendar_schedule(t: Node) -> Result<ReadSchedule, XmlError> {
    let every = |node: Node, name: &str| -> Result<u32, XmlError> {
        text(node, name).map_or(Ok(1), |v| v.parse().map_err(|_| XmlError::number(name, &v)))
    };
    // Absent lists mean "all" (Windows omits them in some exports).
    let or_all = |bits: u32, all: u32| if bits == 0 { all } else { bits };
    if let Some(s) = child(t, "ScheduleByDay") {
        return Ok(ReadSchedule::Daily {
            every: every(s, "DaysInterval")?,
        });
    }
    if let Some(s) = child(t, "ScheduleByWeek") {
        return Ok(ReadSchedule::Weekly {
            every: every(s, "WeeksInterval")?,
            weekdays: name_bits(s, "DaysOfWeek", &WEEKDAYS, 0) as u8,
        });
    }
    if let Some(s) = child(t, "ScheduleByMonth") {
        let (days, last) = numbers(s, "DaysOfMonth", "Day", 1..=31)?;
        return Ok(ReadSchedule::Monthly {
            days: if days == 0 && !last { ALL_DAYS } else { days },
            last,
            months: or_all(name_bits(s, "Months", &MONTHS, 1), u32::from(ALL_MONTHS)) as u16,
        });
    }
    if let Some(s) = child(t, "ScheduleByMonthDayOfWeek") {
        let (weeks, last) = numbers(s, "Weeks", "Week", 1..=4)?;
        let weeks = weeks as u8 | if last { LAST_WEEK } else { 0 };
        return Ok(ReadSchedule::MonthlyDayOfWeek {
            weeks: if weeks == 0 { ALL_WEEKS } else { weeks },
            weekdays: name_bits(s, "DaysOfWeek", &WEEKDAYS, 0) as u8,
            months: or_all(name_bits(s, "Months", &MONTHS, 1), u32::from(ALL_MONTHS)) as u16,
        });
    }
    // A calendar trigger without a schedule is a one-time trigger.
    Ok(ReadSchedule::Once)
}

/// `2024-01-01T09:00:00`, with `Z` or an offset for UTC (offsets are folded in).
fn parse_boundary(text: &str) -> Result<(DateTime, bool), XmlError> {
    if let Ok(ts) = text.parse::<jiff::Timestamp>() {
        return Ok((jiff::tz::TimeZone::UTC.to_datetime(ts), true));
    }
    text.parse::<DateTime>()
        .map(|dt| (dt, false))
        .map_err(|e| XmlError::value("StartBoundary", text, format!("a date and time: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_what_windows_leaves_out() {
        let task = read_task(
            r#"<?xml version="1.0" encoding="UTF-16"?>
            <Task xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
              <Actions><Exec><Command>a.exe</Command></Exec></Actions>
              <Triggers><CalendarTrigger><ScheduleByMonth><DaysOfMonth/></ScheduleByMonth>
                <StartBoundary>2024-01-01T09:00:00</StartBoundary></CalendarTrigger></Triggers>
            </Task>"#,
        )
        .unwrap();
        assert!(task.enabled);
        assert_eq!(task.instances, "IgnoreNew");
        assert_eq!(task.time_limit, Some(Duration::from_secs(72 * 3600)));
        assert_eq!(
            task.triggers[0].schedule,
            ReadSchedule::Monthly {
                days: ALL_DAYS,
                last: false,
                months: ALL_MONTHS
            }
        );
    }

    #[test]
    fn other_trigger_kinds_are_kept() {
        let task = read_task(
            "<Task><Triggers><BootTrigger><Delay>PT5M</Delay></BootTrigger><WnfStateChangeTrigger/></Triggers></Task>",
        )
        .unwrap();
        let kinds: Vec<_> = task.triggers.iter().map(|t| t.schedule.clone()).collect();
        assert_eq!(
            kinds,
            [
                ReadSchedule::Other("BootTrigger".into()),
                ReadSchedule::Other("WnfStateChangeTrigger".into())
            ]
        );
    }
}
