//! Adopting a hand-made Task Scheduler task: its XML becomes a `[tasks.NAME]` table.
//!
//! Triggers become a cron schedule (or a shorthand like "06:00") only when that
//! schedule fires at exactly the same times, checked by simulating both over two
//! years; otherwise they are kept as `triggers = [...]`, the trigger elements
//! themselves, so nothing about when the task runs is lost.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use jiff::civil::{Date, date};
use jiff::tz::TimeZone;
use toml_edit::{Array, Table, value};

/// `value` under another name, for functions whose settings are called `value`.
fn value_of<V: Into<toml_edit::Value>>(v: V) -> toml_edit::Item {
    value(v)
}

use super::read::{ReadAction, ReadSchedule, ReadTask, ReadTrigger, read_task};
use super::simulate::fire_times_of;
use super::triggers::{ALL_DAYS, ALL_MONTHS, ALL_WEEKDAYS, ALL_WEEKS, LAST_WEEK};
use super::xml::trigger_fragment;
use crate::tasksched::XmlError;

/// A task's table for tasks.toml, with what the reader should review as comments.
#[derive(Debug, Clone)]
pub struct Adopted {
    pub name: String,
    pub table: Table,
    pub notes: Vec<String>,
    /// The name of the live task adopted, when it is one (not an exported file).
    pub live_name: Option<String>,
}

impl Adopted {
    /// Adopt the live task in place: when orc's name for it differs from its name in
    /// the folder (a name with spaces, or one two imports share), `renamed_from`
    /// makes the first apply register it under orc's name and remove the original,
    /// so the job never runs twice.
    pub fn link_live_name(&mut self) {
        if let Some(live) = self.live_name.clone().filter(|l| *l != self.name) {
            self.table.insert("renamed_from", value(live.as_str()));
            self.notes.push(format!(
                "the task \"{live}\" is registered as {} by the next apply, which removes \"{live}\"",
                self.name
            ));
        }
    }
}

/// The `[tasks.NAME]` table for task XML. The name is the live task's name in the
/// folder (`live_name`); for an exported file, the last part of its URI, else
/// `fallback_name` (the file's name).
pub fn adopt(
    xml: &str,
    live_name: Option<&str>,
    fallback_name: &str,
    today: Date,
) -> Result<Adopted, XmlError> {
    let task = read_task(xml)?;
    let uri_name = task
        .uri
        .as_deref()
        .and_then(|u| u.rsplit('\\').find(|s| !s.is_empty()));
    let name = orc_name(live_name.or(uri_name).unwrap_or(fallback_name));
    let mut notes = Vec::new();
    let mut table = Table::new();
    if let Some(d) = &task.description {
        table.insert("description", value(d.as_str()));
    }
    insert_action(&task, &mut table, &mut notes);
    match schedule_for(&task.triggers, today) {
        Some(Ok(schedule)) => {
            table.insert("schedule", value(schedule.text));
            if let Some(jitter) = schedule.jitter {
                table.insert("jitter", value(super::describe::human(jitter)));
            }
        }
        Some(Err(why)) => {
            notes.push(format!("triggers kept as Task Scheduler XML: {why}"));
            let mut list = Array::new();
            for text in trigger_texts(xml)? {
                match trigger_fragment(&text) {
                    Ok(fragment) => list.push(fragment),
                    Err(e) => notes.push(format!("a trigger was left out: {e}")),
                }
            }
            for item in list.iter_mut() {
                item.decor_mut().set_prefix("\n    ");
            }
            list.set_trailing("\n");
            list.set_trailing_comma(true);
            table.insert("triggers", value(list));
        }
        None => {}
    }
    match task.instances.as_str() {
        "Queue" => {
            table.insert("overlap", value("queue"));
        }
        "Parallel" => {
            table.insert("overlap", value("allow"));
        }
        "StopExisting" => {
            table.insert("overlap", value("replace"));
        }
        _ => {}
    }
    if task.start_when_available {
        table.insert("catch_up", value("24h"));
    }
    insert_principal(&task, &mut table, &mut notes);
    insert_settings(&task, &mut table);
    notes.extend(dropped_settings(xml, &mut table)?);
    if !task.enabled {
        table.insert("enabled", value(false));
    }
    Ok(Adopted {
        name,
        table,
        notes,
        live_name: live_name.map(str::to_string),
    })
}

/// A task name orc accepts: letters, digits, `_`, `-`, `.`; at most 64 characters.
pub fn orc_name(raw: &str) -> String {
    let mut name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    name = name.trim_start_matches(['_', '-', '.']).to_string();
    name.truncate(64);
    // Windows drops a final '.' from names; orc refuses one.
    name = name.trim_end_matches('.').to_string();
    if name.is_empty() || crate::config::check_name(&name).is_err() {
        name = format!("task_{name}");
        name.truncate(64);
    }
    name
}

/// A note for each element of the task's `<Settings>` that orc does not carry over
/// (what orc registers says otherwise), naming the element and its value. Elements
/// the XML leaves out are not named: only what the task says is.
fn dropped_settings(xml: &str, table: &mut Table) -> Result<Vec<String>, XmlError> {
    let doc = super::read::parse_document(xml)?;
    let Some(settings) = doc
        .root_element()
        .children()
        .find(|c| c.is_element() && c.tag_name().name() == "Settings")
    else {
        return Ok(Vec::new());
    };
    let text = |node: roxmltree::Node| {
        let t = node.text().unwrap_or("").trim();
        match t {
            "1" => "true".to_string(),
            "0" => "false".to_string(),
            t => t.to_string(),
        }
    };
    let compound = |node: roxmltree::Node| {
        let parts: Vec<String> = node
            .children()
            .filter(|c| c.is_element())
            .map(|c| format!("{} {}", c.tag_name().name(), text(c)))
            .collect();
        format!("({})", parts.join(", "))
    };
    let idle_only = settings
        .children()
        .any(|c| c.tag_name().name() == "RunOnlyIfIdle" && text(c).eq_ignore_ascii_case("true"));
    let mut notes = Vec::new();
    for el in settings.children().filter(|c| c.is_element()) {
        let name = el.tag_name().name();
        let value = text(el);
        // (what orc registers, why it matters) for a plain value.
        let plain: Option<(&str, &str)> = match name {
            // Carried over: enabled, overlap, catch_up (and their notes above).
            // Carried over as keys (see `insert_settings`).
            "Enabled" | "MultipleInstancesPolicy" | "StartWhenAvailable" => continue,
            "DisallowStartIfOnBatteries"
            | "StopIfGoingOnBatteries"
            | "Hidden"
            | "RunOnlyIfNetworkAvailable"
            | "WakeToRun"
            | "Priority" => continue,
            "AllowHardTerminate" => Some(("true", "orc's task can be stopped by force")),
            "AllowStartOnDemand" => Some(("true", "orc's task can be started on demand")),
            "DisallowStartOnRemoteAppSession" => {
                Some(("false", "orc's task also starts in a remote app session"))
            }
            "RunOnlyIfIdle" => Some((
                "false",
                "orc's task does not wait for the computer to be idle",
            )),
            "UseUnifiedSchedulingEngine" => Some((
                "false",
                "orc registers the task for the classic scheduling engine",
            )),
            "Volatile" => Some(("false", "orc's task is not volatile")),
            _ => None,
        };
        let note = match (name, plain) {
            (_, Some((orc, why))) => {
                if value.eq_ignore_ascii_case(orc) {
                    continue;
                }
                format!("dropped Settings/{name} {value}: {why}")
            }
            ("ExecutionTimeLimit", None) => match super::xml::parse_iso_duration(&value) {
                Some(limit) if limit.is_zero() => continue,
                // Task Scheduler stopped a run after this long: so does orc's timeout.
                Some(limit) => {
                    table.insert("timeout", value_of(super::describe::human(limit)));
                    continue;
                }
                None => format!(
                    "dropped Settings/ExecutionTimeLimit {value}: it is not a duration; orc sets no limit without a timeout"
                ),
            },
            ("IdleSettings", None) if !idle_only => continue,
            ("IdleSettings", None) => format!(
                "dropped Settings/IdleSettings {}: orc's task does not wait for the computer to be idle",
                compound(el)
            ),
            ("MaintenanceSettings", None) => format!(
                "dropped Settings/MaintenanceSettings {}: Task Scheduler's automatic maintenance no longer runs it; orc's task runs on its schedule only",
                compound(el)
            ),
            ("RestartOnFailure", None) => {
                let child = |n: &str| {
                    el.children()
                        .find(|c| c.tag_name().name() == n)
                        .map(text)
                        .unwrap_or_default()
                };
                // Task Scheduler restarted a failed run Count times, Interval apart:
                // orc's retries do that.
                let interval = super::xml::parse_iso_duration(&child("Interval"));
                match (child("Count").parse::<i64>(), interval) {
                    (Ok(count), Some(interval)) if count > 0 => {
                        table.insert("retry_count", value_of(count));
                        table.insert("retry_delay", value_of(super::describe::human(interval)));
                        continue;
                    }
                    _ => format!(
                        "dropped Settings/RestartOnFailure {}: not a count and an interval orc can retry with",
                        compound(el)
                    ),
                }
            }
            ("NetworkSettings", None) => format!(
                "dropped Settings/NetworkSettings {}: orc's task does not wait for that network",
                compound(el)
            ),
            ("DeleteExpiredTaskAfter", None) => format!(
                "dropped Settings/DeleteExpiredTaskAfter {value}: orc never deletes the task; remove it from tasks.toml"
            ),
            _ if el.children().any(|c| c.is_element()) => {
                format!(
                    "dropped Settings/{name} {}: orc has no such setting",
                    compound(el)
                )
            }
            _ => format!("dropped Settings/{name} {value}: orc has no such setting"),
        };
        notes.push(note);
    }
    Ok(notes)
}

/// The original text of each trigger element.
fn trigger_texts(xml: &str) -> Result<Vec<String>, XmlError> {
    let doc = super::read::parse_document(xml)?;
    Ok(doc
        .root_element()
        .children()
        .filter(|c| c.is_element() && c.tag_name().name() == "Triggers")
        .flat_map(|t| t.children().filter(|c| c.is_element()))
        .map(|t| xml[t.range()].to_string())
        .collect())
}

/// Split an Exec action's argument string as Windows programs do
/// (CommandLineToArgvW): spaces separate, double quotes group, and backslashes are
/// literal unless they precede a quote.
pub fn windows_args(line: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut current = String::new();
    let mut in_arg = false;
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let mut slashes = 1;
                while chars.peek() == Some(&'\\') {
                    chars.next();
                    slashes += 1;
                }
                if chars.peek() == Some(&'"') {
                    current.extend(std::iter::repeat_n('\\', slashes / 2));
                    if slashes % 2 == 1 {
                        chars.next();
                        current.push('"');
                    }
                } else {
                    current.extend(std::iter::repeat_n('\\', slashes));
                }
                in_arg = true;
            }
            '"' => {
                // `""` inside quotes is a literal quote.
                if quoted && chars.peek() == Some(&'"') {
                    chars.next();
                    current.push('"');
                } else {
                    quoted = !quoted;
                }
                in_arg = true;
            }
            ' ' | '\t' if !quoted => {
                if in_arg {
                    args.push(std::mem::take(&mut current));
                    in_arg = false;
                }
            }
            c => {
                current.push(c);
                in_arg = true;
            }
        }
    }
    if in_arg {
        args.push(current);
    }
    args
}

fn insert_action(task: &ReadTask, table: &mut Table, notes: &mut Vec<String>) {
    let execs: Vec<_> = task
        .actions
        .iter()
        .filter_map(|a| match a {
            ReadAction::Exec {
                command,
                arguments,
                working_directory,
            } => Some((command, arguments, working_directory)),
            ReadAction::Other { .. } => None,
        })
        .collect();
    let argv_of = |command: &str, arguments: &Option<String>| {
        let mut argv = Array::new();
        argv.push(command.trim_matches('"'));
        for a in windows_args(arguments.as_deref().unwrap_or("")) {
            argv.push(a);
        }
        argv
    };
    let others: Vec<String> = task
        .actions
        .iter()
        .filter_map(|a| match a {
            ReadAction::Other { kind, detail } => Some(
                format!("{kind} {}", detail.as_deref().unwrap_or(""))
                    .trim()
                    .to_string(),
            ),
            ReadAction::Exec { .. } => None,
        })
        .collect();
    let Some(((command, arguments, working_directory), rest)) = execs.split_first() else {
        // orc runs commands only: keep the task, disabled, for a person to decide.
        let what = others
            .first()
            .cloned()
            .unwrap_or_else(|| "no action".to_string());
        notes.push(format!(
            "the task's action is {what}, which orc cannot run; give it a command, then enable it"
        ));
        let mut argv = Array::new();
        argv.push("cmd.exe");
        argv.push("/c");
        argv.push(format!("echo orc cannot run {what} & exit 1"));
        table.insert("enabled", value(false));
        table.insert("command", value(argv));
        return;
    };
    if let Some(dir) = working_directory {
        table.insert("working_dir", value(dir.as_str()));
    }
    table.insert("command", value(argv_of(command, arguments)));
    if !rest.is_empty() {
        // Task Scheduler's further actions, in order, each where it ran.
        let mut then = Array::new();
        for (command, arguments, dir) in rest {
            let argv = argv_of(command, arguments);
            match dir
                .as_deref()
                .filter(|d| Some(*d) != working_directory.as_deref())
            {
                Some(dir) => {
                    let mut step = toml_edit::InlineTable::new();
                    step.insert("command", argv.into());
                    step.insert("working_dir", dir.into());
                    then.push(step);
                }
                None => then.push(argv),
            }
        }
        table.insert("then", value(then));
        notes.push(format!(
            "the task's {} actions are `command` and `then`: Task Scheduler started each after the one before whatever its exit code, orc stops at the first that fails",
            execs.len()
        ));
    }
    if !others.is_empty() {
        notes.push(format!(
            "not imported, orc runs commands only: {}",
            others.join(", ")
        ));
    }
}

/// The principal, kept: the same account with the same kind of logon. A stored
/// password cannot come along (Windows never gives it back): the task names a vault
/// secret for it, and apply refuses until `orc secret set` has stored it.
fn insert_principal(task: &ReadTask, table: &mut Table, notes: &mut Vec<String>) {
    let p = &task.principal;
    let inline = |pairs: &[(&str, &str)]| {
        let mut t = toml_edit::InlineTable::new();
        for (k, v) in pairs {
            t.insert(*k, (*v).into());
        }
        value(t)
    };
    match (&p.user, &p.group) {
        (Some(user), _) if super::account::is_system(user) => {}
        (Some(user), _) if super::account::service_account(user).is_some() => {
            let account = super::account::service_account(user).unwrap_or_default();
            table.insert("run_as", value(account));
        }
        (Some(user), _) => match p.logon_type.as_deref() {
            Some("Password") if user.ends_with('$') => {
                // A gMSA: the domain keeps its password.
                table.insert("run_as", value(user.as_str()));
            }
            Some("Password") => {
                let secret = password_secret_name(user);
                let mut password = toml_edit::InlineTable::new();
                password.insert("secret", secret.as_str().into());
                let mut run_as = toml_edit::InlineTable::new();
                run_as.insert("user", user.as_str().into());
                run_as.insert("password", toml_edit::Value::InlineTable(password));
                table.insert("run_as", value(run_as));
                notes.push(format!(
                    "{user} runs with a stored password, which Windows never gives back: store it with `orc secret set {secret}` before orc apply"
                ));
            }
            Some("S4U") => {
                table.insert("run_as", value(user.as_str()));
            }
            other => {
                table.insert(
                    "run_as",
                    inline(&[("user", user.as_str()), ("logon", "interactive")]),
                );
                if other == Some("InteractiveTokenOrPassword") {
                    notes.push(format!(
                        "the task could also run with {user}'s stored password (InteractiveTokenOrPassword); orc registers it for while {user} is logged on"
                    ));
                }
            }
        },
        (None, Some(group)) => {
            table.insert("run_as", inline(&[("group", group.as_str())]));
        }
        (None, None) => {
            table.insert("run_as", value("current_user"));
            match p.logon_type.as_deref() {
                // Registered by someone, to run whether they are logged on or not:
                // current_user runs only while logged on, which would silently stop
                // a boot or night task. A person picks the account.
                Some(logon @ ("S4U" | "Password")) => {
                    table.insert("enabled", value(false));
                    notes.push(format!(
                        "the task names no account and ran as whoever registered it, whether logged on or not ({logon} logon); run_as = \"current_user\" would run it only while that user is logged on, so it is imported disabled: set run_as to the account (\"DOMAIN\\\\name\" for the same logon without a password{}), then enable it",
                        if logon == "Password" {
                            ", { user = ..., password = { secret = ... } } with its password"
                        } else {
                            ""
                        }
                    ));
                }
                _ => notes.push(
                    "the task names no account: it ran as whoever registered it; run_as = \"current_user\" registers it for whoever runs orc apply".to_string(),
                ),
            }
        }
    }
    if p.highest {
        table.insert("run_level", value("highest"));
    }
}

/// The task's priority, power, network and visibility settings, as keys where they
/// differ from what orc registers without them.
fn insert_settings(task: &ReadTask, table: &mut Table) {
    let (s, orc) = (&task.settings, crate::config::WindowsSettings::default());
    if s.priority != orc.priority {
        table.insert("priority", value(i64::from(s.priority)));
    }
    for (key, set, default) in [
        ("wake_to_run", s.wake_to_run, orc.wake_to_run),
        (
            "run_only_if_network",
            s.run_only_if_network,
            orc.run_only_if_network,
        ),
        ("hidden", s.hidden, orc.hidden),
    ] {
        if set != default {
            table.insert(key, value(set));
        }
    }
    if (s.start_on_battery, s.stop_on_battery) != (orc.start_on_battery, orc.stop_on_battery) {
        let mut battery = toml_edit::InlineTable::new();
        battery.insert("start", s.start_on_battery.into());
        battery.insert("stop", s.stop_on_battery.into());
        table.insert("battery", value(battery));
    }
}

/// The vault secret an imported task's stored password goes in: `run_as_` and the
/// account's name as a secret name allows (`CONTOSO\\svc-etl` is
/// `run_as_CONTOSO_svc-etl`).
fn password_secret_name(user: &str) -> String {
    let name: String = user
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("run_as_{}", name.trim_matches('_'))
}

/// Why no schedule fires exactly when a task's triggers do (they stay XML).
#[derive(Debug, thiserror::Error)]
enum NoSchedule {
    #[error("a trigger is disabled")]
    Disabled,
    #[error("a trigger has an end date")]
    EndDate,
    #[error("a trigger starts in the future ({0})")]
    Future(Date),
    /// A schedule's times follow [settings] timezone, which import cannot know.
    #[error("a trigger fires at UTC times")]
    Utc,
    #[error("the triggers differ in random delay")]
    RandomDelays,
    #[error("a trigger starts at a second other than :00")]
    Seconds,
    #[error("a trigger repeats every few days or weeks, counted from its start date")]
    FromStartDate,
    #[error("a trigger fires once, on a date")]
    Once,
    #[error("<{0}> does not fire at times of day")]
    NoTimesOfDay(String),
    #[error("the triggers fire at different times on different days")]
    DifferentTimes,
    #[error("the times of day are not the same minutes of each hour")]
    NotAGrid,
    #[error("a repetition interval is not whole minutes")]
    NotWholeMinutes,
    #[error("a trigger repeats indefinitely across days")]
    Indefinite,
    #[error("a repetition runs past midnight")]
    PastMidnight,
    #[error("the days are not one cron day rule")]
    NotOneDayRule,
    #[error("\"{0}\" comes closest but does not fire at the same times")]
    NotTheSame(String),
    // The two below would be orc's own bug: a candidate it wrote that it cannot read.
    #[error("{0}")]
    Unparsed(String),
    #[error("not a calendar schedule")]
    NotCalendar,
    #[error(transparent)]
    Time(#[from] jiff::Error),
}

/// A schedule equal to the triggers.
struct Found {
    text: String,
    jitter: Option<Duration>,
}

/// The schedule that fires exactly when `triggers` do: `None` without triggers,
/// `Some(Err(why))` when no schedule does.
fn schedule_for(triggers: &[ReadTrigger], today: Date) -> Option<Result<Found, NoSchedule>> {
    if triggers.is_empty() {
        return None;
    }
    Some(candidate(triggers, today).and_then(|found| {
        // The candidate is only a guess: keep it only if it fires at the same times.
        let schedule =
            crate::schedule::parse(&found.text).map_err(|e| NoSchedule::Unparsed(e.to_string()))?;
        let spec = schedule.cron().ok_or(NoSchedule::NotCalendar)?;
        let (from, to) = if spec.minute_list().len() * 24 > 48 {
            (date(2028, 2, 1), date(2028, 3, 15))
        } else {
            (date(2027, 1, 1), date(2029, 1, 1))
        };
        let expected = fire_times_of(triggers, &TimeZone::UTC, from, to)?;
        let mut actual = BTreeSet::new();
        let end = TimeZone::UTC.to_timestamp(to.at(0, 0, 0, 0))?;
        let mut at =
            TimeZone::UTC.to_timestamp(from.at(0, 0, 0, 0))? - jiff::SignedDuration::from_nanos(1);
        while let Some(next) = schedule.next_after(&TimeZone::UTC, at) {
            let next = next.timestamp();
            if next >= end {
                break;
            }
            actual.insert(next);
            at = next;
        }
        if actual == expected {
            Ok(found)
        } else {
            Err(NoSchedule::NotTheSame(found.text))
        }
    }))
}

/// The day part of a trigger, as cron's day-of-month, month and day-of-week bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum DayRule {
    Daily,
    Weekly(u8),
    Monthly {
        days: u32,
        last: bool,
        months: u16,
    },
    Nth {
        weeks: u8,
        weekdays: u8,
        months: u16,
    },
}

fn candidate(triggers: &[ReadTrigger], today: Date) -> Result<Found, NoSchedule> {
    let first = &triggers[0];
    let mut by_rule: BTreeMap<DayRule, BTreeSet<u32>> = BTreeMap::new();
    for t in triggers {
        if !t.enabled {
            return Err(NoSchedule::Disabled);
        }
        if t.end.is_some() {
            return Err(NoSchedule::EndDate);
        }
        if t.start.date() > today {
            return Err(NoSchedule::Future(t.start.date()));
        }
        if t.utc {
            // A schedule's times follow [settings] timezone, which import cannot know.
            return Err(NoSchedule::Utc);
        }
        if t.random_delay != first.random_delay {
            return Err(NoSchedule::RandomDelays);
        }
        if t.start.second() != 0 {
            return Err(NoSchedule::Seconds);
        }
        let rule = match t.schedule {
            ReadSchedule::Daily { every: 1 } => DayRule::Daily,
            ReadSchedule::Weekly { every: 1, weekdays } => DayRule::Weekly(weekdays),
            ReadSchedule::Monthly { days, last, months } => DayRule::Monthly { days, last, months },
            ReadSchedule::MonthlyDayOfWeek {
                weeks,
                weekdays,
                months,
            } => DayRule::Nth {
                weeks,
                weekdays,
                months,
            },
            ReadSchedule::Daily { .. } | ReadSchedule::Weekly { .. } => {
                return Err(NoSchedule::FromStartDate);
            }
            ReadSchedule::Once => return Err(NoSchedule::Once),
            ReadSchedule::Other(ref kind) => return Err(NoSchedule::NoTimesOfDay(kind.clone())),
        };
        by_rule.entry(rule).or_default().extend(minutes_of(t)?);
    }
    let mut minute_sets = by_rule.values();
    let minutes = minute_sets.next().cloned().unwrap_or_default();
    if minute_sets.any(|m| *m != minutes) {
        return Err(NoSchedule::DifferentTimes);
    }
    let hours: BTreeSet<u32> = minutes.iter().map(|m| m / 60).collect();
    let mins: BTreeSet<u32> = minutes.iter().map(|m| m % 60).collect();
    if hours.len() * mins.len() != minutes.len() {
        return Err(NoSchedule::NotAGrid);
    }
    let (dom, month, dow) = days_fields(&by_rule.keys().copied().collect::<Vec<_>>())?;
    let text = match (
        &mins.iter().collect::<Vec<_>>()[..],
        &hours.iter().collect::<Vec<_>>()[..],
    ) {
        ([m], [h]) if dom == "*" && month == "*" && dow == "*" => format!("{h:02}:{m:02}"),
        _ => format!(
            "{} {} {dom} {month} {dow}",
            field(&mins, 0, 59),
            field(&hours, 0, 23)
        ),
    };
    Ok(Found {
        text,
        jitter: first.random_delay,
    })
}

/// Minutes after midnight at which a trigger fires on a day it fires.
fn minutes_of(t: &ReadTrigger) -> Result<Vec<u32>, NoSchedule> {
    let start = t.start.hour() as u32 * 60 + t.start.minute() as u32;
    let Some((interval, duration)) = t.repetition else {
        return Ok(vec![start]);
    };
    if interval.as_secs() % 60 != 0 {
        return Err(NoSchedule::NotWholeMinutes);
    }
    let step = (interval.as_secs() / 60) as u32;
    let span = match duration {
        Some(d) => d.as_secs(),
        None if matches!(t.schedule, ReadSchedule::Daily { .. }) => 86_400,
        None => return Err(NoSchedule::Indefinite),
    };
    let mut out = Vec::new();
    let mut offset = 0u64;
    while offset * 60 < span {
        let m = start + offset as u32;
        if m >= 1440 {
            return Err(NoSchedule::PastMidnight);
        }
        out.push(m);
        offset += u64::from(step);
    }
    Ok(out)
}

/// `0,15,30,45` as `*/15`, `9,10,11,12` as `9-12`, all as `*`.
fn field(values: &BTreeSet<u32>, min: u32, max: u32) -> String {
    let v: Vec<u32> = values.iter().copied().collect();
    if v.len() as u32 == max - min + 1 {
        return "*".to_string();
    }
    if v.len() > 2 && v[0] == min {
        let step = v[1] - v[0];
        let regular = v.windows(2).all(|w| w[1] - w[0] == step);
        if regular && v[v.len() - 1] + step > max {
            return format!("*/{step}");
        }
    }
    let mut parts = Vec::new();
    let mut i = 0;
    while i < v.len() {
        let mut j = i;
        while j + 1 < v.len() && v[j + 1] == v[j] + 1 {
            j += 1;
        }
        if j - i >= 2 {
            parts.push(format!("{}-{}", v[i], v[j]));
        } else {
            parts.extend(v[i..=j].iter().map(u32::to_string));
        }
        i = j + 1;
    }
    parts.join(",")
}

fn bits_field(bits: u32, from: u32, to: u32) -> BTreeSet<u32> {
    (from..=to).filter(|b| bits & (1 << b) != 0).collect()
}

fn months_field(months: u16) -> String {
    if months & ALL_MONTHS == ALL_MONTHS {
        "*".to_string()
    } else {
        field(&bits_field(u32::from(months), 1, 12), 1, 12)
    }
}

fn weekdays_field(weekdays: u8) -> String {
    if weekdays & ALL_WEEKDAYS == ALL_WEEKDAYS {
        "*".to_string()
    } else {
        field(&bits_field(u32::from(weekdays), 0, 6), 0, 6)
    }
}

fn dom_field(days: u32, last: bool) -> String {
    if days == ALL_DAYS {
        return "*".to_string();
    }
    let mut text = field(&bits_field(days, 1, 31), 1, 31);
    if last {
        text = if text.is_empty() {
            "L".to_string()
        } else {
            format!("{text},L")
        };
    }
    text
}

/// `FRI#3`, `5L` items for the chosen occurrences of weekdays.
fn nth_field(weeks: u8, weekdays: u8) -> String {
    let mut items = Vec::new();
    for day in 0..7 {
        if weekdays & (1 << day) == 0 {
            continue;
        }
        for week in 1..=4 {
            if weeks & (1 << week) != 0 {
                items.push(format!("{day}#{week}"));
            }
        }
        if weeks & LAST_WEEK != 0 {
            items.push(format!("{day}L"));
        }
    }
    items.join(",")
}

/// Cron's day-of-month, month and day-of-week fields for a set of day rules.
fn days_fields(rules: &[DayRule]) -> Result<(String, String, String), NoSchedule> {
    let star = || "*".to_string();
    Ok(match rules {
        [DayRule::Daily] => (star(), star(), star()),
        [DayRule::Weekly(w)] => (star(), star(), weekdays_field(*w)),
        [DayRule::Monthly { days, last, months }] => {
            (dom_field(*days, *last), months_field(*months), star())
        }
        [
            DayRule::Nth {
                weeks,
                weekdays,
                months,
            },
        ] => {
            let dow = if *weeks == ALL_WEEKS {
                weekdays_field(*weekdays)
            } else {
                nth_field(*weeks, *weekdays)
            };
            (star(), months_field(*months), dow)
        }
        // Vixie cron's OR of the two day fields is two triggers.
        [DayRule::Weekly(w), DayRule::Monthly { days, last, months }]
        | [DayRule::Monthly { days, last, months }, DayRule::Weekly(w)]
            if *months & ALL_MONTHS == ALL_MONTHS =>
        {
            (dom_field(*days, *last), star(), weekdays_field(*w))
        }
        [
            DayRule::Monthly { days, last, months },
            DayRule::Nth {
                weeks,
                weekdays,
                months: m2,
            },
        ] if months == m2 => {
            let dow = if *weeks == ALL_WEEKS {
                weekdays_field(*weekdays)
            } else {
                nth_field(*weeks, *weekdays)
            };
            (dom_field(*days, *last), months_field(*months), dow)
        }
        _ => return Err(NoSchedule::NotOneDayRule),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_argument_strings_split_like_windows() {
        assert_eq!(
            windows_args(r#"-File "C:\Scripts\My Job.ps1" -Mode full"#),
            ["-File", r"C:\Scripts\My Job.ps1", "-Mode", "full"]
        );
        assert_eq!(windows_args(r#"a\\"b c" d"#), [r#"a\b c"#, "d"]);
        assert_eq!(windows_args(r#"say \"hi\""#), ["say", r#""hi""#]);
        assert_eq!(windows_args("  "), Vec::<String>::new());
        assert_eq!(windows_args(r#""""#), [""]);
    }

    #[test]
    fn names_become_orc_names() {
        assert_eq!(orc_name("Nightly Backup (v2)"), "Nightly_Backup__v2_");
        assert_eq!(orc_name("_x"), "x");
        assert_eq!(orc_name("CON"), "task_CON");
        assert_eq!(orc_name(""), "task_");
    }

    #[test]
    fn fields_are_compact() {
        let set = |v: &[u32]| v.iter().copied().collect::<BTreeSet<u32>>();
        assert_eq!(field(&set(&[0, 15, 30, 45]), 0, 59), "*/15");
        assert_eq!(field(&set(&[9, 10, 11, 12, 17]), 0, 23), "9-12,17");
        assert_eq!(field(&set(&[1, 2]), 1, 31), "1,2");
    }
}
