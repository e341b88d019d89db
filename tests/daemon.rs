//! `orc daemon` with real processes and the real clock: it fires `* * * * *` tasks on
//! time, picks up an apply while running, and stops cleanly on SIGTERM.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn orc(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_orc"))
        .args(args)
        .arg("--state")
        .arg(dir.join("state.db"))
        .env("NO_COLOR", "1")
        .env("ORC_HOSTNAME", "testhost")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn apply(dir: &Path, config: &str) {
    let file = dir.join("tasks.toml");
    std::fs::write(&file, config).unwrap();
    let o = orc(
        dir,
        &[
            "apply",
            "--auto-approve",
            "--backend",
            "embedded",
            "--config",
            file.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn task(name: &str, dir: &Path) -> String {
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
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let config_a = format!("[settings]\ntimezone = \"UTC\"\n\n{}", task("first", dir));
    apply(dir, &config_a);

    let child = Command::new(env!("CARGO_BIN_EXE_orc"))
        .args(["daemon", "--state"])
        .arg(dir.join("state.db"))
        .env("NO_COLOR", "1")
        .env("ORC_HOSTNAME", "testhost")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut daemon = Daemon(Some(child));
    std::thread::sleep(Duration::from_millis(500));

    // An apply while the daemon runs: the new task must fire without a restart.
    apply(dir, &format!("{config_a}\n{}", task("second", dir)));

    let start = Instant::now();
    while !(dir.join("first.fired").exists() && dir.join("second.fired").exists()) {
        assert!(
            start.elapsed() < Duration::from_secs(80),
            "no fire within 80 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(500));

    // Fired on time: each run started within 2 s after a minute boundary.
    let o = orc(dir, &["history", "--json"]);
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
        text.contains("1 scheduled task loaded") && text.contains("2 scheduled tasks loaded"),
        "{text}"
    );
    assert!(
        text.contains("started first") && text.contains("finished second: success"),
        "{text}"
    );
    assert!(text.contains("stopping"), "{text}");
}
