//! When Task Scheduler would start a task, computed from its XML: the check that the
//! converter's triggers mean what the cron expression means.
//!
//! The model: a calendar trigger fires on each day its schedule picks, on or after the
//! StartBoundary's date, at the StartBoundary's time of day and then every Interval
//! while less than Duration has passed. Times are wall-clock times in the given zone
//! (or UTC for a boundary with `Z`). Microsoft does not specify what happens to a
//! wall-clock time that a daylight-saving change skips or repeats; this model takes
//! jiff's "compatible" reading (a skipped time moves forward, a repeated one fires
//! at its first occurrence), and callers compare only outside transition windows.

use std::collections::BTreeSet;

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

use super::read::{ReadSchedule, ReadTrigger, read_triggers};
use super::triggers::LAST_WEEK;

/// Why the starts of a task's XML cannot be listed.
#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    #[error(transparent)]
    Xml(#[from] crate::tasksched::XmlError),
    /// Days past the end of the calendar.
    #[error(transparent)]
    Time(#[from] jiff::Error),
}

/// Every start in `[from, to)` (dates in the trigger's zone) of the task `xml`.
pub fn fire_times(
    xml: &str,
    tz: &TimeZone,
    from: Date,
    to: Date,
) -> Result<BTreeSet<Timestamp>, SimulateError> {
    Ok(fire_times_of(&read_triggers(xml)?, tz, from, to)?)
}

/// Every start in `[from, to)` of tasks with `triggers`.
pub fn fire_times_of(
    triggers: &[ReadTrigger],
    tz: &TimeZone,
    from: Date,
    to: Date,
) -> Result<BTreeSet<Timestamp>, jiff::Error> {
    let mut fires = BTreeSet::new();
    let mut day = from;
    while day < to {
        for t in triggers.iter().filter(|t| t.enabled) {
            if fires_on(t, day) {
                for time in day_times(t) {
                    let zone = if t.utc { &TimeZone::UTC } else { tz };
                    if let Ok(at) = zone.to_timestamp(DateTime::from_parts(day, time)) {
                        fires.insert(at);
                    }
                }
            }
        }
        day = day.tomorrow()?;
    }
    Ok(fires)
}

/// The times of day a trigger fires on a day it fires.
fn day_times(t: &ReadTrigger) -> Vec<Time> {
    let start = t.start.time();
    let Some((interval, duration)) = t.repetition else {
        return vec![start];
    };
    let interval_secs = interval.as_secs().max(60) as i64;
    // Without a Duration the repetition goes on; within one day's fires is what counts.
    let duration_secs = duration.map_or(86_400, |d| d.as_secs() as i64);
    let start_secs = i64::from(start.hour()) * 3600 + i64::from(start.minute()) * 60;
    (0..)
        .map(|k| k * interval_secs)
        .take_while(|offset| *offset < duration_secs && start_secs + offset < 86_400)
        .filter_map(|offset| {
            let secs = start_secs + offset;
            Time::new((secs / 3600) as i8, ((secs % 3600) / 60) as i8, 0, 0).ok()
        })
        .collect()
}

fn fires_on(t: &ReadTrigger, day: Date) -> bool {
    let first = t.start.date();
    if day < first {
        return false;
    }
    let weekday_bit = 1u8 << day.weekday().to_sunday_zero_offset();
    match &t.schedule {
        ReadSchedule::Once => day == first,
        ReadSchedule::Daily { every } => {
            let since = (day - first).get_days() as i64;
            since % i64::from((*every).max(1)) == 0
        }
        ReadSchedule::Weekly { every, weekdays } => {
            let weeks = (day - first).get_days() as i64 / 7;
            weeks % i64::from((*every).max(1)) == 0 && weekdays & weekday_bit != 0
        }
        ReadSchedule::Monthly { days, last, months } => {
            months & (1 << day.month()) != 0
                && (days & (1 << day.day()) != 0 || (*last && day.day() == day.days_in_month()))
        }
        ReadSchedule::MonthlyDayOfWeek {
            weeks,
            weekdays,
            months,
        } => {
            let nth = (day.day() - 1) / 7 + 1;
            let is_last = day
                .checked_add(7.days())
                .map_or(true, |d| d.month() != day.month());
            months & (1 << day.month()) != 0
                && weekdays & weekday_bit != 0
                && ((nth <= 4 && weeks & (1 << nth) != 0) || (is_last && weeks & LAST_WEEK != 0))
        }
        ReadSchedule::Other(_) => false,
    }
}
