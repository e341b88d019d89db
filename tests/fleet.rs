//! Fleet mode against a real PostgreSQL: `orc fleet init` run by several hosts at
//! once creates the schema once and registers each host; `status` and `hosts` say
//! what the database holds; a database from a newer orc is refused; an unreachable
//! database is a clear error that prints no password; a password written into the
//! config is refused before anything connects.
//!
//! Each run gets a throwaway cluster from `pg_virtualenv` (Debian's postgresql-common,
//! offline, as root): without PGHOST set, this suite runs itself again under it.
//! With PGHOST (and PGUSER, PGPASSWORD, PGPORT) set, it uses that server, creating one
//! database per test. Without either, the tests are reported as ignored, saying so
//! (under CI they fail).

use std::process::{Command, ExitCode, Output};

mod common;
use common::{TestEnv, exit_and_output as text};

/// Set in the copy of this suite that pg_virtualenv runs.
const UNDER_VIRTUALENV: &str = "ORC_TEST_UNDER_PG_VIRTUALENV";

/// The server's address from libpq's variables, with a database of its own.
fn url_of(database: &str) -> String {
    let var = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    format!(
        "postgres://{}:{}@{}:{}/{database}",
        var("PGUSER", "postgres"),
        var("PGPASSWORD", ""),
        var("PGHOST", "localhost"),
        var("PGPORT", "5432"),
    )
}

/// `psql -c SQL` in `database`: what it printed, unaligned.
fn psql(database: &str, sql: &str) -> String {
    let o = Command::new("psql")
        .args([
            "-X",
            "-At",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            database,
            "-c",
            sql,
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "psql {sql}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// A fresh database named `name`, and an orc folder whose config's `[fleet]` names it
/// through the vault's secret `fleet_db`.
fn fleet_world(name: &str) -> TestEnv {
    psql("postgres", &format!("DROP DATABASE IF EXISTS {name}"));
    psql("postgres", &format!("CREATE DATABASE {name}"));
    let env = TestEnv::builder()
        .config(
            "[settings]\nbackend = \"embedded\"\n\n[fleet]\nurl = { secret = \"fleet_db\" }\npool = \"etl\"\n\n[tasks.clock]\ncommand = \"date\"\nschedule = \"0 3 * * *\"\nparams = { region = \"eu\" }\n",
        )
        .build();
    env.orc_ok_text(&["secret", "init"]);
    env.secret_set("fleet_db", &url_of(name));
    env
}

fn as_host(env: &TestEnv, host: &str, args: &[&str]) -> Output {
    env.orc_with(args, &[("ORC_HOSTNAME", host)])
}

/// orc with `args` on `env` as `host`, not started yet.
fn host_command(env: &TestEnv, host: &str, args: &[&str]) -> Command {
    let mut command = env.command(args);
    command.env("ORC_HOSTNAME", host);
    command
}

/// Run `commands` at once (each started before any is waited for): what each did.
fn at_once(commands: impl IntoIterator<Item = Command>) -> Vec<Output> {
    let children: Vec<_> = commands
        .into_iter()
        .map(|mut c| {
            c.stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect()
}

fn json(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", text(o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(o)))
}

fn hosts_racing_on_init_create_the_schema_once() {
    let env = fleet_world("orc_init");
    let status = as_host(&env, "web1", &["fleet", "status", "--json"]);
    assert_eq!(status.status.code(), Some(1), "{}", text(&status));
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(
        status["schema_version"],
        serde_json::Value::Null,
        "{status}"
    );

    // Five hosts at once: the advisory lock orders them, one migrates, the others
    // find the schema made.
    let results: Vec<serde_json::Value> = at_once(
        (1..=5).map(|i| host_command(&env, &format!("etl{i}"), &["fleet", "init", "--json"])),
    )
    .iter()
    .map(json)
    .collect();
    let migrated = results.iter().filter(|r| r["from"] == 0).count();
    assert_eq!(migrated, 1, "exactly one host migrates: {results:?}");
    let latest = orc::fleet::SCHEMA_VERSION;
    assert!(results.iter().all(|r| r["to"] == latest), "{results:?}");
    assert_eq!(psql("orc_init", "SELECT count(*) FROM orc_schema"), "1");

    let status = json(&as_host(&env, "web1", &["fleet", "status", "--json"]));
    assert_eq!(status["schema_version"], latest, "{status}");
    assert!(
        status["server_version"]
            .as_str()
            .unwrap()
            .starts_with(char::is_numeric),
        "{status}"
    );
    let hosts = json(&as_host(&env, "web1", &["fleet", "hosts", "--json"]));
    let names: Vec<&str> = hosts
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["host"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["etl1", "etl2", "etl3", "etl4", "etl5"], "{hosts}");
    assert!(hosts.as_array().unwrap().iter().all(|h| h["pool"] == "etl"));
    let table = as_host(&env, "web1", &["fleet", "hosts"]);
    assert!(text(&table).contains("etl3"), "{}", text(&table));

    // orc doctor checks the connection and the schema.
    let doctor = as_host(&env, "etl1", &["doctor", "--json"]);
    let doctor: serde_json::Value = serde_json::from_slice(&doctor.stdout).unwrap();
    let check = doctor
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "fleet")
        .unwrap_or_else(|| panic!("{doctor}"));
    assert_eq!(check["status"], "ok", "{check}");
    assert!(
        check["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("schema version {latest}")),
        "{check}"
    );

    // Init again is a no-op that says so.
    let again = as_host(&env, "etl1", &["fleet", "init"]);
    assert!(again.status.success(), "{}", text(&again));
    assert!(text(&again).contains("nothing to do"), "{}", text(&again));

    // A database an older orc made (version 1: before run requests) is refused
    // until init upgrades it, keeping what it holds.
    psql(
        "orc_init",
        "DROP TABLE orc_requests; DROP INDEX orc_runs_host; DROP INDEX orc_runs_page;
         DROP INDEX orc_runs_by_task; DROP INDEX orc_runs_status; DROP TABLE orc_alerts;
         DROP TABLE orc_latest;
         INSERT INTO orc_runs (host, state_id, folder, run_id, task, status, started_at)
         VALUES ('etl1', 's', 'Orc', 1, 'a', 'success', now() - interval '1 hour'),
                ('etl1', 's', 'Orc', 2, 'a', 'failed', now());
         CREATE INDEX orc_runs_started ON orc_runs (started_at DESC);
         ALTER TABLE orc_hosts DROP COLUMN silent_alerted_at;
         ALTER TABLE orc_runs DROP COLUMN upstream_id; ALTER TABLE orc_runs DROP COLUMN params;
         UPDATE orc_schema SET version = 1",
    );
    let old = as_host(&env, "etl1", &["fleet", "hosts"]);
    assert_eq!(old.status.code(), Some(1), "{}", text(&old));
    assert!(text(&old).contains("orc fleet init"), "{}", text(&old));
    let upgraded = json(&as_host(&env, "etl1", &["fleet", "init", "--json"]));
    assert_eq!(
        (upgraded["from"].clone(), upgraded["to"].clone()),
        (1.into(), latest.into())
    );
    assert_eq!(psql("orc_init", "SELECT count(*) FROM orc_hosts"), "5");
    assert_eq!(psql("orc_init", "SELECT count(*) FROM orc_requests"), "0");
    // Each host's last run of each task, found in the runs it held.
    assert_eq!(
        psql(
            "orc_init",
            "SELECT host || ':' || task || '#' || run_id FROM orc_latest"
        ),
        "etl1:a#2"
    );
}

fn a_database_from_a_newer_orc_is_refused() {
    let env = fleet_world("orc_newer");
    assert!(as_host(&env, "a", &["fleet", "init"]).status.success());
    psql("orc_newer", "UPDATE orc_schema SET version = 99");
    for args in [
        &["fleet", "init"][..],
        &["fleet", "hosts"],
        &["fleet", "status"],
    ] {
        let o = as_host(&env, "a", args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", text(&o));
        assert!(
            text(&o).contains("99"),
            "{args:?} names the version: {}",
            text(&o)
        );
    }
    assert_eq!(psql("orc_newer", "SELECT version FROM orc_schema"), "99");
    let doctor = as_host(&env, "a", &["doctor"]);
    let line = String::from_utf8_lossy(&doctor.stdout)
        .lines()
        .find(|l| l.contains(" fleet "))
        .unwrap_or_default()
        .to_string();
    assert!(
        line.contains("FAIL") && line.contains("99"),
        "{}",
        text(&doctor)
    );
}

fn an_unreachable_database_is_a_clear_error_without_the_password() {
    let env = fleet_world("orc_unreachable");
    // A port nothing listens on (the server's plus one is free under pg_virtualenv).
    let password = "not-the-real-one-7f3a";
    env.secret_set(
        "fleet_db",
        &format!("postgres://orc:{password}@127.0.0.1:1/orc"),
    );
    let started = std::time::Instant::now();
    let o = as_host(&env, "a", &["fleet", "status"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("cannot reach the fleet database"),
        "{}",
        text(&o)
    );
    assert!(!text(&o).contains(password), "{}", text(&o));
    assert!(
        text(&o).contains("127.0.0.1:1/orc"),
        "names where: {}",
        text(&o)
    );
    assert!(started.elapsed().as_secs() < 30, "{:?}", started.elapsed());

    // A server that takes the connection and never answers (a stuck server, a full
    // pooler) is an error after the timeout too, not a hang.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = std::thread::spawn(move || {
        let mut sockets = Vec::new();
        for s in silent.incoming().take(2) {
            sockets.push(s);
            std::thread::sleep(std::time::Duration::from_secs(20));
        }
    });
    env.secret_set(
        "fleet_db",
        &format!("postgres://orc:{password}@127.0.0.1:{port}/orc?sslmode=disable"),
    );
    let started = std::time::Instant::now();
    let o = as_host(&env, "a", &["fleet", "status"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("no answer within"), "{}", text(&o));
    assert!(started.elapsed().as_secs() < 20, "{:?}", started.elapsed());
    drop(held);

    // In the URL's query too.
    env.write_config(&format!(
        "[fleet]\nurl = \"postgres://orc@db.example.com/orc?sslmode=require&password={password}\"\n"
    ));
    let o = as_host(&env, "a", &["validate"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("holds a password"), "{}", text(&o));
    assert!(!text(&o).contains(password), "{}", text(&o));
    // A password in the config itself is refused, naming where, before any connect.
    env.write_config(&format!(
        "[fleet]\nurl = \"postgres://orc:{password}@db.example.com/orc\"\n"
    ));
    let o = as_host(&env, "a", &["fleet", "status"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("tasks.toml:2:"), "{}", text(&o));
    assert!(text(&o).contains("secret"), "{}", text(&o));
    assert!(!text(&o).contains(password), "{}", text(&o));
}

/// A second host of the fleet in `world`'s database: its own folder and state, the
/// same config.
fn another_host(database: &str, config: &str) -> TestEnv {
    let env = TestEnv::builder().config(config).build();
    env.orc_ok_text(&["secret", "init"]);
    env.secret_set("fleet_db", &url_of(database));
    env
}

/// `n` hosts (h0, h1, ...) of one pool in a fresh `database`, each with its own
/// folder and state, `config` applied, the schema made.
fn pool(database: &str, config: &str, n: usize) -> Vec<TestEnv> {
    pool_with_secrets(database, config, n, &[])
}

/// [`pool`], with more `secrets` in each host's vault.
fn pool_with_secrets(
    database: &str,
    config: &str,
    n: usize,
    secrets: &[(&str, &str)],
) -> Vec<TestEnv> {
    let first = fleet_world(database);
    first.write_config(config);
    let hosts: Vec<TestEnv> = std::iter::once(first)
        .chain((1..n).map(|_| another_host(database, config)))
        .collect();
    for env in &hosts {
        for (name, value) in secrets {
            env.secret_set(name, value);
        }
    }
    assert!(
        as_host(&hosts[0], "h0", &["fleet", "init"])
            .status
            .success()
    );
    for (i, env) in hosts.iter().enumerate() {
        let o = as_host(env, &format!("h{i}"), &["apply", "--auto-approve"]);
        assert!(o.status.success(), "{}", text(&o));
    }
    hosts
}

/// `orc run slow` for `fire` on `env` as `host`, scheduled, in the background: the
/// process once its claim of the fire is in `database`.
fn start_claimed(env: &TestEnv, host: &str, database: &str, fire: &str) -> std::process::Child {
    let child = env
        .command(&[
            "run",
            "slow",
            "--trigger",
            "scheduled",
            "--scheduled-for",
            fire,
        ])
        .env("ORC_HOSTNAME", host)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let claimed = format!("SELECT count(*) FROM orc_claims WHERE scheduled_for = '{fire}'");
    let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while count(database, &claimed) == 0 {
        assert!(
            std::time::Instant::now() < until,
            "{host} never claimed {fire}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child
}

fn count(database: &str, sql: &str) -> i64 {
    psql(database, sql).parse().unwrap()
}

/// The runs queued in a state's outbox.
fn queued(env: &TestEnv) -> i64 {
    let db = rusqlite::Connection::open(env.state()).unwrap();
    db.query_row("SELECT count(*) FROM fleet_outbox", [], |r| r.get(0))
        .unwrap()
}

fn sync(env: &TestEnv, host: &str) -> serde_json::Value {
    json(&as_host(env, host, &["fleet", "sync", "--json"]))
}

fn runs_reach_the_fleet_through_the_outbox() {
    let alpha = fleet_world("orc_ship");
    let config = std::fs::read_to_string(alpha.config()).unwrap();
    let beta = another_host("orc_ship", &config);
    assert!(
        as_host(&alpha, "alpha", &["fleet", "init"])
            .status
            .success()
    );
    for (env, host) in [(&alpha, "alpha"), (&beta, "beta")] {
        let o = as_host(env, host, &["apply", "--auto-approve"]);
        assert!(o.status.success(), "{}", text(&o));
    }
    for (env, host, runs) in [(&alpha, "alpha", 2), (&beta, "beta", 1)] {
        for _ in 0..runs {
            let o = as_host(env, host, &["run", "clock"]);
            assert!(o.status.success(), "{}", text(&o));
        }
    }
    let o = as_host(&alpha, "alpha", &["run", "clock", "--param", "region=us"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(queued(&alpha) >= 2, "each change of a run is queued");
    assert_eq!(count("orc_ship", "SELECT count(*) FROM orc_runs"), 0);
    assert_eq!(sync(&alpha, "alpha")["sent"], 3);
    assert_eq!(queued(&alpha), 0);
    assert_eq!(sync(&alpha, "alpha")["sent"], 0, "nothing is sent twice");
    assert_eq!(sync(&beta, "beta")["sent"], 1);
    assert_eq!(
        psql(
            "orc_ship",
            "SELECT string_agg(host || ':' || task || ':' || status, ',' ORDER BY host, run_id) FROM orc_runs"
        ),
        "alpha:clock:success,alpha:clock:success,alpha:clock:success,beta:clock:success"
    );

    // Every host's runs, from any host.
    let all = json(&as_host(
        &beta,
        "beta",
        &["history", "--all-hosts", "--json"],
    ));
    let hosts: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["host"].as_str().unwrap())
        .collect();
    assert_eq!(hosts.len(), 4, "{all}");
    assert!(hosts.contains(&"alpha") && hosts.contains(&"beta"), "{all}");
    let only = json(&as_host(
        &beta,
        "beta",
        &["history", "--host", "alpha", "--json"],
    ));
    // Each with the values its parameters had, newest first.
    let regions: Vec<&str> = only
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["params"]["region"].as_str().unwrap_or("none"))
        .collect();
    assert_eq!(regions, ["us", "eu", "eu"], "{only}");
    let table = as_host(&beta, "beta", &["history", "--all-hosts"]);
    assert!(text(&table).contains("alpha"), "{}", text(&table));
    // Each host's last run of each task, and each host's last contact (a sync is
    // one); a host silent for long is late.
    psql(
        "orc_ship",
        "UPDATE orc_hosts SET last_contact = now() - interval '1 hour' WHERE host = 'beta'",
    );
    let status = json(&as_host(
        &alpha,
        "alpha",
        &["status", "--all-hosts", "--json"],
    ));
    let late: Vec<(String, bool)> = status["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["host"].as_str().unwrap().to_string(), h["late"] == true))
        .collect();
    assert_eq!(
        late,
        [("alpha".to_string(), false), ("beta".to_string(), true)],
        "{status}"
    );
    let tasks: Vec<String> = status["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| format!("{}:{}:{}", t["host"], t["task"], t["status"]))
        .collect();
    assert_eq!(
        tasks,
        [
            "\"alpha\":\"clock\":\"success\"",
            "\"beta\":\"clock\":\"success\""
        ],
        "{status}"
    );
    let table = as_host(&alpha, "alpha", &["status", "--all-hosts"]);
    assert!(text(&table).contains("(late)"), "{}", text(&table));

    // The same host with a state made anew numbers its runs from 1 again: the
    // fleet keeps the old state's runs beside the new one's.
    let reborn = another_host("orc_ship", &config);
    assert!(
        as_host(&reborn, "alpha", &["apply", "--auto-approve"])
            .status
            .success()
    );
    assert!(
        as_host(&reborn, "alpha", &["run", "clock"])
            .status
            .success()
    );
    assert_eq!(sync(&reborn, "alpha")["sent"], 1);
    assert_eq!(
        count(
            "orc_ship",
            "SELECT count(*) FROM orc_runs WHERE host = 'alpha'"
        ),
        4
    );

    // The database down: the run does not notice; the outbox keeps it; sync says why.
    alpha.secret_set("fleet_db", "postgres://postgres@127.0.0.1:1/orc_ship");
    let o = as_host(&alpha, "alpha", &["run", "clock"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = as_host(&alpha, "alpha", &["fleet", "sync"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("cannot reach"), "{}", text(&o));
    assert!(queued(&alpha) > 0);

    // Back up, and a crash after the database took a batch but before the outbox was
    // cut: the batch goes again, and the database holds each run once.
    alpha.secret_set("fleet_db", &url_of("orc_ship"));
    let mut crashing = alpha
        .command(&["fleet", "sync"])
        .env("ORC_HOSTNAME", "alpha")
        .env("ORC_FAILPOINT", "fleet_after_upsert")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = std::io::BufReader::new(crashing.stderr.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut err, &mut line).unwrap();
    assert!(line.contains("failpoint fleet_after_upsert"), "{line}");
    crashing.kill().unwrap();
    crashing.wait().unwrap();
    assert_eq!(count("orc_ship", "SELECT count(*) FROM orc_runs"), 6);
    assert!(queued(&alpha) > 0, "the crash came before the cut");
    assert_eq!(sync(&alpha, "alpha")["sent"], 1);
    assert_eq!(queued(&alpha), 0);
    assert_eq!(count("orc_ship", "SELECT count(*) FROM orc_runs"), 6);
}

fn a_running_daemon_ships_in_the_background() {
    let env = fleet_world("orc_daemon");
    assert!(as_host(&env, "gamma", &["fleet", "init"]).status.success());
    let o = as_host(&env, "gamma", &["apply", "--auto-approve"]);
    assert!(o.status.success(), "{}", text(&o));
    let _daemon = common::Killed(
        env.command(&["daemon"])
            .env("ORC_HOSTNAME", "gamma")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let o = as_host(&env, "gamma", &["run", "clock"]);
    assert!(o.status.success(), "{}", text(&o));
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while count(
        "orc_daemon",
        "SELECT count(*) FROM orc_runs WHERE status = 'success'",
    ) < 1
    {
        assert!(
            std::time::Instant::now() < until,
            "the daemon did not ship the run within 30 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(psql("orc_daemon", "SELECT host FROM orc_runs"), "gamma");
    // The daemon's heartbeat keeps the host's last contact fresh.
    psql(
        "orc_daemon",
        "UPDATE orc_hosts SET last_contact = now() - interval '1 hour'",
    );
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while count(
        "orc_daemon",
        "SELECT count(*) FROM orc_hosts WHERE host = 'gamma' AND last_contact > now() - interval '1 minute'",
    ) == 0
    {
        assert!(
            std::time::Instant::now() < until,
            "no heartbeat within 30 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

fn without_fleet_nothing_is_queued() {
    let env = TestEnv::builder()
        .config("[tasks.clock]\ncommand = \"date\"\nschedule = \"0 3 * * *\"\n")
        .build();
    assert!(env.orc(&["apply", "--auto-approve"]).status.success());
    assert!(env.orc(&["run", "clock"]).status.success());
    assert_eq!(queued(&env), 0);
    let o = env.orc(&["fleet", "sync"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("no [fleet] is applied"), "{}", text(&o));
}

const POOL_CONFIG: &str = "[settings]\nbackend = \"embedded\"\n\n[fleet]\nurl = { secret = \"fleet_db\" }\npool = \"etl\"\n\n[tasks.clock]\ncommand = \"date\"\nschedule = \"0 3 * * *\"\nrun_on = \"one\"\n";

/// 20 hosts race on the same 200 fires through the library's claim, each with its
/// own connection, in random order: every fire is won exactly once.
fn twenty_hosts_racing_on_two_hundred_fires_claim_each_once() {
    use orc::fleet::{Claim, FireKey, Fleet};
    psql("postgres", "DROP DATABASE IF EXISTS orc_race");
    psql("postgres", "CREATE DATABASE orc_race");
    let url = url_of("orc_race");
    Fleet::connect(&url, std::time::Duration::from_secs(10))
        .unwrap()
        .init()
        .unwrap();
    let fire = |i: usize| FireKey {
        pool: "etl".into(),
        folder: "Orc".into(),
        task: "clock".into(),
        scheduled_for: format!("2026-12-07T{:02}:{:02}:00Z", i / 60, i % 60),
    };
    let hosts: Vec<_> = (0..20)
        .map(|h| {
            let url = url.clone();
            std::thread::spawn(move || {
                let mut db = Fleet::connect(&url, std::time::Duration::from_secs(10)).unwrap();
                // Each host takes the fires in its own order: a random interleaving.
                let mut order: Vec<usize> = (0..200).collect();
                let mut seed = 0x9e3779b97f4a7c15u64 ^ (h as u64 + 1);
                for i in (1..order.len()).rev() {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    order.swap(i, (seed % (i as u64 + 1)) as usize);
                }
                let host = format!("host{h:02}");
                let mut won = Vec::new();
                for i in order {
                    match db
                        .claim(&fire(i), &host, std::time::Duration::from_secs(30))
                        .unwrap()
                    {
                        Claim::Won { .. } => won.push(i),
                        Claim::Taken { holder } => assert_ne!(holder, host),
                    }
                }
                won
            })
        })
        .collect();
    let mut won: Vec<usize> = hosts.into_iter().flat_map(|h| h.join().unwrap()).collect();
    won.sort();
    assert_eq!(
        won,
        (0..200).collect::<Vec<_>>(),
        "each fire won exactly once"
    );
    assert_eq!(count("orc_race", "SELECT count(*) FROM orc_claims"), 200);
    assert_eq!(
        count("orc_race", "SELECT count(DISTINCT fence) FROM orc_claims"),
        200
    );

    // A holder whose claim was taken over cannot write its late result.
    let mut db = Fleet::connect(&url, std::time::Duration::from_secs(10)).unwrap();
    let holder = psql(
        "orc_race",
        "SELECT holder || ' ' || fence FROM orc_claims WHERE scheduled_for = '2026-12-07T00:00:00Z'",
    );
    let fence: i64 = holder.split(' ').nth(1).unwrap().parse().unwrap();
    assert!(
        db.renew(&fire(0), fence, std::time::Duration::from_secs(30))
            .unwrap()
    );
    psql(
        "orc_race",
        "UPDATE orc_claims SET holder = 'rescuer', fence = nextval('orc_fences') WHERE scheduled_for = '2026-12-07T00:00:00Z'",
    );
    assert!(
        !db.renew(&fire(0), fence, std::time::Duration::from_secs(30))
            .unwrap()
    );
    assert!(
        !db.finish(&fire(0), fence, "success").unwrap(),
        "fenced off"
    );
    assert_eq!(
        psql(
            "orc_race",
            "SELECT holder || ':' || coalesce(status, 'open') FROM orc_claims WHERE scheduled_for = '2026-12-07T00:00:00Z'"
        ),
        "rescuer:open"
    );
}

/// Five hosts of a pool, each an `orc run` process as its scheduler would start it,
/// on the same ten fires at once: one run each; the others record a `duplicate` saying
/// which host runs it (no alert), and exit 0.
fn hosts_of_a_pool_run_each_fire_once() {
    let hosts = pool("orc_pool", POOL_CONFIG, 5);
    for day in 1..=10 {
        let fire = format!("2026-12-{day:02}T03:00:00Z");
        let run = [
            "run",
            "clock",
            "--trigger",
            "scheduled",
            "--scheduled-for",
            &fire,
        ];
        let outputs = at_once(
            hosts
                .iter()
                .enumerate()
                .map(|(i, env)| host_command(env, &format!("h{i}"), &run)),
        );
        for o in &outputs {
            assert!(o.status.success(), "{}", text(o));
        }
        let ran = outputs
            .iter()
            .filter(|o| text(o).contains(": success"))
            .count();
        let elsewhere = outputs
            .iter()
            .filter(|o| text(o).contains(": duplicate"))
            .count();
        assert_eq!(
            (ran, elsewhere),
            (1, 4),
            "{fire}: {:#?}",
            outputs.iter().map(text).collect::<Vec<_>>()
        );
    }
    assert_eq!(count("orc_pool", "SELECT count(*) FROM orc_claims"), 10);
    assert_eq!(
        count(
            "orc_pool",
            "SELECT count(*) FROM orc_claims WHERE status = 'success' AND finished_at IS NOT NULL"
        ),
        10,
        "every winner recorded its end"
    );
    // The hosts' own histories: ten runs in all, and a duplicate for each fire on
    // every other host, naming the host that ran it.
    let local = |status: &str| -> i64 {
        hosts
            .iter()
            .map(|env| {
                let db = rusqlite::Connection::open(env.state()).unwrap();
                db.query_row(
                    "SELECT count(*) FROM runs WHERE status = ?1",
                    [status],
                    |r| r.get::<_, i64>(0),
                )
                .unwrap()
            })
            .sum()
    };
    assert_eq!((local("success"), local("duplicate")), (10, 40));
    let history = json(&as_host(&hosts[3], "h3", &["history", "--json"]));
    let reasons: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "duplicate")
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons.iter().all(|r| r.contains("is run by h")),
        "{reasons:?}"
    );
    // The fleet's history holds the ten runs, not the duplicates.
    for (i, env) in hosts.iter().enumerate() {
        sync(env, &format!("h{i}"));
    }
    assert_eq!(count("orc_pool", "SELECT count(*) FROM orc_runs"), 10);

    // A scheduler that does not say the fire (cron: `--trigger scheduled` alone, at
    // the minute): the start claims the current fire, so one host runs it. Every
    // minute, so that now is a fire; not across a minute's turn, where the two
    // starts would belong to two fires.
    let every_minute = POOL_CONFIG.replace("0 3 * * *", "* * * * *");
    for (i, env) in hosts[..2].iter().enumerate() {
        env.write_config(&every_minute);
        let o = as_host(env, &format!("h{i}"), &["apply", "--auto-approve"]);
        assert!(o.status.success(), "{}", text(&o));
    }
    while !(3..55).contains(&(jiff::Timestamp::now().as_second() % 60)) {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let run = ["run", "clock", "--trigger", "scheduled", "--no-jitter"];
    let said: Vec<String> = at_once(
        hosts[..2]
            .iter()
            .enumerate()
            .map(|(i, env)| host_command(env, &format!("h{i}"), &run)),
    )
    .iter()
    .map(text)
    .collect();
    assert_eq!(
        said.iter().filter(|t| t.contains(": success")).count(),
        1,
        "{said:#?}"
    );
    // A manual run is not a fire: it runs here.
    let o = as_host(&hosts[1], "h1", &["run", "clock"]);
    assert!(text(&o).contains(": success"), "{}", text(&o));

    // The database away: on_unavailable defaults to skip for run_on = "one" (it
    // could otherwise run twice), recorded with why; "run" runs it anyway.
    let env = &hosts[2];
    env.secret_set("fleet_db", "postgres://postgres@127.0.0.1:1/orc_pool");
    let o = as_host(
        env,
        "h2",
        &[
            "run",
            "clock",
            "--trigger",
            "scheduled",
            "--scheduled-for",
            "2026-12-20T03:00:00Z",
        ],
    );
    assert!(text(&o).contains("skipped"), "{}", text(&o));
    assert!(text(&o).contains("cannot be reached"), "{}", text(&o));
    env.write_config(&POOL_CONFIG.replace(
        "pool = \"etl\"\n",
        "pool = \"etl\"\non_unavailable = \"run\"\n",
    ));
    assert!(
        as_host(env, "h2", &["apply", "--auto-approve"])
            .status
            .success()
    );
    let o = as_host(
        env,
        "h2",
        &[
            "run",
            "clock",
            "--trigger",
            "scheduled",
            "--scheduled-for",
            "2026-12-21T03:00:00Z",
        ],
    );
    assert!(text(&o).contains(": success"), "{}", text(&o));
}

/// The host running a fire is killed (kill -9) mid-run: its claim expires after the
/// lease; `orc check-missed` on the first other host to look alerts it (once across
/// the pool), and with on_host_failure = "rerun" takes the fire over and runs it; the
/// killed host's late result is refused by the fence.
fn a_host_killed_mid_run_is_alerted_once_and_its_fire_rerun() {
    let config = "[settings]\nbackend = \"embedded\"\n\n[fleet]\nurl = { secret = \"fleet_db\" }\npool = \"etl\"\nlease = \"3s\"\n\n[tasks.slow]\ncommand = \"sleep 4\"\nschedule = \"0 3 * * *\"\nrun_on = \"one\"\non_host_failure = \"rerun\"\n";
    let hosts = pool("orc_failover", config, 3);
    let fire = "2026-12-07T03:00:00Z";
    let args = [
        "run",
        "slow",
        "--trigger",
        "scheduled",
        "--scheduled-for",
        fire,
    ];
    let mut winner = start_claimed(&hosts[0], "h0", "orc_failover", fire);
    let fence = psql("orc_failover", "SELECT fence FROM orc_claims");
    let o = as_host(&hosts[1], "h1", &args);
    assert!(text(&o).contains(": duplicate"), "{}", text(&o));
    // SIGKILL: no chance to finish the claim or stop renewing it politely.
    winner.kill().unwrap();
    winner.wait().unwrap();

    // Within the lease the claim stands: nothing to alert.
    let sweep = json(&as_host(&hosts[2], "h2", &["check-missed", "--json"]));
    assert_eq!(sweep["lost"], serde_json::json!([]), "{sweep}");
    std::thread::sleep(std::time::Duration::from_secs(4));
    // A host of the pool without the task sweeps first: it cannot alert the task's
    // groups, so it leaves the claim to one that can.
    let stranger = another_host(
        "orc_failover",
        &config.replace("[tasks.slow]", "[tasks.other]"),
    );
    assert!(
        as_host(&stranger, "h9", &["apply", "--auto-approve"])
            .status
            .success()
    );
    let sweep = json(&as_host(&stranger, "h9", &["check-missed", "--json"]));
    assert_eq!(sweep["lost"], serde_json::json!([]), "{sweep}");
    let sweep = json(&as_host(&hosts[1], "h1", &["check-missed", "--json"]));
    let lost = &sweep["lost"];
    assert_eq!(lost.as_array().map(Vec::len), Some(1), "{sweep}");
    assert_eq!(lost[0]["holder"], "h0", "{sweep}");
    assert_eq!(lost[0]["alerted"], true, "{sweep}");
    assert_eq!(lost[0]["rerun"], true, "{sweep}");
    // Another host sweeping after: already alerted, already taken over.
    let sweep = json(&as_host(&hosts[2], "h2", &["check-missed", "--json"]));
    assert_eq!(sweep["lost"], serde_json::json!([]), "{sweep}");

    // h1 runs the fire to its end, under a new fence.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while count(
        "orc_failover",
        "SELECT count(*) FROM orc_claims WHERE finished_at IS NOT NULL",
    ) == 0
    {
        assert!(
            std::time::Instant::now() < until,
            "the rerun never finished"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(
        psql(
            "orc_failover",
            "SELECT holder || ':' || status || ':' || taken_over_from FROM orc_claims"
        ),
        "h1:success:h0"
    );
    assert_ne!(psql("orc_failover", "SELECT fence FROM orc_claims"), fence);
    let history = json(&as_host(&hosts[1], "h1", &["history", "slow", "--json"]));
    let statuses: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["success", "duplicate"], "{history}");

    // The killed host's late result: refused by its old fence.
    let mut db =
        orc::fleet::Fleet::connect(&url_of("orc_failover"), std::time::Duration::from_secs(10))
            .unwrap();
    let key = orc::fleet::FireKey {
        pool: "etl".into(),
        folder: "Orc".into(),
        task: "slow".into(),
        scheduled_for: fire.into(),
    };
    assert!(!db.finish(&key, fence.parse().unwrap(), "failed").unwrap());
    assert_eq!(
        psql("orc_failover", "SELECT status FROM orc_claims"),
        "success"
    );

    // The killed host itself sweeps first after its restart: it takes its own fire
    // over and runs it (its interrupted run of the fire does not stop the rerun).
    let fire = "2026-12-08T03:00:00Z";
    let mut winner = start_claimed(&hosts[0], "h0", "orc_failover", fire);
    winner.kill().unwrap();
    winner.wait().unwrap();
    std::thread::sleep(std::time::Duration::from_secs(4));
    let sweep = json(&as_host(&hosts[0], "h0", &["check-missed", "--json"]));
    assert_eq!(sweep["lost"][0]["rerun"], true, "{sweep}");
    let done = format!(
        "SELECT count(*) FROM orc_claims WHERE scheduled_for = '{fire}' AND status = 'success'"
    );
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while count("orc_failover", &done) == 0 {
        assert!(
            std::time::Instant::now() < until,
            "the self-rerun never succeeded"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// TLS: the default (`prefer`) encrypts (the cluster's certificate is self-signed,
/// and like libpq orc checks none in that mode); `disable` does not; `verify-ca`
/// with the server's own certificate as the root passes, `verify-full` by an address
/// the certificate does not name fails, and so does either with the public roots.
fn tls_is_used_and_the_verify_modes_check_the_certificate() {
    let env = fleet_world("orc_tls");
    assert!(as_host(&env, "t", &["fleet", "init"]).status.success());
    let fleet_check = |env: &TestEnv| -> serde_json::Value {
        let doctor = as_host(env, "t", &["doctor", "--json"]);
        let doctor: serde_json::Value = serde_json::from_slice(&doctor.stdout).unwrap();
        doctor
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == "fleet")
            .cloned()
            .unwrap()
    };
    let check = fleet_check(&env);
    assert_eq!(check["status"], "ok", "{check}");
    assert!(
        check["detail"].as_str().unwrap().contains("TLSv1.3"),
        "{check}"
    );
    assert!(
        check["detail"].as_str().unwrap().contains("not checked"),
        "{check}"
    );
    let plain = |query: &str| format!("{}?{query}", url_of("orc_tls"));
    env.secret_set("fleet_db", &plain("sslmode=disable"));
    let check = fleet_check(&env);
    assert_eq!(check["status"], "warn", "{check}");
    assert!(
        check["detail"].as_str().unwrap().contains("not encrypted"),
        "{check}"
    );

    let cert = psql("postgres", "SHOW ssl_cert_file");
    let cert = cert.replace('/', "%2F");
    env.secret_set(
        "fleet_db",
        &plain(&format!("sslmode=verify-ca&sslrootcert={cert}")),
    );
    let check = fleet_check(&env);
    assert_eq!(check["status"], "ok", "{check}");
    assert!(
        check["detail"].as_str().unwrap().contains("verify-ca"),
        "{check}"
    );
    // By an IP address the certificate does not name.
    let by_ip = url_of("orc_tls").replacen(
        &format!(
            "@{}:",
            std::env::var("PGHOST").unwrap_or("localhost".into())
        ),
        "@127.0.0.1:",
        1,
    );
    env.secret_set(
        "fleet_db",
        &format!("{by_ip}?sslmode=verify-full&sslrootcert={cert}"),
    );
    let o = as_host(&env, "t", &["fleet", "status"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("not valid for"), "{}", text(&o));
    env.secret_set("fleet_db", &plain("sslmode=verify-full"));
    let o = as_host(&env, "t", &["fleet", "status"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).to_lowercase().contains("certificate"),
        "{}",
        text(&o)
    );
}

/// The database away is one alert to `[fleet] notify`, however many fires are
/// skipped meanwhile; its return is another.
fn an_outage_is_one_alert_and_its_end_another() {
    let receiver = common::http::Receiver::start(&[]);
    let config = format!(
        "[settings]\nbackend = \"embedded\"\n\n[notify.ops]\nwebhook = {{ url = \"{}\" }}\n\n[fleet]\nurl = {{ secret = \"fleet_db\" }}\npool = \"etl\"\nnotify = [\"ops\"]\n\n[tasks.clock]\ncommand = \"date\"\nschedule = \"0 3 * * *\"\nrun_on = \"one\"\n",
        receiver.url("/hook")
    );
    let env = fleet_world("orc_outage");
    env.write_config(&config);
    assert!(as_host(&env, "o", &["fleet", "init"]).status.success());
    let o = as_host(&env, "o", &["apply", "--auto-approve"]);
    assert!(o.status.success(), "{}", text(&o));
    env.secret_set("fleet_db", "postgres://postgres@127.0.0.1:1/orc_outage");
    for day in 1..=3 {
        let fire = format!("2026-12-{day:02}T03:00:00Z");
        let o = as_host(
            &env,
            "o",
            &[
                "run",
                "clock",
                "--trigger",
                "scheduled",
                "--scheduled-for",
                &fire,
            ],
        );
        assert!(text(&o).contains("skipped"), "{}", text(&o));
    }
    receiver.wait_for(1);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let got: Vec<serde_json::Value> = receiver.received().iter().map(|r| r.json()).collect();
    assert_eq!(got.len(), 1, "one alert for the outage: {got:#?}");
    assert_eq!(got[0]["event"], "failure", "{got:#?}");
    assert!(
        got[0]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("cannot reach"),
        "{got:#?}"
    );
    env.secret_set("fleet_db", &url_of("orc_outage"));
    assert_eq!(sync(&env, "o")["waiting"], 0);
    let got = receiver.wait_for(2);
    assert_eq!(got[1].json()["event"], "recovered", "{:#?}", got[1].json());
    // Answering again is not news twice.
    sync(&env, "o");
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(receiver.received().len(), 2);
    // The alerts' outcomes reach the fleet too (their bodies stay on the host).
    sync(&env, "o");
    assert_eq!(
        psql(
            "orc_outage",
            "SELECT string_agg(host || ':' || event || ':' || channel || ':' || (sent_at IS NOT NULL) || ':' || attempts, ',' ORDER BY alert_id) FROM orc_alerts"
        ),
        "o:failure:webhook:true:1,o:recovered:webhook:true:1"
    );
}

/// The server drops orc's connections mid-run (pg_terminate_backend): the claim's
/// renewal connects again, the lease holds, no other host takes the fire, and the
/// run's end is recorded.
fn a_dropped_connection_mid_run_keeps_the_claim() {
    let config = "[settings]\nbackend = \"embedded\"\n\n[fleet]\nurl = { secret = \"fleet_db\" }\npool = \"etl\"\nlease = \"3s\"\n\n[tasks.slow]\ncommand = \"sleep 5\"\nschedule = \"0 3 * * *\"\nrun_on = \"one\"\non_host_failure = \"rerun\"\n";
    let hosts = pool("orc_dropped", config, 2);
    let args = [
        "run",
        "slow",
        "--trigger",
        "scheduled",
        "--scheduled-for",
        "2026-12-07T03:00:00Z",
    ];
    let running = start_claimed(&hosts[0], "h0", "orc_dropped", "2026-12-07T03:00:00Z");
    // A second start of the same fire on the holder: a duplicate, and the claim
    // stays open for the run that goes on.
    let again = as_host(&hosts[0], "h0", &args);
    assert!(text(&again).contains(": duplicate"), "{}", text(&again));
    assert_eq!(
        count(
            "orc_dropped",
            "SELECT count(*) FROM orc_claims WHERE finished_at IS NULL"
        ),
        1
    );
    psql(
        "orc_dropped",
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'orc'",
    );
    // Past the lease: a renewal on the dropped connection alone would have let it run out.
    std::thread::sleep(std::time::Duration::from_secs(4));
    let sweep = json(&as_host(&hosts[1], "h1", &["check-missed", "--json"]));
    assert_eq!(sweep["lost"], serde_json::json!([]), "{sweep}");
    let o = running.wait_with_output().unwrap();
    assert!(text(&o).contains(": success"), "{}", text(&o));
    assert_eq!(
        psql(
            "orc_dropped",
            "SELECT holder || ':' || status || ':' || coalesce(taken_over_from, '-') FROM orc_claims"
        ),
        "h0:success:-"
    );
}

fn run_on_one_needs_a_pool() {
    let env = TestEnv::builder()
        .config("[tasks.clock]\ncommand = \"date\"\nschedule = \"0 3 * * *\"\nrun_on = \"one\"\non_host_failure = \"rerun\"\n")
        .build();
    let o = env.orc(&["validate"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("tasks.toml:4:10"), "{}", text(&o));
    assert!(text(&o).contains("no [fleet] section"), "{}", text(&o));
    env.write_config("[tasks.clock]\ncommand = \"date\"\nschedule = \"0 3 * * *\"\non_host_failure = \"rerun\"\n");
    let o = env.orc(&["validate"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("no effect without run_on"),
        "{}",
        text(&o)
    );
    // Each host's own zone would make each fire another instant on each.
    env.write_config("[fleet]\nurl = \"postgres://orc@db/orc\"\npool = \"etl\"\n\n[tasks.clock]\ncommand = \"date\"\nschedule = \"0 3 * * *\"\nrun_on = \"one\"\n");
    let o = env.orc(&["validate"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("time zone"), "{}", text(&o));

    // The daily report of the fleet needs the fleet.
    let report = "[smtp]\nserver = \"127.0.0.1\"\nfrom = \"orc@example.com\"\n\n[notify.ops]\nemail = [\"ops@example.com\"]\n\n[report]\nschedule = \"0 7 * * *\"\nemail = \"ops\"\nall_hosts = true\n";
    env.write_config(report);
    let o = env.orc(&["validate"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("tasks.toml:11:13"), "{}", text(&o));
    assert!(text(&o).contains("no [fleet] section"), "{}", text(&o));
    env.write_config(&format!(
        "[fleet]\nurl = \"postgres://orc@db/orc\"\npool = \"etl\"\n\n{report}"
    ));
    let o = env.orc(&["plan", "--json"]);
    assert!(text(&o).contains("--all-hosts"), "{}", text(&o));
}

/// `GET base + path` with the token: the status and the body.
fn get(base: &str, token: &str, path: &str) -> (u16, String) {
    let mut r = common::browser::agent()
        .get(&format!("{base}{path}"))
        .header("Authorization", &format!("Bearer {token}"))
        .call()
        .unwrap();
    (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
}

fn get_json(base: &str, token: &str, path: &str) -> serde_json::Value {
    let (status, body) = get(base, token, path);
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// Fail unless `value` is what schemas/openapi.json's schema `name` describes.
fn conforms(value: &serde_json::Value, name: &str) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/openapi.json");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let schema = serde_json::json!({
        "$ref": format!("#/components/schemas/{name}"),
        "components": doc["components"],
    });
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{name}: {errors:?} in {value}");
}

/// Wait up to `secs` for `done`, failing with `what`.
fn eventually(what: &str, secs: u64, mut done: impl FnMut() -> bool) {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !done() {
        assert!(
            std::time::Instant::now() < until,
            "{what}: not within {secs} s"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// Three hosts' runs in one database, seen through `orc serve` on one of them: the
/// API's pages of every host's runs and its host filter, the hosts and which is
/// late, `/metrics` by host, and the dashboard's fleet page in Chromium (its host
/// filter, the late host) and its "Run on any host" button, which files a request.
fn the_dashboard_shows_every_hosts_runs() {
    let hosts = pool("orc_serve", POOL_CONFIG, 3);
    for (i, env) in hosts.iter().enumerate() {
        let host = format!("h{i}");
        for _ in 0..=i {
            let o = as_host(env, &host, &["run", "clock"]);
            assert!(o.status.success(), "{}", text(&o));
        }
        assert_eq!(sync(env, &host)["sent"], i + 1);
    }
    psql(
        "orc_serve",
        "UPDATE orc_hosts SET last_contact = now() - interval '1 hour' WHERE host = 'h2'",
    );
    let (_server, base, token) = common::serve_in(&hosts[0], &[("ORC_HOSTNAME", "h0")]);

    // Every host's runs a page at a time: no run twice, none left out.
    let first = get_json(&base, &token, "/api/fleet/runs?limit=4");
    conforms(&first, "FleetRunPage");
    assert_eq!(first["runs"].as_array().unwrap().len(), 4, "{first}");
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_string();
    let second = get_json(
        &base,
        &token,
        &format!(
            "/api/fleet/runs?limit=4&cursor={}",
            cursor.replace('|', "%7C").replace(':', "%3A")
        ),
    );
    assert_eq!(second["runs"].as_array().unwrap().len(), 2, "{second}");
    assert!(second["next_cursor"].is_null(), "{second}");
    let mut seen: Vec<String> = first["runs"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["runs"].as_array().unwrap())
        .map(|r| format!("{}#{}", r["host"].as_str().unwrap(), r["run_id"]))
        .collect();
    seen.sort();
    assert_eq!(seen, ["h0#1", "h1#1", "h1#2", "h2#1", "h2#2", "h2#3"]);
    let only = get_json(&base, &token, "/api/fleet/runs?host=h1");
    let only: Vec<&str> = only["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["host"].as_str().unwrap())
        .collect();
    assert_eq!(only, ["h1", "h1"]);
    // Each host's last run of each task.
    let latest = get_json(&base, &token, "/api/fleet/tasks");
    let latest: Vec<String> = latest["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            conforms(t, "FleetRun");
            format!(
                "{}:{}#{}",
                t["host"].as_str().unwrap(),
                t["task"].as_str().unwrap(),
                t["run_id"]
            )
        })
        .collect();
    assert_eq!(latest, ["h0:clock#1", "h1:clock#2", "h2:clock#3"]);
    let one = get_json(&base, &token, "/api/fleet/tasks?host=h1");
    assert_eq!(one["tasks"].as_array().unwrap().len(), 1, "{one}");
    let (status, body) = get(&base, &token, "/api/fleet/runs?cursor=nonsense");
    assert_eq!(status, 400, "{body}");
    let listed = get_json(&base, &token, "/api/fleet/hosts");
    for host in listed["hosts"].as_array().unwrap() {
        conforms(host, "FleetHost");
    }
    let late: Vec<(String, bool)> = listed["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["host"].as_str().unwrap().to_string(), h["late"] == true))
        .collect();
    assert_eq!(
        late,
        [
            ("h0".to_string(), false),
            ("h1".to_string(), false),
            ("h2".to_string(), true)
        ],
        "{listed}"
    );
    let (_, metrics) = get(&base, &token, "/metrics");
    for line in [
        "orc_fleet_runs_total{host=\"h2\",task=\"clock\",status=\"success\"} 3",
        "orc_fleet_runs_total{host=\"h0\",task=\"clock\",status=\"success\"} 1",
        "orc_fleet_host_up{host=\"h2\"} 0",
        "orc_fleet_host_up{host=\"h1\"} 1",
        // The host's own series stay.
        "orc_runs_total{task=\"clock\",status=\"success\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} in:\n{metrics}");
    }
    assert!(
        metrics.contains("orc_fleet_last_success_timestamp_seconds{host=\"h1\",task=\"clock\"}"),
        "{metrics}"
    );

    // Rows another writer of the database left in shapes orc does not write (an
    // infinite time, a status word it does not know) are skipped or shown as
    // unknown: the views, the metrics and the fleet report still answer.
    psql(
        "orc_serve",
        "INSERT INTO orc_runs (host, state_id, folder, run_id, task, status, started_at)
         VALUES ('odd', 'x', 'Orc', 1, 'clock', 'weird', 'infinity');
         INSERT INTO orc_hosts (host, version, last_contact) VALUES ('odd', '9', '-infinity')",
    );
    for path in [
        "/api/fleet/runs",
        "/api/fleet/hosts",
        "/api/fleet/tasks",
        "/fleet",
    ] {
        let (status, body) = get(&base, &token, path);
        assert_eq!(status, 200, "{path}: {body}");
    }
    let (status, body) = get(
        &base,
        &token,
        "/api/fleet/runs?cursor=2026-01-01T00:00:00Z%5BUTC%5D%7Ca%7Cb%7C1",
    );
    assert_eq!(status, 200, "{body}");
    let report = as_host(
        &hosts[1],
        "h1",
        &["report", "--all-hosts", "--format", "json"],
    );
    assert!(report.status.success(), "{}", text(&report));
    psql(
        "orc_serve",
        "DELETE FROM orc_runs WHERE host = 'odd'; DELETE FROM orc_hosts WHERE host = 'odd'",
    );

    // A server without [fleet] has no fleet views.
    let plain = TestEnv::builder()
        .config("[settings]\nbackend = \"embedded\"\n")
        .build();
    plain.orc_ok(&["apply", "--auto-approve"]);
    let (_plain_server, plain_base, plain_token) = common::serve_in(&plain, &[]);
    for path in ["/api/fleet/runs", "/api/fleet/hosts", "/fleet"] {
        let (status, body) = get(&plain_base, &plain_token, path);
        assert_eq!(status, 404, "{path}: {body}");
    }

    // The dashboard, in a real browser.
    let Some(browser) = common::browser::Browser::start() else {
        return;
    };
    browser.go(&format!("{base}/login?next=/fleet"));
    browser.type_into("#token", &token);
    browser.click("form.login button[type=submit]");
    browser.wait(
        "the fleet page after logging in",
        "return document.querySelectorAll('#fleet-runs tr[data-host]').length === 6",
    );
    let nav = browser.js(
        "return [...document.querySelectorAll('header nav a')].map(a => a.textContent).join(',')",
    );
    assert!(nav.as_str().unwrap().contains("Fleet"), "{nav}");
    let late = browser.js(
        "return [...document.querySelectorAll('table.hosts tr[data-host]')].map(r => r.dataset.host + ':' + r.innerText.includes('late')).join(',')",
    );
    assert_eq!(late, "h0:false,h1:false,h2:true");
    assert_eq!(
        browser.js("return document.querySelectorAll('#fleet-tasks tr[data-host]').length"),
        3
    );
    let by_host = browser.js(
        "return [...new Set([...document.querySelectorAll('#fleet-runs tr[data-host]')].map(r => r.dataset.host))].sort().join(',')",
    );
    assert_eq!(by_host, "h0,h1,h2");
    browser.js("document.querySelector('select[name=host]').value = 'h2'; document.querySelector('form.filters').submit(); return true");
    browser.wait(
        "the runs of h2 alone",
        "return location.search.includes('host=h2') && [...document.querySelectorAll('#fleet-runs tr[data-host]')].map(r => r.dataset.host).join(',') === 'h2,h2,h2'",
    );
    assert_eq!(
        browser.js("return [...document.querySelectorAll('#fleet-tasks tr[data-host]')].map(r => r.dataset.host + ':' + r.dataset.task).join(',')"),
        "h2:clock"
    );
    browser.screenshot("fleet");

    // Run on any host of the pool, from the task's page: a request the pool takes.
    browser.go(&format!("{base}/tasks/clock"));
    browser.wait(
        "the task's buttons",
        "return document.querySelector('button[data-action=run-pool]')",
    );
    browser.click("button[data-action=run-pool]");
    browser.wait(
        "the request's flash",
        "return document.getElementById('flash').textContent.includes('Asked the pool')",
    );
    assert_eq!(
        psql(
            "orc_serve",
            "SELECT pool || ':' || task || ':' || coalesce(taken_by, 'open') FROM orc_requests"
        ),
        "etl:clock:open"
    );
}

/// Requests to run a task now on any host of the pool, with three daemons looking:
/// each request goes to exactly one host, which runs it once.
fn a_run_now_request_goes_to_one_host_of_the_pool() {
    let hosts = pool("orc_requests", POOL_CONFIG, 3);
    let _daemons: Vec<common::Killed> = hosts
        .iter()
        .enumerate()
        .map(|(i, env)| {
            common::Killed(
                env.command(&["daemon"])
                    .env("ORC_HOSTNAME", format!("h{i}"))
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .unwrap(),
            )
        })
        .collect();
    let (_server, base, token) = common::serve_in(&hosts[0], &[("ORC_HOSTNAME", "h0")]);
    let mut ids = Vec::new();
    for _ in 0..6 {
        let mut r = common::browser::agent()
            .post(&format!("{base}/api/fleet/requests"))
            .header("Authorization", &format!("Bearer {token}"))
            .header("Content-Type", "application/json")
            .send(r#"{"task": "clock"}"#)
            .unwrap();
        let body = r.body_mut().read_to_string().unwrap();
        assert_eq!(r.status().as_u16(), 202, "{body}");
        let request: serde_json::Value = serde_json::from_str(&body).unwrap();
        conforms(&request, "RunRequest");
        assert_eq!(request["taken_by"], serde_json::Value::Null, "{request}");
        ids.push(request["id"].as_i64().unwrap());
    }
    let (status, body) = get(&base, &token, "/api/fleet/requests/999999");
    assert_eq!(status, 404, "{body}");
    let manual_runs = |env: &TestEnv| -> i64 {
        let db = rusqlite::Connection::open(env.state()).unwrap();
        db.query_row(
            "SELECT count(*) FROM runs WHERE trigger = 'manual' AND status = 'success'",
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    eventually("the six requested runs", 60, || {
        hosts.iter().map(manual_runs).sum::<i64>() >= 6
    });
    std::thread::sleep(std::time::Duration::from_secs(6));
    assert_eq!(
        hosts.iter().map(manual_runs).sum::<i64>(),
        6,
        "each request ran once"
    );
    for (i, env) in hosts.iter().enumerate() {
        let taken = count(
            "orc_requests",
            &format!("SELECT count(*) FROM orc_requests WHERE taken_by = 'h{i}'"),
        );
        assert_eq!(manual_runs(env), taken, "h{i} ran what it took");
    }
    let request = get_json(&base, &token, &format!("/api/fleet/requests/{}", ids[0]));
    assert!(
        request["taken_by"].as_str().unwrap().starts_with('h'),
        "{request}"
    );
}

/// The pool's sweep lease: of three hosts sweeping at once one holds it, and it
/// alone records and alerts the fires no host claimed (the hosts' own checks leave
/// run_on = "one" tasks to it), and a host gone silent, once each; the fleet's
/// report mailed by three hosts at once goes once.
fn one_host_sweeps_the_pool_and_mails_the_fleet_report() {
    let receiver = common::http::Receiver::start(&[]);
    let mailbox = tempfile::tempdir().unwrap();
    let mail = common::smtp(mailbox.path(), "orc-alerts", "Sm7p-Pa55");
    let config = format!(
        "[settings]\nbackend = \"embedded\"\n\n[smtp]\nserver = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nusername = {{ secret = \"user\" }}\npassword = {{ secret = \"pass\" }}\nfrom = \"orc@example.com\"\ntimeout = \"5s\"\n\n[notify.ops]\nwebhook = {{ url = \"{}\" }}\non = [\"failure\", \"missed\", \"recovered\"]\n\n[notify.team]\nemail = [\"team@example.com\"]\non = [\"failure\"]\n\n[fleet]\nurl = {{ secret = \"fleet_db\" }}\npool = \"etl\"\nnotify = [\"ops\"]\n\n[tasks.every]\ncommand = \"true\"\nschedule = \"* * * * *\"\nrun_on = \"one\"\nnotify = [\"ops\"]\n",
        mail.port,
        receiver.url("/hook")
    );
    let hosts = pool_with_secrets(
        "orc_sweep",
        &config,
        3,
        &[("user", "orc-alerts"), ("pass", "Sm7p-Pa55")],
    );
    let ten_minutes_ago = jiff::Timestamp::now() - jiff::SignedDuration::from_mins(10);
    for (i, env) in hosts.iter().enumerate() {
        sync(env, &format!("h{i}"));
        // Applied ten minutes ago: its fires since are due.
        let db = rusqlite::Connection::open(env.state()).unwrap();
        db.execute(
            "UPDATE tasks SET applied_at = ?1",
            [ten_minutes_ago
                .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string()],
        )
        .unwrap();
    }
    // Two of the fires ran (on h1); the rest no host claimed.
    let folder: String = rusqlite::Connection::open(hosts[0].state())
        .unwrap()
        .query_row("SELECT folder FROM tasks", [], |r| r.get(0))
        .unwrap();
    let due = count(
        "orc_sweep",
        &format!(
            "SELECT count(*) FROM generate_series(date_trunc('minute', '{ten_minutes_ago}'::timestamptz) + interval '1 minute', now() - interval '180 seconds', interval '1 minute')"
        ),
    );
    psql(
        "orc_sweep",
        &format!("INSERT INTO orc_claims (pool, folder, task, scheduled_for, holder, fence, lease_until, finished_at, status)
         SELECT 'etl', folder, 'every', date_trunc('minute', now()) - make_interval(mins => m), 'h1',
                nextval('orc_fences'), now(), now(), 'success'
         FROM (VALUES ('{folder}')) AS f(folder), generate_series(5, 6) AS m"),
    );
    psql(
        "orc_sweep",
        "UPDATE orc_hosts SET last_contact = now() - interval '1 hour' WHERE host = 'h2'",
    );
    // h0 and h1 sweep at once; h2 is silent.
    let sweeps: Vec<serde_json::Value> = at_once(
        hosts[..2]
            .iter()
            .enumerate()
            .map(|(i, env)| host_command(env, &format!("h{i}"), &["check-missed", "--json"])),
    )
    .iter()
    .map(json)
    .collect();
    let sweepers: Vec<&serde_json::Value> = sweeps
        .iter()
        .filter(|s| s["fleet"]["sweeper"] == true)
        .collect();
    assert_eq!(sweepers.len(), 1, "one host holds the lease: {sweeps:#?}");
    assert!(
        sweeps
            .iter()
            .all(|s| s["missed"].as_array().unwrap().is_empty()),
        "the hosts' own checks leave the pool's task to the sweeper: {sweeps:#?}"
    );
    let unclaimed = &sweepers[0]["fleet"]["unclaimed"];
    assert_eq!(unclaimed.as_array().unwrap().len(), 1, "{unclaimed}");
    // A minute may turn between counting the fires due and the sweep.
    let missed = unclaimed[0]["count"].as_i64().unwrap();
    assert!(
        (due - 2..=due - 1).contains(&missed),
        "{due} due: {sweeps:#?}"
    );
    assert_eq!(sweepers[0]["fleet"]["silent"], serde_json::json!(["h2"]));
    assert!(
        sweeps.iter().all(|s| s["fleet"]["error"].is_null()),
        "{sweeps:#?}"
    );
    // The check ships the outbox too: the sweeper's missed record is in the fleet.
    assert_eq!(
        count(
            "orc_sweep",
            "SELECT count(*) FROM orc_runs WHERE task = 'every' AND status = 'missed'"
        ),
        1
    );
    let listed = json(&as_host(&hosts[0], "h0", &["fleet", "hosts", "--json"]));
    let late: Vec<bool> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["late"] == true)
        .collect();
    assert_eq!(late, [false, false, true], "{listed}");
    assert_eq!(
        count(
            "orc_sweep",
            "SELECT count(*) FROM orc_claims WHERE status = 'missed'"
        ),
        missed
    );
    let got = receiver.wait_for(2);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let events: Vec<(String, String)> = receiver
        .received()
        .iter()
        .map(|r| {
            let j = r.json();
            (
                j["event"].as_str().unwrap_or_default().to_string(),
                j["status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(got.len(), 2);
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(
        events.contains(&("missed".to_string(), "missed".to_string())),
        "{events:?}"
    );
    assert!(
        events.contains(&("failure".to_string(), "silent".to_string())),
        "{events:?}"
    );
    // Sweeping again finds nothing new; h2 making contact again is news, once.
    sync(&hosts[2], "h2");
    for round in 0..2 {
        for (i, env) in hosts.iter().enumerate() {
            let again = json(&as_host(env, &format!("h{i}"), &["check-missed", "--json"]));
            assert!(
                again["fleet"]["unclaimed"].as_array().unwrap().is_empty(),
                "round {round}: {again}"
            );
        }
    }
    let got = receiver.wait_for(3);
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(receiver.received().len(), 3);
    assert_eq!(got[2].json()["event"], "recovered", "{:#?}", got[2].json());

    // The fleet's report, mailed by every host at once, goes once.
    for (i, env) in hosts.iter().enumerate() {
        sync(env, &format!("h{i}"));
    }
    let reports = at_once(hosts.iter().enumerate().map(|(i, env)| {
        host_command(
            env,
            &format!("h{i}"),
            &["report", "--all-hosts", "--email", "team"],
        )
    }));
    for o in &reports {
        assert!(o.status.success(), "{}", text(o));
    }
    let mailed = reports
        .iter()
        .filter(|o| text(o).contains("Mailed the report"))
        .count();
    assert_eq!(
        mailed,
        1,
        "{:#?}",
        reports.iter().map(text).collect::<Vec<_>>()
    );
    let files = || {
        std::fs::read_dir(&mail.maildir)
            .map(|d| d.count())
            .unwrap_or(0)
    };
    eventually("the report's mail", 10, || files() == 1);
    let body: String = std::fs::read_dir(&mail.maildir)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert!(body.contains("report for the fleet (3 hosts"), "{body}");
    // The sweeper's record of the fires no host claimed, named with its host.
    assert!(body.contains("every on h"), "{body}");
    // --resend sends it again.
    let again = as_host(
        &hosts[0],
        "h0",
        &["report", "--all-hosts", "--email", "team", "--resend"],
    );
    assert!(
        text(&again).contains("Mailed the report"),
        "{}",
        text(&again)
    );
}

/// Set in the copy of this suite that runs one test on a cluster of its own.
const OWN_CLUSTER: &str = "ORC_TEST_OWN_CLUSTER";

/// Run the test `name` again in a throwaway cluster of its own (it stops its server,
/// which the other tests share): true when this is that copy, which goes on to run
/// it; false when the copy ran it here, and passed.
fn in_own_cluster(name: &str) -> bool {
    if std::env::var_os(OWN_CLUSTER).is_some() {
        return true;
    }
    // A port of its own: the new cluster does not see the shared one's.
    let port = common::browser::free_port();
    let o = Command::new("pg_virtualenv")
        .args(["-t", "-o", &format!("port={port}"), "--"])
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", name])
        .env(OWN_CLUSTER, "1")
        .env(UNDER_VIRTUALENV, "1")
        .output()
        .unwrap();
    let out = text(&o);
    assert!(o.status.success(), "{name} in its own cluster:\n{out}");
    assert!(out.contains("1 passed"), "{name} did not run:\n{out}");
    false
}

/// `pg_ctlcluster VERSION NAME action` for the cluster pg_virtualenv made.
fn cluster(action: &str) {
    let listed = Command::new("pg_lsclusters").arg("-h").output().unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout).to_string();
    let mut columns = listed.split_whitespace();
    let (version, name) = (columns.next().unwrap(), columns.next().unwrap());
    let mut command = Command::new("pg_ctlcluster");
    command.args([version, name, action]);
    if action == "stop" {
        // Connections open or not, at once.
        command.args(["-m", "fast"]);
    }
    let o = command.output().unwrap();
    assert!(o.status.success(), "pg_ctlcluster {action}: {}", text(&o));
}

/// The cluster stopped while a run goes on and while more start: runs of tasks
/// without run_on go on, a fire of a run_on = "one" task is skipped (or, with
/// on_unavailable = "run", run here), the outbox keeps everything, and once the
/// cluster is back one sync delivers it all, each run once and as it ended.
fn a_stopped_cluster_mid_run_loses_nothing() {
    if !in_own_cluster("a_stopped_cluster_mid_run_loses_nothing") {
        return;
    }
    let config = |on_unavailable: &str| {
        format!(
            "[settings]\nbackend = \"embedded\"\n\n[fleet]\nurl = {{ secret = \"fleet_db\" }}\npool = \"etl\"\n{on_unavailable}\n[tasks.clock]\ncommand = \"date\"\n\n[tasks.slow]\ncommand = \"sleep 4\"\n\n[tasks.one]\ncommand = \"date\"\nschedule = \"0 3 * * *\"\nrun_on = \"one\"\n"
        )
    };
    let env = fleet_world("orc_stopped");
    env.write_config(&config(""));
    assert!(as_host(&env, "s", &["fleet", "init"]).status.success());
    let o = as_host(&env, "s", &["apply", "--auto-approve"]);
    assert!(o.status.success(), "{}", text(&o));
    for _ in 0..2 {
        assert!(as_host(&env, "s", &["run", "clock"]).status.success());
    }
    assert_eq!(sync(&env, "s")["sent"], 2);

    let slow = env
        .command(&["run", "slow"])
        .env("ORC_HOSTNAME", "s")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    cluster("stop");
    for _ in 0..3 {
        let o = as_host(&env, "s", &["run", "clock"]);
        assert!(o.status.success(), "{}", text(&o));
        assert!(text(&o).contains("success"), "{}", text(&o));
    }
    let scheduled = |fire: &str| {
        as_host(
            &env,
            "s",
            &[
                "run",
                "one",
                "--trigger",
                "scheduled",
                "--scheduled-for",
                fire,
            ],
        )
    };
    let o = scheduled("2026-12-01T03:00:00Z");
    assert!(text(&o).contains("skipped"), "{}", text(&o));
    env.write_config(&config("on_unavailable = \"run\"\n"));
    assert!(
        as_host(&env, "s", &["apply", "--auto-approve"])
            .status
            .success()
    );
    let o = scheduled("2026-12-02T03:00:00Z");
    assert!(text(&o).contains("success"), "{}", text(&o));
    let slow = slow.wait_with_output().unwrap();
    assert!(slow.status.success(), "{}", text(&slow));
    let o = as_host(&env, "s", &["fleet", "sync"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(queued(&env) > 0, "the outbox keeps the runs");

    cluster("start");
    let sent = sync(&env, "s");
    assert_eq!(sent["waiting"], 0, "{sent}");
    assert_eq!(queued(&env), 0);
    let local: i64 = rusqlite::Connection::open(env.state())
        .unwrap()
        .query_row("SELECT count(*) FROM runs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(local, 8, "2 + 3 clock, slow, one skipped, one run");
    assert_eq!(count("orc_stopped", "SELECT count(*) FROM orc_runs"), local);
    assert_eq!(
        psql(
            "orc_stopped",
            "SELECT string_agg(task || ':' || status, ',' ORDER BY run_id) FROM orc_runs"
        ),
        "clock:success,clock:success,slow:success,clock:success,clock:success,clock:success,one:skipped,one:success"
    );
}

/// Random interleavings of hosts claiming, renewing, finishing and taking over the
/// same fires while leases run out under them (proptest picks the hosts, fires and
/// each host's steps; the hosts run them at once): each fire keeps one claim, each
/// grant of it a fence of its own, the last grant is the holder, and at most one
/// end is recorded, by the fence that holds it.
fn claims_stay_unique_under_random_interleavings() {
    use orc::fleet::{Claim, FireKey, Fleet};
    use proptest::prelude::*;

    #[derive(Debug, Clone, Copy)]
    enum Step {
        Claim(usize),
        Renew(usize),
        Finish(usize),
        /// The lease runs out (as time passing would have it).
        Expire(usize),
        TakeOver(usize),
    }
    let step = (0..5u8, 0..3usize).prop_map(|(kind, fire)| match kind {
        0 => Step::Claim(fire),
        1 => Step::Renew(fire),
        2 => Step::Finish(fire),
        3 => Step::Expire(fire),
        _ => Step::TakeOver(fire),
    });
    let case = prop::collection::vec(prop::collection::vec((step, 0..3u64), 1..10), 2..6);

    let env = fleet_world("orc_interleave");
    assert!(as_host(&env, "p", &["fleet", "init"]).status.success());
    let url = url_of("orc_interleave");
    let lease = std::time::Duration::from_secs(30);
    let cases = std::sync::atomic::AtomicUsize::new(0);
    let mut runner = proptest::test_runner::TestRunner::new(proptest::test_runner::Config {
        cases: 24,
        failure_persistence: None,
        ..Default::default()
    });
    runner
        .run(&case, |hosts| {
            let pool = format!("p{}", cases.fetch_add(1, std::sync::atomic::Ordering::SeqCst));
            let fire = |f: usize| FireKey {
                pool: pool.clone(),
                folder: "Orc".to_string(),
                task: "t".to_string(),
                scheduled_for: format!("2026-12-0{}T03:00:00Z", f + 1),
            };
            // What each host was granted (fire, fence) and which ends it recorded.
            type Outcome = (Vec<(usize, i64)>, Vec<(usize, i64)>);
            let outcomes: Vec<Outcome> = std::thread::scope(|s| {
                let threads: Vec<_> = hosts
                    .iter()
                    .enumerate()
                    .map(|(h, steps)| {
                        let (url, fire) = (&url, &fire);
                        s.spawn(move || {
                            let host = format!("host{h}");
                            let mut db = Fleet::connect(url, std::time::Duration::from_secs(10)).unwrap();
                            let mut clock = postgres::Client::connect(
                                &format!("{url}?sslmode=disable"),
                                postgres::NoTls,
                            )
                            .unwrap();
                            let mut held: std::collections::HashMap<usize, i64> = Default::default();
                            let (mut granted, mut finished) = (Vec::new(), Vec::new());
                            for (step, pause) in steps {
                                std::thread::sleep(std::time::Duration::from_millis(*pause));
                                match *step {
                                    Step::Claim(f) => {
                                        if let Claim::Won { fence } = db.claim(&fire(f), &host, lease).unwrap()
                                            && held.insert(f, fence) != Some(fence)
                                        {
                                            granted.push((f, fence));
                                        }
                                    }
                                    Step::Renew(f) => {
                                        if let Some(fence) = held.get(&f) {
                                            db.renew(&fire(f), *fence, lease).unwrap();
                                        }
                                    }
                                    Step::Finish(f) => {
                                        if let Some(fence) = held.get(&f)
                                            && db.finish(&fire(f), *fence, "success").unwrap()
                                        {
                                            finished.push((f, *fence));
                                        }
                                    }
                                    Step::Expire(f) => {
                                        let key = fire(f);
                                        clock
                                            .execute(
                                                "UPDATE orc_claims SET lease_until = now() - interval '1 second'
                                                 WHERE pool = $1 AND scheduled_for = ($2::text)::timestamptz",
                                                &[&key.pool, &key.scheduled_for],
                                            )
                                            .unwrap();
                                    }
                                    Step::TakeOver(f) => {
                                        if let Some(fence) = db.take_over(&fire(f), &host, lease).unwrap() {
                                            held.insert(f, fence);
                                            granted.push((f, fence));
                                        }
                                    }
                                }
                            }
                            (granted, finished)
                        })
                    })
                    .collect();
                threads.into_iter().map(|t| t.join().unwrap()).collect()
            });
            for f in 0..3 {
                let key = fire(f);
                let rows = psql(
                    "orc_interleave",
                    &format!(
                        "SELECT holder || ' ' || fence || ' ' || (finished_at IS NOT NULL) FROM orc_claims
                         WHERE pool = '{}' AND scheduled_for = '{}'",
                        key.pool, key.scheduled_for
                    ),
                );
                let mut grants: Vec<(usize, i64)> = outcomes
                    .iter()
                    .enumerate()
                    .flat_map(|(h, (g, _))| g.iter().filter(|(gf, _)| *gf == f).map(move |(_, fence)| (h, *fence)))
                    .collect();
                grants.sort_by_key(|(_, fence)| *fence);
                let fences: std::collections::BTreeSet<i64> = grants.iter().map(|(_, f)| *f).collect();
                prop_assert_eq!(fences.len(), grants.len(), "each grant a fence of its own: {:?}", grants);
                let ends: Vec<i64> = outcomes
                    .iter()
                    .flat_map(|(_, e)| e.iter().filter(|(ef, _)| *ef == f).map(|(_, fence)| *fence))
                    .collect();
                prop_assert!(ends.len() <= 1, "one end recorded: {:?}", ends);
                if grants.is_empty() {
                    // Nobody claimed it (or only took it over between steps: no).
                    continue;
                }
                prop_assert_eq!(rows.lines().count(), 1, "one claim per fire: {}", rows);
                let (last_host, last_fence) = *grants.last().unwrap();
                let [holder, fence, done]: [&str; 3] =
                    rows.split(' ').collect::<Vec<_>>().try_into().unwrap();
                prop_assert_eq!(holder, format!("host{last_host}"));
                prop_assert_eq!(fence.parse::<i64>().unwrap(), last_fence);
                if let Some(end) = ends.first() {
                    prop_assert_eq!(*end, last_fence, "only the fence that holds ends it");
                    prop_assert_eq!(done, "true");
                }
            }
            Ok(())
        })
        .unwrap();
}

/// Why no PostgreSQL server can be used here, if none can.
fn missing_postgres() -> Option<String> {
    if std::env::var_os("PGHOST").is_some() {
        return common::missing_program("psql", &["--version"], "apt-get install postgresql");
    }
    Some("PostgreSQL: pg_virtualenv (apt-get install postgresql) or PGHOST".to_string())
}

fn main() -> ExitCode {
    // Run again inside a throwaway cluster, unless a server is given or this is that
    // run already.
    let have_server = std::env::var_os("PGHOST").is_some();
    let under = std::env::var_os(UNDER_VIRTUALENV).is_some();
    let lists = std::env::args().any(|a| a == "--list");
    if !have_server
        && !under
        && !lists
        && common::missing_program("pg_virtualenv", &["-h"], "").is_none()
    {
        // -t: the cluster in a temporary folder, so that two runs at once do not
        // meet over Debian's one "regress" cluster.
        let status = Command::new("pg_virtualenv")
            .args(["-t", "--"])
            .arg(std::env::current_exe().unwrap())
            .args(std::env::args_os().skip(1))
            .env(UNDER_VIRTUALENV, "1")
            .status();
        return match status {
            Ok(s) => ExitCode::from(s.code().unwrap_or(1) as u8),
            Err(e) => {
                eprintln!("cannot run pg_virtualenv: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let postgres = missing_postgres();
    let chromium = common::missing_file(
        "/usr/bin/chromedriver",
        "apt-get install chromium chromium-driver",
    );
    let trial = |name, test| common::trial(name, test, std::slice::from_ref(&postgres));
    common::run_trials(vec![
        trial(
            "hosts_racing_on_init_create_the_schema_once",
            hosts_racing_on_init_create_the_schema_once,
        ),
        trial(
            "a_database_from_a_newer_orc_is_refused",
            a_database_from_a_newer_orc_is_refused,
        ),
        trial(
            "an_unreachable_database_is_a_clear_error_without_the_password",
            an_unreachable_database_is_a_clear_error_without_the_password,
        ),
        trial(
            "runs_reach_the_fleet_through_the_outbox",
            runs_reach_the_fleet_through_the_outbox,
        ),
        trial(
            "a_running_daemon_ships_in_the_background",
            a_running_daemon_ships_in_the_background,
        ),
        trial(
            "twenty_hosts_racing_on_two_hundred_fires_claim_each_once",
            twenty_hosts_racing_on_two_hundred_fires_claim_each_once,
        ),
        trial(
            "hosts_of_a_pool_run_each_fire_once",
            hosts_of_a_pool_run_each_fire_once,
        ),
        trial(
            "a_host_killed_mid_run_is_alerted_once_and_its_fire_rerun",
            a_host_killed_mid_run_is_alerted_once_and_its_fire_rerun,
        ),
        trial(
            "tls_is_used_and_the_verify_modes_check_the_certificate",
            tls_is_used_and_the_verify_modes_check_the_certificate,
        ),
        trial(
            "an_outage_is_one_alert_and_its_end_another",
            an_outage_is_one_alert_and_its_end_another,
        ),
        trial(
            "a_dropped_connection_mid_run_keeps_the_claim",
            a_dropped_connection_mid_run_keeps_the_claim,
        ),
        trial(
            "a_run_now_request_goes_to_one_host_of_the_pool",
            a_run_now_request_goes_to_one_host_of_the_pool,
        ),
        common::trial(
            "the_dashboard_shows_every_hosts_runs",
            the_dashboard_shows_every_hosts_runs,
            &[postgres.clone(), chromium.clone()],
        ),
        common::trial(
            "one_host_sweeps_the_pool_and_mails_the_fleet_report",
            one_host_sweeps_the_pool_and_mails_the_fleet_report,
            &[postgres.clone(), common::missing_python_module("aiosmtpd")],
        ),
        // It stops its server: it runs in a cluster of its own, pg_virtualenv's.
        common::trial(
            "a_stopped_cluster_mid_run_loses_nothing",
            a_stopped_cluster_mid_run_loses_nothing,
            &[
                postgres.clone(),
                common::missing_program("pg_virtualenv", &["-h"], "apt-get install postgresql"),
            ],
        ),
        trial(
            "claims_stay_unique_under_random_interleavings",
            claims_stay_unique_under_random_interleavings,
        ),
        common::trial("run_on_one_needs_a_pool", run_on_one_needs_a_pool, &[]),
        common::trial(
            "without_fleet_nothing_is_queued",
            without_fleet_nothing_is_queued,
            &[],
        ),
    ])
}
