//! `orc run NAME`'s use-case: read the applied task once, decide whether this start
//! runs it (`--if-due`, once per fire), run it, then housekeeping and alerts, which
//! never change the outcome (their failures are logged).

use crate::config::Verdict;
use crate::exec::{self, RunError, RunReport, Trigger};
use crate::state::State;

/// What to run, and how it was asked for.
pub struct RunOptions<'a> {
    pub name: &'a str,
    pub folder: Option<&'a str>,
    pub backend: Option<&'a str>,
    pub trigger: Trigger,
    /// Run only when now is one of the task's fire times.
    pub if_due: bool,
    /// The fire time the run is for, when the scheduler says.
    pub scheduled_for: Option<jiff::Timestamp>,
    /// Let only the first start for a fire time run (see `orc run --once-per-fire`).
    pub once_per_fire: bool,
    /// Wait for the task's jitter (scheduled runs whose caller did not).
    pub jitter: bool,
    pub host: &'a str,
    /// The run that started this one (`--trigger chain --upstream ID`).
    pub upstream: Option<i64>,
    /// Values for the task's parameters (`--param name=value`).
    pub params: std::collections::BTreeMap<String, String>,
    /// Run beside other runs of the task, whatever its `overlap` (a backfill's
    /// `--parallel`).
    pub side_by_side: bool,
}

/// What a start came to.
pub enum RunOutcome {
    /// `--if-due`, and now is not a fire time: nothing was run or recorded.
    NotDue,
    Ran(RunReport),
}

pub fn run(state: &State, opts: &RunOptions) -> Result<RunOutcome, RunError> {
    // Read and decoded once, for the decision, the run and its alerts.
    let recorded = exec::find(state, opts.name, opts.folder, opts.backend)?;
    let task = recorded.task()?;
    if let Some(unknown) = opts.params.keys().find(|k| !task.params.contains_key(*k)) {
        return Err(RunError::Param(if task.params.is_empty() {
            format!(
                "--param {unknown}: task \"{}\" has no parameters",
                task.name
            )
        } else {
            format!(
                "--param {unknown}: task \"{}\" has no such parameter; its parameters are {}",
                task.name,
                task.params.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        }));
    }
    let now = jiff::Timestamp::now();
    if opts.if_due && !exec::is_due(&task, now) {
        return Ok(RunOutcome::NotDue);
    }
    // A scheduled start of a run_on = "one" task is for a fire even when its
    // scheduler does not say which (cron): the pool claims that fire.
    let claims = task.run_on == crate::config::RunOn::One && opts.trigger == Trigger::Scheduled;
    // A scheduled start is for the fire it belongs to, also when its scheduler does
    // not say which (cron): the fire is recorded, and what it chains to (a fan-in
    // above all) is for that fire too.
    let mut scheduled_for = match opts.scheduled_for {
        None if opts.once_per_fire || claims || opts.trigger == Trigger::Scheduled => {
            exec::current_fire(&task, now)
        }
        given => given,
    };
    // run_on = "one": the hosts of the pool race for the fire; only the winner runs.
    let not_run = exec::RunRequest {
        name: opts.name,
        folder: Some(&recorded.folder),
        backend: Some(&recorded.backend),
        trigger: opts.trigger,
        host: opts.host,
        scheduled_for,
        jitter: false,
        on_start: None,
        upstream: opts.upstream,
        params: Some(&opts.params),
        side_by_side: opts.side_by_side,
    };
    let key = (recorded.folder.as_str(), opts.name);
    let claim = match super::fleet::gate(state, &task, &recorded.folder, scheduled_for, opts.host) {
        super::fleet::Gate::Run(claim) => claim,
        super::fleet::Gate::Elsewhere { holder, fire } => {
            let reason = format!("the fire at {fire} is run by {holder} (run_on = \"one\")");
            let report = exec::record_elsewhere(state, key, &not_run, &reason)?;
            return Ok(RunOutcome::Ran(report));
        }
        super::fleet::Gate::Skip(reason) => {
            let report = exec::record_skipped(state, key, &not_run, &reason)?;
            if let Err(e) = alert(state, &recorded.scope(), &task, &report, opts.host, false) {
                tracing::warn!(
                    "alerts for run {} failed: {}",
                    report.id,
                    super::error_chain(&e)
                );
            }
            return Ok(RunOutcome::Ran(report));
        }
    };
    exec::stop_on_signals()?;
    // Calendars and blackout windows decide a scheduled fire here, in orc run, so
    // that every backend honours them.
    if matches!(
        opts.trigger,
        Trigger::Scheduled | Trigger::CatchUp | Trigger::Backfill
    ) {
        let fire = scheduled_for.or_else(|| exec::current_fire(&task, now));
        match task.verdict(fire.unwrap_or(now)) {
            Verdict::Run => {}
            Verdict::Skip(reason) => {
                let request = exec::RunRequest {
                    scheduled_for: fire,
                    ..not_run.clone()
                };
                let report = exec::record_skipped(state, key, &request, &reason);
                if let Some(claim) = claim {
                    claim.finish("skipped");
                }
                let report = report?;
                // Not alerted: the calendar says so. Others' alerts still go.
                if let Err(e) = housekeeping(state, opts.host) {
                    tracing::warn!("after run {}: {}", report.id, super::error_chain(&e));
                }
                return Ok(RunOutcome::Ran(report));
            }
            Verdict::Defer { until, reason } => {
                tracing::info!("{}: {reason}, at {until}", opts.name);
                exec::wait_until(until);
                // Recorded as the fire it is, so that no check calls that fire missed.
                scheduled_for = fire;
            }
        }
    }
    // Beside the started task, each in a thread of its own so that no network or mail
    // server delays it: Healthchecks hears of the start (the end's ping is queued and
    // retried), and a watch alerts `slow` once the run passes its max_duration.
    let scope = recorded.scope();
    let checks = state
        .notify_settings(Some(&scope))
        .map(|settings| crate::notify::healthchecks_of(&task, &settings))
        .unwrap_or_default();
    let beside: std::sync::Mutex<Beside> = Default::default();
    let on_start = |run_id: i64| {
        let mut beside = beside.lock().unwrap_or_else(|p| p.into_inner());
        let vault = state.path().to_path_buf();
        if !checks.is_empty() {
            let facts = crate::notify::start_facts(&task, run_id, opts.host, &recorded.folder);
            let (checks, vault) = (checks.clone(), vault.clone());
            beside.threads.push(std::thread::spawn(move || {
                // Never a passphrase prompt on the running task's terminal.
                let secrets = crate::workspace::vault_reader_with(
                    &vault,
                    crate::secrets::passphrase_from_env,
                );
                for check in &checks {
                    if let Err(e) = crate::notify::hooks::send(check, &facts, &secrets) {
                        tracing::warn!("the start of run {run_id} was not pinged: {e}");
                    }
                }
            }));
            beside.pinged_start = true;
        }
        if let Some(limit) = task.max_duration {
            let (done, wait) = std::sync::mpsc::channel::<()>();
            beside.done = Some(done);
            let (task, scope, host) = (task.clone(), scope.clone(), opts.host.to_string());
            beside.threads.push(std::thread::spawn(move || {
                // The run's end drops the sender: only a run still going times out here.
                if wait.recv_timeout(limit) == Err(std::sync::mpsc::RecvTimeoutError::Timeout)
                    && let Err(e) = alert_slow(&vault, &task, (run_id, limit), &host, &scope)
                {
                    tracing::warn!(
                        "the slow alert of run {run_id} failed: {}",
                        super::error_chain(&e)
                    );
                }
            }));
        }
    };
    let request = exec::RunRequest {
        name: opts.name,
        folder: Some(&recorded.folder),
        backend: Some(&recorded.backend),
        trigger: opts.trigger,
        host: opts.host,
        scheduled_for,
        jitter: opts.jitter,
        on_start: (!checks.is_empty() || task.max_duration.is_some())
            .then_some(&on_start as &dyn Fn(i64)),
        upstream: opts.upstream,
        params: Some(&opts.params),
        side_by_side: opts.side_by_side,
    };
    let report = exec::run_recorded(state, &recorded, &task, &request, 0);
    if let Some(claim) = claim {
        match &report {
            // A second start of a fire this host already runs: the first run's claim
            // is not this start's to finish.
            Ok(report) if report.status == exec::Status::Duplicate => claim.release(),
            Ok(report) => claim.finish(report.status.as_str()),
            Err(_) => claim.finish("failed"),
        }
    }
    // The start's ping goes before the end's, which only a run whose start was
    // pinged gets (not a second start of a fire, or one skipped for an overlap).
    let beside = beside.into_inner().unwrap_or_else(|p| p.into_inner());
    let pinged_start = beside.pinged_start;
    beside.finish();
    let report = report?;
    // The tasks this run starts, before anything that may wait on the network.
    super::chain::start_downstream(
        state,
        &recorded,
        &task,
        &report,
        scheduled_for,
        &opts.params,
    );
    // Housekeeping after the task, so it never delays one; a failure is only logged.
    if let Err(e) = crate::retention::maybe_enforce(state) {
        tracing::warn!("retention failed: {}", super::error_chain(&e));
    }
    // Alerts last: the result is recorded, so a mail server that is away delays
    // nothing that matters and changes nothing; failures are only logged (and kept
    // for retry and `orc status`).
    flag_too_fast(state, &task, &report);
    if let Err(e) = alert(state, &scope, &task, &report, opts.host, pinged_start) {
        tracing::warn!(
            "alerts for run {} failed: {}",
            report.id,
            super::error_chain(&e)
        );
    }
    Ok(RunOutcome::Ran(report))
}

/// Queue the run's alerts and send what is due (this run's, and earlier ones that
/// are waiting for a retry).
fn alert(
    state: &State,
    scope: &crate::state::Scope,
    task: &crate::config::Task,
    report: &RunReport,
    host: &str,
    pinged_start: bool,
) -> crate::state::Result<()> {
    if report.status != exec::Status::Duplicate {
        // A slow alert not sent yet would say the run is still going.
        state.drop_waiting_event(crate::state::MailEvent::Slow, report.id)?;
        let settings = state.notify_settings(Some(scope))?;
        let run = crate::notify::RunAlerts {
            task,
            report,
            host,
            scope,
            pinged_start,
        };
        crate::notify::queue_for_run(state, &settings, &run)?;
    }
    housekeeping(state, host)
}

/// What any start does beside its own alerts: look for other tasks' missed fires
/// (every five minutes at most), and send what is due.
fn housekeeping(state: &State, host: &str) -> crate::state::Result<()> {
    crate::notify::missed::maybe_check(state, host)?;
    crate::notify::deliver(state, &crate::workspace::vault_reader(state.path()), false)?;
    Ok(())
}

/// The threads beside a started run (see `run`).
#[derive(Default)]
struct Beside {
    threads: Vec<std::thread::JoinHandle<()>>,
    /// Dropped when the run ends, which stops the slow watch.
    done: Option<std::sync::mpsc::Sender<()>>,
    pinged_start: bool,
}

impl Beside {
    /// The run has ended: stop the watch, and wait for the start's ping.
    fn finish(self) {
        drop(self.done);
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}

/// A success quicker than the task's `min_duration` is flagged in the history (and
/// alerted `too_fast` with the run's other alerts).
fn flag_too_fast(state: &State, task: &crate::config::Task, report: &RunReport) {
    let Some(min) = task.min_duration else {
        return;
    };
    if report.status != exec::Status::Success {
        return;
    }
    let quick = match state.run(report.id) {
        Ok(Some(run)) => run
            .duration_ms
            .is_some_and(|ms| (ms.max(0) as u128) < min.as_millis()),
        _ => false,
    };
    if quick && let Err(e) = state.flag_run(report.id, crate::state::DurationFlag::TooFast) {
        tracing::warn!("run {}: {}", report.id, super::error_chain(&e));
    }
}

/// Run `run_id` is still going after `limit`: flag it, queue its `slow` alert and
/// send it, on a state connection of this thread's own.
fn alert_slow(
    state_path: &std::path::Path,
    task: &crate::config::Task,
    (run_id, limit): (i64, std::time::Duration),
    host: &str,
    scope: &crate::state::Scope,
) -> crate::state::Result<()> {
    let state = State::open(state_path)?;
    if !state.flag_run(run_id, crate::state::DurationFlag::Slow)? {
        return Ok(()); // it ended meanwhile
    }
    tracing::warn!(
        "run {run_id} of {} is still going after its max_duration ({})",
        task.name,
        crate::config::format_duration(limit)
    );
    let settings = state.notify_settings(Some(scope))?;
    crate::notify::queue_slow(&state, &settings, task, (run_id, limit), host, scope)?;
    let secrets =
        crate::workspace::vault_reader_with(state_path, crate::secrets::passphrase_from_env);
    crate::notify::deliver(&state, &secrets, false)?;
    Ok(())
}
