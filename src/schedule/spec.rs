//! The one small representation every schedule is parsed into.
//!
//! Next-fire computation, `explain`, and the converters to Task Scheduler triggers and
//! crontab lines all read this, so that every consumer agrees on what a schedule means.

use jiff::civil::{Date, Weekday};

/// A parsed schedule plus the text it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub(super) source: String,
    pub(super) kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Fires at wall-clock times described by a cron spec.
    Cron(CronSpec),
    /// `@reboot`: fires when the scheduler starts, never at a clock time.
    Reboot,
}

/// Sets of values per cron field, as bit sets (bit n set = value n matches).
///
/// `dom_star` / `dow_star` record whether the day fields started with `*`, which
/// decides Vixie's day rule: when both day fields are restricted a day matches if
/// EITHER matches, otherwise both must. `minute_star` / `hour_star` decide whether a
/// job is a "wildcard" job for the DST policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CronSpec {
    /// Bits 0..=59.
    pub minutes: u64,
    /// Bits 0..=23.
    pub hours: u32,
    /// Bits 1..=31.
    pub days: u32,
    /// `L` in the day-of-month field.
    pub last_day: bool,
    /// Bits 1..=12.
    pub months: u16,
    /// Bits 0..=6, 0 = Sunday.
    pub weekdays: u8,
    /// `FRI#3`: per weekday (0 = Sunday), bit k set for the k-th occurrence (1..=4).
    pub nth_weekdays: [u8; 7],
    /// `5L`: bit n set for the last weekday n of the month.
    pub last_weekdays: u8,
    pub minute_star: bool,
    pub hour_star: bool,
    pub dom_star: bool,
    pub dow_star: bool,
}

impl Schedule {
    /// The text the schedule was written as (trimmed).
    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn kind(&self) -> &Kind {
        &self.kind
    }

    /// The cron spec, unless this is `@reboot`.
    pub fn cron(&self) -> Option<&CronSpec> {
        match &self.kind {
            Kind::Cron(spec) => Some(spec),
            Kind::Reboot => None,
        }
    }
}

/// Sunday = 0, as in cron.
pub fn cron_weekday(date: Date) -> u32 {
    date.weekday().to_sunday_zero_offset() as u32
}

impl CronSpec {
    /// A fixed-time job in Vixie's sense: neither minute nor hour starts with `*`.
    /// Only these are moved out of a DST gap and kept from running twice in an overlap.
    pub fn is_fixed_time(&self) -> bool {
        !self.minute_star && !self.hour_star
    }

    pub fn matches_minute(&self, minute: i8) -> bool {
        self.minutes & (1 << minute) != 0
    }

    pub fn matches_hour(&self, hour: i8) -> bool {
        self.hours & (1 << hour) != 0
    }

    pub fn matches_month(&self, month: i8) -> bool {
        self.months & (1 << month) != 0
    }

    /// Does the day-of-month field alone match `date`?
    pub fn matches_dom(&self, date: Date) -> bool {
        self.days & (1 << date.day()) != 0 || (self.last_day && date.day() == date.days_in_month())
    }

    /// Does the day-of-week field alone match `date`?
    pub fn matches_dow(&self, date: Date) -> bool {
        let wd = cron_weekday(date);
        if self.weekdays & (1 << wd) != 0 {
            return true;
        }
        let nth = (date.day() as u32 - 1) / 7 + 1;
        if self.nth_weekdays[wd as usize] & (1 << nth) != 0 {
            return true;
        }
        self.last_weekdays & (1 << wd) != 0 && date.day() + 7 > date.days_in_month()
    }

    /// Vixie's day rule, decided by the fields' first character.
    pub fn matches_day(&self, date: Date) -> bool {
        if !self.matches_month(date.month()) {
            return false;
        }
        if self.dom_star || self.dow_star {
            self.matches_dom(date) && self.matches_dow(date)
        } else {
            self.matches_dom(date) || self.matches_dow(date)
        }
    }

    /// Every value set in the minute field, ascending.
    pub fn minute_list(&self) -> Vec<u32> {
        bits(self.minutes, 0..60)
    }

    pub fn hour_list(&self) -> Vec<u32> {
        bits(self.hours as u64, 0..24)
    }

    pub fn day_list(&self) -> Vec<u32> {
        bits(self.days as u64, 1..32)
    }

    pub fn month_list(&self) -> Vec<u32> {
        bits(self.months as u64, 1..13)
    }

    pub fn weekday_list(&self) -> Vec<u32> {
        bits(self.weekdays as u64, 0..7)
    }
}

fn bits(set: u64, range: std::ops::Range<u32>) -> Vec<u32> {
    range.filter(|v| set & (1 << v) != 0).collect()
}

/// jiff's weekday for a cron weekday number (0 = Sunday).
pub fn weekday_from_cron(n: u32) -> Weekday {
    Weekday::from_sunday_zero_offset(n as i8).unwrap_or(Weekday::Sunday)
}
