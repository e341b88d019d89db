//! The Windows `orc.exe` under Wine: validate, apply to Task Scheduler, run a task,
//! destroy. This is the one test that drives the real Task Scheduler COM driver
//! (`src/backend/windows/com.rs`) on Linux.
//!
//! Wine 8's `taskschd.dll` registers and deletes tasks and stores them as files under
//! the prefix's `drive_c/windows/system32/tasks/`, which is what is checked here. It
//! does not list a folder (orc then reads those files) and rewrites each task from its
//! own partial model, dropping triggers, the principal and the action's command, so a
//! plan after apply reports drift under Wine. Read-back is tested on task XML exported
//! from Windows (`tests/windows_backend.rs`) and on a Windows runner
//! (`tests/windows_live.rs`), not here.
//!
//! Needs `wine` (Debian `wine wine64`), `x86_64-w64-mingw32-gcc` (Debian
//! `gcc-mingw-w64-x86-64`) and the Rust target `x86_64-pc-windows-gnu`. Without them
//! it is reported as ignored, saying what is missing, except under `CI=true`, where
//! `.ci/run` installs them.

mod common;
use common::TestEnv;

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const TARGET: &str = "x86_64-pc-windows-gnu";
const MINGW_GCC: &str = "x86_64-w64-mingw32-gcc";

/// What is missing to run orc.exe under Wine, if anything.
fn missing_prerequisite() -> Option<String> {
    let runs = |program: &str, arg: &str| {
        Command::new(program)
            .arg(arg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !runs("wine", "--version") {
        return Some("`wine` is not installed (apt-get install wine wine64)".to_string());
    }
    if !runs(MINGW_GCC, "--version") {
        return Some(format!(
            "`{MINGW_GCC}` is not installed (apt-get install gcc-mingw-w64-x86-64)"
        ));
    }
    // rustup runs this `rustc` from the toolchain cargo test uses.
    let sysroot = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if !sysroot.is_some_and(|s| s.join("lib/rustlib").join(TARGET).is_dir()) {
        return Some(format!(
            "the Rust target {TARGET} is not installed (rustup target add {TARGET})"
        ));
    }
    None
}

/// The Windows orc.exe, built now. Building from the test (rather than expecting
/// `.ci/run` to have done it) means a developer's `cargo test` never runs a stale
/// exe; in CI `.ci/run` has just built it, so this is a no-op of a second or two.
/// Cargo names the file in its JSON messages, wherever the target directory is.
fn build_orc_exe() -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut c = Command::new(cargo);
    // The variables cargo sets for this test are not the caller's: some build
    // scripts (ring's) rebuild when one of them changes, so with them the build here
    // and the one in `.ci/run` would each rebuild half the dependencies.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        let set_by_cargo_test = key.starts_with("CARGO_PKG_")
            || key.starts_with("CARGO_BIN_EXE_")
            || [
                "CARGO_MANIFEST_DIR",
                "CARGO_MANIFEST_PATH",
                "CARGO_CRATE_NAME",
                "CARGO_BIN_NAME",
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_TARGET_TMPDIR",
                "CARGO_RUSTC_CURRENT_DIR",
                "OUT_DIR",
            ]
            .contains(&key.as_ref());
        if set_by_cargo_test {
            c.env_remove(key.as_ref());
        }
    }
    let o = c
        .args(["build", "--target", TARGET, "--bin", "orc"])
        .arg("--message-format=json-render-diagnostics")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stderr(Stdio::inherit())
        .output()
        .expect("cargo runs");
    assert!(o.status.success(), "cargo build --target {TARGET} failed");
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "orc")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .expect("cargo names orc.exe")
}

/// Build the `bcryptprimitives.dll` shim (see `tests/wine/bcryptprimitives.c`) into
/// `dir`, beside orc.exe, where the Windows loader looks first.
fn build_shim(dir: &Path) {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/wine/bcryptprimitives.c");
    let o = Command::new(MINGW_GCC)
        .args(["-shared", "-O2", "-o"])
        .arg(dir.join("bcryptprimitives.dll"))
        .arg(&source)
        .arg("-ladvapi32")
        .output()
        .expect("mingw gcc runs");
    assert!(
        o.status.success(),
        "building the shim failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// One Wine prefix for the whole test (creating one takes seconds). Dropping it
/// stops its wineserver, so nothing outlives the test.
struct Wine {
    /// The test's folder: orc.exe and the shim in `bin`, the prefix in `prefix`, and
    /// `work`, where commands run (tasks.toml lives there; Wine sees it as `Z:\...`).
    env: TestEnv,
    prefix: PathBuf,
    exe: PathBuf,
}

impl Wine {
    fn command(&self, program: &Path) -> Command {
        let mut c = self
            .env
            .command_of(Path::new("wine"), &self.env.path("work"), &[]);
        c.arg(program);
        c
    }

    /// `orc.exe ARGS` under Wine, with a time limit so a stuck Wine fails the test
    /// instead of hanging it.
    fn orc(&self, args: &[&str]) -> Output {
        let mut c = self.command(&self.exe);
        c.args(args);
        let what = format!("orc.exe {}", args.join(" "));
        let t = Instant::now();
        let o = run(c, Duration::from_secs(120), &what);
        eprintln!("{what}: {:.1?}", t.elapsed());
        o
    }

    fn tasks_dir(&self) -> PathBuf {
        self.prefix.join("drive_c/windows/system32/tasks/Orc")
    }

    fn task_files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.tasks_dir())
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// `wineserver ARG` for this prefix.
    fn server(&self, arg: &str) -> bool {
        Command::new("wineserver")
            .arg(arg)
            .env("WINEPREFIX", &self.prefix)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for Wine {
    fn drop(&mut self) {
        // Kill the prefix's wineserver and its processes, and wait until it is gone,
        // before the temporary directory is removed.
        self.server("-k");
        self.server("-w");
    }
}

/// Run `c` to the end, or kill it after `limit`. Output goes through files, not
/// pipes: Wine's services, started by whichever command needed them first, inherit
/// that command's standard handles and outlive it, so a pipe would never see its end.
fn run(mut c: Command, limit: Duration, what: &str) -> Output {
    let out = tempfile::tempfile().unwrap();
    let err = tempfile::tempfile().unwrap();
    c.stdout(out.try_clone().unwrap())
        .stderr(err.try_clone().unwrap());
    let mut child = c.spawn().unwrap_or_else(|e| panic!("{what}: {e}"));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what}: still running after {limit:?} under Wine");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let read = |mut file: std::fs::File| {
        let mut bytes = Vec::new();
        file.seek(SeekFrom::Start(0)).unwrap();
        file.read_to_end(&mut bytes).unwrap();
        bytes
    };
    Output {
        status,
        stdout: read(out),
        stderr: read(err),
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

const CONFIG: &str = r#"
[settings]
backend = "windows"
timezone = "local"

# The task the test runs: its effect is a file in the prefix's C: drive.
[tasks.hello]
description = "Writes a file"
shell = 'echo hello from orc> C:\orc-smoke\ran.txt'
schedule = "30 2 * * *"

# One weekly trigger with a repetition; registered for the user running orc
# (TASK_LOGON_INTERACTIVE_TOKEN; hello is SYSTEM, TASK_LOGON_SERVICE_ACCOUNT).
[tasks.weekdays]
command = ["cmd", "/C", "echo weekday"]
schedule = "0 9-17 * * 1-5"
run_as = "current_user"

# Several triggers, registered disabled, for a named user (TASK_LOGON_S4U).
[tasks.sevens]
command = ["cmd", "/C", "echo seven"]
schedule = "*/7 * * * *"
enabled = false
run_as = 'WORKGROUP\svc'
"#;

/// A schedule Task Scheduler cannot run exactly within 48 triggers.
const INEXPRESSIBLE: &str = r#"
[settings]
timezone = "UTC"

[tasks.odd]
command = "true"
schedule = "0,1,3,7,15,31,47,50,52 0,1,3,7,15,16,18,22 1 * MON"
"#;

fn orc_exe_validates_applies_runs_and_destroys_under_wine() {
    if let Some(why) = missing_prerequisite() {
        panic!("cannot run orc.exe under Wine: {why}");
    }
    let started = Instant::now();
    let built = build_orc_exe();
    let build_time = started.elapsed();

    // orc.exe's own state and config (none of the caller's), on this machine's name.
    let dir = TestEnv::builder()
        .config_in_cwd()
        .default_state()
        .real_host()
        .env_in_dir("WINEPREFIX", "prefix")
        // No Wine diagnostics in orc's output, and no wine32 hint.
        .env("WINEDEBUG", "-all")
        // No Mono or Gecko installer dialogs while the prefix is created.
        .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
        // No windows at all: Wine runs console programs without a display.
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .build();
    // orc.exe and the shim side by side in a folder of the test's own, so the shim
    // never lands in the target directory.
    let bin = dir.path("bin");
    std::fs::create_dir(&bin).unwrap();
    let exe = bin.join("orc.exe");
    std::fs::hard_link(&built, &exe)
        .or_else(|_| std::fs::copy(&built, &exe).map(drop))
        .unwrap();
    build_shim(&bin);
    let work = dir.path("work");
    std::fs::create_dir(&work).unwrap();
    std::fs::write(work.join("tasks.toml"), CONFIG).unwrap();
    std::fs::write(work.join("odd.toml"), INEXPRESSIBLE).unwrap();
    let wine = Wine {
        prefix: dir.path("prefix"),
        env: dir,
        exe,
    };

    // A fresh prefix, created once.
    let t = Instant::now();
    let o = run(
        {
            let mut c = wine.command(Path::new("wineboot"));
            c.arg("-i");
            c
        },
        Duration::from_secs(300),
        "wineboot -i",
    );
    assert!(o.status.success(), "wineboot: {}", text(&o));
    // Then keep a wineserver (and Wine's services, Task Scheduler's among them) up
    // between commands: otherwise every orc.exe call starts them again, 2-3 s each.
    // A running wineserver refuses `-p`, so wait for wineboot's to exit first; and a
    // persistent one started before the prefix exists leaves Wine's Task Scheduler
    // service unable to start.
    assert!(wine.server("-w"), "wineserver -w failed");
    assert!(wine.server("-p"), "wineserver -p failed");
    let prefix_time = t.elapsed();

    // It starts at all: the shim stands in for bcryptprimitives.dll.
    let o = wine.orc(&["--version"]);
    assert!(o.status.success(), "orc.exe --version: {}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("orc "));

    let state = r"C:\orc-smoke\state.db";
    let with = |args: &[&'static str]| -> Vec<&str> {
        let mut all = args.to_vec();
        all.extend(["--config", "tasks.toml", "--state", state]);
        all
    };

    let o = wine.orc(&with(&["validate"]));
    assert!(o.status.success(), "validate: {}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("3 tasks"),
        "{}",
        text(&o)
    );
    let o = wine.orc(&["validate", "--config", "odd.toml", "--backend", "windows"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("cannot run exactly on Task Scheduler"),
        "{}",
        text(&o)
    );

    // Apply registers each task through ITaskService; Wine stores them as files.
    let o = wine.orc(&with(&["apply", "--auto-approve"]));
    assert!(o.status.success(), "apply: {}", text(&o));
    assert_eq!(
        wine.task_files(),
        ["hello", "sevens", "weekdays"],
        "task files in {}",
        wine.tasks_dir().display()
    );
    let stored = std::fs::read(wine.tasks_dir().join("hello")).unwrap();
    let stored = orc::backend::windows::xml::decode(&stored).unwrap();
    assert!(stored.contains(r"<URI>\Orc\hello</URI>"), "{stored}");
    assert!(stored.contains("<Source>orc</Source>"), "{stored}");
    let sevens = std::fs::read(wine.tasks_dir().join("sevens")).unwrap();
    let sevens = orc::backend::windows::xml::decode(&sevens).unwrap();
    assert!(sevens.contains("<Enabled>false</Enabled>"), "{sevens}");

    // The folder is read back (from the files: Wine cannot list it): nothing is
    // created a second time.
    let o = wine.orc(&with(&["plan"]));
    assert!(o.status.success(), "plan: {}", text(&o));
    let plan = String::from_utf8_lossy(&o.stdout);
    assert!(
        plan.contains("No changes.") || plan.contains("Plan: 0 to add"),
        "{}",
        text(&o)
    );

    // What Task Scheduler would start: orc.exe run NAME.
    let o = wine.orc(&with(&["run", "hello"]));
    assert!(o.status.success(), "run hello: {}", text(&o));
    let ran = std::fs::read_to_string(wine.prefix.join("drive_c/orc-smoke/ran.txt")).unwrap();
    assert_eq!(ran.trim_end(), "hello from orc");
    let o = wine.orc(&with(&["run", "weekdays"]));
    assert!(o.status.success(), "run weekdays: {}", text(&o));
    let o = wine.orc(&["logs", "weekdays", "--state", state]);
    assert!(o.status.success(), "logs: {}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("weekday"),
        "{}",
        text(&o)
    );

    let o = wine.orc(&with(&["destroy", "--auto-approve"]));
    assert!(o.status.success(), "destroy: {}", text(&o));
    assert!(
        wine.task_files().is_empty(),
        "left behind: {:?}",
        wine.task_files()
    );

    service_under_wine(&wine, state);

    eprintln!(
        "Wine smoke test: orc.exe build {build_time:.1?}, prefix {prefix_time:.1?}, total {:.1?}",
        started.elapsed()
    );
}

/// `orc.exe service install | status | stop | uninstall` through Wine's Service
/// Control Manager. What Wine proves: the service is created with orc's command line,
/// its recovery actions and preshutdown time are taken, its Event Log source is
/// registered and removed, the SCM starts `orc.exe service run` through the service
/// dispatcher (which applies the config to Task Scheduler and serves the dashboard),
/// a stop from the SCM ends it cleanly, logged in orc's log, status exits as
/// systemctl's, and uninstall refuses a service orc did not install. What it does not
/// prove: elevation (Wine's token is always elevated), that recovery restarts a failed
/// service, boot start, preshutdown timing, another --account, or what Event Viewer
/// shows (Wine's ReportEvent only traces). Those are tests/windows_live.rs's, on a
/// Windows runner.
fn service_under_wine(wine: &Wine, state: &str) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let o = wine.orc(&[
        "service",
        "install",
        "--config",
        "tasks.toml",
        "--state",
        state,
        "--listen",
        &listen,
    ]);
    assert!(o.status.success(), "service install: {}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("Started orc"),
        "{}",
        text(&o)
    );
    // The exit code as systemctl's: 0 running, 3 not running, 4 not installed.
    let status = |wine: &Wine, code: i32| -> serde_json::Value {
        let o = wine.orc(&["service", "status", "--json"]);
        assert_eq!(o.status.code(), Some(code), "service status: {}", text(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let now = status(wine, 0);
    assert_eq!(now["installed"], true, "{now}");
    assert_eq!(now["running"], true, "{now}");
    let source = r"HKLM\SYSTEM\CurrentControlSet\Services\EventLog\Application\orc";
    let registered = |wine: &Wine| {
        let mut c = wine.command(Path::new("reg"));
        c.args(["query", source]);
        run(c, Duration::from_secs(60), "reg query")
            .status
            .success()
    };
    assert!(registered(wine), "no Event Log source {source}");

    // The service applied the config (destroyed above) and serves the dashboard.
    let until = Instant::now() + Duration::from_secs(60);
    let health = loop {
        let answer = ureq::get(&format!("http://{listen}/api/health")).call();
        if let Ok(mut answer) = answer {
            let body = answer.body_mut().read_to_string().unwrap();
            break serde_json::from_str::<serde_json::Value>(&body).unwrap();
        }
        assert!(Instant::now() < until, "no dashboard on {listen}");
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(health["tasks"], 3, "{health}");
    assert_eq!(wine.task_files(), ["hello", "sevens", "weekdays"]);

    let o = wine.orc(&["service", "stop"]);
    assert!(o.status.success(), "service stop: {}", text(&o));
    assert_eq!(status(wine, 3)["state"], "stopped");
    let logs = wine.prefix.join("drive_c/orc-smoke/orc-log");
    let log: String = std::fs::read_dir(&logs)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert!(log.contains("orc service orc started"), "{log}");
    assert!(log.contains("orc service orc stopped"), "{log}");

    let o = wine.orc(&["service", "uninstall"]);
    assert!(o.status.success(), "service uninstall: {}", text(&o));
    assert_eq!(status(wine, 4)["installed"], false);

    // A service orc did not install is not orc's to remove, unless --force.
    let mut sc = wine.command(Path::new("sc"));
    sc.args([
        "create",
        "other",
        "binPath=",
        r"C:\windows\system32\notepad.exe",
    ]);
    let made = run(sc, Duration::from_secs(60), "sc create");
    assert!(made.status.success(), "sc create: {}", text(&made));
    let o = wine.orc(&["service", "uninstall", "--name", "other"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("--force"), "{}", text(&o));
    let o = wine.orc(&["service", "uninstall", "--name", "other", "--force"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("Removed the service other"),
        "{}",
        text(&o)
    );
    assert!(
        !registered(wine),
        "the Event Log source outlived the service"
    );
}

/// The one trial: reported as ignored, saying what is missing, when Wine or the
/// Windows toolchain is not here (under CI it runs, and fails on what is missing).
fn main() -> std::process::ExitCode {
    let trial = common::trial(
        "orc_exe_validates_applies_runs_and_destroys_under_wine",
        orc_exe_validates_applies_runs_and_destroys_under_wine,
        &[missing_prerequisite()],
    );
    // Wine runs Windows programs on Linux and macOS; on Windows this test has no place.
    #[cfg(not(unix))]
    let trial = trial
        .with_ignored_flag(true)
        .with_kind("needs Linux or macOS");
    common::run_trials(vec![trial])
}
