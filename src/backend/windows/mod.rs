//! The Windows Task Scheduler backend: tasks in the folder `\Orc\`.
//!
//! `triggers` turns a schedule into Task Scheduler triggers that fire at exactly the
//! same times (or says why it cannot), `xml` writes and reads task XML, and `simulate`
//! lists the fire times of task XML as Task Scheduler would, so that the conversion is
//! checked against the XML orc really emits.

pub mod account;
pub mod adopt;
pub mod backend;
#[cfg(windows)]
pub mod com;
pub mod describe;
pub mod folder;
pub mod read;
pub mod simulate;
pub mod triggers;
pub mod xml;

use std::path::Path;
use std::time::Duration;

use crate::backend::BackendError;
use crate::config::{RunAs, RunLevel, Task};

/// The Task Scheduler folder the windows backend drives: a directory of task files
/// when `ORC_WINDOWS_TASKS_DIR` names one (a copy of a server's `System32\\Tasks`, or
/// a test's), else Task Scheduler itself, which only Windows has.
pub fn open_folder(folder: &str) -> Result<Box<dyn folder::TaskFolder>, BackendError> {
    if let Some(dir) = std::env::var_os("ORC_WINDOWS_TASKS_DIR").filter(|d| !d.is_empty()) {
        return Ok(Box::new(folder::DirFolder::new(Path::new(&dir), folder)));
    }
    #[cfg(windows)]
    {
        Ok(Box::new(com::ComFolder::connect(folder)?))
    }
    #[cfg(not(windows))]
    Err(BackendError::Unavailable(
        "the windows backend drives Task Scheduler, which only Windows has; to plan against a copy of a server's task folder, set ORC_WINDOWS_TASKS_DIR to a directory laid out like C:\\Windows\\System32\\Tasks".to_string(),
    ))
}

/// This machine's time zone as an IANA name: Task Scheduler fires in it.
pub fn machine_zone() -> String {
    jiff::tz::TimeZone::system()
        .iana_name()
        .unwrap_or("UTC")
        .to_string()
}

/// `DOMAIN\\user` of whoever runs orc: the account `run_as = "current_user"` means.
/// On Windows the process token's account (the environment can be unset or lie);
/// elsewhere (a simulated folder) USERDOMAIN and the user orc runs as.
fn current_user() -> String {
    #[cfg(windows)]
    if let Some(account) = account::current() {
        return account;
    }
    let user = crate::host::user_name();
    match std::env::var("USERDOMAIN") {
        Ok(domain) if !domain.is_empty() => format!("{domain}\\{user}"),
        _ => user,
    }
}

/// Why a task cannot be registered as it stands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Calendar times in a zone Task Scheduler cannot fire in on this machine.
    #[error(
        "timezone \"{zone}\": Task Scheduler runs tasks in the machine's local time ({machine}) or in UTC; run it on a server in {zone}, or set timezone = \"local\" or \"UTC\""
    )]
    Zone { zone: String, machine: String },
    /// A schedule no set of Task Scheduler triggers fires exactly.
    #[error("schedule \"{schedule}\" cannot run exactly on Task Scheduler: {why}")]
    Schedule {
        schedule: String,
        why: triggers::Inexpressible,
    },
}

/// The arguments the Exec action passes to orc.exe. With a `jitter`, Task
/// Scheduler's RandomDelay does the waiting, so `orc run` must not wait again.
/// The folder is passed so that a name other configs use too is never ambiguous.
pub fn run_arguments(task: &Task, folder: &str, state: &Path) -> String {
    // Two triggers can match the same minute (a day that matches both day fields):
    // the second start must not run the task again.
    let mut args = format!(
        "run {} --folder \"{folder}\" --backend windows --trigger scheduled --once-per-fire --state \"{}\"",
        task.name,
        state.display()
    );
    if task.jitter.is_some() {
        args.push_str(" --no-jitter");
    }
    args
}

/// Task Scheduler's own time limit: a safety net above what orc allows a run (every
/// attempt at its timeout, the pauses between, a deferral to a blackout's end, and an
/// hour of slack). None without
/// a timeout: orc decides, Task Scheduler never stops the run.
fn time_limit(task: &Task) -> Option<Duration> {
    let timeout = task.timeout?;
    let pauses: Duration = (1..=task.retry_count).map(|r| task.retry_pause(r)).sum();
    // A fire deferred to the end of a blackout window waits in orc run first.
    Some(
        timeout * (task.retry_count + 1)
            + pauses
            + task.longest_deferral()
            + Duration::from_secs(3600),
    )
}

/// Why Task Scheduler cannot fire calendar times in `timezone` on a machine whose
/// zone is `machine_zone`: it fires in the machine's local time, or in UTC.
pub fn zone_refusal(timezone: &str, machine_zone: &str) -> Option<Refusal> {
    match timezone {
        "local" | "UTC" | "Etc/UTC" => None,
        zone if zone == machine_zone => None,
        other => Some(Refusal::Zone {
            zone: other.to_string(),
            machine: machine_zone.to_string(),
        }),
    }
}

/// The XML orc registers for `task` in `folder`, calling `orc_exe` with `state`, on
/// a machine whose time zone is `machine_zone` (an IANA name).
pub fn task_xml(
    task: &Task,
    folder: &str,
    orc_exe: &Path,
    state: &Path,
    machine_zone: &str,
) -> Result<String, Refusal> {
    // Without calendar times (no schedule, @reboot) the zone never matters.
    let calendar = task.schedule.as_ref().and_then(|s| s.cron()).is_some();
    if calendar && let Some(why) = zone_refusal(task.timezone.name(), machine_zone) {
        return Err(why);
    }
    let utc = calendar && task.timezone.is_utc();
    let mut raw_triggers = task.triggers.clone();
    let triggers = match task.schedule.as_ref().map(|s| (s, s.cron())) {
        None => Vec::new(),
        // @reboot: when the machine starts, as cron means it.
        Some((_, None)) => {
            raw_triggers.push("<BootTrigger><Enabled>true</Enabled></BootTrigger>".to_string());
            Vec::new()
        }
        Some((schedule, Some(spec))) => {
            triggers::convert(spec).map_err(|why| Refusal::Schedule {
                schedule: schedule.source().to_string(),
                why,
            })?
        }
    };
    let principal = match &task.run_as {
        RunAs::System => xml::Principal::System,
        RunAs::CurrentUser => xml::Principal::Interactive(current_user()),
        RunAs::User(user) => xml::Principal::S4u(user.clone()),
        // The password is given at registration (from the vault), never in the XML.
        RunAs::Password { user, .. } => xml::Principal::Password(user.clone()),
        RunAs::Service(account) => xml::Principal::Service(account.clone()),
        RunAs::Interactive(user) => xml::Principal::Interactive(user.clone()),
        // Windows asks the domain for a gMSA's password: a Password logon without one.
        RunAs::Gmsa(account) => xml::Principal::Password(account.clone()),
        RunAs::Group(group) => xml::Principal::Group(group.clone()),
    };
    let working_dir = task.working_dir.display().to_string();
    Ok(xml::render(&xml::TaskXml {
        folder,
        name: &task.name,
        description: task.description.as_deref(),
        command: &orc_exe.display().to_string(),
        arguments: &run_arguments(task, folder, state),
        working_dir: (!working_dir.is_empty()).then_some(working_dir.as_str()),
        triggers: &triggers,
        raw_triggers: &raw_triggers,
        utc,
        enabled: task.enabled,
        overlap: task.overlap,
        start_when_available: task.catch_up.is_some(),
        random_delay: task.jitter,
        time_limit: time_limit(task),
        principal,
        highest: task.run_level == RunLevel::Highest,
        settings: task.windows,
        end: task.expires.as_deref(),
    }))
}

/// Microsoft does not say what Task Scheduler does with a start that falls in a
/// daylight-saving change (an hour that is skipped or repeated): the first fire of
/// `task` inside one in the year after `from`, in words, so plan can warn instead of
/// claiming the conversion is exact there. None for UTC tasks and zones without DST.
pub fn dst_window_warning(
    task: &Task,
    machine_zone: &str,
    from: jiff::Timestamp,
) -> Option<String> {
    use crate::schedule::{DST_THRESHOLD, next_wall};
    if task.timezone.is_utc() {
        return None;
    }
    let spec = task.schedule.as_ref()?.cron()?;
    let tz = jiff::tz::TimeZone::get(machine_zone).ok()?;
    let until = from
        .checked_add(jiff::SignedDuration::from_hours(24 * 366))
        .ok()?;
    for transition in tz.following(from) {
        let at = transition.timestamp();
        if at > until {
            break;
        }
        let before = tz.to_offset(at.checked_sub(jiff::SignedDuration::from_secs(1)).ok()?);
        let after = transition.offset();
        let shift = after.duration_since(before);
        if shift.is_zero() || shift.abs() >= DST_THRESHOLD {
            continue;
        }
        let (old_wall, new_wall) = (before.to_datetime(at), after.to_datetime(at));
        // Clocks forward: the wall times in [old, new) do not exist; back: those in
        // [new, old) happen twice.
        let (lo, hi, what) = if shift.is_positive() {
            (old_wall, new_wall, "does not exist (clocks go forward)")
        } else {
            (new_wall, old_wall, "happens twice (clocks go back)")
        };
        if let Some(wall) = next_wall(spec, lo, Some(hi)).filter(|w| *w < hi) {
            return Some(format!(
                "fires at {} on {}, which {what} in {machine_zone}; Task Scheduler does not specify whether that run is skipped, moved or repeated, so the conversion is exact except there",
                wall.strftime("%H:%M"),
                wall.date()
            ));
        }
    }
    None
}
