//! `orc daemon` with real processes and the real clock: it fires `* * * * *` tasks on
//! time, picks up an apply while running, and stops cleanly on SIGTERM.

// Process groups, signals and file modes: Unix only.
#![cfg(unix)]

use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::TestEnv;

fn apply(dir: &TestEnv, config: &str) {
    apply_file(dir, "tasks.toml", config);
}

fn task(name: &str, dir: &TestEnv) -> String {
    let marker: PathBuf = dir.join(format!("{name}.fired"));
    format!(
        "[tasks.{name}]\nshell = \"date +%s >> '{}'\"\nschedule = \"* * * * *\"\n",
        marker.display()
    )
}

/// Stops the daemon if a test fails half-way.
struct Daemon(Option<Child>);

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[cfg(unix)]
#[test]
fn fires_on_time_picks_up_applies_and_stops_cleanly() {
    let env = TestEnv::builder().state("state.db").config_in_cwd().build();
    let dir = &env;
    let config_a = format!("[settings]\ntimezone = \"UTC\"\n\n{}", task("first", dir));
    // Start early in a minute, so that the second apply is done before the minute
    // ends even on a busy machine: both tasks then fire at the same minute.
    let second_of_minute = jiff::Timestamp::now().as_second().rem_euclid(60);
    if second_of_minute >= 40 {
        std::thread::sleep(Duration::from_secs((61 - second_of_minute) as u64));
    }
    apply(dir, &config_a);

    let mut daemon = start_daemon(dir);
    std::thread::sleep(Duration::from_millis(500));

    // An apply while the daemon runs: the new task must fire without a restart.
    apply(dir, &format!("{config_a}\n{}", task("second", dir)));

    let start = Instant::now();
    let awaited = next_minute();
    while !(dir.join("first.fired").exists() && dir.join("second.fired").exists()) {
        // One minute, and one more should a loaded machine miss the first.
        if start.elapsed() > Duration::from_secs(130) {
            let fired: Vec<&str> = ["first", "second"]
                .into_iter()
                .filter(|t| dir.join(format!("{t}.fired")).exists())
                .collect();
            fail_with_output(
                daemon,
                dir,
                &format!(
                    "no fire of both tasks within 130 s; awaited the fire at {awaited} (and the minute after); fired: {fired:?}"
                ),
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(500));

    // Fired on time: each run started within 2 s after a minute boundary.
    let o = dir.orc(&["history", "--json"]);
    let runs: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    let scheduled: Vec<&serde_json::Value> = runs
        .iter()
        .filter(|r| r["trigger"] == "scheduled")
        .collect();
    assert!(scheduled.len() >= 2, "{runs:#?}");
    for run in &scheduled {
        let started: jiff::Timestamp = run["started_at"].as_str().unwrap().parse().unwrap();
        let late = started.as_millisecond().rem_euclid(60_000);
        assert!(late < 2_000, "started {late} ms after the minute: {run}");
        assert_eq!(run["status"], "success", "{run}");
    }

    // SIGTERM: it stops, exits 0, and says so.
    let mut child = daemon.0.take().unwrap();
    // SAFETY: signals the daemon we started.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    let stopped = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(10),
            "the daemon did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("1 scheduled task loaded (folder \"Orc\")")
            && text.contains("2 scheduled tasks loaded (folder \"Orc\")"),
        "{text}"
    );
    assert!(
        text.contains("started first") && text.contains("finished second: success"),
        "{text}"
    );
    assert!(text.contains("stopping"), "{text}");
}

#[cfg(unix)]
#[test]
fn fires_a_task_in_its_own_time_zone() {
    let env = TestEnv::builder().state("state.db").config_in_cwd().build();
    let dir = &env;
    if jiff::Timestamp::now().as_second().rem_euclid(60) >= 45 {
        std::thread::sleep(Duration::from_secs(20));
    }
    // The next minute, on Kathmandu's clock (UTC+05:45: no whole-hour zone agrees).
    let fire = next_minute();
    let kathmandu = jiff::tz::TimeZone::get("Asia/Kathmandu").unwrap();
    let at = fire
        .to_zoned_datetime(kathmandu)
        .strftime("%H:%M")
        .to_string();
    let marker = |name: &str| dir.join(format!("{name}.fired")).display().to_string();
    apply(
        dir,
        &format!(
            "[settings]\ntimezone = \"UTC\"\n\n\
             [tasks.kathmandu]\nshell = \"date +%s >> '{}'\"\nschedule = \"{at}\"\ntimezone = \"Asia/Kathmandu\"\n\n\
             [tasks.utc]\nshell = \"date +%s >> '{}'\"\nschedule = \"{at}\"\n",
            marker("kathmandu"),
            marker("utc")
        ),
    );
    let daemon = start_daemon(dir);
    let start = Instant::now();
    while !dir.join("kathmandu.fired").exists() {
        if start.elapsed() > Duration::from_secs(100) {
            fail_with_output(
                daemon,
                dir,
                &format!("the task at {at} Kathmandu time did not fire at {fire}"),
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let runs = wait_for_history(dir, Duration::from_secs(20), |runs| {
        runs.iter()
            .any(|r| r["task"] == "kathmandu" && r["status"] == "success")
    });
    stop_daemon(daemon);
    let run = runs.iter().find(|r| r["task"] == "kathmandu").unwrap();
    let scheduled: jiff::Timestamp = run["scheduled_for"].as_str().unwrap().parse().unwrap();
    assert_eq!(scheduled, fire, "{run}");
    assert!(
        !dir.join("utc.fired").exists(),
        "the same time in the settings' zone (UTC) is hours away"
    );
}

/// The next minute boundary: the fire a `* * * * *` task waits for.
fn next_minute() -> jiff::Timestamp {
    let now = jiff::Timestamp::now().as_second();
    jiff::Timestamp::from_second(now - now.rem_euclid(60) + 60).unwrap()
}

/// Stop the daemon and fail, showing everything it printed and the history.
fn fail_with_output(mut daemon: Daemon, dir: &TestEnv, what: &str) -> ! {
    let mut child = daemon.0.take().unwrap();
    // SAFETY: signals the daemon we started.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    std::thread::sleep(Duration::from_secs(2));
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    panic!(
        "{what}\n--- the daemon printed ({:?}):\n{}{}\n--- the history:\n{:#?}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        history(dir)
    );
}

/// Start `orc daemon` on the test's state, its output piped.
fn start_daemon(dir: &TestEnv) -> Daemon {
    start_daemon_with(dir, &[])
}

fn start_daemon_with(dir: &TestEnv, args: &[&str]) -> Daemon {
    let child = dir
        .command(&["daemon"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    Daemon(Some(child))
}

/// SIGTERM the daemon, wait for it, and return what it printed.
#[cfg(unix)]
fn stop_daemon(mut daemon: Daemon) -> String {
    let child = daemon.0.take().unwrap();
    // SAFETY: signals the daemon we started.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{:?}", out.status);
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Pretend the daemon has been down since `minutes` ago: the state says the tasks
/// were applied then, and nothing ran since.
fn backdate_apply(dir: &TestEnv, minutes: i64) -> jiff::Timestamp {
    let at = jiff::Timestamp::now() - jiff::SignedDuration::from_mins(minutes);
    let db = dir.db();
    db.execute(
        "UPDATE tasks SET applied_at = ?1",
        [at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()],
    )
    .unwrap();
    at
}

fn history(dir: &TestEnv) -> Vec<serde_json::Value> {
    let o = dir.orc(&["history", "--json"]);
    serde_json::from_slice(&o.stdout).unwrap()
}

/// Wait until `check` holds on the history, or fail after `limit`.
fn wait_for_history(
    dir: &TestEnv,
    limit: Duration,
    check: impl Fn(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    let start = Instant::now();
    loop {
        let runs = history(dir);
        if check(&runs) {
            return runs;
        }
        assert!(start.elapsed() < limit, "gave up waiting: {runs:#?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(unix)]
#[test]
fn catches_up_after_a_restart_and_flags_missed_fires() {
    let env = TestEnv::builder().state("state.db").config_in_cwd().build();
    let dir = &env;
    apply(
        dir,
        &format!(
            "[settings]\ntimezone = \"UTC\"\n\n{}catch_up = \"1h\"\n\n{}",
            task("hourly_sync", dir).replace("* * * * *", "*/5 * * * *"),
            task("plain", dir).replace("* * * * *", "*/5 * * * *"),
        ),
    );
    // The daemon was down for 32 minutes: six or seven five-minute fires passed.
    let down_since = backdate_apply(dir, 32);
    // Five-minute fires since then (a boundary may pass while the test runs).
    let fires_since_down =
        || (jiff::Timestamp::now().as_second() / 300 - down_since.as_second() / 300) as usize;
    let expected = fires_since_down();

    let daemon = start_daemon(dir);
    let runs = wait_for_history(dir, Duration::from_secs(20), |runs| {
        runs.iter()
            .any(|r| r["trigger"] == "catch-up" && r["status"] == "success")
            && runs.iter().filter(|r| r["status"] == "missed").count() == 2
    });
    let out = stop_daemon(daemon);

    // hourly_sync ran once to catch up the latest fire; the rest are one missed row.
    let catch_ups: Vec<_> = runs.iter().filter(|r| r["trigger"] == "catch-up").collect();
    assert_eq!(catch_ups.len(), 1, "{runs:#?}");
    assert_eq!(catch_ups[0]["task"], "hourly_sync");
    let due: jiff::Timestamp = catch_ups[0]["scheduled_for"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        due.as_second() % 300,
        0,
        "caught up a real fire time: {due}"
    );
    assert!(jiff::Timestamp::now().duration_since(due) < jiff::SignedDuration::from_mins(5));
    assert!(dir.join("hourly_sync.fired").exists());

    let missed = |task: &str| -> String {
        let row = runs
            .iter()
            .find(|r| r["task"] == task && r["status"] == "missed")
            .unwrap_or_else(|| panic!("no missed row for {task}: {runs:#?}"));
        row["reason"].as_str().unwrap().to_string()
    };
    let counts = expected..=fires_since_down();
    let count = |reason: String| -> usize {
        let n = reason
            .strip_prefix("missed ")
            .and_then(|r| r.split(' ').next())
            .and_then(|n| n.parse().ok());
        n.unwrap_or_else(|| panic!("{reason}"))
    };
    assert!(
        counts.contains(&(count(missed("hourly_sync")) + 1)),
        "{}",
        missed("hourly_sync")
    );
    assert!(
        counts.contains(&count(missed("plain"))),
        "{}",
        missed("plain")
    );
    assert!(missed("plain").ends_with(": the scheduler was not running"));
    assert!(
        !dir.join("plain.fired").exists(),
        "no catch_up, no catch-up run"
    );
    assert!(
        out.contains("started hourly_sync to catch up the run due at"),
        "{out}"
    );
    assert!(out.contains("plain missed"), "{out}");

    // A second restart finds nothing new to catch up or flag.
    let daemon = start_daemon(dir);
    std::thread::sleep(Duration::from_secs(2));
    stop_daemon(daemon);
    let again = history(dir);
    let now = jiff::Timestamp::now();
    // (Unless a five-minute boundary passed meanwhile and fired normally.)
    if now.as_second() % 300 > 5 {
        assert_eq!(again.len(), runs.len(), "{again:#?}");
    }
}

#[cfg(unix)]
#[test]
fn runs_at_most_max_concurrent_at_once() {
    let env = TestEnv::builder().state("state.db").config_in_cwd().build();
    let dir = &env;
    let slow = |name: &str| {
        format!(
            "[tasks.{name}]\nshell = \"sleep 1\"\nschedule = \"*/5 * * * *\"\ncatch_up = \"1h\"\n\n"
        )
    };
    apply(
        dir,
        &format!(
            "[settings]\ntimezone = \"UTC\"\nmax_concurrent = 1\n\n{}{}{}",
            slow("a"),
            slow("b"),
            slow("c")
        ),
    );
    backdate_apply(dir, 10);
    // Three catch-ups are due at once; one at a time may run.
    let daemon = start_daemon(dir);
    let runs = wait_for_history(dir, Duration::from_secs(30), |runs| {
        runs.iter()
            .filter(|r| r["trigger"] == "catch-up" && r["status"] == "success")
            .count()
            == 3
    });
    stop_daemon(daemon);
    let mut spans: Vec<(jiff::Timestamp, jiff::Timestamp)> = runs
        .iter()
        .filter(|r| r["trigger"] == "catch-up")
        .map(|r| {
            (
                r["started_at"].as_str().unwrap().parse().unwrap(),
                r["finished_at"].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect();
    spans.sort();
    for pair in spans.windows(2) {
        assert!(pair[1].0 >= pair[0].1, "runs overlapped: {spans:?}");
    }
}

/// `orc up` applies, schedules, serves the dashboard and applies saved edits beside
/// the scheduler; a SIGTERM stops it all.
#[test]
fn up_serves_the_dashboard_beside_the_scheduler() {
    use std::io::{BufRead, BufReader};
    let env = TestEnv::builder().state("state.db").build();
    let file = env.config();
    // settings.backend says cron, but orc up runs the embedded scheduler: so must
    // everything its dashboard plans and applies.
    let settings = "[settings]\nbackend = \"cron\"\n\n";
    std::fs::write(
        &file,
        format!("{settings}[tasks.hello]\nshell = \"echo hi\"\nschedule = \"@daily\"\n"),
    )
    .unwrap();
    let mut child = env
        .command(&["up", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let up = Daemon(Some(child));
    let mut seen = Vec::new();
    let addr = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| {
            seen.push(line.clone());
            line.split("Dashboard and API on http://")
                .nth(1)
                .map(str::to_string)
        })
        .unwrap_or_else(|| panic!("no dashboard line in {seen:?}"));
    // Keep reading, as a terminal would: the daemon prints until it stops.
    let rest = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());
    // Reads need the token, made beside the state before the server listens.
    let token = std::fs::read_to_string(env.join("serve.token")).unwrap();
    let auth = format!("Bearer {}", token.trim());
    let mut page = ureq::get(&format!("http://{addr}/"))
        .header("Authorization", &auth)
        .call()
        .unwrap();
    let body = page.body_mut().read_to_string().unwrap();
    assert!(body.contains("data-name=\"hello\""), "{body}");
    // The watcher is part of it: a saved edit is applied without a restart.
    std::fs::write(
        &file,
        format!("{settings}[tasks.hello]\nshell = \"echo hi\"\nschedule = \"@daily\"\n\n[tasks.added]\nshell = \"echo new\"\n"),
    )
    .unwrap();
    let start = Instant::now();
    loop {
        let mut r = ureq::get(&format!("http://{addr}/api/tasks"))
            .header("Authorization", &auth)
            .call()
            .unwrap();
        if r.body_mut().read_to_string().unwrap().contains("\"added\"") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the edit was not applied"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut plan = ureq::get(&format!("http://{addr}/api/plan"))
        .header("Authorization", &auth)
        .call()
        .unwrap();
    let plan: serde_json::Value =
        serde_json::from_str(&plan.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(plan["backend"], "embedded", "{plan}");
    assert_eq!(plan["has_changes"], false, "{plan}");
    let pid = up.0.as_ref().unwrap().id();
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let mut up = up;
    let status = up.0.as_mut().unwrap().wait().unwrap();
    let rest = rest.join().unwrap();
    assert!(status.success(), "{status:?}: {rest:?}");
    assert!(rest.iter().any(|l| l.contains("stopping")), "{rest:?}");
}

/// Write `config` to `file` in `dir` and apply it to the embedded backend.
fn apply_file(dir: &TestEnv, file: &str, config: &str) {
    let path = dir.join(file);
    std::fs::write(&path, config).unwrap();
    let o = dir.orc(&[
        "apply",
        "--auto-approve",
        "--backend",
        "embedded",
        "--config",
        path.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Without --folder, the daemon schedules every embedded folder applied to its
/// state, including one applied while it runs, and says which.
#[cfg(unix)]
#[test]
fn schedules_every_applied_folder() {
    let env = TestEnv::builder().state("state.db").config_in_cwd().build();
    let dir = &env;
    let second_of_minute = jiff::Timestamp::now().as_second().rem_euclid(60);
    if second_of_minute >= 40 {
        std::thread::sleep(Duration::from_secs((61 - second_of_minute) as u64));
    }
    apply_file(
        dir,
        "sales.toml",
        &format!(
            "[settings]\nfolder = \"Sales\"\ntimezone = \"UTC\"\n\n{}",
            task("sales_job", dir)
        ),
    );
    let daemon = start_daemon(dir);
    std::thread::sleep(Duration::from_millis(500));
    // A second folder, applied while the daemon runs, with a name Sales has too.
    apply_file(
        dir,
        "ops.toml",
        &format!(
            "[settings]\nfolder = \"Ops\"\ntimezone = \"UTC\"\n\n{}\n{}",
            task("ops_job", dir),
            task("ops_sales", dir).replace("[tasks.ops_sales]", "[tasks.sales_job]")
        ),
    );
    let start = Instant::now();
    let awaited = next_minute();
    let all_fired = || {
        ["sales_job", "ops_job", "ops_sales"]
            .iter()
            .all(|t| dir.join(format!("{t}.fired")).exists())
    };
    while !all_fired() {
        if start.elapsed() > Duration::from_secs(130) {
            fail_with_output(
                daemon,
                dir,
                &format!("the two folders' tasks did not both fire; awaited {awaited}"),
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(500));
    let out = stop_daemon(daemon);
    assert!(
        out.contains("scheduling every embedded folder applied to the state"),
        "{out}"
    );
    assert!(
        out.contains("1 scheduled task loaded (folder \"Sales\")")
            && out.contains("3 scheduled tasks loaded (folders \"Ops\", \"Sales\")"),
        "{out}"
    );
    let runs = history(dir);
    let folders: std::collections::BTreeSet<&str> = runs
        .iter()
        .filter(|r| r["trigger"] == "scheduled" && r["status"] == "success")
        .map(|r| r["folder"].as_str().unwrap())
        .collect();
    assert_eq!(folders, ["Ops", "Sales"].into_iter().collect(), "{runs:#?}");
}

/// A daemon told to schedule a folder nothing was applied to says so.
#[cfg(unix)]
#[test]
fn warns_when_it_schedules_nothing() {
    let env = TestEnv::builder().state("state.db").config_in_cwd().build();
    let dir = &env;
    apply(
        dir,
        &format!("[settings]\nfolder = \"Sales\"\n\n{}", task("job", dir)),
    );
    // A damaged registry of another folder is reported, and stops nothing.
    std::fs::write(dir.join("registry/Junk.json"), "{not json").unwrap();
    let daemon = start_daemon_with(dir, &["--folder", "Orc"]);
    std::thread::sleep(Duration::from_secs(2));
    let out = stop_daemon(daemon);
    let all = start_daemon(dir);
    std::thread::sleep(Duration::from_secs(2));
    let all = stop_daemon(all);
    assert!(
        all.contains("1 scheduled task loaded (folder \"Sales\")")
            && all.contains("Junk.json cannot be read"),
        "{all}"
    );
    assert!(
        out.contains("0 scheduled tasks loaded (folder \"Orc\")")
            && out.contains("warning: nothing to schedule"),
        "{out}"
    );
    assert!(out.contains("scheduling folder \"Orc\""), "{out}");
}
