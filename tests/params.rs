//! Parameters and backfill with real processes: `params` reach the task as
//! ORC_PARAM_* and in argv (each element one argument, whatever its value holds),
//! `orc run --param` and the API override them, and `orc backfill` runs ten days of
//! fires in order, once each, as if scheduled then.

#![cfg(unix)]

use std::time::{Duration, Instant};

mod common;
use common::TestEnv;

use serde_json::Value;

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

const EXPORT: &str = r#"
[settings]
backend = "embedded"
timezone = "Europe/Berlin"

[tasks.export]
command = ["sh", "-c", "printf '%s\n' \"$#\" \"$1\" \"$ORC_PARAM_REGION\" \"$ORC_PARAM_DAY\" \"$2\" > out", "x", "{{ region }}", "run {{ run_id }} of {{ task }}"]
schedule = "06:00"
params = { region = "eu", day = "{{ scheduled_for | date }}" }
"#;

#[test]
fn params_reach_the_task_in_its_environment_and_argv() {
    let env = TestEnv::new();
    env.write_config(EXPORT);
    env.orc_ok_text(&["apply", "--auto-approve"]);
    // 23:30 UTC on the 24th is the 25th in Berlin.
    let tricky = "us east; rm -rf / $(id) '\"";
    let out = env.orc_ok(&[
        "run",
        "export",
        "--scheduled-for",
        "2026-12-24T23:30:00Z",
        "--param",
        &format!("region={tricky}"),
        "--json",
    ]);
    let report = json(&out);
    assert_eq!(report["status"], "success", "{report}");
    let lines: Vec<String> = env.read("out").lines().map(str::to_string).collect();
    assert_eq!(
        lines,
        [
            "2".to_string(),
            tricky.to_string(),
            tricky.to_string(),
            "2026-12-25".to_string(),
            format!("run {} of export", report["id"]),
        ],
        "one argument each, as given, no shell"
    );
    let history = json(&env.orc_ok(&["history", "export", "--json"]));
    assert_eq!(history[0]["params"]["region"], tricky);
    assert_eq!(history[0]["params"]["day"], "2026-12-25");

    // The defaults, without --param.
    env.orc_ok_text(&["run", "export", "--scheduled-for", "2026-12-01T05:00:00Z"]);
    assert_eq!(env.read("out").lines().nth(1), Some("eu"));

    // A parameter the task does not have: nothing runs, nothing is recorded.
    let o = env.orc(&["run", "export", "--param", "regoin=us"]);
    assert_eq!(o.status.code(), Some(1));
    let said = String::from_utf8_lossy(&o.stderr);
    assert!(
        said.contains(
            "--param regoin: task \"export\" has no such parameter; its parameters are day, region"
        ),
        "{said}"
    );
    assert_eq!(
        json(&env.orc_ok(&["history", "export", "--json"]))
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn backfill_runs_ten_days_of_fires_in_order_once_each() {
    let env = TestEnv::new();
    env.write_config(
        r#"
[settings]
backend = "embedded"
timezone = "UTC"

[tasks.daily]
command = ["sh", "-c", "echo \"$1\" >> days; test \"$1\" != 2026-11-25", "x", "{{ scheduled_for | date }}"]
schedule = "06:00"
"#,
    );
    env.orc_ok_text(&["apply", "--auto-approve"]);
    let backfill = |extra: &[&str]| {
        let mut args = vec![
            "backfill",
            "daily",
            "--from",
            "2026-11-20",
            "--to",
            "2026-11-29",
            "--json",
        ];
        args.extend_from_slice(extra);
        let o = env.orc(&args);
        (o.status.code(), json(&String::from_utf8_lossy(&o.stdout)))
    };
    let (code, doc) = backfill(&[]);
    assert_eq!(code, Some(1), "one fire failed: {doc:#}");
    let fires = doc["fires"].as_array().unwrap();
    assert_eq!(fires.len(), 10);
    assert_eq!(fires[0]["scheduled_for"], "2026-11-20T06:00:00.000Z");
    assert_eq!(fires[9]["scheduled_for"], "2026-11-29T06:00:00.000Z");
    assert_eq!(
        (doc["ran"].as_u64(), doc["failed"].as_u64()),
        (Some(10), Some(1))
    );
    let days: Vec<String> = env.read("days").lines().map(str::to_string).collect();
    let expected: Vec<String> = (20..=29).map(|d| format!("2026-11-{d}")).collect();
    assert_eq!(days, expected, "in order, each as if scheduled then");
    let history = json(&env.orc_ok(&["history", "daily", "--json", "--limit", "100"]));
    assert!(
        history
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["trigger"] == "backfill"),
        "{history:#}"
    );

    // Again: only the failed fire runs again.
    let (code, doc) = backfill(&[]);
    assert_eq!(code, Some(1));
    assert_eq!(doc["ran"], 1, "{doc:#}");
    let skipped = doc["fires"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["skipped"].is_string())
        .count();
    assert_eq!(skipped, 9);
    assert_eq!(env.read("days").lines().count(), 11);

    // --rerun, three at a time: all ten again.
    let (_, doc) = backfill(&["--rerun", "--parallel", "3"]);
    assert_eq!(doc["ran"], 10, "{doc:#}");
    assert_eq!(env.read("days").lines().count(), 21);
    let runs = json(&env.orc_ok(&["history", "daily", "--json", "--limit", "100"]));
    assert_eq!(runs.as_array().unwrap().len(), 21);

    // A range from the future, or reversed, is refused.
    let o = env.orc(&[
        "backfill",
        "daily",
        "--from",
        "2099-01-01",
        "--to",
        "2099-01-02",
    ]);
    assert_ne!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stderr).contains("in the future"));
    let o = env.orc(&[
        "backfill",
        "daily",
        "--from",
        "2026-11-20",
        "--to",
        "2026-11-01",
    ]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("before --from"));
}

#[test]
fn a_backfill_tells_its_fires_in_order_and_which_one_a_window_deferred() {
    let env = TestEnv::new();
    env.write_config(
        r#"
[settings]
backend = "embedded"
timezone = "UTC"

[tasks.hourly]
command = ["true"]
schedule = "0 * * * *"
blackout = [{ from = "2026-12-07T10:00", to = "2026-12-07T12:30" }]
blackout_policy = "defer"
"#,
    );
    env.orc_ok_text(&["apply", "--auto-approve"]);
    let range = [
        "--from",
        "2026-12-07T08:30:00Z",
        "--to",
        "2026-12-07T13:30:00Z",
    ];
    for dry_run in [true, false] {
        let mut args = vec!["backfill", "hourly"];
        args.extend(range);
        if dry_run {
            args.push("--dry-run");
        }
        let o = env.orc_ok(&args);
        let lines: Vec<&str> = o.lines().filter(|l| l.starts_with("  ")).collect();
        let hours: Vec<&str> = lines.iter().map(|l| &l[13..15]).collect();
        assert_eq!(hours, ["09", "10", "11", "12", "13"], "in order:\n{o}");
        assert!(
            lines[1].contains("the first fire of its blackout window, deferred"),
            "{o}"
        );
        for skipped in &lines[2..4] {
            assert!(skipped.contains("  skipped: in the blackout window"), "{o}");
        }
        assert!(
            !lines[4].contains("deferred") && !lines[4].contains("skipped"),
            "{o}"
        );
    }
}

#[test]
fn the_api_and_dashboard_run_with_parameters() {
    let env = TestEnv::new();
    env.write_config(EXPORT);
    env.orc_ok_text(&["apply", "--auto-approve"]);
    let (_server, base, token) = common::serve_in(&env, &[]);
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let post = |body: &str| {
        let mut r = agent
            .post(&format!("{base}/api/tasks/export/run"))
            .header("Authorization", &format!("Bearer {token}"))
            .header("Content-Type", "application/json")
            .send(body)
            .unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    };
    let (status, body) = post(r#"{"params": {"region": "ap-south"}}"#);
    assert_eq!(status, 202, "{body}");
    let start = Instant::now();
    let run = loop {
        let history = json(&env.orc_ok(&["history", "export", "--json"]));
        if history[0]["status"] == "success" {
            break history[0].clone();
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{history:#}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(run["params"]["region"], "ap-south", "{run}");
    let (status, body) = post(r#"{"params": {"nope": "1"}}"#);
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("has no parameter \\\"nope\\\""), "{body}");
    let (status, _) = post(r#"{"params": "region"}"#);
    assert_eq!(status, 400);
    // A value no command line or environment can carry is refused, not a failed start.
    let (status, body) = post(r#"{"params": {"region": "a\u0000b"}}"#);
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("NUL"), "{body}");
    let (status, body) = post(&format!(
        r#"{{"params": {{"region": "{}"}}}}"#,
        "x".repeat(9000)
    ));
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("more than 8192"), "{body}");
    let o = env.orc(&[
        "run",
        "export",
        "--param",
        &format!("region={}", "x".repeat(9000)),
    ]);
    assert_eq!(o.status.code(), Some(1));

    // A session (the form is for those who may run the task).
    let browser = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .new_agent();
    let r = browser
        .post(&format!("{base}/login"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send(format!("token={token}&next=%2F"))
        .unwrap();
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let mut r = browser
        .get(&format!("{base}/tasks/export"))
        .header("Cookie", &cookie)
        .call()
        .unwrap();
    let page = r.body_mut().read_to_string().unwrap();
    assert!(page.contains("Run with parameters"), "{page}");
    assert!(
        page.contains("placeholder=\"{{ scheduled_for | date }}\""),
        "{page}"
    );
}

#[test]
fn placeholders_that_name_nothing_are_refused_at_their_place() {
    let env = TestEnv::new();
    for (config, said) in [
        (
            "[tasks.t]\ncommand = [\"echo\", \"{{ regoin }}\"]\nparams = { region = \"eu\" }\n",
            "{{ regoin }} names no parameter of the task nor a built-in",
        ),
        (
            "[tasks.t]\ncommand = \"true\"\nparams = { host = \"x\" }\n",
            "parameter \"host\" is a built-in",
        ),
        (
            "[tasks.t]\ncommand = \"true\"\nparams = { a = \"x\", b = \"{{ a }}\" }\n",
            "{{ a }} is not a built-in",
        ),
        (
            "[tasks.t]\ncommand = [\"echo\", \"{{ region | upper }}\"]\n",
            "unknown filter \"upper\"",
        ),
    ] {
        env.write_config(config);
        let o = env.orc(&["validate"]);
        let text = String::from_utf8_lossy(&o.stderr).to_string();
        assert_ne!(o.status.code(), Some(0), "{config}\n{text}");
        assert!(text.contains(said), "{said} not in\n{text}");
        assert!(text.contains("tasks.toml:"), "{text}");
    }
    // The misspelt placeholder is pointed at itself, with the likely name.
    env.write_config(
        "[tasks.t]\ncommand = [\"echo\", \"--x\", \"{{ regoin }}\"]\nparams = { region = \"eu\" }\n",
    );
    let o = env.orc(&["validate"]);
    let text = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(text.contains("tasks.toml:2:28"), "{text}");
    assert!(text.contains("did you mean {{ region }}?"), "{text}");
    // Other programs' braces are theirs: docker's --format, Go templates.
    env.write_config(
        "[settings]\nbackend = \"embedded\"\n[tasks.t]\ncommand = [\"sh\", \"-c\", \"printf '%s' \\\"$1\\\" > out\", \"x\", \"{{.Names}} {{{ region }}}\"]\nparams = { region = \"eu\" }\n",
    );
    env.orc_ok_text(&["apply", "--auto-approve"]);
    env.orc_ok_text(&["run", "t"]);
    assert_eq!(env.read("out"), "{{.Names}} {eu}");
    let o = env.orc(&["run", "t", "--param", "region=a", "--param", "region=b"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--param region is given twice"));
    env.write_config("[tasks.t]\nshell = \"echo {{ region }}\"\nparams = { region = \"eu\" }\n");
    let o = env.orc(&["validate"]);
    let text = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(text.contains("$ORC_PARAM_NAME"), "a warning: {text}");
}

#[test]
fn a_stopped_backfill_stops_its_run_and_starts_no_more() {
    let env = TestEnv::new();
    env.write_config(
        "[settings]\nbackend = \"embedded\"\ntimezone = \"UTC\"\n\n[tasks.slow]\nshell = \"sleep 5\"\nschedule = \"06:00\"\n",
    );
    env.orc_ok_text(&["apply", "--auto-approve"]);
    let child = env
        .command(&[
            "backfill",
            "slow",
            "--from",
            "2026-11-01",
            "--to",
            "2026-11-04",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while json(&env.orc_ok(&["history", "slow", "--json"]))
        .as_array()
        .unwrap()
        .is_empty()
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the first fire never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // SIGTERM to the backfill alone, as `kill PID` or a service manager sends it.
    // SAFETY: signals the child we started.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(143), "{text}");
    assert!(
        text.contains("3 not run: the backfill was stopped"),
        "{text}"
    );
    let history = json(&env.orc_ok(&["history", "slow", "--json"]));
    let runs = history.as_array().unwrap();
    assert_eq!(runs.len(), 1, "{history:#}");
    assert_eq!(runs[0]["status"], "interrupted", "{history:#}");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "stopped, not waited out"
    );
}
