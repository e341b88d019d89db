//! A task read from XML, normalised into plain words: the form plan compares.
//!
//! orc's own rendering goes through the same reader and the same words as what the
//! live folder returns, so XML that Windows rewrote (defaults added, elements
//! reordered, durations spelled another way) compares equal, and a real change shows
//! as one field: `trigger 1: 06:00 daily -> 07:00 daily`.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::civil::{Date, DateTime};

use super::account;
use super::read::{ReadAction, ReadPrincipal, ReadSchedule, ReadTask, ReadTrigger};
use super::triggers::{ALL_MONTHS, LAST_WEEK};
use crate::backend::Entry;
use crate::schedule::{DAY_NAMES, MONTH_NAMES};

/// The entry plan compares for a task named `name`.
pub fn entry(name: &str, task: &ReadTask, today: Date) -> Entry {
    let mut details = BTreeMap::new();
    for (i, t) in task.triggers.iter().enumerate() {
        let key = format!("trigger {}", i + 1);
        for (path, value) in &t.rest {
            if let Some(value) = rest_value(path, value) {
                details.insert(format!("{key} {}", path_words(path)), value);
            }
        }
        details.insert(key, trigger(t, today));
    }
    details.insert(
        "description".to_string(),
        task.description
            .clone()
            .unwrap_or_else(|| "none".to_string()),
    );
    details.insert("run as".to_string(), run_as(&task.principal));
    details.insert(
        "run level".to_string(),
        if task.principal.highest {
            "highest"
        } else {
            "least privilege"
        }
        .to_string(),
    );
    details.insert("overlap".to_string(), overlap(&task.instances));
    details.insert(
        "start when available".to_string(),
        yes_no(task.start_when_available),
    );
    let s = &task.settings;
    details.insert("priority".to_string(), s.priority.to_string());
    details.insert("wake to run".to_string(), yes_no(s.wake_to_run));
    details.insert(
        "only with a network".to_string(),
        yes_no(s.run_only_if_network),
    );
    details.insert("start on battery".to_string(), yes_no(s.start_on_battery));
    details.insert("stop on battery".to_string(), yes_no(s.stop_on_battery));
    details.insert("hidden".to_string(), yes_no(s.hidden));
    details.insert(
        "time limit".to_string(),
        task.time_limit.map_or_else(|| "none".to_string(), human),
    );
    let mut command = Vec::new();
    for (i, action) in task.actions.iter().enumerate() {
        match action {
            ReadAction::Exec {
                command: program,
                arguments,
                working_directory,
            } if i == 0 => {
                command.push(program.clone());
                command.extend(arguments.clone());
                if let Some(dir) = working_directory {
                    details.insert("working directory".to_string(), dir.clone());
                }
            }
            other => {
                details.insert(format!("action {}", i + 1), action_words(other));
            }
        }
    }
    Entry {
        name: name.to_string(),
        trigger: None,
        command,
        enabled: task.enabled,
        details,
        credential: None,
    }
}

/// A trigger value's path in words: `Delay` is `delay`, `UserId` is `user`,
/// `ValueQueries/Value[code]` is `value queries value code`.
fn path_words(path: &str) -> String {
    let mut words = Vec::new();
    for segment in path.split('/') {
        let (name, key) = match segment.split_once('[') {
            Some((name, key)) => (name, Some(key.trim_end_matches(']'))),
            None => (segment, None),
        };
        if name == "UserId" {
            words.push("user".to_string());
        } else {
            let mut word = String::new();
            for (i, c) in name.chars().enumerate() {
                if c.is_uppercase() && i > 0 {
                    word.push(' ');
                }
                word.extend(c.to_lowercase());
            }
            words.push(word);
        }
        words.extend(key.map(str::to_string));
    }
    words.join(" ")
}

/// A trigger value in the form plan compares: durations in words, yes/no, accounts
/// by meaning; `None` for a default (a zero delay, `StopAtDurationEnd` false), so
/// that what Windows fills in equals what orc left out.
fn rest_value(path: &str, value: &str) -> Option<String> {
    let name = path.rsplit('/').next().unwrap_or(path);
    let name = name.split('[').next().unwrap_or(name);
    match name {
        "Delay" | "ExecutionTimeLimit" | "Interval" | "Duration" | "PeriodOfOccurrence" => {
            match super::xml::parse_iso_duration(value) {
                Some(d) if d.is_zero() => None,
                Some(d) => Some(human(d)),
                None => Some(value.to_string()),
            }
        }
        "UserId" => Some(account::canonical(value)),
        _ => match value {
            "false" | "0" if name == "StopAtDurationEnd" => None,
            "true" | "1" => Some("yes".to_string()),
            "false" | "0" => Some("no".to_string()),
            _ => Some(value.to_string()),
        },
    }
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

fn action_words(action: &ReadAction) -> String {
    match action {
        ReadAction::Exec {
            command, arguments, ..
        } => match arguments {
            Some(a) => format!("run {command} {a}"),
            None => format!("run {command}"),
        },
        ReadAction::Other { kind, detail } => match detail {
            Some(d) => format!("{kind} {d}"),
            None => kind.clone(),
        },
    }
}

fn run_as(p: &ReadPrincipal) -> String {
    match (&p.user, &p.group) {
        (Some(user), _) => {
            if let Some(service) = account::service_account(user) {
                return service.to_string();
            }
            let user = account::canonical(user);
            match p.logon_type.as_deref() {
                Some("Password") => format!("{user} (whether logged on or not)"),
                Some("S4U") => format!("{user} (whether logged on or not, no password stored)"),
                _ => format!("{user} (only when logged on)"),
            }
        }
        (None, Some(group)) => format!("group {}", account::canonical(group)),
        (None, None) => "the registering user".to_string(),
    }
}

fn overlap(policy: &str) -> String {
    match policy {
        "IgnoreNew" => "skip".to_string(),
        "Queue" => "queue".to_string(),
        "Parallel" => "allow".to_string(),
        "StopExisting" => "replace".to_string(),
        other => other.to_string(),
    }
}

/// `90s`, `5m`, `1h30m`, `2d`.
pub fn human(d: Duration) -> String {
    let mut secs = d.as_secs();
    if secs == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    for (unit, name) in [(86_400, "d"), (3600, "h"), (60, "m"), (1, "s")] {
        if secs >= unit {
            out.push_str(&format!("{}{name}", secs / unit));
            secs %= unit;
        }
    }
    out
}

fn clock(dt: DateTime, utc: bool) -> String {
    let mut out = format!("{:02}:{:02}", dt.hour(), dt.minute());
    if dt.second() != 0 {
        out.push_str(&format!(":{:02}", dt.second()));
    }
    if utc {
        out.push_str(" UTC");
    }
    out
}

/// Names whose bits are set, consecutive runs of three or more joined as `Mon-Fri`.
fn name_list(bits: u32, names: &[&str], first_bit: u32) -> String {
    let set: Vec<usize> = (0..names.len())
        .filter(|i| bits & (1 << (*i as u32 + first_bit)) != 0)
        .collect();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < set.len() {
        let mut j = i;
        while j + 1 < set.len() && set[j + 1] == set[j] + 1 {
            j += 1;
        }
        if j - i >= 2 {
            parts.push(format!("{}-{}", names[set[i]], names[set[j]]));
        } else {
            parts.extend(set[i..=j].iter().map(|k| names[*k].to_string()));
        }
        i = j + 1;
    }
    parts.join(", ")
}

fn short(names: &[&'static str]) -> Vec<&'static str> {
    names.iter().map(|n| &n[..3]).collect()
}

fn in_months(months: u16) -> String {
    if months & ALL_MONTHS == ALL_MONTHS {
        String::new()
    } else {
        format!(
            " in {}",
            name_list(u32::from(months), &short(&MONTH_NAMES), 1)
        )
    }
}

fn ordinal(week: u32) -> &'static str {
    ["", "first", "second", "third", "fourth"][week as usize]
}

/// When a calendar day is picked, in words: `daily`, `weekly on Mon-Fri`,
/// `monthly on day 1, 15 and the last day in Jan, Jul`.
fn days(schedule: &ReadSchedule, start: Date, today: Date) -> String {
    let from = |every: u32| {
        if every > 1 || start > today {
            format!(" from {start}")
        } else {
            String::new()
        }
    };
    let weekdays = |bits: u8| name_list(u32::from(bits), &short(&DAY_NAMES), 0);
    match schedule {
        ReadSchedule::Once => format!("once on {start}"),
        ReadSchedule::Daily { every: 1 } => format!("daily{}", from(1)),
        ReadSchedule::Daily { every } => format!("every {every} days{}", from(*every)),
        ReadSchedule::Weekly { every, weekdays: w } => {
            let period = if *every == 1 {
                "weekly".to_string()
            } else {
                format!("every {every} weeks")
            };
            format!("{period} on {}{}", weekdays(*w), from(*every))
        }
        ReadSchedule::Monthly { days, last, months } => {
            let mut picked: Vec<String> = (1..=31)
                .filter(|d| days & (1 << d) != 0)
                .map(|d: u32| d.to_string())
                .collect();
            let mut text = match picked.len() {
                0 => String::new(),
                1 => format!("day {}", picked.remove(0)),
                _ => format!("days {}", picked.join(", ")),
            };
            if *last {
                text = if text.is_empty() {
                    "the last day".to_string()
                } else {
                    format!("{text} and the last day")
                };
            }
            format!("monthly on {text}{}{}", in_months(*months), from(1))
        }
        ReadSchedule::MonthlyDayOfWeek {
            weeks,
            weekdays: w,
            months,
        } => {
            let mut which: Vec<&str> = (1..=4)
                .filter(|k| weeks & (1 << k) != 0)
                .map(ordinal)
                .collect();
            if weeks & LAST_WEEK != 0 {
                which.push("last");
            }
            format!(
                "monthly on the {} {}{}{}",
                which.join(", "),
                weekdays(*w),
                in_months(*months),
                from(1)
            )
        }
        ReadSchedule::Other(_) => String::new(),
    }
}

/// A trigger kind orc does not model, in words.
fn other_kind(kind: &str) -> String {
    match kind {
        "BootTrigger" => "at system startup".to_string(),
        "LogonTrigger" => "at log on".to_string(),
        "IdleTrigger" => "when the computer is idle".to_string(),
        "EventTrigger" => "on an event".to_string(),
        "RegistrationTrigger" => "when the task is registered".to_string(),
        "SessionStateChangeTrigger" => "on a session state change".to_string(),
        "WnfStateChangeTrigger" => "on a WNF state change".to_string(),
        other => format!("on a {other}"),
    }
}

/// One trigger in words: `06:00 daily`, `09:00 to 17:00 every 1h, weekly on Mon-Fri`.
pub fn trigger(t: &ReadTrigger, today: Date) -> String {
    let mut out = match &t.schedule {
        ReadSchedule::Other(kind) => other_kind(kind),
        schedule => {
            let start = clock(t.start, t.utc);
            let times = match t.repetition {
                None => start,
                Some((interval, None)) => {
                    format!("from {start} every {}, indefinitely,", human(interval))
                }
                Some((interval, Some(duration))) if duration <= Duration::from_secs(86_400) => {
                    // The last start strictly inside the duration.
                    let steps = (duration.as_secs().saturating_sub(1)) / interval.as_secs().max(1);
                    let last = t
                        .start
                        .checked_add(jiff::SignedDuration::from_secs(
                            (steps * interval.as_secs()) as i64,
                        ))
                        .unwrap_or(t.start);
                    format!(
                        "{start} to {} every {},",
                        clock(last, false).trim_end(),
                        human(interval)
                    )
                }
                Some((interval, Some(duration))) => format!(
                    "from {start} every {} for {},",
                    human(interval),
                    human(duration)
                ),
            };
            format!("{times} {}", days(schedule, t.start.date(), today))
        }
    };
    if let Some(delay) = t.random_delay {
        out.push_str(&format!(", random delay up to {}", human(delay)));
    }
    if let Some(end) = t.end {
        out.push_str(&format!(", until {end}"));
    }
    if !t.enabled {
        out.push_str(" (trigger disabled)");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::windows::read::read_task;

    fn words(xml_trigger: &str) -> String {
        let task = read_task(&format!("<Task><Triggers>{xml_trigger}</Triggers></Task>")).unwrap();
        trigger(&task.triggers[0], jiff::civil::date(2026, 1, 1))
    }

    #[test]
    fn triggers_read_as_plain_words() {
        assert_eq!(
            words(
                "<CalendarTrigger><StartBoundary>2024-01-01T06:00:00</StartBoundary><ScheduleByDay><DaysInterval>1</DaysInterval></ScheduleByDay></CalendarTrigger>"
            ),
            "06:00 daily"
        );
        assert_eq!(
            words(
                "<CalendarTrigger><Repetition><Interval>PT60M</Interval><Duration>PT8H30M</Duration></Repetition><StartBoundary>2024-01-01T09:00:00Z</StartBoundary><ScheduleByWeek><WeeksInterval>1</WeeksInterval><DaysOfWeek><Monday/><Tuesday/><Wednesday/><Thursday/><Friday/></DaysOfWeek></ScheduleByWeek></CalendarTrigger>"
            ),
            "09:00 UTC to 17:00 every 1h, weekly on Mon-Fri"
        );
        assert_eq!(
            words(
                "<CalendarTrigger><StartBoundary>2024-01-01T00:00:00</StartBoundary><RandomDelay>PT5M</RandomDelay><ScheduleByMonth><DaysOfMonth><Day>1</Day><Day>15</Day><Day>Last</Day></DaysOfMonth><Months><January/><July/></Months></ScheduleByMonth></CalendarTrigger>"
            ),
            "00:00 monthly on days 1, 15 and the last day in Jan, Jul, random delay up to 5m"
        );
        assert_eq!(
            words(
                "<CalendarTrigger><Enabled>false</Enabled><StartBoundary>2024-01-01T12:00:00</StartBoundary><ScheduleByMonthDayOfWeek><Weeks><Week>3</Week><Week>Last</Week></Weeks><DaysOfWeek><Friday/></DaysOfWeek></ScheduleByMonthDayOfWeek></CalendarTrigger>"
            ),
            "12:00 monthly on the third, last Fri (trigger disabled)"
        );
        assert_eq!(
            words("<BootTrigger><Delay>PT1M</Delay></BootTrigger>"),
            "at system startup"
        );
    }

    /// The details plan compares for a task with `triggers`.
    fn details(triggers: &str) -> BTreeMap<String, String> {
        let task = read_task(&format!(
            "<Task><RegistrationInfo><Description>d</Description></RegistrationInfo><Triggers>{triggers}</Triggers></Task>"
        ))
        .unwrap();
        entry("t", &task, jiff::civil::date(2026, 1, 1)).details
    }

    #[test]
    fn every_value_of_an_unmodelled_trigger_is_compared() {
        let event = |id: u32, delay: &str| {
            format!(
                "<EventTrigger><Enabled>true</Enabled><Subscription>&lt;QueryList&gt;&lt;Query Id=\"0\"&gt;&lt;Select Path=\"System\"&gt;*[System[EventID={id}]]&lt;/Select&gt;&lt;/Query&gt;&lt;/QueryList&gt;</Subscription><Delay>{delay}</Delay><ValueQueries><Value name=\"code\">Event/EventData/Data</Value></ValueQueries></EventTrigger>"
            )
        };
        let d = details(&event(6005, "PT30S"));
        assert_eq!(d["trigger 1"], "on an event");
        assert!(
            d["trigger 1 subscription"].contains("EventID=6005"),
            "{d:?}"
        );
        assert_eq!(d["trigger 1 delay"], "30s");
        assert_eq!(
            d["trigger 1 value queries value code"],
            "Event/EventData/Data"
        );
        assert_eq!(d["description"], "d");
        assert!(
            !d.contains_key("trigger 1 enabled"),
            "a default is left out: {d:?}"
        );
        // Another spelling of the same delay is the same; another ID is a change.
        assert_eq!(d, details(&event(6005, "PT0H0M30S")));
        let changed = details(&event(41, "PT30S"));
        assert_ne!(
            d["trigger 1 subscription"],
            changed["trigger 1 subscription"]
        );
        // A zero delay is the default: the same as none.
        assert_eq!(
            details("<BootTrigger><Delay>PT0S</Delay></BootTrigger>"),
            details("<BootTrigger/>")
        );
        let logon =
            details("<LogonTrigger><UserId>S-1-5-18</UserId><Delay>PT1M</Delay></LogonTrigger>");
        assert_eq!(logon["trigger 1 user"], "SYSTEM");
        assert_eq!(logon["trigger 1 delay"], "1m");
        let session = details(
            "<SessionStateChangeTrigger><StateChange>SessionUnlock</StateChange></SessionStateChangeTrigger>",
        );
        assert_eq!(session["trigger 1 state change"], "SessionUnlock");
    }

    #[test]
    fn service_accounts_compare_by_meaning() {
        for user in ["S-1-5-18", "SYSTEM", "NT AUTHORITY\\SYSTEM", "LocalSystem"] {
            let p = ReadPrincipal {
                user: Some(user.to_string()),
                ..ReadPrincipal::default()
            };
            assert_eq!(run_as(&p), "SYSTEM", "{user}");
        }
    }
}
