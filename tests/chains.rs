//! Chains and fan-in with real processes: `on_success` and `on_failure` start their
//! tasks for the same fire, `after` waits for every task it names (under the daemon,
//! on the real clock), and gives up at `after_timeout` with an alert.

#![cfg(unix)]

use std::time::{Duration, Instant};

mod common;
use common::TestEnv;
use common::http::Receiver;

use serde_json::Value;

fn history(env: &TestEnv) -> Vec<Value> {
    let out = env.orc_ok(&["history", "--json", "--limit", "200"]);
    serde_json::from_str(&out).unwrap()
}

/// Wait (up to `limit`) until `check` holds on the history.
fn wait_for(env: &TestEnv, limit: Duration, check: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let runs = history(env);
        if check(&runs) {
            return runs;
        }
        assert!(start.elapsed() < limit, "gave up waiting: {runs:#?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn finished<'a>(runs: &'a [Value], task: &str) -> Vec<&'a Value> {
    runs.iter()
        .filter(|r| r["task"] == task && r["status"] != "running")
        .collect()
}

#[test]
fn on_success_and_on_failure_start_their_tasks_for_the_same_fire() {
    let env = TestEnv::new();
    env.write_config(
        r#"
[settings]
backend = "embedded"

[tasks.extract]
shell = "echo extract >> trail"
on_success = ["load"]

[tasks.load]
shell = "echo load >> trail; exit 3"
on_failure = ["cleanup"]

[tasks.cleanup]
shell = "echo cleanup >> trail"
"#,
    );
    env.orc_ok_text(&["apply", "--auto-approve"]);
    let fire = "2026-12-07T06:00:00Z";
    let out = env.orc_ok(&[
        "run",
        "extract",
        "--trigger",
        "scheduled",
        "--scheduled-for",
        fire,
        "--json",
    ]);
    let extract: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(extract["status"], "success");
    let runs = wait_for(&env, Duration::from_secs(20), |runs| {
        !finished(runs, "cleanup").is_empty()
    });
    let load = finished(&runs, "load")[0];
    let cleanup = finished(&runs, "cleanup")[0];
    assert_eq!(load["trigger"], "chain", "{load}");
    assert_eq!(load["upstream"], extract["id"], "{load}");
    assert_eq!(load["status"], "failed");
    assert_eq!(
        load["scheduled_for"], "2026-12-07T06:00:00.000Z",
        "the same fire"
    );
    assert_eq!(cleanup["upstream"], load["id"], "{cleanup}");
    assert_eq!(cleanup["scheduled_for"], load["scheduled_for"]);
    assert_eq!(env.read("trail"), "extract\nload\ncleanup\n");
    // Each run once: no chain loops or doubles.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(history(&env).len(), 3, "{:#?}", history(&env));
    // A run by hand chains too.
    env.orc_ok_text(&["run", "extract"]);
    wait_for(&env, Duration::from_secs(20), |runs| {
        finished(runs, "cleanup").len() == 2
    });

    // The dashboard: the task's chain both ways, and the run's upstream run.
    let (_server, base, token) = common::serve_in(&env, &[]);
    let page = |path: &str| {
        let (status, body) = common::http::get_with_token(&base, &token, path);
        assert_eq!(status, 200, "{path}");
        body
    };
    let task = page("/tasks/load");
    assert!(
        task.contains(
            "<dt>Upstream</dt><dd><a href=\"/tasks/extract\">extract</a> (on_success)</dd>"
        ),
        "{task}"
    );
    assert!(
        task.contains(
            "<dt>Downstream</dt><dd><a href=\"/tasks/cleanup\">cleanup</a> (on_failure)</dd>"
        ),
        "{task}"
    );
    let run = page(&format!("/runs/{}", load["id"]));
    assert!(
        run.contains(&format!(
            "chain, started by <a href=\"/runs/{0}\">run #{0}</a>",
            extract["id"]
        )),
        "{run}"
    );
}

#[test]
fn an_override_passes_down_a_chain_to_the_parameters_of_its_name() {
    let env = TestEnv::new();
    env.write_config(
        r#"
[settings]
backend = "embedded"

[tasks.extract]
command = ["true"]
params = { region = "eu" }
on_success = ["load"]

[tasks.load]
command = ["true"]
params = { region = "eu", target = "warehouse" }
on_success = ["publish"]

[tasks.publish]
command = ["true"]
"#,
    );
    env.orc_ok_text(&["apply", "--auto-approve"]);
    env.orc_ok(&["run", "extract", "--param", "region=-us"]);
    let runs = wait_for(&env, Duration::from_secs(30), |runs| {
        !finished(runs, "publish").is_empty()
    });
    let load = finished(&runs, "load")[0];
    assert_eq!(load["status"], "success", "{load}");
    // The override reaches load's parameter of that name; load's own defaults stay.
    assert_eq!(load["params"]["region"], "-us", "{load}");
    assert_eq!(load["params"]["target"], "warehouse", "{load}");
    // A task without parameters is started without them.
    let publish = finished(&runs, "publish")[0];
    assert_eq!(publish["status"], "success", "{publish}");
    assert!(publish.get("params").is_none(), "{publish}");
}

#[test]
fn a_fan_in_waiting_for_one_fire_still_runs_the_next() {
    let env = TestEnv::new();
    env.write_config(
        r#"
[settings]
backend = "embedded"

[tasks.extract_a]
command = ["true"]
schedule = "02:00"

[tasks.extract_b]
command = ["true"]
schedule = "02:00"

[tasks.load]
command = ["true"]
after = ["extract_a", "extract_b"]
after_timeout = "60s"
"#,
    );
    env.orc_ok_text(&["apply", "--auto-approve"]);
    // Both of extract_a's fires first: load waits for the first fire's extract_b while
    // the second fire's start comes (load's overlap is the default, skip).
    for task in ["extract_a", "extract_b"] {
        env.orc_ok(&[
            "backfill",
            task,
            "--from",
            "2026-12-01",
            "--to",
            "2026-12-02",
        ]);
    }
    let runs = wait_for(&env, Duration::from_secs(50), |runs| {
        finished(runs, "load")
            .iter()
            .filter(|r| r["status"] == "success")
            .count()
            == 2
    });
    let mut fires: Vec<&str> = finished(&runs, "load")
        .iter()
        .filter(|r| r["status"] == "success")
        .map(|r| r["scheduled_for"].as_str().unwrap())
        .collect();
    fires.sort();
    assert_eq!(fires.len(), 2, "{runs:#?}");
    assert!(fires[0].starts_with("2026-12-01T02:00"), "{fires:?}");
    assert!(fires[1].starts_with("2026-12-02T02:00"), "{fires:?}");
    // None of load's starts was dropped as "already running".
    assert!(
        !finished(&runs, "load")
            .iter()
            .any(|r| r["status"] == "skipped"),
        "{runs:#?}"
    );
}

#[test]
fn a_fan_in_runs_once_after_all_its_tasks_under_the_daemon() {
    let env = TestEnv::builder().state("state.db").config_in_cwd().build();
    let trail = env.join("trail").display().to_string();
    env.write(
        "tasks.toml",
        &format!(
            r#"
[settings]
backend = "embedded"
timezone = "UTC"

[tasks.extract_a]
shell = "sleep 1; echo a >> '{trail}'"
schedule = "* * * * *"

[tasks.extract_b]
shell = "sleep 3; echo b >> '{trail}'"
schedule = "* * * * *"

[tasks.load]
shell = "echo load >> '{trail}'"
after = ["extract_a", "extract_b"]
on_success = ["publish"]

[tasks.publish]
shell = "echo publish >> '{trail}'"
"#
        ),
    );
    env.orc_ok_text(&["apply", "--auto-approve"]);
    let mut daemon = env
        .command(&["daemon"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let runs = std::panic::catch_unwind(|| {
        wait_for(&env, Duration::from_secs(150), |runs| {
            !finished(runs, "publish").is_empty()
        })
    });
    let _ = daemon.kill();
    let _ = daemon.wait();
    let runs = runs.unwrap_or_else(|e| std::panic::resume_unwind(e));
    let publish = finished(&runs, "publish")[0];
    let fire = publish["scheduled_for"].clone();
    let of_fire = |task: &str| -> Vec<&Value> {
        runs.iter()
            .filter(|r| r["task"] == task && r["scheduled_for"] == fire)
            .collect()
    };
    let (a, b, load) = (of_fire("extract_a"), of_fire("extract_b"), of_fire("load"));
    assert_eq!(
        (a.len(), b.len(), load.len()),
        (1, 1, 1),
        "one run each for the fire: {runs:#?}"
    );
    assert_eq!(load[0]["status"], "success", "{runs:#?}");
    assert_eq!(load[0]["trigger"], "chain");
    // Started by the first to succeed (a), it waited for b.
    assert_eq!(load[0]["upstream"], a[0]["id"], "{runs:#?}");
    let at = |r: &Value, key: &str| r[key].as_str().unwrap().parse::<jiff::Timestamp>().unwrap();
    assert!(
        at(load[0], "finished_at") >= at(b[0], "finished_at"),
        "{runs:#?}"
    );
    assert_eq!(publish["upstream"], load[0]["id"]);
    let trail = std::fs::read_to_string(env.join("trail")).unwrap();
    assert!(trail.starts_with("a\nb\nload\npublish\n"), "{trail}");
}

#[test]
fn a_fan_in_gives_up_at_after_timeout_and_is_skipped_when_one_failed() {
    let receiver = Receiver::start(&[]);
    let env = TestEnv::new();
    env.write_config(&format!(
        r#"
[settings]
backend = "embedded"

[notify.ops]
on = ["failure"]
webhook = {{ url = "{}" }}

[tasks.x]
shell = "true"

[tasks.y]
shell = "test -f fixed"
schedule = "0 * * * *"

[tasks.join]
shell = "echo joined >> joined"
after = ["x", "y"]
after_timeout = "2s"
notify = ["ops"]
"#,
        receiver.url("/hook")
    ));
    env.orc_ok_text(&["apply", "--auto-approve"]);
    // y never runs for this fire: join gives up after 2 s, and is alerted.
    let first = "2026-12-07T06:00:00Z";
    env.orc_ok_text(&[
        "run",
        "x",
        "--trigger",
        "scheduled",
        "--scheduled-for",
        first,
    ]);
    let runs = wait_for(&env, Duration::from_secs(20), |runs| {
        !finished(runs, "join").is_empty()
    });
    let join = finished(&runs, "join")[0];
    assert_eq!(join["status"], "failed", "{join}");
    assert!(
        join["reason"].as_str().unwrap().contains("after_timeout: \"y\" had not succeeded for the fire at 2026-12-07T06:00:00.000Z within 2s"),
        "{join}"
    );
    let got = receiver.wait_for(1);
    assert_eq!(got[0].json()["event"], "failure", "{:?}", got);
    assert_eq!(got[0].json()["task"], "join");

    // y fails for the next fire: join does not wait the timeout out, and is skipped.
    let second = "2026-12-07T07:00:00Z";
    let o = env.orc(&[
        "run",
        "y",
        "--trigger",
        "scheduled",
        "--scheduled-for",
        second,
    ]);
    assert_eq!(o.status.code(), Some(1));
    env.orc_ok_text(&[
        "run",
        "x",
        "--trigger",
        "scheduled",
        "--scheduled-for",
        second,
    ]);
    let runs = wait_for(&env, Duration::from_secs(20), |runs| {
        finished(runs, "join").len() == 2
    });
    let join = finished(&runs, "join")[0];
    assert_eq!(join["status"], "skipped", "{join}");
    assert!(
        join["reason"]
            .as_str()
            .unwrap()
            .contains("\"y\" ended failed"),
        "{join}"
    );
    assert!(!env.path("joined").exists());

    // y fixed and run again for that fire: join runs for it then.
    std::fs::write(env.path("fixed"), "").unwrap();
    env.orc_ok_text(&["backfill", "y", "--from", second, "--to", second, "--rerun"]);
    let runs = wait_for(&env, Duration::from_secs(20), |runs| {
        finished(runs, "join").len() == 3
    });
    let join = finished(&runs, "join")[0];
    assert_eq!(join["status"], "success", "{join}");
    assert_eq!(join["scheduled_for"], "2026-12-07T07:00:00.000Z");
    assert_eq!(env.read("joined"), "joined\n");
}

#[test]
fn a_fan_in_of_runs_cron_starts_without_a_fire_time_runs_for_their_fire() {
    let env = TestEnv::new();
    env.write_config(
        r#"
[settings]
backend = "embedded"
timezone = "UTC"

[tasks.a]
shell = "true"
schedule = "* * * * *"

[tasks.b]
shell = "true"
schedule = "* * * * *"

[tasks.both]
shell = "echo both >> both"
after = ["a", "b"]
after_timeout = "20s"

[tasks.paused]
shell = "echo paused >> paused"
enabled = false
after = ["a"]
"#,
    );
    env.orc_ok_text(&["apply", "--auto-approve"]);
    // Both starts within one minute, as cron's would be.
    if jiff::Timestamp::now().as_second().rem_euclid(60) >= 45 {
        std::thread::sleep(Duration::from_secs(20));
    }
    env.orc_ok_text(&["run", "a", "--trigger", "scheduled"]);
    env.orc_ok_text(&["run", "b", "--trigger", "scheduled"]);
    let runs = wait_for(&env, Duration::from_secs(20), |runs| {
        !finished(runs, "both").is_empty()
    });
    let both = finished(&runs, "both")[0];
    assert_eq!(both["status"], "success", "{runs:#?}");
    let a = finished(&runs, "a")[0];
    assert!(a["scheduled_for"].is_string(), "the fire is recorded: {a}");
    assert_eq!(both["scheduled_for"], a["scheduled_for"]);
    // A disabled task is not started by a chain.
    std::thread::sleep(Duration::from_millis(500));
    assert!(finished(&history(&env), "paused").is_empty());
    assert!(!env.path("paused").exists());
}

#[test]
fn chains_that_loop_or_name_nothing_are_refused() {
    let env = TestEnv::new();
    env.write_config(
        r#"
[tasks.a]
command = "true"
on_success = ["b"]

[tasks.b]
command = "true"
on_failure = ["c"]

[tasks.c]
command = "true"
schedule = "06:00"
after = ["a", "lod"]
"#,
    );
    let o = env.orc(&["validate", "--json"]);
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_ne!(o.status.code(), Some(0));
    let messages: Vec<&str> = doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["message"].as_str().unwrap())
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("unknown after \"lod\"")),
        "{doc:#}"
    );
    assert!(
        messages.iter().any(|m| m.contains("takes no schedule")),
        "{doc:#}"
    );
    env.write_config(
        "[tasks.a]\ncommand = \"true\"\non_success = [\"b\"]\n\n[tasks.b]\ncommand = \"true\"\nafter = [\"a\"]\non_failure = [\"a\"]\n",
    );
    let o = env.orc(&["validate"]);
    let text = String::from_utf8_lossy(&o.stderr).to_string();
    assert_ne!(o.status.code(), Some(0), "{text}");
    assert!(text.contains("chain cycle: a -> b -> a"), "{text}");
    assert!(
        text.contains("tasks.toml:8:"),
        "at the edge that closes it: {text}"
    );
}
