//! Trigger elements as orc writes them: compact (one line, to sit in tasks.toml as
//! one string), children in the order Microsoft's schema demands.

use std::io;

use quick_xml::Writer;
use quick_xml::events::{BytesText, Event};

// Task Scheduler's month elements are the months' English names.
use super::XmlError;
use crate::schedule::MONTH_NAMES as MONTHS;

fn text<W: io::Write>(w: &mut Writer<W>, name: &str, value: &str) -> io::Result<()> {
    w.create_element(name)
        .write_text_content(BytesText::new(value))?;
    Ok(())
}

/// The children each element may have, in the order Microsoft's schema demands.
fn schema_order(parent: &str) -> Option<&'static [&'static str]> {
    const BASE: [&str; 5] = [
        "Repetition",
        "StartBoundary",
        "EndBoundary",
        "ExecutionTimeLimit",
        "Enabled",
    ];
    macro_rules! trigger {
        ($($extra:literal),*) => {{
            const ORDER: &[&str] = &[BASE[0], BASE[1], BASE[2], BASE[3], BASE[4], $($extra),*];
            Some(ORDER)
        }};
    }
    match parent {
        "BootTrigger" | "RegistrationTrigger" => trigger!("Delay"),
        "IdleTrigger" => trigger!(),
        "TimeTrigger" => trigger!("RandomDelay"),
        "EventTrigger" => trigger!(
            "Subscription",
            "Delay",
            "PeriodOfOccurrence",
            "NumberOfOccurrences",
            "MatchingElement",
            "ValueQueries"
        ),
        "LogonTrigger" => trigger!("UserId", "Delay"),
        "SessionStateChangeTrigger" => trigger!("StateChange", "UserId", "Delay"),
        "CalendarTrigger" => trigger!(
            "RandomDelay",
            "ScheduleByDay",
            "ScheduleByWeek",
            "ScheduleByMonth",
            "ScheduleByMonthDayOfWeek"
        ),
        "Repetition" => Some(&["Interval", "Duration", "StopAtDurationEnd"]),
        "ScheduleByDay" => Some(&["DaysInterval"]),
        "ScheduleByWeek" => Some(&["WeeksInterval", "DaysOfWeek"]),
        "ScheduleByMonth" => Some(&["DaysOfMonth", "Months"]),
        "ScheduleByMonthDayOfWeek" => Some(&["Weeks", "DaysOfWeek", "Months"]),
        "DaysOfWeek" => Some(&[
            "Monday",
            "Tuesday",
            "Wednesday",
            "Thursday",
            "Friday",
            "Saturday",
            "Sunday",
        ]),
        "Months" => Some(&MONTHS),
        "DaysOfMonth" => Some(&["Day"]),
        "Weeks" => Some(&["Week"]),
        "ValueQueries" => Some(&["Value"]),
        _ => None,
    }
}

/// Elements whose presence is the value (`<Monday/>`): kept when empty.
fn is_marker(parent: &str) -> bool {
    matches!(parent, "DaysOfWeek" | "Months")
}

/// One trigger element given as XML text (`<BootTrigger>…</BootTrigger>`), as orc
/// writes it: compact (one line, to sit in tasks.toml as one string), children in
/// the schema's order, empty values left out. Lenient in what it reads (Windows
/// accepts children out of order and empty elements), strict in what it writes:
/// anything the schema does not allow is refused.
pub fn trigger_fragment(text: &str) -> Result<String, XmlError> {
    let doc = roxmltree::Document::parse(text.trim())?;
    super::check_depth(&doc)?;
    let root = doc.root_element();
    let kind = root.tag_name().name();
    if kind == "WnfStateChangeTrigger" {
        return Err(XmlError::Unwritable);
    }
    if !kind.ends_with("Trigger") || schema_order(kind).is_none() {
        return Err(XmlError::NotATrigger(kind.to_string()));
    }
    let mut writer = Writer::new(Vec::new());
    write_ordered(&mut writer, root)?;
    String::from_utf8(writer.into_inner()).map_err(|e| XmlError::Write(e.to_string()))
}

/// `node` and its children in schema order; an error names what does not belong.
fn write_ordered<W: io::Write>(w: &mut Writer<W>, node: roxmltree::Node) -> Result<(), XmlError> {
    let name = node.tag_name().name();
    let children: Vec<roxmltree::Node> = node.children().filter(|c| c.is_element()).collect();
    let mut start = quick_xml::events::BytesStart::new(name);
    for attr in node.attributes().filter(|a| a.namespace().is_none()) {
        start.push_attribute((attr.name(), attr.value()));
    }
    let io = |e: io::Error| XmlError::Write(e.to_string());
    if children.is_empty() {
        // A value is kept exactly (an event query's spaces are part of it); only a
        // value of nothing but white space is empty.
        let text = node.text().unwrap_or("");
        if text.trim().is_empty() {
            w.write_event(Event::Empty(start)).map_err(io)?;
        } else {
            w.write_event(Event::Start(start)).map_err(io)?;
            w.write_event(Event::Text(BytesText::new(text)))
                .map_err(io)?;
            w.write_event(Event::End(quick_xml::events::BytesEnd::new(name)))
                .map_err(io)?;
        }
        return Ok(());
    }
    let order = schema_order(name).unwrap_or(&[]);
    let mut ranked = Vec::new();
    for child in children {
        let child_name = child.tag_name().name();
        let Some(rank) = order.iter().position(|n| *n == child_name) else {
            return Err(XmlError::Misplaced {
                child: child_name.to_string(),
                parent: name.to_string(),
            });
        };
        let empty = child.text().is_none_or(|t| t.trim().is_empty())
            && !child.children().any(|c| c.is_element());
        // An empty value (`<UserId></UserId>`) means the default: leave it out.
        if empty && !is_marker(name) {
            continue;
        }
        ranked.push((rank, child));
    }
    ranked.sort_by_key(|(rank, _)| *rank);
    w.write_event(Event::Start(start)).map_err(io)?;
    for (_, child) in ranked {
        write_ordered(w, child)?;
    }
    w.write_event(Event::End(quick_xml::events::BytesEnd::new(name)))
        .map_err(io)?;
    Ok(())
}

/// One element with text content, compact, as a trigger fragment.
fn fragment(write: impl FnOnce(&mut Writer<Vec<u8>>) -> io::Result<()>) -> String {
    let mut w = Writer::new(Vec::new());
    // Writing to a Vec cannot fail.
    let _ = write(&mut w);
    String::from_utf8(w.into_inner()).unwrap_or_default()
}

/// `at_startup`: a BootTrigger.
pub fn boot_trigger() -> String {
    fragment(|w| w.create_element("BootTrigger").write_empty().map(|_| ()))
}

/// `at_logon`: a LogonTrigger, for `user` or any user.
pub fn logon_trigger(user: Option<&str>) -> String {
    fragment(|w| match user {
        Some(user) => w
            .create_element("LogonTrigger")
            .write_inner_content(|w| text(w, "UserId", user))
            .map(|_| ()),
        None => w.create_element("LogonTrigger").write_empty().map(|_| ()),
    })
}

/// `on_idle`: an IdleTrigger.
pub fn idle_trigger() -> String {
    fragment(|w| w.create_element("IdleTrigger").write_empty().map(|_| ()))
}

/// `on_event`: an EventTrigger whose query selects the events of `log`, from
/// `source` and with `id` when given. The caller has checked that neither holds a
/// quote (they sit inside XPath and attribute quotes).
pub fn event_trigger(log: &str, source: Option<&str>, id: Option<u16>) -> String {
    let mut conditions = Vec::new();
    if let Some(source) = source {
        conditions.push(format!("Provider[@Name='{source}']"));
    }
    if let Some(id) = id {
        conditions.push(format!("EventID={id}"));
    }
    let select = if conditions.is_empty() {
        "*".to_string()
    } else {
        format!("*[System[{}]]", conditions.join(" and "))
    };
    let query = format!(
        "<QueryList><Query Id=\"0\" Path=\"{log}\"><Select Path=\"{log}\">{select}</Select></Query></QueryList>"
    );
    fragment(|w| {
        w.create_element("EventTrigger")
            .write_inner_content(|w| text(w, "Subscription", &query))
            .map(|_| ())
    })
}
