//! `orc service`: the systemd unit it installs passes `systemd-analyze verify`
//! (Debian's `systemd`; verify needs no running systemd), with paths holding spaces;
//! the launchd plist parses as a property list (Python's plistlib) with the command
//! line and restart policy meant; status and uninstall; a config that does not load
//! installs nothing; and the service's body (`orc service run`) runs the parts that
//! fit the backend and stops cleanly on SIGTERM. The unit and plist go to
//! ORC_SYSTEMD_DIR / ORC_LAUNCHD_DIR, so neither manager is touched. What this cannot
//! prove: that systemd or launchd start, restart and reload it (neither runs here),
//! nor anything of the Windows service (tests/windows_live.rs, on the Windows runner).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{TestEnv, exit_and_output as text};

fn world() -> TestEnv {
    TestEnv::builder()
        .state("my data/state.db")
        .config("[settings]\nbackend = \"embedded\"\n\n[tasks.clock]\ncommand = \"date\"\nschedule = \"* * * * *\"\n")
        .build()
}

/// orc's executable as install finds it: the path it was started by.
fn orc() -> std::path::PathBuf {
    common::orc_binary().to_path_buf()
}

fn units(env: &TestEnv) -> String {
    env.path("unit dir").display().to_string()
}

fn an_installed_unit_passes_systemd_analyze_verify() {
    let env = world();
    let dir = units(&env);
    let o = env.orc_with(&["service", "install"], &[("ORC_SYSTEMD_DIR", &dir)]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("systemctl enable --now orc.service"),
        "{}",
        text(&o)
    );
    let unit = env.path("unit dir/orc.service");
    let written = std::fs::read_to_string(&unit).unwrap();
    let state = env.path("my data/state.db");
    assert!(
        written.contains(&format!("--state \"{}\"", state.display())),
        "{written}"
    );
    assert!(
        written.contains(&format!(
            "\nExecStart={} service run --name orc --config ",
            orc().display()
        )),
        "{written}"
    );
    assert!(written.contains("\nRestart=on-failure\n"), "{written}");
    assert!(written.contains("\nExecReload="), "{written}");
    assert!(written.contains("\nNoNewPrivileges=yes\n"), "{written}");
    assert!(written.contains("\nProtectSystem=full\n"), "{written}");

    let verify = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&unit)
        .output()
        .unwrap();
    assert!(
        verify.status.success() && verify.stderr.is_empty(),
        "systemd-analyze verify: {}",
        text(&verify)
    );

    let status = env.orc_with(&["service", "status"], &[("ORC_SYSTEMD_DIR", &dir)]);
    assert!(
        text(&status).contains("orc.service is installed"),
        "{}",
        text(&status)
    );
    // systemctl's exit codes: 3 installed but not running.
    assert_eq!(status.status.code(), Some(3), "{}", text(&status));
    let json = env.orc_with(
        &["service", "status", "--json"],
        &[("ORC_SYSTEMD_DIR", &dir)],
    );
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json["installed"], true, "{json}");
    assert_eq!(json["active"], serde_json::Value::Null, "{json}");

    // orc doctor says so too.
    let doctor = env.orc_with(&["doctor"], &[("ORC_SYSTEMD_DIR", &dir)]);
    let line = String::from_utf8_lossy(&doctor.stdout)
        .lines()
        .find(|l| l.contains(" service "))
        .unwrap_or_default()
        .to_string();
    assert!(
        line.contains("ok") && line.contains("orc.service is installed"),
        "{}",
        text(&doctor)
    );

    // Nothing can start a unit systemd does not hold.
    let start = env.orc_with(&["service", "start"], &[("ORC_SYSTEMD_DIR", &dir)]);
    assert_eq!(start.status.code(), Some(1), "{}", text(&start));

    let gone = env.orc_with(&["service", "uninstall"], &[("ORC_SYSTEMD_DIR", &dir)]);
    assert!(gone.status.success(), "{}", text(&gone));
    assert!(!unit.exists());
    let status = env.orc_with(&["service", "status"], &[("ORC_SYSTEMD_DIR", &dir)]);
    assert!(
        text(&status).contains("is not installed"),
        "{}",
        text(&status)
    );
    assert_eq!(status.status.code(), Some(4), "{}", text(&status));
    let doctor = env.orc_with(&["doctor"], &[("ORC_SYSTEMD_DIR", &dir)]);
    assert!(
        String::from_utf8_lossy(&doctor.stdout).contains("not installed as a service"),
        "{}",
        text(&doctor)
    );
}

fn a_config_that_does_not_load_installs_nothing() {
    let env = world();
    let dir = units(&env);
    env.write(
        "tasks.toml",
        "[tasks.clock]\nschedule = \"nonsense\"\ncommand = \"date\"\n",
    );
    let o = env.orc_with(&["service", "install"], &[("ORC_SYSTEMD_DIR", &dir)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("tasks.toml:2:12"), "{}", text(&o));
    assert!(!env.path("unit dir").exists());
    let o = env.orc_with(
        &["service", "install", "--name", "../evil"],
        &[("ORC_SYSTEMD_DIR", &dir)],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    // A dashboard for other machines needs saying so, as `orc serve` does.
    env.write(
        "tasks.toml",
        "[tasks.clock]\ncommand = \"date\"\nschedule = \"* * * * *\"\n",
    );
    let o = env.orc_with(
        &["service", "install", "--listen", "0.0.0.0:7878"],
        &[("ORC_SYSTEMD_DIR", &dir)],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("--allow-remote"), "{}", text(&o));
    // A line break would start another setting of the unit.
    let o = env.orc_with(
        &[
            "service",
            "install",
            "--account",
            "etl\nExecStartPre=/bin/sh",
        ],
        &[("ORC_SYSTEMD_DIR", &dir)],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("control character"), "{}", text(&o));
    assert!(!env.path("unit dir").exists());
}

/// Install and uninstall touch only files orc wrote, and refuse what would run
/// something else, or run as root what other users can change. (Unix: file modes
/// and symlinks.)
#[cfg(unix)]
fn install_refuses_what_is_not_its_own() {
    let env = world();
    let dir = units(&env);
    let systemd = [("ORC_SYSTEMD_DIR", dir.as_str())];
    let foreign = "[Service]\nExecStart=/usr/sbin/other-daemon\n";
    env.write("unit dir/orc.service", foreign);
    for verb in ["install", "uninstall"] {
        let o = env.orc_with(&["service", verb], &systemd);
        assert_eq!(o.status.code(), Some(1), "{verb}: {}", text(&o));
        assert!(text(&o).contains("--force"), "{verb}: {}", text(&o));
        assert_eq!(env.read("unit dir/orc.service"), foreign, "{verb}");
    }
    // Neither does a marker that is not orc's line, a file that is not UTF-8, or a
    // link (through which install would write elsewhere).
    let planted =
        "[Unit]\n# Not Written by `orc service install`; `orc service uninstall` removes it.\n";
    env.write("unit dir/planted.service", planted);
    std::fs::write(
        env.path("unit dir/latin.service"),
        b"[Unit]\nDescription=Caf\xe9\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(
        env.path("elsewhere.conf"),
        env.path("unit dir/link.service"),
    )
    .unwrap();
    for name in ["planted", "latin", "link"] {
        for verb in ["install", "uninstall"] {
            let o = env.orc_with(&["service", verb, "--name", name], &systemd);
            assert_eq!(o.status.code(), Some(1), "{verb} {name}: {}", text(&o));
        }
    }
    assert_eq!(env.read("unit dir/planted.service"), planted);
    assert!(
        !env.path("elsewhere.conf").exists(),
        "written through the link"
    );
    let o = env.orc_with(&["service", "status", "--name", "link"], &systemd);
    assert_eq!(
        o.status.code(),
        Some(3),
        "a link takes the name: {}",
        text(&o)
    );

    let o = env.orc_with(&["service", "install", "--force"], &systemd);
    assert!(o.status.success(), "{}", text(&o));
    assert!(env.read("unit dir/orc.service").contains("orc service run"));
    // 0644 whatever the mode before (or the umask): others must not edit a root unit.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(env.path("unit dir/orc.service"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o644, "{mode:o}");
    // Reinstalling its own unit needs no --force.
    let o = env.orc_with(&["service", "install"], &systemd);
    assert!(o.status.success(), "{}", text(&o));

    // Started through a link (a package manager's bin/orc), the unit names the link,
    // which an upgrade keeps pointing at the current orc.
    let link = env.path("bin/orc");
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(common::orc_binary(), &link).unwrap();
    let o = env
        .command_of(&link, env.dir(), &["service", "install"])
        .envs(systemd)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let unit = env.read("unit dir/orc.service");
    assert!(
        unit.contains(&format!("\nExecStart={} service run", link.display())),
        "{unit}"
    );
    assert!(unit.contains("\nNoNewPrivileges=yes\n"), "{unit}");

    // An account that is blank, or beside --user, is a mistake, not root.
    for args in [
        &["--account", ""][..],
        &["--account", " "],
        &["--account", "etl", "--user"],
        &["--account", "etl ExecStartPre=/bin/sh"],
        &["--account", "etl\\"],
    ] {
        let o = env.orc_with(&[&["service", "install"][..], args].concat(), &systemd);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", text(&o));
        assert!(text(&o).contains("--account"), "{args:?}: {}", text(&o));
    }

    // cron applies through the setgid crontab for an account other than root:
    // NoNewPrivileges would break it; --allow-new-privileges leaves it out anyway.
    let o = env.orc_with(
        &[
            "--backend",
            "cron",
            "service",
            "install",
            "--account",
            "etl",
        ],
        &systemd,
    );
    assert!(o.status.success(), "{}", text(&o));
    let unit = env.read("unit dir/orc.service");
    assert!(!unit.contains("NoNewPrivileges="), "{unit}");
    assert!(unit.contains("\nUser=etl\n"), "{unit}");
    let o = env.orc_with(&["service", "install", "--allow-new-privileges"], &systemd);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        !env.read("unit dir/orc.service")
            .contains("NoNewPrivileges=")
    );

    // As root, with a config every user may change (its folder, a folder above it,
    // a file of a config folder), or as --account root: refused, the unit as it was.
    let before = env.read("unit dir/orc.service");
    let open = env.path("open/sub");
    std::fs::create_dir_all(&open).unwrap();
    std::fs::copy(env.config(), open.join("tasks.toml")).unwrap();
    std::fs::set_permissions(env.path("open"), std::fs::Permissions::from_mode(0o777)).unwrap();
    let config = open.join("tasks.toml").display().to_string();
    let folder = env.path("folder");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::copy(env.config(), folder.join("tasks.toml")).unwrap();
    std::fs::set_permissions(
        folder.join("tasks.toml"),
        std::fs::Permissions::from_mode(0o666),
    )
    .unwrap();
    let folder = folder.display().to_string();
    // An included file every user may change.
    let including = env.path("including");
    std::fs::create_dir_all(including.join("more")).unwrap();
    std::fs::write(
        including.join("tasks.toml"),
        "[settings]\nbackend = \"embedded\"\ninclude = [\"more/*.toml\"]\n",
    )
    .unwrap();
    std::fs::write(
        including.join("more/x.toml"),
        "[tasks.clock]\ncommand = \"date\"\nschedule = \"* * * * *\"\n",
    )
    .unwrap();
    std::fs::set_permissions(
        including.join("more/x.toml"),
        std::fs::Permissions::from_mode(0o666),
    )
    .unwrap();
    let including = including.join("tasks.toml").display().to_string();
    for args in [
        &["--config", config.as_str(), "service", "install"][..],
        &[
            "--config",
            &config,
            "service",
            "install",
            "--account",
            "root",
        ],
        &["--config", &folder, "service", "install"],
        &["--config", &including, "service", "install"],
    ] {
        let o = env.orc_with(args, &systemd);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", text(&o));
        assert!(text(&o).contains("chmod o-w"), "{args:?}: {}", text(&o));
        assert_eq!(env.read("unit dir/orc.service"), before);
    }
    // An executable path systemd would read otherwise ($$ is not undone there).
    let odd = env.path("b/dol$y/orc");
    std::fs::create_dir_all(odd.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(common::orc_binary(), &odd).unwrap();
    let o = env
        .command_of(&odd, env.dir(), &["service", "install"])
        .envs(systemd)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("cannot start an executable by"),
        "{}",
        text(&o)
    );
    assert_eq!(env.read("unit dir/orc.service"), before);
    // A path systemd would cut (a trailing space) is refused too.
    let trailing = env.path("trailing ");
    std::fs::create_dir_all(&trailing).unwrap();
    std::fs::copy(env.config(), trailing.join("tasks.toml")).unwrap();
    let config = trailing.join("tasks.toml").display().to_string();
    let o = env.orc_with(&["--config", &config, "service", "install"], &systemd);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("ends in a space"), "{}", text(&o));
    assert_eq!(env.read("unit dir/orc.service"), before);

    // status says "unknown" (4) for what it cannot tell, never 1 (systemctl's "dead").
    let o = env.orc_with(&["service", "status", "--name", "bad.name"], &systemd);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));

    let o = env.orc_with(&["service", "uninstall"], &systemd);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!env.path("unit dir/orc.service").exists());
}

fn a_launchd_plist_parses_with_the_command_line_meant() {
    let env = world();
    let dir = env.path("agents").display().to_string();
    let launchd = [
        ("ORC_SERVICE_MANAGER", "launchd"),
        ("ORC_LAUNCHD_DIR", dir.as_str()),
    ];
    let o = env.orc_with(
        &[
            "service",
            "install",
            "--user",
            "--no-watch",
            "--listen",
            "127.0.0.1:8080",
        ],
        &launchd,
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("launchctl bootstrap gui/"),
        "{}",
        text(&o)
    );
    let plist = env.path("agents/orc.plist");
    let script =
        "import json, plistlib, sys\nprint(json.dumps(plistlib.load(open(sys.argv[1], 'rb'))))";
    let parsed = Command::new("python3")
        .args(["-c", script])
        .arg(&plist)
        .output()
        .unwrap();
    assert!(parsed.status.success(), "plistlib: {}", text(&parsed));
    let parsed: serde_json::Value = serde_json::from_slice(&parsed.stdout).unwrap();
    let state = env.path("my data/state.db");
    let expected = serde_json::json!([
        orc().display().to_string(),
        "service",
        "run",
        "--name",
        "orc",
        "--config",
        env.config().display().to_string(),
        "--state",
        state.display().to_string(),
        "--listen",
        "127.0.0.1:8080",
        "--no-watch",
    ]);
    assert_eq!(parsed["ProgramArguments"], expected, "{parsed}");
    assert_eq!(parsed["Label"], "orc");
    assert_eq!(parsed["RunAtLoad"], true);
    assert_eq!(parsed["KeepAlive"]["SuccessfulExit"], false, "{parsed}");
    assert_eq!(parsed["ThrottleInterval"], 10);
    assert!(
        parsed.get("UserName").is_none(),
        "an agent runs as its user: {parsed}"
    );
    // NoNewPrivileges is systemd's: launchd has nothing to leave out.
    let o = env.orc_with(
        &["service", "install", "--user", "--allow-new-privileges"],
        &launchd,
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let status = env.orc_with(&["service", "status", "--user", "--json"], &launchd);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["manager"], "launchd", "{status}");
    assert_eq!(status["installed"], true, "{status}");
    assert_eq!(status["running"], false, "{status}");
    let gone = env.orc_with(&["service", "uninstall", "--user"], &launchd);
    assert!(gone.status.success(), "{}", text(&gone));
    assert!(!plist.exists());
}

/// `orc service run` in the background, its output read as it comes.
struct Body {
    child: common::Killed,
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Body {
    fn start(env: &TestEnv) -> Body {
        let mut child = env
            .command(&["service", "run", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Body {
            child: common::Killed(child),
            lines,
            seen: Vec::new(),
        }
    }

    /// Wait for a line with `text`, for at most 30 s.
    fn wait_for(&mut self, text: &str) -> String {
        let until = Instant::now() + Duration::from_secs(30);
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(text) {
                        return line;
                    }
                }
                Err(_) => break,
            }
        }
        panic!("no line with {text:?} in {:#?}", self.seen);
    }

    /// SIGTERM, as systemd and launchd stop a service: it must end, with success.
    fn terminate(mut self) -> Vec<String> {
        let pid = self.child.0.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success(), "kill -TERM {pid}");
        let until = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.0.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < until, "still running 30 s after SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(status.success(), "{status:?}: {:#?}", self.seen);
        self.seen.extend(self.lines.try_iter());
        self.seen
    }
}

fn the_service_runs_the_parts_that_fit_the_backend() {
    // Task Scheduler (simulated as files): orc applies, serves and watches; the
    // scheduler is Task Scheduler's.
    let env = TestEnv::builder()
        .windows_tasks_dir()
        .config("[settings]\nbackend = \"windows\"\n\n[tasks.clock]\ncommand = \"date\"\nschedule = \"0 3 * * *\"\n")
        .build();
    let mut body = Body::start(&env);
    let dashboard = body.wait_for("Dashboard and API on http://");
    let addr = dashboard
        .split("http://")
        .nth(1)
        .unwrap()
        .trim()
        .to_string();
    body.wait_for("The windows backend runs the tasks");
    assert!(env.path("Tasks/Orc/clock").exists(), "{:#?}", body.seen);
    let health = ureq::get(&format!("http://{addr}/api/health"))
        .call()
        .unwrap();
    assert_eq!(health.status(), 200);
    // The watcher: a saved edit reaches Task Scheduler without a restart.
    env.write_config("[settings]\nbackend = \"windows\"\n\n[tasks.clock]\ncommand = \"date\"\nschedule = \"0 3 * * *\"\n\n[tasks.added]\ncommand = \"date\"\nschedule = \"0 4 * * *\"\n");
    let until = Instant::now() + Duration::from_secs(30);
    while !env.path("Tasks/Orc/added").exists() {
        assert!(
            Instant::now() < until,
            "the edit was not applied: {:#?}",
            body.seen
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let seen = body.terminate();
    assert!(
        !seen.iter().any(|l| l.contains("orc daemon: scheduling")),
        "no embedded scheduler beside Task Scheduler: {seen:#?}"
    );

    // The embedded backend: the scheduler too.
    let env = world();
    let mut body = Body::start(&env);
    body.wait_for("orc daemon: scheduling folder \"Orc\"");
    body.wait_for("1 scheduled task loaded");
    let seen = body.terminate();
    assert!(
        seen.iter().any(|l| l.contains("Dashboard and API on")),
        "{seen:#?}"
    );
    let log = std::fs::read_dir(env.path("my data/orc-log"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect::<String>();
    assert!(log.contains("service orc started"), "{log}");
    assert!(log.contains("service orc stopped"), "{log}");
}

fn main() -> std::process::ExitCode {
    let analyze =
        common::missing_program("systemd-analyze", &["--version"], "apt-get install systemd");
    #[cfg_attr(not(unix), allow(unused_mut))]
    let mut trials = vec![
        common::trial(
            "an_installed_unit_passes_systemd_analyze_verify",
            an_installed_unit_passes_systemd_analyze_verify,
            &[analyze],
        ),
        common::trial(
            "a_config_that_does_not_load_installs_nothing",
            a_config_that_does_not_load_installs_nothing,
            &[],
        ),
        common::trial(
            "a_launchd_plist_parses_with_the_command_line_meant",
            a_launchd_plist_parses_with_the_command_line_meant,
            &[common::missing_program(
                "python3",
                &["--version"],
                "apt-get install python3",
            )],
        ),
        common::trial(
            "the_service_runs_the_parts_that_fit_the_backend",
            the_service_runs_the_parts_that_fit_the_backend,
            &[],
        ),
    ];
    #[cfg(unix)]
    trials.push(common::trial(
        "install_refuses_what_is_not_its_own",
        install_refuses_what_is_not_its_own,
        &[],
    ));
    common::run_trials(trials)
}
