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
            "[settings]\nbackend = \"embedded\"\n\n[fleet]\nurl = { secret = \"fleet_db\" }\npool = \"etl\"\n\n[tasks.clock]\ncommand = \"date\"\nschedule = \"0 3 * * *\"\n",
        )
        .build();
    env.orc_ok_text(&["secret", "init"]);
    env.secret_set("fleet_db", &url_of(name));
    env
}

fn as_host(env: &TestEnv, host: &str, args: &[&str]) -> Output {
    env.orc_with(args, &[("ORC_HOSTNAME", host)])
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
    let racers: Vec<_> = (1..=5)
        .map(|i| {
            env.command(&["fleet", "init", "--json"])
                .env("ORC_HOSTNAME", format!("etl{i}"))
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let results: Vec<serde_json::Value> = racers
        .into_iter()
        .map(|c| json(&c.wait_with_output().unwrap()))
        .collect();
    let migrated = results.iter().filter(|r| r["from"] == 0).count();
    assert_eq!(migrated, 1, "exactly one host migrates: {results:?}");
    assert!(results.iter().all(|r| r["to"] == 2), "{results:?}");
    assert_eq!(psql("orc_init", "SELECT count(*) FROM orc_schema"), "1");

    let status = json(&as_host(&env, "web1", &["fleet", "status", "--json"]));
    assert_eq!(status["schema_version"], 2, "{status}");
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
            .contains("schema version 2"),
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
         CREATE INDEX orc_runs_started ON orc_runs (started_at DESC);
         ALTER TABLE orc_hosts DROP COLUMN silent_alerted_at; UPDATE orc_schema SET version = 1",
    );
    let old = as_host(&env, "etl1", &["fleet", "hosts"]);
    assert_eq!(old.status.code(), Some(1), "{}", text(&old));
    assert!(text(&old).contains("orc fleet init"), "{}", text(&old));
    let upgraded = json(&as_host(&env, "etl1", &["fleet", "init", "--json"]));
    assert_eq!(
        (upgraded["from"].clone(), upgraded["to"].clone()),
        (1.into(), 2.into())
    );
    assert_eq!(psql("orc_init", "SELECT count(*) FROM orc_hosts"), "5");
    assert_eq!(psql("orc_init", "SELECT count(*) FROM orc_requests"), "0");
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
    assert!(started.elapsed().as_secs() < 30, "{:?}", started.elapsed());

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
    let first = fleet_world(database);
    first.write_config(config);
    let hosts: Vec<TestEnv> = std::iter::once(first)
        .chain((1..n).map(|_| another_host(database, config)))
        .collect();
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
    assert!(queued(&alpha) >= 2, "each change of a run is queued");
    assert_eq!(count("orc_ship", "SELECT count(*) FROM orc_runs"), 0);
    assert_eq!(sync(&alpha, "alpha")["sent"], 2);
    assert_eq!(queued(&alpha), 0);
    assert_eq!(sync(&alpha, "alpha")["sent"], 0, "nothing is sent twice");
    assert_eq!(sync(&beta, "beta")["sent"], 1);
    assert_eq!(
        psql(
            "orc_ship",
            "SELECT string_agg(host || ':' || task || ':' || status, ',' ORDER BY host, run_id) FROM orc_runs"
        ),
        "alpha:clock:success,alpha:clock:success,beta:clock:success"
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
    assert_eq!(hosts.len(), 3, "{all}");
    assert!(hosts.contains(&"alpha") && hosts.contains(&"beta"), "{all}");
    let only = json(&as_host(
        &beta,
        "beta",
        &["history", "--host", "alpha", "--json"],
    ));
    assert_eq!(only.as_array().unwrap().len(), 2, "{only}");
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
        3
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
    assert_eq!(count("orc_ship", "SELECT count(*) FROM orc_runs"), 5);
    assert!(queued(&alpha) > 0, "the crash came before the cut");
    assert_eq!(sync(&alpha, "alpha")["sent"], 1);
    assert_eq!(queued(&alpha), 0);
    assert_eq!(count("orc_ship", "SELECT count(*) FROM orc_runs"), 5);
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
        let starts: Vec<_> = hosts
            .iter()
            .enumerate()
            .map(|(i, env)| {
                env.command(&[
                    "run",
                    "clock",
                    "--trigger",
                    "scheduled",
                    "--scheduled-for",
                    &fire,
                ])
                .env("ORC_HOSTNAME", format!("h{i}"))
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
            })
            .collect();
        let outputs: Vec<Output> = starts
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect();
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
    let starts: Vec<_> = hosts[..2]
        .iter()
        .enumerate()
        .map(|(i, env)| {
            env.command(&["run", "clock", "--trigger", "scheduled", "--no-jitter"])
                .env("ORC_HOSTNAME", format!("h{i}"))
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let said: Vec<String> = starts
        .into_iter()
        .map(|c| text(&c.wait_with_output().unwrap()))
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
        common::trial("run_on_one_needs_a_pool", run_on_one_needs_a_pool, &[]),
        common::trial(
            "without_fleet_nothing_is_queued",
            without_fleet_nothing_is_queued,
            &[],
        ),
    ])
}
