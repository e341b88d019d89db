//! The orc binary as users call it: exit codes, output formats, global options.

use std::process::Output;

mod common;
use common::TestEnv;

/// orc in this repository's root, where `examples/` is.
fn repo() -> TestEnv {
    TestEnv::builder().in_repo().build()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn validate_accepts_the_examples() {
    let o = repo().orc(&["validate", "--config", "examples"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("Success! The configuration is valid: 5 tasks in 3 files."),
        "{}",
        stdout(&o)
    );
}

#[test]
fn global_options_go_before_or_after_the_command() {
    for args in [
        vec!["--config", "examples/tasks.toml", "--json", "validate"],
        vec!["validate", "--json", "--config", "examples/tasks.toml"],
        vec![
            "--json",
            "validate",
            "--config=examples/tasks.toml",
            "--quiet",
        ],
    ] {
        let o = repo().orc(&args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        assert_eq!(v["valid"], true);
        assert_eq!(v["tasks"], 5);
    }
    let args = [
        "--state",
        "/tmp/x.db",
        "--backend",
        "embedded",
        "validate",
        "--config",
        "examples",
    ];
    let o = repo().orc(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    // --backend is heeded, not just accepted: cron cannot run the examples' Berlin
    // schedules on a machine in UTC.
    let o = TestEnv::builder()
        .in_repo()
        .env("TZ", "UTC")
        .build()
        .orc(&args.map(|a| if a == "embedded" { "cron" } else { a }));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(" --> examples/tasks.toml:9:12\n"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn validate_without_a_config_says_where_it_looked() {
    let env = TestEnv::builder().config_in_cwd().build();
    let o = env.orc(&["validate"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("tasks.toml") && stderr(&o).contains("not found"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn validate_json_reports_diagnostics_with_positions() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("tasks.toml");
    std::fs::write(
        &f,
        "[tasks.t]\ncommand = \"x\"\nschedule = \"0 0 31 4 *\"\n",
    )
    .unwrap();
    let o = repo().orc(&["validate", "--json", "--config", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["error_count"], 1);
    let d = &v["diagnostics"][0];
    assert_eq!(d["severity"], "error");
    assert_eq!(d["line"], 3);
    assert_eq!(d["column"], 12);
    assert_eq!(d["task"], "t");
    assert!(d["message"].as_str().unwrap().contains("never fires"));
}

#[test]
fn human_errors_show_the_line_and_a_caret() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("tasks.toml");
    std::fs::write(
        &f,
        "[tasks.t]\ncommand = \"x\"\nschedule = \"0 0 31 4 *\"\n",
    )
    .unwrap();
    let o = repo().orc(&["validate", "--config", f.to_str().unwrap()]);
    let err = stderr(&o);
    assert!(
        err.contains(&format!("{}:3:12 (task \"t\")", f.display())),
        "{err}"
    );
    assert!(err.contains("3 | schedule = \"0 0 31 4 *\""), "{err}");
    assert!(err.contains("  |            ^^^^^^^^^^^"), "{err}");
    assert!(!err.contains('\x1b'), "NO_COLOR turns colour off: {err}");
}

#[test]
fn schedule_next_prints_rfc3339_with_offsets() {
    let o = repo().orc(&[
        "schedule",
        "next",
        "30 2 * * *",
        "--count",
        "3",
        "--from",
        "2026-03-07T12:00:00-05:00",
        "--tz",
        "America/New_York",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Vec<String> = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        v,
        [
            "2026-03-08T03:00:00-04:00",
            "2026-03-09T02:30:00-04:00",
            "2026-03-10T02:30:00-04:00"
        ]
    );

    let o = repo().orc(&[
        "schedule",
        "next",
        "@daily",
        "-n",
        "2",
        "--from",
        "2026-12-31T23:59:00Z",
        "--tz",
        "UTC",
    ]);
    assert_eq!(
        stdout(&o),
        "2027-01-01T00:00:00+00:00  Fri\n2027-01-02T00:00:00+00:00  Sat\n"
    );
}

#[test]
fn schedule_next_is_strictly_after_from() {
    let o = repo().orc(&[
        "schedule",
        "next",
        "0 6 * * *",
        "-n",
        "1",
        "--from",
        "2026-06-01T06:00:00Z",
        "--tz",
        "UTC",
        "--json",
    ]);
    let v: Vec<String> = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v, ["2026-06-02T06:00:00+00:00"]);
}

#[test]
fn a_rejected_schedule_exits_1_with_the_reason() {
    for (expr, reason) in [
        ("0 0 30 2 *", "never fires"),
        ("0 0 0 * * *", "6 fields"),
        ("0 0 ? * MON", "Quartz"),
        ("0 0 * * FRI#5", "fifth"),
    ] {
        let o = repo().orc(&["schedule", "next", expr]);
        assert_eq!(o.status.code(), Some(1), "{expr}");
        assert!(stderr(&o).contains(reason), "{expr}: {}", stderr(&o));
        assert!(stdout(&o).is_empty());
    }
    let o = repo().orc(&["schedule", "next", "0 6 * * *", "--from", "yesterday"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("RFC 3339"));
    let o = repo().orc(&["schedule", "next", "0 6 * * *", "--tz", "Mars/Olympus"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("unknown time zone"));
}

#[test]
fn schedule_explain_says_it_in_words_with_next_times() {
    let o = repo().orc(&[
        "schedule",
        "explain",
        "0 6 * * 1-5",
        "--tz",
        "Europe/Berlin",
        "--from",
        "2026-11-27T12:00:00Z",
    ]);
    assert!(o.status.success());
    let text = stdout(&o);
    assert!(
        text.starts_with("At 06:00, Monday through Friday\n"),
        "{text}"
    );
    assert!(text.contains("2026-11-30T06:00:00+01:00"), "{text}");
    assert_eq!(text.matches("+01:00").count(), 5, "{text}");

    let o = repo().orc(&["schedule", "explain", "@reboot", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["description"], "At system startup");
    assert_eq!(v["next"], serde_json::json!([]));
}

#[test]
fn completions_are_generated_for_common_shells() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let o = repo().orc(&["completions", shell]);
        assert!(o.status.success(), "{shell}");
        let text = stdout(&o);
        assert!(
            text.contains("validate") && text.contains("schedule"),
            "{shell}: no subcommands in script"
        );
    }
    let o = repo().orc(&["completions", "tcsh"]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "usage errors exit 1, never 2 (which means changes)"
    );
    assert!(stderr(&o).contains("invalid value"));
}

#[test]
fn help_teaches_with_examples() {
    let o = repo().orc(&["--help"]);
    let text = stdout(&o);
    assert!(
        text.contains("Examples:") && text.contains("orc schedule next"),
        "{text}"
    );
    let o = repo().orc(&["schedule", "next", "--help"]);
    assert!(stdout(&o).contains("--count") && stdout(&o).contains("RFC 3339"));
}

/// A reader that goes away (`| head -1`) ends orc quietly, not with a panic.
#[cfg(unix)]
#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    for args in [
        vec!["schedule", "next", "* * * * *", "--count", "5000"],
        vec![
            "schedule",
            "next",
            "*/5 * * * *",
            "--count",
            "5000",
            "--json",
        ],
    ] {
        let mut child = repo()
            .command(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        // The reader is dropped here: orc writes on into a closed pipe.
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!first.is_empty());
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_ne!(out.status.code(), Some(101), "{args:?}: {err}");
    }
}

/// Without $USER (cron, services), the audit log names the account, not "unknown".
#[cfg(unix)]
#[test]
fn the_user_is_known_without_user_set() {
    let env = TestEnv::builder()
        .config_in_cwd()
        .config("[tasks.a]\ncommand = \"true\"\n")
        .build();
    let o = env
        .command(&["apply", "--auto-approve", "--backend", "embedded"])
        .env_remove("USER")
        .env_remove("USERNAME")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let db = env.db();
    let user: String = db
        .query_row("SELECT user FROM applies", [], |r| r.get(0))
        .unwrap();
    let whoami = std::process::Command::new("id")
        .arg("-un")
        .output()
        .unwrap();
    assert_eq!(user, String::from_utf8_lossy(&whoami.stdout).trim());

    // What orc writes beside the state is its owner's only.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &str| std::fs::metadata(env.path(p)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("state/registry"), 0o700);
    assert_eq!(mode("state/registry/Orc.json"), 0o600);
    assert_eq!(mode("state/orc-log"), 0o700);
    // And so is a run's log, which holds what the task printed.
    let o = env.orc(&["run", "a"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(mode("state/logs"), 0o700);
    assert_eq!(mode("state/logs/a"), 0o700);
    assert_eq!(mode("state/logs/a/1.log"), 0o600);
}
