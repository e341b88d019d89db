//! Fleet mode: the PostgreSQL database the servers of a fleet share (`[fleet]`). This
//! module holds the database's schema, versioned and migrated like the SQLite state's,
//! and the hosts' register. Without `[fleet]` nothing here runs.

use std::time::Duration;

use postgres::Client;

pub mod tls;
pub use tls::SslMode;

/// The schema version this orc writes and reads.
pub const SCHEMA_VERSION: i32 = 3;

/// A host silent longer than this is late: the background sender contacts the
/// database every 5 s, `orc fleet sync` when it runs; a busy host is not called late
/// for one slow turn.
pub const LATE_AFTER_SECS: i64 = 120;

/// Each step takes the schema from its index to the next version; append only.
const MIGRATIONS: &[&str] = &[
    // 1: the hosts' register, the shared run history, the claims of fires run once
    // across a pool (unique per task and fire, fenced), and fleet-wide leases.
    "CREATE TABLE orc_hosts (
        host text PRIMARY KEY,
        pool text,
        version text NOT NULL,
        first_seen timestamptz NOT NULL DEFAULT now(),
        last_contact timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE orc_runs (
        host text NOT NULL,
        state_id text NOT NULL,
        folder text NOT NULL,
        run_id bigint NOT NULL,
        task text NOT NULL,
        status text NOT NULL,
        exit_code integer,
        attempts integer NOT NULL DEFAULT 0,
        trigger text,
        started_at timestamptz NOT NULL,
        finished_at timestamptz,
        duration_ms bigint,
        scheduled_for timestamptz,
        reason text,
        duration_flag text,
        received_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (host, state_id, folder, run_id)
    );
    CREATE INDEX orc_runs_task ON orc_runs (folder, task, started_at DESC);
    CREATE INDEX orc_runs_started ON orc_runs (started_at DESC);
    CREATE SEQUENCE orc_fences;
    CREATE TABLE orc_claims (
        pool text NOT NULL,
        folder text NOT NULL,
        task text NOT NULL,
        scheduled_for timestamptz NOT NULL,
        holder text NOT NULL,
        fence bigint NOT NULL,
        lease_until timestamptz NOT NULL,
        claimed_at timestamptz NOT NULL DEFAULT now(),
        finished_at timestamptz,
        status text,
        alerted_at timestamptz,
        taken_over_from text,
        PRIMARY KEY (pool, folder, task, scheduled_for)
    );
    CREATE INDEX orc_claims_open ON orc_claims (lease_until) WHERE finished_at IS NULL;
    CREATE TABLE orc_leases (
        name text PRIMARY KEY,
        holder text NOT NULL,
        until timestamptz NOT NULL
    );",
    // 2: pages of the fleet's runs by host, task and status; hosts alerted as silent;
    // requests to run a task now on any host of its pool; the alerts' outcomes; each
    // host's last run of each task, kept as runs arrive (a view of every host's
    // tasks without a pass over all their runs).
    "CREATE INDEX orc_runs_host ON orc_runs (host, started_at DESC);
    CREATE INDEX orc_runs_by_task ON orc_runs (task, started_at DESC);
    CREATE INDEX orc_runs_status ON orc_runs (status, started_at DESC);
    CREATE INDEX orc_runs_page ON orc_runs (started_at DESC, host DESC, state_id DESC, run_id DESC);
    DROP INDEX orc_runs_started;
    ALTER TABLE orc_hosts ADD COLUMN silent_alerted_at timestamptz;
    CREATE TABLE orc_requests (
        id bigserial PRIMARY KEY,
        pool text NOT NULL,
        folder text NOT NULL,
        task text NOT NULL,
        requested_by text NOT NULL,
        requested_at timestamptz NOT NULL DEFAULT now(),
        taken_by text,
        taken_at timestamptz
    );
    CREATE INDEX orc_requests_open ON orc_requests (pool, id) WHERE taken_by IS NULL;
    CREATE TABLE orc_alerts (
        host text NOT NULL,
        state_id text NOT NULL,
        alert_id bigint NOT NULL,
        task text,
        run_id bigint,
        event text NOT NULL,
        grp text NOT NULL,
        channel text NOT NULL,
        subject text NOT NULL,
        created_at timestamptz NOT NULL,
        attempts integer NOT NULL,
        sent_at timestamptz,
        gave_up boolean NOT NULL,
        last_error text,
        received_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (host, state_id, alert_id)
    );
    CREATE TABLE orc_latest (
        host text NOT NULL,
        folder text NOT NULL,
        task text NOT NULL,
        state_id text NOT NULL,
        run_id bigint NOT NULL,
        started_at timestamptz NOT NULL,
        PRIMARY KEY (host, folder, task)
    );
    INSERT INTO orc_latest
    SELECT DISTINCT ON (host, folder, task) host, folder, task, state_id, run_id, started_at
    FROM orc_runs ORDER BY host, folder, task, started_at DESC, run_id DESC;",
    // 3: the run that started a chained run (its id in the same host's state), and
    // the parameters a run had (a JSON object of names to values).
    "ALTER TABLE orc_runs ADD COLUMN upstream_id bigint;
    ALTER TABLE orc_runs ADD COLUMN params text;",
];

/// Why the fleet database cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("cannot reach the fleet database: {0}")]
    Connect(String),
    #[error("the fleet database: {0}")]
    Query(#[from] postgres::Error),
    #[error(
        "the fleet database has schema version {found}, newer than this orc's {SCHEMA_VERSION}: upgrade orc on this host"
    )]
    Newer { found: i32 },
    #[error("the fleet database has no orc schema: run `orc fleet init`")]
    Uninitialised,
    #[error(
        "the fleet database has schema version {found}; this orc needs {SCHEMA_VERSION}: run `orc fleet init`"
    )]
    Older { found: i32 },
}

pub type Result<T> = std::result::Result<T, FleetError>;

/// A host as the register has it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Host {
    pub host: String,
    pub pool: Option<String>,
    pub version: String,
    /// RFC 3339, UTC.
    pub first_seen: String,
    pub last_contact: String,
    /// Seconds since its last contact, by the database's clock.
    pub silent_secs: i64,
    /// Silent for over [`LATE_AFTER_SECS`].
    pub late: bool,
}

/// A run as the fleet database keeps it: one host's record of it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FleetRun {
    pub host: String,
    /// The state the run is recorded in (its own id, made once): a host's states
    /// (another `--state`, one made anew) number their runs from 1 each.
    pub state_id: String,
    pub folder: String,
    /// The run's id in its host's state.
    pub run_id: i64,
    pub task: String,
    pub status: String,
    pub exit_code: Option<i32>,
    pub attempts: i32,
    pub trigger: Option<String>,
    /// RFC 3339.
    pub started_at: String,
    pub finished_at: Option<String>,
    pub duration_ms: Option<i64>,
    pub scheduled_for: Option<String>,
    pub reason: Option<String>,
    pub duration_flag: Option<String>,
    /// The run (of the same host and state) that started this one by a chain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_id: Option<i64>,
    /// The run's parameters (a JSON object in the database).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub params: Option<std::collections::BTreeMap<String, String>>,
    /// Where the next page of a listing starts, after this run (`RunQuery::before`).
    #[serde(skip)]
    pub cursor: String,
}

/// An alert as the fleet database keeps it: one host's, and how its sending went.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FleetAlert {
    pub host: String,
    pub state_id: String,
    /// The alert's id in its host's state.
    pub alert_id: i64,
    pub task: Option<String>,
    pub run_id: Option<i64>,
    pub event: String,
    pub group: String,
    pub channel: String,
    pub subject: String,
    /// RFC 3339.
    pub created_at: String,
    pub attempts: i32,
    pub sent_at: Option<String>,
    pub gave_up: bool,
    pub last_error: Option<String>,
}

/// A fire of a task of a pool: what hosts race to claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FireKey {
    pub pool: String,
    pub folder: String,
    pub task: String,
    /// RFC 3339.
    pub scheduled_for: String,
}

/// A claim whose lease ran out before its run finished: its holder died, or lost
/// the database, mid-run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Expired {
    pub pool: String,
    pub folder: String,
    pub task: String,
    /// RFC 3339.
    pub scheduled_for: String,
    pub holder: String,
}

impl Expired {
    pub fn fire(&self) -> FireKey {
        FireKey {
            pool: self.pool.clone(),
            folder: self.folder.clone(),
            task: self.task.clone(),
            scheduled_for: self.scheduled_for.clone(),
        }
    }
}

/// How a claim came out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This host runs the fire (it claimed it, or took it over from a host that
    /// died); `fence` tells its writes from a later holder's.
    Won { fence: i64 },
    /// Another host claimed it first.
    Taken { holder: String },
}

/// Which runs `runs` returns.
#[derive(Debug, Clone, Default)]
pub struct RunQuery {
    pub host: Option<String>,
    pub folder: Option<String>,
    pub task: Option<String>,
    pub status: Option<String>,
    /// RFC 3339: runs started at or after it.
    pub since: Option<String>,
    /// A run's `cursor`: only runs listed after it (older).
    pub before: Option<String>,
    pub limit: i64,
}

/// Who holds a fleet-wide lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lease {
    /// This host: it took the lease or renewed it.
    Mine,
    /// Another host, whose lease has not run out.
    Theirs(String),
}

/// A request to run a task now on any host of its pool.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunRequest {
    pub id: i64,
    pub pool: String,
    pub folder: String,
    pub task: String,
    pub requested_by: String,
    /// RFC 3339.
    pub requested_at: String,
    /// The host that took it, once one did.
    pub taken_by: Option<String>,
    pub taken_at: Option<String>,
}

/// A run cursor's parts: started_at (microseconds), host, state id, run id.
fn cursor_parts(cursor: &str) -> Option<(String, String, String, i64)> {
    let (started_at, rest) = cursor.split_once('|')?;
    let (rest, run_id) = rest.rsplit_once('|')?;
    let (host, state_id) = rest.rsplit_once('|')?;
    // Written again as the database reads it: a time jiff reads (with a zone
    // annotation, say) is not always one PostgreSQL does.
    let started_at = started_at.parse::<jiff::Timestamp>().ok()?;
    Some((
        started_at.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        host.to_string(),
        state_id.to_string(),
        run_id.parse().ok()?,
    ))
}

/// Whether `cursor` is one [`Fleet::runs`] can start from.
pub fn valid_cursor(cursor: &str) -> bool {
    cursor_parts(cursor).is_some()
}

/// An open connection to the fleet database.
pub struct Fleet {
    client: Client,
    mode: SslMode,
}

impl Fleet {
    /// Connect to `url`, giving up after `timeout` (an unreachable database must not
    /// hold a command long).
    pub fn connect(url: &str, timeout: Duration) -> Result<Fleet> {
        let split = tls::split(url).map_err(|e| match e {
            FleetError::Connect(why) => FleetError::Connect(masked(&why, url)),
            other => other,
        })?;
        let mut config: postgres::Config = split
            .url
            .parse()
            .map_err(|e: postgres::Error| FleetError::Connect(masked(&e.to_string(), url)))?;
        config.connect_timeout(timeout);
        config.application_name("orc");
        let at = location(&config);
        let connector = tls::connector(split.mode, split.root_cert.as_deref())?;
        // The driver's timeout covers the socket's connect, not the handshake after:
        // a server that accepts and never answers (a stuck server, a full pooler)
        // would hold the caller for ever. So the connect runs in a thread of its own,
        // waited for `timeout` in all; a thread given up on ends when its socket
        // does, and while two of those wait, no more are started.
        use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
        static GIVEN_UP: AtomicUsize = AtomicUsize::new(0);
        if GIVEN_UP.load(SeqCst) >= 2 {
            return Err(FleetError::Connect(format!(
                "{at}: earlier connections to it still wait for an answer"
            )));
        }
        // Whether the caller gave the thread up: set under the lock by the caller,
        // read under it by the thread, so that the count stays true.
        let given_up = std::sync::Arc::new(std::sync::Mutex::new(false));
        let (answer, answered) = std::sync::mpsc::channel();
        {
            let given_up = given_up.clone();
            std::thread::spawn(move || {
                let connected = config.connect(connector);
                let given_up = given_up.lock().unwrap_or_else(|e| e.into_inner());
                if *given_up {
                    GIVEN_UP.fetch_sub(1, SeqCst);
                }
                let _ = answer.send(connected);
            });
        }
        let connected = match answered.recv_timeout(timeout) {
            Ok(connected) => connected,
            Err(_) => {
                let mut given = given_up.lock().unwrap_or_else(|e| e.into_inner());
                // It may have answered just before the lock.
                match answered.try_recv() {
                    Ok(connected) => connected,
                    Err(_) => {
                        *given = true;
                        GIVEN_UP.fetch_add(1, SeqCst);
                        return Err(FleetError::Connect(format!(
                            "{at}: no answer within {} s",
                            timeout.as_secs()
                        )));
                    }
                }
            }
        };
        let client = connected
            .map_err(|e| FleetError::Connect(format!("{at}: {}", masked(&error_chain(&e), url))))?;
        Ok(Fleet {
            client,
            mode: split.mode,
        })
    }

    /// How the connection is protected: the URL's sslmode, and the TLS version in
    /// use (none when not encrypted), as the server sees it.
    pub fn tls(&mut self) -> Result<(SslMode, Option<String>)> {
        let version: Option<String> = self
            .client
            .query_opt(
                "SELECT version FROM pg_stat_ssl WHERE pid = pg_backend_pid() AND ssl",
                &[],
            )?
            .map(|r| r.get(0));
        Ok((self.mode, version))
    }

    /// The server's version string.
    pub fn server_version(&mut self) -> Result<String> {
        Ok(self.client.query_one("SHOW server_version", &[])?.get(0))
    }

    /// The schema's version; none before `init`.
    pub fn schema_version(&mut self) -> Result<Option<i32>> {
        let exists: bool = self
            .client
            .query_one("SELECT to_regclass('orc_schema') IS NOT NULL", &[])?
            .get(0);
        if !exists {
            return Ok(None);
        }
        Ok(self
            .client
            .query_opt("SELECT version FROM orc_schema", &[])?
            .map(|r| r.get(0)))
    }

    /// Create or upgrade the schema to this orc's version; the versions it went
    /// from and to. Several hosts may run it at once: an advisory lock orders them.
    pub fn init(&mut self) -> Result<(i32, i32)> {
        let mut tx = self.client.transaction()?;
        // A key of orc's own: "orc" as a number.
        tx.execute("SELECT pg_advisory_xact_lock(7303011)", &[])?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS orc_schema (version integer NOT NULL)")?;
        let found: i32 = match tx.query_opt("SELECT version FROM orc_schema", &[])? {
            Some(row) => row.get(0),
            None => {
                tx.execute("INSERT INTO orc_schema (version) VALUES (0)", &[])?;
                0
            }
        };
        if found > SCHEMA_VERSION {
            return Err(FleetError::Newer { found });
        }
        for step in &MIGRATIONS[found as usize..] {
            tx.batch_execute(step)?;
        }
        tx.execute("UPDATE orc_schema SET version = $1", &[&SCHEMA_VERSION])?;
        tx.commit()?;
        Ok((found, SCHEMA_VERSION))
    }

    /// Fail unless the schema is this orc's.
    pub fn check_schema(&mut self) -> Result<()> {
        match self.schema_version()? {
            None => Err(FleetError::Uninitialised),
            Some(v) if v == SCHEMA_VERSION => Ok(()),
            Some(found) if found > SCHEMA_VERSION => Err(FleetError::Newer { found }),
            Some(found) => Err(FleetError::Older { found }),
        }
    }

    /// Record that `host` (of `pool`, running orc `version`) is alive, by the
    /// database's clock.
    pub fn contact(&mut self, host: &str, pool: Option<&str>, version: &str) -> Result<()> {
        self.check_schema()?;
        self.client.execute(
            "INSERT INTO orc_hosts (host, pool, version) VALUES ($1, $2, $3)
             ON CONFLICT (host) DO UPDATE
             SET pool = EXCLUDED.pool, version = EXCLUDED.version, last_contact = now()",
            &[&host, &pool, &version],
        )?;
        Ok(())
    }

    /// Store `runs` in one transaction. A run sent again replaces what was stored
    /// (its state only moves on), except that a finished run is never set back to
    /// running by a copy sent before it finished.
    pub fn upsert_runs(&mut self, runs: &[FleetRun]) -> Result<()> {
        let mut tx = self.client.transaction()?;
        let statement = tx.prepare(
            "INSERT INTO orc_runs (host, folder, run_id, task, status, exit_code, attempts,
                 trigger, started_at, finished_at, duration_ms, scheduled_for, reason,
                 duration_flag, state_id, upstream_id, params)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, ($9::text)::timestamptz,
                 ($10::text)::timestamptz, $11, ($12::text)::timestamptz, $13, $14, $15,
                 $16, $17)
             ON CONFLICT (host, state_id, folder, run_id) DO UPDATE SET
                 task = EXCLUDED.task, status = EXCLUDED.status,
                 exit_code = EXCLUDED.exit_code, attempts = EXCLUDED.attempts,
                 trigger = EXCLUDED.trigger, started_at = EXCLUDED.started_at,
                 finished_at = EXCLUDED.finished_at, duration_ms = EXCLUDED.duration_ms,
                 scheduled_for = EXCLUDED.scheduled_for, reason = EXCLUDED.reason,
                 duration_flag = EXCLUDED.duration_flag, upstream_id = EXCLUDED.upstream_id,
                 params = EXCLUDED.params, received_at = now()
             WHERE orc_runs.status = 'running' OR EXCLUDED.status <> 'running'",
        )?;
        let latest = tx.prepare(
            "INSERT INTO orc_latest (host, folder, task, state_id, run_id, started_at)
             VALUES ($1, $2, $3, $4, $5, ($6::text)::timestamptz)
             ON CONFLICT (host, folder, task) DO UPDATE SET
                 state_id = EXCLUDED.state_id, run_id = EXCLUDED.run_id,
                 started_at = EXCLUDED.started_at
             WHERE (orc_latest.started_at, orc_latest.run_id)
                   <= (EXCLUDED.started_at, EXCLUDED.run_id)",
        )?;
        for r in runs {
            let params = r
                .params
                .as_ref()
                .and_then(|p| serde_json::to_string(p).ok());
            tx.execute(
                &statement,
                &[
                    &r.host,
                    &r.folder,
                    &r.run_id,
                    &r.task,
                    &r.status,
                    &r.exit_code,
                    &r.attempts,
                    &r.trigger,
                    &r.started_at,
                    &r.finished_at,
                    &r.duration_ms,
                    &r.scheduled_for,
                    &r.reason,
                    &r.duration_flag,
                    &r.state_id,
                    &r.upstream_id,
                    &params,
                ],
            )?;
            tx.execute(
                &latest,
                &[
                    &r.host,
                    &r.folder,
                    &r.task,
                    &r.state_id,
                    &r.run_id,
                    &r.started_at,
                ],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Store `alerts` in one transaction; one sent again replaces what was stored.
    pub fn upsert_alerts(&mut self, alerts: &[FleetAlert]) -> Result<()> {
        let mut tx = self.client.transaction()?;
        let statement = tx.prepare(
            "INSERT INTO orc_alerts (host, state_id, alert_id, task, run_id, event, grp, channel,
                 subject, created_at, attempts, sent_at, gave_up, last_error)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, ($10::text)::timestamptz, $11,
                 ($12::text)::timestamptz, $13, $14)
             ON CONFLICT (host, state_id, alert_id) DO UPDATE SET
                 attempts = EXCLUDED.attempts, sent_at = EXCLUDED.sent_at,
                 gave_up = EXCLUDED.gave_up, last_error = EXCLUDED.last_error,
                 received_at = now()",
        )?;
        for a in alerts {
            tx.execute(
                &statement,
                &[
                    &a.host,
                    &a.state_id,
                    &a.alert_id,
                    &a.task,
                    &a.run_id,
                    &a.event,
                    &a.group,
                    &a.channel,
                    &a.subject,
                    &a.created_at,
                    &a.attempts,
                    &a.sent_at,
                    &a.gave_up,
                    &a.last_error,
                ],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Claim `fire` for `holder` with one insert (the database's clock, its unique
    /// key): the first of racing hosts wins, the others see who did.
    pub fn claim(&mut self, fire: &FireKey, holder: &str, lease: Duration) -> Result<Claim> {
        let won = self.client.query_opt(
            "INSERT INTO orc_claims (pool, folder, task, scheduled_for, holder, fence, lease_until)
             VALUES ($1, $2, $3, ($4::text)::timestamptz, $5, nextval('orc_fences'),
                     now() + make_interval(secs => $6))
             ON CONFLICT DO NOTHING RETURNING fence",
            &[
                &fire.pool,
                &fire.folder,
                &fire.task,
                &fire.scheduled_for,
                &holder,
                &lease.as_secs_f64(),
            ],
        )?;
        if let Some(row) = won {
            return Ok(Claim::Won { fence: row.get(0) });
        }
        let row = self.client.query_opt(
            "SELECT holder, fence, finished_at IS NULL AND lease_until > now() FROM orc_claims
             WHERE pool = $1 AND folder = $2 AND task = $3
               AND scheduled_for = ($4::text)::timestamptz",
            &[&fire.pool, &fire.folder, &fire.task, &fire.scheduled_for],
        )?;
        Ok(match row {
            // This host took the fire over (`take_over`) and now starts its run; a
            // second start of the same fire here is stopped by the state's own
            // once-per-fire rule.
            Some(r) if r.try_get::<_, String>(0)? == holder && r.try_get::<_, bool>(2)? => {
                Claim::Won {
                    fence: r.try_get(1)?,
                }
            }
            Some(r) => Claim::Taken {
                holder: r.try_get(0)?,
            },
            None => Claim::Taken {
                holder: "another host".to_string(),
            },
        })
    }

    /// Extend the lease of the claim `fence` holds; false when it is no longer its
    /// (another host took the fire over) or the run was finished.
    pub fn renew(&mut self, fire: &FireKey, fence: i64, lease: Duration) -> Result<bool> {
        let n = self.client.execute(
            "UPDATE orc_claims SET lease_until = now() + make_interval(secs => $6)
             WHERE pool = $1 AND folder = $2 AND task = $3
               AND scheduled_for = ($4::text)::timestamptz AND fence = $5 AND finished_at IS NULL",
            &[
                &fire.pool,
                &fire.folder,
                &fire.task,
                &fire.scheduled_for,
                &fence,
                &lease.as_secs_f64(),
            ],
        )?;
        Ok(n == 1)
    }

    /// Record the end of the run the claim `fence` holds; false (nothing written)
    /// when the claim is no longer its: a late holder's result cannot overwrite the
    /// one that took over.
    pub fn finish(&mut self, fire: &FireKey, fence: i64, status: &str) -> Result<bool> {
        let n = self.client.execute(
            "UPDATE orc_claims SET finished_at = now(), status = $6
             WHERE pool = $1 AND folder = $2 AND task = $3
               AND scheduled_for = ($4::text)::timestamptz AND fence = $5 AND finished_at IS NULL",
            &[
                &fire.pool,
                &fire.folder,
                &fire.task,
                &fire.scheduled_for,
                &fence,
                &status,
            ],
        )?;
        Ok(n == 1)
    }

    /// The claims of `pool` whose lease ran out before their run finished and that
    /// no host alerted yet, of the `tasks` (folder, name) the sweeping host has (only
    /// a host that has the task can alert its groups); each is marked alerted as it is
    /// returned, so that of the hosts sweeping at once exactly one alerts it.
    pub fn take_expired(&mut self, pool: &str, tasks: &[(String, String)]) -> Result<Vec<Expired>> {
        let folders: Vec<&str> = tasks.iter().map(|(f, _)| f.as_str()).collect();
        let names: Vec<&str> = tasks.iter().map(|(_, t)| t.as_str()).collect();
        let rows = self.client.query(
            "UPDATE orc_claims SET alerted_at = now()
             WHERE pool = $1 AND finished_at IS NULL AND lease_until < now() AND alerted_at IS NULL
               AND (folder, task) IN (SELECT * FROM unnest($2::text[], $3::text[]))
             RETURNING pool, folder, task,
                 to_char(scheduled_for AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), holder",
            &[&pool, &folders, &names],
        )?;
        Ok(readable(&rows, expired))
    }

    /// The claims of `pool` whose lease ran out before their run finished.
    pub fn expired(&mut self, pool: &str) -> Result<Vec<Expired>> {
        let rows = self.client.query(
            "SELECT pool, folder, task,
                 to_char(scheduled_for AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), holder
             FROM orc_claims WHERE pool = $1 AND finished_at IS NULL AND lease_until < now()",
            &[&pool],
        )?;
        Ok(readable(&rows, expired))
    }

    /// Take the expired claim of `fire` over for `holder`, with a new fence (the
    /// old holder's late writes are refused from now on): the new fence, when this
    /// host got it. Of hosts trying at once, one does.
    pub fn take_over(
        &mut self,
        fire: &FireKey,
        holder: &str,
        lease: Duration,
    ) -> Result<Option<i64>> {
        let taken = self.client.query_opt(
            "UPDATE orc_claims SET taken_over_from = holder, holder = $5,
                 fence = nextval('orc_fences'), claimed_at = now(),
                 lease_until = now() + make_interval(secs => $6)
             WHERE pool = $1 AND folder = $2 AND task = $3
               AND scheduled_for = ($4::text)::timestamptz
               AND finished_at IS NULL AND lease_until < now()
             RETURNING fence",
            &[
                &fire.pool,
                &fire.folder,
                &fire.task,
                &fire.scheduled_for,
                &holder,
                &lease.as_secs_f64(),
            ],
        )?;
        Ok(taken.map(|r| r.try_get(0)).transpose()?)
    }

    /// The fleet's runs, newest first (a page of them: `limit` after `before`).
    pub fn runs(&mut self, q: &RunQuery) -> Result<Vec<FleetRun>> {
        self.check_schema()?;
        let (at, host, state, id) = match q.before.as_deref().and_then(cursor_parts) {
            Some((a, h, s, i)) => (Some(a), Some(h), Some(s), Some(i)),
            None => (None, None, None, None),
        };
        // One order for every listing, the index's (orc_runs_page), so that a page
        // starts where the last ended even among runs started at the same moment.
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM orc_runs
             WHERE ($1::text IS NULL OR host = $1) AND ($2::text IS NULL OR folder = $2)
               AND ($3::text IS NULL OR task = $3) AND ($5::text IS NULL OR status = $5)
               AND ($6::text IS NULL OR started_at >= ($6::text)::timestamptz)
               AND ($7::text IS NULL
                    OR (started_at, host, state_id, run_id) < (($7::text)::timestamptz, $8, $9, $10))
             ORDER BY started_at DESC, host DESC, state_id DESC, run_id DESC LIMIT $4"
        );
        let rows = self.client.query(
            &sql,
            &[
                &q.host, &q.folder, &q.task, &q.limit, &q.status, &q.since, &at, &host, &state, &id,
            ],
        )?;
        Ok(readable(&rows, fleet_run))
    }

    /// How many runs each host recorded of each task, by status.
    pub fn run_counts(&mut self) -> Result<Vec<(String, String, String, i64)>> {
        self.check_schema()?;
        let rows = self.client.query(
            "SELECT host, task, status, count(*) FROM orc_runs
             GROUP BY host, task, status ORDER BY host, task, status",
            &[],
        )?;
        Ok(readable(&rows, |r| {
            Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?))
        }))
    }

    /// When each host's tasks last succeeded (Unix seconds).
    pub fn last_successes(&mut self) -> Result<Vec<(String, String, f64)>> {
        self.check_schema()?;
        let rows = self.client.query(
            "SELECT host, task, extract(epoch FROM max(coalesce(finished_at, started_at)))::float8
             FROM orc_runs WHERE status IN ('success', 'warning') GROUP BY host, task ORDER BY host, task",
            &[],
        )?;
        Ok(readable(&rows, |r| {
            Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?))
        }))
    }

    /// Take the fleet-wide lease `name` for `holder`, or renew it when it is
    /// already `holder`'s, for `ttl` from now (the database's clock); one statement,
    /// so of hosts trying at once one gets it. A lease another host holds and
    /// renews stays theirs: renewal succeeds only `WHERE holder = me`.
    pub fn take_lease(&mut self, name: &str, holder: &str, ttl: Duration) -> Result<Lease> {
        self.check_schema()?;
        let mine = self.client.query_opt(
            "INSERT INTO orc_leases (name, holder, until)
             VALUES ($1, $2, now() + make_interval(secs => $3))
             ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, until = EXCLUDED.until
             WHERE orc_leases.holder = EXCLUDED.holder OR orc_leases.until < now()
             RETURNING holder",
            &[&name, &holder, &ttl.as_secs_f64()],
        )?;
        if mine.is_some() {
            return Ok(Lease::Mine);
        }
        let other = self
            .client
            .query_opt("SELECT holder FROM orc_leases WHERE name = $1", &[&name])?
            .and_then(|r| r.try_get(0).ok())
            .unwrap_or_else(|| "another host".to_string());
        Ok(Lease::Theirs(other))
    }

    /// Give the lease `name` up, if `holder` holds it.
    pub fn release_lease(&mut self, name: &str, holder: &str) -> Result<()> {
        self.client.execute(
            "DELETE FROM orc_leases WHERE name = $1 AND holder = $2",
            &[&name, &holder],
        )?;
        Ok(())
    }

    /// The hosts of `pool` (none: the hosts without one) silent for over
    /// `after` and not yet alerted; each is marked alerted as it is returned.
    pub fn take_silent(&mut self, pool: Option<&str>, after: Duration) -> Result<Vec<Host>> {
        self.check_schema()?;
        let rows = self.client.query(
            &format!(
                "UPDATE orc_hosts SET silent_alerted_at = now()
                 WHERE pool IS NOT DISTINCT FROM $1 AND silent_alerted_at IS NULL
                   AND last_contact < now() - make_interval(secs => $2)
                 RETURNING {HOST_COLUMNS}"
            ),
            &[&pool, &after.as_secs_f64()],
        )?;
        Ok(readable(&rows, host))
    }

    /// The hosts of `pool` alerted as silent that made contact since; each is
    /// marked back as it is returned.
    pub fn take_returned(&mut self, pool: Option<&str>) -> Result<Vec<Host>> {
        let rows = self.client.query(
            &format!(
                "UPDATE orc_hosts SET silent_alerted_at = NULL
                 WHERE pool IS NOT DISTINCT FROM $1 AND silent_alerted_at IS NOT NULL
                   AND last_contact > silent_alerted_at
                 RETURNING {HOST_COLUMNS}"
            ),
            &[&pool],
        )?;
        Ok(readable(&rows, host))
    }

    /// Of `fires` (RFC 3339) of a task of `pool`, those no host claimed: each is
    /// marked in the claims as missed, so that it is reported once (whichever host
    /// sweeps) and no host runs it late.
    pub fn mark_unclaimed(
        &mut self,
        (pool, folder, task): (&str, &str, &str),
        fires: &[String],
    ) -> Result<Vec<String>> {
        let rows = self.client.query(
            &format!(
                "INSERT INTO orc_claims (pool, folder, task, scheduled_for, holder, fence,
                     lease_until, finished_at, status)
                 SELECT $1, $2, $3, f::timestamptz, '{MISSED_HOLDER}', nextval('orc_fences'),
                     now(), now(), 'missed'
                 FROM unnest($4::text[]) AS f
                 ON CONFLICT DO NOTHING
                 RETURNING to_char(scheduled_for AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
            ),
            &[&pool, &folder, &task, &fires],
        )?;
        let mut missed: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        missed.sort();
        Ok(missed)
    }

    /// Ask for a run of `task` now, on whichever host of `pool` takes it first.
    pub fn request_run(
        &mut self,
        (pool, folder, task): (&str, &str, &str),
        requested_by: &str,
    ) -> Result<RunRequest> {
        self.check_schema()?;
        let row = self.client.query_one(
            &format!(
                "INSERT INTO orc_requests (pool, folder, task, requested_by)
                 VALUES ($1, $2, $3, $4) RETURNING {REQUEST_COLUMNS}"
            ),
            &[&pool, &folder, &task, &requested_by],
        )?;
        Ok(request(&row)?)
    }

    /// The request `id`, as it stands.
    pub fn run_request(&mut self, id: i64) -> Result<Option<RunRequest>> {
        self.check_schema()?;
        let row = self.client.query_opt(
            &format!("SELECT {REQUEST_COLUMNS} FROM orc_requests WHERE id = $1"),
            &[&id],
        )?;
        Ok(row.as_ref().map(request).transpose()?)
    }

    /// Take the open requests of `pool` for the `tasks` (folder, name) this host
    /// has, oldest first, one per task (a second would find the first still
    /// running): rows another host is taking at the same moment are skipped
    /// (`FOR UPDATE SKIP LOCKED`), so each request goes to one host.
    pub fn take_requests(
        &mut self,
        pool: &str,
        host: &str,
        tasks: &[(String, String)],
    ) -> Result<Vec<RunRequest>> {
        let folders: Vec<&str> = tasks.iter().map(|(f, _)| f.as_str()).collect();
        let names: Vec<&str> = tasks.iter().map(|(_, t)| t.as_str()).collect();
        let mut tx = self.client.transaction()?;
        let open = tx.query(
            "SELECT id, folder, task FROM orc_requests
             WHERE pool = $1 AND taken_by IS NULL
               AND (folder, task) IN (SELECT * FROM unnest($2::text[], $3::text[]))
             ORDER BY id LIMIT 100 FOR UPDATE SKIP LOCKED",
            &[&pool, &folders, &names],
        )?;
        let mut ids: Vec<i64> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let open = readable(&open, |r| {
            Ok((
                r.try_get::<_, i64>(0)?,
                r.try_get::<_, String>(1)?,
                r.try_get::<_, String>(2)?,
            ))
        });
        for (id, folder, task) in open {
            if seen.insert((folder, task)) {
                ids.push(id);
            }
        }
        let rows = tx.query(
            &format!(
                "UPDATE orc_requests SET taken_by = $1, taken_at = now() WHERE id = ANY($2)
                 RETURNING {REQUEST_COLUMNS}"
            ),
            &[&host, &ids],
        )?;
        tx.commit()?;
        let mut taken: Vec<RunRequest> = readable(&rows, request);
        taken.sort_by_key(|r| r.id);
        Ok(taken)
    }

    /// Each host's last run of each task (of `host` alone, if given), by host,
    /// folder and task.
    pub fn latest_runs(&mut self, host: Option<&str>) -> Result<Vec<FleetRun>> {
        self.check_schema()?;
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM orc_runs
             WHERE (host, state_id, folder, run_id) IN (
                 SELECT host, state_id, folder, run_id FROM orc_latest
                 WHERE $1::text IS NULL OR host = $1)
             ORDER BY host, folder, task"
        );
        Ok(self
            .client
            .query(&sql, &[&host])
            .map(|rows| readable(&rows, fleet_run))?)
    }

    /// Every host seen, by name.
    pub fn hosts(&mut self) -> Result<Vec<Host>> {
        self.check_schema()?;
        let rows = self.client.query(
            &format!("SELECT {HOST_COLUMNS} FROM orc_hosts ORDER BY host"),
            &[],
        )?;
        Ok(readable(&rows, host))
    }
}

/// The holder of a claim a sweep marked missed: no host.
pub const MISSED_HOLDER: &str = "(no host)";

const HOST_COLUMNS: &str = "host, pool, version,
    to_char(first_seen AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
    to_char(last_contact AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
    CASE WHEN isfinite(last_contact) THEN extract(epoch FROM now() - last_contact)::bigint END";

/// A row as read: an error for one in a shape orc does not write (a NULL where it
/// writes none, a time out of range), which another writer of the database may leave.
type Read<T> = std::result::Result<T, postgres::Error>;

/// The rows `read` can read; one it cannot is skipped with a warning (one bad row
/// must not hide the others, nor take a host's fleet thread down).
fn readable<T>(rows: &[postgres::Row], read: fn(&postgres::Row) -> Read<T>) -> Vec<T> {
    rows.iter()
        .filter_map(|r| {
            read(r)
                .map_err(|e| tracing::warn!("fleet: a row of the database is skipped: {e}"))
                .ok()
        })
        .collect()
}

fn host(r: &postgres::Row) -> Read<Host> {
    Ok(Host {
        host: r.try_get(0)?,
        pool: r.try_get(1)?,
        version: r.try_get(2)?,
        first_seen: r.try_get(3)?,
        last_contact: r.try_get(4)?,
        // A contact time no host writes (infinity) is no contact.
        silent_secs: r.try_get::<_, Option<i64>>(5)?.unwrap_or(i64::MAX),
        late: r
            .try_get::<_, Option<i64>>(5)?
            .is_none_or(|s| s > LATE_AFTER_SECS),
    })
}

const REQUEST_COLUMNS: &str = "id, pool, folder, task, requested_by,
    to_char(requested_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), taken_by,
    to_char(taken_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')";

fn request(r: &postgres::Row) -> Read<RunRequest> {
    Ok(RunRequest {
        id: r.try_get(0)?,
        pool: r.try_get(1)?,
        folder: r.try_get(2)?,
        task: r.try_get(3)?,
        requested_by: r.try_get(4)?,
        requested_at: r.try_get(5)?,
        taken_by: r.try_get(6)?,
        taken_at: r.try_get(7)?,
    })
}

/// The columns of `orc_runs` as [`fleet_run`] reads them (times as RFC 3339, UTC).
const RUN_COLUMNS: &str =
    "host, state_id, folder, run_id, task, status, exit_code, attempts, trigger,
    to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),
    to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), duration_ms,
    to_char(scheduled_for AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), reason,
    duration_flag,
    to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),
    upstream_id, params";

fn fleet_run(r: &postgres::Row) -> Read<FleetRun> {
    Ok(FleetRun {
        host: r.try_get(0)?,
        state_id: r.try_get(1)?,
        folder: r.try_get(2)?,
        run_id: r.try_get(3)?,
        task: r.try_get(4)?,
        status: r.try_get(5)?,
        exit_code: r.try_get(6)?,
        attempts: r.try_get(7)?,
        trigger: r.try_get(8)?,
        started_at: r.try_get(9)?,
        finished_at: r.try_get(10)?,
        duration_ms: r.try_get(11)?,
        scheduled_for: r.try_get(12)?,
        reason: r.try_get(13)?,
        duration_flag: r.try_get(14)?,
        upstream_id: r.try_get(16)?,
        // Text in shapes orc does not write is left out.
        params: r
            .try_get::<_, Option<String>>(17)?
            .and_then(|p| serde_json::from_str(&p).ok()),
        cursor: format!(
            "{}|{}|{}|{}",
            r.try_get::<_, String>(15)?,
            r.try_get::<_, String>(0)?,
            r.try_get::<_, String>(1)?,
            r.try_get::<_, i64>(3)?
        ),
    })
}

fn expired(r: &postgres::Row) -> Read<Expired> {
    Ok(Expired {
        pool: r.try_get(0)?,
        folder: r.try_get(1)?,
        task: r.try_get(2)?,
        scheduled_for: r.try_get(3)?,
        holder: r.try_get(4)?,
    })
}

/// Where a connection goes, for errors: host:port/database (never the user or the
/// password).
fn location(config: &postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(name)) => name.clone(),
        #[cfg(unix)]
        Some(postgres::config::Host::Unix(path)) => path.display().to_string(),
        None => "localhost".to_string(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "{host}:{port}/{}",
        config.get_dbname().unwrap_or("(default)")
    )
}

/// An error with its causes (a TLS failure is the cause of "error connecting").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    text
}

/// `text` with the URL's password, if any, replaced (errors may quote the URL): in
/// `user:password@` (up to the last `@`), `?password=` or `password=` of a key=value
/// string.
fn masked(text: &str, url: &str) -> String {
    let in_userinfo = url
        .split_once("://")
        .and_then(|(_, rest)| rest.split('?').next()?.rsplit_once('@'))
        .and_then(|(user, _)| user.split_once(':'))
        .map(|(_, password)| password);
    let in_options = url
        .split(['?', '&', ' '])
        .find_map(|pair| pair.strip_prefix("password="));
    let mut text = text.to_string();
    for p in [in_userinfo, in_options].into_iter().flatten() {
        // A one- or two-letter password would mask every such letter of the
        // message; it is too short to be one anyway.
        if p.len() > 2 {
            text = text.replace(p, "****");
        }
    }
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_password_in_the_url_is_masked() {
        assert_eq!(
            super::masked("bad s3cret here", "postgres://orc:s3cret@db/orc"),
            "bad **** here"
        );
        assert_eq!(super::masked("x", "postgres://db/orc"), "x");
        assert_eq!(
            super::masked("no p@ss here", "postgres://orc:p@ss@db/orc"),
            "no **** here"
        );
        assert_eq!(
            super::masked(
                "got hunter22",
                "postgres://orc@db/orc?sslmode=require&password=hunter22"
            ),
            "got ****"
        );
    }
}
