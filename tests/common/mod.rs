//! What several integration tests share: one test's world ([`TestEnv`]: a temporary
//! project folder and orc run in it), the CI rule for missing tools, processes that
//! die with the test, `orc serve` on an ephemeral port, and the test mail server.
//! Each test crate uses part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub mod browser;
mod env;
pub mod http;
#[allow(unused_imports)]
pub use env::{Backend, TestEnv, TestEnvBuilder};

/// Under CI a missing tool is a failure, never a silent skip.
pub fn ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// A child process killed when the test ends, however it ends.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The first line of `child`'s stdout that has `marker`, with what follows it up
/// to the next space.
fn announced(child: &mut Child, marker: &str) -> String {
    let mut out = BufReader::new(child.stdout.take().expect("stdout is piped"));
    let mut line = String::new();
    loop {
        line.clear();
        if out.read_line(&mut line).unwrap_or(0) == 0 {
            panic!("the process ended without printing {marker:?}");
        }
        if let Some(rest) = line.split(marker).nth(1) {
            return rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
        }
    }
}

/// `orc serve` on an ephemeral loopback port for the state `dir/state.db` and the
/// config `dir/tasks.toml`: the process, its base URL (`http://127.0.0.1:PORT`) and
/// its token (every read but `/api/health` needs it: `Authorization: Bearer TOKEN`).
pub fn serve(dir: &Path) -> (Killed, String, String) {
    serve_with(dir, &[])
}

/// As [`serve`], with more arguments for `orc serve`.
pub fn serve_with(dir: &Path, args: &[&str]) -> (Killed, String, String) {
    serve_with_env(dir, args, &[])
}

/// As [`serve_with`], with more variables in the server's environment.
pub fn serve_with_env(
    dir: &Path,
    args: &[&str],
    vars: &[(&str, &Path)],
) -> (Killed, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_orc"));
    command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .envs(vars.iter().copied())
        .current_dir(dir)
        .env("ORC_STATE", dir.join("state.db"))
        .env("ORC_CONFIG", dir.join("tasks.toml"));
    served(command, dir)
}

/// Start `command` (an `orc serve` on an ephemeral port, its state in `state_dir`):
/// the process once it listens, its base URL and its token.
fn served(mut command: Command, state_dir: &Path) -> (Killed, String, String) {
    let mut child = command
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr = announced(&mut child, "http://");
    // Created beside the state before the server listens.
    let token = std::fs::read_to_string(state_dir.join("serve.token")).unwrap();
    (
        Killed(child),
        format!("http://{addr}"),
        token.trim().to_string(),
    )
}

/// `orc serve` on an ephemeral loopback port in `env`'s world (its state, config,
/// vault and variables, and `vars`): the process, its base URL and its token.
pub fn serve_in(env: &TestEnv, vars: &[(&str, &str)]) -> (Killed, String, String) {
    let mut command = env.command(&["serve", "--listen", "127.0.0.1:0"]);
    command.envs(vars.iter().copied());
    served(command, env.state().parent().unwrap())
}

/// The test mail server (Python's aiosmtpd, `tests/smtp/server.py`, AUTH required):
/// its port, and the folder where each mail it accepts lands as a file.
pub struct Smtp {
    pub port: u16,
    pub maildir: PathBuf,
    _server: Killed,
}

/// Start the test mail server accepting `user` and `password`. The tests that use it
/// name `missing_python_module("aiosmtpd")` among their needs, so they are reported as
/// ignored where it is not installed.
pub fn smtp(dir: &Path, user: &str, password: &str) -> Smtp {
    let maildir = dir.join("mail");
    let mut child = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp/server.py"))
        .arg(&maildir)
        .args([user, password])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let port = announced(&mut child, "PORT ")
        .parse()
        .expect("the SMTP server printed its port");
    Smtp {
        port,
        maildir,
        _server: Killed(child),
    }
}

/// The test build of orc.
pub fn orc_binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_orc"))
}

/// A test for the suites with their own harness (`harness = false`, libtest-mimic):
/// when something it needs is missing here (`needs` holds why), it is reported as
/// ignored, with the reason as its kind, instead of passing without running; under CI
/// it runs anyway, and fails on what is missing.
pub fn trial(name: &'static str, test: fn(), needs: &[Option<String>]) -> libtest_mimic::Trial {
    let missing: Vec<&str> = needs.iter().flatten().map(String::as_str).collect();
    let trial = libtest_mimic::Trial::test(name, move || {
        test();
        Ok(())
    });
    if missing.is_empty() || ci() {
        trial
    } else {
        trial
            .with_ignored_flag(true)
            .with_kind(format!("needs {}", missing.join(", ")))
    }
}

/// Run a suite's trials as `cargo test` would (filters, --ignored, --list...).
pub fn run_trials(trials: Vec<libtest_mimic::Trial>) -> std::process::ExitCode {
    libtest_mimic::run(&libtest_mimic::Arguments::from_args(), trials).exit_code()
}

/// Why `program` cannot be used here (it does not start), if it cannot.
pub fn missing_program(program: &str, args: &[&str], install: &str) -> Option<String> {
    let runs = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    (!runs).then(|| format!("{program} ({install})"))
}

/// Why `../shared/REL` (the shared fixtures and schemas) cannot be used, if absent.
pub fn missing_shared(rel: &str) -> Option<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared")
        .join(rel);
    (!path.exists()).then(|| format!("../shared/{rel}"))
}

/// Why the file at `path` cannot be used here (it is absent), if it cannot.
pub fn missing_file(path: &str, install: &str) -> Option<String> {
    (!Path::new(path).exists()).then(|| format!("{path} ({install})"))
}

/// Why Python's module `module` cannot be imported here, if it cannot.
pub fn missing_python_module(module: &str) -> Option<String> {
    let imports = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    (!imports).then(|| format!("python3 with {module} (pip install {module})"))
}

/// What a process said, after its exit code: for assertion messages.
pub fn exit_and_output(o: &std::process::Output) -> String {
    format!(
        "exit {:?}\n{}{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
