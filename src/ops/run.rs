//! `orc run NAME`'s use-case: read the applied task once, decide whether this start
//! runs it (`--if-due`, once per fire), run it, then housekeeping and alerts, which
//! never change the outcome (their failures are logged).

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
    let now = jiff::Timestamp::now();
    if opts.if_due && !exec::is_due(&task, now) {
        return Ok(RunOutcome::NotDue);
    }
    let scheduled_for = match opts.scheduled_for {
        None if opts.once_per_fire => exec::current_fire(&task, now),
        given => given,
    };
    exec::stop_on_signals()?;
    // Healthchecks hears of the start from a thread of its own: a slow or absent
    // network never delays the task (the end's ping is queued and retried).
    let checks = state
        .notify_settings(Some(&recorded.scope()))
        .map(|settings| crate::notify::healthchecks_of(&task, &settings))
        .unwrap_or_default();
    let start_ping = std::sync::Mutex::new(None);
    let on_start = |run_id: i64| {
        let facts = crate::notify::start_facts(&task, run_id, opts.host, &recorded.folder);
        let (checks, vault) = (checks.clone(), state.path().to_path_buf());
        let sender = std::thread::spawn(move || {
            // Beside the running task: never a passphrase prompt on its terminal.
            let secrets =
                crate::workspace::vault_reader_with(&vault, crate::secrets::passphrase_from_env);
            for check in &checks {
                if let Err(e) = crate::notify::hooks::send(check, &facts, &secrets) {
                    tracing::warn!("the start of run {run_id} was not pinged: {e}");
                }
            }
        });
        *start_ping.lock().unwrap_or_else(|p| p.into_inner()) = Some(sender);
    };
    let request = exec::RunRequest {
        name: opts.name,
        folder: Some(&recorded.folder),
        backend: Some(&recorded.backend),
        trigger: opts.trigger,
        host: opts.host,
        scheduled_for,
        jitter: opts.jitter,
        on_start: (!checks.is_empty()).then_some(&on_start as &dyn Fn(i64)),
    };
    let report = exec::run_recorded(state, &recorded, &task, &request, 0);
    // The start's ping goes before the end's, which only a run whose start was
    // pinged gets (not a second start of a fire, or one skipped for an overlap).
    let sender = start_ping.lock().unwrap_or_else(|p| p.into_inner()).take();
    let started = sender.is_some();
    if let Some(sender) = sender {
        let _ = sender.join();
    }
    let report = report?;
    // Housekeeping after the task, so it never delays one; a failure is only logged.
    if let Err(e) = crate::retention::maybe_enforce(state) {
        tracing::warn!("retention failed: {}", super::error_chain(&e));
    }
    // Alerts last: the result is recorded, so a mail server that is away delays
    // nothing that matters and changes nothing; failures are only logged (and kept
    // for retry and `orc status`).
    let pinged_start = !checks.is_empty() && started;
    if let Err(e) = alert(
        state,
        &recorded.scope(),
        &task,
        &report,
        opts.host,
        pinged_start,
    ) {
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
    // Any run also looks for other tasks' missed fires, every five minutes at most.
    crate::notify::missed::maybe_check(state, host)?;
    crate::notify::deliver(state, &crate::workspace::vault_reader(state.path()), false)?;
    Ok(())
}
