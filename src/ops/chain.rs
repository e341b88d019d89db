//! Chains: when a run ends, the tasks it starts (`on_success`, `on_failure`, and the
//! fan-ins that wait for it through `after`), each as `orc run NAME --trigger chain`
//! for the same fire, in a process of its own.
//!
//! The downstream run is started, not awaited: the run that ended is recorded and
//! its `orc run` ends as it would, whatever the chain does after it. A fan-in started
//! by each task it waits for runs once per fire: the first start records the fire,
//! and the later ones are duplicates of it.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::config::Task;
use crate::exec::{RunReport, Status};
use crate::state::{RecordedTask, State};

/// The tasks `task`'s ended run starts, and why: `(name, "on_success")`.
pub fn downstream(
    state: &State,
    recorded: &RecordedTask,
    task: &Task,
    status: Status,
    fire: bool,
) -> Vec<(String, &'static str)> {
    let mut started = Vec::new();
    match status {
        Status::Success | Status::Warning => {
            started.extend(task.on_success.iter().map(|t| (t.clone(), "on_success")));
            // A fan-in waits for its tasks' runs for one fire: a run for no fire
            // (by hand) starts none.
            if fire {
                for other in state.tasks().unwrap_or_default() {
                    // Decoded only when it may wait: every scheduled run of a big
                    // state passes here.
                    if other.folder != recorded.folder
                        || other.backend != recorded.backend
                        || !other.definition.contains("\"after\":")
                    {
                        continue;
                    }
                    let waits = other.task().is_ok_and(|t| t.after.contains(&task.name));
                    if waits {
                        started.push((other.name.clone(), "after"));
                    }
                }
            }
        }
        // Not on an interruption: orc run was asked to stop, and starts nothing new.
        Status::Failed | Status::Timeout | Status::Oom => {
            started.extend(task.on_failure.iter().map(|t| (t.clone(), "on_failure")));
        }
        Status::Interrupted | Status::Skipped | Status::Duplicate => {}
    }
    started
}

/// Start what the run `report` of `task` leads to, for the fire `fire`. The run's
/// `overrides` (`--param`) go to the tasks of `on_success` and `on_failure` that
/// have parameters of those names; a fan-in, started by several runs, takes its own
/// defaults. A start that fails is logged; the run's own outcome stands.
pub fn start_downstream(
    state: &State,
    recorded: &RecordedTask,
    task: &Task,
    report: &RunReport,
    fire: Option<jiff::Timestamp>,
    overrides: &std::collections::BTreeMap<String, String>,
) {
    let next = downstream(state, recorded, task, report.status, fire.is_some());
    if next.is_empty() {
        return;
    }
    let orc = match std::env::current_exe() {
        Ok(orc) => orc,
        Err(e) => {
            tracing::warn!("{}: cannot start its chain: {e}", task.name);
            return;
        }
    };
    for (name, why) in next {
        let next_task = state
            .task_in_folder(&name, &recorded.folder)
            .ok()
            .flatten()
            .and_then(|t| t.task().ok());
        // A task paused (enabled = false) is not started by a chain either.
        if next_task.as_ref().is_some_and(|t| !t.enabled) {
            tracing::info!(
                "run {} of {} does not start {name} ({why}): it is disabled",
                report.id,
                task.name
            );
            continue;
        }
        let mut command = chain_command(&orc, state.path(), recorded, &name, report.id);
        if let Some(fire) = fire {
            command.args(["--scheduled-for", &crate::state::timestamp(fire)]);
        }
        if why != "after"
            && let Some(next_task) = &next_task
        {
            for (k, v) in overrides
                .iter()
                .filter(|(k, _)| next_task.params.contains_key(*k))
            {
                // One argument: a value that starts with `-` stays a value.
                command.arg(format!("--param={k}={v}"));
            }
        }
        match spawn_detached(&mut command) {
            Ok(child) => tracing::info!(
                "run {} of {} started {name} ({why}, pid {})",
                report.id,
                task.name,
                child.id()
            ),
            Err(e) => tracing::warn!(
                "run {} of {} could not start {name} ({why}): {e}",
                report.id,
                task.name
            ),
        }
    }
}

/// `orc run NAME --trigger TRIGGER` on `state`, in `recorded`'s folder and backend:
/// how orc starts a run of its own (a chain's, a backfill's).
pub fn run_command(
    orc: &Path,
    state: &Path,
    recorded: &RecordedTask,
    name: &str,
    trigger: &str,
) -> Command {
    let mut command = Command::new(orc);
    command
        .args(["run", name, "--trigger", trigger])
        .args(["--folder", &recorded.folder, "--backend", &recorded.backend])
        .arg("--state")
        .arg(state);
    command
}

/// `orc run NAME --trigger chain --upstream ID` on the same state, folder and backend,
/// detached: in a process group of its own (so that stopping the upstream run's
/// tree does not stop it), with nothing on its standard streams.
fn chain_command(
    orc: &Path,
    state: &Path,
    recorded: &RecordedTask,
    name: &str,
    upstream: i64,
) -> Command {
    let mut command = run_command(orc, state, recorded, name, "chain");
    command
        .arg("--upstream")
        .arg(upstream.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        command.process_group(0);
    }
    command
}

/// Start `command` out of the starting run's reach. On Windows: a new process group
/// without a console, and out of the job Task Scheduler runs the task in where that
/// job allows it (else in it: Task Scheduler then ends it with the task).
fn spawn_detached(command: &mut Command) -> std::io::Result<std::process::Child> {
    #[cfg(windows)]
    {
        use std::os::windows::process::CommandExt;
        const CREATE_NEW_PROCESS_GROUP: u32 = 0x0000_0200;
        const DETACHED_PROCESS: u32 = 0x0000_0008;
        const CREATE_BREAKAWAY_FROM_JOB: u32 = 0x0100_0000;
        let base = CREATE_NEW_PROCESS_GROUP | DETACHED_PROCESS;
        command.creation_flags(base | CREATE_BREAKAWAY_FROM_JOB);
        if let Ok(child) = command.spawn() {
            return Ok(child);
        }
        command.creation_flags(base);
    }
    command.spawn()
}
