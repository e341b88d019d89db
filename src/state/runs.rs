//! Run history: one row per run of a task.

use std::time::Duration;

use super::Result;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::{RunStatus, RunTrigger, State, now};

/// What a finished run records.
#[derive(Debug, Clone, Default)]
pub struct RunFinish {
    pub status: RunStatus,
    pub exit_code: Option<i32>,
    pub attempts: u32,
    /// Each attempt's own duration (the run's, recorded as `duration_ms`, is its wall
    /// time from start to finish, dependency waits and retry pauses included).
    pub attempt_durations: Vec<Duration>,
    pub cpu: Duration,
    pub peak_rss_kb: u64,
    pub log_path: Option<String>,
    pub reason: Option<String>,
}

impl RunFinish {
    pub fn skipped(reason: &str) -> RunFinish {
        RunFinish {
            status: RunStatus::Skipped,
            reason: Some(reason.to_string()),
            ..RunFinish::default()
        }
    }

    pub fn failed(reason: &str) -> RunFinish {
        RunFinish {
            status: RunStatus::Failed,
            reason: Some(reason.to_string()),
            ..RunFinish::default()
        }
    }
}

/// A row of the history, as `orc history` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    pub id: i64,
    pub task: String,
    /// The folder of the task's scope (runs are kept per folder).
    pub folder: Option<String>,
    pub trigger: Option<RunTrigger>,
    pub host: Option<String>,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub status: RunStatus,
    pub exit_code: Option<i32>,
    pub attempts: u32,
    /// Wall time from start to finish.
    pub duration_ms: Option<i64>,
    /// Each attempt's own duration, in order.
    pub attempt_durations_ms: Vec<i64>,
    pub cpu_ms: Option<i64>,
    pub peak_rss_kb: Option<i64>,
    pub log_path: Option<String>,
    pub reason: Option<String>,
    /// The fire time the run was for, when the scheduler said.
    pub scheduled_for: Option<String>,
    /// Alerted for its duration: it ran past `max_duration`, or succeeded quicker
    /// than `min_duration`.
    pub duration_flag: Option<super::DurationFlag>,
    /// The run that started this one: `on_success`, `on_failure` or `after`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<i64>,
    /// The values its parameters had (at its first attempt).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub params: Option<std::collections::BTreeMap<String, String>>,
}

/// Filters for `orc history`.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub task: Option<String>,
    pub folder: Option<String>,
    pub status: Option<RunStatus>,
    /// RFC 3339; runs started at or after it.
    pub since: Option<String>,
    /// Only runs older than this id (a page's cursor).
    pub before: Option<i64>,
    pub limit: usize,
}

impl State {
    /// Record that a run started; the row says "running" until it is finished.
    ///
    /// A run for a fire time (`scheduled_for`) is recorded only if that fire has no run
    /// yet, in one statement, so of two starts for the same fire (two Task Scheduler
    /// triggers matching the same minute) exactly one gets a row:
    /// `Err(id of the existing run)` for the other. A `missed` row does not count, nor
    /// a `duplicate` (another host of the pool had the fire: if it dies, this host
    /// may take the fire over), nor an `interrupted` one (its orc died: the fire may be
    /// run again, here or by the pool).
    pub fn begin_run(
        &self,
        (folder, task): (&str, &str),
        trigger: RunTrigger,
        host: &str,
        scheduled_for: Option<&str>,
    ) -> Result<std::result::Result<i64, i64>> {
        // A backfill runs a fire again on purpose (`orc backfill --rerun`, or after
        // its failure): it is the one starter of its fires.
        let once = trigger != RunTrigger::Backfill;
        // A chain may run a fire its task did not get through (skipped, failed):
        // the upstream it waited for was fixed and run again. Only a run going, or
        // one that got through, makes it a duplicate.
        let retry = trigger == RunTrigger::Chain;
        let inserted = self.conn.execute(
            "INSERT INTO runs (task, folder, started_at, status, trigger, host, pid, attempt, scheduled_for, pid_start)
             SELECT ?1, ?7, ?2, 'running', ?3, ?4, ?5, 0, ?6, ?8
             WHERE ?6 IS NULL OR NOT ?9 OR NOT EXISTS (
                 SELECT 1 FROM runs WHERE task = ?1 AND folder = ?7 AND scheduled_for = ?6
                 AND status NOT IN ('missed', 'duplicate', 'interrupted')
                 AND NOT (?10 AND status IN ('skipped', 'failed', 'timeout')))",
            params![task, now(), trigger, host, std::process::id(), scheduled_for, folder, super::my_start(), once, retry],
        )?;
        if inserted == 1 {
            return Ok(Ok(self.conn.last_insert_rowid()));
        }
        let existing = self.conn.query_row(
            "SELECT id FROM runs WHERE task = ?1 AND folder = ?3 AND scheduled_for = ?2
             AND status NOT IN ('missed', 'duplicate', 'interrupted')
             AND NOT (?4 AND status IN ('skipped', 'failed', 'timeout')) ORDER BY id LIMIT 1",
            params![task, scheduled_for, folder, retry],
            |r| r.get(0),
        )?;
        Ok(Err(existing))
    }

    /// Record how a run ended; its duration is the wall time since its row began.
    pub fn finish_run(&self, id: i64, f: &RunFinish) -> Result<()> {
        let attempts: Vec<i64> = f
            .attempt_durations
            .iter()
            .map(|d| d.as_millis() as i64)
            .collect();
        self.conn.execute(
            "UPDATE runs SET finished_at = ?2, status = ?3, exit_code = ?4, attempt = ?5,
             duration_ms = MAX(0, CAST(ROUND((julianday(?2) - julianday(started_at)) * 86400000.0) AS INTEGER)),
             attempts_ms = ?6, cpu_ms = ?7, peak_rss_kb = ?8, log_path = ?9, error = ?10 WHERE id = ?1",
            params![
                id,
                now(),
                f.status,
                f.exit_code,
                f.attempts,
                serde_json::to_string(&attempts)?,
                f.cpu.as_millis() as i64,
                f.peak_rss_kb as i64,
                f.log_path,
                f.reason
            ],
        )?;
        Ok(())
    }

    /// The task's process (and process group) of a run's attempt, once it started,
    /// with its start time; the row counts the attempt.
    pub fn set_run_child(&self, id: i64, child_pid: u32) -> Result<()> {
        self.conn.execute(
            "UPDATE runs SET child_pid = ?2, child_start = ?3, attempt = attempt + 1 WHERE id = ?1",
            params![id, child_pid, super::process_start(child_pid)],
        )?;
        Ok(())
    }

    /// Runs of `task` left "running" by process `pid`, which died, become
    /// interrupted; returns their task processes (pid and start time), which may
    /// still be running.
    pub fn interrupt_runs(
        &self,
        (folder, task): (&str, &str),
        pid: u32,
    ) -> Result<Vec<(u32, Option<i64>)>> {
        let children: Vec<(u32, Option<i64>)> = self
            .conn
            .prepare("SELECT child_pid, child_start FROM runs WHERE task = ?1 AND folder = ?3 AND pid = ?2 AND status = 'running' AND child_pid IS NOT NULL")?
            .query_map(params![task, pid, folder], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        self.conn.execute(
            "UPDATE runs SET status = 'interrupted', finished_at = ?3, error = 'orc stopped before the run ended',
             duration_ms = MAX(0, CAST(ROUND((julianday(?3) - julianday(started_at)) * 86400000.0) AS INTEGER))
             WHERE task = ?1 AND folder = ?4 AND pid = ?2 AND status = 'running'",
            params![task, pid, now(), folder],
        )?;
        Ok(children)
    }

    /// Runs recorded as running on `host` whose `orc run` is gone (its pid is not
    /// running, or is a process that started at another time) become interrupted;
    /// returns their task processes (pid and start time), which may still be running.
    pub fn interrupt_abandoned_runs(&self, host: &str) -> Result<Vec<(u32, Option<i64>)>> {
        type Row = (i64, u32, Option<i64>, Option<u32>, Option<i64>);
        let rows: Vec<Row> = self
            .conn
            .prepare_cached(
                "SELECT id, pid, pid_start, child_pid, child_start FROM runs
                 WHERE status = 'running' AND host = ?1 AND pid IS NOT NULL",
            )?
            .query_map([host], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let mut leftovers = Vec::new();
        for (id, pid, pid_start, child, child_start) in rows {
            if super::same_process(pid, pid_start) {
                continue;
            }
            let changed = self.conn.execute(
                "UPDATE runs SET status = 'interrupted', finished_at = ?2,
                 duration_ms = MAX(0, CAST(ROUND((julianday(?2) - julianday(started_at)) * 86400000.0) AS INTEGER)),
                 error = 'orc stopped before the run ended (its process is gone)'
                 WHERE id = ?1 AND status = 'running'",
                params![id, now()],
            )?;
            if changed == 1 {
                tracing::warn!("run {id}: its orc (pid {pid}) is gone; recorded as interrupted");
                leftovers.extend(child.map(|c| (c, child_start)));
            }
        }
        Ok(leftovers)
    }

    /// For each task, when its latest run for a fire time started (runs the scheduler
    /// started, catch-ups, and recorded missed fires; manual runs do not count).
    /// Keyed by (folder, task).
    pub fn last_fires(&self) -> Result<std::collections::HashMap<(String, String), String>> {
        let mut stmt = self.conn.prepare(
            "SELECT folder, task, MAX(COALESCE(scheduled_for, started_at)) FROM runs
             WHERE trigger IN ('scheduled', 'catch-up') GROUP BY folder, task",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                (
                    r.get::<_, Option<String>>(0)?.unwrap_or_default(),
                    r.get(1)?,
                ),
                r.get(2)?,
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Record fire times at which a task should have run and did not: one row with
    /// status "missed", at the last of them, saying how many and since when.
    pub fn record_missed(
        &self,
        (folder, task): (&str, &str),
        last: &str,
        reason: &str,
        host: &str,
    ) -> Result<i64> {
        self.conn.execute(
            "INSERT INTO runs (task, folder, started_at, finished_at, scheduled_for, status, trigger, host, pid, attempt, error)
             VALUES (?1, ?6, ?2, ?2, ?2, 'missed', 'scheduled', ?3, ?4, 0, ?5)",
            params![task, last, host, std::process::id(), reason, folder],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// (scheduled_for, started_at, status) of the task's runs started or scheduled in
    /// `[from, to]` (state timestamps).
    pub fn runs_between(
        &self,
        (folder, task): (&str, &str),
        from: &str,
        to: &str,
    ) -> Result<Vec<(Option<String>, String, RunStatus)>> {
        let mut stmt = self.conn.prepare(
            "SELECT scheduled_for, started_at, status FROM runs WHERE task = ?1 AND folder = ?4
             AND ((started_at >= ?2 AND started_at <= ?3) OR (scheduled_for >= ?2 AND scheduled_for <= ?3))",
        )?;
        let rows = stmt.query_map(params![task, from, to, folder], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Record the values run `id`'s parameters have.
    pub fn set_run_params(
        &self,
        id: i64,
        params: &std::collections::BTreeMap<String, String>,
    ) -> Result<()> {
        self.conn.execute(
            "UPDATE runs SET params = ?2 WHERE id = ?1",
            params![id, serde_json::to_string(params)?],
        )?;
        Ok(())
    }

    /// Record that run `id` was started by run `upstream` (a chain).
    pub fn set_run_upstream(&self, id: i64, upstream: i64) -> Result<()> {
        self.conn.execute(
            "UPDATE runs SET upstream_id = ?2 WHERE id = ?1",
            params![id, upstream],
        )?;
        Ok(())
    }

    /// How the latest run of `task` for the fire `scheduled_for` stands, if it has one
    /// that is not a duplicate: what a fan-in waits on.
    pub fn fire_outcome(
        &self,
        (folder, task): (&str, &str),
        scheduled_for: &str,
    ) -> Result<Option<RunStatus>> {
        Ok(self
            .conn
            .query_row(
                "SELECT status FROM runs WHERE task = ?1 AND folder = ?2 AND scheduled_for = ?3
                 AND status NOT IN ('duplicate', 'missed') ORDER BY id DESC LIMIT 1",
                params![task, folder, scheduled_for],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// When `task` last succeeded (a warning is a success with something to say: it
    /// satisfies a dependency too).
    pub fn last_success(&self, (folder, task): (&str, &str)) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT COALESCE(finished_at, started_at) FROM runs WHERE task = ?1 AND folder = ?2 AND status IN ('success', 'warning') ORDER BY id DESC LIMIT 1",
                params![task, folder],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// The durations of the task's last `count` runs that ran (skipped ones did not),
    /// oldest first (for its trend line).
    pub fn recent_durations(&self, (folder, task): (&str, &str), count: usize) -> Result<Vec<i64>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT duration_ms FROM runs WHERE task = ?1 AND folder = ?3 AND duration_ms IS NOT NULL
             AND status IN ('success', 'warning', 'failed', 'timeout', 'interrupted', 'oom')
             ORDER BY id DESC LIMIT ?2",
        )?;
        let mut durations = stmt
            .query_map(params![task, count as i64, folder], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<i64>>>()?;
        durations.reverse();
        Ok(durations)
    }

    pub fn run(&self, id: i64) -> Result<Option<RunRecord>> {
        Ok(self
            .conn
            .query_row(&format!("{SELECT_RUN} WHERE id = ?1"), [id], run_record)
            .optional()?)
    }

    /// History, newest first.
    pub fn runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>> {
        use rusqlite::ToSql;
        // Only the filters given go into the SQL. `(?1 IS NULL OR task = ?1)` would be
        // one statement for all, but SQLite cannot use an index for it: a task's page
        // or a page behind a cursor then walks the table from the newest run (half a
        // second at a million runs).
        let limit = filter.limit.min(i64::MAX as usize) as i64;
        let given: [(&str, Option<&dyn ToSql>); 5] = [
            ("task =", filter.task.as_ref().map(|v| v as &dyn ToSql)),
            ("folder =", filter.folder.as_ref().map(|v| v as &dyn ToSql)),
            ("status =", filter.status.as_ref().map(|v| v as &dyn ToSql)),
            (
                "started_at >=",
                filter.since.as_ref().map(|v| v as &dyn ToSql),
            ),
            ("id <", filter.before.as_ref().map(|v| v as &dyn ToSql)),
        ];
        let mut sql = SELECT_RUN.to_string();
        let mut values = Vec::new();
        for (condition, value) in given {
            if let Some(value) = value {
                values.push(value);
                let word = if values.len() == 1 { "WHERE" } else { "AND" };
                sql.push_str(&format!(" {word} {condition} ?{}", values.len()));
            }
        }
        values.push(&limit);
        sql.push_str(&format!(" ORDER BY id DESC LIMIT ?{}", values.len()));
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(values.as_slice(), run_record)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

impl State {
    /// Mark run `id` as alerted for its duration; `slow` only while it still runs
    /// (the watch and the run's end may cross). Whether it was marked.
    pub fn flag_run(&self, id: i64, flag: super::DurationFlag) -> Result<bool> {
        let changed = self.conn.execute(
            "UPDATE runs SET duration_flag = ?2
             WHERE id = ?1 AND (?2 != 'slow' OR status = 'running')",
            rusqlite::params![id, flag],
        )?;
        Ok(changed > 0)
    }
}

pub(super) const SELECT_RUN: &str =
    "SELECT id, task, trigger, host, started_at, finished_at, status, exit_code, attempt,
    duration_ms, cpu_ms, peak_rss_kb, log_path, error, scheduled_for, folder, attempts_ms,
    duration_flag, upstream_id, params FROM runs";

pub(super) fn run_record(r: &rusqlite::Row) -> rusqlite::Result<RunRecord> {
    Ok(RunRecord {
        id: r.get(0)?,
        task: r.get(1)?,
        trigger: r.get(2)?,
        host: r.get(3)?,
        started_at: r.get(4)?,
        finished_at: r.get(5)?,
        status: r.get(6)?,
        exit_code: r.get(7)?,
        attempts: r.get(8)?,
        duration_ms: r.get(9)?,
        cpu_ms: r.get(10)?,
        peak_rss_kb: r.get(11)?,
        log_path: r.get(12)?,
        reason: r.get(13)?,
        scheduled_for: r.get(14)?,
        folder: r.get(15)?,
        attempt_durations_ms: r
            .get::<_, Option<String>>(16)?
            .and_then(|j| serde_json::from_str(&j).ok())
            .unwrap_or_default(),
        duration_flag: r.get(17)?,
        upstream: r.get(18)?,
        params: r
            .get::<_, Option<String>>(19)?
            .and_then(|j| serde_json::from_str(&j).ok()),
    })
}
