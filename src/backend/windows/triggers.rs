//! From orc's schedule representation to Task Scheduler triggers that fire at exactly
//! the times the cron expression means, or the reason that cannot be done.
//!
//! A trigger is a time of day, optionally repeated at an interval for a while, on the
//! days a day rule picks (every day; weekdays; days of the month and `Last`; the n-th
//! or last weekday of the month; each within chosen months). A schedule becomes the
//! product of a cover of its fire times within a day by arithmetic progressions and a
//! cover of its days by day rules, as few triggers as possible, at most 48.

use crate::schedule::CronSpec;

/// Task Scheduler accepts at most 48 triggers per task.
pub const MAX_TRIGGERS: usize = 48;

/// Bits 1..=12.
pub const ALL_MONTHS: u16 = 0b1_1111_1111_1110;
/// Bits 1..=31.
pub const ALL_DAYS: u32 = 0xFFFF_FFFE;
/// Bits 0..=6, Sunday first.
pub const ALL_WEEKDAYS: u8 = 0b111_1111;
/// `Weeks` bits: 1..=4 for the first to fourth occurrence, [`LAST_WEEK`] for the last.
pub const LAST_WEEK: u8 = 1 << 5;
/// Every occurrence of a weekday: the first four and the last (a fifth is always last).
pub const ALL_WEEKS: u8 = 0b1_1110 | LAST_WEEK;

/// When in a day a trigger fires: at `start` (minutes after midnight), then every
/// `interval` minutes, `count` times in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Times {
    pub start: u32,
    pub interval: u32,
    pub count: u32,
}

impl Times {
    pub fn minutes(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.count).map(move |k| self.start + k * self.interval)
    }
}

/// On which days a trigger fires.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Days {
    /// ScheduleByDay, every day.
    Daily,
    /// ScheduleByWeek, every week, on these weekdays (bit 0 = Sunday).
    Weekly { weekdays: u8 },
    /// ScheduleByMonth: these days of the month (bits 1..=31), the last day, in
    /// these months (bits 1..=12).
    Monthly { days: u32, last: bool, months: u16 },
    /// ScheduleByMonthDayOfWeek: these occurrences ([`ALL_WEEKS`] bits) of these
    /// weekdays, in these months.
    MonthlyDayOfWeek {
        weeks: u8,
        weekdays: u8,
        months: u16,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Trigger {
    pub times: Times,
    pub days: Days,
}

/// Why a schedule has no exact Task Scheduler form, and what would.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inexpressible {
    pub reason: String,
    pub suggestion: Option<String>,
}

impl std::fmt::Display for Inexpressible {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)?;
        if let Some(s) = &self.suggestion {
            write!(f, "; {s}")?;
        }
        Ok(())
    }
}

fn no(reason: impl Into<String>, suggestion: Option<String>) -> Inexpressible {
    Inexpressible {
        reason: reason.into(),
        suggestion,
    }
}

/// The triggers that fire exactly when `spec` does, fewest first found.
pub fn convert(spec: &CronSpec) -> Result<Vec<Trigger>, Inexpressible> {
    let days = day_rules(spec)?;
    let times = time_progressions(spec);
    let needed = days.len() * times.len();
    if needed > MAX_TRIGGERS {
        return Err(no(
            format!(
                "it needs {needed} Task Scheduler triggers ({} for the times of day × {} for the days), and a task may have at most {MAX_TRIGGERS}",
                times.len(),
                days.len()
            ),
            suggest_times(spec),
        ));
    }
    let mut triggers: Vec<Trigger> = days
        .iter()
        .flat_map(|d| {
            times.iter().map(move |t| Trigger {
                times: *t,
                days: d.clone(),
            })
        })
        .collect();
    triggers.sort();
    Ok(triggers)
}

/// The day rules whose union is exactly the days `spec` fires on.
fn day_rules(spec: &CronSpec) -> Result<Vec<Days>, Inexpressible> {
    if spec.months & ALL_MONTHS == 0 {
        return Err(no("it names no month", None));
    }
    let months = spec.months & ALL_MONTHS;
    let every_day = if months == ALL_MONTHS {
        Days::Daily
    } else {
        Days::Monthly {
            days: ALL_DAYS,
            last: false,
            months,
        }
    };
    let dom_full = spec.days & ALL_DAYS == ALL_DAYS;
    let dow_full = spec.weekdays & ALL_WEEKDAYS == ALL_WEEKDAYS;
    let dom_rule = (spec.days & ALL_DAYS != 0 || spec.last_day).then_some(Days::Monthly {
        days: spec.days & ALL_DAYS,
        last: spec.last_day,
        months,
    });
    if spec.dom_star || spec.dow_star {
        // A day must match both fields.
        return match (dom_full, dow_full) {
            (true, true) => Ok(vec![every_day]),
            (true, false) => dow_rules(spec, months),
            (false, true) => Ok(dom_rule.into_iter().collect()),
            (false, false) => Err(no(
                "it fires on days that match both the day of the month and the weekday (a `*` step in one of them), and Task Scheduler has no trigger for such an intersection",
                Some("list the days of the month, or the weekdays, without a `*` step".to_string()),
            )),
        };
    }
    // Both fields restricted: Vixie cron fires on days that match either.
    if dom_full || dow_full {
        return Ok(vec![every_day]);
    }
    let mut rules: Vec<Days> = dom_rule.into_iter().collect();
    rules.extend(dow_rules(spec, months)?);
    Ok(rules)
}

/// Weekday rules: weekdays that fire on the same occurrences share a trigger.
fn dow_rules(spec: &CronSpec, months: u16) -> Result<Vec<Days>, Inexpressible> {
    let mut groups: Vec<(u8, u8)> = Vec::new(); // (weeks, weekdays)
    for day in 0..7 {
        let weeks = if spec.weekdays & (1 << day) != 0 {
            ALL_WEEKS
        } else {
            let nth = spec.nth_weekdays[day];
            if nth & !0b1_1110 != 0 {
                return Err(no(
                    "a fifth weekday of the month (`#5`) has no Task Scheduler trigger: its \"last\" also fires in months with only four",
                    Some("use `L` for the last weekday of the month".to_string()),
                ));
            }
            nth | if spec.last_weekdays & (1 << day) != 0 {
                LAST_WEEK
            } else {
                0
            }
        };
        if weeks == 0 {
            continue;
        }
        match groups.iter_mut().find(|(w, _)| *w == weeks) {
            Some((_, days)) => *days |= 1 << day,
            None => groups.push((weeks, 1 << day)),
        }
    }
    Ok(groups
        .into_iter()
        .map(|(weeks, weekdays)| {
            if weeks == ALL_WEEKS && months == ALL_MONTHS {
                Days::Weekly { weekdays }
            } else {
                Days::MonthlyDayOfWeek {
                    weeks,
                    weekdays,
                    months,
                }
            }
        })
        .collect())
}

/// A sorted set split greedily into runs with one step: (first, step, count).
fn progressions(sorted: &[u32]) -> Vec<(u32, u32, u32)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        if i + 1 == sorted.len() {
            out.push((sorted[i], 0, 1));
            break;
        }
        let step = sorted[i + 1] - sorted[i];
        let mut j = i + 1;
        while j + 1 < sorted.len() && sorted[j + 1] - sorted[j] == step {
            j += 1;
        }
        out.push((sorted[i], step, (j - i + 1) as u32));
        i = j + 1;
    }
    out
}

/// The fire times within a day as few progressions as possible: all of them as one
/// sequence, or each minute across the hours, or each hour across the minutes.
fn time_progressions(spec: &CronSpec) -> Vec<Times> {
    let (hours, minutes) = (spec.hour_list(), spec.minute_list());
    let all: Vec<u32> = hours
        .iter()
        .flat_map(|h| minutes.iter().map(move |m| h * 60 + m))
        .collect();
    let times = |v: Vec<(u32, u32, u32)>| -> Vec<Times> {
        v.into_iter()
            .map(|(start, interval, count)| Times {
                start,
                interval,
                count,
            })
            .collect()
    };
    let whole = times(progressions(&all));
    let per_minute = times(
        minutes
            .iter()
            .flat_map(|m| {
                progressions(&hours)
                    .into_iter()
                    .map(move |(h, step, count)| (h * 60 + m, step * 60, count))
            })
            .collect(),
    );
    let per_hour = times(
        hours
            .iter()
            .flat_map(|h| {
                progressions(&minutes)
                    .into_iter()
                    .map(move |(m, step, count)| (h * 60 + m, step, count))
            })
            .collect(),
    );
    let mut best = [whole, per_minute, per_hour];
    best.sort_by_key(Vec::len);
    let [first, ..] = best;
    first
}

/// For a minute step that does not divide the hour, the nearest that does.
fn suggest_times(spec: &CronSpec) -> Option<String> {
    let minutes = spec.minute_list();
    let [(0, step, count)] = progressions(&minutes)[..] else {
        return Some(
            "use fewer distinct minutes or hours, or split the task into several with simpler schedules"
                .to_string(),
        );
    };
    if count < 2 || 60 % step == 0 {
        return Some("use fewer distinct days, minutes or hours".to_string());
    }
    let nearest = [1u32, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30]
        .into_iter()
        .min_by_key(|d| d.abs_diff(step))
        .unwrap_or(5);
    Some(format!(
        "every {step} minutes restarts at each full hour, so the gaps are uneven; `*/{nearest}` (every {nearest} minutes) is one trigger"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::parse;

    fn triggers(expr: &str) -> Result<Vec<Trigger>, Inexpressible> {
        convert(parse(expr).unwrap().cron().unwrap())
    }

    #[test]
    fn office_hours_are_one_weekly_trigger() {
        let t = triggers("0 9-17 * * 1-5").unwrap();
        assert_eq!(
            t,
            [Trigger {
                times: Times {
                    start: 9 * 60,
                    interval: 60,
                    count: 9
                },
                days: Days::Weekly {
                    weekdays: 0b011_1110
                },
            }]
        );
    }

    #[test]
    fn every_seven_minutes_is_not_a_seven_minute_repetition() {
        let t = triggers("*/7 * * * *").unwrap();
        // :00 :07 … :56, each repeated hourly all day.
        assert_eq!(t.len(), 9);
        assert!(
            t.iter()
                .all(|t| t.times.interval == 60 && t.times.count == 24)
        );
    }

    #[test]
    fn day_of_month_steps_are_day_lists() {
        let t = triggers("0 3 */2 * *").unwrap();
        let [
            Trigger {
                days: Days::Monthly { days, last, .. },
                ..
            },
        ] = &t[..]
        else {
            panic!("{t:?}")
        };
        assert_eq!(*days, 0xAAAA_AAAA & ALL_DAYS);
        assert!(!last);
    }

    #[test]
    fn both_day_fields_are_two_triggers() {
        let t = triggers("0 6 1,15 * MON").unwrap();
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn fifth_weekday_and_intersections_are_rejected_with_advice() {
        // The parser refuses both; a spec built by hand shows the converter does too.
        let mut spec = parse("0 6 * * FRI#3").unwrap().cron().unwrap().clone();
        spec.nth_weekdays[5] |= 1 << 5;
        let e = convert(&spec).unwrap_err();
        assert!(e.reason.contains("fifth weekday"), "{e}");
        assert!(e.suggestion.unwrap().contains("`L`"));
        let mut spec = parse("0 6 */2 * *").unwrap().cron().unwrap().clone();
        spec.weekdays = 0b10;
        let e = convert(&spec).unwrap_err();
        assert!(e.reason.contains("intersection"), "{e}");
        let e = triggers("0,1,3,7,15,31,47 0,1,3,7,15 1 * MON#1,TUE#2,WED#3").unwrap_err();
        assert!(e.reason.contains("at most 48"), "{e}");
    }
}
