//! Apply safety: the acceptance criteria of `orc apply` as an operator relies on them.
//!
//! Every test drives the real binary against a real SQLite state in a temporary
//! folder, and a real live scheduler: the embedded registry always, and the user's
//! real crontab when `crontab` is installed and orc's cron backend is built in.
//!
//! - idempotence: apply, then plan says "No changes.", and a second apply writes
//!   nothing to the scheduler or the audit log;
//! - kill -9 at every failpoint of apply, across a change that creates, updates and
//!   deletes at once: the next apply breaks the dead lock, converges, and the audit
//!   row of the killed apply says what happened to it;
//! - concurrent applies: the second fails at once naming the holder, or waits with
//!   `--lock-timeout`;
//! - stale saved plans are refused, naming what moved where, and change nothing;
//! - a bad config never touches the state or the scheduler, nor creates a state;
//! - no silent approval off a terminal; the state database is owner-only.
//!
//! The cron variants touch the real user crontab, each in a folder (managed block)
//! of its own, one test at a time, and destroy what they applied at the end. Without
//! `crontab` they are reported as ignored, naming it (a failure instead under
//! `CI=true`, where `.ci/run` installs it).

mod common;

#[cfg(unix)]
mod suite {
    use super::common;
    use common::TestEnv;

    // Process groups, signals and file modes: Unix only.

    use std::collections::BTreeSet;
    use std::fmt;
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::os::unix::process::ExitStatusExt;
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, Stdio};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Mutex, MutexGuard, OnceLock, mpsc};
    use std::time::{Duration, Instant};

    const HOST: &str = "testhost";
    /// The failpoints of `orc apply`, in the order apply reaches them.
    const FAILPOINTS: [&str; 4] = [
        "apply:locked",
        "apply:before-scheduler",
        "apply:after-scheduler",
        "apply:after-state",
    ];

    fn manifest_dir() -> &'static Path {
        Path::new(env!("CARGO_MANIFEST_DIR"))
    }

    // ---------------------------------------------------------------------------------
    // Running orc

    /// What one orc process did.
    struct Out {
        code: Option<i32>,
        stdout: String,
        stderr: String,
        elapsed: Duration,
        what: String,
    }

    impl fmt::Display for Out {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(
                f,
                "`{}` exited {:?} after {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                self.what, self.code, self.elapsed, self.stdout, self.stderr
            )
        }
    }

    impl Out {
        fn expect_code(&self, code: i32) -> &Self {
            assert_eq!(self.code, Some(code), "{self}");
            assert!(!self.stderr.contains("panicked"), "{self}");
            self
        }
        fn expect_ok(&self) -> &Self {
            self.expect_code(0)
        }
    }

    fn run(mut cmd: Command) -> Out {
        let what = format!(
            "orc {}",
            cmd.get_args()
                .map(|a| a.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        );
        let start = Instant::now();
        let o = cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
        Out {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            elapsed: start.elapsed(),
            what,
        }
    }

    /// An orc process stopped at a failpoint; killed (SIGKILL) when dropped.
    struct Held {
        child: Child,
        pid: u32,
    }

    impl Held {
        /// `kill -9`, and reap it.
        fn kill9(mut self) {
            self.child.kill().expect("SIGKILL the held orc");
            let status = self.child.wait().expect("reap the killed orc");
            assert_eq!(status.signal(), Some(9), "orc died of SIGKILL");
        }
    }

    impl Drop for Held {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    // ---------------------------------------------------------------------------------
    // Backends

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Backend {
        Embedded,
        Cron,
    }

    impl Backend {
        fn scheduler(self) -> common::Backend {
            match self {
                Backend::Embedded => common::Backend::Embedded,
                Backend::Cron => common::Backend::Cron,
            }
        }
    }

    fn find_on_path(program: &str) -> Option<PathBuf> {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .map(|d| d.join(program))
            .find(|p| {
                p.metadata()
                    .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            })
    }

    /// The real `crontab`, looked up before any shim is put in front of it.
    fn real_crontab() -> Option<&'static Path> {
        static CRONTAB: OnceLock<Option<PathBuf>> = OnceLock::new();
        CRONTAB.get_or_init(|| find_on_path("crontab")).as_deref()
    }

    /// The real `crontab`; the cron variants are reported as ignored without it, and run
    /// (and fail here) under CI or when asked for with `--ignored`.
    fn crontab_program() -> &'static Path {
        real_crontab().expect("`crontab` is not on PATH (apt-get install cron)")
    }

    /// Cron tests share the user's crontab: one at a time.
    fn cron_lock() -> MutexGuard<'static, ()> {
        static CRON: Mutex<()> = Mutex::new(());
        CRON.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn unique_folder() -> String {
        static N: AtomicUsize = AtomicUsize::new(0);
        format!(
            "orc-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        )
    }

    /// A `crontab` that logs its arguments, one call a line, then runs the real one.
    fn write_crontab_shim(dir: &Path, real: &Path) {
        let shim = dir.join("crontab");
        {
            let mut f = std::fs::File::create(&shim).unwrap();
            write!(
            f,
            "#!/bin/bash\nprintf '%s\\n' \"$*\" >> \"${{ORC_TEST_CRONTAB_LOG:-/dev/null}}\"\nexec '{}' \"$@\"\n",
            real.display()
        )
        .unwrap();
            f.sync_all().unwrap();
        }
        std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
        // Another test thread may have forked while the file was open for writing; exec
        // then fails with ETXTBSY until that child has exec'd too. Wait that out here.
        for attempt in 0.. {
            match Command::new(&shim)
                .arg("-l")
                .env("ORC_TEST_CRONTAB_LOG", "/dev/null")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
            {
                Ok(_) => return,
                Err(e) if e.raw_os_error() == Some(26) && attempt < 200 => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Err(e) => panic!("cannot run the crontab shim {}: {e}", shim.display()),
            }
        }
    }

    /// The real user crontab (empty when the user has none).
    fn crontab_text() -> String {
        let out = Command::new(crontab_program())
            .arg("-l")
            .output()
            .expect("crontab -l runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The task names of the crontab lines that call orc back with `state`, commented
    /// out (disabled) or not.
    fn cron_task_names(crontab: &str, state: &str) -> BTreeSet<String> {
        crontab
            .lines()
            .filter(|l| l.contains(state))
            .filter_map(cron_line_task)
            .collect()
    }

    fn cron_line_task(line: &str) -> Option<String> {
        let unquote = |t: &str| t.trim_matches(|c| c == '\'' || c == '"').to_string();
        let tokens: Vec<&str> = line
            .trim_start_matches(['#', ' '])
            .split_whitespace()
            .collect();
        let at = tokens.iter().position(|t| unquote(t) == "run")?;
        tokens.get(at + 1).map(|t| unquote(t))
    }

    // ---------------------------------------------------------------------------------
    // Configs

    fn task(name: &str, schedule: &str, extra: &str) -> String {
        format!("[tasks.{name}]\ncommand = [\"true\"]\nschedule = \"{schedule}\"\n{extra}\n")
    }

    fn config_text(folder: &str, tasks: &[String]) -> String {
        let mut text = format!("[settings]\nfolder = \"{folder}\"\ntimezone = \"local\"\n\n");
        for t in tasks {
            text.push_str(t);
            text.push('\n');
        }
        text
    }

    /// Before: six tasks.
    fn config_a(folder: &str) -> String {
        config_text(
            folder,
            &[
                task("keep", "0 1 * * *", ""),
                task("upd", "0 2 * * *", ""),
                task("off", "0 3 * * *", "enabled = true"),
                task("desc", "0 4 * * *", "description = \"before\""),
                task("gone1", "0 5 * * *", ""),
                task("gone2", "0 6 * * *", ""),
            ],
        )
    }

    /// After: one kept, a new schedule, a disable, a state-only change, two deleted,
    /// two created.
    fn config_b(folder: &str) -> String {
        config_text(
            folder,
            &[
                task("keep", "0 1 * * *", ""),
                task("upd", "15 2 * * *", ""),
                task("off", "0 3 * * *", "enabled = false"),
                task("desc", "0 4 * * *", "description = \"after\""),
                task("new1", "0 7 * * *", ""),
                task("new2", "30 8 * * 1-5", ""),
            ],
        )
    }

    fn names(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn b_names() -> BTreeSet<String> {
        names(&["keep", "upd", "off", "desc", "new1", "new2"])
    }

    // ---------------------------------------------------------------------------------
    // The state database, read directly

    fn query(state: &Path, sql: &str) -> Vec<Vec<String>> {
        assert!(state.exists(), "{} exists", state.display());
        let conn = rusqlite::Connection::open(state).expect("open the state");
        conn.busy_timeout(Duration::from_secs(10)).unwrap();
        let mut stmt = conn.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        let n = stmt.column_count();
        stmt.query_map([], |r| {
            (0..n)
                .map(|i| r.get_ref(i).map(|v| format!("{v:?}")))
                .collect::<Result<Vec<_>, _>>()
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    }

    fn strings(state: &Path, sql: &str) -> Vec<String> {
        let conn = rusqlite::Connection::open(state).expect("open the state");
        conn.busy_timeout(Duration::from_secs(10)).unwrap();
        let mut stmt = conn.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        stmt.query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn recorded_names(state: &Path) -> BTreeSet<String> {
        strings(state, "SELECT name FROM tasks")
            .into_iter()
            .collect()
    }

    fn applies_count(state: &Path) -> usize {
        query(state, "SELECT id FROM applies").len()
    }

    /// Everything an apply could change: the state's tables and the live scheduler.
    #[derive(Debug, PartialEq, Eq)]
    struct Snapshot {
        tasks: Option<Vec<Vec<String>>>,
        applies: Option<Vec<Vec<String>>>,
        locks: Option<Vec<Vec<String>>>,
        live: Option<Vec<u8>>,
    }

    // ---------------------------------------------------------------------------------
    // One test's world

    /// A TestEnv on `backend`, with the state and config this test points orc at (the
    /// examples, another state), its crontab block, and, for cron, the user's crontab
    /// to itself and cleaned up after.
    struct World {
        backend: Backend,
        /// The folder, `state.db` in it; for cron a logging `crontab` shim first on
        /// PATH (`bin/crontab`), logging to `crontab.log`.
        env: TestEnv,
        state: PathBuf,
        config: PathBuf,
        folder: String,
        finished: bool,
        _cron: Option<MutexGuard<'static, ()>>,
    }

    impl World {
        /// A fresh world on `backend`.
        fn new(backend: Backend) -> World {
            let cron = match backend {
                Backend::Embedded => None,
                Backend::Cron => {
                    crontab_program();
                    Some(cron_lock())
                }
            };
            let mut builder = TestEnv::builder()
                .state("state.db")
                .backend(backend.scheduler());
            if cron.is_some() {
                builder = builder
                    .path_first("bin")
                    .env_in_dir("ORC_TEST_CRONTAB_LOG", "crontab.log");
            }
            let env = builder.build();
            if cron.is_some() {
                write_crontab_shim(&env.path("bin"), crontab_program());
            }
            World {
                backend,
                state: env.state(),
                config: env.config(),
                env,
                folder: unique_folder(),
                finished: false,
                _cron: cron,
            }
        }

        fn path(&self, rel: &str) -> PathBuf {
            self.env.path(rel)
        }

        fn state_str(&self) -> String {
            self.state.to_string_lossy().into_owned()
        }

        /// orc with this world's state, backend and `config`.
        fn cmd_with(&self, config: &Path, args: &[&str]) -> Command {
            self.cmd_at(config, &self.state, args)
        }

        /// orc with this world's backend, `config` and `state`.
        fn cmd_at(&self, config: &Path, state: &Path, args: &[&str]) -> Command {
            let mut cmd = self.env.command(args);
            cmd.env("ORC_CONFIG", config).env("ORC_STATE", state);
            cmd
        }

        fn orc(&self, args: &[&str]) -> Out {
            run(self.cmd_with(&self.config, args))
        }

        fn orc_with(&self, config: &Path, args: &[&str]) -> Out {
            run(self.cmd_with(config, args))
        }

        fn write_config(&self, text: &str) {
            std::fs::write(&self.config, text).unwrap();
        }

        fn apply(&self) -> Out {
            self.orc(&["apply", "--auto-approve"])
        }

        /// Plan says there is nothing to do and nothing unmanaged.
        fn expect_converged(&self) {
            let plan = self.orc(&["plan", "--detailed-exitcode"]);
            plan.expect_ok();
            assert!(plan.stdout.contains("No changes."), "{plan}");
            assert!(!plan.stdout.contains("Unmanaged"), "{plan}");
            let json = self.orc(&["plan", "--json"]);
            json.expect_ok();
            let v: serde_json::Value = serde_json::from_str(&json.stdout)
                .unwrap_or_else(|e| panic!("plan --json is JSON ({e}): {json}"));
            assert_eq!(v["has_changes"], false, "{json}");
            assert_eq!(v["unmanaged"], serde_json::json!([]), "{json}");
        }

        /// Start orc and wait until it stops at `failpoint`.
        fn hold_at(&self, failpoint: &str, args: &[&str]) -> Held {
            let mut cmd = self.cmd_with(&self.config, args);
            cmd.env("ORC_FAILPOINT", failpoint)
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            let mut child = cmd.spawn().expect("spawn orc");
            let pid = child.id();
            let stderr = child.stderr.take().unwrap();
            let (tx, rx) = mpsc::channel();
            let want = format!("orc: failpoint {failpoint} reached");
            std::thread::spawn(move || {
                let mut seen = String::new();
                let mut sent = false;
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    seen.push_str(&line);
                    seen.push('\n');
                    if !sent && line == want {
                        let _ = tx.send(Ok(()));
                        sent = true;
                    }
                }
                if !sent {
                    let _ = tx.send(Err(seen));
                }
            });
            let held = Held { child, pid };
            match rx.recv_timeout(Duration::from_secs(20)) {
                Ok(Ok(())) => held,
                Ok(Err(seen)) => panic!("orc exited before failpoint {failpoint}; stderr:\n{seen}"),
                Err(_) => panic!("orc did not reach failpoint {failpoint} within 20 s"),
            }
        }

        /// The live scheduler's bytes: the registry file, or the whole user crontab.
        fn live_bytes(&self) -> Option<Vec<u8>> {
            match self.backend {
                Backend::Embedded => std::fs::read(self.registry()).ok(),
                Backend::Cron => Some(crontab_text().into_bytes()),
            }
        }

        fn registry(&self) -> PathBuf {
            self.path(&format!("registry/{}.json", self.folder))
        }

        /// The names the live scheduler holds for this world.
        fn live_names(&self) -> BTreeSet<String> {
            match self.backend {
                Backend::Embedded => match std::fs::read_to_string(self.registry()) {
                    Ok(text) => {
                        let v: serde_json::Value = serde_json::from_str(&text)
                            .unwrap_or_else(|e| panic!("the registry is JSON ({e}):\n{text}"));
                        v["tasks"]
                            .as_object()
                            .unwrap_or_else(|| panic!("the registry has tasks:\n{text}"))
                            .keys()
                            .cloned()
                            .collect()
                    }
                    Err(_) => BTreeSet::new(),
                },
                Backend::Cron => cron_task_names(&crontab_text(), &self.state_str()),
            }
        }

        fn snapshot(&self) -> Snapshot {
            let table = |sql: &str| self.state.exists().then(|| query(&self.state, sql));
            Snapshot {
                tasks: table("SELECT * FROM tasks ORDER BY name"),
                applies: table("SELECT * FROM applies ORDER BY id"),
                locks: table("SELECT * FROM locks ORDER BY name"),
                live: self.live_bytes(),
            }
        }

        fn crontab_calls(&self) -> Vec<String> {
            std::fs::read_to_string(self.path("crontab.log"))
                .unwrap_or_default()
                .lines()
                .map(str::to_string)
                .collect()
        }

        fn clear_crontab_log(&self) {
            let _ = std::fs::remove_file(self.path("crontab.log"));
        }

        /// Cron: destroy what this test applied, and check the crontab holds none of it.
        fn finish(mut self) {
            self.finished = true;
            if self.backend == Backend::Cron {
                self.orc(&["destroy", "--auto-approve"]).expect_ok();
                let left = cron_task_names(&crontab_text(), &self.state_str());
                assert!(
                    left.is_empty(),
                    "destroy left {left:?} in the crontab:\n{}",
                    crontab_text()
                );
            }
        }
    }

    impl Drop for World {
        fn drop(&mut self) {
            // Never leave a failed test's tasks in the real crontab.
            if self.backend == Backend::Cron && !self.finished {
                let _ = self.orc(&["destroy", "--auto-approve"]);
            }
        }
    }

    // ---------------------------------------------------------------------------------
    // 1. Idempotence

    /// examples/ as the given backend can take it: as is for the embedded backend; for
    /// cron a copy in its own crontab block, in Europe/Berlin if cron accepts that zone,
    /// else (after checking that the refusal is clear and changed nothing) in local time.
    fn apply_examples(env: &mut World) -> Out {
        let examples = manifest_dir().join("examples");
        store_example_secrets(env);
        if env.backend == Backend::Embedded {
            env.config = examples;
            env.folder = "Orc".to_string();
            return env.apply();
        }
        let copy = env.path("examples");
        std::fs::create_dir_all(copy.join("tasks.d")).unwrap();
        for rel in ["tasks.toml", "tasks.d/etl.toml", "tasks.d/maintenance.toml"] {
            std::fs::copy(examples.join(rel), copy.join(rel)).unwrap();
        }
        let main = copy.join("tasks.toml");
        let text = std::fs::read_to_string(&main).unwrap();
        assert!(text.contains("folder = \"Orc\""), "examples set the folder");
        let text = text.replace("folder = \"Orc\"", &format!("folder = \"{}\"", env.folder));
        std::fs::write(&main, &text).unwrap();
        env.config = copy;

        let before = env.snapshot();
        let first = env.apply();
        if first.code == Some(0) {
            return first;
        }
        // Refused: the reason must be the zone, said clearly, with nothing changed.
        first.expect_code(1);
        assert!(
            first.stderr.contains("Europe/Berlin")
                && (first.stderr.contains("zone") || first.stderr.contains("timezone")),
            "cron refused the examples, but not clearly because of their time zone:\n{first}"
        );
        assert_eq!(
            env.snapshot().live,
            before.live,
            "a refused apply changed the crontab"
        );
        if env.state.exists() {
            assert!(
                recorded_names(&env.state).is_empty(),
                "a refused apply recorded tasks"
            );
        }
        assert!(text.contains("timezone = \"Europe/Berlin\""));
        std::fs::write(
            &main,
            text.replace("timezone = \"Europe/Berlin\"", "timezone = \"local\""),
        )
        .unwrap();
        env.apply()
    }

    /// The credentials the examples name, in this world's vault: apply refuses tasks
    /// whose secrets the server lacks.
    fn store_example_secrets(env: &World) {
        let o = env
            .cmd_at(&env.config, &env.state, &["secret", "init"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        for name in [
            "email_username",
            "email_password",
            "db_password",
            "warehouse_dsn",
        ] {
            let mut child = env
                .cmd_at(&env.config, &env.state, &["secret", "set", name])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            use std::io::Write as _;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(b"example-value")
                .unwrap();
            let o = child.wait_with_output().unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        }
    }

    fn idempotent_examples(backend: Backend) {
        let mut env = World::new(backend);
        apply_examples(&mut env).expect_ok();
        let here = names(&[
            "daily_report",
            "etl_orders",
            "month_end_reindex",
            "vpn_check",
        ]);
        assert_eq!(
            recorded_names(&env.state),
            here,
            "monthly_cleanup is for srv-01 only"
        );
        if backend == Backend::Embedded {
            assert_eq!(env.live_names(), here);
        }
        assert!(
            !env.live_names().contains("monthly_cleanup"),
            "a task for srv-01 went live on {HOST}"
        );
        let first_calls = env.crontab_calls();
        env.expect_converged();

        let applies = applies_count(&env.state);
        let tasks = query(&env.state, "SELECT * FROM tasks ORDER BY name");
        let live = env.live_bytes();
        let meta = std::fs::metadata(env.registry()).ok();
        std::thread::sleep(Duration::from_millis(20)); // a rewrite would move the mtime
        env.clear_crontab_log();

        let second = env.apply();
        second.expect_ok();
        assert!(second.stdout.contains("No changes."), "{second}");
        assert_eq!(
            applies_count(&env.state),
            applies,
            "a no-op apply wrote an audit row"
        );
        assert_eq!(
            query(&env.state, "SELECT * FROM tasks ORDER BY name"),
            tasks,
            "a no-op apply rewrote the tasks table"
        );
        assert_eq!(
            env.live_bytes(),
            live,
            "a no-op apply changed the live scheduler"
        );
        match backend {
            Backend::Embedded => {
                let (before, after) = (
                    meta.expect("registry"),
                    std::fs::metadata(env.registry()).unwrap(),
                );
                assert_eq!(after.ino(), before.ino(), "the registry was replaced");
                assert_eq!(
                    (after.mtime(), after.mtime_nsec()),
                    (before.mtime(), before.mtime_nsec()),
                    "the registry was rewritten"
                );
            }
            Backend::Cron => {
                assert!(
                    first_calls
                        .iter()
                        .any(|c| !c.split_whitespace().any(|a| a == "-l")),
                    "the crontab shim saw no write during the first apply, so it cannot vouch for the second (does orc find crontab on PATH?); calls: {first_calls:?}"
                );
                let calls = env.crontab_calls();
                assert!(
                    calls
                        .iter()
                        .any(|c| c.split_whitespace().any(|a| a == "-l")),
                    "the second apply never read the crontab (crontab -l); calls: {calls:?}"
                );
                assert!(
                    calls
                        .iter()
                        .all(|c| c.split_whitespace().any(|a| a == "-l")),
                    "the second apply wrote the crontab although nothing changed; calls: {calls:?}"
                );
            }
        }
        env.expect_converged();
        env.finish();
    }

    fn idempotent_examples_embedded() {
        idempotent_examples(Backend::Embedded);
    }

    fn idempotent_examples_cron() {
        idempotent_examples(Backend::Cron);
    }

    // ---------------------------------------------------------------------------------
    // 2. kill -9 mid-apply

    fn killed_mid_apply(backend: Backend, failpoint: &str) {
        let env = World::new(backend);
        let a = names(&["keep", "upd", "off", "desc", "gone1", "gone2"]);
        env.write_config(&config_a(&env.folder));
        env.apply().expect_ok();
        assert_eq!(env.live_names(), a);

        env.write_config(&config_b(&env.folder));
        let held = env.hold_at(failpoint, &["apply", "--auto-approve"]);
        let pid = held.pid;
        held.kill9();

        // Where the crash left things: the failpoints sit where their names say.
        let rows_of_killed = || {
            strings(
                &env.state,
                &format!("SELECT outcome FROM applies WHERE pid = {pid}"),
            )
        };
        let scheduler_written = matches!(failpoint, "apply:after-scheduler" | "apply:after-state");
        assert_eq!(
            env.live_names(),
            if scheduler_written {
                b_names()
            } else {
                a.clone()
            },
            "live after a crash at {failpoint}"
        );
        assert_eq!(
            recorded_names(&env.state),
            if failpoint == "apply:after-state" {
                b_names()
            } else {
                a.clone()
            },
            "state after a crash at {failpoint}"
        );
        let (before_recovery, after_recovery): (&[&str], &[&str]) = match failpoint {
            "apply:locked" => (&[], &[]),
            // The audit row was written, then the process died with the row open.
            "apply:before-scheduler" | "apply:after-scheduler" => (&["running"], &["interrupted"]),
            // The row was closed in the same transaction as the task writes: the apply
            // did all its work and only died before releasing the lock.
            _ => (&["succeeded"], &["succeeded"]),
        };
        assert_eq!(
            rows_of_killed(),
            before_recovery,
            "audit row after the crash"
        );

        // Plan works on the crashed state, lock or no lock.
        let plan = env.orc(&["plan", "--detailed-exitcode"]);
        plan.expect_code(if failpoint == "apply:after-state" {
            0
        } else {
            2
        });

        // The next apply breaks the dead process's lock, says so, and converges.
        let apply = env.apply();
        apply.expect_ok();
        assert!(
            apply.stderr.contains("stale lock")
                && apply.stderr.contains(&format!("pid {pid} on host {HOST}")),
            "no stale-lock warning naming pid {pid}: {apply}"
        );
        env.expect_converged();
        assert_eq!(
            recorded_names(&env.state),
            b_names(),
            "every task is recorded"
        );
        assert_eq!(
            env.live_names(),
            b_names(),
            "every task is live, and only those"
        );
        assert_eq!(
            rows_of_killed(),
            after_recovery,
            "audit row of the killed apply"
        );
        assert!(
            strings(
                &env.state,
                "SELECT outcome FROM applies WHERE outcome = 'running'"
            )
            .is_empty(),
            "an apply is still 'running': {:?}",
            query(&env.state, "SELECT * FROM applies")
        );
        assert!(
            query(&env.state, "SELECT * FROM locks").is_empty(),
            "a lock is left"
        );
        // The recovery is ordinary: the next apply has nothing to break and nothing to do.
        let again = env.apply();
        again.expect_ok();
        assert!(!again.stderr.contains("stale lock"), "{again}");
        assert!(again.stdout.contains("No changes."), "{again}");
        env.finish();
    }

    macro_rules! kill_tests {
    ($($name:ident: $backend:expr, $point:expr;)*) => {$(
        fn $name() {
            killed_mid_apply($backend, $point);
        }
    )*};
}

    kill_tests! {
        kill9_at_locked_embedded: Backend::Embedded, FAILPOINTS[0];
        kill9_before_scheduler_embedded: Backend::Embedded, FAILPOINTS[1];
        kill9_after_scheduler_embedded: Backend::Embedded, FAILPOINTS[2];
        kill9_after_state_embedded: Backend::Embedded, FAILPOINTS[3];
        kill9_at_locked_cron: Backend::Cron, FAILPOINTS[0];
        kill9_before_scheduler_cron: Backend::Cron, FAILPOINTS[1];
        kill9_after_scheduler_cron: Backend::Cron, FAILPOINTS[2];
        kill9_after_state_cron: Backend::Cron, FAILPOINTS[3];
    }

    // ---------------------------------------------------------------------------------
    // 3. Concurrent applies

    fn a_second_apply_fails_at_once_naming_the_holder_or_waits_with_lock_timeout() {
        let env = World::new(Backend::Embedded);
        env.write_config(&config_a(&env.folder));
        let held = env.hold_at("apply:locked", &["apply", "--auto-approve"]);
        let pid = held.pid;
        let lock = query(&env.state, "SELECT pid, host, acquired_at FROM locks");
        assert_eq!(lock.len(), 1, "{lock:?}");
        let acquired_at = strings(&env.state, "SELECT acquired_at FROM locks").remove(0);

        let second = env.apply();
        second.expect_code(1);
        assert!(
            second.elapsed < Duration::from_secs(5),
            "the second apply waited although --lock-timeout defaults to 0: {second}"
        );
        for want in [
            "locked".to_string(),
            format!("pid {pid} on host {HOST}"),
            acquired_at.clone(),
            "--lock-timeout".to_string(),
        ] {
            assert!(second.stderr.contains(&want), "want {want:?}: {second}");
        }

        let waiting = env.orc(&["apply", "--auto-approve", "--lock-timeout", "2s"]);
        waiting.expect_code(1);
        assert!(
            waiting.elapsed >= Duration::from_secs(2) && waiting.elapsed < Duration::from_secs(10),
            "--lock-timeout 2s: {waiting}"
        );
        assert!(
            waiting
                .stderr
                .contains(&format!("pid {pid} on host {HOST}")),
            "{waiting}"
        );
        // Neither touched anything.
        assert!(recorded_names(&env.state).is_empty());
        assert_eq!(applies_count(&env.state), 0);
        assert!(env.live_names().is_empty());
        assert_eq!(
            strings(&env.state, "SELECT acquired_at FROM locks"),
            [acquired_at],
            "the holder keeps its lock"
        );

        held.kill9();
        let third = env.apply();
        third.expect_ok();
        assert!(
            third.stderr.contains("stale lock")
                && third.stderr.contains(&format!("pid {pid} on host {HOST}")),
            "{third}"
        );
        env.expect_converged();
        assert_eq!(env.live_names().len(), 6);
    }

    fn a_waiting_apply_takes_over_when_the_holder_dies() {
        let env = World::new(Backend::Embedded);
        env.write_config(&config_a(&env.folder));
        let held = env.hold_at("apply:locked", &["apply", "--auto-approve"]);
        let pid = held.pid;
        let mut cmd = env.cmd_with(
            &env.config,
            &["apply", "--auto-approve", "--lock-timeout", "20s"],
        );
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let waiter = cmd.spawn().unwrap();
        std::thread::sleep(Duration::from_millis(500));
        let killed = Instant::now();
        held.kill9();
        let out = waiter.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert!(
            killed.elapsed() < Duration::from_secs(10),
            "the waiter noticed late"
        );
        assert!(
            stderr.contains(&format!("stale lock held by pid {pid} on host {HOST}")),
            "{stderr}"
        );
        env.expect_converged();
    }

    /// Start `n` applies at once into a state that does not exist yet.
    fn race_applies(env: &World, state: &Path, n: usize, extra: &[&str]) -> Vec<Out> {
        let mut args = vec!["apply", "--auto-approve"];
        args.extend_from_slice(extra);
        let children: Vec<Child> = (0..n)
            .map(|_| {
                let mut cmd = env.cmd_at(&env.config, state, &args);
                cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
                cmd.spawn().expect("spawn orc")
            })
            .collect();
        children
            .into_iter()
            .map(|c| {
                let o = c.wait_with_output().unwrap();
                Out {
                    code: o.status.code(),
                    stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
                    stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
                    elapsed: Duration::ZERO,
                    what: format!("orc {}", args.join(" ")),
                }
            })
            .collect()
    }

    /// The first applies into a new state race to create it: the losers must see the
    /// lock (and wait for it with --lock-timeout), never a half-migrated database.
    fn simultaneous_first_applies_into_a_new_state_see_the_lock() {
        let env = World::new(Backend::Embedded);
        env.write_config(&config_a(&env.folder));
        for round in 0..3 {
            let state = env.path(&format!("wait{round}/state.db"));
            for out in race_applies(&env, &state, 4, &["--lock-timeout", "20s"]) {
                assert_eq!(
                    out.code,
                    Some(0),
                    "with --lock-timeout every apply waits its turn: {out}"
                );
            }
            assert_eq!(query(&state, "SELECT id FROM applies").len(), 1);
            assert_eq!(recorded_names(&state).len(), 6);

            let state = env.path(&format!("fail{round}/state.db"));
            for out in race_applies(&env, &state, 4, &[]) {
                assert!(
                    out.code == Some(0) || out.stderr.contains("locked by another orc"),
                    "an apply that lost the race must fail on the lock: {out}"
                );
            }
        }
    }

    // ---------------------------------------------------------------------------------
    // 4. Stale saved plans

    fn base_tasks(x_command: &str, y_description: &str) -> Vec<String> {
        vec![
            format!("[tasks.x]\ncommand = [\"{x_command}\"]\nschedule = \"0 1 * * *\"\n"),
            task(
                "y",
                "0 2 * * *",
                &format!("description = \"{y_description}\""),
            ),
            task("z", "7 3 * * *", ""),
            task("w", "0 4 * * *", ""),
        ]
    }

    /// Change task `name`'s trigger in the live scheduler, as someone might by hand.
    fn tamper_live(env: &World, name: &str) {
        match env.backend {
            Backend::Embedded => {
                let path = env.registry();
                let mut v: serde_json::Value =
                    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
                let trigger = &mut v["tasks"][name]["trigger"];
                assert!(trigger.is_string(), "{name} has a trigger in the registry");
                *trigger = serde_json::json!("8 3 * * * (local)");
                std::fs::write(&path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
            }
            Backend::Cron => {
                let state = env.state_str();
                let text = crontab_text();
                let mut changed = 0;
                let edited: String = text
                    .lines()
                    .map(|l| {
                        if l.contains(&state)
                            && cron_line_task(l).as_deref() == Some(name)
                            && l.starts_with("7 3 * * *")
                        {
                            changed += 1;
                            format!("8{}\n", &l[1..])
                        } else {
                            format!("{l}\n")
                        }
                    })
                    .collect();
                assert_eq!(
                    changed, 1,
                    "one crontab line for {name} starts with 7 3 * * *:\n{text}"
                );
                let mut child = Command::new(real_crontab().unwrap())
                    .arg("-")
                    .stdin(Stdio::piped())
                    .spawn()
                    .unwrap();
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(edited.as_bytes())
                    .unwrap();
                assert!(
                    child.wait().unwrap().success(),
                    "crontab - installs the edit"
                );
            }
        }
    }

    fn stale_saved_plan(backend: Backend) {
        let env = World::new(backend);
        let folder = env.folder.clone();
        env.write_config(&config_text(&folder, &base_tasks("true", "old")));
        env.apply().expect_ok();

        // The reviewed plan adds n.
        let mut planned = base_tasks("true", "old");
        planned.push(task("n", "0 5 * * *", ""));
        env.write_config(&config_text(&folder, &planned));
        let plan_file = env.path("reviewed.plan");
        let plan_file_s = plan_file.to_str().unwrap();
        env.orc(&["plan", "-o", plan_file_s]).expect_ok();

        // (a) the configuration of x changes;
        let mut edited = base_tasks("false", "old");
        edited.push(task("n", "0 5 * * *", ""));
        env.write_config(&config_text(&folder, &edited));
        // (b) someone applies another config (same folder on disk) that changes y in the
        // state only;
        let other = env.path("other.toml");
        std::fs::write(&other, config_text(&folder, &base_tasks("true", "new"))).unwrap();
        let live_before = env.live_bytes();
        let between = env.orc_with(&other, &["apply", "--auto-approve"]);
        between.expect_ok();
        assert!(
            between
                .stdout
                .contains("y will be updated in place (state only"),
            "{between}"
        );
        assert!(
            between
                .stdout
                .contains("0 to add, 1 to change, 0 to destroy"),
            "{between}"
        );
        assert_eq!(
            env.live_bytes(),
            live_before,
            "a state-only change wrote the scheduler"
        );
        // (c) and z is changed in the live scheduler by hand.
        tamper_live(&env, "z");

        let before = env.snapshot();
        let stale = env.orc(&["apply", plan_file_s]);
        stale.expect_code(1);
        assert!(stale.stderr.contains("stale"), "{stale}");
        let lines: Vec<&str> = stale.stderr.lines().map(str::trim).collect();
        for want in [
            "the configuration changed for: x",
            "the state changed for: y",
            "the live scheduler changed for: z",
        ] {
            assert!(lines.contains(&want), "want the line {want:?}: {stale}");
        }
        assert_eq!(
            lines
                .iter()
                .filter(|l| l.contains(" changed for: "))
                .count(),
            3,
            "only x, y and z moved: {stale}"
        );
        assert!(!stale.stdout.contains("Apply complete"), "{stale}");
        assert_eq!(env.snapshot(), before, "a stale plan changed something");

        // A fresh plan, unchanged since, applies without a prompt or --auto-approve.
        let fresh = env.path("fresh.plan");
        let fresh_s = fresh.to_str().unwrap();
        env.orc(&["plan", "-o", fresh_s]).expect_ok();
        let applied = env.orc(&["apply", fresh_s]);
        applied.expect_ok();
        assert!(applied.stdout.contains("Apply complete!"), "{applied}");
        assert!(!applied.stdout.contains("Enter a value"), "{applied}");
        env.expect_converged();
        assert_eq!(
            recorded_names(&env.state),
            names(&["n", "w", "x", "y", "z"])
        );
        assert_eq!(env.live_names(), names(&["n", "w", "x", "y", "z"]));

        // Applied once, the same plan is stale: n was created (state and live); x and y
        // were recorded (a command and a description are not in the scheduler's entry);
        // z was repaired live.
        let before = env.snapshot();
        let again = env.orc(&["apply", fresh_s]);
        again.expect_code(1);
        let lines: Vec<&str> = again.stderr.lines().map(str::trim).collect();
        for want in [
            "the state changed for: n, x, y",
            "the live scheduler changed for: n, z",
        ] {
            assert!(lines.contains(&want), "want the line {want:?}: {again}");
        }
        assert!(
            !again.stderr.contains("the configuration changed"),
            "{again}"
        );
        assert_eq!(
            env.snapshot(),
            before,
            "a re-applied plan changed something"
        );
        env.finish();
    }

    fn stale_saved_plan_embedded() {
        stale_saved_plan(Backend::Embedded);
    }

    fn stale_saved_plan_cron() {
        stale_saved_plan(Backend::Cron);
    }

    // ---------------------------------------------------------------------------------
    // 5. Bad configs

    fn invalid_fixtures() -> Vec<PathBuf> {
        let dir = manifest_dir().join("tests/fixtures/invalid");
        let mut all: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_dir() || p.extension().is_some_and(|x| x == "toml"))
            .collect();
        all.sort();
        assert!(all.len() >= 30, "fixtures found: {}", all.len());
        all
    }

    fn bad_configs_change_nothing(backend: Backend) {
        let env = World::new(backend);
        env.write_config(&config_a(&env.folder));
        env.apply().expect_ok();
        let before = env.snapshot();
        assert!(before.tasks.as_ref().is_some_and(|t| t.len() == 6));

        let fresh = World::new(Backend::Embedded);
        for fixture in invalid_fixtures() {
            let out = env.orc_with(&fixture, &["apply", "--auto-approve"]);
            assert_eq!(out.code, Some(1), "{}: {out}", fixture.display());
            assert!(
                !out.stderr.contains("panicked"),
                "{}: {out}",
                fixture.display()
            );
            assert_eq!(
                env.snapshot(),
                before,
                "{} changed the state or the scheduler: {out}",
                fixture.display()
            );

            // Into a state that does not exist yet: nothing is created at all.
            let nowhere = fresh.path("new/state.db");
            let out = run(env.cmd_at(&fixture, &nowhere, &["apply", "--auto-approve"]));
            assert_eq!(out.code, Some(1), "{}: {out}", fixture.display());
            assert!(
                !nowhere.exists() && !fresh.path("new").exists(),
                "{} created the state: {out}",
                fixture.display()
            );
        }
        assert_eq!(env.snapshot(), before);
        env.expect_converged();
        env.finish();
    }

    fn bad_configs_change_nothing_embedded() {
        bad_configs_change_nothing(Backend::Embedded);
    }

    fn bad_configs_change_nothing_cron() {
        bad_configs_change_nothing(Backend::Cron);
    }

    // ---------------------------------------------------------------------------------
    // 6. No approval off a terminal

    fn no_approval_off_a_terminal(backend: Backend) {
        let env = World::new(backend);
        env.write_config(&config_a(&env.folder));
        env.apply().expect_ok();
        env.write_config(&config_b(&env.folder));
        let before = env.snapshot();
        let out = env.orc(&["apply"]);
        out.expect_code(1);
        assert!(out.stderr.contains("--auto-approve"), "{out}");
        assert!(!out.stdout.contains("Apply complete"), "{out}");
        assert_eq!(
            env.snapshot(),
            before,
            "an unapproved apply changed something"
        );
        // And no lock was left behind.
        let next = env.apply();
        next.expect_ok();
        assert!(!next.stderr.contains("stale lock"), "{next}");
        env.expect_converged();
        env.finish();
    }

    fn no_approval_off_a_terminal_embedded() {
        no_approval_off_a_terminal(Backend::Embedded);
    }

    fn no_approval_off_a_terminal_cron() {
        no_approval_off_a_terminal(Backend::Cron);
    }

    fn no_approval_off_a_terminal_into_a_fresh_state() {
        let env = World::new(Backend::Embedded);
        env.write_config(&config_a(&env.folder));
        let out = env.orc(&["apply"]);
        out.expect_code(1);
        assert!(out.stderr.contains("--auto-approve"), "{out}");
        assert!(!env.registry().exists(), "the registry was written: {out}");
        if env.state.exists() {
            assert!(recorded_names(&env.state).is_empty());
            assert_eq!(applies_count(&env.state), 0);
            assert!(query(&env.state, "SELECT * FROM locks").is_empty());
        }
    }

    // ---------------------------------------------------------------------------------
    // 7. Owner-only state

    fn the_state_database_is_owner_only() {
        let env = World::new(Backend::Embedded);
        env.write_config(&config_a(&env.folder));
        // In a folder that does not exist yet, so orc creates that too.
        let state = env.path("private/orc/state.db");
        run(env.cmd_at(&env.config, &state, &["apply", "--auto-approve"])).expect_ok();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&state), 0o600, "{:o}", mode(&state));
        assert_eq!(
            mode(state.parent().unwrap()),
            0o700,
            "the state's folder, created by orc"
        );
        for side in ["state.db-wal", "state.db-shm", "state.db-journal"] {
            let p = state.with_file_name(side);
            if p.exists() {
                assert_eq!(mode(&p) & 0o077, 0, "{side} is {:o}", mode(&p));
            }
        }
    }

    // ---------------------------------------------------------------------------------
    // 8. A hand edit in the live scheduler is drift: named by plan, repaired by apply

    fn hand_edit_is_drift(backend: Backend) {
        let env = World::new(backend);
        env.write_config(&config_text(&env.folder, &base_tasks("echo x", "first")));
        env.apply().expect_ok();
        let outside = || -> Vec<String> {
            crontab_text()
                .lines()
                .filter(|l| !l.contains(&env.state_str()) && !l.contains(&env.folder))
                .map(str::to_string)
                .collect()
        };
        let before_outside = if backend == Backend::Cron {
            outside()
        } else {
            Vec::new()
        };
        tamper_live(&env, "z");

        let plan = env.orc(&["plan", "--detailed-exitcode"]);
        plan.expect_code(2);
        assert!(
            plan.stdout
                .contains("# z was changed outside orc:\n      trigger: "),
            "{plan}"
        );
        assert!(
            plan.stdout.contains("# z will be updated in place"),
            "{plan}"
        );
        assert!(
            plan.stdout
                .contains("Plan: 0 to add, 1 to change, 0 to destroy."),
            "{plan}"
        );
        let json = env.orc(&["plan", "--json"]);
        let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
        assert_eq!(v["changes"][0]["name"], "z");
        assert_eq!(v["changes"][0]["drift"], "changed_outside");

        env.apply().expect_ok();
        env.expect_converged();
        if backend == Backend::Cron {
            assert_eq!(
                before_outside,
                outside(),
                "lines outside orc's block are untouched"
            );
            assert!(
                crontab_text().lines().any(
                    |l| l.starts_with("7 3 * * *") && cron_line_task(l).as_deref() == Some("z")
                ),
                "the hand edit was reverted:\n{}",
                crontab_text()
            );
        }
        env.finish();
    }

    fn hand_edit_is_drift_embedded() {
        hand_edit_is_drift(Backend::Embedded);
    }

    fn hand_edited_crontab_is_drift() {
        hand_edit_is_drift(Backend::Cron);
    }

    pub fn main() -> std::process::ExitCode {
        common::run_trials(vec![
            common::trial(
                "idempotent_examples_embedded",
                idempotent_examples_embedded,
                &[],
            ),
            common::trial(
                "idempotent_examples_cron",
                idempotent_examples_cron,
                &[common::missing_program(
                    "crontab",
                    &["-l"],
                    "apt-get install cron",
                )],
            ),
            common::trial(
                "a_second_apply_fails_at_once_naming_the_holder_or_waits_with_lock_timeout",
                a_second_apply_fails_at_once_naming_the_holder_or_waits_with_lock_timeout,
                &[],
            ),
            common::trial(
                "a_waiting_apply_takes_over_when_the_holder_dies",
                a_waiting_apply_takes_over_when_the_holder_dies,
                &[],
            ),
            common::trial(
                "simultaneous_first_applies_into_a_new_state_see_the_lock",
                simultaneous_first_applies_into_a_new_state_see_the_lock,
                &[],
            ),
            common::trial("stale_saved_plan_embedded", stale_saved_plan_embedded, &[]),
            common::trial(
                "stale_saved_plan_cron",
                stale_saved_plan_cron,
                &[common::missing_program(
                    "crontab",
                    &["-l"],
                    "apt-get install cron",
                )],
            ),
            common::trial(
                "bad_configs_change_nothing_embedded",
                bad_configs_change_nothing_embedded,
                &[],
            ),
            common::trial(
                "bad_configs_change_nothing_cron",
                bad_configs_change_nothing_cron,
                &[common::missing_program(
                    "crontab",
                    &["-l"],
                    "apt-get install cron",
                )],
            ),
            common::trial(
                "no_approval_off_a_terminal_embedded",
                no_approval_off_a_terminal_embedded,
                &[],
            ),
            common::trial(
                "no_approval_off_a_terminal_cron",
                no_approval_off_a_terminal_cron,
                &[common::missing_program(
                    "crontab",
                    &["-l"],
                    "apt-get install cron",
                )],
            ),
            common::trial(
                "no_approval_off_a_terminal_into_a_fresh_state",
                no_approval_off_a_terminal_into_a_fresh_state,
                &[],
            ),
            common::trial(
                "the_state_database_is_owner_only",
                the_state_database_is_owner_only,
                &[],
            ),
            common::trial(
                "hand_edit_is_drift_embedded",
                hand_edit_is_drift_embedded,
                &[],
            ),
            common::trial(
                "hand_edited_crontab_is_drift",
                hand_edited_crontab_is_drift,
                &[common::missing_program(
                    "crontab",
                    &["-l"],
                    "apt-get install cron",
                )],
            ),
            common::trial("kill9_at_locked_embedded", kill9_at_locked_embedded, &[]),
            common::trial(
                "kill9_before_scheduler_embedded",
                kill9_before_scheduler_embedded,
                &[],
            ),
            common::trial(
                "kill9_after_scheduler_embedded",
                kill9_after_scheduler_embedded,
                &[],
            ),
            common::trial(
                "kill9_after_state_embedded",
                kill9_after_state_embedded,
                &[],
            ),
            common::trial(
                "kill9_at_locked_cron",
                kill9_at_locked_cron,
                &[common::missing_program(
                    "crontab",
                    &["-l"],
                    "apt-get install cron",
                )],
            ),
            common::trial(
                "kill9_before_scheduler_cron",
                kill9_before_scheduler_cron,
                &[common::missing_program(
                    "crontab",
                    &["-l"],
                    "apt-get install cron",
                )],
            ),
            common::trial(
                "kill9_after_scheduler_cron",
                kill9_after_scheduler_cron,
                &[common::missing_program(
                    "crontab",
                    &["-l"],
                    "apt-get install cron",
                )],
            ),
            common::trial(
                "kill9_after_state_cron",
                kill9_after_state_cron,
                &[common::missing_program(
                    "crontab",
                    &["-l"],
                    "apt-get install cron",
                )],
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
