//! orc's strict schedule parser.
//!
//! Every accepted spelling (5-field cron, `@macros`, Windows-style shorthands) is
//! turned into one [`CronSpec`]. Anything that cron dialects disagree on, or that
//! would never fire, is rejected with a reason a user can act on: a schedule that
//! silently means something else on another machine is worse than an error.

use super::spec::{CronSpec, Kind, Schedule};

/// Why a schedule was rejected. The message is meant for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ScheduleError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, ScheduleError> {
    Err(ScheduleError(msg.into()))
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// Which of the five cron fields is being parsed; decides bounds and names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Minute,
    Hour,
    DayOfMonth,
    Month,
    DayOfWeek,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::Minute => "minute",
            Field::Hour => "hour",
            Field::DayOfMonth => "day-of-month",
            Field::Month => "month",
            Field::DayOfWeek => "day-of-week",
        }
    }

    /// Inclusive bounds; day-of-week accepts 7 as a second Sunday.
    fn bounds(self) -> (u32, u32) {
        match self {
            Field::Minute => (0, 59),
            Field::Hour => (0, 23),
            Field::DayOfMonth => (1, 31),
            Field::Month => (1, 12),
            Field::DayOfWeek => (0, 7),
        }
    }
}

/// Parse any schedule orc accepts.
pub fn parse(input: &str) -> Result<Schedule, ScheduleError> {
    let text = input.trim();
    if text.is_empty() {
        return err("the schedule is empty");
    }
    let kind = if let Some(name) = text.strip_prefix('@') {
        parse_macro(name)?
    } else if text.contains(':') {
        Kind::Cron(parse_shorthand(text)?)
    } else {
        Kind::Cron(parse_cron(text)?)
    };
    Ok(Schedule {
        source: text.to_string(),
        kind,
    })
}

fn parse_macro(name: &str) -> Result<Kind, ScheduleError> {
    let cron = match name.to_ascii_lowercase().as_str() {
        "reboot" => return Ok(Kind::Reboot),
        "yearly" | "annually" => "0 0 1 1 *",
        "monthly" => "0 0 1 * *",
        "weekly" => "0 0 * * 0",
        "daily" | "midnight" => "0 0 * * *",
        "hourly" => "0 * * * *",
        _ => {
            return err(format!(
                "unknown macro \"@{name}\"; use one of @hourly, @daily, @midnight, @weekly, \
                 @monthly, @yearly, @annually, @reboot"
            ));
        }
    };
    Ok(Kind::Cron(parse_cron(cron)?))
}

/// "06:00" (daily), "MON 08:00" / "MON,WED 08:00" (weekly), "15 09:30" (monthly).
fn parse_shorthand(text: &str) -> Result<CronSpec, ScheduleError> {
    let parts: Vec<&str> = text.split_whitespace().collect();
    let (day, time) = match parts.as_slice() {
        [time] => (None, *time),
        [day, time] => (Some(*day), *time),
        _ => {
            return err(format!(
                "\"{text}\" is neither a cron expression nor a shorthand; shorthands are \
                 \"HH:MM\" (daily), \"MON HH:MM\" or \"MON,WED HH:MM\" (weekly) and \
                 \"15 HH:MM\" (monthly on the 15th)"
            ));
        }
    };
    let (hour, minute) = parse_clock(time)?;
    let cron = match day {
        None => format!("{minute} {hour} * * *"),
        Some(day) if day.chars().all(|c| c.is_ascii_digit()) => {
            let n: u32 = day.parse().unwrap_or(0);
            if !(1..=31).contains(&n) {
                return err(format!("day of month {day} is out of range 1-31"));
            }
            format!("{minute} {hour} {n} * *")
        }
        Some(days) => {
            for d in days.split(',') {
                if lookup_name(d, &WEEKDAYS).is_none() {
                    return err(format!(
                        "\"{d}\" is not a weekday; use MON, TUE, WED, THU, FRI, SAT or SUN"
                    ));
                }
            }
            format!("{minute} {hour} * * {days}")
        }
    };
    parse_cron(&cron)
}

fn parse_clock(time: &str) -> Result<(u32, u32), ScheduleError> {
    let bad = || {
        err(format!(
            "\"{time}\" is not a time of day; write it as HH:MM, from 00:00 to 23:59"
        ))
    };
    let Some((h, m)) = time.split_once(':') else {
        return bad();
    };
    let digits = |s: &str| !s.is_empty() && s.len() <= 2 && s.chars().all(|c| c.is_ascii_digit());
    if !digits(h) || m.len() != 2 || !digits(m) {
        return bad();
    }
    let (hour, minute): (u32, u32) = (h.parse().unwrap_or(99), m.parse().unwrap_or(99));
    if hour > 23 || minute > 59 {
        return bad();
    }
    Ok((hour, minute))
}

fn parse_cron(text: &str) -> Result<CronSpec, ScheduleError> {
    let fields: Vec<&str> = text.split_whitespace().collect();
    match fields.len() {
        5 => {}
        6 | 7 => {
            return err(format!(
                "\"{text}\" has {} fields; orc takes standard 5-field cron (minute hour \
                 day-of-month month day-of-week) without seconds or year, because dialects \
                 disagree on which field is which",
                fields.len()
            ));
        }
        n => {
            return err(format!(
                "\"{text}\" has {n} field{}; cron needs 5 (minute hour day-of-month month \
                 day-of-week)",
                if n == 1 { "" } else { "s" }
            ));
        }
    }
    if text.contains('?') {
        return err("\"?\" is a Quartz extension that Vixie cron does not know; use \"*\" instead");
    }
    let mut spec = CronSpec {
        minutes: parse_plain(fields[0], Field::Minute)?.bits,
        hours: parse_plain(fields[1], Field::Hour)?.bits as u32,
        minute_star: fields[0].starts_with('*'),
        hour_star: fields[1].starts_with('*'),
        months: parse_plain(fields[3], Field::Month)?.bits as u16,
        ..CronSpec::default()
    };
    parse_day_of_month(fields[2], &mut spec)?;
    parse_day_of_week(fields[4], &mut spec)?;
    spec.dom_star = fields[2].starts_with('*');
    spec.dow_star = fields[4].starts_with('*');

    let stepped_star = |f: &str| f.starts_with("*/");
    if (stepped_star(fields[2]) && !spec.dow_star) || (stepped_star(fields[4]) && !spec.dom_star) {
        return err(format!(
            "\"{text}\" steps over \"*\" in one day field while the other day field is \
             restricted; Vixie cron then requires BOTH to match but other crons accept \
             EITHER; spell the days out (for example \"1-31/2\") to say which you mean"
        ));
    }
    check_fires(&spec, text)?;
    Ok(spec)
}

/// Reject day/month combinations that never occur, like "0 0 30 2 *".
fn check_fires(spec: &CronSpec, text: &str) -> Result<(), ScheduleError> {
    // With the OR rule any restricted weekday always comes round; with the AND rule and
    // `*` weekdays, only day-of-month and month matter. `*` days always fire.
    if !spec.dow_star || spec.dom_star || spec.last_day {
        return Ok(());
    }
    let possible = (1..=12u32).any(|m| {
        spec.months & (1 << m) != 0 && (1..=max_days(m)).any(|d| spec.days & (1 << d) != 0)
    });
    if possible {
        return Ok(());
    }
    err(format!(
        "\"{text}\" never fires: none of its days of the month exist in its months"
    ))
}

/// Longest month length, counting 29 February (leap years exist).
fn max_days(month: u32) -> u32 {
    match month {
        2 => 29,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// A parsed field as a bit set over its values.
struct Bits {
    bits: u64,
}

fn lookup_name(token: &str, names: &[&str]) -> Option<u32> {
    names
        .iter()
        .position(|n| n.eq_ignore_ascii_case(token))
        .map(|i| i as u32)
}

fn parse_value(token: &str, field: Field) -> Result<u32, ScheduleError> {
    let (lo, hi) = field.bounds();
    let value = if token.chars().all(|c| c.is_ascii_digit()) && !token.is_empty() {
        token.parse::<u32>().unwrap_or(u32::MAX)
    } else {
        let named = match field {
            Field::Month => lookup_name(token, &MONTHS).map(|i| i + 1),
            Field::DayOfWeek => lookup_name(token, &WEEKDAYS),
            _ => None,
        };
        match named {
            Some(v) => v,
            None if token.is_empty() => {
                return err(format!("empty value in the {} field", field.name()));
            }
            None => {
                let hint = match field {
                    Field::Month => "; months are 1-12 or JAN-DEC",
                    Field::DayOfWeek => "; weekdays are 0-7 (0 and 7 are Sunday) or SUN-SAT",
                    _ => "",
                };
                return err(format!(
                    "\"{token}\" is not a valid {} value{hint}",
                    field.name()
                ));
            }
        }
    };
    if value < lo || value > hi {
        return err(format!(
            "{value} is out of range for the {} field ({lo}-{hi})",
            field.name()
        ));
    }
    Ok(value)
}

/// Numbers, names, ranges, lists and steps: the part every field shares.
fn parse_plain(text: &str, field: Field) -> Result<Bits, ScheduleError> {
    let mut bits = 0u64;
    let items: Vec<&str> = text.split(',').collect();
    for item in &items {
        bits |= parse_item(item, field, items.len() > 1)?;
    }
    Ok(Bits { bits })
}

fn parse_item(item: &str, field: Field, in_list: bool) -> Result<u64, ScheduleError> {
    let (lo, hi) = field.bounds();
    let name = field.name();
    if item.is_empty() {
        return err(format!("empty item in the {name} field (stray comma?)"));
    }
    let (range, step) = match item.split_once('/') {
        Some((range, step)) => {
            let step: u32 = match step.parse() {
                Ok(n) if n > 0 => n,
                _ => {
                    return err(format!(
                        "\"{item}\": the step after \"/\" must be a whole number of at least 1"
                    ));
                }
            };
            (range, Some(step))
        }
        None => (item, None),
    };
    let (start, end) = if range == "*" {
        if in_list {
            return err(format!(
                "\"*\" inside a list in the {name} field; \"*\" already means every value"
            ));
        }
        // 7 is only an alias of Sunday: "*" over weekdays means 0-6.
        (lo, if field == Field::DayOfWeek { 6 } else { hi })
    } else if let Some((a, b)) = range.split_once('-') {
        let (a, b) = (parse_value(a, field)?, parse_value(b, field)?);
        if a > b {
            return err(format!(
                "\"{range}\" runs backwards in the {name} field; wrap-around ranges mean \
                 different things in different crons, so write it as a list (for example \
                 \"{a}-{hi},{lo}-{b}\")"
            ));
        }
        (a, b)
    } else {
        let v = parse_value(range, field)?;
        if step.is_some() {
            return err(format!(
                "\"{item}\": a step needs a range or \"*\" before it (\"{v}-{hi}/..\" or \
                 \"*/..\"); crons disagree on what \"{item}\" means"
            ));
        }
        (v, v)
    };
    let step = step.unwrap_or(1);
    let mut bits = 0u64;
    let mut v = start;
    while v <= end {
        // Sunday may be written 7; store it as 0.
        let stored = if field == Field::DayOfWeek && v == 7 {
            0
        } else {
            v
        };
        bits |= 1 << stored;
        v += step;
    }
    Ok(bits)
}

fn parse_day_of_month(text: &str, spec: &mut CronSpec) -> Result<(), ScheduleError> {
    let mut plain = Vec::new();
    for item in text.split(',') {
        let upper = item.to_ascii_uppercase();
        if upper == "L" {
            spec.last_day = true;
        } else if upper.contains('W') {
            return err(format!(
                "\"{item}\": \"W\" (nearest weekday) is not supported; Task Scheduler and \
                 Vixie cron have no such trigger"
            ));
        } else if upper.contains('L') {
            return err(format!(
                "\"{item}\": only a bare \"L\" (last day of the month) is supported in the \
                 day-of-month field"
            ));
        } else {
            plain.push(item);
        }
    }
    if !plain.is_empty() {
        let in_list = text.contains(',');
        for item in plain {
            spec.days |= parse_item(item, Field::DayOfMonth, in_list)? as u32;
        }
    }
    Ok(())
}

fn parse_day_of_week(text: &str, spec: &mut CronSpec) -> Result<(), ScheduleError> {
    let in_list = text.contains(',');
    for item in text.split(',') {
        if let Some((day, nth)) = item.split_once('#') {
            let day = weekday(day, item)?;
            let k: u32 = match nth.parse() {
                Ok(k) if (1..=4).contains(&k) => k,
                Ok(5) => {
                    return err(format!(
                        "\"{item}\": a fifth weekday does not occur every month; use \
                         \"{}L\" for the last one",
                        WEEKDAYS[day as usize]
                    ));
                }
                _ => {
                    return err(format!(
                        "\"{item}\": the number after \"#\" must be 1 to 4 (use \"L\" for \
                         the last)"
                    ));
                }
            };
            spec.nth_weekdays[day as usize] |= 1 << k;
        } else if item.len() > 1 && (item.ends_with('L') || item.ends_with('l')) {
            let day = &item[..item.len() - 1];
            if day.eq_ignore_ascii_case("L") || day.ends_with(['W', 'w']) {
                return err(format!("\"{item}\" is not supported"));
            }
            spec.last_weekdays |= 1 << weekday(day, item)?;
        } else if item.eq_ignore_ascii_case("L") {
            return err(format!(
                "\"{item}\" in the day-of-week field is ambiguous; write \"SATL\" or \"6L\" \
                 for the last Saturday, or put \"L\" in the day-of-month field"
            ));
        } else {
            spec.weekdays |= parse_item(item, Field::DayOfWeek, in_list)? as u8;
        }
    }
    Ok(())
}

fn weekday(token: &str, item: &str) -> Result<u32, ScheduleError> {
    if token.contains(['-', '/', '*']) {
        return err(format!(
            "\"{item}\": \"#\" and \"L\" take a single weekday, not a range"
        ));
    }
    let v = parse_value(token, Field::DayOfWeek)?;
    Ok(if v == 7 { 0 } else { v })
}
