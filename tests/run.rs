//! `orc run`, `orc history` and `orc logs` against real processes: timeouts that stop
//! whole process trees, retries with their delays, exit codes, file/url/condition
//! dependencies, overlap and crash recovery, capped timestamped logs, secrets and
//! `--if-due`. Unix only (process groups, `sh`, `kill`).

mod common;

#[cfg(unix)]
mod suite {
    use super::common;
    use common::TestEnv;

    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, Output, Stdio};
    use std::time::{Duration, Instant};

    use serde_json::Value;

    trait RunEnv {
        fn apply(&self, config: &str);
        fn run(&self, name: &str) -> (i32, Value);
        fn history(&self, name: &str) -> Vec<Value>;
        fn statuses(&self, name: &str) -> Vec<String>;
        fn logs(&self, name: &str, run: Option<i64>) -> String;
        fn wait_for_file(&self, name: &str, within: Duration);
    }

    impl RunEnv for TestEnv {
        /// Write the config and apply it to the embedded backend.
        fn apply(&self, config: &str) {
            std::fs::write(self.config(), config).unwrap();
            let o = self.orc(&["apply", "--auto-approve"]);
            assert_eq!(code(&o), 0, "apply failed:\n{}", text(&o));
        }

        /// `orc run NAME --json`: the exit code and the printed report.
        fn run(&self, name: &str) -> (i32, Value) {
            let o = self.orc(&["run", name, "--json"]);
            let report = serde_json::from_slice(&o.stdout)
                .unwrap_or_else(|e| panic!("orc run {name} printed no JSON ({e}):\n{}", text(&o)));
            (code(&o), report)
        }

        /// `orc history NAME --json`, newest first.
        fn history(&self, name: &str) -> Vec<Value> {
            let o = self.orc(&["history", name, "--json"]);
            assert_eq!(code(&o), 0, "{}", text(&o));
            serde_json::from_slice::<Value>(&o.stdout)
                .unwrap()
                .as_array()
                .unwrap()
                .clone()
        }

        /// The statuses of `name`'s runs, newest first.
        fn statuses(&self, name: &str) -> Vec<String> {
            self.history(name)
                .iter()
                .map(|r| s(r, "status").to_string())
                .collect()
        }

        fn logs(&self, name: &str, run: Option<i64>) -> String {
            let mut args = vec!["logs".to_string(), name.to_string()];
            if let Some(id) = run {
                args.extend(["--run".to_string(), id.to_string()]);
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let o = self.orc(&args);
            assert_eq!(code(&o), 0, "{}", text(&o));
            String::from_utf8(o.stdout).unwrap()
        }

        fn wait_for_file(&self, name: &str, within: Duration) {
            let start = Instant::now();
            while !self.path(name).exists() {
                assert!(
                    start.elapsed() < within,
                    "{name} did not appear within {within:?}"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    fn text(o: &Output) -> String {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    }

    fn code(o: &Output) -> i32 {
        o.status.code().unwrap_or(-1)
    }

    fn s<'a>(v: &'a Value, key: &str) -> &'a str {
        v[key]
            .as_str()
            .unwrap_or_else(|| panic!("{key} is not a string in {v}"))
    }

    /// Is `pid` a live process? Zombies (killed but not yet reaped by whoever inherited
    /// them) count as gone.
    fn alive(pid: u32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => {
                let state = stat
                    .rsplit_once(')')
                    .and_then(|(_, rest)| rest.trim_start().chars().next());
                !matches!(state, Some('Z' | 'X') | None)
            }
            Err(_) => {
                if Path::new("/proc/self").exists() {
                    false
                } else {
                    Command::new("kill")
                        .args(["-0", &pid.to_string()])
                        .stderr(Stdio::null())
                        .status()
                        .is_ok_and(|s| s.success())
                }
            }
        }
    }

    fn gone_within(pid: u32, within: Duration) -> bool {
        let start = Instant::now();
        while alive(pid) {
            if start.elapsed() > within {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    /// Kills a process group when dropped, so a failed assertion leaves nothing behind.
    struct GroupKiller(Vec<u32>);

    impl Drop for GroupKiller {
        fn drop(&mut self) {
            for pid in &self.0 {
                let _ = Command::new("kill")
                    .args(["-9", "--", &format!("-{pid}")])
                    .stderr(Stdio::null())
                    .status();
                let _ = Command::new("kill")
                    .args(["-9", &pid.to_string()])
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }

    /// Kills (and reaps) a background orc when dropped.
    struct Reaped(Option<Child>);

    impl Drop for Reaped {
        fn drop(&mut self) {
            if let Some(child) = &mut self.0 {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    /// `YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)`.
    fn is_rfc3339(t: &str) -> bool {
        let b = t.as_bytes();
        let digits = |r: std::ops::Range<usize>| {
            b.get(r.clone())
                .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
        };
        if b.len() < 20
            || !(digits(0..4)
                && b[4] == b'-'
                && digits(5..7)
                && b[7] == b'-'
                && digits(8..10)
                && b[10] == b'T'
                && digits(11..13)
                && b[13] == b':'
                && digits(14..16)
                && b[16] == b':'
                && digits(17..19))
        {
            return false;
        }
        let mut rest = &t[19..];
        if let Some(frac) = rest.strip_prefix('.') {
            let n = frac.bytes().take_while(u8::is_ascii_digit).count();
            if n == 0 {
                return false;
            }
            rest = &frac[n..];
        }
        rest == "Z"
            || (rest.len() == 6
                && (rest.starts_with('+') || rest.starts_with('-'))
                && rest.as_bytes()[3] == b':'
                && rest[1..3].bytes().all(|c| c.is_ascii_digit())
                && rest[4..6].bytes().all(|c| c.is_ascii_digit()))
    }

    fn stamp(line: &str) -> jiff::Timestamp {
        line.split(' ').next().unwrap().parse().unwrap()
    }

    // 1 ---------------------------------------------------------------------------------

    fn timeout_stops_the_whole_process_tree() {
        let env = TestEnv::new();
        env.apply(
            r#"
[tasks.hang]
shell = "echo $$ > child.pid; sleep 300 & echo $! > grandchild.pid; sleep 300"
timeout = "1s"

[tasks.stubborn]
shell = "trap '' TERM; echo $$ > stubborn.pid; sleep 300"
timeout = "1s"
"#,
        );

        let start = Instant::now();
        let (exit, report) = env.run("hang");
        let took = start.elapsed();
        let child: u32 = env.read("child.pid").trim().parse().unwrap();
        let grandchild: u32 = env.read("grandchild.pid").trim().parse().unwrap();
        let _cleanup = GroupKiller(vec![child, grandchild]);

        assert_eq!(exit, 124, "{report}");
        assert_eq!(s(&report, "status"), "timeout");
        assert!(took < Duration::from_secs(10), "took {took:?}");
        assert!(took >= Duration::from_secs(1), "took {took:?}");
        assert!(
            gone_within(child, Duration::from_secs(2)),
            "child {child} still runs"
        );
        assert!(
            gone_within(grandchild, Duration::from_secs(2)),
            "grandchild {grandchild} still runs"
        );

        let history = env.history("hang");
        assert_eq!(history.len(), 1);
        assert_eq!(s(&history[0], "status"), "timeout");
        assert_eq!(s(&history[0], "reason"), "timed out after 1s");
        assert_eq!(history[0]["attempts"], 1);
        assert!(history[0]["exit_code"].is_null());
        assert!(
            env.logs("hang", None).contains("timed out after 1s"),
            "the log says why it ended"
        );

        // A task that ignores SIGTERM is killed after the grace period.
        let start = Instant::now();
        let (exit, report) = env.run("stubborn");
        let took = start.elapsed();
        let pid: u32 = env.read("stubborn.pid").trim().parse().unwrap();
        let _cleanup2 = GroupKiller(vec![pid]);
        assert_eq!(exit, 124, "{report}");
        assert!(took < Duration::from_secs(10), "took {took:?}");
        assert!(
            gone_within(pid, Duration::from_secs(2)),
            "{pid} ignored TERM and survived"
        );
    }

    // 2 ---------------------------------------------------------------------------------

    fn retries_wait_the_configured_delay() {
        let env = TestEnv::new();
        env.apply(
        r#"
[tasks.flaky]
shell = "n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; echo try $n; [ $n -ge 3 ]"
retry_count = 2
retry_delay = "1s"
"#,
    );
        let start = Instant::now();
        let (exit, report) = env.run("flaky");
        let took = start.elapsed();
        assert_eq!(exit, 0, "{report}");
        assert_eq!(s(&report, "status"), "success");
        assert_eq!(report["attempts"], 3);
        assert!(took >= Duration::from_secs(2), "took {took:?}");
        assert_eq!(env.read("count").trim(), "3");

        let history = env.history("flaky");
        assert_eq!(history.len(), 1);
        assert_eq!(s(&history[0], "status"), "success");
        assert_eq!(history[0]["attempts"], 3);
        assert_eq!(history[0]["exit_code"], 0);

        let log = env.logs("flaky", None);
        let attempt_lines: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("attempt ") && l.contains(" of 3"))
            .filter(|l| !l.contains("failed"))
            .collect();
        assert_eq!(attempt_lines.len(), 3, "{log}");
        for (i, line) in attempt_lines.iter().enumerate() {
            assert!(
                line.ends_with(&format!("attempt {} of 3", i + 1)),
                "{line}\n{log}"
            );
        }
        // Each retry starts at least retry_delay after the previous attempt.
        for pair in attempt_lines.windows(2) {
            let gap = stamp(pair[1]).duration_since(stamp(pair[0]));
            assert!(
                gap >= jiff::SignedDuration::from_secs(1),
                "gap {gap:?}\n{log}"
            );
        }
        assert!(log.contains("try 1") && log.contains("try 3"), "{log}");
    }

    /// `then`: the steps run in order in one run, each in its directory; the first
    /// failure stops the rest and is named; a retry starts again at the step that
    /// failed, without repeating the ones that succeeded.
    fn then_steps_run_in_order_and_a_retry_resumes_at_the_failed_one() {
        let env = TestEnv::new();
        std::fs::create_dir(env.path("out")).unwrap();
        env.apply(
            r#"
[tasks.chain]
shell = "echo extract >> trail"
then = [
    ["sh", "-c", "echo load >> trail; n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; [ $n -ge 2 ]"],
    { shell = "pwd > where; echo report >> ../trail", working_dir = "out" },
]
retry_count = 1
retry_delay = "1s"

[tasks.stops]
shell = "echo one >> stops"
then = [["sh", "-c", "exit 3"], { shell = "echo never >> stops" }]
"#,
        );
        let (exit, report) = env.run("chain");
        assert_eq!(exit, 0, "{report}");
        assert_eq!(report["attempts"], 2, "{report}");
        assert_eq!(
            env.read("trail"),
            "extract\nload\nload\nreport\n",
            "the retry starts at the failed step"
        );
        assert_eq!(
            env.read("out/where").trim(),
            env.path("out").canonicalize().unwrap().to_str().unwrap()
        );
        let log = env.logs("chain", None);
        assert!(log.contains("step 2 of 3: \"sh\""), "{log}");
        assert!(log.contains("step 3 of 3: the shell"), "{log}");
        assert!(
            log.contains("attempt 1 failed with exit code 1 at step 2 of 3 (\"sh\")"),
            "{log}"
        );

        let (exit, report) = env.run("stops");
        assert_eq!(exit, 3, "{report}");
        assert_eq!(s(&report, "status"), "failed");
        assert_eq!(s(&report, "reason"), "exit code 3 at step 2 of 3 (\"sh\")");
        assert_eq!(
            env.read("stops"),
            "one\n",
            "the step after the failure never ran"
        );
    }

    fn exit_code_rules_decide_success_warning_and_retries() {
        let env = TestEnv::new();
        env.apply(
            r#"
# As robocopy's 1 ("files copied") is a success.
[tasks.installer]
shell = "echo ran >> installer; exit 1"
success_exit_codes = [0, 1]

[tasks.partial]
shell = "echo ran >> partial; exit 2"
then = ["sh -c 'echo after >> partial'"]
warning_exit_codes = [2]

[tasks.downstream]
shell = "true"
dependencies = ["partial"]

[tasks.transient]
shell = "n=$(cat t 2>/dev/null || echo 0); n=$((n+1)); echo $n > t; [ $n -ge 3 ] || exit 75"
retry_count = 3
retry_delay = "1s"
retry_on_exit_codes = [75]

[tasks.permanent]
shell = "n=$(cat p 2>/dev/null || echo 0); echo $((n+1)) > p; exit 4"
retry_count = 3
retry_delay = "1s"
retry_on_exit_codes = [75]

[tasks.zero_fails]
shell = "exit 0"
success_exit_codes = [3]
"#,
        );
        // A code in success_exit_codes is a success, recorded with the code it had.
        let (exit, report) = env.run("installer");
        assert_eq!((exit, s(&report, "status")), (0, "success"), "{report}");
        assert_eq!(report["exit_code"], 1);

        // A warning code: the later steps run, the run ends `warning`, orc run exits 0.
        let (exit, report) = env.run("partial");
        assert_eq!((exit, s(&report, "status")), (0, "warning"), "{report}");
        assert_eq!(report["exit_code"], 2);
        assert_eq!(report["attempts"], 1, "a warning is not retried");
        assert!(
            s(&report, "reason").contains("warning_exit_codes"),
            "{report}"
        );
        assert_eq!(env.read("partial"), "ran\nafter\n");
        assert_eq!(env.statuses("partial"), ["warning"]);
        // ... and a dependency on it holds.
        let (exit, report) = env.run("downstream");
        assert_eq!((exit, s(&report, "status")), (0, "success"), "{report}");

        // retry_on_exit_codes: 75 is retried until it passes ...
        let (exit, report) = env.run("transient");
        assert_eq!((exit, s(&report, "status")), (0, "success"), "{report}");
        assert_eq!(report["attempts"], 3, "{report}");
        // ... any other failing code fails at once, retries left or not.
        let (exit, report) = env.run("permanent");
        assert_eq!((exit, s(&report, "status")), (4, "failed"), "{report}");
        assert_eq!(report["attempts"], 1, "{report}");
        assert_eq!(env.read("p").trim(), "1");
        let log = env.logs("permanent", None);
        assert!(
            log.contains("exit code 4 is not in retry_on_exit_codes: no retry"),
            "{log}"
        );

        // Without 0 among the success codes, 0 is a failure (and orc run says 1).
        let (exit, report) = env.run("zero_fails");
        assert_eq!((exit, s(&report, "status")), (1, "failed"), "{report}");
        assert_eq!(report["exit_code"], 0);

        // The report counts the warning as a success, and lists it.
        let o = env.orc(&["report", "--since", "1h", "--format", "json"]);
        assert_eq!(code(&o), 0, "{}", text(&o));
        let r: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(r["totals"]["warning"], 1, "{r}");
        assert_eq!(r["warnings"][0]["task"], "partial", "{r}");
        assert_eq!(r["warnings"][0]["exit_code"], 2, "{r}");
    }

    // 3 ---------------------------------------------------------------------------------

    fn the_commands_exit_code_is_orcs_exit_code() {
        let env = TestEnv::new();
        env.apply(
            r#"
[tasks.seven]
shell = "echo about to fail; exit 7"
"#,
        );
        let (exit, report) = env.run("seven");
        assert_eq!(exit, 7, "{report}");
        assert_eq!(s(&report, "status"), "failed");
        assert_eq!(report["exit_code"], 7);
        assert_eq!(s(&report, "reason"), "exit code 7");

        // Without --json too.
        let o = env.orc(&["run", "seven"]);
        assert_eq!(code(&o), 7, "{}", text(&o));
        assert!(text(&o).contains("failed"), "{}", text(&o));

        let history = env.history("seven");
        assert_eq!(history.len(), 2);
        for row in &history {
            assert_eq!(s(row, "status"), "failed");
            assert_eq!(s(row, "reason"), "exit code 7");
            assert_eq!(row["exit_code"], 7);
            assert_eq!(s(row, "trigger"), "manual");
            assert_eq!(s(row, "host"), "testhost");
        }
        let o = env.orc(&["history", "--status", "failed", "--json"]);
        assert_eq!(
            serde_json::from_slice::<Value>(&o.stdout)
                .unwrap()
                .as_array()
                .unwrap()
                .len(),
            2
        );
        let o = env.orc(&["history", "--status", "success", "--json"]);
        assert_eq!(
            serde_json::from_slice::<Value>(&o.stdout).unwrap(),
            serde_json::json!([])
        );
        let o = env.orc(&["history", "--limit", "1", "--json"]);
        assert_eq!(
            serde_json::from_slice::<Value>(&o.stdout)
                .unwrap()
                .as_array()
                .unwrap()
                .len(),
            1
        );
    }

    // 4 ---------------------------------------------------------------------------------

    fn file_dependency_skips_until_the_file_exists() {
        let env = TestEnv::new();
        env.apply(
            r#"
[tasks.load]
shell = "touch ran"
dependencies = ["file:ready.flag"]
"#,
        );
        let (exit, report) = env.run("load");
        assert_eq!(exit, 75, "{report}");
        assert_eq!(s(&report, "status"), "skipped");
        assert!(s(&report, "reason").contains("ready.flag"), "{report}");
        assert!(!env.path("ran").exists(), "a skipped task must not run");
        let history = env.history("load");
        assert_eq!(s(&history[0], "status"), "skipped");
        assert!(s(&history[0], "reason").contains("ready.flag"));

        std::fs::write(env.path("ready.flag"), "").unwrap();
        let (exit, report) = env.run("load");
        assert_eq!(exit, 0, "{report}");
        assert_eq!(s(&report, "status"), "success");
        assert!(env.path("ran").exists());
        assert_eq!(s(&env.history("load")[0], "status"), "success");
    }

    // 5 ---------------------------------------------------------------------------------

    /// An HTTP server on 127.0.0.1 answering one request per status in `statuses`, then
    /// closing. Gives up after 20 s, so a test that never calls cannot hang it. Returns
    /// the port and a handle yielding the request lines it saw.
    fn serve(statuses: Vec<u16>) -> (u16, std::thread::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let handle = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(20);
            let mut seen = Vec::new();
            for status in statuses {
                let mut stream = loop {
                    match listener.accept() {
                        Ok((stream, _)) => break stream,
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            if Instant::now() > deadline {
                                return seen;
                            }
                            std::thread::sleep(Duration::from_millis(10));
                        }
                        Err(e) => panic!("accept: {e}"),
                    }
                };
                stream.set_nonblocking(false).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let first = String::from_utf8_lossy(&request)
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_string();
                seen.push(first);
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} Whatever\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                );
                let _ = stream.flush();
            }
            seen
        });
        (port, handle)
    }

    fn url_dependency_up_error_and_down() {
        let env = TestEnv::new();
        let (port, server) = serve(vec![200, 500]);
        env.apply(&format!(
            r#"
[tasks.fetch]
shell = "echo fetched >> ran"
dependencies = ["url:http://127.0.0.1:{port}/health"]
"#
        ));

        let (exit, report) = env.run("fetch");
        assert_eq!(exit, 0, "{report}");
        assert_eq!(s(&report, "status"), "success");
        assert_eq!(env.read("ran"), "fetched\n");

        let (exit, report) = env.run("fetch");
        assert_eq!(exit, 75, "{report}");
        assert_eq!(s(&report, "status"), "skipped");
        assert!(s(&report, "reason").contains("answered 500"), "{report}");
        assert_eq!(env.read("ran"), "fetched\n", "a skipped task must not run");

        // The server answered exactly those two requests and closed its port.
        let seen = server.join().unwrap();
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert!(
            seen.iter().all(|l| l.starts_with("GET /health ")),
            "{seen:?}"
        );

        let start = Instant::now();
        let (exit, report) = env.run("fetch");
        assert_eq!(exit, 75, "{report}");
        assert!(s(&report, "reason").contains("did not answer"), "{report}");
        assert!(start.elapsed() < Duration::from_secs(10));
        assert_eq!(env.read("ran"), "fetched\n");

        let statuses = env.statuses("fetch");
        assert_eq!(statuses, ["skipped", "skipped", "success"]);
    }

    // 6 ---------------------------------------------------------------------------------

    fn failing_condition_skips_its_dependants() {
        let env = TestEnv::new();
        env.apply(
            r#"
[tasks.gate]
type = "condition"
command = "false"

[tasks.open_gate]
type = "condition"
command = "true"

[tasks.guarded]
shell = "touch guarded_ran"
dependencies = ["gate"]

[tasks.let_through]
shell = "touch let_through_ran"
dependencies = ["open_gate"]
"#,
        );
        let (exit, report) = env.run("guarded");
        assert_eq!(exit, 75, "{report}");
        assert_eq!(s(&report, "status"), "skipped");
        let reason = s(&report, "reason");
        assert!(
            reason.contains(r#"condition "gate" did not hold"#),
            "{reason}"
        );
        assert!(!env.path("guarded_ran").exists());

        let guarded = env.history("guarded");
        assert_eq!(guarded.len(), 1);
        assert!(s(&guarded[0], "reason").contains(r#"condition "gate" did not hold"#));
        assert_eq!(s(&guarded[0], "trigger"), "manual");

        let gate = env.history("gate");
        assert_eq!(gate.len(), 1, "{gate:?}");
        assert_eq!(s(&gate[0], "trigger"), "dependency");
        assert_eq!(s(&gate[0], "status"), "failed");

        // A condition that holds lets its dependant run.
        let (exit, report) = env.run("let_through");
        assert_eq!(exit, 0, "{report}");
        assert!(env.path("let_through_ran").exists());
        let open = env.history("open_gate");
        assert_eq!(open.len(), 1);
        assert_eq!(s(&open[0], "trigger"), "dependency");
        assert_eq!(s(&open[0], "status"), "success");
    }

    // 7 ---------------------------------------------------------------------------------

    /// Past `expires`, a scheduler's start (`--if-due`, as cron lines call orc) does
    /// nothing and records nothing; a manual run still runs.
    fn an_expired_task_is_not_due() {
        let env = TestEnv::new();
        env.apply(
            r#"
[tasks.old]
command = ["touch", "ran"]
schedule = "* * * * *"
expires = "2020-01-01"
"#,
        );
        let o = env.orc(&["run", "old", "--if-due", "--trigger", "scheduled"]);
        assert_eq!(code(&o), 0, "{}", text(&o));
        assert!(!env.path("ran").exists(), "an expired task ran on schedule");
        assert!(env.statuses("old").is_empty());
        let (exit, report) = env.run("old");
        assert_eq!(exit, 0, "{report}");
        assert!(env.path("ran").exists(), "a manual run runs");
    }

    /// `overlap = "replace"`: a new run stops the running one (its whole tree), which
    /// is recorded as interrupted, and then runs.
    fn overlap_replace_stops_the_running_one_and_runs() {
        let env = TestEnv::new();
        env.apply(
            r#"
[tasks.long]
shell = "d=$(cat duration); echo $$ > task.pid; touch started; sleep $d"
overlap = "replace"
"#,
        );
        std::fs::write(env.path("duration"), "30").unwrap();
        let first = Reaped(Some(
            env.command(&["run", "long", "--json"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        ));
        env.wait_for_file("started", Duration::from_secs(10));
        std::fs::remove_file(env.path("started")).unwrap();
        let task_pid: i32 = env.read("task.pid").trim().parse().unwrap();
        std::fs::write(env.path("duration"), "0").unwrap();
        let start = Instant::now();
        let (exit, report) = env.run("long");
        assert_eq!(exit, 0, "{report}");
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{:?}",
            start.elapsed()
        );
        assert!(env.path("started").exists(), "the new run ran");
        // SAFETY: signal 0 only asks whether the process exists.
        let alive = unsafe { libc::kill(task_pid, 0) } == 0;
        assert!(!alive, "the replaced run's task {task_pid} still runs");
        drop(first);
        // Newest first.
        assert_eq!(env.statuses("long"), ["success", "interrupted"]);
    }

    fn overlapping_runs_are_skipped_and_a_killed_run_is_recovered() {
        let env = TestEnv::new();
        env.apply(
            r#"
[tasks.long]
shell = "echo $$ > task.pid; touch started; sleep $(cat duration)"
"#,
        );
        std::fs::write(env.path("duration"), "5").unwrap();
        let start = Instant::now();
        let mut first = Reaped(Some(
            env.command(&["run", "long", "--json"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        ));
        env.wait_for_file("started", Duration::from_secs(10));

        let second_start = Instant::now();
        let (exit, report) = env.run("long");
        assert!(
            second_start.elapsed() < Duration::from_secs(3),
            "not at once"
        );
        assert_eq!(exit, 75, "{report}");
        assert_eq!(s(&report, "status"), "skipped");
        let reason = s(&report, "reason");
        assert!(reason.starts_with("already running"), "{reason}");
        let first_pid = first.0.as_ref().unwrap().id();
        assert!(reason.contains(&format!("pid {first_pid}")), "{reason}");

        let out = first.0.take().unwrap().wait_with_output().unwrap();
        assert_eq!(code(&out), 0, "{}", text(&out));
        assert!(start.elapsed() >= Duration::from_secs(5));

        std::fs::write(env.path("duration"), "0").unwrap();
        let (exit, report) = env.run("long");
        assert_eq!(exit, 0, "{report}");
        let statuses = env.statuses("long");
        assert_eq!(statuses, ["success", "skipped", "success"]);

        // kill -9 orc in the middle of a run.
        std::fs::remove_file(env.path("started")).unwrap();
        std::fs::write(env.path("duration"), "60").unwrap();
        let mut victim = Reaped(Some(
            env.command(&["run", "long"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        ));
        env.wait_for_file("started", Duration::from_secs(10));
        let task_pid: u32 = {
            // task.pid is written before "started" by the same shell.
            env.read("task.pid").trim().parse().unwrap()
        };
        let _cleanup = GroupKiller(vec![task_pid]);
        let killed_run = env.history("long")[0].clone();
        assert_eq!(s(&killed_run, "status"), "running", "{killed_run}");
        let mut child = victim.0.take().unwrap();
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        std::fs::write(env.path("duration"), "0").unwrap();
        let (exit, report) = env.run("long");
        assert_eq!(exit, 0, "the run after a crash proceeds: {report}");
        assert_eq!(s(&report, "status"), "success");

        let history = env.history("long");
        let row = history
            .iter()
            .find(|r| r["id"] == killed_run["id"])
            .unwrap();
        assert_eq!(s(row, "status"), "interrupted", "{row}");
        assert!(!row["finished_at"].is_null(), "{row}");
        assert_eq!(s(&history[0], "status"), "success");
    }

    // 8 ---------------------------------------------------------------------------------

    fn output_is_timestamped_interleaved_and_capped() {
        let env = TestEnv::new();
        env.apply(
            r#"
[tasks.chatty]
shell = "echo to-stdout; echo to-stderr >&2; echo again-stdout"

[tasks.flood]
shell = "yes 0123456789012345678901234567890123456789 | head -c 200000000"
"#,
        );
        let (exit, report) = env.run("chatty");
        assert_eq!(exit, 0, "{report}");
        let log = env.logs("chatty", None);
        assert!(log.contains("to-stdout"), "{log}");
        assert!(log.contains("to-stderr"), "{log}");
        assert!(log.contains("again-stdout"), "{log}");
        for line in log.lines() {
            let first = line.split(' ').next().unwrap();
            assert!(is_rfc3339(first), "no RFC 3339 timestamp: {line:?}\n{log}");
        }
        assert!(
            log.lines().any(|l| l.ends_with(" out to-stdout")),
            "stdout lines are marked: {log}"
        );
        assert!(
            log.lines().any(|l| l.ends_with(" err to-stderr")),
            "stderr lines are marked: {log}"
        );
        // Timestamps never go backwards.
        let stamps: Vec<jiff::Timestamp> = log.lines().map(stamp).collect();
        assert!(stamps.windows(2).all(|w| w[0] <= w[1]), "{log}");
        // The log of a particular run, by id.
        let id = report["id"].as_i64().unwrap();
        assert_eq!(env.logs("chatty", Some(id)), log);

        let start = Instant::now();
        let (exit, report) = env.run("flood");
        let took = start.elapsed();
        assert_eq!(exit, 0, "{report}");
        eprintln!("200 MB of output took {took:?}");
        let path = PathBuf::from(s(&report, "log_path"));
        let size = std::fs::metadata(&path).unwrap().len();
        assert!(size <= 10 * 1024 * 1024 + 4096, "log is {size} bytes");
        assert!(size >= 1024 * 1024, "log is only {size} bytes");
        let content = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = content.lines().collect();
        assert!(
            lines[0].starts_with("[orc: ") && lines[0].contains(" earlier bytes of output dropped"),
            "{}",
            lines[0]
        );
        let dropped: u64 = lines[0]["[orc: ".len()..]
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            dropped + size >= 200_000_000,
            "dropped {dropped} + kept {size} is less than the output"
        );
        // The end survives: the last, partial line of output (200000000 mod 41 = 32
        // bytes), then orc's own closing note.
        let n = lines.len();
        assert!(
            lines[n - 1].ends_with("finished: success"),
            "{}",
            lines[n - 1]
        );
        assert!(
            lines[n - 2].ends_with(" out 01234567890123456789012345678901"),
            "{}",
            lines[n - 2]
        );
        assert!(
            lines[n - 3].ends_with(" out 0123456789012345678901234567890123456789"),
            "{}",
            lines[n - 3]
        );
        // Every kept line after the notice is whole and timestamped.
        for line in &lines[1..] {
            assert!(is_rfc3339(line.split(' ').next().unwrap()), "{line:?}");
        }
        assert_eq!(env.logs("flood", None), content);
    }

    // 9 ---------------------------------------------------------------------------------

    fn secrets_fail_clearly_and_unapplied_tasks_say_apply() {
        let env = TestEnv::new();
        let o = env.orc(&["secret", "init"]);
        assert_eq!(code(&o), 0, "{}", text(&o));
        let mut set = env
            .command(&["secret", "set", "api_token"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        set.stdin
            .take()
            .unwrap()
            .write_all(b"tok-3141592653\n")
            .unwrap();
        assert!(set.wait_with_output().unwrap().status.success());
        env.apply(
            r#"
[tasks.secretive]
shell = "echo token=$TOKEN; printf %s \"$TOKEN\" > ran"
env = { TOKEN = { secret = "api_token" } }
"#,
        );
        // The task gets the value; its log shows it masked.
        let (exit, report) = env.run("secretive");
        assert_eq!(exit, 0, "{report}");
        assert_eq!(
            std::fs::read_to_string(env.path("ran")).unwrap(),
            "tok-3141592653"
        );
        let log = std::fs::read_to_string(s(&report, "log_path")).unwrap();
        assert!(log.contains("token=***"), "{log}");
        assert!(!log.contains("3141592653"), "{log}");
        std::fs::remove_file(env.path("ran")).unwrap();

        // The secret removed after apply: the run fails clearly, without running.
        let o = env.orc(&["secret", "rm", "api_token"]);
        assert_eq!(code(&o), 0, "{}", text(&o));
        let (exit, report) = env.run("secretive");
        assert_eq!(exit, 1, "{report}");
        assert_eq!(s(&report, "status"), "failed");
        assert!(s(&report, "reason").contains("secret"), "{report}");
        assert!(!env.path("ran").exists(), "must not run without its secret");
        let history = env.history("secretive");
        assert_eq!(s(&history[0], "status"), "failed");
        assert!(s(&history[0], "reason").contains("secret"));

        let o = env.orc(&["run", "nosuch"]);
        assert_eq!(code(&o), 1, "{}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("nosuch") && err.contains("apply"), "{err}");
        assert!(env.history("nosuch").is_empty());

        // No state at all: the same advice.
        let fresh = TestEnv::new();
        let o = fresh.orc(&["run", "anything"]);
        assert_eq!(code(&o), 1, "{}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("apply"),
            "{}",
            text(&o)
        );
    }

    // 10 --------------------------------------------------------------------------------

    fn if_due_does_nothing_when_the_schedule_does_not_fire() {
        let env = TestEnv::new();
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let far_hour = (secs / 3600 % 24 + 12) % 24;
        env.apply(&format!(
            r#"
[settings]
timezone = "UTC"

[tasks.not_now]
shell = "touch not_now_ran"
schedule = "0 {far_hour} * * *"

[tasks.every_minute]
shell = "touch every_minute_ran"
schedule = "* * * * *"
"#
        ));
        let o = env.orc(&["run", "not_now", "--if-due", "--trigger", "scheduled"]);
        assert_eq!(code(&o), 0, "{}", text(&o));
        assert!(env.history("not_now").is_empty());
        assert!(!env.path("not_now_ran").exists());

        // A schedule that fires now does run, with the trigger recorded.
        let o = env.orc(&["run", "every_minute", "--if-due", "--trigger", "scheduled"]);
        assert_eq!(code(&o), 0, "{}", text(&o));
        assert!(env.path("every_minute_ran").exists());
        let history = env.history("every_minute");
        assert_eq!(history.len(), 1);
        assert_eq!(s(&history[0], "trigger"), "scheduled");
        assert_eq!(s(&history[0], "status"), "success");

        // Without --if-due the schedule is not consulted; the trigger is recorded as given.
        let o = env.orc(&["run", "not_now", "--trigger", "catch-up"]);
        assert_eq!(code(&o), 0, "{}", text(&o));
        assert!(env.path("not_now_ran").exists());
        assert_eq!(s(&env.history("not_now")[0], "trigger"), "catch-up");
    }

    // Edge cases around the above --------------------------------------------------------

    /// A descendant that leaves the task's process group (setsid, as daemons do) keeps
    /// the output pipes open; the run must still end at its timeout.
    fn timeout_holds_when_a_descendant_leaves_the_process_group() {
        let env = TestEnv::new();
        env.apply(
            r#"
[tasks.escape]
shell = "setsid sleep 20 & echo $! > escaped.pid; sleep 300"
timeout = "1s"
"#,
        );
        let start = Instant::now();
        let mut orc = Reaped(Some(
            env.command(&["run", "escape"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        ));
        let mut exit = None;
        while start.elapsed() < Duration::from_secs(8) {
            if let Some(status) = orc.0.as_mut().unwrap().try_wait().unwrap() {
                exit = Some(status.code().unwrap_or(-1));
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let escaped: u32 = env.read("escaped.pid").trim().parse().unwrap();
        let _cleanup = GroupKiller(vec![escaped]);
        drop(orc);
        assert_eq!(
            exit,
            Some(124),
            "orc run with timeout = 1s was still running after {:?} (it waits for the escaped process)",
            start.elapsed()
        );
        assert_eq!(s(&env.history("escape")[0], "status"), "timeout");
    }

    /// Output without newlines (progress bars, binary dumps) is one "line": the cap must
    /// hold for it too, and the end of the output must survive.
    fn a_huge_line_without_newlines_is_capped_and_keeps_its_end() {
        let env = TestEnv::new();
        env.apply(
            r#"
[tasks.oneline]
shell = "head -c 30000000 /dev/zero | tr '\\0' x; echo END-OF-LONG-LINE"
"#,
        );
        let logs = env.path("state/logs/oneline");
        let mut orc = Reaped(Some(
            env.command(&["run", "oneline", "--json"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        ));
        let start = Instant::now();
        let mut peak = 0;
        let exit = loop {
            if let Ok(dir) = std::fs::read_dir(&logs) {
                for entry in dir.flatten() {
                    peak = peak.max(entry.metadata().map_or(0, |m| m.len()));
                }
            }
            if let Some(status) = orc.0.as_mut().unwrap().try_wait().unwrap() {
                break status.code();
            }
            assert!(start.elapsed() < Duration::from_secs(30), "orc run hangs");
            std::thread::sleep(Duration::from_millis(1));
        };
        assert_eq!(exit, Some(0));
        let log = env.logs("oneline", None);
        assert!(
            log.len() <= 10 * 1024 * 1024 + 4096,
            "log is {} bytes",
            log.len()
        );
        assert!(
            log.contains("END-OF-LONG-LINE"),
            "the end of the output was dropped; the log is:\n{}",
            &log[..log.len().min(2000)]
        );
        assert!(
            peak <= 10 * 1024 * 1024 + 64 * 1024,
            "the log file grew to {peak} bytes while the task ran"
        );
    }

    /// `--state` given relative to the scheduler's working directory: the run's log must
    /// still be found by `orc logs` run from elsewhere.
    fn logs_are_found_when_the_run_used_a_relative_state_path() {
        let env = TestEnv::new();
        env.apply(
            r#"
[tasks.rel]
shell = "echo relative-hello"
"#,
        );
        let o = env
            .command(&["run", "rel", "--state", "state/state.db"])
            .env_remove("ORC_CONFIG")
            .env_remove("ORC_STATE")
            .output()
            .unwrap();
        assert_eq!(code(&o), 0, "{}", text(&o));

        let elsewhere = env.path("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        let o = env
            .command(&["logs", "rel"])
            .current_dir(&elsewhere)
            .output()
            .unwrap();
        assert_eq!(code(&o), 0, "orc logs from another directory: {}", text(&o));
        assert!(String::from_utf8_lossy(&o.stdout).contains("relative-hello"));
    }

    /// A newer run that ran no command has no log: `orc logs` says so before it shows
    /// the latest log there is, and `--run` names why.
    fn logs_say_when_the_latest_run_has_none() {
        let env = TestEnv::new();
        env.apply(
            r#"
[tasks.gated]
command = ["echo", "gated-ran"]
dependencies = ["file:flag"]
"#,
        );
        std::fs::write(env.path("flag"), "").unwrap();
        env.orc_ok(&["run", "gated"]);
        std::fs::remove_file(env.path("flag")).unwrap();
        let _ = env.orc(&["run", "gated"]);
        let o = env.orc(&["logs", "gated"]);
        assert_eq!(code(&o), 0, "{}", text(&o));
        assert!(String::from_utf8_lossy(&o.stdout).contains("gated-ran"));
        let note = String::from_utf8_lossy(&o.stderr);
        assert!(
            note.contains("run 2 (skipped: file \"flag\" does not exist")
                && note.contains("showing run 1"),
            "{note}"
        );
        let o = env.orc(&["logs", "gated", "--run", "2"]);
        assert_eq!(code(&o), 1, "{}", text(&o));
        assert!(
            text(&o).contains("run 2 of \"gated\" has no log: it ran no command (skipped: "),
            "{}",
            text(&o)
        );
    }

    /// A run that cannot start its log is over: its row must not say "running" forever.
    fn a_run_whose_log_cannot_be_created_is_recorded_as_failed() {
        let env = TestEnv::new();
        std::fs::write(env.path("blocker"), "a file, not a directory").unwrap();
        env.apply(
            r#"
[settings]
log_dir = "blocker/logs"

[tasks.nolog]
shell = "touch ran"
"#,
        );
        let o = env.orc(&["run", "nolog"]);
        assert_ne!(code(&o), 0, "{}", text(&o));
        assert!(text(&o).contains("log"), "{}", text(&o));
        assert!(!env.path("ran").exists());
        let history = env.history("nolog");
        assert_eq!(history.len(), 1);
        assert_eq!(
            s(&history[0], "status"),
            "failed",
            "the row of a run that is over: {}",
            history[0]
        );
        assert!(history[0]["reason"].as_str().unwrap_or("").contains("log"));
    }

    fn status_shows_the_last_result_and_duration() {
        let env = TestEnv::new();
        env.apply("[tasks.nap]\nshell = \"sleep 0.3\"\nschedule = \"0 6 * * *\"\n");
        let (code, _) = env.run("nap");
        assert_eq!(code, 0);
        let o = env.orc(&["status", "--json"]);
        let rows: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(rows[0]["last_result"], "success");
        let ms = rows[0]["last_duration_ms"].as_i64().expect("a duration");
        assert!((300..5000).contains(&ms), "{ms} ms");
        let o = env.orc(&["status"]);
        let out = text(&o);
        assert!(
            out.contains("LAST DURATION") && out.contains("success"),
            "{out}"
        );
    }

    fn a_file_that_appears_during_wait_lets_the_run_proceed() {
        let env = TestEnv::new();
        env.apply(
        "[tasks.load]\ncommand = \"echo loading\"\ndependencies = [\"file:arrived.csv\"]\nwait = \"20s\"\npoll = \"1s\"\n\n\
         [tasks.impatient]\ncommand = \"echo never\"\ndependencies = [\"file:never.csv\"]\nwait = \"2s\"\npoll = \"1s\"\n",
    );
        let arrives = env.path("arrived.csv");
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(1500));
            std::fs::write(arrives, "a,b\n").unwrap();
        });
        let started = Instant::now();
        let (code, report) = env.run("load");
        writer.join().unwrap();
        assert_eq!(code, 0, "{report}");
        assert_eq!(report["status"], "success");
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(1500) && took < Duration::from_secs(15),
            "{took:?}"
        );

        let started = Instant::now();
        let (code, report) = env.run("impatient");
        assert_eq!(code, 75, "{report}");
        let reason = s(&report, "reason");
        assert!(
            reason.contains("never.csv") && reason.contains("waited"),
            "{reason}"
        );
        assert!(
            started.elapsed() >= Duration::from_secs(1),
            "it waited before giving up"
        );
    }

    fn max_age_sets_how_recent_a_dependency_success_must_be() {
        let env = TestEnv::new();
        env.apply(
            "[tasks.extract]\ncommand = \"true\"\n\n\
         [tasks.fresh_only]\ncommand = \"true\"\ndependencies = [\"extract\"]\nmax_age = 1\n\n\
         [tasks.daily]\ncommand = \"true\"\ndependencies = [\"extract\"]\n",
        );
        assert_eq!(env.run("extract").0, 0);
        assert_eq!(env.run("fresh_only").0, 0, "a success just now is fresh");
        assert_eq!(env.run("daily").0, 0);
        std::thread::sleep(Duration::from_millis(2100));
        let (code, report) = env.run("fresh_only");
        assert_eq!(code, 75, "{report}");
        assert!(
            s(&report, "reason").contains("more than 1s ago"),
            "{report}"
        );
        assert_eq!(env.run("daily").0, 0, "the default max_age is 24h");
    }

    fn exponential_backoff_doubles_the_retry_delay_up_to_its_cap() {
        let env = TestEnv::new();
        env.apply(
            "[tasks.flaky]\nshell = \"exit 3\"\nretry_count = 3\nretry_delay = 1\n\
         retry_backoff = \"exponential\"\nretry_max_delay = \"2s\"\n",
        );
        let started = Instant::now();
        let (code, report) = env.run("flaky");
        assert_eq!(code, 3, "{report}");
        assert_eq!(report["attempts"], 4);
        let log = env.logs("flaky", None);
        let pauses: Vec<&str> = log
            .lines()
            .filter_map(|l| l.split("retrying in ").nth(1))
            .collect();
        assert_eq!(
            pauses,
            ["1s", "2s", "2s"],
            "1s, doubled to 2s, then capped at 2s:\n{log}"
        );
        assert!(
            started.elapsed() >= Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }

    fn overlap_queue_waits_and_overlap_allow_runs_both() {
        let env = TestEnv::new();
        env.apply(
            "[tasks.queued]\nshell = \"sleep 2\"\noverlap = \"queue\"\n\n\
         [tasks.parallel]\nshell = \"sleep 2\"\noverlap = \"allow\"\n",
        );
        for (task, second_waits) in [("queued", true), ("parallel", false)] {
            let first = env.command(&["run", task]).spawn().unwrap();
            let _first = Reaped(Some(first));
            std::thread::sleep(Duration::from_millis(600));
            let started = Instant::now();
            let (code, report) = env.run(task);
            let took = started.elapsed();
            assert_eq!(code, 0, "{task}: {report}");
            if second_waits {
                assert!(
                    took >= Duration::from_millis(2500),
                    "{task} queued behind the first: {took:?}"
                );
            } else {
                assert!(
                    took < Duration::from_millis(2500),
                    "{task} ran alongside the first: {took:?}"
                );
            }
        }
    }

    // Issue 16: what is recorded is what happened ---------------------------------------

    fn a_dependency_wait_polls_until_its_whole_window_ends() {
        let env = TestEnv::new();
        env.apply(
        "[tasks.late]\ncommand = \"true\"\ndependencies = [\"file:late.csv\"]\nwait = \"6s\"\npoll = \"3s\"\n\n\
         [tasks.default_poll]\ncommand = \"true\"\ndependencies = [\"file:never.csv\"]\nwait = \"3s\"\n",
    );
        // Checked at 0 s and 3 s (absent), and at the window's end, 6 s: there.
        let arrives = env.path("late.csv");
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(4500));
            std::fs::write(arrives, "x\n").unwrap();
        });
        let started = Instant::now();
        let (code, report) = env.run("late");
        writer.join().unwrap();
        assert_eq!(code, 0, "the file came within the wait: {report}");
        assert!(started.elapsed() >= Duration::from_millis(4500));

        // A poll longer than the wait (the default, 30 s): checked again at its end.
        let started = Instant::now();
        let (code, report) = env.run("default_poll");
        let took = started.elapsed();
        assert_eq!(code, 75, "{report}");
        assert!(
            took >= Duration::from_millis(2900),
            "gave up after {took:?}"
        );
        assert!(
            took < Duration::from_secs(25),
            "waited the poll, not the wait: {took:?}"
        );
        assert!(s(&report, "reason").contains("waited 3s"), "{report}");
    }

    fn a_runs_duration_is_its_wall_time_and_each_attempt_has_its_own() {
        let env = TestEnv::new();
        env.apply("[tasks.flaky]\nshell = \"exit 1\"\nretry_count = 2\nretry_delay = \"2s\"\n");
        let (code, report) = env.run("flaky");
        assert_eq!(code, 1, "{report}");
        let run = &env.history("flaky")[0];
        let duration = run["duration_ms"].as_i64().unwrap();
        assert!(duration >= 4000, "two 2 s pauses are in the run: {run}");
        let attempts: Vec<i64> = run["attempt_durations_ms"]
            .as_array()
            .unwrap_or_else(|| panic!("no attempt durations: {run}"))
            .iter()
            .map(|d| d.as_i64().unwrap())
            .collect();
        assert_eq!(attempts.len(), 3, "{run}");
        assert!(attempts.iter().all(|d| *d < 2000), "{run}");
        assert!(attempts.iter().sum::<i64>() < duration, "{run}");
        // status shows the wall time too.
        let o = env.orc(&["status", "--json"]);
        let rows: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
        assert!(
            rows[0]["last_duration_ms"].as_i64().unwrap() >= 4000,
            "{rows:?}"
        );
    }

    /// Wait until the running run of "long" has recorded its attempt's process (orc does
    /// so just after starting it).
    fn wait_for_attempt(env: &TestEnv) {
        let start = Instant::now();
        while env.history("long")[0]["attempts"] != 1 {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "no attempt recorded"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `orc run` killed with SIGKILL: the next `orc status`, `orc history` or
    /// `orc logs --follow` finds its process gone and records the run interrupted (and
    /// stops what is left of its task); the follow returns.
    fn a_run_whose_orc_was_killed_is_interrupted_when_next_looked_at() {
        let env = TestEnv::new();
        env.apply("[tasks.long]\nshell = \"echo $$ > task.pid; touch started; sleep 120\"\n");
        let kill_orc = |env: &TestEnv| {
            let _ = std::fs::remove_file(env.path("started"));
            let mut child = env
                .command(&["run", "long"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            env.wait_for_file("started", Duration::from_secs(10));
            let task: u32 = env.read("task.pid").trim().parse().unwrap();
            wait_for_attempt(env);
            child.kill().unwrap();
            child.wait().unwrap();
            task
        };

        let task = kill_orc(&env);
        let _cleanup = GroupKiller(vec![task]);
        let o = env.orc(&["status", "--json"]);
        let rows: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(rows[0]["last_result"], "interrupted", "{rows:?}");
        assert!(
            gone_within(task, Duration::from_secs(5)),
            "the killed run's task {task} still runs"
        );

        // Followed while it runs, then killed: the follow ends.
        std::fs::remove_file(env.path("started")).unwrap();
        let mut victim = Reaped(Some(
            env.command(&["run", "long"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        ));
        env.wait_for_file("started", Duration::from_secs(10));
        let task: u32 = env.read("task.pid").trim().parse().unwrap();
        let _cleanup2 = GroupKiller(vec![task]);
        wait_for_attempt(&env);
        let mut follow = Reaped(Some(
            env.command(&["logs", "long", "--follow"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        ));
        std::thread::sleep(Duration::from_millis(500));
        let mut child = victim.0.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        let start = Instant::now();
        let ended = loop {
            if let Some(status) = follow.0.as_mut().unwrap().try_wait().unwrap() {
                break Some(status);
            }
            if start.elapsed() > Duration::from_secs(15) {
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(ended.is_some(), "logs --follow did not return");
        assert!(ended.unwrap().success());
        let history = env.history("long");
        assert_eq!(
            env.statuses("long"),
            ["interrupted", "interrupted"],
            "{history:?}"
        );
        assert!(!history[0]["finished_at"].is_null());
    }

    /// A lock or a run row whose pid now belongs to another process (recorded start
    /// time differs) is a dead holder: apply and run proceed, and the other process is
    /// never signalled.
    fn a_reused_pid_is_not_the_holder_and_is_never_signalled() {
        let env = TestEnv::new();
        env.apply("[tasks.job]\ncommand = \"true\"\n");
        // An unrelated process in a group of its own, standing in for the pid's new owner.
        let mut other = Command::new("sleep");
        std::os::unix::process::CommandExt::process_group(&mut other, 0);
        let other = Reaped(Some(other.arg("120").spawn().unwrap()));
        let pid = other.0.as_ref().unwrap().id();
        let _cleanup = GroupKiller(vec![pid]);
        let db = rusqlite::Connection::open(env.state()).unwrap();
        let at = (jiff::Timestamp::now() - jiff::SignedDuration::from_secs(60))
            .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string();
        for name in ["apply", "run:Orc/job"] {
            db.execute(
                "INSERT INTO locks (name, pid, host, user, purpose, acquired_at, pid_start)
             VALUES (?1, ?2, 'testhost', 'someone', 'run', ?3, 1)",
                rusqlite::params![name, pid, at],
            )
            .unwrap();
        }
        db.execute(
        "INSERT INTO runs (task, folder, started_at, status, trigger, host, pid, pid_start, attempt, child_pid, child_start)
         VALUES ('job', 'Orc', ?1, 'running', 'manual', 'testhost', ?2, 1, 1, ?2, 1)",
        rusqlite::params![at, pid],
    )
    .unwrap();
        drop(db);

        let o = env.orc(&["apply", "--auto-approve"]);
        assert_eq!(
            code(&o),
            0,
            "apply is not blocked by the reused pid: {}",
            text(&o)
        );
        let (code, report) = env.run("job");
        assert_eq!(code, 0, "the run is not 'already running': {report}");
        assert_eq!(env.statuses("job"), ["success", "interrupted"]);
        std::thread::sleep(Duration::from_millis(300));
        assert!(alive(pid), "orc signalled the unrelated process {pid}");
    }

    /// The report's "slowest tasks" and trends are about runs that ran: skips are not
    /// 0-second runs.
    fn skipped_runs_are_not_counted_in_durations_of_the_report() {
        let env = TestEnv::new();
        env.apply("[tasks.nightly]\nshell = \"sleep 1.5\"\ndependencies = [\"file:go\"]\n");
        std::fs::write(env.path("go"), "").unwrap();
        assert_eq!(env.run("nightly").0, 0);
        std::fs::remove_file(env.path("go")).unwrap();
        assert_eq!(env.run("nightly").0, 75);
        assert_eq!(env.run("nightly").0, 75);
        let o = env.orc(&["report", "--since", "24h", "--format", "json"]);
        assert_eq!(code(&o), 0, "{}", text(&o));
        let report: Value = serde_json::from_slice(&o.stdout).unwrap();
        let slow = &report["slowest"][0];
        assert_eq!(slow["task"], "nightly", "{report}");
        assert_eq!(slow["runs"], 1, "{report}");
        assert!(slow["mean_ms"].as_i64().unwrap() >= 1500, "{report}");
        let trend = &report["tasks"][0];
        assert_eq!(
            trend["durations_ms"].as_array().unwrap().len(),
            1,
            "{report}"
        );
    }

    // Issue 16: every process of a run is contained ------------------------------------

    /// Wait for each named file to hold a pid; the pids.
    fn pids(env: &TestEnv, names: &[&str]) -> Vec<u32> {
        names
            .iter()
            .map(|name| {
                env.wait_for_file(name, Duration::from_secs(10));
                let start = Instant::now();
                loop {
                    if let Ok(pid) = env.read(name).trim().parse() {
                        break pid;
                    }
                    assert!(start.elapsed() < Duration::from_secs(5), "{name} is empty");
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
            .collect()
    }

    /// Processes that leave the task's process group three ways: `setsid`, a double
    /// fork that also starts a new session (as daemons do), and `set -m` (the shell puts
    /// its background job in a group of its own: setpgid). A timeout, the task's end and
    /// SIGTERM to `orc run` each stop all of them. (The task waits until all three have
    /// written their pids.)
    #[cfg(target_os = "linux")]
    fn escapes_from_the_process_group_are_stopped_with_the_run() {
        let env = TestEnv::new();
        let escapes = "setsid sleep 300 & echo $! > setsid.pid; \
         ( setsid sh -c 'sleep 300 & echo $! > double.pid; sleep 300' & ); \
         sh -c 'set -m; sleep 300 & echo $! > setpgid.pid'; \
         while [ ! -s setsid.pid ] || [ ! -s double.pid ] || [ ! -s setpgid.pid ]; do sleep 0.05; done; ";
        env.apply(&format!(
            "[tasks.hang]\nshell = \"{escapes}sleep 300\"\ntimeout = \"2s\"\n\n\
         [tasks.leaves]\nshell = \"{escapes}true\"\n\n\
         [tasks.stopped]\nshell = \"{escapes}touch ready; sleep 300\"\n"
        ));
        let names = ["setsid.pid", "double.pid", "setpgid.pid"];
        let check = |what: &str, pids: &[u32]| {
            for (name, pid) in names.iter().zip(pids) {
                assert!(
                    gone_within(*pid, Duration::from_secs(5)),
                    "{what}: the {name} escape ({pid}) still runs"
                );
            }
        };

        // The timeout.
        let (exit, report) = env.run("hang");
        let escaped = pids(&env, &names);
        let _cleanup = GroupKiller(escaped.clone());
        assert_eq!(exit, 124, "{report}");
        check("timeout", &escaped);

        // The task ends, leaving them running.
        for name in names {
            std::fs::remove_file(env.path(name)).unwrap();
        }
        let (exit, report) = env.run("leaves");
        let escaped = pids(&env, &names);
        let _cleanup2 = GroupKiller(escaped.clone());
        assert_eq!(exit, 0, "{report}");
        check("the task's end", &escaped);

        // SIGTERM to orc run.
        for name in names {
            std::fs::remove_file(env.path(name)).unwrap();
        }
        let mut orc = Reaped(Some(
            env.command(&["run", "stopped"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        ));
        env.wait_for_file("ready", Duration::from_secs(10));
        let escaped = pids(&env, &names);
        let _cleanup3 = GroupKiller(escaped.clone());
        let pid = orc.0.as_ref().unwrap().id();
        Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        let status = orc.0.take().unwrap().wait().unwrap();
        assert_eq!(status.code(), Some(143));
        check("SIGTERM", &escaped);
        assert_eq!(env.statuses("stopped"), ["interrupted"]);
    }

    /// The CPU of a process that left the task (an orphan of a double fork) counts in
    /// the run's: orc reaps it.
    #[cfg(target_os = "linux")]
    fn cpu_of_the_whole_tree_is_measured() {
        let env = TestEnv::new();
        env.apply(
        "[tasks.burn]\nshell = \"( sh -c 'i=0; while [ $i -lt 2000000 ]; do i=$((i+1)); done; touch burnt' & ); \
         while [ ! -e burnt ]; do sleep 0.1; done\"\ntimeout = \"5m\"\n",
    );
        let (exit, report) = env.run("burn");
        assert_eq!(exit, 0, "{report}");
        let run = &env.history("burn")[0];
        let cpu = run["cpu_ms"].as_i64().unwrap();
        // The loop takes over a second of CPU on a fast machine; the sleeps take none.
        assert!(
            cpu >= 500,
            "cpu_ms {cpu}: the orphan's CPU is missing: {run}"
        );
        assert!(run["peak_rss_kb"].as_i64().unwrap() > 0, "{run}");
    }

    fn stdout_and_stderr_lines_keep_the_order_they_were_written_in() {
        let env = TestEnv::new();
        env.apply(
            "[tasks.out_first]\nshell = \"echo a; echo b >&2\"\n\n\
         [tasks.err_first]\nshell = \"echo a >&2; echo b\"\n",
        );
        for task in ["out_first", "err_first"] {
            for _ in 0..8 {
                let (code, report) = env.run(task);
                assert_eq!(code, 0, "{report}");
                let log = env.logs(task, None);
                let lines: Vec<&str> = log
                    .lines()
                    .filter_map(|l| l.split_once(' ').map(|(_, rest)| rest))
                    .filter(|l| l.starts_with("out ") || l.starts_with("err "))
                    .map(|l| &l[4..])
                    .collect();
                assert_eq!(lines, ["a", "b"], "{task}:\n{log}");
            }
        }
    }

    pub fn main() -> std::process::ExitCode {
        common::run_trials(vec![
            common::trial(
                "timeout_stops_the_whole_process_tree",
                timeout_stops_the_whole_process_tree,
                &[],
            ),
            common::trial(
                "retries_wait_the_configured_delay",
                retries_wait_the_configured_delay,
                &[],
            ),
            common::trial(
                "the_commands_exit_code_is_orcs_exit_code",
                the_commands_exit_code_is_orcs_exit_code,
                &[],
            ),
            common::trial(
                "file_dependency_skips_until_the_file_exists",
                file_dependency_skips_until_the_file_exists,
                &[],
            ),
            common::trial(
                "url_dependency_up_error_and_down",
                url_dependency_up_error_and_down,
                &[],
            ),
            common::trial(
                "failing_condition_skips_its_dependants",
                failing_condition_skips_its_dependants,
                &[],
            ),
            common::trial(
                "an_expired_task_is_not_due",
                an_expired_task_is_not_due,
                &[],
            ),
            common::trial(
                "overlap_replace_stops_the_running_one_and_runs",
                overlap_replace_stops_the_running_one_and_runs,
                &[],
            ),
            common::trial(
                "overlapping_runs_are_skipped_and_a_killed_run_is_recovered",
                overlapping_runs_are_skipped_and_a_killed_run_is_recovered,
                &[],
            ),
            common::trial(
                "output_is_timestamped_interleaved_and_capped",
                output_is_timestamped_interleaved_and_capped,
                &[],
            ),
            common::trial(
                "secrets_fail_clearly_and_unapplied_tasks_say_apply",
                secrets_fail_clearly_and_unapplied_tasks_say_apply,
                &[],
            ),
            common::trial(
                "if_due_does_nothing_when_the_schedule_does_not_fire",
                if_due_does_nothing_when_the_schedule_does_not_fire,
                &[],
            ),
            common::trial(
                "timeout_holds_when_a_descendant_leaves_the_process_group",
                timeout_holds_when_a_descendant_leaves_the_process_group,
                &[common::missing_program("setsid", &["true"], "util-linux")],
            ),
            common::trial(
                "a_huge_line_without_newlines_is_capped_and_keeps_its_end",
                a_huge_line_without_newlines_is_capped_and_keeps_its_end,
                &[],
            ),
            common::trial(
                "logs_are_found_when_the_run_used_a_relative_state_path",
                logs_are_found_when_the_run_used_a_relative_state_path,
                &[],
            ),
            common::trial(
                "logs_say_when_the_latest_run_has_none",
                logs_say_when_the_latest_run_has_none,
                &[],
            ),
            common::trial(
                "a_run_whose_log_cannot_be_created_is_recorded_as_failed",
                a_run_whose_log_cannot_be_created_is_recorded_as_failed,
                &[],
            ),
            common::trial(
                "status_shows_the_last_result_and_duration",
                status_shows_the_last_result_and_duration,
                &[],
            ),
            common::trial(
                "a_file_that_appears_during_wait_lets_the_run_proceed",
                a_file_that_appears_during_wait_lets_the_run_proceed,
                &[],
            ),
            common::trial(
                "max_age_sets_how_recent_a_dependency_success_must_be",
                max_age_sets_how_recent_a_dependency_success_must_be,
                &[],
            ),
            common::trial(
                "exponential_backoff_doubles_the_retry_delay_up_to_its_cap",
                exponential_backoff_doubles_the_retry_delay_up_to_its_cap,
                &[],
            ),
            common::trial(
                "overlap_queue_waits_and_overlap_allow_runs_both",
                overlap_queue_waits_and_overlap_allow_runs_both,
                &[],
            ),
            common::trial(
                "a_dependency_wait_polls_until_its_whole_window_ends",
                a_dependency_wait_polls_until_its_whole_window_ends,
                &[],
            ),
            common::trial(
                "a_runs_duration_is_its_wall_time_and_each_attempt_has_its_own",
                a_runs_duration_is_its_wall_time_and_each_attempt_has_its_own,
                &[],
            ),
            common::trial(
                "a_run_whose_orc_was_killed_is_interrupted_when_next_looked_at",
                a_run_whose_orc_was_killed_is_interrupted_when_next_looked_at,
                &[],
            ),
            common::trial(
                "a_reused_pid_is_not_the_holder_and_is_never_signalled",
                a_reused_pid_is_not_the_holder_and_is_never_signalled,
                &[],
            ),
            common::trial(
                "skipped_runs_are_not_counted_in_durations_of_the_report",
                skipped_runs_are_not_counted_in_durations_of_the_report,
                &[],
            ),
            common::trial(
                "escapes_from_the_process_group_are_stopped_with_the_run",
                escapes_from_the_process_group_are_stopped_with_the_run,
                &[common::missing_program("setsid", &["true"], "util-linux")],
            ),
            common::trial(
                "then_steps_run_in_order_and_a_retry_resumes_at_the_failed_one",
                then_steps_run_in_order_and_a_retry_resumes_at_the_failed_one,
                &[],
            ),
            common::trial(
                "exit_code_rules_decide_success_warning_and_retries",
                exit_code_rules_decide_success_warning_and_retries,
                &[],
            ),
            common::trial(
                "cpu_of_the_whole_tree_is_measured",
                cpu_of_the_whole_tree_is_measured,
                &[],
            ),
            common::trial(
                "stdout_and_stderr_lines_keep_the_order_they_were_written_in",
                stdout_and_stderr_lines_keep_the_order_they_were_written_in,
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
