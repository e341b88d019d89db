//! orc's SQLite state: what was applied, the audit log of applies, runs, and locks.
//!
//! One file, WAL mode, a busy timeout so concurrent orc processes wait for each other
//! instead of failing, versioned migrations, created readable by its owner only.

mod error;
mod kinds;
mod lock;
mod migrations;
/// The schema version this build writes (SQLite's `user_version`).
pub use migrations::VERSION as SCHEMA_VERSION;
pub mod notifications;
mod outbox;
mod runs;
mod settings;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

pub use error::{Result, StateError};
pub use kinds::{Channel, DurationFlag, MailEvent, RunStatus, RunTrigger, UnknownWord};
pub use lock::{LockGuard, LockHolder, Locked, my_start, pid_alive, process_start, same_process};
pub use outbox::{AlertBatch, AlertOutcome, OutboxBatch};
pub use runs::{RunFilter, RunFinish, RunRecord};

/// The state database.
pub struct State {
    conn: Connection,
    path: PathBuf,
}

/// Where a config's tasks live: one backend's folder. Everything apply records (tasks,
/// settings, the audit row) belongs to one scope, and a plan sees only its own, so
/// configs with different folders share a state without touching each other.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Scope {
    pub backend: String,
    pub folder: String,
}

impl Scope {
    pub fn new(backend: &str, folder: &str) -> Scope {
        Scope {
            backend: backend.to_string(),
            folder: folder.to_string(),
        }
    }

    /// The settings key of the runtime settings applied to this scope.
    fn settings_key(&self) -> String {
        format!("{}:{}:{}", settings::RUNTIME, self.backend, self.folder)
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "folder \"{}\" ({})", self.folder, self.backend)
    }
}

/// A task as orc last applied it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedTask {
    pub backend: String,
    pub folder: String,
    pub name: String,
    /// JSON of the validated task definition; `orc run` executes this.
    pub definition: String,
    /// sha256 of `definition`.
    pub hash: String,
    /// JSON of the backend entry orc wrote for it.
    pub entry: String,
    pub applied_at: String,
    pub apply_id: Option<i64>,
}

impl RecordedTask {
    pub fn scope(&self) -> Scope {
        Scope::new(&self.backend, &self.folder)
    }

    /// The task its definition describes.
    pub fn task(&self) -> Result<crate::config::Task> {
        crate::config::Task::from_definition(&self.definition).map_err(|source| {
            StateError::Unreadable {
                name: self.name.clone(),
                source,
            }
        })
    }
}

/// How a task last ran, for `orc status`.
#[derive(Debug, Clone, Serialize)]
pub struct LastRun {
    pub status: RunStatus,
    pub at: String,
    pub duration_ms: Option<i64>,
}

/// Who ran an apply, from where, and what it was about to do.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ApplyMeta {
    pub user: String,
    pub host: String,
    pub git_commit: Option<String>,
    pub config_path: String,
    pub backend: String,
    pub folder: String,
    pub summary: String,
    pub plan: String,
}

/// A row of the applies audit log.
#[derive(Debug, Clone, Serialize)]
pub struct ApplyRecord {
    pub id: i64,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub user: String,
    pub host: String,
    pub git_commit: Option<String>,
    pub backend: String,
    pub summary: String,
    pub outcome: String,
    pub error: Option<String>,
}

/// One write to the tasks table, done together with others in one transaction.
#[derive(Debug, Clone)]
pub enum TaskWrite {
    Upsert {
        name: String,
        definition: String,
        entry: String,
    },
    Delete {
        name: String,
    },
    /// Move a task's row and its run history to a new name.
    Rename {
        from: String,
        to: String,
    },
    /// Record the runtime settings (JSON of `RuntimeSettings`).
    Settings {
        json: String,
    },
    /// The config's folder changed: move every task of the same backend's `from`
    /// folder, with its history, into the apply's scope (done before the other
    /// writes, which then update the moved rows).
    MoveFolder {
        from: String,
    },
}

/// Everything an apply recorded: the plan's "before".
#[derive(Debug, Clone, Default)]
pub struct Recorded {
    pub tasks: Vec<RecordedTask>,
    /// JSON of the runtime settings, when an apply recorded them.
    pub settings: Option<String>,
    /// The folder `tasks` are recorded in when the config's folder changed.
    pub moved_from: Option<String>,
    /// Why the plan should warn: another config applied this scope last.
    pub claimed_by: Option<String>,
}

const SELECT_TASK: &str =
    "SELECT backend, folder, name, definition, hash, entry, applied_at, apply_id FROM tasks";

fn recorded_task(r: &rusqlite::Row) -> rusqlite::Result<RecordedTask> {
    Ok(RecordedTask {
        backend: r.get(0)?,
        folder: r.get(1)?,
        name: r.get(2)?,
        definition: r.get(3)?,
        hash: r.get(4)?,
        entry: r.get(5)?,
        applied_at: r.get(6)?,
        apply_id: r.get(7)?,
    })
}

/// A name that more than one scope has: `orc run` needs `--folder` to know which.
#[derive(Debug, thiserror::Error)]
#[error(
    "task \"{name}\" exists in more than one scope: {}; say which with --folder{}",
    scopes.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(" and "),
    if scopes.windows(2).any(|w| w[0].folder == w[1].folder) { " and --backend" } else { "" }
)]
pub struct AmbiguousTask {
    pub name: String,
    pub scopes: Vec<Scope>,
}

/// The default state path: `%ProgramData%\orc\state.db` on Windows,
/// `~/Library/Application Support/orc/state.db` on macOS, and the XDG state
/// directory (`$XDG_STATE_HOME/orc/state.db`, else `~/.local/state/orc/state.db`)
/// elsewhere.
pub fn default_path() -> PathBuf {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let base = if cfg!(windows) {
        env("ProgramData").unwrap_or_else(|| PathBuf::from(r"C:\ProgramData"))
    } else if cfg!(target_os = "macos") {
        env("HOME")
            .unwrap_or_default()
            .join("Library/Application Support")
    } else {
        env("XDG_STATE_HOME").unwrap_or_else(|| {
            env("HOME")
                .unwrap_or_else(|| PathBuf::from("/"))
                .join(".local/state")
        })
    };
    base.join("orc").join("state.db")
}

/// Where run logs go without `settings.log_dir`: `logs/` beside the state database.
pub fn default_log_dir(state: &Path) -> PathBuf {
    state
        .parent()
        .map_or_else(|| PathBuf::from("logs"), |d| d.join("logs"))
}

/// Current time as RFC 3339 UTC, the format every timestamp in the state uses.
pub fn now() -> String {
    timestamp(jiff::Timestamp::now())
}

/// The one text form of instants in the state: UTC, fixed width, milliseconds, so
/// that text order is time order.
pub fn timestamp(at: jiff::Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// sha256 of a definition, hex.
pub fn hash(text: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl State {
    /// Open (creating if needed, owner-only) and migrate the database at `path`.
    pub fn open(path: &Path) -> Result<State> {
        // Absolute, so paths derived from it (logs) mean the same from any folder.
        let path = &std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let failed = |action: &'static str| {
            move |e: StateError| StateError::Open {
                action,
                path: path.clone(),
                source: Box::new(e),
            }
        };
        create_private(path)
            .map_err(StateError::from)
            .map_err(failed("create"))?;
        let conn = Connection::open(path)
            .map_err(StateError::from)
            .map_err(failed("open"))?;
        conn.busy_timeout(Duration::from_secs(30))?;
        // Switching to WAL needs the database to itself, and SQLite answers "busy" at
        // once rather than calling the busy handler: retry while other orc processes
        // are opening the same new database.
        let start = std::time::Instant::now();
        while let Err(e) = conn.pragma_update(None, "journal_mode", "WAL") {
            let busy = e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy);
            if !busy || start.elapsed() > Duration::from_secs(30) {
                return Err(e.into());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // Closing the last connection would checkpoint the WAL and delete it, with two
        // fsyncs, at the end of every `orc run`; the WAL is left for the next writer's
        // automatic checkpoint instead. But each process that opens the database first
        // reads every valid frame of the WAL to rebuild its index, so the WAL is kept
        // short: a checkpoint every 64 pages (256 KB) instead of SQLite's 1,000.
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
            true,
        )?;
        conn.pragma_update(None, "wal_autocheckpoint", 64)?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let mut state = State {
            conn,
            path: path.to_path_buf(),
        };
        migrations::migrate(&mut state.conn).map_err(failed("migrate"))?;
        Ok(state)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Run `f` with a connection to the state at `path` kept from an earlier call
    /// (`orc serve`'s requests), or a new one, kept afterwards if fewer than four are.
    ///
    /// A connection opened per request starts with an empty page cache: listing 1,000
    /// tasks with their last runs then reads about 1,500 pages with one `pread` each,
    /// several milliseconds at a million runs. A kept one has them in its cache (8 MB
    /// each, so the four cost at most 32 MB). Every statement still reads the latest
    /// committed data (WAL). Kept connections to a file that is no longer at `path`
    /// (the state was deleted and created anew) are dropped.
    pub fn with_kept_connection<T>(path: &Path, f: impl FnOnce(&State) -> T) -> Result<T> {
        const KEEP: usize = 4;
        static KEPT: std::sync::Mutex<Vec<(PathBuf, FileId, State)>> =
            std::sync::Mutex::new(Vec::new());
        let Some(id) = file_id(path) else {
            return Ok(f(&State::open(path)?));
        };
        let kept = {
            let mut kept = KEPT.lock().unwrap_or_else(|e| e.into_inner());
            kept.retain(|(p, i, _)| p != path || *i == id);
            let at = kept.iter().position(|(p, _, _)| p == path);
            at.map(|at| kept.swap_remove(at).2)
        };
        let state = match kept {
            Some(state) => state,
            None => State::open(path)?,
        };
        let out = f(&state);
        let mut kept = KEPT.lock().unwrap_or_else(|e| e.into_inner());
        // Only kept ones get the bigger cache: under many concurrent requests the
        // extra connections stay at SQLite's default (2 MB).
        if kept.len() < KEEP && state.conn.pragma_update(None, "cache_size", -8192).is_ok() {
            kept.push((path.to_path_buf(), id, state));
        }
        Ok(out)
    }

    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Every recorded task of every scope, by name.
    pub fn tasks(&self) -> Result<Vec<RecordedTask>> {
        let mut stmt = self
            .conn
            .prepare(&format!("{SELECT_TASK} ORDER BY name, folder, backend"))?;
        let rows = stmt.query_map([], recorded_task)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The recorded tasks of one scope, by name.
    pub fn tasks_in(&self, scope: &Scope) -> Result<Vec<RecordedTask>> {
        let mut stmt = self.conn.prepare(&format!(
            "{SELECT_TASK} WHERE backend = ?1 AND folder = ?2 ORDER BY name"
        ))?;
        let rows = stmt.query_map(params![scope.backend, scope.folder], recorded_task)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The scopes that hold recorded tasks.
    pub fn scopes(&self) -> Result<Vec<Scope>> {
        let mut stmt = self
            .conn
            .prepare("SELECT DISTINCT backend, folder FROM tasks ORDER BY folder, backend")?;
        let rows = stmt.query_map([], |r| {
            Ok(Scope {
                backend: r.get(0)?,
                folder: r.get(1)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The recorded tasks and settings of one scope: the plan's "before".
    pub fn recorded(&self, scope: &Scope) -> Result<Recorded> {
        Ok(Recorded {
            tasks: self.tasks_in(scope)?,
            settings: self.setting(&scope.settings_key())?,
            ..Recorded::default()
        })
    }

    /// The task called `name` in whichever scope has it; an error names the scopes
    /// when more than one does. `folder` and `backend` narrow the search.
    pub fn find_task(
        &self,
        name: &str,
        folder: Option<&str>,
        backend: Option<&str>,
    ) -> Result<Option<RecordedTask>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "{SELECT_TASK} WHERE name = ?1 AND (?2 IS NULL OR folder = ?2) AND (?3 IS NULL OR backend = ?3)
             ORDER BY folder, backend"
        ))?;
        let mut found: Vec<RecordedTask> = stmt
            .query_map(params![name, folder, backend], recorded_task)?
            .collect::<rusqlite::Result<_>>()?;
        if found.len() > 1 {
            return Err(AmbiguousTask {
                name: name.to_string(),
                scopes: found.iter().map(RecordedTask::scope).collect(),
            }
            .into());
        }
        Ok(found.pop())
    }

    /// The task called `name`, wherever it is (see `find_task`).
    pub fn task(&self, name: &str) -> Result<Option<RecordedTask>> {
        self.find_task(name, None, None)
    }

    /// The task called `name` in one folder (of any backend; see `find_task`).
    pub fn task_in_folder(&self, name: &str, folder: &str) -> Result<Option<RecordedTask>> {
        self.find_task(name, Some(folder), None)
    }

    /// The config path and time of the last succeeded apply to `scope`.
    pub fn last_apply_config(&self, scope: &Scope) -> Result<Option<(String, String)>> {
        Ok(self
            .conn
            .query_row(
                "SELECT config_path, started_at FROM applies
                 WHERE outcome = 'succeeded' AND backend = ?1 AND folder = ?2 ORDER BY id DESC LIMIT 1",
                params![scope.backend, scope.folder],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    /// The folders of `backend` whose last succeeded apply came from `config_path`
    /// and that still hold tasks: where a config's tasks were before its folder changed.
    pub fn folders_applied_from(&self, backend: &str, config_path: &str) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare(
            "SELECT DISTINCT t.folder FROM tasks t
             WHERE t.backend = ?1 AND (
                 SELECT a.config_path FROM applies a
                 WHERE a.outcome = 'succeeded' AND a.backend = t.backend AND a.folder = t.folder
                 ORDER BY a.id DESC LIMIT 1) = ?2
             ORDER BY t.folder",
        )?;
        let rows = stmt.query_map(params![backend, config_path], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Start an audit row for an apply; returns its id.
    pub fn begin_apply(&self, meta: &ApplyMeta) -> Result<i64> {
        // The row and its plan, both or neither.
        let tx = self.conn.unchecked_transaction()?;
        tx.execute(
            "INSERT INTO applies (started_at, user, host, git_commit, config_path, backend, folder, summary, outcome, pid)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'running', ?9)",
            params![now(), meta.user, meta.host, meta.git_commit, meta.config_path, meta.backend, meta.folder, meta.summary, std::process::id()],
        )?;
        let id = tx.last_insert_rowid();
        tx.execute(
            "INSERT INTO apply_plans (apply_id, plan) VALUES (?1, ?2)",
            params![id, meta.plan],
        )?;
        tx.commit()?;
        Ok(id)
    }

    /// Record a failed apply.
    pub fn fail_apply(&self, id: i64, error: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE applies SET finished_at = ?2, outcome = 'failed', error = ?3 WHERE id = ?1",
            params![id, now(), error],
        )?;
        Ok(())
    }

    /// Write every task change of an apply to `scope` and close its audit row,
    /// atomically.
    pub fn commit_apply(
        &self,
        id: i64,
        scope: &Scope,
        writes: &[std::borrow::Cow<'_, TaskWrite>],
    ) -> Result<()> {
        let tx = rusqlite::Transaction::new_unchecked(
            &self.conn,
            rusqlite::TransactionBehavior::Immediate,
        )?;
        let at = now();
        let (backend, folder) = (&scope.backend, &scope.folder);
        // A folder move first: the other writes name the tasks in their new folder.
        let moves = writes.iter().filter_map(|w| match &**w {
            TaskWrite::MoveFolder { from } => Some(from),
            _ => None,
        });
        for from in moves {
            tx.execute(
                "UPDATE tasks SET folder = ?3 WHERE backend = ?1 AND folder = ?2",
                params![backend, from, folder],
            )?;
            tx.execute(
                "UPDATE runs SET folder = ?2 WHERE folder = ?1",
                params![from, folder],
            )?;
            move_totals(&tx, (from, None), (folder, None))?;
            tx.execute(
                "DELETE FROM settings WHERE key = ?1",
                [Scope::new(backend, from).settings_key()],
            )?;
        }
        for w in writes {
            match &**w {
                TaskWrite::Upsert {
                    name,
                    definition,
                    entry,
                } => {
                    // Prepared once: an apply of many tasks would otherwise parse the
                    // statement again for each.
                    tx.prepare_cached(
                        "INSERT INTO tasks (backend, folder, name, definition, hash, entry, applied_at, apply_id)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                         ON CONFLICT(backend, folder, name) DO UPDATE SET definition = excluded.definition,
                           hash = excluded.hash, entry = excluded.entry, applied_at = excluded.applied_at,
                           apply_id = excluded.apply_id",
                    )?
                    .execute(params![backend, folder, name, definition, hash(definition), entry, at, id])?;
                }
                TaskWrite::Delete { name } => {
                    tx.prepare_cached(
                        "DELETE FROM tasks WHERE backend = ?1 AND folder = ?2 AND name = ?3",
                    )?
                    .execute(params![backend, folder, name])?;
                }
                TaskWrite::Settings { json } => settings::write(&tx, &scope.settings_key(), json)?,
                TaskWrite::Rename { from, to } => {
                    tx.execute(
                        "UPDATE tasks SET name = ?4 WHERE backend = ?1 AND folder = ?2 AND name = ?3",
                        params![backend, folder, from, to],
                    )?;
                    tx.execute(
                        "UPDATE runs SET task = ?3 WHERE folder = ?1 AND task = ?2",
                        params![folder, from, to],
                    )?;
                    move_totals(&tx, (folder, Some(from)), (folder, Some(to)))?;
                }
                TaskWrite::MoveFolder { .. } => {}
            }
        }
        tx.execute(
            "UPDATE applies SET finished_at = ?2, outcome = 'succeeded' WHERE id = ?1",
            params![id, at],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Applies whose process died mid-way are marked interrupted (called when a
    /// stale lock is broken).
    pub fn mark_interrupted(&self, pid: u32, host: &str) -> Result<usize> {
        Ok(self.conn.execute(
            "UPDATE applies SET outcome = 'interrupted', finished_at = ?3
             WHERE outcome = 'running' AND pid = ?1 AND host = ?2",
            params![pid, host, now()],
        )?)
    }

    /// When the last finished apply ran and the plan it carried out (JSON).
    pub fn last_apply_plan(&self) -> Result<Option<(String, String)>> {
        Ok(self
            .conn
            .query_row(
                "SELECT a.started_at, p.plan FROM applies a JOIN apply_plans p ON p.apply_id = a.id
                 WHERE a.outcome = 'succeeded' ORDER BY a.id DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    /// The audit log, newest first.
    pub fn applies(&self, limit: usize) -> Result<Vec<ApplyRecord>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, started_at, finished_at, user, host, git_commit, backend, summary, outcome, error
             FROM applies ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit as i64], |r| {
            Ok(ApplyRecord {
                id: r.get(0)?,
                started_at: r.get(1)?,
                finished_at: r.get(2)?,
                user: r.get(3)?,
                host: r.get(4)?,
                git_commit: r.get(5)?,
                backend: r.get(6)?,
                summary: r.get(7)?,
                outcome: r.get(8)?,
                error: r.get(9)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The most recent run of one task.
    pub fn last_run(&self, folder: &str, task: &str) -> Result<Option<LastRun>> {
        Ok(self
            .conn
            .query_row(
                "SELECT status, COALESCE(finished_at, started_at), duration_ms FROM runs
                 WHERE task = ?1 AND folder = ?2 ORDER BY id DESC LIMIT 1",
                params![task, folder],
                |r| {
                    Ok(LastRun {
                        status: r.get(0)?,
                        at: r.get(1)?,
                        duration_ms: r.get(2)?,
                    })
                },
            )
            .optional()?)
    }

    /// The most recent run of each applied task, by (folder, task name).
    pub fn last_runs(&self) -> Result<std::collections::BTreeMap<(String, String), LastRun>> {
        // One MAX(id) per applied task is one seek in runs_by_task each; a GROUP BY
        // task over runs reads the whole index (about 100 ms at a million runs, on
        // every `orc status` and GET /api/tasks).
        let mut stmt = self.conn.prepare(
            "SELECT r.folder, r.task, r.status, COALESCE(r.finished_at, r.started_at), r.duration_ms
             FROM tasks t JOIN runs r
               ON r.id = (SELECT MAX(id) FROM runs WHERE task = t.name AND folder = t.folder)",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                (r.get::<_, String>(0)?, r.get::<_, String>(1)?),
                LastRun {
                    status: r.get(2)?,
                    at: r.get(3)?,
                    duration_ms: r.get(4)?,
                },
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

/// Move the running totals of the runs of a folder (or of one task in it) along with
/// the runs, adding to what the destination already counts.
fn move_totals(
    tx: &rusqlite::Transaction,
    (from_folder, from_task): (&str, Option<&str>),
    (to_folder, to_task): (&str, Option<&str>),
) -> Result<()> {
    tx.execute(
        "INSERT INTO run_totals (folder, task, status, runs, duration_ms, timed)
         SELECT ?3, COALESCE(?4, task), status, runs, duration_ms, timed FROM run_totals
         WHERE folder = ?1 AND (?2 IS NULL OR task = ?2) AND true
         ON CONFLICT (folder, task, status) DO UPDATE SET runs = runs + excluded.runs,
             duration_ms = duration_ms + excluded.duration_ms, timed = timed + excluded.timed",
        params![from_folder, from_task, to_folder, to_task],
    )?;
    tx.execute(
        "DELETE FROM run_totals WHERE folder = ?1 AND (?2 IS NULL OR task = ?2)
         AND NOT (folder = ?3 AND task = COALESCE(?4, task))",
        params![from_folder, from_task, to_folder, to_task],
    )?;
    Ok(())
}

/// Create `dir` and its missing parents readable by the owner only (0700 on Unix),
/// for what orc writes beside the state: run logs, its own log, the registry.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Open options that create a file readable by its owner only (0600 on Unix).
pub fn private_file() -> std::fs::OpenOptions {
    #[cfg_attr(not(unix), allow(unused_mut))]
    let mut options = std::fs::OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

/// Create the file (and its folder) readable by the owner only, before SQLite opens it.
fn create_private(path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir)?;
    }
    if path.exists() {
        return Ok(());
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// What tells one file from another at the same path.
#[cfg(unix)]
type FileId = (u64, u64);
#[cfg(not(unix))]
type FileId = std::time::SystemTime;

fn file_id(path: &Path) -> Option<FileId> {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some((meta.dev(), meta.ino()))
    }
    #[cfg(not(unix))]
    {
        meta.created().ok()
    }
}
