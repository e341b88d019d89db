//! `orc fleet init | status | hosts | sync`: the PostgreSQL database that `[fleet]` names,
//! shared by the servers of a fleet.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use clap::Subcommand;

use super::{Global, Output};
use crate::fleet::{Fleet, SCHEMA_VERSION};

#[derive(Debug, Subcommand)]
pub enum FleetCommand {
    /// Create or upgrade orc's schema in the fleet database, and register this host
    #[command(
        after_help = "Safe to run on every host, at once or again: the schema is created \
once and upgraded in one transaction, and a database from a newer orc is refused.\n\n\
Example:\n  orc secret set fleet_db   # postgres://orc:PASSWORD@db.example.com/orc\n  \
orc fleet init"
    )]
    Init,
    /// Whether the fleet database answers, and at which schema version
    Status,
    /// The hosts of the fleet: pool, orc version, last contact
    Hosts,
    /// Send the runs waiting in this host's outbox to the fleet database now
    #[command(
        after_help = "With [fleet] applied, every run is queued in the state as it \
changes and sent by orc daemon, orc up or the service every few seconds; run this where \
none of them runs (Task Scheduler or cron alone), or to catch up at once."
    )]
    Sync,
}

/// How long a fleet command waits for the database.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The config's `[fleet]` URL and pool.
fn url(global: &Global) -> Result<(String, Option<String>)> {
    let config = global.config_path();
    let loaded = crate::config::load(&config)
        .map_err(|d| anyhow!("{} does not load:\n{d}", config.display()))?;
    let Some(fleet) = loaded.config.fleet else {
        bail!(
            "{} has no [fleet] section: orc works alone on this host (see README, Fleet mode)",
            config.display()
        );
    };
    let state = crate::workspace::state_path(global.state.as_deref());
    let url = crate::ops::fleet::fleet_url(&fleet, &crate::workspace::vault_reader(&state))?;
    Ok((url.to_string(), fleet.pool))
}

pub fn run(cmd: FleetCommand, global: &Global, out: &Output) -> Result<ExitCode> {
    if let FleetCommand::Sync = cmd {
        return sync(global, out);
    }
    let (url, pool) = url(global)?;
    let mut fleet = Fleet::connect(&url, CONNECT_TIMEOUT)?;
    let host = crate::host::host_name();
    match cmd {
        FleetCommand::Init => {
            let (from, to) = fleet.init()?;
            fleet.contact(&host, pool.as_deref(), env!("CARGO_PKG_VERSION"))?;
            if out.json {
                out.print_json(&serde_json::json!({ "from": from, "to": to, "host": host }));
            } else if from == to {
                out.info(&format!(
                    "The fleet database is at schema version {to}, this orc's: nothing to do. Registered {host}."
                ));
            } else {
                out.info(&format!(
                    "The fleet database went from schema version {from} to {to}. Registered {host}."
                ));
            }
        }
        FleetCommand::Status => {
            let server = fleet.server_version()?;
            let version = fleet.schema_version()?;
            if out.json {
                out.print_json(&serde_json::json!({
                    "server_version": server,
                    "schema_version": version,
                    "expected_schema_version": SCHEMA_VERSION,
                }));
            } else {
                let schema = match version {
                    None => "no orc schema yet (`orc fleet init`)".to_string(),
                    Some(v) if v == SCHEMA_VERSION => format!("schema version {v}"),
                    Some(v) => format!("schema version {v}, this orc's is {SCHEMA_VERSION}"),
                };
                println!("The fleet database answers: PostgreSQL {server}, {schema}.");
            }
            if version != Some(SCHEMA_VERSION) {
                return Ok(ExitCode::FAILURE);
            }
        }
        FleetCommand::Sync => unreachable!("handled above"),
        FleetCommand::Hosts => {
            let hosts = fleet.hosts()?;
            if out.json {
                out.print_json(&hosts);
            } else if hosts.is_empty() {
                println!("No host has registered (`orc fleet init` on each).");
            } else {
                println!(
                    "{:<24} {:<12} {:<10} {:<21} SILENT",
                    "HOST", "POOL", "VERSION", "LAST CONTACT"
                );
                for h in hosts {
                    let silent = if h.silent_secs == i64::MAX {
                        "never in contact".to_string()
                    } else {
                        crate::config::format_duration(Duration::from_secs(
                            h.silent_secs.max(0) as u64
                        ))
                    };
                    println!(
                        "{:<24} {:<12} {:<10} {:<21} {silent}{}",
                        h.host,
                        h.pool.as_deref().unwrap_or("-"),
                        h.version,
                        h.last_contact,
                        if h.late { " (late)" } else { "" }
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Ship the outbox now, as applied to the state (the config is not read: what runs
/// recorded belongs to the fleet the apply named).
fn sync(global: &Global, out: &Output) -> Result<ExitCode> {
    let state_path = crate::workspace::state_path(global.state.as_deref());
    let state = crate::state::State::open(&state_path)?;
    let Some(settings) = state.fleet_settings()? else {
        bail!(
            "no [fleet] is applied to {}: add [fleet] to the config and `orc apply`",
            state_path.display()
        );
    };
    let host = crate::host::host_name();
    let shipped = crate::ops::fleet::connect(&settings, &state_path, CONNECT_TIMEOUT).and_then(
        |mut fleet| {
            fleet.contact(&host, settings.pool.as_deref(), env!("CARGO_PKG_VERSION"))?;
            let sent = crate::ops::fleet::ship(&state, &mut fleet, &host)?;
            Ok((fleet, sent))
        },
    );
    let error = match &shipped {
        Err(crate::ops::fleet::ShipError::State(_)) | Ok(_) => None,
        Err(e) => Some(e.to_string()),
    };
    if !matches!(shipped, Err(crate::ops::fleet::ShipError::State(_))) {
        crate::ops::fleet::note_reachability(&state, &settings, &host, error.as_deref(), true);
    }
    let (mut fleet, sent) = shipped?;
    // What the note queued (the alert that the database answers again, and how
    // its sending went) goes too.
    let sent = sent + crate::ops::fleet::ship(&state, &mut fleet, &host)?;
    let waiting = state.outbox_len()?;
    if out.json {
        out.print_json(&serde_json::json!({ "sent": sent, "waiting": waiting }));
    } else {
        out.info(&format!(
            "Sent {sent} run{} to the fleet database; {waiting} waiting.",
            if sent == 1 { "" } else { "s" }
        ));
    }
    Ok(ExitCode::SUCCESS)
}
