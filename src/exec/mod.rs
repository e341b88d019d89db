//! `orc run NAME`: whatever scheduler fires a task, it gets the same treatment here.
//!
//! The task is read as last applied from the state (never from the possibly edited
//! file); overlap with itself is refused; dependencies are checked; the command runs
//! with its timeout and retries, its output in a capped log; one run row records it
//! all. The row is written when the run starts, so a crash leaves evidence, and a
//! later run recovers it as interrupted.

mod contain;
mod deps;
mod error;
mod limits;
mod log;
#[cfg(target_os = "linux")]
pub use limits::cgroup_parent;
mod process;
mod vpn;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use zeroize::Zeroizing;

use crate::config::{EnvValue, ExitMeaning, Overlap, Task};
use crate::secrets::error::WithSources;
use crate::state::{RunFinish, RunStatus, State};
pub use error::{Result, RunError};
use log::CappedLog;
use process::{Ending, run_attempt};
use std::time::Duration;

/// How long a queued run waits for the running one when the task has no timeout.
const QUEUE_PATIENCE: Duration = Duration::from_secs(24 * 3600);
/// How long `overlap = "replace"` waits for the run it stopped to let go of the task:
/// it stops its task's tree (SIGTERM, then SIGKILL) and records itself first.
const REPLACE_PATIENCE: Duration = Duration::from_secs(60);

/// How often dependencies are checked again while a task waits for them.
pub const DEFAULT_POLL: std::time::Duration = std::time::Duration::from_secs(30);

/// Exit code of `orc run` when the task timed out (as GNU `timeout`).
pub const EXIT_TIMEOUT: i32 = 124;
/// Exit code when the run was skipped (dependency unmet, already running): EX_TEMPFAIL.
pub const EXIT_SKIPPED: i32 = 75;
/// Exit code when `orc run` was stopped by SIGTERM or Ctrl-C (128 + SIGTERM).
pub const EXIT_INTERRUPTED: i32 = 143;

/// What started a run, as its row records it.
pub use crate::state::RunTrigger as Trigger;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Success,
    Failed,
    Timeout,
    Skipped,
    Interrupted,
    /// A second start for a fire time that already has a run: nothing done.
    Duplicate,
    /// Succeeded with one of `warning_exit_codes`.
    Warning,
    /// Killed for memory at `memory_max`.
    Oom,
}

impl Status {
    /// The status the run's row ends with. A duplicate start has no row of its own:
    /// it is recorded as skipped should one be written.
    pub fn recorded(self) -> RunStatus {
        match self {
            Status::Success => RunStatus::Success,
            Status::Failed => RunStatus::Failed,
            Status::Timeout => RunStatus::Timeout,
            Status::Skipped | Status::Duplicate => RunStatus::Skipped,
            Status::Interrupted => RunStatus::Interrupted,
            Status::Warning => RunStatus::Warning,
            Status::Oom => RunStatus::Oom,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Success => "success",
            Status::Failed => "failed",
            Status::Timeout => "timeout",
            Status::Skipped => "skipped",
            Status::Interrupted => "interrupted",
            Status::Duplicate => "duplicate",
            Status::Warning => "warning",
            Status::Oom => "oom",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub id: i64,
    pub task: String,
    pub status: Status,
    pub exit_code: Option<i32>,
    pub attempts: u32,
    pub reason: Option<String>,
    pub log_path: Option<PathBuf>,
}

impl RunReport {
    /// The exit code `orc run` ends with.
    pub fn process_exit_code(&self) -> i32 {
        match self.status {
            // A warning is no failure: the scheduler that started orc run sees 0.
            Status::Success | Status::Duplicate | Status::Warning => 0,
            Status::Timeout => EXIT_TIMEOUT,
            Status::Skipped => EXIT_SKIPPED,
            Status::Interrupted => EXIT_INTERRUPTED,
            // As a shell tells a process the kernel killed.
            Status::Oom => 128 + 9,
            Status::Failed => self.exit_code.filter(|c| *c != 0).unwrap_or(1),
        }
    }
}

pub use process::small_pages_for_this_process;

/// Whether SIGTERM or Ctrl-C asked this orc to stop (after [`stop_on_signals`]).
pub fn stop_requested() -> bool {
    process::stop_requested()
}

/// Make SIGTERM and Ctrl-C stop the running task's whole tree and record the run as
/// interrupted, instead of leaving the task running with nobody watching it.
pub fn stop_on_signals() -> Result<()> {
    process::listen_for_stop();
    ctrlc::set_handler(process::request_stop).map_err(RunError::Signals)
}

/// Wait until `at` (a deferred fire's time), unless orc run is asked to stop first.
pub fn wait_until(at: jiff::Timestamp) {
    let left = at.duration_since(jiff::Timestamp::now());
    if left.is_positive() {
        process::sleep_unless_stopped(left.unsigned_abs());
    }
}

/// With `--if-due`: is now (within the minute the scheduler fired in) a fire time?
/// Backends whose triggers fire on a superset of the times (cron with `L`) use it.
pub fn is_due(task: &Task, now: jiff::Timestamp) -> bool {
    !task.expired(now) && (task.schedule.is_none() || current_fire(task, now).is_some())
}

/// The fire time a scheduler's start at `now` belongs to: the latest one from 90 s
/// before (schedulers start jobs a little after the minute) to 30 s after.
pub fn current_fire(task: &Task, now: jiff::Timestamp) -> Option<jiff::Timestamp> {
    let schedule = task.schedule.as_ref()?;
    let tz = task.timezone.tz();
    let latest = now
        .checked_add(jiff::SignedDuration::from_secs(30))
        .unwrap_or(now);
    let mut at = now
        .checked_sub(jiff::SignedDuration::from_secs(90))
        .unwrap_or(now);
    let mut fire = None;
    while let Some(next) = schedule
        .next_after(tz, at)
        .map(|z| z.timestamp())
        .filter(|n| *n <= latest)
    {
        fire = Some(next);
        at = next;
    }
    fire
}

/// One request to run a task.
#[derive(Clone)]
pub struct RunRequest<'a> {
    pub name: &'a str,
    /// The task's folder (and backend), when a name may exist in several scopes: the
    /// scheduler entries orc writes always pass them.
    pub folder: Option<&'a str>,
    pub backend: Option<&'a str>,
    pub trigger: Trigger,
    pub host: &'a str,
    /// The fire time the run is for, when a scheduler says.
    pub scheduled_for: Option<jiff::Timestamp>,
    /// Wait a random delay up to the task's `jitter` first.
    pub jitter: bool,
    /// Called with the run's id once it is recorded as running (not for a start that
    /// turns out a duplicate or is skipped for an overlap): a Healthchecks `/start`.
    pub on_start: Option<&'a dyn Fn(i64)>,
    /// The run that started this one (a chain), recorded on its row.
    pub upstream: Option<i64>,
    /// Values given for the task's parameters (`orc run --param`), over its defaults.
    pub params: Option<&'a BTreeMap<String, String>>,
    /// Run beside other runs of the task, whatever its `overlap`: a backfill's
    /// `--parallel N` asks for it.
    pub side_by_side: bool,
}

/// Run the applied task once, with retries; record and return the outcome.
/// `depth` counts condition tasks run inline as dependencies.
pub fn run_task(state: &State, req: &RunRequest, depth: usize) -> Result<RunReport> {
    let recorded = find(state, req.name, req.folder, req.backend)?;
    let task = recorded.task()?;
    run_recorded(state, &recorded, &task, req, depth)
}

/// The applied task `name` (in `folder`, on `backend`, when given), or why not.
pub fn find(
    state: &State,
    name: &str,
    folder: Option<&str>,
    backend: Option<&str>,
) -> Result<crate::state::RecordedTask> {
    state
        .find_task(name, folder, backend)?
        .ok_or_else(|| RunError::NotApplied {
            name: name.to_string(),
            place: folder
                .map(|f| format!(" in folder \"{f}\""))
                .unwrap_or_default(),
            state: state.path().to_path_buf(),
        })
}

/// [`run_task`] of a task already read from the state (`task` is `recorded`'s).
pub fn run_recorded(
    state: &State,
    recorded: &crate::state::RecordedTask,
    task: &Task,
    req: &RunRequest,
    depth: usize,
) -> Result<RunReport> {
    let (name, trigger, host) = (req.name, req.trigger, req.host);
    let folder = recorded.folder.as_str();
    if depth == 0 {
        recover_abandoned(state, host);
    }

    if req.jitter
        && let Some(max) = task.jitter
    {
        process::sleep_unless_stopped(jitter_delay(max).unsigned_abs());
    }
    let scheduled_for = req.scheduled_for.map(crate::state::timestamp);
    let scheduled_for = scheduled_for.as_deref();

    let lock_name = format!("run:{folder}/{name}");

    let user = crate::host::user_name();
    let overlap = match (req.side_by_side, trigger, task.overlap) {
        // A backfill's --parallel runs fires side by side, as asked.
        (true, _, _) => Overlap::Allow,
        // A chained start is for its fire, which nothing would start again: it waits
        // its turn rather than be skipped (a fan-in still waiting for yesterday's
        // fire when today's upstream succeeds, a load still running).
        (false, Trigger::Chain, Overlap::Skip) => Overlap::Queue,
        (false, _, overlap) => overlap,
    };
    let taken = match overlap {
        Overlap::Allow => None,
        Overlap::Skip => Some(state.try_lock(&lock_name, "run", host, &user)?),
        // Wait for the running one, as long as a run may take (a day without a timeout),
        // a fan-in's wait for its tasks included.
        Overlap::Queue => {
            let fan_in = if task.after.is_empty() {
                Duration::ZERO
            } else {
                task.after_timeout.unwrap_or(AFTER_TIMEOUT)
            };
            let patience = task.timeout.map_or(QUEUE_PATIENCE, |t| {
                t * (task.retry_count + 1) + fan_in + Duration::from_secs(60)
            });
            Some(Ok(state.lock(&lock_name, "run", host, &user, patience)?))
        }
        // Stop the running one, then run: as Task Scheduler's StopExisting does (on
        // that backend Task Scheduler stops it itself, and this waits for its lock).
        Overlap::Replace => Some(match state.try_lock(&lock_name, "run", host, &user)? {
            Ok(guard) => Ok(guard),
            Err(holder) => {
                if holder.host == host {
                    process::stop_orc_run(holder.pid, holder.pid_start);
                }
                match state.lock(&lock_name, "run", host, &user, REPLACE_PATIENCE) {
                    Ok(guard) => Ok(guard),
                    Err(_) => Err(holder),
                }
            }
        }),
    };
    let guard = match taken {
        None => None,
        Some(Ok(guard)) => Some(guard),
        Some(Err(holder)) => {
            let reason = format!("already running: {holder}");
            return record_skipped(state, (folder, name), req, &reason);
        }
    };
    if let Some(dead) = guard.as_ref().and_then(|g| g.broke.as_ref()) {
        // The orc that ran it died; its task may still run in its own process group.
        tracing::warn!(
            "{name}: the orc that ran it ({dead}) died; its run is recorded as interrupted"
        );
        for (pid, started) in state.interrupt_runs((folder, name), dead.pid)? {
            process::kill_leftovers(pid, started);
        }
    }

    let id = match state.begin_run((folder, name), trigger, host, scheduled_for)? {
        Ok(id) => id,
        Err(first) => return Ok(duplicate(name, first, scheduled_for)),
    };
    tracing::info!("run {id} of {name} started ({})", trigger.as_str());
    if let Some(upstream) = req.upstream {
        state.set_run_upstream(id, upstream)?;
    }
    // A fan-in started by one of the tasks it waits for waits for the others.
    if let (Trigger::Chain, false, Some(fire)) = (trigger, task.after.is_empty(), scheduled_for)
        && let Some((status, reason)) = wait_for_fan_in(state, task, folder, fire)
    {
        let finish = RunFinish {
            status: status.recorded(),
            ..RunFinish::skipped(&reason)
        };
        state.finish_run(id, &finish)?;
        drop(guard);
        return Ok(RunReport {
            id,
            task: name.to_string(),
            status,
            exit_code: None,
            attempts: 0,
            reason: Some(reason),
            log_path: None,
        });
    }
    if let Some(on_start) = req.on_start {
        on_start(id);
    }
    // Whatever goes wrong from here, the run row must not stay "running".
    let context = Context {
        id,
        host,
        fire: req.scheduled_for.unwrap_or_else(jiff::Timestamp::now),
        given: req.params,
    };
    let result = run_started(state, task, folder, &context, depth);
    match &result {
        Ok(report) => tracing::info!(
            "run {id} of {name} finished: {}{}",
            report.status.as_str(),
            report
                .reason
                .as_ref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ),
        Err(e) => {
            tracing::error!("run {id} of {name} failed: {e:#}");
            state.finish_run(id, &RunFinish::failed(&format!("{e:#}")))?;
        }
    }
    drop(guard);
    result
}

/// Runs on this host whose `orc run` is gone (SIGKILL, a crash, power loss) are
/// recorded as interrupted, and what is left of their tasks is stopped, if it is
/// still theirs. `orc run`, `orc status`, `orc history`, `orc logs --follow` and the
/// daemon call it; a failure is only logged.
pub fn recover_abandoned(state: &State, host: &str) {
    match state.interrupt_abandoned_runs(host) {
        Ok(leftovers) => {
            for (pid, started) in leftovers {
                process::kill_leftovers(pid, started);
            }
        }
        Err(e) => tracing::warn!("cannot check for runs whose orc is gone: {e:#}"),
    }
}

/// Record a start that does not run, with why: a skipped run (or, for a fire that
/// run already covers, that run's duplicate).
pub fn record_skipped(
    state: &State,
    (folder, name): (&str, &str),
    req: &RunRequest,
    reason: &str,
) -> Result<RunReport> {
    record_not_run(state, (folder, name), req, reason, RunStatus::Skipped)
}

/// Record a start whose fire another host of the pool runs (`run_on = "one"`): a
/// `duplicate` row, so that this host's history, missed-fire check and catch-up
/// see the fire as taken care of, and no alert.
pub fn record_elsewhere(
    state: &State,
    (folder, name): (&str, &str),
    req: &RunRequest,
    reason: &str,
) -> Result<RunReport> {
    record_not_run(state, (folder, name), req, reason, RunStatus::Duplicate)
}

fn record_not_run(
    state: &State,
    (folder, name): (&str, &str),
    req: &RunRequest,
    reason: &str,
    status: RunStatus,
) -> Result<RunReport> {
    let scheduled_for = req.scheduled_for.map(crate::state::timestamp);
    let scheduled_for = scheduled_for.as_deref();
    let id = match state.begin_run((folder, name), req.trigger, req.host, scheduled_for)? {
        Ok(id) => id,
        Err(first) => return Ok(duplicate(name, first, scheduled_for)),
    };
    if let Some(upstream) = req.upstream {
        state.set_run_upstream(id, upstream)?;
    }
    let finish = RunFinish {
        status,
        ..RunFinish::skipped(reason)
    };
    state.finish_run(id, &finish)?;
    tracing::info!("run {id} of {name} {}: {reason}", status.as_str());
    Ok(RunReport {
        id,
        task: name.to_string(),
        status: if status == RunStatus::Duplicate {
            Status::Duplicate
        } else {
            Status::Skipped
        },
        exit_code: None,
        attempts: 0,
        reason: Some(reason.to_string()),
        log_path: None,
    })
}

/// The outcome of a second start for a fire that run `first` already covers.
fn duplicate(name: &str, first: i64, scheduled_for: Option<&str>) -> RunReport {
    let reason = format!(
        "the fire at {} already has run {first}; this second start did nothing",
        scheduled_for.unwrap_or("?")
    );
    tracing::info!("{name}: {reason}");
    RunReport {
        id: first,
        task: name.to_string(),
        status: Status::Duplicate,
        exit_code: None,
        attempts: 0,
        reason: Some(reason),
        log_path: None,
    }
}

/// What a started run knows of itself: its row, host, fire (or start), and the
/// parameter values it was given.
struct Context<'a> {
    id: i64,
    host: &'a str,
    fire: jiff::Timestamp,
    given: Option<&'a BTreeMap<String, String>>,
}

impl Context<'_> {
    /// The built-ins and the task's parameters at `attempt`: defaults filled from
    /// the built-ins, then the values given (taken as they are).
    fn values(&self, task: &Task, attempt: u32) -> BTreeMap<String, String> {
        use crate::config::params::fill;
        let mut values: BTreeMap<String, String> = [
            ("scheduled_for", crate::state::timestamp(self.fire)),
            ("run_id", self.id.to_string()),
            ("task", task.name.clone()),
            ("host", self.host.to_string()),
            ("attempt", attempt.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let tz = task.timezone.tz();
        let params: Vec<(String, String)> = task
            .params
            .iter()
            .map(|(k, v)| {
                let given = self.given.and_then(|g| g.get(k));
                (
                    k.clone(),
                    given.cloned().unwrap_or_else(|| fill(v, &values, tz)),
                )
            })
            .collect();
        values.extend(params);
        values
    }
}

/// `action` with its argv's placeholders filled from `values` (a shell command is
/// left as written: its values are in the environment).
fn filled(
    action: &crate::config::Action,
    values: &BTreeMap<String, String>,
    task: &Task,
) -> crate::config::Action {
    use crate::config::Action;
    match action {
        Action::Argv(words) => Action::Argv(
            words
                .iter()
                .map(|w| crate::config::params::fill(w, values, task.timezone.tz()))
                .collect(),
        ),
        shell => shell.clone(),
    }
}

/// The part of a run after its row exists.
fn run_started(
    state: &State,
    task: &Task,
    folder: &str,
    context: &Context,
    depth: usize,
) -> Result<RunReport> {
    let (id, host) = (context.id, context.host);
    let name = task.name.as_str();
    let report = |status, exit_code, attempts, reason: Option<String>, log_path| RunReport {
        id,
        task: name.to_string(),
        status,
        exit_code,
        attempts,
        reason,
        log_path,
    };

    if let Some(reason) = wait_for_dependencies(state, task, folder, host, depth)? {
        state.finish_run(id, &RunFinish::skipped(&reason))?;
        return Ok(report(Status::Skipped, None, 0, Some(reason), None));
    }
    if !task.params.is_empty() {
        let first = context.values(task, 1);
        let recorded: BTreeMap<String, String> = task
            .params
            .keys()
            .filter_map(|k| Some((k.clone(), first.get(k)?.clone())))
            .collect();
        state.set_run_params(id, &recorded)?;
    }
    let ResolvedEnv { vars: env, secrets } = match resolve_env(state, task) {
        Ok(resolved) => resolved,
        Err(e) => {
            let reason = e.to_string();
            state.finish_run(id, &RunFinish::failed(&reason))?;
            return Ok(report(Status::Failed, None, 0, Some(reason), None));
        }
    };

    let log_path = log_dir(state, task)
        .join(&task.name)
        .join(format!("{id}.log"));
    let mut capped =
        CappedLog::create(&log_path, task.max_log_size).map_err(|source| RunError::Log {
            path: log_path.clone(),
            source,
        })?;
    // The task's secrets, and the vault passphrase should a task print it (it never
    // reaches the task's environment, but a task may read it from elsewhere).
    let passphrase = crate::secrets::passphrase_unattended().ok().flatten();
    let masked: Vec<&str> = secrets
        .iter()
        .map(|s| s.as_str())
        .chain(passphrase.as_ref().map(|p| p.as_str()))
        .collect();
    capped.mask(&masked);
    let log = Arc::new(Mutex::new(capped));
    let note = |text: String| {
        let _ = log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .line("orc", text.as_bytes());
    };

    let attempts_allowed = task.retry_count + 1;
    let steps: Vec<_> = task.steps().collect();
    // Which step failed, named in the reason when the task has several.
    let at_step = |i: usize| {
        if steps.len() > 1 {
            format!(
                " at step {} of {} ({})",
                i + 1,
                steps.len(),
                describe(steps[i].0)
            )
        } else {
            String::new()
        }
    };
    let mut finish = RunFinish::default();
    let mut attempts = 0;
    let mut ending = Ending::Exited(1);
    let mut spawn_error = None;
    // The step the next attempt starts at: a retry does not repeat the steps that
    // already succeeded.
    let mut next = 0;
    // The first step that ended with a warning code: the run ends `warning`.
    let mut warned: Option<(i32, usize)> = None;
    // The attempt the OOM killer ended at memory_max, if one did.
    let mut oom: Option<limits::OutOfMemory> = None;
    let mut limits_told = false;
    while attempts < attempts_allowed && !process::stop_requested() {
        attempts += 1;
        note(format!("attempt {attempts} of {attempts_allowed}"));
        let on_spawn = |pid: u32| {
            let _ = state.set_run_child(id, pid);
        };
        let started = std::time::Instant::now();
        let mut took = Duration::ZERO;
        spawn_error = None;
        while next < steps.len() && !process::stop_requested() {
            let (action, dir) = steps[next];
            if steps.len() > 1 {
                note(format!(
                    "step {} of {}: {}",
                    next + 1,
                    steps.len(),
                    describe(action)
                ));
            }
            // The timeout is the attempt's, whatever its steps.
            let left = task.timeout.map(|t| t.saturating_sub(started.elapsed()));
            let values = context.values(task, attempts);
            let mut env = env.clone();
            for param in task.params.keys() {
                if let Some(v) = values.get(param) {
                    env.insert(crate::config::params::env_name(param), v.clone());
                }
            }
            let action = &filled(action, &values, task);
            let limited = (
                &task.limits,
                format!("orc-run-{id}-{attempts}-{next}"),
                !limits_told,
            );
            match run_attempt(action, dir, &env, left, &log, &on_spawn, &limited) {
                Ok(attempt) => {
                    // Said once, before the first output.
                    limits_told |= attempt.limited_by.is_some();
                    ending = attempt.ending;
                    oom = attempt.oom.or(oom);
                    took += attempt.duration;
                    finish.cpu += attempt.cpu;
                    finish.peak_rss_kb = finish.peak_rss_kb.max(attempt.peak_rss_kb);
                    match ending {
                        Ending::Exited(code) => match task.exit_codes.meaning(code) {
                            ExitMeaning::Success => {}
                            ExitMeaning::Warning => {
                                note(format!(
                                    "exit code {code} is a warning (warning_exit_codes){}",
                                    at_step(next)
                                ));
                                warned = warned.or(Some((code, next)));
                            }
                            ExitMeaning::Failure { .. } => break,
                        },
                        Ending::TimedOut => break,
                    }
                    next += 1;
                }
                Err(e) => {
                    let reason = format!("cannot start {}{}: {e}", describe(action), at_step(next));
                    note(reason.clone());
                    spawn_error = Some(reason);
                    break;
                }
            }
        }
        finish.attempt_durations.push(took);
        if spawn_error.is_none() {
            match ending {
                _ if next == steps.len() => break,
                // Stopped between two steps that succeeded.
                Ending::Exited(code)
                    if !matches!(task.exit_codes.meaning(code), ExitMeaning::Failure { .. }) => {}
                Ending::Exited(code) => {
                    note(format!(
                        "attempt {attempts} failed with exit code {code}{}",
                        at_step(next)
                    ));
                    if task.exit_codes.meaning(code) == (ExitMeaning::Failure { retry: false })
                        && attempts < attempts_allowed
                    {
                        note(format!(
                            "exit code {code} is not in retry_on_exit_codes: no retry"
                        ));
                        break;
                    }
                }
                Ending::TimedOut => note(format!(
                    "attempt {attempts} timed out after {}{}; its process tree was stopped",
                    crate::config::format_duration(task.timeout.unwrap_or_default()),
                    at_step(next)
                )),
            }
        }
        if attempts < attempts_allowed && !process::stop_requested() {
            let pause = task.retry_pause(attempts);
            note(format!(
                "retrying in {}",
                crate::config::format_duration(pause)
            ));
            process::sleep_unless_stopped(pause);
        }
    }
    let (status, exit_code, reason) = match (spawn_error, ending) {
        _ if process::stop_requested() => (
            Status::Interrupted,
            None,
            Some("orc run was asked to stop (SIGTERM or Ctrl-C)".to_string()),
        ),
        (Some(reason), _) => (Status::Failed, None, Some(reason)),
        // The last attempt was the OOM killer's (an earlier one's retry got through
        // otherwise and says so).
        (None, Ending::Exited(code))
            if next < steps.len()
                && oom.is_some()
                && !matches!(
                    task.exit_codes.meaning(code),
                    ExitMeaning::Success | ExitMeaning::Warning
                ) =>
        {
            let o = oom.unwrap_or(limits::OutOfMemory {
                limit: 0,
                peak: None,
            });
            (
                Status::Oom,
                Some(code),
                Some(format!(
                    "{} at memory_max {}{}",
                    // Job Objects refuse the allocation; the OOM killer kills.
                    if cfg!(windows) {
                        "refused memory"
                    } else {
                        "killed for memory"
                    },
                    human_bytes(o.limit),
                    o.peak
                        .map(|p| format!(" (peak {})", human_bytes(p)))
                        .unwrap_or_default()
                )),
            )
        }
        (None, Ending::Exited(code)) if next == steps.len() => match warned {
            Some((warning, step)) => (
                Status::Warning,
                Some(warning),
                Some(format!(
                    "exit code {warning}{} is a warning (warning_exit_codes)",
                    at_step(step)
                )),
            ),
            None => (Status::Success, Some(code), None),
        },
        (None, Ending::Exited(code)) => (
            Status::Failed,
            Some(code),
            Some(format!("exit code {code}{}", at_step(next))),
        ),
        (None, Ending::TimedOut) => (
            Status::Timeout,
            None,
            Some(format!(
                "timed out after {}",
                crate::config::format_duration(task.timeout.unwrap_or_default())
            )),
        ),
    };
    let _ = log.lock().unwrap_or_else(|e| e.into_inner()).finish();
    note(format!("finished: {}", status.as_str()));
    let _ = log.lock().unwrap_or_else(|e| e.into_inner()).flush();
    finish.status = status.recorded();
    finish.exit_code = exit_code;
    finish.attempts = attempts;
    finish.reason = reason.clone();
    finish.log_path = Some(log_path.display().to_string());
    state.finish_run(id, &finish)?;
    Ok(report(status, exit_code, attempts, reason, Some(log_path)))
}

/// Bytes in the unit people read them in.
fn human_bytes(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GB", b as f64 / f64::from(1u32 << 30)),
        b if b >= 1 << 20 => format!("{:.1} MB", b as f64 / f64::from(1u32 << 20)),
        b => format!("{b} bytes"),
    }
}

/// How long a fan-in waits for the rest of `after` without `after_timeout`.
pub const AFTER_TIMEOUT: Duration = Duration::from_secs(3600);

/// Wait until every task of `after` succeeded for the fire `fire`: `None` then, or
/// the status and reason the run ends with instead (skipped when one of them failed
/// for the fire, failed when `after_timeout` ran out first, interrupted when asked
/// to stop).
fn wait_for_fan_in(
    state: &State,
    task: &Task,
    folder: &str,
    fire: &str,
) -> Option<(Status, String)> {
    let limit = task.after_timeout.unwrap_or(AFTER_TIMEOUT);
    let waited = std::time::Instant::now();
    loop {
        let mut waiting = Vec::new();
        for upstream in &task.after {
            match state.fire_outcome((folder, upstream), fire) {
                Ok(Some(RunStatus::Success | RunStatus::Warning)) => {}
                Ok(Some(status)) if status != RunStatus::Running => {
                    return Some((
                        Status::Skipped,
                        format!("after: \"{upstream}\" ended {status} for the fire at {fire}"),
                    ));
                }
                Ok(_) => waiting.push(format!("\"{upstream}\"")),
                Err(e) => return Some((Status::Failed, format!("after: {e}"))),
            }
        }
        if waiting.is_empty() {
            return None;
        }
        if process::stop_requested() {
            return Some((
                Status::Interrupted,
                "orc run was asked to stop while it waited for after".to_string(),
            ));
        }
        if waited.elapsed() >= limit {
            return Some((
                Status::Failed,
                format!(
                    "after_timeout: {} had not succeeded for the fire at {fire} within {}",
                    waiting.join(", "),
                    crate::config::format_duration(limit)
                ),
            ));
        }
        process::sleep_unless_stopped(
            Duration::from_secs(1).min(limit.saturating_sub(waited.elapsed())),
        );
    }
}

/// Check the dependencies; with `wait`, check again every `poll` until they hold or
/// the wait is over, and once more at its end. `None` when they hold, else why not.
fn wait_for_dependencies(
    state: &State,
    task: &Task,
    folder: &str,
    host: &str,
    depth: usize,
) -> Result<Option<String>> {
    let waited = std::time::Instant::now();
    let wait = task.wait.unwrap_or_default();
    let poll = task.poll.unwrap_or(DEFAULT_POLL);
    loop {
        let Some(reason) = deps::check(state, task, folder, host, depth)? else {
            return Ok(None);
        };
        let left = wait.saturating_sub(waited.elapsed());
        if process::stop_requested() || left.is_zero() {
            return Ok(Some(if wait.is_zero() {
                reason
            } else {
                format!(
                    "{reason} (waited {})",
                    crate::config::format_duration(waited.elapsed())
                )
            }));
        }
        process::sleep_unless_stopped(poll.min(left));
    }
}

fn describe(action: &crate::config::Action) -> String {
    match action {
        crate::config::Action::Argv(argv) => format!("\"{}\"", argv[0]),
        crate::config::Action::Shell(_) => "the shell".to_string(),
    }
}

/// Why a task's environment could not be made: the run fails before it starts.
#[derive(Debug, thiserror::Error)]
enum EnvError {
    #[error("cannot open the secrets vault: {0}")]
    Vault(String),
    #[error("env {var}: {why}")]
    Secret { var: String, why: String },
}

/// The task's environment: plain values as they are, `{ secret = "..." }` decrypted
/// from the vault (only the secrets this task names), with the secret values, which
/// the log masks.
fn resolve_env(state: &State, task: &Task) -> Result<ResolvedEnv, EnvError> {
    let wanted: Vec<&str> = task
        .env
        .values()
        .filter_map(|v| match v {
            EnvValue::Secret { secret } => Some(secret.as_str()),
            EnvValue::Plain(_) => None,
        })
        .collect();
    let vault = if wanted.is_empty() {
        None
    } else {
        let key_file = crate::secrets::key::key_file_path(state.path());
        Some(
            crate::secrets::Vault::open(
                state,
                &key_file,
                &crate::secrets::passphrase_from_env_or_prompt,
            )
            .map_err(|e| EnvError::Vault(WithSources(&e).to_string()))?,
        )
    };
    let mut env = BTreeMap::new();
    let mut secrets = Vec::new();
    for (k, v) in &task.env {
        let value = match (v, &vault) {
            (EnvValue::Plain(value), _) => value.clone(),
            (EnvValue::Secret { secret }, Some(vault)) => {
                let value = vault.get(secret).map_err(|e| EnvError::Secret {
                    var: k.clone(),
                    why: WithSources(&e).to_string(),
                })?;
                let plain = value.to_string();
                secrets.push(value);
                plain
            }
            (EnvValue::Secret { .. }, None) => unreachable!("the vault is open when needed"),
        };
        env.insert(k.clone(), value);
    }
    // orc's own report task ([report]) is orc: it reports on this state, and opens
    // its vault for the mail login, with the same variables as the orc running it.
    if is_orc_itself(task) {
        for (name, value) in std::env::vars().filter(|(n, _)| n.starts_with("ORC_")) {
            env.entry(name).or_insert(value);
        }
        env.insert(
            "ORC_STATE".to_string(),
            state.path().to_string_lossy().into_owned(),
        );
    }
    Ok(ResolvedEnv { vars: env, secrets })
}

/// The managed task of `[report]`: this orc executable's own `report` command.
fn is_orc_itself(task: &Task) -> bool {
    let crate::config::Action::Argv(argv) = &task.action else {
        return false;
    };
    let me = std::env::current_exe().ok();
    task.kind == crate::config::TaskType::Report
        && argv.get(1).is_some_and(|a| a == "report")
        && argv
            .first()
            .is_some_and(|a| me.as_deref() == Some(std::path::Path::new(a)))
}

/// A task's environment, and the secret values in it (for the log to mask).
struct ResolvedEnv {
    vars: BTreeMap<String, String>,
    secrets: Vec<Zeroizing<String>>,
}

/// Where run `id` of the applied task `name` (in `folder`) writes its log.
pub fn run_log_path(state: &State, folder: Option<&str>, name: &str, id: i64) -> Result<PathBuf> {
    let task = find(state, name, folder, None)?.task()?;
    Ok(log_dir(state, &task).join(name).join(format!("{id}.log")))
}

/// `settings.log_dir` as applied, else the default.
fn log_dir(state: &State, task: &Task) -> PathBuf {
    task.log_dir
        .clone()
        .unwrap_or_else(|| crate::state::default_log_dir(state.path()))
}

/// A random delay below `max`, for `jitter`. Not for secrets: std's randomly seeded
/// hasher is random enough to spread start times.
pub fn jitter_delay(max: Duration) -> jiff::SignedDuration {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    let millis = max.as_millis().max(1) as u64;
    jiff::SignedDuration::from_millis((hasher.finish() % millis) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_below_its_bound_and_varies() {
        let max = Duration::from_secs(30);
        let samples: Vec<i64> = (0..1000)
            .map(|_| jitter_delay(max).as_millis() as i64)
            .collect();
        assert!(samples.iter().all(|&ms| (0..30_000).contains(&ms)));
        let distinct: std::collections::BTreeSet<_> = samples.iter().collect();
        assert!(distinct.len() > 900, "{} distinct", distinct.len());
        let mean = samples.iter().sum::<i64>() / 1000;
        assert!((10_000..20_000).contains(&mean), "mean {mean} ms");
    }
}
