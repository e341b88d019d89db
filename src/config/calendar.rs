//! Calendars and blackout windows: which of a task's fires run.
//!
//! A task records the calendars it names whole (their days, as `[calendars.NAME]`
//! and its `ics` file said at apply), so that `orc run` decides on any backend, from
//! the state alone, and a plan shows each task a calendar change touches.

use jiff::Timestamp;
use jiff::civil::{Date, DateTime, Time};
use serde::{Deserialize, Serialize};

use super::model::Task;

/// A set of days: `[calendars.NAME]`, as a task that uses it records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Calendar {
    pub name: String,
    /// Inclusive ranges of days, sorted, merged where they meet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub days: Vec<DayRange>,
    /// ISO weekdays (1 Monday to 7 Sunday) that are in the calendar every week.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weekdays: Vec<u8>,
}

impl Calendar {
    pub fn contains(&self, day: Date) -> bool {
        let weekday = day.weekday().to_monday_one_offset() as u8;
        self.weekdays.contains(&weekday)
            || self
                .days
                .binary_search_by(|r| {
                    if r.last < day {
                        std::cmp::Ordering::Less
                    } else if r.first > day {
                        std::cmp::Ordering::Greater
                    } else {
                        std::cmp::Ordering::Equal
                    }
                })
                .is_ok()
    }

    /// Sort the ranges and merge those that overlap or meet, so that a lookup is a
    /// binary search and equal calendars record equal.
    pub fn normalise(&mut self) {
        self.days.sort();
        let mut merged: Vec<DayRange> = Vec::with_capacity(self.days.len());
        for range in self.days.drain(..) {
            match merged.last_mut() {
                Some(last) if last.last.tomorrow().is_ok_and(|t| t >= range.first) => {
                    last.last = last.last.max(range.last);
                }
                _ => merged.push(range),
            }
        }
        self.days = merged;
        self.weekdays.sort_unstable();
        self.weekdays.dedup();
    }
}

/// Days from `first` to `last`, both included; written `2026-12-25` for one day and
/// `2026-12-24..2026-12-31` for several.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DayRange {
    pub first: Date,
    pub last: Date,
}

impl DayRange {
    pub fn parse(text: &str) -> Result<DayRange, String> {
        let day = |t: &str| {
            t.trim()
                .parse::<Date>()
                .map_err(|_| format!("\"{}\" is not a date like 2026-12-25", t.trim()))
        };
        let range = match text.split_once("..") {
            Some((a, b)) => DayRange {
                first: day(a)?,
                last: day(b)?,
            },
            None => {
                let d = day(text)?;
                DayRange { first: d, last: d }
            }
        };
        if range.last < range.first {
            return Err(format!(
                "\"{text}\" ends before it starts; write the earlier date first"
            ));
        }
        Ok(range)
    }
}

impl std::fmt::Display for DayRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}..{}", self.first, self.last)
        }
    }
}

impl Serialize for DayRange {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DayRange {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<DayRange, D::Error> {
        let text = String::deserialize(d)?;
        DayRange::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A window in which the task's fires do not run: every day between two times
/// (`22:00` to `06:00` goes past midnight), or once between two moments, both in the
/// task's time zone. Recorded as written, normalised (`HH:MM[:SS]`,
/// `YYYY-MM-DDTHH:MM[:SS]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blackout {
    pub from: String,
    pub to: String,
}

/// A [`Blackout`] read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    Daily { from: Time, to: Time },
    Once { from: DateTime, to: DateTime },
}

impl Blackout {
    /// The window, or why `from` and `to` make none.
    pub fn window(&self) -> Result<Window, String> {
        let (from, to) = (self.from.trim(), self.to.trim());
        // Each end that reads as nothing says why first.
        let (a, b) = (Form::read(from), Form::read(to));
        for (key, end) in [("from", &a), ("to", &b)] {
            if let Err(why) = end {
                return Err(format!("{key}: {why}"));
            }
        }
        match (a.ok(), b.ok()) {
            (Some(Form::Time(a)), Some(Form::Time(b))) if a == b => Err(format!(
                "the window from {from} to {to} is empty; a whole day is a calendar's job (skip_on)"
            )),
            (Some(Form::Time(from)), Some(Form::Time(to))) => Ok(Window::Daily { from, to }),
            (Some(Form::Moment(a)), Some(Form::Moment(b))) if b <= a => Err(format!(
                "the window from {from} to {to} {}",
                if a == b {
                    "is empty"
                } else {
                    "ends before it starts"
                }
            )),
            (Some(Form::Moment(a)), Some(Form::Moment(b)))
                if a.year() >= 9999 || b.year() >= 9999 =>
            {
                Err(format!(
                    "the window from {from} to {to} is past what orc can count"
                ))
            }
            (Some(Form::Moment(from)), Some(Form::Moment(to))) => Ok(Window::Once { from, to }),
            _ => Err(format!(
                "from = \"{from}\" and to = \"{to}\" are not of one kind: both times of day (\"22:00\", every day) or both dates with times (\"2026-12-24T18:00\", once)"
            )),
        }
    }

    /// The longest a fire may wait in this window.
    pub fn longest(&self) -> std::time::Duration {
        let secs = match self.window() {
            Ok(Window::Daily { from, to }) => {
                let span = to.duration_since(from).as_secs();
                if span > 0 { span } else { span + 86_400 }
            }
            Ok(Window::Once { from, to }) => to.duration_since(from).as_secs(),
            Err(_) => 0,
        };
        // An hour more: a window across a change to summer time is an hour longer.
        std::time::Duration::from_secs(secs.max(0) as u64 + 3600)
    }
}

/// One end of a window as written.
enum Form {
    /// `HH:MM` or `HH:MM:SS`.
    Time(Time),
    /// `YYYY-MM-DD`, or with `THH:MM[:SS]` (a space or a `t` for the `T`).
    Moment(DateTime),
}

impl Form {
    /// Strictly these shapes: jiff alone would also read a date and time as a time
    /// of day, and take an offset it then ignores. Why not, when it is not.
    fn read(text: &str) -> Result<Form, String> {
        if let Some(form) = Form::shaped(text) {
            return Ok(form);
        }
        let shape = "a time of day (\"22:00\", every day) or a date with a time (\"2026-12-24T18:00\", once), in the task's time zone";
        let b = text.as_bytes();
        let clock = |t: &str| {
            let (h, m) = t.split_once(':')?;
            let m = m.get(..2)?;
            Some((h.parse::<u32>().ok()?, m.parse::<u32>().ok()?))
        };
        // A time part after a date, or the text itself.
        let time = match b.get(10) {
            Some(b'T' | b't' | b' ') if b.len() > 10 => &text[11..],
            _ => text,
        };
        let offset = clock(time).is_some()
            && time
                .get(5..)
                .is_some_and(|rest| rest.contains(['+', '-', 'Z', 'z']));
        Err(if offset {
            format!(
                "\"{text}\" has an offset: write the time in the task's time zone (its `timezone`), without one"
            )
        } else if let Some((h, m)) = clock(time)
            && (h > 23 || m > 59)
        {
            format!("\"{text}\" is not a time of day (00:00 to 23:59)")
        } else if let Some(day) = text.get(..10)
            && b[4] == b'-'
            && day.parse::<Date>().is_err()
        {
            format!("\"{day}\" is not a date")
        } else {
            format!("\"{text}\" is not {shape}")
        })
    }

    /// One of the shapes, or none.
    fn shaped(text: &str) -> Option<Form> {
        let b = text.as_bytes();
        let digits =
            |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
        let time_at = |i: usize| -> Option<Time> {
            let t = text.get(i..)?;
            let shaped = (t.len() == 5 || t.len() == 8)
                && digits(i..i + 2)
                && b[i + 2] == b':'
                && digits(i + 3..i + 5)
                && (t.len() == 5 || (b[i + 5] == b':' && digits(i + 6..i + 8)));
            shaped.then(|| t.parse().ok()).flatten()
        };
        if let Some(t) = time_at(0) {
            return Some(Form::Time(t));
        }
        let dated = b.len() >= 10
            && digits(0..4)
            && b[4] == b'-'
            && digits(5..7)
            && b[7] == b'-'
            && digits(8..10);
        if !dated {
            return None;
        }
        let date: Date = text[..10].parse().ok()?;
        match b.get(10) {
            None => Some(Form::Moment(date.to_datetime(Time::midnight()))),
            Some(b'T' | b't' | b' ') => Some(Form::Moment(date.to_datetime(time_at(11)?))),
            Some(_) => None,
        }
    }
}

/// What a task does with a fire in a blackout window.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum BlackoutPolicy {
    /// The fire is recorded as skipped.
    #[default]
    Skip,
    /// The window's first fire runs when the window ends; the others are skipped.
    Defer,
}

/// Whether a fire runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Run,
    /// Recorded as skipped, with why, and not alerted.
    Skip(String),
    /// Run at `until`, the end of the blackout window the fire is in.
    Defer {
        until: Timestamp,
        reason: String,
    },
}

impl Task {
    /// Why the task's calendars (`skip_on`, `only_on`) keep its fires off `day`.
    pub fn day_skip(&self, day: Date) -> Option<String> {
        if let Some(cal) = self.skip_on.iter().find(|c| c.contains(day)) {
            return Some(format!("{day} is in calendar \"{}\" (skip_on)", cal.name));
        }
        if !self.only_on.is_empty() && !self.only_on.iter().any(|c| c.contains(day)) {
            let names: Vec<String> = self
                .only_on
                .iter()
                .map(|c| format!("\"{}\"", c.name))
                .collect();
            return Some(format!(
                "{day} is in none of only_on's calendars ({})",
                names.join(", ")
            ));
        }
        None
    }

    /// Whether the fire at `fire` runs, by the task's calendars (`skip_on`,
    /// `only_on`) and blackout windows. Decided in the task's time zone.
    pub fn verdict(&self, fire: Timestamp) -> Verdict {
        let tz = self.timezone.tz();
        if let Some(why) = self.day_skip(tz.to_datetime(fire).date()) {
            return Verdict::Skip(why);
        }
        let Some((start, end, blackout)) = self.blackout_around(fire) else {
            return Verdict::Run;
        };
        let span = format!("the blackout window {} to {}", blackout.from, blackout.to);
        if self.blackout_policy == BlackoutPolicy::Skip {
            return Verdict::Skip(format!("in {span}"));
        }
        // Deferred, the window's fires would all run at its end: only the first its
        // calendars let run does.
        match self.first_fire_between(start, fire) {
            Some(first) => Verdict::Skip(format!(
                "in {span}; its first fire ({}) runs at its end",
                first
                    .to_zoned_datetime(tz.clone())
                    .strftime("%Y-%m-%dT%H:%M:%S%:z")
            )),
            None => Verdict::Defer {
                until: end,
                reason: format!("in {span}: deferred to its end"),
            },
        }
    }

    /// The blackout around `at`, windows that meet or overlap taken as one: its start,
    /// end, and the window `at` is in.
    fn blackout_around(&self, at: Timestamp) -> Option<(Timestamp, Timestamp, &Blackout)> {
        let tz = self.timezone.tz();
        let around = |t: Timestamp| {
            self.blackout
                .iter()
                .find_map(|b| window_around(b, t, tz).map(|w| (w, b)))
        };
        let ((mut start, mut end), blackout) = around(at)?;
        // A bound on the merging: windows chained without end are a config's mistake.
        for _ in 0..64 {
            match around(end) {
                Some(((_, later), _)) if later > end => end = later,
                _ => break,
            }
        }
        for _ in 0..64 {
            match around(start - jiff::SignedDuration::from_secs(1)) {
                Some(((earlier, _), _)) if earlier < start => start = earlier,
                _ => break,
            }
        }
        Some((start, end, blackout))
    }

    /// The first fire in `[start, before)` on a day the calendars let run.
    fn first_fire_between(&self, start: Timestamp, before: Timestamp) -> Option<Timestamp> {
        let (schedule, tz) = (self.schedule.as_ref()?, self.timezone.tz());
        let mut at = start - jiff::SignedDuration::from_secs(1);
        for _ in 0..LOOK_AHEAD {
            at = schedule.next_after(tz, at)?.timestamp();
            if at >= before {
                return None;
            }
            match self.day_skip(tz.to_datetime(at).date()) {
                None => return Some(at),
                Some(_) => at = self.end_of_day(at)?,
            }
        }
        None
    }

    /// The last second of the day `at` is in, in the task's zone: where a search
    /// for the next fire goes on after a day its calendars skip.
    pub fn end_of_day(&self, at: Timestamp) -> Option<Timestamp> {
        let tz = self.timezone.tz();
        let next_day = tz.to_datetime(at).date().tomorrow().ok()?;
        let midnight = tz
            .to_timestamp(next_day.to_datetime(Time::midnight()))
            .ok()?;
        Some(midnight - jiff::SignedDuration::from_secs(1))
    }

    /// When the task next runs on its schedule after `after`, its calendars and
    /// windows applied (a deferred fire at its window's end). Skipped days are
    /// passed a day at a time, [`LOOK_AHEAD`] of them at most.
    pub fn next_run_after(&self, after: Timestamp) -> Option<Timestamp> {
        let schedule = self.schedule.as_ref()?;
        let tz = self.timezone.tz();
        let mut at = after;
        for _ in 0..LOOK_AHEAD {
            at = schedule.next_after(tz, at)?.timestamp();
            if self.day_skip(tz.to_datetime(at).date()).is_some() {
                at = self.end_of_day(at)?;
                continue;
            }
            match self.verdict(at) {
                Verdict::Run => return Some(at),
                Verdict::Defer { until, .. } => return Some(until),
                Verdict::Skip(_) => {}
            }
        }
        None
    }

    /// The longest a fire may wait for a blackout window to end (none unless
    /// deferred): the time limits around a run leave room for it.
    pub fn longest_deferral(&self) -> std::time::Duration {
        if self.blackout_policy != BlackoutPolicy::Defer {
            return std::time::Duration::ZERO;
        }
        // Windows that meet are waited out as one.
        self.blackout.iter().map(Blackout::longest).sum()
    }
}

/// How many fires (or skipped days) a search for the next run looks at.
pub const LOOK_AHEAD: usize = 5000;

/// The start and end of the window of `blackout` that `at` is in, if any.
fn window_around(
    blackout: &Blackout,
    at: Timestamp,
    tz: &jiff::tz::TimeZone,
) -> Option<(Timestamp, Timestamp)> {
    let instant = |dt: DateTime| tz.to_timestamp(dt).ok();
    let inside =
        |(start, end): (Timestamp, Timestamp)| (start <= at && at < end).then_some((start, end));
    match blackout.window().ok()? {
        Window::Once { from, to } => inside((instant(from)?, instant(to)?)),
        Window::Daily { from, to } => {
            let day = tz.to_datetime(at).date();
            // The window that started today, or the one from yesterday past midnight.
            [day.yesterday().ok()?, day]
                .into_iter()
                .rev()
                .find_map(|start_day| {
                    let end_day = if to > from {
                        start_day
                    } else {
                        start_day.tomorrow().ok()?
                    };
                    inside((
                        instant(start_day.to_datetime(from))?,
                        instant(end_day.to_datetime(to))?,
                    ))
                })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> Date {
        s.parse().unwrap()
    }

    #[test]
    fn a_calendar_holds_its_days_ranges_and_weekdays() {
        let mut cal = Calendar {
            name: "holidays".into(),
            days: [
                "2026-12-26",
                "2026-12-24..2026-12-25",
                "2027-01-01",
                "2026-12-31..2027-01-01",
            ]
            .iter()
            .map(|t| DayRange::parse(t).unwrap())
            .collect(),
            weekdays: vec![7, 6, 7],
        };
        cal.normalise();
        assert_eq!(
            cal.days.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["2026-12-24..2026-12-26", "2026-12-31..2027-01-01"]
        );
        assert_eq!(cal.weekdays, [6, 7]);
        assert!(cal.contains(date("2026-12-25")));
        assert!(cal.contains(date("2027-01-01")));
        assert!(!cal.contains(date("2026-12-28")), "a Monday in no range");
        assert!(cal.contains(date("2026-12-27")), "a Sunday");
        assert!(DayRange::parse("2026-12-31..2026-12-01").is_err());
        assert!(DayRange::parse("2026-13-01").is_err());
    }

    #[test]
    fn windows_read_daily_or_once_and_refuse_the_rest() {
        let w = |from: &str, to: &str| {
            Blackout {
                from: from.into(),
                to: to.into(),
            }
            .window()
        };
        assert!(matches!(w("22:00", "06:00"), Ok(Window::Daily { .. })));
        assert!(matches!(
            w("2026-12-24T18:00", "2027-01-02"),
            Ok(Window::Once { .. })
        ));
        assert!(w("22:00", "22:00").unwrap_err().contains("empty"));
        // A space or a lowercase t for the T is still a date and time, never a daily
        // window at the time written after it.
        assert!(matches!(
            w("2026-12-24 18:00", "2026-12-25t00:00"),
            Ok(Window::Once { .. })
        ));
        // An offset or zone would be ignored: refused.
        for bad in [
            "2026-12-24T18:00+05:00",
            "2026-12-24T18:00[Asia/Tokyo]",
            "2026-12-24T18:00Z",
            "6pm",
            "22:00:00.5",
        ] {
            assert!(
                w(bad, "2027-01-01T00:00").is_err() || w("22:00", bad).is_err(),
                "{bad}"
            );
        }
        assert!(
            w("2026-01-01T00:00", "9999-12-31T00:00")
                .unwrap_err()
                .contains("past")
        );
        assert!(
            w("2026-12-24T18:00", "2026-12-24T18:00")
                .unwrap_err()
                .contains("empty")
        );
        assert!(
            w("22:00", "2026-12-24T18:00")
                .unwrap_err()
                .contains("not of one kind")
        );
        // Each end says what is wrong with it.
        let said = [
            (w("25:00", "06:00"), "from: \"25:00\" is not a time of day"),
            (w("22:00", "06:60"), "to: \"06:60\" is not a time of day"),
            (
                w("2026-12-24T18:00+01:00", "2026-12-25"),
                "from: \"2026-12-24T18:00+01:00\" has an offset",
            ),
            (w("2026-12-24T18:00Z", "2026-12-25"), "has an offset"),
            (
                w("2026-02-30", "2026-03-02"),
                "\"2026-02-30\" is not a date",
            ),
            (
                w("6pm", "06:00"),
                "from: \"6pm\" is not a time of day (\"22:00\"",
            ),
            (
                w("2026-12-é4T18:00", "06:00"),
                "\"2026-12-é\" is not a date",
            ),
        ];
        for (got, want) in said {
            assert!(got.as_ref().unwrap_err().contains(want), "{got:?}: {want}");
        }
        assert!(
            w("2026-12-24", "2026-12-23")
                .unwrap_err()
                .contains("before")
        );
        let utc = jiff::tz::TimeZone::UTC;
        let night = Blackout {
            from: "22:00".into(),
            to: "06:00".into(),
        };
        let at = |t: &str| t.parse::<Timestamp>().unwrap();
        let (start, end) = window_around(&night, at("2026-12-02T03:00:00Z"), &utc).unwrap();
        assert_eq!(
            (start, end),
            (at("2026-12-01T22:00:00Z"), at("2026-12-02T06:00:00Z"))
        );
        let (start, _) = window_around(&night, at("2026-12-02T23:00:00Z"), &utc).unwrap();
        assert_eq!(start, at("2026-12-02T22:00:00Z"));
        assert!(window_around(&night, at("2026-12-02T06:00:00Z"), &utc).is_none());
        assert!(window_around(&night, at("2026-12-02T12:00:00Z"), &utc).is_none());
    }
}
