//! `[calendars.NAME]`: each calendar's days, read from its dates, its ics file and
//! its weekdays; and a task's `skip_on`, `only_on` and `blackout`.

use std::collections::BTreeMap;

use super::Checker;
use super::names::closest;
use crate::config::calendar::{Blackout, Calendar, DayRange};
use crate::config::load::Parsed;
use crate::config::raw::{RawBlackout, Spanned};

/// Every calendar that checks out, by name.
pub(super) fn calendars(c: &mut Checker, parsed: &Parsed) -> BTreeMap<String, Calendar> {
    let mut calendars = BTreeMap::new();
    for (name, item) in &parsed.calendars {
        let raw = &item.value;
        let file = item.file;
        if let Err(e) = super::check_name(name) {
            c.report(
                file,
                &item.key_span,
                None,
                format!("invalid calendar name: {e}"),
            );
        }
        let errors = c.diags.errors().count();
        let mut cal = Calendar {
            name: name.clone(),
            days: Vec::new(),
            weekdays: Vec::new(),
        };
        for date in raw.dates.iter().flatten() {
            match DayRange::parse(&date.value) {
                Ok(range) => cal.days.push(range),
                Err(e) => c.report(file, &date.span, None, format!("calendar \"{name}\": {e}")),
            }
        }
        if let Some(w) = &raw.weekdays {
            match weekdays(&w.value) {
                Ok(days) => cal.weekdays = days,
                Err(e) => c.report(file, &w.span, None, format!("calendar \"{name}\": {e}")),
            }
        }
        if let Some(ics) = &raw.ics {
            let base = c.sources[file]
                .path
                .parent()
                .map(std::path::Path::to_path_buf)
                .unwrap_or_default();
            let path = base.join(&ics.value);
            match std::fs::read_to_string(&path) {
                Ok(text) => match ics_days(&text) {
                    Ok(days) => cal.days.extend(days),
                    Err(e) => c.report(
                        file,
                        &ics.span,
                        None,
                        format!("calendar \"{name}\": {}: {e}", path.display()),
                    ),
                },
                Err(e) => c.report(
                    file,
                    &ics.span,
                    None,
                    format!("calendar \"{name}\": cannot read {}: {e}", path.display()),
                ),
            }
        }
        // An empty calendar skips nothing (skip_on) or everything (only_on): never
        // what was meant. Said once, unless a part of it was already wrong.
        if cal.days.is_empty() && cal.weekdays.is_empty() && c.diags.errors().count() == errors {
            c.report(
                file,
                &item.key_span,
                None,
                format!("calendar \"{name}\" has no days: give it dates, an ics file or weekdays"),
            );
        }
        cal.normalise();
        calendars.insert(name.clone(), cal);
    }
    calendars
}

/// ISO weekdays (1 Monday to 7 Sunday) of a cron day-of-week field: "MON-FRI",
/// "SAT,SUN", read by the schedule's own grammar.
fn weekdays(text: &str) -> Result<Vec<u8>, String> {
    let field: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if field.contains(['#', 'L', 'l']) {
        // FRI#3 and 5L are days of some weeks only; a calendar's weekdays are in every week.
        return Err(format!(
            "weekdays \"{text}\": a calendar's weekdays are days of every week; list the dates of a third Friday or a last Friday in dates"
        ));
    }
    if field.is_empty() || field == "*" {
        return Err(format!(
            "weekdays \"{text}\" names no days; write them as \"MON-FRI\" or \"SAT,SUN\""
        ));
    }
    let schedule = crate::schedule::parse(&format!("0 0 * * {field}"))
        .map_err(|e| format!("weekdays \"{text}\": {e}"))?;
    let spec = schedule
        .cron()
        .ok_or_else(|| format!("weekdays \"{text}\" is not a list of days"))?;
    let mut days: Vec<u8> = spec
        .weekday_list()
        .into_iter()
        .map(|d| if d == 0 { 7 } else { d as u8 })
        .collect();
    days.sort_unstable();
    Ok(days)
}

/// The days an iCalendar file's events cover: an all-day event its days (DTEND not
/// included, as RFC 5545 says), a timed one the days it touches.
fn ics_days(text: &str) -> Result<Vec<DayRange>, String> {
    use icalendar::{Component, DatePerhapsTime};
    let calendar: icalendar::Calendar = text.parse().map_err(|e: String| {
        let first = e.lines().next().unwrap_or("").to_string();
        format!("not an iCalendar file ({first})")
    })?;
    let day_of = |d: &DatePerhapsTime| -> Option<jiff::civil::Date> {
        let text = match d {
            DatePerhapsTime::Date(date) => date.format("%Y-%m-%d").to_string(),
            DatePerhapsTime::DateTime(dt) => {
                let naive = match dt {
                    icalendar::CalendarDateTime::Floating(n) => *n,
                    icalendar::CalendarDateTime::Utc(u) => u.naive_utc(),
                    icalendar::CalendarDateTime::WithTimezone { date_time, .. } => *date_time,
                };
                naive.format("%Y-%m-%d").to_string()
            }
        };
        text.parse().ok()
    };
    let mut days = Vec::new();
    for event in calendar.events() {
        let summary = event.get_summary().unwrap_or("an event").to_string();
        // Names of properties ignore case (RFC 5545 3.1).
        let has = |name: &str| {
            event
                .properties()
                .keys()
                .any(|k| k.eq_ignore_ascii_case(name))
                || event
                    .multi_properties()
                    .keys()
                    .any(|k| k.eq_ignore_ascii_case(name))
        };
        if let Some(rule) = ["RRULE", "RDATE"].into_iter().find(|p| has(p)) {
            return Err(format!(
                "\"{summary}\" recurs ({rule}), which orc does not expand; export its dates as single events, or list them in dates"
            ));
        }
        if event
            .property_value("STATUS")
            .is_some_and(|s| s.eq_ignore_ascii_case("CANCELLED"))
        {
            continue;
        }
        let Some(start) = event.get_start() else {
            return Err(if has("DTSTART") {
                format!("\"{summary}\" has a DTSTART orc cannot read")
            } else {
                format!("\"{summary}\" has no DTSTART")
            });
        };
        let first = day_of(&start).ok_or_else(|| format!("\"{summary}\" starts on no date"))?;
        let last = match (event.get_end(), event.property_value("DURATION")) {
            // DTEND is not included: an all-day event on the 25th ends on the 26th,
            // and one that ends at midnight does not touch the day it ends on.
            (Some(end), _) => {
                let end_day =
                    day_of(&end).ok_or_else(|| format!("\"{summary}\" ends on no date"))?;
                let exclusive = match &end {
                    DatePerhapsTime::Date(_) => true,
                    DatePerhapsTime::DateTime(dt) => midnight(dt),
                };
                let last = if exclusive && end_day > first {
                    end_day.yesterday().unwrap_or(end_day)
                } else {
                    end_day
                };
                if last < first {
                    return Err(format!("\"{summary}\" ends before it starts"));
                }
                last
            }
            (None, Some(duration)) => {
                let days = whole_days(duration).ok_or_else(|| {
                    format!("\"{summary}\": DURATION {duration} is not a number of days or weeks (P3D, P1W)")
                })?;
                let past =
                    || format!("\"{summary}\": DURATION {duration} ends past what orc can count");
                let span = jiff::Span::new()
                    .try_days(days.saturating_sub(1).max(0))
                    .map_err(|_| past())?;
                first.checked_add(span).map_err(|_| past())?
            }
            (None, None) => first,
        };
        days.push(DayRange { first, last });
    }
    if days.is_empty() {
        return Err("it has no events (VEVENT)".to_string());
    }
    Ok(days)
}

/// Whether a DTEND falls at midnight, so that the day it names is not touched.
fn midnight(dt: &icalendar::CalendarDateTime) -> bool {
    let naive = match dt {
        icalendar::CalendarDateTime::Floating(n) => *n,
        icalendar::CalendarDateTime::Utc(u) => u.naive_utc(),
        icalendar::CalendarDateTime::WithTimezone { date_time, .. } => *date_time,
    };
    naive.format("%H:%M:%S").to_string() == "00:00:00"
}

/// An all-day event's DURATION in days: `P3D`, `P1W`.
fn whole_days(duration: &str) -> Option<i64> {
    let d = duration.trim().strip_prefix('+').unwrap_or(duration.trim());
    let n = d.strip_prefix('P')?;
    if let Some(w) = n.strip_suffix('W') {
        return w.parse::<i64>().ok().and_then(|w| w.checked_mul(7));
    }
    n.strip_suffix('D')?.parse().ok()
}

/// A task's calendar names, each known.
pub(super) fn task_calendars(
    c: &mut Checker,
    (file, task, key): (usize, &str, &str),
    names: Option<&Vec<Spanned<String>>>,
    known: &BTreeMap<String, Calendar>,
) -> Vec<Calendar> {
    let mut found = Vec::new();
    for name in names.into_iter().flatten() {
        match known.get(name.value.trim()) {
            Some(cal) => found.push(cal.clone()),
            None => {
                let mut d = c.error(
                    file,
                    &name.span,
                    Some(task),
                    format!("{key}: unknown calendar \"{}\"", name.value),
                );
                let same_but_case = known
                    .keys()
                    .find(|k| k.eq_ignore_ascii_case(name.value.trim()));
                d = match same_but_case.or_else(|| closest(&name.value, known.keys())) {
                    Some(s) => d.help(format!("did you mean \"{s}\"?")),
                    None => d.help("define it as [calendars.NAME] with dates, ics or weekdays"),
                };
                c.diags.push(d);
            }
        }
    }
    found
}

/// A task's `blackout` windows, each one that reads.
pub(super) fn blackouts(
    c: &mut Checker,
    (file, task): (usize, &str),
    raw: Option<&Vec<Spanned<RawBlackout>>>,
) -> Vec<Blackout> {
    let mut windows = Vec::new();
    for w in raw.into_iter().flatten() {
        let blackout = Blackout {
            from: w.value.from.value.trim().to_string(),
            to: w.value.to.value.trim().to_string(),
        };
        match blackout.window() {
            Ok(_) => windows.push(blackout),
            Err(e) => c.report(file, &w.span, Some(task), format!("blackout: {e}")),
        }
    }
    windows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weekdays_read_as_cron_reads_them() {
        assert_eq!(weekdays("MON-FRI").unwrap(), [1, 2, 3, 4, 5]);
        assert_eq!(weekdays("SAT, SUN").unwrap(), [6, 7]);
        assert_eq!(weekdays("0").unwrap(), [7]);
        assert!(weekdays("FUNDAY").is_err());
        assert!(weekdays("*").is_err());
    }

    #[test]
    fn an_ics_file_gives_the_days_its_events_cover() {
        let ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n\
BEGIN:VEVENT\r\nUID:1\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Christmas\r\nDTSTART;VALUE=DATE:20261225\r\nDTEND;VALUE=DATE:20261227\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:2\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Offsite\r\nDTSTART:20270105T090000Z\r\nDTEND:20270105T170000Z\r\nEND:VEVENT\r\n\
END:VCALENDAR\r\n";
        let days: Vec<String> = ics_days(ics)
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(days, ["2026-12-25..2026-12-26", "2027-01-05"]);
        let recurring = ics.replace(
            "SUMMARY:Christmas\r\n",
            "SUMMARY:Christmas\r\nRRULE:FREQ=YEARLY\r\n",
        );
        assert!(ics_days(&recurring).unwrap_err().contains("RRULE"));
        assert!(ics_days("hello").is_err());
        let lower = ics.replace(
            "SUMMARY:Christmas\r\n",
            "SUMMARY:Christmas\r\nrrule:FREQ=YEARLY\r\n",
        );
        assert!(
            ics_days(&lower).unwrap_err().contains("RRULE"),
            "names ignore case"
        );
        let rdate = ics.replace(
            "SUMMARY:Christmas\r\n",
            "SUMMARY:Christmas\r\nRDATE;VALUE=DATE:20261228\r\n",
        );
        assert!(ics_days(&rdate).unwrap_err().contains("RDATE"));
        // DURATION instead of DTEND; a cancelled event is no day; a timed event that
        // ends at midnight does not touch the day it ends on.
        let event = |body: &str| {
            format!(
                "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:x\r\nDTSTAMP:20260101T000000Z\r\n{body}END:VEVENT\r\nBEGIN:VEVENT\r\nUID:y\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;VALUE=DATE:20270301\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
            )
        };
        let days = |body: &str| -> Vec<String> {
            ics_days(&event(body))
                .unwrap()
                .iter()
                .map(ToString::to_string)
                .collect()
        };
        assert_eq!(
            days("DTSTART;VALUE=DATE:20261224\r\nDURATION:P3D\r\n")[0],
            "2026-12-24..2026-12-26"
        );
        assert_eq!(
            days("DTSTART;VALUE=DATE:20261224\r\nSTATUS:CANCELLED\r\n"),
            ["2027-03-01"]
        );
        assert_eq!(
            days("DTSTART:20261224T230000Z\r\nDTEND:20261226T000000Z\r\n")[0],
            "2026-12-24..2026-12-25"
        );
        // Durations past any calendar are refused, never a panic.
        for huge in [
            "P99999999D",
            "P2000000000000000000W",
            "P9223372036854775807D",
            "P1000000W",
        ] {
            let said = ics_days(&event(&format!(
                "DTSTART;VALUE=DATE:20261224\r\nDURATION:{huge}\r\n"
            )))
            .unwrap_err();
            assert!(
                said.contains("past what orc can count")
                    || said.contains("is not a number of days"),
                "{huge}: {said}"
            );
        }
    }
}
