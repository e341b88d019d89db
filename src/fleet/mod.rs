//! Fleet mode: the PostgreSQL database the servers of a fleet share (`[fleet]`). This
//! module holds the database's schema, versioned and migrated like the SQLite state's,
//! and the hosts' register. Without `[fleet]` nothing here runs.

use std::time::Duration;

use postgres::{Client, NoTls};

/// The schema version this orc writes and reads.
pub const SCHEMA_VERSION: i32 = 1;

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
        folder text NOT NULL,
        run_id bigint NOT NULL,
        task text NOT NULL,
        status text NOT NULL,
        exit_code integer,
        attempts integer NOT NULL DEFAULT 0,
        started_at timestamptz,
        finished_at timestamptz,
        PRIMARY KEY (host, folder, run_id)
    );
    CREATE INDEX orc_runs_task ON orc_runs (folder, task, started_at DESC);
    CREATE TABLE orc_claims (
        pool text NOT NULL,
        folder text NOT NULL,
        task text NOT NULL,
        scheduled_for timestamptz NOT NULL,
        holder text NOT NULL,
        fence bigserial NOT NULL,
        lease_until timestamptz NOT NULL,
        claimed_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (pool, folder, task, scheduled_for)
    );
    CREATE TABLE orc_leases (
        name text PRIMARY KEY,
        holder text NOT NULL,
        until timestamptz NOT NULL
    );",
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
}

/// An open connection to the fleet database.
pub struct Fleet {
    client: Client,
}

impl Fleet {
    /// Connect to `url`, giving up after `timeout` (an unreachable database must not
    /// hold a command long).
    pub fn connect(url: &str, timeout: Duration) -> Result<Fleet> {
        let mut config: postgres::Config = url
            .parse()
            .map_err(|e: postgres::Error| FleetError::Connect(masked(&e.to_string(), url)))?;
        config.connect_timeout(timeout);
        config.application_name("orc");
        let client = config
            .connect(NoTls)
            .map_err(|e| FleetError::Connect(masked(&e.to_string(), url)))?;
        Ok(Fleet { client })
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

    /// Every host seen, by name.
    pub fn hosts(&mut self) -> Result<Vec<Host>> {
        self.check_schema()?;
        let rows = self.client.query(
            "SELECT host, pool, version,
                    to_char(first_seen AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
                    to_char(last_contact AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
                    extract(epoch FROM now() - last_contact)::bigint
             FROM orc_hosts ORDER BY host",
            &[],
        )?;
        Ok(rows
            .iter()
            .map(|r| Host {
                host: r.get(0),
                pool: r.get(1),
                version: r.get(2),
                first_seen: r.get(3),
                last_contact: r.get(4),
                silent_secs: r.get(5),
            })
            .collect())
    }
}

/// `text` with the URL's password, if any, replaced (errors may quote the URL).
fn masked(text: &str, url: &str) -> String {
    let password = url
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .and_then(|(user, _)| user.split_once(':'))
        .map(|(_, password)| password)
        .filter(|p| !p.is_empty());
    match password {
        Some(p) => text.replace(p, "****"),
        None => text.to_string(),
    }
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
    }
}
