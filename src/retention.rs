//! Retention: run history older than `history_retention` and run logs older than
//! `log_retention` are deleted, and what was freed goes to orc's own log.
//!
//! It runs at most once an hour per state database, claimed by whichever `orc run`
//! or `orc daemon` gets there first, so every backend (cron has no daemon) is covered
//! without a separate job to schedule.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rusqlite::params;

use crate::config::RuntimeSettings;
use crate::state::{Result, State, timestamp};

/// How often retention runs.
pub const EVERY: Duration = Duration::from_secs(3600);
const CLAIM: &str = "retention_ran_at";

/// What one pass deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Freed {
    pub rows: usize,
    pub files: usize,
    pub bytes: u64,
}

/// Enforce retention if it has not run within the hour; logs what it freed.
pub fn maybe_enforce(state: &State) -> Result<Option<Freed>> {
    if !state.claim(CLAIM, EVERY)? {
        return Ok(None);
    }
    let settings = state.runtime_settings(None)?;
    let freed = enforce(state, &settings, SystemTime::now())?;
    tracing::info!(
        "retention: deleted {} run record(s) older than {} and {} log file(s) older than {} ({} freed)",
        freed.rows,
        crate::config::format_duration(settings.history_retention),
        freed.files,
        crate::config::format_duration(settings.log_retention),
        human_bytes(freed.bytes)
    );
    Ok(Some(freed))
}

/// Delete finished runs and run logs older than the settings keep, as of `now`.
pub fn enforce(state: &State, settings: &RuntimeSettings, now: SystemTime) -> Result<Freed> {
    // A time before 1970 or past jiff's range keeps everything younger than 1970.
    let cutoff = |keep: Duration| -> String {
        let at = now.checked_sub(keep).unwrap_or(SystemTime::UNIX_EPOCH);
        timestamp(jiff::Timestamp::try_from(at).unwrap_or(jiff::Timestamp::UNIX_EPOCH))
    };
    // Running rows stay: their run is still going, whatever its age.
    let rows = state.conn().execute(
        "DELETE FROM runs WHERE started_at < ?1 AND finished_at IS NOT NULL",
        params![cutoff(settings.history_retention)],
    )?;

    let running: Vec<String> = {
        let mut stmt = state
            .conn()
            .prepare("SELECT id FROM runs WHERE finished_at IS NULL")?;
        let ids = stmt.query_map([], |r| r.get::<_, i64>(0))?;
        ids.map(|id| id.map(|id| format!("{id}.log")))
            .collect::<rusqlite::Result<_>>()?
    };
    let oldest_kept = now
        .checked_sub(settings.log_retention)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let mut freed = Freed {
        rows,
        ..Freed::default()
    };
    for dir in log_dirs(state)? {
        prune_logs(&dir, oldest_kept, &running, &mut freed);
    }
    Ok(freed)
}

/// The folders run logs go to: the default beside the state, and every `log_dir`
/// an applied task names.
fn log_dirs(state: &State) -> Result<Vec<PathBuf>> {
    let mut dirs = vec![crate::state::default_log_dir(state.path())];
    let mut stmt = state.conn().prepare(
        "SELECT DISTINCT json_extract(definition, '$.log_dir') FROM tasks
         WHERE json_extract(definition, '$.log_dir') IS NOT NULL",
    )?;
    for dir in stmt.query_map([], |r| r.get::<_, String>(0))? {
        let dir = PathBuf::from(dir?);
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    Ok(dirs)
}

/// Delete `<dir>/<task>/<run id>.log` files last written before `oldest_kept`.
/// Only files named like run logs are touched: a log_dir may be shared.
fn prune_logs(dir: &Path, oldest_kept: SystemTime, running: &[String], freed: &mut Freed) {
    let Ok(tasks) = std::fs::read_dir(dir) else {
        return;
    };
    for task_dir in tasks.flatten() {
        let Ok(files) = std::fs::read_dir(task_dir.path()) else {
            continue;
        };
        for file in files.flatten() {
            let name = file.file_name().to_string_lossy().into_owned();
            let is_run_log = name
                .strip_suffix(".log")
                .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()));
            if !is_run_log || running.contains(&name) {
                continue;
            }
            let Ok(meta) = file.metadata() else { continue };
            if meta.modified().is_ok_and(|m| m < oldest_kept)
                && std::fs::remove_file(file.path()).is_ok()
            {
                freed.files += 1;
                freed.bytes += meta.len();
            }
        }
    }
}

/// "1.5 MB", "320 B": for people reading orc's log.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}
