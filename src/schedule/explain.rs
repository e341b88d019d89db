//! Schedules said in words, for `orc schedule explain` and the plan output.

use super::spec::{CronSpec, Kind, Schedule};

/// Month names, January first (also Task Scheduler's element names).
pub const MONTH_NAMES: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
/// Weekday names, Sunday first as in cron (also Task Scheduler's element names).
pub const DAY_NAMES: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const ORDINALS: [&str; 5] = ["", "first", "second", "third", "fourth"];

impl Schedule {
    /// "At 06:00, Monday through Friday".
    pub fn explain(&self) -> String {
        match &self.kind {
            Kind::Reboot => "At system startup".to_string(),
            Kind::Cron(spec) => explain(spec),
        }
    }
}

fn explain(spec: &CronSpec) -> String {
    let mut parts = vec![time_phrase(spec)];
    if let Some(days) = day_phrase(spec) {
        parts.push(days);
    }
    if let Some(months) = month_phrase(spec) {
        parts.push(months);
    }
    parts.join(", ")
}

/// "a, b and c".
fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// Values as runs: [1,2,3,4,5] -> Some((1,5)) when contiguous.
fn as_range(values: &[u32]) -> Option<(u32, u32)> {
    let (first, last) = (*values.first()?, *values.last()?);
    (values.len() as u32 == last - first + 1).then_some((first, last))
}

/// [0,15,30,45] over a field of `size` values -> Some(15).
fn as_step(values: &[u32], size: u32) -> Option<u32> {
    if values.len() < 2 || values[0] != 0 {
        return None;
    }
    let step = values[1] - values[0];
    let regular = values.windows(2).all(|w| w[1] - w[0] == step);
    (regular && step > 1 && values.len() as u32 == size.div_ceil(step)).then_some(step)
}

fn time_phrase(spec: &CronSpec) -> String {
    let minutes = spec.minute_list();
    let hours = spec.hour_list();
    if minutes.len() * hours.len() <= 6 && hours.len() < 24 {
        let times: Vec<String> = hours
            .iter()
            .flat_map(|h| minutes.iter().map(move |m| format!("{h:02}:{m:02}")))
            .collect();
        return format!("At {}", join_and(&times));
    }
    let minute_part = if minutes.len() == 60 {
        "Every minute".to_string()
    } else if let Some(step) = as_step(&minutes, 60) {
        format!("Every {step} minutes")
    } else {
        let list: Vec<String> = minutes.iter().map(u32::to_string).collect();
        let noun = if minutes.len() == 1 {
            "minute"
        } else {
            "minutes"
        };
        format!("At {noun} {}", join_and(&list))
    };
    let past = minute_part.starts_with("At");
    if hours.len() == 24 {
        return if past {
            format!("{minute_part} past every hour")
        } else {
            minute_part
        };
    }
    let hour_part = if let Some((a, b)) = as_range(&hours) {
        format!("between {a:02}:00 and {b:02}:59")
    } else if let Some(step) = as_step(&hours, 24) {
        format!("every {step} hours")
    } else {
        let list: Vec<String> = hours.iter().map(|h| format!("{h:02}")).collect();
        format!("during hours {}", join_and(&list))
    };
    if past && hour_part.starts_with("every") {
        format!("{minute_part} past {hour_part}")
    } else {
        format!("{minute_part}, {hour_part}")
    }
}

fn dom_phrase(spec: &CronSpec) -> Option<String> {
    let days = spec.day_list();
    if days.len() == 31 {
        return None;
    }
    let mut items = Vec::new();
    if let Some((a, b)) = as_range(&days).filter(|(a, b)| b - a >= 2) {
        items.push(format!("days {a} through {b}"));
    } else if !days.is_empty() {
        let list: Vec<String> = days.iter().map(u32::to_string).collect();
        let noun = if days.len() == 1 { "day" } else { "days" };
        items.push(format!("{noun} {}", join_and(&list)));
    }
    if spec.last_day {
        items.push("the last day".to_string());
    }
    Some(format!("on {} of the month", join_and(&items)))
}

fn dow_phrase(spec: &CronSpec) -> Option<String> {
    let weekdays = spec.weekday_list();
    let special = spec.nth_weekdays.iter().any(|&b| b != 0) || spec.last_weekdays != 0;
    if weekdays.len() == 7 && !special {
        return None;
    }
    let mut items = Vec::new();
    match as_range(&weekdays) {
        Some((a, b)) if b - a >= 2 => items.push(format!(
            "{} through {}",
            DAY_NAMES[a as usize], DAY_NAMES[b as usize]
        )),
        _ => items.extend(weekdays.iter().map(|&d| DAY_NAMES[d as usize].to_string())),
    }
    for (day, &mask) in spec.nth_weekdays.iter().enumerate() {
        for (k, ordinal) in ORDINALS.iter().enumerate().skip(1) {
            if mask & (1 << k) != 0 {
                items.push(format!("the {ordinal} {}", DAY_NAMES[day]));
            }
        }
    }
    for (day, name) in DAY_NAMES.iter().enumerate() {
        if spec.last_weekdays & (1 << day) != 0 {
            items.push(format!("the last {name}"));
        }
    }
    let text = join_and(&items);
    Some(if text.contains(" through ") && items.len() == 1 {
        text
    } else {
        format!("on {text}")
    })
}

fn day_phrase(spec: &CronSpec) -> Option<String> {
    let (dom, dow) = (dom_phrase(spec), dow_phrase(spec));
    if spec.dom_star || spec.dow_star {
        // AND rule: every restriction that is there applies.
        return match (dom, dow) {
            (Some(d), Some(w)) => Some(format!("{d} and {w}")),
            (d, w) => d.or(w),
        };
    }
    match (dom, dow) {
        (Some(d), Some(w)) => Some(format!("{d} or {w}")),
        // One field covers every day: under the OR rule every day matches.
        _ => None,
    }
}

fn month_phrase(spec: &CronSpec) -> Option<String> {
    let months = spec.month_list();
    if months.len() == 12 {
        return None;
    }
    let name = |m: &u32| MONTH_NAMES[*m as usize - 1].to_string();
    Some(match as_range(&months) {
        Some((a, b)) if b - a >= 2 => format!("{} through {}", name(&a), name(&b)),
        _ => format!(
            "in {}",
            join_and(&months.iter().map(name).collect::<Vec<_>>())
        ),
    })
}
