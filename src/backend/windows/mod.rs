//! The Windows Task Scheduler backend: tasks in the folder `\Orc\`.
//!
//! `triggers` turns a schedule into Task Scheduler triggers that fire at exactly the
//! same times (or says why it cannot), `xml` writes and reads task XML, and `simulate`
//! lists the fire times of task XML as Task Scheduler would, so that the conversion is
//! checked against the XML orc really emits.

pub mod simulate;
pub mod triggers;
pub mod xml;

use std::path::Path;
use std::time::Duration;

use crate::config::Task;

/// Why a task cannot be registered as it stands.
pub type Refusal = String;

/// The arguments the Exec action passes to orc.exe. With a `jitter`, Task
/// Scheduler's RandomDelay does the waiting, so `orc run` must not wait again.
pub fn run_arguments(task: &Task, state: &Path) -> String {
    // Two triggers can match the same minute (a day that matches both day fields):
    // the second start must not run the task again.
    let mut args = format!(
        "run {} --trigger scheduled --once-per-fire --state \"{}\"",
        task.name,
        state.display()
    );
    if task.jitter.is_some() {
        args.push_str(" --no-jitter");
    }
    args
}

/// Task Scheduler's own time limit: a safety net above what orc allows a run (every
/// attempt at its timeout, the pauses between, and an hour of slack). None without
/// a timeout: orc decides, Task Scheduler never stops the run.
fn time_limit(task: &Task) -> Option<Duration> {
    let timeout = task.timeout?;
    let pauses: Duration = (1..=task.retry_count).map(|r| task.retry_pause(r)).sum();
    Some(timeout * (task.retry_count + 1) + pauses + Duration::from_secs(3600))
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
    // Task Scheduler fires in the machine's local time, or in UTC.
    let utc = match task.timezone.as_str() {
        "local" => false,
        zone if zone == machine_zone => false,
        "UTC" | "Etc/UTC" => true,
        other => {
            return Err(format!(
                "timezone \"{other}\": Task Scheduler runs tasks in the machine's local time ({machine_zone}) or in UTC; run it on a server in {other}, or set timezone = \"local\" or \"UTC\""
            ));
        }
    };
    let triggers = match &task.schedule {
        None => Vec::new(),
        Some(schedule) => {
            let spec = schedule.cron().ok_or_else(|| {
                "@reboot has no Task Scheduler calendar trigger in this version of orc".to_string()
            })?;
            triggers::convert(spec).map_err(|e| {
                format!(
                    "schedule \"{}\" cannot run exactly on Task Scheduler: {e}",
                    schedule.source()
                )
            })?
        }
    };
    Ok(xml::render(&xml::TaskXml {
        folder,
        name: &task.name,
        description: task.description.as_deref(),
        command: &orc_exe.display().to_string(),
        arguments: &run_arguments(task, state),
        triggers: &triggers,
        utc,
        enabled: task.enabled,
        overlap: task.overlap,
        start_when_available: task.catch_up.is_some(),
        random_delay: task.jitter,
        time_limit: time_limit(task),
        principal: xml::Principal::System,
        highest: false,
    }))
}
