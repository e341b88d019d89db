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

/// A run of this state as the fleet database keeps it.
pub fn fleet_run(run: &RunRecord, this_host: &str) -> FleetRun {
    FleetRun {
        host: run.host.clone().unwrap_or_else(|| this_host.to_string()),
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
    }
}

/// Send everything the outbox holds, a batch at a time, oldest first: how many runs
/// went. Each batch is cut from the queue only after the fleet database committed it,
/// so a failure anywhere sends it again (the database replaces, never duplicates).
pub fn ship(state: &State, fleet: &mut Fleet, this_host: &str) -> Result<usize, ShipError> {
    fleet.check_schema()?;
    let mut sent = 0;
    while let Some(batch) = state.outbox(BATCH)? {
        let runs: Vec<FleetRun> = batch.runs.iter().map(|r| fleet_run(r, this_host)).collect();
        fleet.upsert_runs(&runs)?;
        crate::failpoint::hit("fleet_after_upsert");
        state.outbox_delivered(batch.upto)?;
        sent += runs.len();
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
        let result = (|| -> Result<usize, ShipError> {
            let state = State::open(&state_path)?;
            let Some(settings) = state.fleet_settings()? else {
                connection = None;
                return Ok(0);
            };
            if state.outbox_len()? == 0 {
                return Ok(0);
            }
            let fleet = match connection.as_mut() {
                Some(fleet) => fleet,
                None => connection.insert(connect(
                    &settings,
                    &state_path,
                    every.max(Duration::from_secs(5)),
                )?),
            };
            ship(&state, fleet, &this_host)
        })();
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
