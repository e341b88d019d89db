//! Next fire times, with Vixie cron's DST policy.
//!
//! Time is cut into segments between the zone's offset transitions. Inside a segment
//! wall clock and instants move together, so the next fire is the first matching wall
//! minute in the segment. At a transition that leaves a gap (clocks forward by less
//! than three hours) a fixed-time job whose time was skipped fires once at the
//! transition; after a transition that repeats wall times (clocks back by less than
//! three hours) a fixed-time job skips the repeated minutes. Wildcard jobs (minute or
//! hour field starting with `*`) simply follow the wall clock. Changes of three hours
//! or more are, as in Vixie cron, treated as a new clock: no catch-up, no skipping.

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ZonedDateTime};

use super::spec::{CronSpec, Schedule};

/// Offset changes shorter than this are DST-like and get Vixie's special handling.
pub const DST_THRESHOLD: SignedDuration = SignedDuration::from_hours(3);

/// How far ahead to look before deciding a schedule has no next fire. Long enough
/// for 29 February across a skipped leap year (2096 -> 2104).
const HORIZON_DAYS: i64 = 366 * 10;

impl Schedule {
    /// The first fire time strictly after `after`, in zone `tz`. `None` for `@reboot`
    /// (never fires on the clock) or when nothing fires within ten years.
    pub fn next_after(&self, tz: &TimeZone, after: Timestamp) -> Option<ZonedDateTime> {
        let spec = self.cron()?;
        next_after(spec, tz, after).map(|ts| ts.to_zoned_datetime(tz.clone()))
    }

    /// The next `count` fire times strictly after `after`.
    pub fn upcoming(&self, tz: &TimeZone, after: Timestamp, count: usize) -> Vec<ZonedDateTime> {
        let mut out = Vec::with_capacity(count);
        let mut from = after;
        while out.len() < count {
            let Some(next) = self.next_after(tz, from) else {
                break;
            };
            from = next.timestamp();
            out.push(next);
        }
        out
    }
}

/// The instant of the next fire of `spec` strictly after `after`.
pub fn next_after(spec: &CronSpec, tz: &TimeZone, after: Timestamp) -> Option<Timestamp> {
    let fixed = spec.is_fixed_time();
    let horizon = after
        .checked_add(SignedDuration::from_hours(24 * HORIZON_DAYS))
        .ok()?;

    // The segment holding `after` began at the last transition at or before it.
    // (One nanosecond, the finest step a Timestamp has: anything coarser would
    // misplace an `after` that sits just before a transition.)
    let probe = after.checked_add(SignedDuration::from_nanos(1)).ok()?;
    let mut seg_start = tz.preceding(probe).next().map(|t| t.timestamp());
    let mut offset = tz.to_offset(after);
    let mut first = true;

    loop {
        let next_transition = tz.following(seg_start.unwrap_or(after).max(after)).next();
        let seg_end = next_transition.as_ref().map(|t| t.timestamp());

        let mut lower = if first {
            // Whole minutes strictly after `after`.
            ceil_minute(offset.to_datetime(probe))
        } else {
            ceil_minute(offset.to_datetime(seg_start?))
        };

        if let Some(start) = seg_start {
            let before = tz.to_offset(start.checked_sub(SignedDuration::from_secs(1)).ok()?);
            let shift = offset.duration_since(before);
            let gap_walls = (before.to_datetime(start), offset.to_datetime(start));
            if fixed && shift.is_positive() && shift < DST_THRESHOLD && !first {
                // Clocks went forward: skipped fixed times run once, right after the gap.
                if next_wall(spec, ceil_minute(gap_walls.0), Some(gap_walls.1)).is_some() {
                    return Some(start);
                }
            }
            if fixed && shift.is_negative() && -shift < DST_THRESHOLD {
                // Clocks went back: the repeated wall times already ran in the first pass.
                lower = lower.max(ceil_minute(before.to_datetime(start)));
            }
        }

        let upper = seg_end.map(|end| offset.to_datetime(end));
        if let Some(wall) = next_wall(spec, lower, upper) {
            return offset.to_timestamp(wall).ok();
        }
        let transition = next_transition?;
        if transition.timestamp() > horizon {
            return None;
        }
        seg_start = Some(transition.timestamp());
        offset = transition.offset();
        first = false;
    }
}

/// Round a wall time up to a whole minute.
fn ceil_minute(dt: DateTime) -> DateTime {
    let floored = dt
        .with()
        .second(0)
        .subsec_nanosecond(0)
        .build()
        .unwrap_or(dt);
    if floored == dt {
        dt
    } else {
        floored
            .checked_add(SignedDuration::from_mins(1))
            .unwrap_or(floored)
    }
}

/// The first wall minute at or after `lower` (and before `upper`, if given) that the
/// spec matches, ignoring time zones.
pub fn next_wall(spec: &CronSpec, lower: DateTime, upper: Option<DateTime>) -> Option<DateTime> {
    let mut date = lower.date();
    let mut from = (lower.hour() as u32, lower.minute() as u32);
    for _ in 0..HORIZON_DAYS {
        if upper.is_some_and(|u| date > u.date()) {
            return None;
        }
        if !spec.matches_month(date.month()) {
            date = first_of_next_month(date)?;
            from = (0, 0);
            continue;
        }
        if spec.matches_day(date)
            && let Some((h, m)) = first_time(spec, from)
        {
            let wall = date.at(h as i8, m as i8, 0, 0);
            return match upper {
                Some(u) if wall >= u => None,
                _ => Some(wall),
            };
        }
        date = date.tomorrow().ok()?;
        from = (0, 0);
    }
    None
}

fn first_of_next_month(date: Date) -> Option<Date> {
    date.last_of_month().tomorrow().ok()
}

/// The first (hour, minute) at or after `from` that matches the time fields.
fn first_time(spec: &CronSpec, from: (u32, u32)) -> Option<(u32, u32)> {
    let (h0, m0) = from;
    for h in h0..24 {
        if spec.hours & (1 << h) == 0 {
            continue;
        }
        let start = if h == h0 { m0 } else { 0 };
        let rest = spec.minutes >> start;
        if rest != 0 {
            let m = start + rest.trailing_zeros();
            if m < 60 {
                return Some((h, m));
            }
        }
    }
    None
}
