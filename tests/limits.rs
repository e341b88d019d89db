//! Resource limits on real processes: a memory-hungry task is stopped at its
//! `memory_max` (in its own cgroup v2 where this machine offers one, recorded as `oom`
//! with the limit and the peak; else by RLIMIT_AS, its allocation refused), `nice`
//! reaches the task, and bad values are refused at their place.

mod common;

#[cfg(target_os = "linux")]
mod suite {
    use super::common;
    use common::TestEnv;
    use serde_json::Value;

    const HOG: &str = r#"
[settings]
backend = "embedded"

[tasks.hog]
command = ["python3", "-c", "x = bytearray(400 * 1024 * 1024); x[::4096] = b'1' * len(x[::4096]); print('allocated')"]
memory_max = "100MB"

[tasks.fits]
command = ["python3", "-c", "x = bytearray(10 * 1024 * 1024); print('fits')"]
memory_max = "200MB"
"#;

    fn run(env: &TestEnv, task: &str) -> (Option<i32>, Value) {
        let o = env.orc(&["run", task, "--json"]);
        let report = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
        (o.status.code(), report)
    }

    /// Where the machine offers no cgroup v2 with the memory controller: RLIMIT_AS
    /// refuses the allocation, and the log says why no cgroup.
    pub fn memory_max_without_a_cgroup_refuses_the_allocation() {
        let env = TestEnv::new();
        env.write_config(HOG);
        env.orc_ok_text(&["apply", "--auto-approve"]);
        let (code, report) = run(&env, "hog");
        assert_eq!(report["status"], "failed", "{report}");
        assert_eq!(code, Some(1));
        let log = env.orc_ok(&["logs", "hog"]);
        assert!(log.contains("MemoryError"), "{log}");
        assert!(!log.contains("allocated"), "{log}");
        assert!(
            log.contains("limits held by rlimits ("),
            "says why no cgroup: {log}"
        );
        // Said before the task's output, so a run still going says it too.
        assert!(
            log.find("limits held by") < log.find("MemoryError"),
            "{log}"
        );
        let (_, report) = run(&env, "fits");
        assert_eq!(report["status"], "success", "{report}");
    }

    /// Where it does (as root in a cgroup whose children get the memory controller):
    /// the kernel's OOM killer stops the task in its cgroup, and the run is `oom`.
    pub fn memory_max_in_a_cgroup_is_an_oom_with_the_limit_and_peak() {
        let env = TestEnv::new();
        env.write_config(HOG);
        env.orc_ok_text(&["apply", "--auto-approve"]);
        let (code, report) = run(&env, "hog");
        assert_eq!(report["status"], "oom", "{report}");
        assert_eq!(code, Some(137));
        let reason = report["reason"].as_str().unwrap();
        assert!(
            reason.starts_with("killed for memory at memory_max 100.0 MB"),
            "{reason}"
        );
        let history: Value =
            serde_json::from_str(&env.orc_ok(&["history", "hog", "--json"])).unwrap();
        assert_eq!(history[0]["status"], "oom");
        let log = env.orc_ok(&["logs", "hog"]);
        assert!(log.contains("limits held by cgroup v2 "), "{log}");
        assert!(
            log.find("limits held by") < log.find("orc finished"),
            "{log}"
        );
        assert!(!log.contains("allocated"), "{log}");
        let (_, report) = run(&env, "fits");
        assert_eq!(report["status"], "success", "{report}");
    }

    pub fn nice_reaches_the_task() {
        let env = TestEnv::new();
        env.write_config(
            "[settings]\nbackend = \"embedded\"\n\n[tasks.low]\ncommand = [\"sh\", \"-c\", \"cut -d' ' -f19 /proc/self/stat > nice\"]\nnice = 7\n",
        );
        env.orc_ok_text(&["apply", "--auto-approve"]);
        let (_, report) = run(&env, "low");
        assert_eq!(report["status"], "success", "{report}");
        assert_eq!(env.read("nice").trim(), "7");
    }

    /// Where the machine gives the runs no cgroup, validate says what it cannot hold.
    pub fn validate_says_what_this_machine_cannot_hold() {
        let env = TestEnv::new();
        env.write_config(
            "[settings]\nbackend = \"embedded\"\n\n[tasks.t]\ncommand = \"true\"\ncpu_max = \"50%\"\n",
        );
        let o = env.orc(&["validate"]);
        let text = String::from_utf8_lossy(&o.stderr).to_string();
        assert_eq!(o.status.code(), Some(0), "a warning, not an error: {text}");
        assert!(
            text.contains("cpu_max is not enforced on this machine: its runs get no cgroup v2 ("),
            "{text}"
        );
        assert!(
            text.contains("tasks.toml:4:8 (task \"t\")"),
            "at the task: {text}"
        );
    }

    pub fn bad_limits_are_refused_at_their_place() {
        let env = TestEnv::new();
        for (config, said) in [
            ("memory_max = \"2 parsecs\"", "memory_max:"),
            ("memory_max = \"10KB\"", "less than 1 MB"),
            ("cpu_max = \"fast\"", "is not a share of one CPU"),
            ("max_processes = 0", "max_processes 0 is not 1 or more"),
            ("nice = 40", "nice 40 is outside -20 (first) to 19 (last)"),
        ] {
            env.write_config(&format!("[tasks.t]\ncommand = \"true\"\n{config}\n"));
            let o = env.orc(&["validate"]);
            let text = String::from_utf8_lossy(&o.stderr).to_string();
            assert_ne!(o.status.code(), Some(0), "{config}");
            assert!(text.contains(said), "{said} not in {text}");
            assert!(text.contains("tasks.toml:3:"), "{text}");
        }
    }

    /// Why this machine makes no cgroup for a run with memory_max, if it does not.
    fn no_cgroup() -> Option<String> {
        let limits = orc::config::Limits {
            memory_max: Some(100 << 20),
            ..Default::default()
        };
        orc::exec::cgroup_parent(&limits).err()
    }

    pub fn main() -> std::process::ExitCode {
        let why = no_cgroup();
        // The machine's kernel, not an install step: ignored with the reason, also
        // under CI, where the machine offers no cgroup v2 memory controller.
        let with_cgroup = libtest_mimic::Trial::test(
            "memory_max_in_a_cgroup_is_an_oom_with_the_limit_and_peak",
            || {
                memory_max_in_a_cgroup_is_an_oom_with_the_limit_and_peak();
                Ok(())
            },
        );
        let with_cgroup = match &why {
            Some(why) => with_cgroup.with_ignored_flag(true).with_kind(format!(
                "needs a cgroup v2 memory controller orc may use; here {why}"
            )),
            None => with_cgroup,
        };
        let without = libtest_mimic::Trial::test(
            "memory_max_without_a_cgroup_refuses_the_allocation",
            || {
                memory_max_without_a_cgroup_refuses_the_allocation();
                Ok(())
            },
        )
        .with_ignored_flag(why.is_none())
        .with_kind(if why.is_none() {
            "needs a machine without a cgroup v2 memory controller".to_string()
        } else {
            String::new()
        });
        let warned =
            libtest_mimic::Trial::test("validate_says_what_this_machine_cannot_hold", || {
                validate_says_what_this_machine_cannot_hold();
                Ok(())
            })
            .with_ignored_flag(why.is_none())
            .with_kind(if why.is_none() {
                "needs a machine without a cgroup v2 for the runs".to_string()
            } else {
                String::new()
            });
        common::run_trials(vec![
            with_cgroup,
            without,
            warned,
            common::trial("nice_reaches_the_task", nice_reaches_the_task, &[]),
            common::trial(
                "bad_limits_are_refused_at_their_place",
                bad_limits_are_refused_at_their_place,
                &[],
            ),
        ])
    }
}

#[cfg(target_os = "linux")]
fn main() -> std::process::ExitCode {
    suite::main()
}

#[cfg(not(target_os = "linux"))]
fn main() {}
