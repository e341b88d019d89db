//! `orc service`: the systemd unit it installs passes `systemd-analyze verify`
//! (Debian's `systemd`; verify needs no running systemd), with paths holding spaces;
//! status and uninstall; a config for another backend, or one that does not load,
//! installs nothing. The unit goes to ORC_SYSTEMD_DIR, so systemd itself is never
//! touched. What this cannot prove: that systemd starts, restarts and reloads it
//! (no systemd runs as PID 1 here).

use std::process::Command;

mod common;
use common::{TestEnv, exit_and_output as text};

fn world() -> TestEnv {
    TestEnv::builder()
        .state("my data/state.db")
        .config("[settings]\nbackend = \"embedded\"\n\n[tasks.clock]\ncommand = \"date\"\nschedule = \"* * * * *\"\n")
        .build()
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
    let doctor = env.orc_with(&["doctor"], &[("ORC_SYSTEMD_DIR", &dir)]);
    assert!(
        String::from_utf8_lossy(&doctor.stdout).contains("not installed as a service"),
        "{}",
        text(&doctor)
    );
}

fn a_config_it_cannot_serve_installs_nothing() {
    let env = world();
    let dir = units(&env);
    env.write(
        "tasks.toml",
        "[settings]\nbackend = \"cron\"\n\n[tasks.clock]\ncommand = \"date\"\nschedule = \"* * * * *\"\n",
    );
    let o = env.orc_with(&["service", "install"], &[("ORC_SYSTEMD_DIR", &dir)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("uses the cron backend"), "{}", text(&o));
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
}

fn main() -> std::process::ExitCode {
    let analyze =
        common::missing_program("systemd-analyze", &["--version"], "apt-get install systemd");
    common::run_trials(vec![
        common::trial(
            "an_installed_unit_passes_systemd_analyze_verify",
            an_installed_unit_passes_systemd_analyze_verify,
            &[analyze],
        ),
        common::trial(
            "a_config_it_cannot_serve_installs_nothing",
            a_config_it_cannot_serve_installs_nothing,
            &[],
        ),
    ])
}
