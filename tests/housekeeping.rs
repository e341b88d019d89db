//! What surrounds a run: runtime settings recorded by apply (and shown in the plan),
//! retention with orc's own log, `orc logs --follow`, `max_log_size`, `jitter` under
//! `orc run`, and the `vpn` dependencies. Unix only (`sh`, process groups). The tunnel
//! test needs root and /dev/net/tun, and the no-tunnel test a machine without VPN
//! interfaces: elsewhere they are reported as ignored (a failure under CI=true).

mod common;

#[cfg(unix)]
mod suite {
    use super::common;
    use common::TestEnv;

    use std::process::{Command, Output, Stdio};
    use std::time::{Duration, Instant, SystemTime};

    use serde_json::Value;

    trait HousekeepingEnv {
        fn apply(&self, config: &str);
        fn orc_log(&self) -> String;
    }

    impl HousekeepingEnv for TestEnv {
        fn apply(&self, config: &str) {
            self.write_config(config);
            let o = self.orc(&["apply", "--auto-approve", "--backend", "embedded"]);
            assert!(o.status.success(), "apply failed:\n{}", text(&o));
        }

        /// Everything orc's own log holds.
        fn orc_log(&self) -> String {
            let dir = self.path("state/orc-log");
            let mut all = String::new();
            for entry in
                std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            {
                all.push_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap());
            }
            all
        }
    }

    fn text(o: &Output) -> String {
        format!(
            "exit {:?}\nstdout:\n{}\nstderr:\n{}",
            o.status.code(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    }

    fn json(o: &Output) -> Value {
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("no JSON ({e}):\n{}", text(o)))
    }

    fn runtime_settings_are_planned_applied_and_recorded() {
        let env = TestEnv::new();
        let task = "[tasks.a]\ncommand = \"true\"\n";
        env.apply(task);
        let recorded = |env: &TestEnv| -> Option<String> {
            env.db()
                .query_row(
                    "SELECT value FROM settings WHERE key LIKE 'runtime:%'",
                    [],
                    |r| r.get(0),
                )
                .ok()
        };
        assert_eq!(recorded(&env), None, "defaults need no record");

        env.write_config(&format!(
            "[settings]\nmax_concurrent = 3\nhistory_retention = \"7d\"\n\n{task}"
        ));
        let o = env.orc(&["plan", "--detailed-exitcode", "--backend", "embedded"]);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.contains("~ settings {"), "{out}");
        assert!(out.contains("- max_concurrent = 8"), "{out}");
        assert!(out.contains("+ max_concurrent = 3"), "{out}");
        assert!(out.contains("+ history_retention = \"7d\""), "{out}");
        assert!(out.contains("0 to add, 1 to change, 0 to destroy"), "{out}");

        let plan = json(&env.orc(&["plan", "--json", "--backend", "embedded"]));
        let fields: Vec<&str> = plan["settings"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["field"].as_str().unwrap())
            .collect();
        assert_eq!(fields, ["history_retention", "max_concurrent"]);

        let o = env.orc(&["apply", "--auto-approve", "--backend", "embedded"]);
        assert!(o.status.success(), "{}", text(&o));
        let value: Value = serde_json::from_str(&recorded(&env).unwrap()).unwrap();
        assert_eq!(value["max_concurrent"], 3);
        assert_eq!(value["history_retention"], 7 * 86_400);
        let o = env.orc(&["plan", "--detailed-exitcode", "--backend", "embedded"]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("No changes."),
            "{}",
            text(&o)
        );
    }

    fn retention_deletes_old_history_and_logs_and_says_so_in_orcs_log() {
        let env = TestEnv::new();
        env.apply(
        "[settings]\nhistory_retention = \"2d\"\nlog_retention = \"1d\"\n\n[tasks.a]\ncommand = \"true\"\n",
    );
        // Old history: three finished runs from last week, one still "running" from then
        // (its process may still go on: it is never deleted), one from an hour ago.
        let db = env.db();
        let week_ago = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(7 * 24);
        let hour_ago = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1);
        for (at, status, finished) in [
            (week_ago, "success", true),
            (week_ago, "failed", true),
            (week_ago, "missed", true),
            (week_ago, "running", false),
            (hour_ago, "success", true),
        ] {
            let at = at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
            db.execute(
            "INSERT INTO runs (task, folder, started_at, finished_at, status) VALUES ('a', 'Orc', ?1, ?2, ?3)",
            rusqlite::params![at, finished.then_some(&at), status],
        )
        .unwrap();
        }
        drop(db);
        // Logs: two old run logs, one recent; and an old file that is no run log.
        let logs = env.path("state/logs/a");
        std::fs::create_dir_all(&logs).unwrap();
        let two_days_ago = SystemTime::now() - Duration::from_secs(2 * 86_400);
        for (name, bytes, old) in [
            ("1.log", 1000, true),
            ("2.log", 500, true),
            ("5.log", 10, false),
            ("notes.txt", 10, true),
        ] {
            let path = logs.join(name);
            std::fs::write(&path, vec![b'x'; bytes]).unwrap();
            if old {
                let f = std::fs::File::options().write(true).open(&path).unwrap();
                f.set_modified(two_days_ago).unwrap();
            }
        }

        let o = env.orc(&["run", "a"]);
        assert!(o.status.success(), "{}", text(&o));

        let statuses: Vec<String> = {
            let db = env.db();
            let mut stmt = db
                .prepare("SELECT status FROM runs WHERE started_at < ?1 ORDER BY id")
                .unwrap();
            let cutoff = (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(48))
                .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string();
            stmt.query_map([cutoff], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        };
        assert_eq!(statuses, ["running"], "old finished runs are gone");
        let history = json(&env.orc(&["history", "a", "--json"]));
        assert_eq!(history.as_array().unwrap().len(), 3, "{history:#}");

        assert!(!logs.join("1.log").exists() && !logs.join("2.log").exists());
        assert!(logs.join("5.log").exists(), "a recent log stays");
        assert!(logs.join("notes.txt").exists(), "only run logs are touched");

        let log = env.orc_log();
        assert!(
        log.contains("retention: deleted 3 run record(s) older than 2d and 2 log file(s) older than 1d (1.5 KB freed)"),
        "{log}"
    );
        assert!(log.contains("run 6 of a started (manual)"), "{log}");
        assert!(log.contains("cmd=\"run\""), "{log}");

        // Within the hour it does not run again.
        let o = env.orc(&["run", "a"]);
        assert!(o.status.success(), "{}", text(&o));
        assert_eq!(env.orc_log().matches("retention:").count(), 1);
    }

    fn orc_log_off_writes_nothing() {
        let env = TestEnv::new();
        env.apply("[tasks.a]\ncommand = \"true\"\n");
        let before = env.orc_log();
        let o = env
            .command(&["run", "a"])
            .env("ORC_LOG", "off")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        assert_eq!(env.orc_log(), before);
    }

    fn logs_follow_prints_a_running_run_until_it_ends() {
        let env = TestEnv::new();
        env.apply(
            "[tasks.slow]\nshell = \"for i in 1 2 3 4 5; do echo line $i; sleep 0.3; done\"\n",
        );
        let mut run = env
            .command(&["run", "slow"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        // Wait until the run exists, then follow it from its first lines.
        let start = Instant::now();
        loop {
            let history = json(&env.orc(&["history", "slow", "--json"]));
            if history.as_array().is_some_and(|h| !h.is_empty()) {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(10));
            std::thread::sleep(Duration::from_millis(20));
        }
        let o = env.orc(&["logs", "slow", "--follow"]);
        let followed_until = Instant::now();
        assert!(o.status.success(), "{}", text(&o));
        assert!(run.wait().unwrap().success());
        let out = String::from_utf8_lossy(&o.stdout);
        for i in 1..=5 {
            assert!(out.contains(&format!("out line {i}")), "{out}");
        }
        assert!(out.contains("finished: success"), "{out}");
        assert!(
            followed_until.duration_since(start) >= Duration::from_millis(900),
            "follow must wait for the run to end"
        );
    }

    fn max_log_size_caps_each_run_log() {
        let env = TestEnv::new();
        env.apply(
        "[settings]\nmax_log_size = \"64KB\"\n\n[tasks.loud]\nshell = \"yes 0123456789 | head -c 1000000\"\n",
    );
        let o = env.orc(&["run", "loud", "--json"]);
        assert!(o.status.success(), "{}", text(&o));
        let log = json(&o)["log_path"].as_str().unwrap().to_string();
        let size = std::fs::metadata(&log).unwrap().len();
        assert!(size <= 64 * 1024, "{size} bytes");
        assert!(size >= 16 * 1024, "the newest part is kept: {size} bytes");
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(
            text.contains("earlier bytes of output dropped"),
            "{}",
            &text[..200]
        );
    }

    fn scheduled_runs_wait_for_their_jitter_and_manual_runs_do_not() {
        let env = TestEnv::new();
        env.apply("[tasks.j]\ncommand = \"true\"\nschedule = \"0 3 * * *\"\njitter = \"1s\"\n");
        let timed = |args: &[&str]| {
            let start = Instant::now();
            for _ in 0..5 {
                let o = env.orc(args);
                assert!(o.status.success(), "{}", text(&o));
            }
            start.elapsed()
        };
        let manual = timed(&["run", "j"]);
        let no_jitter = timed(&["run", "j", "--trigger", "scheduled", "--no-jitter"]);
        let scheduled = timed(&["run", "j", "--trigger", "scheduled"]);
        // Five uniform delays below 1 s: their sum is below 0.5 s with probability 1/3840.
        assert!(
            scheduled >= manual + Duration::from_millis(500),
            "scheduled {scheduled:?}, manual {manual:?}"
        );
        assert!(
            scheduled <= manual + Duration::from_secs(5) + Duration::from_millis(500),
            "never more than the jitter: {scheduled:?}"
        );
        assert!(
            no_jitter < manual + Duration::from_millis(500),
            "--no-jitter {no_jitter:?}, manual {manual:?}"
        );
    }

    fn vpn_host_dependency_needs_the_name_to_resolve() {
        let env = TestEnv::new();
        env.apply(
            "[tasks.inside]\ncommand = \"true\"\ndependencies = [\"vpn:localhost\"]\n\n\
         [tasks.outside]\ncommand = \"true\"\ndependencies = [\"vpn:intranet.orc-test.invalid\"]\n",
        );
        let o = env.orc(&["run", "inside", "--json"]);
        assert!(o.status.success(), "{}", text(&o));
        let o = env.orc(&["run", "outside", "--json"]);
        assert_eq!(o.status.code(), Some(75), "{}", text(&o));
        let reason = json(&o)["reason"].as_str().unwrap().to_string();
        assert!(
            reason.starts_with("VPN host \"intranet.orc-test.invalid\" does not resolve"),
            "{reason}"
        );
    }

    /// A tun device, attached so that it has carrier, as a VPN client's is; removed on drop.
    struct Tunnel {
        name: String,
        _fd: std::fs::File,
    }

    impl Tunnel {
        fn create(name: &str) -> std::io::Result<Tunnel> {
            use std::os::fd::AsRawFd;
            let fd = std::fs::File::options()
                .read(true)
                .write(true)
                .open("/dev/net/tun")?;
            // struct ifreq: 16 bytes of name, then the flags (IFF_TUN | IFF_NO_PI).
            let mut ifreq = [0u8; 40];
            ifreq[..name.len()].copy_from_slice(name.as_bytes());
            ifreq[16..18].copy_from_slice(&(0x0001u16 | 0x1000).to_ne_bytes());
            const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
            // SAFETY: TUNSETIFF reads and writes the 40-byte ifreq we own.
            if unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETIFF as _, ifreq.as_mut_ptr()) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
            let up = Command::new("ip")
                .args(["link", "set", name, "up"])
                .output()?;
            if !up.status.success() {
                return Err(std::io::Error::other(
                    String::from_utf8_lossy(&up.stderr).into_owned(),
                ));
            }
            Ok(Tunnel {
                name: name.to_string(),
                _fd: fd,
            })
        }
    }

    impl Drop for Tunnel {
        fn drop(&mut self) {
            // Closing the descriptor removes a non-persistent tun device; make sure.
            let _ = Command::new("ip")
                .args(["link", "delete", &self.name])
                .output();
        }
    }

    /// The tunnel interfaces of this machine (what orc's `vpn` dependency looks for).
    fn tunnel_interfaces() -> Vec<String> {
        std::fs::read_dir("/sys/class/net")
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| ["tun", "tap", "ppp", "wg"].iter().any(|p| n.starts_with(p)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Why the no-VPN test cannot run here: the machine has tunnels of its own.
    fn having_tunnels() -> Option<String> {
        let others = tunnel_interfaces();
        (!others.is_empty())
            .then(|| format!("a machine without tunnel interfaces (has {others:?})"))
    }

    /// Why the tunnel test cannot run here: a tun device cannot be created.
    fn missing_tun() -> Option<String> {
        Tunnel::create("orcprobe0")
            .err()
            .map(|e| format!("a tun device ({e}; needs root and /dev/net/tun)"))
    }

    /// The two vpn tests, one at a time: one needs no tunnel up, the other brings one up.
    static TUNNELS: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn vpn_dependency_waits_without_a_tunnel_interface() {
        let _one = TUNNELS.lock().unwrap_or_else(|e| e.into_inner());
        let env = TestEnv::new();
        env.apply("[tasks.remote]\ncommand = \"true\"\ndependencies = [\"vpn\"]\n");
        let o = env.orc(&["run", "remote", "--json"]);
        assert_eq!(o.status.code(), Some(75), "{}", text(&o));
        assert_eq!(
            json(&o)["reason"],
            "no VPN interface (tun, tap, ppp, WireGuard) is up and running"
        );
    }

    fn vpn_dependency_passes_with_a_tunnel_interface_up() {
        let _one = TUNNELS.lock().unwrap_or_else(|e| e.into_inner());
        let env = TestEnv::new();
        env.apply("[tasks.remote]\ncommand = \"true\"\ndependencies = [\"vpn\"]\n");
        let tunnel = Tunnel::create("orcvpn0").expect("a tun device (root and /dev/net/tun)");
        let o = env.orc(&["run", "remote", "--json"]);
        assert!(o.status.success(), "with {} up: {}", tunnel.name, text(&o));
        drop(tunnel);
    }

    fn a_second_start_for_the_same_fire_does_nothing() {
        let env = TestEnv::new();
        env.apply("[tasks.t]\nshell = \"sleep 1\"\nschedule = \"* * * * *\"\n");
        let fire = [
            "run",
            "t",
            "--trigger",
            "scheduled",
            "--scheduled-for",
            "2026-01-01T06:00:00Z",
            "--json",
        ];
        // Two starts at once (two triggers matching one minute), then one more later.
        let first = env.command(&fire).stdout(Stdio::piped()).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let second = env.orc(&fire);
        let first = first.wait_with_output().unwrap();
        let third = env.orc(&fire);
        assert!(first.status.success(), "{}", text(&first));
        assert_eq!(json(&first)["status"], "success");
        for o in [&second, &third] {
            assert_eq!(o.status.code(), Some(0), "{}", text(o));
            let report = json(o);
            assert_eq!(report["status"], "duplicate", "{report}");
            assert_eq!(report["id"], json(&first)["id"]);
        }
        let history = json(&env.orc(&["history", "t", "--json"]));
        assert_eq!(history.as_array().unwrap().len(), 1, "{history:#}");
        assert_eq!(history[0]["scheduled_for"], "2026-01-01T06:00:00.000Z");

        // --once-per-fire works the fire time out itself: two starts, one run.
        let a = env.orc(&[
            "run",
            "t",
            "--trigger",
            "scheduled",
            "--once-per-fire",
            "--json",
        ]);
        let b = env.orc(&[
            "run",
            "t",
            "--trigger",
            "scheduled",
            "--once-per-fire",
            "--json",
        ]);
        let statuses = [json(&a)["status"].clone(), json(&b)["status"].clone()];
        // (Unless a minute boundary fell between the two starts: then both ran.)
        assert!(
            statuses == ["success", "duplicate"] || statuses == ["success", "success"],
            "{statuses:?}"
        );
        let history = json(&env.orc(&["history", "t", "--json"]));
        let fires: Vec<&str> = history
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["scheduled_for"].as_str().unwrap())
            .collect();
        assert!(fires.iter().all(|f| f.ends_with(":00.000Z")), "{fires:?}");
    }

    pub fn main() -> std::process::ExitCode {
        common::run_trials(vec![
            common::trial(
                "runtime_settings_are_planned_applied_and_recorded",
                runtime_settings_are_planned_applied_and_recorded,
                &[],
            ),
            common::trial(
                "retention_deletes_old_history_and_logs_and_says_so_in_orcs_log",
                retention_deletes_old_history_and_logs_and_says_so_in_orcs_log,
                &[],
            ),
            common::trial(
                "orc_log_off_writes_nothing",
                orc_log_off_writes_nothing,
                &[],
            ),
            common::trial(
                "logs_follow_prints_a_running_run_until_it_ends",
                logs_follow_prints_a_running_run_until_it_ends,
                &[],
            ),
            common::trial(
                "max_log_size_caps_each_run_log",
                max_log_size_caps_each_run_log,
                &[],
            ),
            common::trial(
                "scheduled_runs_wait_for_their_jitter_and_manual_runs_do_not",
                scheduled_runs_wait_for_their_jitter_and_manual_runs_do_not,
                &[],
            ),
            common::trial(
                "vpn_host_dependency_needs_the_name_to_resolve",
                vpn_host_dependency_needs_the_name_to_resolve,
                &[],
            ),
            common::trial(
                "vpn_dependency_waits_without_a_tunnel_interface",
                vpn_dependency_waits_without_a_tunnel_interface,
                &[having_tunnels()],
            ),
            common::trial(
                "vpn_dependency_passes_with_a_tunnel_interface_up",
                vpn_dependency_passes_with_a_tunnel_interface_up,
                &[missing_tun()],
            ),
            common::trial(
                "a_second_start_for_the_same_fire_does_nothing",
                a_second_start_for_the_same_fire_does_nothing,
                &[],
            ),
        ])
    }
}

#[cfg(unix)]
fn main() -> std::process::ExitCode {
    suite::main()
}

#[cfg(not(unix))]
fn main() {}
