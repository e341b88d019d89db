//! Fleet mode's shipping: the runs the outbox queued (src/state/outbox.rs), sent to
//! the fleet database in queue order and cut from the queue once it took them. A
//! run never waits for this: long-running orc processes ship every few seconds, and
//! `orc fleet sync` ships at once.

use std::path::Path;
use std::time::Duration;

use zeroize::Zeroizing;

use crate::config::{EnvValue, Fleet as FleetSettings};
use crate::fleet::{Fleet, FleetError, FleetRun};
use crate::secrets::{NoPassphrase, SecretReader, VaultError};
use crate::state::{RunRecord, State, StateError};

/// The state's note that this host cannot reach the fleet database: since when.
const OUTAGE: &str = "fleet_unavailable_since";

/// Whether the fleet database answered (`None`) or not (the error): on the first
/// failure after it answered, and on the first answer after a failure, `[fleet]
/// notify` hears of it, once; the alerts go at once where `deliver` says so.
pub fn note_reachability(
    state: &State,
    settings: &FleetSettings,
    host: &str,
    error: Option<&str>,
    deliver: bool,
) {
    let changed = match error {
        Some(_) => match state.setting(OUTAGE) {
            Ok(Some(_)) => false,
            _ => state
                .set_setting(OUTAGE, &crate::state::timestamp(jiff::Timestamp::now()))
                .is_ok(),
        },
        None => state.clear_setting(OUTAGE).unwrap_or(false),
    };
    if !changed {
        return;
    }
    match error {
        Some(e) => tracing::warn!("fleet: the database cannot be reached: {e}"),
        None => tracing::info!("fleet: the database answers again"),
    }
    if settings.notify.is_empty() {
        return;
    }
    if let Err(e) = crate::notify::fleet::queue_outage(state, &settings.notify, host, error) {
        tracing::warn!("fleet: the outage alert was not queued: {e}");
        return;
    }
    if deliver {
        let secrets = crate::workspace::vault_reader_with(state.path(), unattended_passphrase);
        if let Err(e) = crate::notify::deliver(state, &secrets, false) {
            tracing::warn!("fleet: sending the outage alert failed: {e}");
        }
    }
}

/// How many queued entries one transaction of the fleet database takes.
const BATCH: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum ShipError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Fleet(#[from] FleetError),
    #[error("[fleet] url = {{ secret = \"{secret}\" }}: {error}")]
    Secret {
        secret: String,
        error: crate::secrets::SecretError,
    },
}

/// `[fleet]`'s URL, read from the vault through `read` when it is a secret.
pub fn fleet_url(
    fleet: &FleetSettings,
    read: &SecretReader,
) -> Result<Zeroizing<String>, ShipError> {
    match &fleet.url {
        EnvValue::Plain(url) => Ok(Zeroizing::new(url.clone())),
        EnvValue::Secret { secret } => read(secret).map_err(|error| ShipError::Secret {
            secret: secret.clone(),
            error,
        }),
    }
}

/// The vault's passphrase without asking (a file, a credential, ORC_PASSPHRASE): a
/// process in the background has no one to ask.
pub fn unattended_passphrase(_prompt: &str) -> crate::secrets::Result<Zeroizing<String>> {
    crate::secrets::passphrase_unattended()?
        .ok_or(VaultError::NeedsPassphrase(NoPassphrase::NoTerminal))
}

/// This state's id in the fleet database, made (random) the first time it is asked.
pub fn state_id(state: &State) -> Result<String, ShipError> {
    const KEY: &str = "fleet_state_id";
    let made: [u8; 8] = crate::secrets::key::random_bytes();
    let made: String = made.iter().map(|b| format!("{b:02x}")).collect();
    // Of two processes making one at once, the first write stands.
    Ok(state.setting_or_insert(KEY, &made)?)
}

/// A run of this state as the fleet database keeps it.
pub fn fleet_run(run: &RunRecord, this_host: &str, state_id: &str) -> FleetRun {
    FleetRun {
        host: run.host.clone().unwrap_or_else(|| this_host.to_string()),
        state_id: state_id.to_string(),
        folder: run.folder.clone().unwrap_or_default(),
        run_id: run.id,
        task: run.task.clone(),
        status: run.status.as_str().to_string(),
        exit_code: run.exit_code,
        attempts: i32::try_from(run.attempts).unwrap_or(i32::MAX),
        trigger: run.trigger.map(|t| t.as_str().to_string()),
        started_at: run.started_at.clone(),
        finished_at: run.finished_at.clone(),
        duration_ms: run.duration_ms,
        scheduled_for: run.scheduled_for.clone(),
        reason: run.reason.clone(),
        duration_flag: run.duration_flag.map(|f| f.as_str().to_string()),
        upstream_id: run.upstream,
        params: run.params.clone(),
        cursor: String::new(),
    }
}

/// A run of the fleet database as a report reads it: the task named with its host
/// ("load on etl2"), since names repeat across hosts. None for a word this orc
/// does not know (a newer host's status).
pub fn run_record(run: &FleetRun) -> Option<RunRecord> {
    Some(RunRecord {
        id: run.run_id,
        task: format!("{} on {}", run.task, run.host),
        folder: Some(run.folder.clone()),
        trigger: run.trigger.as_deref().and_then(|t| t.parse().ok()),
        host: Some(run.host.clone()),
        started_at: run.started_at.clone(),
        finished_at: run.finished_at.clone(),
        status: run.status.parse().ok()?,
        exit_code: run.exit_code,
        attempts: u32::try_from(run.attempts).unwrap_or(0),
        duration_ms: run.duration_ms,
        attempt_durations_ms: Vec::new(),
        cpu_ms: None,
        peak_rss_kb: None,
        log_path: None,
        reason: run.reason.clone(),
        scheduled_for: run.scheduled_for.clone(),
        duration_flag: run.duration_flag.as_deref().and_then(|f| f.parse().ok()),
        // The upstream's id is of its host's state, which this one is not: its
        // task and host are what the fleet's run says (see `upstream_id`).
        upstream: None,
        params: run.params.clone(),
    })
}

/// Send everything the outbox holds, a batch at a time, oldest first: how many runs
/// went. Each batch is cut from the queue only after the fleet database committed it,
/// so a failure anywhere sends it again (the database replaces, never duplicates).
pub fn ship(state: &State, fleet: &mut Fleet, this_host: &str) -> Result<usize, ShipError> {
    fleet.check_schema()?;
    let id = state_id(state)?;
    let mut sent = 0;
    while let Some(batch) = state.outbox(BATCH)? {
        let runs: Vec<FleetRun> = batch
            .runs
            .iter()
            .map(|r| fleet_run(r, this_host, &id))
            .collect();
        fleet.upsert_runs(&runs)?;
        crate::failpoint::hit("fleet_after_upsert");
        state.outbox_delivered(batch.upto)?;
        sent += runs.len();
    }
    // The alerts' outcomes, after the runs they tell of.
    while let Some(batch) = state.alert_outbox(BATCH)? {
        let alerts: Vec<crate::fleet::FleetAlert> = batch
            .alerts
            .iter()
            .map(|a| crate::fleet::FleetAlert {
                host: this_host.to_string(),
                state_id: id.clone(),
                alert_id: a.id,
                task: a.task.clone(),
                run_id: a.run_id,
                event: a.event.clone(),
                group: a.group.clone(),
                channel: a.channel.clone(),
                subject: a.subject.clone(),
                created_at: a.created_at.clone(),
                attempts: i32::try_from(a.attempts).unwrap_or(i32::MAX),
                sent_at: a.sent_at.clone(),
                gave_up: a.gave_up,
                last_error: a.last_error.clone(),
            })
            .collect();
        fleet.upsert_alerts(&alerts)?;
        state.alert_outbox_delivered(batch.upto)?;
    }
    Ok(sent)
}

/// Connect to the fleet database `[fleet]` names (as applied to `state`).
pub fn connect(
    fleet: &FleetSettings,
    state_path: &Path,
    timeout: Duration,
) -> Result<Fleet, ShipError> {
    let read = crate::workspace::vault_reader_with(state_path, unattended_passphrase);
    let url = fleet_url(fleet, &read)?;
    Ok(Fleet::connect(&url, timeout)?)
}

/// Ship the outbox of the state at `state_path` every `every`, for as long as the
/// process runs (a thread of `orc daemon`, `orc up` and the service). An outage is
/// logged when it starts and when it ends, not at every try; the queue waits.
pub fn keep_shipping(state_path: std::path::PathBuf, this_host: String, every: Duration) {
    let mut connection: Option<Fleet> = None;
    let mut failing = false;
    loop {
        let mut reachability: Option<(State, FleetSettings)> = None;
        let result = (|| -> Result<usize, ShipError> {
            let state = State::open(&state_path)?;
            let Some(settings) = state.fleet_settings()? else {
                connection = None;
                return Ok(0);
            };
            let state = &reachability.insert((state, settings.clone())).0;
            let fleet = match connection.as_mut() {
                Some(fleet) => fleet,
                None => connection.insert(connect(
                    &settings,
                    &state_path,
                    every.max(Duration::from_secs(5)),
                )?),
            };
            // The host's heartbeat: `orc fleet hosts` and `orc status --all-hosts`
            // tell a host that went silent.
            fleet.contact(
                &this_host,
                settings.pool.as_deref(),
                env!("CARGO_PKG_VERSION"),
            )?;
            // Requests to run a task now on any host of the pool; a host that died
            // mid-run, noticed by any host of the pool; and, by the one holding the
            // pool's sweep lease, hosts gone silent and fires no host claimed. A
            // failure there is logged: the runs are shipped all the same.
            let duties = (|| -> Result<bool, ShipError> {
                take_requests(state, fleet, &settings, &this_host)?;
                let swept = pool_duties(state, fleet, &settings, &this_host)?;
                let lost = sweep_with(state, fleet, &settings, &this_host)?;
                Ok(lost.iter().any(|l| l.alerted) || swept.alerted())
            })();
            match duties {
                Ok(true) => {
                    let secrets =
                        crate::workspace::vault_reader_with(&state_path, unattended_passphrase);
                    if let Err(e) = crate::notify::deliver(state, &secrets, false) {
                        tracing::warn!("fleet: sending the fleet's alerts failed: {e}");
                    }
                }
                Ok(false) => {}
                Err(e) => tracing::warn!("fleet: the pool's duties failed this turn: {e}"),
            }
            ship(state, fleet, &this_host)
        })();
        // The state's own failures are not the database's.
        let database_error = match &result {
            Err(ShipError::State(_)) | Ok(_) => None,
            Err(e) => Some(e.to_string()),
        };
        if let Some((state, settings)) = &reachability
            && !matches!(result, Err(ShipError::State(_)))
        {
            note_reachability(state, settings, &this_host, database_error.as_deref(), true);
        }
        match result {
            Ok(sent) => {
                if failing {
                    tracing::info!("fleet: the database answers again; {sent} runs sent");
                }
                failing = false;
            }
            Err(e) => {
                connection = None;
                if !failing {
                    tracing::warn!("fleet: cannot ship runs, they wait in the outbox: {e}");
                }
                failing = true;
            }
        }
        std::thread::sleep(every);
    }
}

/// How long a claim holds without renewal unless `[fleet] lease` says; the holder
/// renews it every third of it.
pub const LEASE: Duration = Duration::from_secs(30);

fn lease_of(settings: &FleetSettings) -> Duration {
    settings.lease.unwrap_or(LEASE)
}

/// What the fleet says about a start of a `run_on = "one"` task.
pub enum Gate {
    /// Run it here: this host claimed the fire (or the task runs on every host).
    Run(Option<HeldClaim>),
    /// Another host of the pool claimed the fire first.
    Elsewhere { holder: String, fire: String },
    /// The database cannot be reached and `on_unavailable` is "skip": recorded as a
    /// skipped run with this reason.
    Skip(String),
}

/// The claim this host holds while it runs a fire: renewed in a thread of its own
/// (the run never waits on the network), finished with the run's status.
pub struct HeldClaim {
    fire: FireKey,
    fence: i64,
    renewer: Option<(std::sync::mpsc::Sender<String>, std::thread::JoinHandle<()>)>,
}

use crate::fleet::{Claim, FireKey};

impl HeldClaim {
    /// Record the run's end in the claim and stop renewing it.
    pub fn finish(mut self, status: &str) {
        if let Some((done, renewer)) = self.renewer.take() {
            let _ = done.send(status.to_string());
            let _ = renewer.join();
        }
    }

    /// Stop renewing without recording an end (a start that did not run).
    pub fn release(mut self) {
        if let Some((done, renewer)) = self.renewer.take() {
            drop(done);
            let _ = renewer.join();
        }
    }

    pub fn fence(&self) -> i64 {
        self.fence
    }

    pub fn fire(&self) -> &FireKey {
        &self.fire
    }
}

/// Decide whether this host runs `task`'s fire at `fire` (none: not a scheduled
/// fire, which runs here as asked).
pub fn gate(
    state: &State,
    task: &crate::config::Task,
    folder: &str,
    fire: Option<jiff::Timestamp>,
    host: &str,
) -> Gate {
    use crate::config::{OnUnavailable, RunOn};
    let Some(fire) = fire.filter(|_| task.run_on == RunOn::One) else {
        return Gate::Run(None);
    };
    let settings = match state.fleet_settings() {
        Ok(Some(settings)) => settings,
        Ok(None) => {
            return Gate::Skip(
                "run_on = \"one\", but no [fleet] is applied to this state: `orc apply` the config with [fleet]".to_string(),
            );
        }
        Err(e) => return Gate::Skip(format!("cannot read the fleet settings: {e}")),
    };
    let key = FireKey {
        pool: settings.pool.clone().unwrap_or_default(),
        folder: folder.to_string(),
        task: task.name.clone(),
        scheduled_for: crate::state::timestamp(fire),
    };
    let claimed = connect(&settings, state.path(), Duration::from_secs(5)).and_then(|mut db| {
        let claim = db.claim(&key, host, lease_of(&settings))?;
        Ok((db, claim))
    });
    // The run's own alerts deliver what is queued, this one with them.
    let error = claimed.as_ref().err().map(|e| e.to_string());
    note_reachability(state, &settings, host, error.as_deref(), false);
    match claimed {
        Ok((db, Claim::Won { fence })) => {
            let reconnect = {
                let (settings, path) = (settings.clone(), state.path().to_path_buf());
                move || connect(&settings, &path, Duration::from_secs(5))
            };
            let renewer = renew_in_background(
                (db, Box::new(reconnect)),
                key.clone(),
                fence,
                lease_of(&settings),
            );
            Gate::Run(Some(HeldClaim {
                fire: key,
                fence,
                renewer: Some(renewer),
            }))
        }
        Ok((_, Claim::Taken { holder })) => Gate::Elsewhere {
            holder,
            fire: key.scheduled_for,
        },
        Err(e) => match settings.on_unavailable.unwrap_or(OnUnavailable::Skip) {
            OnUnavailable::Skip => Gate::Skip(format!(
                "the fleet database cannot be reached to claim the fire (on_unavailable = \"skip\"): {e}"
            )),
            OnUnavailable::Run => {
                tracing::warn!(
                    "{}: the fleet database cannot be reached, running the fire here (on_unavailable = \"run\"): {e}",
                    task.name
                );
                Gate::Run(None)
            }
        },
    }
}

/// Renew the claim every third of its lease until the run's status comes, then
/// record it. A renewal that fails is retried at the next turn; one that finds the
/// claim gone (taken over) stops.
/// A connection, and how to open another when it breaks.
type Reconnecting = (
    Fleet,
    Box<dyn Fn() -> Result<Fleet, ShipError> + Send + 'static>,
);

fn renew_in_background(
    (mut db, reconnect): Reconnecting,
    fire: FireKey,
    fence: i64,
    lease: Duration,
) -> (std::sync::mpsc::Sender<String>, std::thread::JoinHandle<()>) {
    let (done, status) = std::sync::mpsc::channel::<String>();
    let renewer = std::thread::spawn(move || {
        use std::sync::mpsc::RecvTimeoutError;
        // A connection the server dropped (a restart, pg_terminate_backend) is
        // opened again before the next try.
        let mut broken = false;
        loop {
            let message = status.recv_timeout(lease / 3);
            if broken && !matches!(message, Err(RecvTimeoutError::Disconnected)) {
                match reconnect() {
                    Ok(fresh) => {
                        db = fresh;
                        broken = false;
                    }
                    Err(e) => tracing::warn!("{}: cannot reach the fleet database: {e}", fire.task),
                }
            }
            match message {
                Ok(status) => {
                    // One more connection for the end, if the one held broke since.
                    let finished = db.finish(&fire, fence, &status).or_else(|_| {
                        db = reconnect()?;
                        Ok::<_, ShipError>(db.finish(&fire, fence, &status)?)
                    });
                    match finished {
                        Ok(true) => {}
                        Ok(false) => tracing::warn!(
                            "{}: the claim of the fire at {} was taken over; this run's result stays on this host",
                            fire.task,
                            fire.scheduled_for
                        ),
                        Err(e) => tracing::warn!(
                            "{}: cannot record the end of the fire at {} in the fleet database: {e}",
                            fire.task,
                            fire.scheduled_for
                        ),
                    }
                    return;
                }
                Err(RecvTimeoutError::Disconnected) => return,
                Err(RecvTimeoutError::Timeout) => match db.renew(&fire, fence, lease) {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(
                            "{}: the claim of the fire at {} is no longer this host's",
                            fire.task,
                            fire.scheduled_for
                        );
                        return;
                    }
                    Err(e) => {
                        broken = true;
                        tracing::warn!("{}: cannot renew the claim: {e}", fire.task);
                    }
                },
            }
        }
    });
    (done, renewer)
}

/// A fire whose holder died, as a sweep found it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Lost {
    #[serde(flatten)]
    pub claim: crate::fleet::Expired,
    /// This host alerted it (of the hosts sweeping, exactly one does).
    pub alerted: bool,
    /// This host took the fire over and started its run (`on_host_failure = "rerun"`).
    pub rerun: bool,
}

/// Sweep the pool for claims whose holder died mid-run: alert each once (whichever
/// host sweeps first), and with `on_host_failure = "rerun"` take the fire over and
/// start its run here, as `orc run` in the background. Nothing without `[fleet]`.
pub fn sweep(state: &State, host: &str) -> Result<Sweep, ShipError> {
    let Some(settings) = state.fleet_settings()? else {
        return Ok(Default::default());
    };
    let mut db = connect(&settings, state.path(), Duration::from_secs(5))?;
    // A host that sweeps is alive: so the register says.
    db.contact(host, settings.pool.as_deref(), env!("CARGO_PKG_VERSION"))?;
    let pool = pool_duties(state, &mut db, &settings, host)?;
    let lost = sweep_with(state, &mut db, &settings, host)?;
    // Where no background orc ships (cron or Task Scheduler alone), the scheduled
    // check sends the runs too, the missed ones it just recorded among them.
    let sent = ship(state, &mut db, host)?;
    Ok(Sweep { lost, pool, sent })
}

/// What `orc check-missed` did in the fleet.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Sweep {
    pub lost: Vec<Lost>,
    pub pool: Swept,
    /// Runs shipped from the outbox.
    pub sent: usize,
}

/// [`sweep`] over an open connection.
fn sweep_with(
    state: &State,
    db: &mut Fleet,
    settings: &FleetSettings,
    host: &str,
) -> Result<Vec<Lost>, ShipError> {
    let Some(pool) = settings.pool.clone() else {
        return Ok(Vec::new());
    };
    // Only the tasks this host has with run_on = "one": another pool member's alone
    // can alert theirs.
    let mine: Vec<(String, String)> = state
        .tasks()?
        .into_iter()
        .filter(|r| {
            r.task()
                .is_ok_and(|t| t.run_on == crate::config::RunOn::One)
        })
        .map(|r| (r.folder, r.name))
        .collect();
    let to_alert = db.take_expired(&pool, &mine)?;
    let mut lost = Vec::new();
    for claim in db
        .expired(&pool)?
        .into_iter()
        .chain(to_alert.iter().cloned())
    {
        if lost.iter().any(|l: &Lost| l.claim == claim) {
            continue;
        }
        // A name this host cannot tell apart (two backends' folders) is not its to
        // sweep; the other claims still are.
        let Ok(Some(recorded)) = state.find_task(&claim.task, Some(&claim.folder), None) else {
            continue;
        };
        let Ok(task) = recorded.task() else { continue };
        let wants_rerun = task.on_host_failure == crate::config::OnHostFailure::Rerun;
        let rerun = wants_rerun
            && db
                .take_over(&claim.fire(), host, lease_of(settings))?
                .is_some();
        let alerted = to_alert.contains(&claim);
        if alerted
            && let Err(e) = crate::notify::fleet::queue_lost_claim(
                state,
                &recorded,
                (&claim.holder, &claim.scheduled_for),
                wants_rerun,
                host,
            )
        {
            tracing::warn!("the alert of a lost claim failed: {e}");
        }
        if rerun {
            start_rerun(state.path(), &recorded, &claim.scheduled_for);
        }
        if alerted || rerun {
            lost.push(Lost {
                claim,
                alerted,
                rerun,
            });
        }
    }
    Ok(lost)
}

/// `orc run` of the fire taken over, in the background (a sweep must not wait for a
/// task): its start finds the claim this host's and runs it, renewing the lease.
fn start_rerun(state: &Path, recorded: &crate::state::RecordedTask, fire: &str) {
    let args = [
        "--trigger",
        "scheduled",
        "--scheduled-for",
        fire,
        "--no-jitter",
    ];
    if start_run(state, recorded, &args) {
        tracing::warn!(
            "{}: took over the fire at {fire}, whose host died; running it here",
            recorded.name
        );
    }
}

/// `orc run` of `recorded`'s task with `args`, in the background; whether it started.
fn start_run(state: &Path, recorded: &crate::state::RecordedTask, args: &[&str]) -> bool {
    let started = std::env::current_exe().and_then(|orc| {
        std::process::Command::new(orc)
            .args(["run", &recorded.name, "--folder", &recorded.folder])
            .args(["--backend", &recorded.backend])
            .args(args)
            .arg("--state")
            .arg(state)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
    });
    match started {
        Ok(child) => {
            // Reaped when it ends, so that it leaves no zombie behind.
            std::thread::spawn(move || {
                let mut child = child;
                let _ = child.wait();
            });
            true
        }
        Err(e) => {
            tracing::error!("cannot start orc run {}: {e}", recorded.name);
            false
        }
    }
}

/// Take the requests to run a task now that the dashboard made for this host's
/// pool (each goes to one host: the first to look), and start their runs here.
fn take_requests(
    state: &State,
    db: &mut Fleet,
    settings: &FleetSettings,
    host: &str,
) -> Result<Vec<crate::fleet::RunRequest>, ShipError> {
    let Some(pool) = &settings.pool else {
        return Ok(Vec::new());
    };
    let mine: Vec<(String, String)> = state
        .tasks()?
        .into_iter()
        .map(|r| (r.folder, r.name))
        .collect();
    let taken = db.take_requests(pool, host, &mine)?;
    for request in &taken {
        let found = state.find_task(&request.task, Some(&request.folder), None);
        if let Err(e) = &found {
            tracing::warn!(
                "{}: the request {} is not run here: {e}",
                request.task,
                request.id
            );
        }
        if let Ok(Some(recorded)) = found {
            tracing::info!(
                "{}: run now, as {} asked the pool {pool}",
                request.task,
                request.requested_by
            );
            start_run(state.path(), &recorded, &["--trigger", "manual"]);
        }
    }
    Ok(taken)
}

/// The name of the lease whose holder does a pool's fleet-wide duties (the hosts
/// without a pool are a pool of their own).
pub fn sweep_lease(pool: Option<&str>) -> String {
    format!("sweep:{}", pool.unwrap_or(""))
}

/// What the holder of a pool's sweep lease found.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Swept {
    /// This host holds the lease (of the hosts sweeping, one does).
    pub sweeper: bool,
    /// Fires of `run_on = "one"` tasks that no host of the pool claimed.
    pub unclaimed: Vec<crate::notify::missed::Missed>,
    /// Hosts of the pool that went silent, and hosts that made contact again.
    pub silent: Vec<String>,
    pub back: Vec<String>,
}

impl Swept {
    /// Whether alerts were queued.
    pub fn alerted(&self) -> bool {
        !(self.unclaimed.is_empty() && self.silent.is_empty() && self.back.is_empty())
    }
}

/// The pool's fleet-wide duties, done by whichever host holds its sweep lease (taken,
/// and renewed only while this host holds it, for `[fleet] lease`): hosts of the
/// pool gone silent for over two minutes (one alert, and one when they are back)
/// and fires no host of the pool claimed (recorded as missed here, alerted once).
pub fn pool_duties(
    state: &State,
    db: &mut Fleet,
    settings: &FleetSettings,
    host: &str,
) -> Result<Swept, ShipError> {
    let pool = settings.pool.as_deref();
    if db.take_lease(&sweep_lease(pool), host, lease_of(settings))? != crate::fleet::Lease::Mine {
        return Ok(Swept::default());
    }
    let mut swept = Swept {
        sweeper: true,
        ..Swept::default()
    };
    let late = Duration::from_secs(crate::fleet::LATE_AFTER_SECS.unsigned_abs());
    for silent in db.take_silent(pool, late)? {
        if silent.host != host {
            crate::notify::fleet::queue_silent_host(state, &settings.notify, host, &silent, false)?;
            swept.silent.push(silent.host);
        }
    }
    for back in db.take_returned(pool)? {
        if back.host != host {
            crate::notify::fleet::queue_silent_host(state, &settings.notify, host, &back, true)?;
            swept.back.push(back.host);
        }
    }
    if let Some(pool) = pool {
        swept.unclaimed = unclaimed(state, db, pool, host, jiff::Timestamp::now())?;
    }
    Ok(swept)
}

/// How far back the sweeper looks for fires no host claimed, at most (a sweeper
/// newly elected looks again at what the last one saw; the claims it marks make
/// each fire reported once).
const UNCLAIMED_WINDOW: jiff::SignedDuration = jiff::SignedDuration::from_hours(6);

/// Fires of this host's `run_on = "one"` tasks up to `now` (less their grace) that
/// no host of `pool` claimed: marked in the claims, so that no host runs them late
/// and no other sweeper reports them, then recorded and alerted here as missed.
fn unclaimed(
    state: &State,
    db: &mut Fleet,
    pool: &str,
    host: &str,
    now: jiff::Timestamp,
) -> Result<Vec<crate::notify::missed::Missed>, ShipError> {
    use crate::notify::missed::{Missed, fires_between, slack_of};
    let mut found = Vec::new();
    for recorded in state.tasks()? {
        let Ok(task) = recorded.task() else { continue };
        let fires = task.schedule.as_ref().is_some_and(|s| s.cron().is_some());
        if task.run_on != crate::config::RunOn::One || !task.enabled || !fires {
            continue;
        }
        let key = format!("fleet_unclaimed_checked:{}/{}", recorded.folder, task.name);
        let until = now - jiff::SignedDuration::try_from(slack_of(&task)).unwrap_or_default();
        let since = [
            state.setting(&key)?.and_then(|t| t.parse().ok()),
            recorded.applied_at.parse().ok(),
            now.checked_sub(UNCLAIMED_WINDOW).ok(),
        ]
        .into_iter()
        .flatten()
        .max();
        let Some(since) = since.filter(|s| *s < until) else {
            continue;
        };
        let fires: Vec<String> = fires_between(&task, since, until)
            .into_iter()
            .map(crate::state::timestamp)
            .collect();
        let missed = if fires.is_empty() {
            Vec::new()
        } else {
            db.mark_unclaimed((pool, &recorded.folder, &task.name), &fires)?
        };
        state.set_setting(&key, &crate::state::timestamp(until))?;
        let (Some(first), Some(last)) = (missed.first(), missed.last()) else {
            continue;
        };
        let m = Missed {
            task: task.name.clone(),
            count: missed.len(),
            first: first.clone(),
            last: last.clone(),
        };
        let reason = if m.count == 1 {
            format!("missed: no host of the pool {pool} claimed the fire at {first}")
        } else {
            format!(
                "missed: no host of the pool {pool} claimed {} fires from {first} to {last}",
                m.count
            )
        };
        crate::notify::missed::record(state, &recorded, &m, &reason, host)?;
        found.push(m);
    }
    Ok(found)
}
