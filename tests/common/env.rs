//! One test's world: a temporary project folder and orc run in it with the variables
//! every suite sets. [`TestEnv::new`] is the usual one; [`TestEnv::builder`] changes
//! what a suite needs changed (the state's place, the host, the backend, a simulated
//! Task Scheduler folder, a fake program on PATH, more variables).
#![allow(dead_code)]

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The variables of the caller's own that never reach orc in a test: where its
/// config, state, vault and Task Scheduler folder are, its failpoints, its log level,
/// and its proxies (url checks must reach the test's own servers).
const REMOVED: &[&str] = &[
    "ORC_CONFIG",
    "ORC_STATE",
    "ORC_KEY_FILE",
    "ORC_PASSPHRASE",
    "ORC_PASSPHRASE_FILE",
    "ORC_NEW_PASSPHRASE",
    "ORC_FAILPOINT",
    "ORC_LOG",
    "ORC_WINDOWS_TASKS_DIR",
    "ORC_WINDOWS_TASKS_VIEW",
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
];

/// A temporary project folder and how orc runs in it.
pub struct TestEnv {
    dir: tempfile::TempDir,
    state: Option<PathBuf>,
    cwd: Option<PathBuf>,
    args: Vec<OsString>,
    vars: Vec<(OsString, Option<OsString>)>,
}

/// How a [`TestEnv`] is made: see each option; [`TestEnvBuilder::build`] makes it.
pub struct TestEnvBuilder {
    state: Option<String>,
    config_var: bool,
    config: Option<String>,
    host: Option<String>,
    backend: Option<&'static str>,
    windows_tasks: bool,
    path_dirs: Vec<String>,
    cwd: Option<PathBuf>,
    vars: Vec<(OsString, Option<OsString>)>,
    dir_vars: Vec<(String, String)>,
}

/// A scheduler backend, as `--backend` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Embedded,
    Cron,
    Windows,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Embedded => "embedded",
            Backend::Cron => "cron",
            Backend::Windows => "windows",
        }
    }
}

impl TestEnvBuilder {
    /// The state at `rel` in the folder (ORC_STATE); `state/state.db` unless told.
    pub fn state(mut self, rel: &str) -> Self {
        self.state = Some(rel.to_string());
        self
    }

    /// No ORC_STATE: orc's own default place for the state.
    pub fn default_state(mut self) -> Self {
        self.state = None;
        self
    }

    /// No ORC_CONFIG: orc finds `tasks.toml` in the folder it runs in, as a person
    /// running it there would (paths in messages are then relative).
    pub fn config_in_cwd(mut self) -> Self {
        self.config_var = false;
        self
    }

    /// `tasks.toml` in the folder holds `text` from the start.
    pub fn config(mut self, text: &str) -> Self {
        self.config = Some(text.to_string());
        self
    }

    /// The host orc believes it runs on (ORC_HOSTNAME); "testhost" unless told.
    pub fn host(mut self, name: &str) -> Self {
        self.host = Some(name.to_string());
        self
    }

    /// No ORC_HOSTNAME: the machine's own name.
    pub fn real_host(mut self) -> Self {
        self.host = None;
        self
    }

    /// `--backend NAME` after every command's arguments.
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = Some(backend.name());
        self
    }

    /// Task Scheduler simulated as files: ORC_WINDOWS_TASKS_DIR is `Tasks` in the
    /// folder (the layout of `C:\Windows\System32\Tasks`).
    pub fn windows_tasks_dir(mut self) -> Self {
        self.windows_tasks = true;
        self
    }

    /// The folder `rel` (created) first on orc's PATH: for fake programs, such as
    /// a `crontab` shim, that the suite writes there.
    pub fn path_first(mut self, rel: &str) -> Self {
        self.path_dirs.push(rel.to_string());
        self
    }

    /// orc runs in `dir` instead of the project folder.
    pub fn cwd(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// orc runs in this repository's root (where `examples/` is), with no ORC_CONFIG.
    pub fn in_repo(self) -> Self {
        self.config_in_cwd().cwd(env!("CARGO_MANIFEST_DIR"))
    }

    /// One more variable for every command.
    pub fn env(mut self, name: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.vars.push((
            name.as_ref().to_os_string(),
            Some(value.as_ref().to_os_string()),
        ));
        self
    }

    /// One more variable for every command: `name` is the path `rel` in the folder.
    pub fn env_in_dir(mut self, name: &str, rel: &str) -> Self {
        self.dir_vars.push((name.to_string(), rel.to_string()));
        self
    }

    /// One more variable orc never sees.
    pub fn env_remove(mut self, name: impl AsRef<OsStr>) -> Self {
        self.vars.push((name.as_ref().to_os_string(), None));
        self
    }

    pub fn build(self) -> TestEnv {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let root = dir.path().to_path_buf();
        let mut vars: Vec<(OsString, Option<OsString>)> =
            REMOVED.iter().map(|n| (OsString::from(n), None)).collect();
        vars.push(("NO_COLOR".into(), Some("1".into())));
        match &self.host {
            Some(host) => vars.push(("ORC_HOSTNAME".into(), Some(host.into()))),
            None => vars.push(("ORC_HOSTNAME".into(), None)),
        }
        let state = self.state.as_ref().map(|rel| root.join(rel));
        if let Some(state) = &state {
            vars.push(("ORC_STATE".into(), Some(state.into())));
        }
        if self.config_var {
            vars.push(("ORC_CONFIG".into(), Some(root.join("tasks.toml").into())));
        }
        if self.windows_tasks {
            vars.push((
                "ORC_WINDOWS_TASKS_DIR".into(),
                Some(root.join("Tasks").into()),
            ));
        }
        if !self.path_dirs.is_empty() {
            let mut dirs: Vec<PathBuf> = self.path_dirs.iter().map(|rel| root.join(rel)).collect();
            for dir in &dirs {
                std::fs::create_dir_all(dir).unwrap();
            }
            dirs.extend(std::env::split_paths(
                &std::env::var_os("PATH").unwrap_or_default(),
            ));
            let path = std::env::join_paths(dirs).expect("PATH");
            vars.push(("PATH".into(), Some(path)));
        }
        vars.extend(self.vars);
        for (name, rel) in &self.dir_vars {
            vars.push((name.into(), Some(root.join(rel).into())));
        }
        let args = self
            .backend
            .map(|b| vec!["--backend".into(), b.into()])
            .unwrap_or_default();
        let env = TestEnv {
            dir,
            state,
            cwd: self.cwd,
            args,
            vars,
        };
        if let Some(text) = &self.config {
            env.write_config(text);
        }
        env
    }
}

/// A TestEnv is its project folder where a path is wanted (`env.join(..)`, `&env`).
impl std::ops::Deref for TestEnv {
    type Target = Path;

    fn deref(&self) -> &Path {
        self.dir.path()
    }
}

impl Default for TestEnv {
    fn default() -> Self {
        TestEnv::new()
    }
}

impl TestEnv {
    /// A fresh folder; orc runs in it with no colour, the host "testhost", the state
    /// at `state/state.db` and the config `tasks.toml` there (not written yet).
    pub fn new() -> TestEnv {
        TestEnv::builder().build()
    }

    pub fn builder() -> TestEnvBuilder {
        TestEnvBuilder {
            state: Some("state/state.db".to_string()),
            config_var: true,
            config: None,
            host: Some("testhost".to_string()),
            backend: None,
            windows_tasks: false,
            path_dirs: Vec::new(),
            cwd: None,
            vars: Vec::new(),
            dir_vars: Vec::new(),
        }
    }

    /// The project folder.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `rel` in the project folder.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The config orc reads: `tasks.toml` in the folder.
    pub fn config(&self) -> PathBuf {
        self.path("tasks.toml")
    }

    /// The state orc uses (panics with [`TestEnvBuilder::default_state`]).
    pub fn state(&self) -> PathBuf {
        self.state.clone().expect("this TestEnv has its own state")
    }

    /// Write `text` to `rel` in the folder, its parent folders created.
    pub fn write(&self, rel: &str, text: &str) {
        let path = self.path(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }

    /// What `rel` in the folder holds.
    pub fn read(&self, rel: &str) -> String {
        let path = self.path(rel);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// Write `tasks.toml`.
    pub fn write_config(&self, text: &str) {
        std::fs::write(self.config(), text).unwrap();
    }

    /// The state database, opened.
    pub fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.state()).unwrap()
    }

    /// `program` (orc, or a copy of it) with `args`, run in `dir` with this world's
    /// variables and no stdin.
    pub fn command_of(&self, program: &Path, dir: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(program);
        c.args(args).args(&self.args).current_dir(dir);
        for (name, value) in &self.vars {
            match value {
                Some(value) => c.env(name, value),
                None => c.env_remove(name),
            };
        }
        c.stdin(Stdio::null());
        c
    }

    /// orc with `args`, run in the folder (or the builder's `cwd`).
    pub fn command(&self, args: &[&str]) -> Command {
        self.command_in(self.cwd.as_deref().unwrap_or(self.dir()), args)
    }

    /// orc with `args`, run in `dir`.
    pub fn command_in(&self, dir: &Path, args: &[&str]) -> Command {
        self.command_of(super::orc_binary(), dir, args)
    }

    /// orc with `args` in the folder: what it did.
    pub fn orc(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// orc with `args` in `dir`: what it did.
    pub fn orc_in(&self, dir: &Path, args: &[&str]) -> Output {
        self.command_in(dir, args).output().unwrap()
    }

    /// orc with `args` and more variables `envs`.
    pub fn orc_with(&self, args: &[&str], envs: &[(&str, &str)]) -> Output {
        self.command(args)
            .envs(envs.iter().copied())
            .output()
            .unwrap()
    }

    /// orc with `args`, which must succeed: its stdout.
    pub fn orc_ok(&self, args: &[&str]) -> String {
        let o = self.orc(args);
        assert_success(args, &o);
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// orc with `args`, which must succeed: its stdout followed by its stderr.
    pub fn orc_ok_text(&self, args: &[&str]) -> String {
        let o = self.orc(args);
        assert_success(args, &o);
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    }

    /// `orc secret set NAME` with `value` typed on stdin, and more variables `envs`:
    /// what it did.
    pub fn secret_set_with(&self, name: &str, value: &str, envs: &[(&str, &str)]) -> Output {
        use std::io::Write;
        let mut child = self
            .command(&["secret", "set", name])
            .envs(envs.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{value}\n").as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    /// `orc secret set NAME` with `value` typed on stdin; it must succeed.
    pub fn secret_set(&self, name: &str, value: &str) {
        let o = self.secret_set_with(name, value, &[]);
        assert_success(&["secret", "set", name], &o);
    }
}

/// Panics with orc's output unless it succeeded.
fn assert_success(args: &[&str], o: &Output) {
    assert!(
        o.status.success(),
        "orc {args:?}: exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}
