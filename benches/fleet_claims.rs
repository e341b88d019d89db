//! Claim latency in fleet mode: 20 hosts (threads, each with its own connection to
//! the fleet database, as 20 servers would have) race on the same fires through
//! `Fleet::claim`, orc's one-insert claim; each claim's wall time is recorded, won or
//! lost. Prints p50, p99 and the max, and checks that every fire was won once.
//!
//! Needs a PostgreSQL server: run it through `benches/fleet.sh`, which makes a
//! throwaway cluster with pg_virtualenv, or with PGHOST, PGPORT, PGUSER and PGPASSWORD
//! naming one (a database `orc_bench_claims` is made there and dropped after).

use std::time::{Duration, Instant};

use orc::fleet::{Claim, FireKey, Fleet};

const HOSTS: usize = 20;
const FIRES: usize = 500;

fn url(database: &str) -> String {
    let var = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    format!(
        "postgres://{}:{}@{}:{}/{database}",
        var("PGUSER", "postgres"),
        var("PGPASSWORD", ""),
        var("PGHOST", "localhost"),
        var("PGPORT", "5432"),
    )
}

fn main() {
    if std::env::var_os("PGHOST").is_none() {
        eprintln!("fleet_claims needs a PostgreSQL server: run benches/fleet.sh (or set PGHOST)");
        std::process::exit(2);
    }
    let timeout = Duration::from_secs(10);
    let mut admin = postgres::Client::connect(&url("postgres"), postgres::NoTls).unwrap();
    for sql in [
        "DROP DATABASE IF EXISTS orc_bench_claims",
        "CREATE DATABASE orc_bench_claims",
    ] {
        admin.batch_execute(sql).unwrap();
    }
    let db_url = url("orc_bench_claims");
    Fleet::connect(&db_url, timeout).unwrap().init().unwrap();
    let fire = |i: usize| FireKey {
        pool: "etl".into(),
        folder: "Orc".into(),
        task: "load".into(),
        scheduled_for: format!(
            "2026-12-{:02}T{:02}:{:02}:00Z",
            1 + i / 1440,
            i / 60 % 24,
            i % 60
        ),
    };
    // All hosts connected first, then released together for each fire: the race.
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(HOSTS));
    let hosts: Vec<_> = (0..HOSTS)
        .map(|h| {
            let (db_url, barrier) = (db_url.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut db = Fleet::connect(&db_url, timeout).unwrap();
                let host = format!("host{h:02}");
                let mut latencies = Vec::with_capacity(FIRES);
                let mut won = 0;
                for i in 0..FIRES {
                    barrier.wait();
                    let start = Instant::now();
                    let claim = db.claim(&fire(i), &host, Duration::from_secs(30)).unwrap();
                    latencies.push(start.elapsed());
                    won += usize::from(matches!(claim, Claim::Won { .. }));
                }
                (latencies, won)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut won = 0;
    for h in hosts {
        let (l, w) = h.join().unwrap();
        latencies.extend(l);
        won += w;
    }
    assert_eq!(won, FIRES, "every fire is won exactly once");
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    println!(
        "claim latency, {HOSTS} hosts racing on each of {FIRES} fires ({} claims): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        latencies.len(),
        at(0.50).as_secs_f64() * 1000.0,
        at(0.99).as_secs_f64() * 1000.0,
        latencies.last().unwrap().as_secs_f64() * 1000.0,
    );
    drop(admin.batch_execute("DROP DATABASE IF EXISTS orc_bench_claims"));
}
