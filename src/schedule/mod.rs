//! Schedules: orc's strict cron dialect, next fire times across time zones and DST,
//! and plain-words explanations.
//!
//! Every spelling a user may write is parsed into one [`CronSpec`]; everything else in
//! orc (the run loop, the Task Scheduler and crontab converters) reads only that.

mod dst;
mod explain;
mod next;
mod parse;
mod spec;
mod zone;

pub use explain::{DAY_NAMES, MONTH_NAMES};
pub use next::{DST_THRESHOLD, next_wall};
pub use parse::{ScheduleError, parse};
pub use spec::{CronSpec, Kind, Schedule, cron_weekday, weekday_from_cron};
pub use zone::{Zone, ZoneError, resolve_zone};

impl std::str::FromStr for Schedule {
    type Err = ScheduleError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s)
    }
}
