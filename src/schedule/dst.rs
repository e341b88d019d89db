//! Warnings for fixed-time schedules that meet a daylight-saving change.
//!
//! Such a job still behaves well (see `next.rs`), but an operator who wrote "02:30"
//! should learn before the night it happens that 02:30 is missing or doubled.

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::next::{DST_THRESHOLD, next_wall};
use super::spec::Schedule;

impl Schedule {
    /// Warnings for the DST gaps and overlaps of `tz` in the year after `from` that
    /// this schedule's fixed times fall into. Empty for wildcard jobs, which follow the
    /// wall clock by design.
    pub fn dst_warnings(&self, tz: &TimeZone, from: Timestamp) -> Vec<String> {
        let Some(spec) = self.cron().filter(|s| s.is_fixed_time()) else {
            return Vec::new();
        };
        let zone = tz.iana_name().unwrap_or("the local time zone");
        let until = from
            .checked_add(SignedDuration::from_hours(24 * 366))
            .unwrap_or(from);
        let mut warnings = Vec::new();
        let (mut warned_gap, mut warned_fold) = (false, false);
        for transition in tz.following(from) {
            let at = transition.timestamp();
            if at > until {
                break;
            }
            let Ok(just_before) = at.checked_sub(SignedDuration::from_secs(1)) else {
                continue;
            };
            let before = tz.to_offset(just_before);
            let after = transition.offset();
            let shift = after.duration_since(before);
            let (old_wall, new_wall) = (before.to_datetime(at), after.to_datetime(at));
            if shift.is_positive()
                && shift < DST_THRESHOLD
                && !warned_gap
                && let Some(wall) = next_wall(spec, old_wall, Some(new_wall))
            {
                warnings.push(format!(
                    "{} on {} does not exist in {zone} (clocks go forward); the job runs \
                     once at {} instead",
                    wall.strftime("%H:%M"),
                    wall.date(),
                    new_wall.strftime("%H:%M"),
                ));
                warned_gap = true;
            } else if shift.is_negative()
                && -shift < DST_THRESHOLD
                && !warned_fold
                && let Some(wall) = next_wall(spec, new_wall, Some(old_wall))
            {
                warnings.push(format!(
                    "{} on {} occurs twice in {zone} (clocks go back); the job runs only \
                     once, at the first",
                    wall.strftime("%H:%M"),
                    wall.date(),
                ));
                warned_fold = true;
            }
        }
        warnings
    }
}
