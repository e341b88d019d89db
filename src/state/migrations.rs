//! Versioned schema migrations, tracked in SQLite's `user_version`.
//!
//! Append new steps; never edit a released one. Each step runs in its own
//! transaction, so a crash mid-migration leaves the previous version intact.

use rusqlite::{Connection, TransactionBehavior};

const STEPS: &[&str] = &[
    // 1: tasks as applied, the audit log, run history, locks.
    "CREATE TABLE tasks (
        name TEXT PRIMARY KEY,
        definition TEXT NOT NULL,
        hash TEXT NOT NULL,
        entry TEXT NOT NULL,
        applied_at TEXT NOT NULL,
        apply_id INTEGER
    );
    CREATE TABLE applies (
        id INTEGER PRIMARY KEY,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        user TEXT NOT NULL,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        git_commit TEXT,
        config_path TEXT NOT NULL,
        backend TEXT NOT NULL,
        summary TEXT NOT NULL,
        plan TEXT NOT NULL,
        outcome TEXT NOT NULL,
        error TEXT
    );
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        task TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        status TEXT NOT NULL,
        exit_code INTEGER,
        attempt INTEGER NOT NULL DEFAULT 1,
        trigger TEXT,
        log_path TEXT,
        error TEXT
    );
    CREATE INDEX runs_by_task ON runs (task, id);
    CREATE TABLE locks (
        name TEXT PRIMARY KEY,
        pid INTEGER NOT NULL,
        host TEXT NOT NULL,
        user TEXT NOT NULL,
        purpose TEXT NOT NULL,
        acquired_at TEXT NOT NULL
    );",
    // 2: what `orc run` measures.
    "ALTER TABLE runs ADD COLUMN host TEXT;
    ALTER TABLE runs ADD COLUMN pid INTEGER;
    ALTER TABLE runs ADD COLUMN duration_ms INTEGER;
    ALTER TABLE runs ADD COLUMN cpu_ms INTEGER;
    ALTER TABLE runs ADD COLUMN peak_rss_kb INTEGER;
    ALTER TABLE runs ADD COLUMN child_pid INTEGER;
    CREATE INDEX runs_by_status ON runs (status, id);",
    // 3: settings recorded by apply (and orc's own bookkeeping); retention deletes by
    // age; the fire time a run was for.
    "ALTER TABLE runs ADD COLUMN scheduled_for TEXT;
    CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX runs_by_start ON runs (started_at);",
    // 4: the secrets vault: how its key is made, a check value that tells a wrong key
    // from a damaged secret, and the secrets, each encrypted on its own.
    "CREATE TABLE vault (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        kind TEXT NOT NULL,
        salt BLOB,
        log_n INTEGER,
        r INTEGER,
        p INTEGER,
        check_nonce BLOB NOT NULL,
        check_value BLOB NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE secrets (
        name TEXT PRIMARY KEY,
        nonce BLOB NOT NULL,
        ciphertext BLOB NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );",
    // 5: alert mails, kept until sent (retried with backoff) or given up.
    "CREATE TABLE notifications (
        id INTEGER PRIMARY KEY,
        task TEXT,
        run_id INTEGER,
        event TEXT NOT NULL,
        grp TEXT NOT NULL,
        recipients TEXT NOT NULL,
        subject TEXT NOT NULL,
        text TEXT NOT NULL,
        html TEXT NOT NULL,
        created_at TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT NOT NULL,
        sent_at TEXT,
        gave_up INTEGER NOT NULL DEFAULT 0,
        last_error TEXT
    );
    CREATE INDEX notifications_due ON notifications (sent_at, gave_up, next_attempt_at);",
    // 6: everything recorded belongs to a (backend, folder) scope, so configs with
    // different folders share one state without touching each other. Tasks take the
    // scope of the apply that wrote them; runs and the recorded settings that of
    // their task or of the last apply; before, there was only one scope.
    "CREATE TABLE tasks_scoped (
        backend TEXT NOT NULL,
        folder TEXT NOT NULL,
        name TEXT NOT NULL,
        definition TEXT NOT NULL,
        hash TEXT NOT NULL,
        entry TEXT NOT NULL,
        applied_at TEXT NOT NULL,
        apply_id INTEGER,
        PRIMARY KEY (backend, folder, name)
    );
    ALTER TABLE applies ADD COLUMN folder TEXT;
    UPDATE applies SET folder = json_extract(plan, '$.folder') WHERE json_valid(plan);
    CREATE TEMP TABLE last_scope AS
        SELECT COALESCE((SELECT backend FROM applies WHERE outcome = 'succeeded' ORDER BY id DESC LIMIT 1), 'embedded') AS backend,
               COALESCE((SELECT folder FROM applies WHERE outcome = 'succeeded' AND folder IS NOT NULL ORDER BY id DESC LIMIT 1), 'Orc') AS folder;
    INSERT INTO tasks_scoped (backend, folder, name, definition, hash, entry, applied_at, apply_id)
        SELECT COALESCE(a.backend, (SELECT backend FROM last_scope)),
               COALESCE(a.folder, (SELECT folder FROM last_scope)),
               t.name, t.definition, t.hash, t.entry, t.applied_at, t.apply_id
        FROM tasks t LEFT JOIN applies a ON a.id = t.apply_id;
    DROP TABLE tasks;
    ALTER TABLE tasks_scoped RENAME TO tasks;
    CREATE INDEX tasks_by_name ON tasks (name);
    ALTER TABLE runs ADD COLUMN folder TEXT;
    UPDATE runs SET folder = COALESCE(
        (SELECT folder FROM tasks WHERE tasks.name = runs.task ORDER BY applied_at DESC LIMIT 1),
        (SELECT folder FROM last_scope));
    DROP INDEX runs_by_task;
    CREATE INDEX runs_by_task ON runs (task, folder, id);
    UPDATE settings SET key = 'runtime:' || (SELECT backend FROM last_scope) || ':' || (SELECT folder FROM last_scope)
        WHERE key = 'runtime';
    DROP TABLE last_scope;",
    // 7: what a run recorded is what happened. A pid comes with its process's start
    // time (a reused pid is another process); each attempt's own duration; running
    // totals of finished runs that retention does not shrink (the /metrics counters),
    // kept by triggers so that every way a run ends counts once.
    "ALTER TABLE runs ADD COLUMN pid_start INTEGER;
    ALTER TABLE runs ADD COLUMN child_start INTEGER;
    ALTER TABLE runs ADD COLUMN attempts_ms TEXT;
    ALTER TABLE locks ADD COLUMN pid_start INTEGER;
    CREATE TABLE run_totals (
        folder TEXT NOT NULL,
        task TEXT NOT NULL,
        status TEXT NOT NULL,
        runs INTEGER NOT NULL,
        duration_ms INTEGER NOT NULL,
        timed INTEGER NOT NULL,
        PRIMARY KEY (folder, task, status)
    );
    INSERT INTO run_totals (folder, task, status, runs, duration_ms, timed)
        SELECT COALESCE(folder, ''), task, status, COUNT(*), COALESCE(SUM(duration_ms), 0), COUNT(duration_ms)
        FROM runs WHERE status != 'running' GROUP BY 1, 2, 3;
    CREATE TRIGGER run_totals_on_insert AFTER INSERT ON runs WHEN NEW.status != 'running' BEGIN
        INSERT INTO run_totals (folder, task, status, runs, duration_ms, timed)
        VALUES (COALESCE(NEW.folder, ''), NEW.task, NEW.status, 1, COALESCE(NEW.duration_ms, 0), NEW.duration_ms IS NOT NULL)
        ON CONFLICT (folder, task, status) DO UPDATE SET runs = runs + 1,
            duration_ms = duration_ms + excluded.duration_ms, timed = timed + excluded.timed;
    END;
    CREATE TRIGGER run_totals_on_finish AFTER UPDATE OF status ON runs
    WHEN OLD.status = 'running' AND NEW.status != 'running' BEGIN
        INSERT INTO run_totals (folder, task, status, runs, duration_ms, timed)
        VALUES (COALESCE(NEW.folder, ''), NEW.task, NEW.status, 1, COALESCE(NEW.duration_ms, 0), NEW.duration_ms IS NOT NULL)
        ON CONFLICT (folder, task, status) DO UPDATE SET runs = runs + 1,
            duration_ms = duration_ms + excluded.duration_ms, timed = timed + excluded.timed;
    END;",
    // 8: the plan an apply carried out (the whole plan as JSON, 9 MB for 10,000 new
    // tasks) in a table of its own, written once: in the audit row, closing the apply
    // (an UPDATE of its outcome) rewrote the whole plan, doubling the bytes written
    // and leaving as many free pages behind.
    "CREATE TABLE apply_plans (
        apply_id INTEGER PRIMARY KEY,
        plan TEXT NOT NULL
    );
    INSERT INTO apply_plans (apply_id, plan) SELECT id, plan FROM applies;
    ALTER TABLE applies DROP COLUMN plan;",
    // 9: alerts to HTTP targets (webhook, Teams, Slack, ntfy) beside mail: the row says
    // which, and carries the event's facts as JSON, from which the target's body is
    // made when it is sent (the URLs and tokens stay in the config and the vault).
    "ALTER TABLE notifications ADD COLUMN channel TEXT NOT NULL DEFAULT 'email';
    ALTER TABLE notifications ADD COLUMN payload TEXT;",
    // 10: a run alerted for its duration (slow, too_fast), for history, the dashboard
    // and the report.
    "ALTER TABLE runs ADD COLUMN duration_flag TEXT;",
    // 11: fleet mode's outbox. With `[fleet]` applied (the recorded settings hold a
    // fleet), every change of a run queues the run's id, in the same transaction as
    // the change: a run never waits on the network, and a crash loses nothing. The
    // shipper sends each queued run's row as it is then, in queue order, and deletes
    // what the fleet database took; without `[fleet]` nothing is queued.
    "CREATE TABLE fleet_outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id INTEGER NOT NULL
    );
    CREATE TRIGGER fleet_outbox_on_insert AFTER INSERT ON runs
    WHEN EXISTS (SELECT 1 FROM settings WHERE key LIKE 'runtime:%' AND json_extract(value, '$.fleet') IS NOT NULL)
    BEGIN
        INSERT INTO fleet_outbox (run_id) VALUES (NEW.id);
    END;
    CREATE TRIGGER fleet_outbox_on_update AFTER UPDATE ON runs
    WHEN EXISTS (SELECT 1 FROM settings WHERE key LIKE 'runtime:%' AND json_extract(value, '$.fleet') IS NOT NULL)
    BEGIN
        INSERT INTO fleet_outbox (run_id) VALUES (NEW.id);
    END;",
    // 12: fleet mode: the alerts' outcomes (queued, sent, retried, given up) go to the
    // fleet database too, queued the same way by triggers on `notifications`.
    "CREATE TABLE fleet_alert_outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        notification_id INTEGER NOT NULL
    );
    CREATE TRIGGER fleet_alert_outbox_on_insert AFTER INSERT ON notifications
    WHEN EXISTS (SELECT 1 FROM settings WHERE key LIKE 'runtime:%' AND json_extract(value, '$.fleet') IS NOT NULL)
    BEGIN
        INSERT INTO fleet_alert_outbox (notification_id) VALUES (NEW.id);
    END;
    CREATE TRIGGER fleet_alert_outbox_on_update AFTER UPDATE ON notifications
    WHEN EXISTS (SELECT 1 FROM settings WHERE key LIKE 'runtime:%' AND json_extract(value, '$.fleet') IS NOT NULL)
    BEGIN
        INSERT INTO fleet_alert_outbox (notification_id) VALUES (NEW.id);
    END;",
    // 13: chains: the run that started a run (on_success, on_failure, after).
    "ALTER TABLE runs ADD COLUMN upstream_id INTEGER;",
    // 14: parameters: the values a run's parameters had (JSON), for the history.
    "ALTER TABLE runs ADD COLUMN params TEXT;",
];

/// The schema version this build writes.
pub const VERSION: i64 = STEPS.len() as i64;

pub fn migrate(conn: &mut Connection) -> super::Result<()> {
    // The common case, an up-to-date database, needs no write lock to see that.
    let current: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if current == VERSION {
        return Ok(());
    }
    loop {
        // Read the version inside a write transaction: two orc processes opening a new
        // database at once must not both run the same step.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if current > VERSION {
            return Err(super::StateError::TooNew {
                found: current,
                known: VERSION,
            });
        }
        let Some(step) = STEPS.get(current as usize) else {
            return Ok(());
        };
        tx.execute_batch(step)?;
        tx.pragma_update(None, "user_version", current + 1)?;
        tx.commit()?;
    }
}
