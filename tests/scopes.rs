//! One state, many configs: everything recorded belongs to a (backend, folder) scope,
//! so configs with different folders never touch each other; a name two folders
//! share is run with `--folder`; a changed folder is a move; a second config claiming
//! a folder is warned about; a state of the release before scopes migrates in place.

mod common;
use common::TestEnv;

use std::path::Path;
use std::process::Output;

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn ok(dir: &TestEnv, args: &[&str]) -> String {
    let o = dir.orc(args);
    assert!(o.status.success(), "orc {args:?} failed:\n{}", text(&o));
    text(&o)
}

fn json(dir: &TestEnv, args: &[&str]) -> serde_json::Value {
    let o = dir.orc(args);
    assert!(o.status.success(), "orc {args:?} failed:\n{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)))
}

fn apply(dir: &TestEnv, config: &str) -> String {
    ok(
        dir,
        &[
            "apply",
            "--config",
            config,
            "--backend",
            "embedded",
            "--auto-approve",
        ],
    )
}

/// `orc plan --detailed-exitcode`'s code: 0 clean, 2 changes.
fn plan_code(dir: &TestEnv, config: &str) -> (i32, String) {
    let o = dir.orc(&[
        "plan",
        "--config",
        config,
        "--backend",
        "embedded",
        "--detailed-exitcode",
    ]);
    (o.status.code().unwrap_or(-1), text(&o))
}

fn write(dir: &TestEnv, file: &str, folder: &str, tasks: &[(&str, &str)]) {
    let mut text = format!("[settings]\nfolder = \"{folder}\"\n");
    for (name, command) in tasks {
        text.push_str(&format!(
            "\n[tasks.{name}]\ncommand = \"{command}\"\nschedule = \"0 3 * * *\"\n"
        ));
    }
    std::fs::write(dir.join(file), text).unwrap();
}

/// The task names in the embedded registry of `folder`.
fn registry(dir: &TestEnv, folder: &str) -> Vec<String> {
    let path = dir.join(format!("state/registry/{folder}.json"));
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Vec::new();
    };
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    value["tasks"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

#[test]
fn two_configs_with_different_folders_never_touch_each_other() {
    let env = TestEnv::builder().config_in_cwd().build();
    let dir = &env;
    write(dir, "a.toml", "A", &[("a1", "echo a1")]);
    write(dir, "b.toml", "B", &[("b1", "echo b1")]);
    apply(dir, "a.toml");

    // b's plan sees only its own folder: a1 is neither "deleted outside orc" nor
    // to be destroyed.
    let (code, plan) = plan_code(dir, "b.toml");
    assert_eq!(code, 2, "{plan}");
    assert!(!plan.contains("a1"), "{plan}");
    assert!(
        plan.contains("1 to add, 0 to change, 0 to destroy"),
        "{plan}"
    );
    apply(dir, "b.toml");

    // Both plan clean, both registries keep their task, both tasks run.
    for config in ["a.toml", "b.toml"] {
        let (code, plan) = plan_code(dir, config);
        assert_eq!(code, 0, "{config}: {plan}");
    }
    assert_eq!(registry(dir, "A"), ["a1"]);
    assert_eq!(registry(dir, "B"), ["b1"]);
    assert!(ok(dir, &["run", "a1"]).contains("success"));
    let runs = json(dir, &["history", "--json"]);
    assert_eq!(runs[0]["task"], "a1");
    assert_eq!(runs[0]["folder"], "A");

    // Every scheduler entry passes its folder, so a scheduled run is never ambiguous.
    let entry = std::fs::read_to_string(dir.join("state/registry/A.json")).unwrap();
    assert!(
        entry.contains("\"--folder\",\n        \"A\""),
        "the registry entry does not pass its folder:\n{entry}"
    );

    // status shows the folder once there is more than one.
    let status = ok(dir, &["status"]);
    assert!(status.starts_with("FOLDER"), "{status}");
    let rows = json(dir, &["status", "--json"]);
    let folders: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["folder"].as_str().unwrap())
        .collect();
    assert_eq!(folders, ["A", "B"]);

    // So do the dashboard and the API.
    let (_server, base, token) = common::serve(&dir.join("state"));
    let auth = format!("Bearer {token}");
    let mut page = ureq::get(&format!("{base}/"))
        .header("Authorization", &auth)
        .call()
        .unwrap();
    let body = page.body_mut().read_to_string().unwrap();
    assert!(
        body.contains("· folder A") && body.contains("· folder B"),
        "{body}"
    );
    let mut api = ureq::get(&format!("{base}/api/tasks"))
        .header("Authorization", &auth)
        .call()
        .unwrap();
    let tasks: serde_json::Value =
        serde_json::from_str(&api.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(tasks[0]["folder"], "A", "{tasks}");
}

#[test]
fn one_folder_shows_no_folder_column() {
    let env = TestEnv::builder().config_in_cwd().build();
    let dir = &env;
    write(dir, "a.toml", "A", &[("a1", "echo a1")]);
    apply(dir, "a.toml");
    ok(dir, &["run", "a1"]);
    assert!(ok(dir, &["status"]).starts_with("NAME"));
    let history = ok(dir, &["history"]);
    assert!(!history.contains("FOLDER"), "{history}");
}

#[test]
fn a_name_in_two_folders_is_run_with_its_folder() {
    let env = TestEnv::builder().config_in_cwd().build();
    let dir = &env;
    write(dir, "a.toml", "A", &[("load", "echo from-a")]);
    write(dir, "b.toml", "B", &[("load", "echo from-b")]);
    apply(dir, "a.toml");
    apply(dir, "b.toml");

    let o = dir.orc(&["run", "load"]);
    assert!(!o.status.success());
    let err = text(&o);
    assert!(
        err.contains("folder \"A\"") && err.contains("folder \"B\"") && err.contains("--folder"),
        "{err}"
    );
    assert!(ok(dir, &["run", "load", "--folder", "B"]).contains("success"));
    // The run is B's: its log says so, and A's history is untouched.
    assert!(ok(dir, &["logs", "load", "--folder", "B"]).contains("from-b"));
    let o = dir.orc(&["logs", "load"]);
    assert!(
        !o.status.success() && text(&o).contains("more than one scope"),
        "{}",
        text(&o)
    );
    let a_runs = json(dir, &["history", "--json", "--folder", "A"]);
    assert_eq!(a_runs.as_array().unwrap().len(), 0, "{a_runs}");
    let b_runs = json(dir, &["history", "--json", "--folder", "B"]);
    assert_eq!(b_runs.as_array().unwrap().len(), 1, "{b_runs}");
    // A folder that does not have the name is an error, never another folder's task.
    let o = dir.orc(&["run", "load", "--folder", "Nope"]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("no task \"load\" in folder \"Nope\""),
        "{}",
        text(&o)
    );
    let o = dir.orc(&["run", "load", "--folder", "A", "--backend", "cron"]);
    assert!(!o.status.success(), "{}", text(&o));
    let runs = json(dir, &["history", "--json"]);
    assert_eq!(runs.as_array().unwrap().len(), 1, "{runs}");
    // The API answers such a name with 409, naming both.
    let (_server, base, token) = common::serve(&dir.join("state"));
    let auth = format!("Bearer {token}");
    match ureq::get(&format!("{base}/api/tasks/load"))
        .header("Authorization", &auth)
        .call()
    {
        Err(ureq::Error::StatusCode(code)) => assert_eq!(code, 409),
        other => panic!("expected 409, got {other:?}"),
    }
    // The scheduler's own call names the folder and runs.
    let o = dir.orc(&[
        "run",
        "load",
        "--folder",
        "A",
        "--backend",
        "embedded",
        "--trigger",
        "scheduled",
    ]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn a_changed_folder_moves_the_tasks_with_their_history() {
    let env = TestEnv::builder().config_in_cwd().build();
    let dir = &env;
    write(
        dir,
        "a.toml",
        "A",
        &[("keep", "echo k"), ("gone", "echo g")],
    );
    apply(dir, "a.toml");
    ok(dir, &["run", "keep"]);

    write(dir, "a.toml", "A2", &[("keep", "echo k")]);
    let (code, plan) = plan_code(dir, "a.toml");
    assert_eq!(code, 2, "{plan}");
    assert!(
        plan.contains("the folder changed from \"A\" to \"A2\""),
        "{plan}"
    );
    assert!(
        plan.contains("keep will move from folder \"A\" to \"A2\""),
        "{plan}"
    );
    assert!(plan.contains("gone will be destroyed"), "{plan}");
    assert!(!plan.contains("deleted outside orc"), "{plan}");
    let machine = json(
        dir,
        &[
            "plan",
            "--config",
            "a.toml",
            "--backend",
            "embedded",
            "--json",
        ],
    );
    assert_eq!(machine["moved_from"], "A");
    assert_eq!(machine["changes"][1]["action"], "move", "{machine}");

    apply(dir, "a.toml");
    assert_eq!(registry(dir, "A"), Vec::<String>::new());
    assert_eq!(registry(dir, "A2"), ["keep"]);
    let (code, plan) = plan_code(dir, "a.toml");
    assert_eq!(code, 0, "{plan}");
    // The history moved with the task.
    let runs = json(dir, &["history", "--json", "keep"]);
    assert_eq!(runs.as_array().unwrap().len(), 1, "{runs}");
    assert_eq!(runs[0]["folder"], "A2");
    let rows = json(dir, &["status", "--json"]);
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");
    assert_eq!(rows[0]["folder"], "A2");
    assert_eq!(rows[0]["last_result"], "success");
}

#[test]
fn a_second_config_claiming_a_folder_is_warned_about() {
    let env = TestEnv::builder().config_in_cwd().build();
    let dir = &env;
    write(dir, "first.toml", "Shared", &[("one", "echo 1")]);
    write(dir, "second.toml", "Shared", &[("two", "echo 2")]);
    apply(dir, "first.toml");
    let (_, plan) = plan_code(dir, "second.toml");
    let first = std::fs::canonicalize(dir.join("first.toml")).unwrap();
    assert!(plan.contains("Warning:"), "{plan}");
    assert!(
        plan.contains(&format!("was last applied from {}", first.display())),
        "{plan}"
    );
    let machine = json(
        dir,
        &[
            "plan",
            "--config",
            "second.toml",
            "--backend",
            "embedded",
            "--json",
        ],
    );
    assert_eq!(machine["warnings"].as_array().unwrap().len(), 1);
    // The config that applied it last gets no warning.
    let (_, plan) = plan_code(dir, "first.toml");
    assert!(!plan.contains("Warning:"), "{plan}");
}

#[test]
fn a_state_of_the_release_before_scopes_migrates_in_place() {
    // tests/fixtures/state-v5.db was made by the release before scopes (schema 5):
    // folder "Sales", tasks export and report, one run each, max_concurrent = 3.
    let env = TestEnv::builder().config_in_cwd().build();
    let dir = &env;
    std::fs::create_dir_all(dir.join("state")).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/state-v5.db"),
        dir.join("state/state.db"),
    )
    .unwrap();

    let rows = json(dir, &["status", "--json"]);
    let scopes: Vec<(&str, &str, &str)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["backend"].as_str().unwrap(),
                r["folder"].as_str().unwrap(),
                r["name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        scopes,
        [
            ("embedded", "Sales", "export"),
            ("embedded", "Sales", "report")
        ]
    );
    assert_eq!(rows[0]["last_result"], "success");
    let runs = json(dir, &["history", "--json"]);
    assert_eq!(runs.as_array().unwrap().len(), 2);
    assert!(
        runs.as_array()
            .unwrap()
            .iter()
            .all(|r| r["folder"] == "Sales")
    );

    let db = rusqlite::Connection::open(dir.join("state/state.db")).unwrap();
    let version: i64 = db
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(
        version,
        orc::state::SCHEMA_VERSION,
        "migrated to this build's schema"
    );
    assert!(version >= 12);
    // Queued alerts from before the HTTP targets are mail.
    let channels: Vec<String> = db
        .prepare("SELECT DISTINCT channel FROM notifications")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(channels.iter().all(|c| c == "email"), "{channels:?}");
    // The plan of each apply moved out of the audit row into apply_plans.
    let plan: String = db
        .query_row("SELECT plan FROM apply_plans WHERE apply_id = 1", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(plan.contains("\"folder\""), "{plan}");
    let settings: String = db
        .query_row(
            "SELECT value FROM settings WHERE key = 'runtime:embedded:Sales'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(settings.contains("\"max_concurrent\":3"), "{settings}");
    let folder: String = db
        .query_row("SELECT folder FROM applies WHERE id = 1", [], |r| r.get(0))
        .unwrap();
    assert_eq!(folder, "Sales");
    drop(db);

    // The config that made it plans against its tasks: same names, nothing destroyed.
    std::fs::write(
        dir.join("tasks.toml"),
        "[settings]\nfolder = \"Sales\"\ntimezone = \"UTC\"\nmax_concurrent = 3\n\n\
         [tasks.export]\ncommand = [\"echo\", \"exported\"]\nschedule = \"0 2 * * *\"\n\
         description = \"nightly export\"\n\n\
         [tasks.report]\nshell = \"echo report\"\nschedule = \"30 6 * * MON-FRI\"\n",
    )
    .unwrap();
    let plan = json(
        dir,
        &[
            "plan",
            "--config",
            "tasks.toml",
            "--backend",
            "embedded",
            "--json",
        ],
    );
    // The registry was not copied, so both are re-created; that they are "deleted
    // outside orc" shows the plan found them recorded in the scope.
    assert_eq!(plan["summary"]["destroy"], 0, "{plan}");
    for change in plan["changes"].as_array().unwrap() {
        assert_eq!(change["drift"], "deleted_outside", "{plan}");
    }
    assert_eq!(plan["changes"].as_array().unwrap().len(), 2, "{plan}");
}

#[test]
fn a_move_into_a_folder_another_config_holds_is_refused() {
    let env = TestEnv::builder().config_in_cwd().build();
    let dir = &env;
    write(dir, "mine.toml", "B", &[("hello", "echo mine")]);
    write(dir, "theirs.toml", "C", &[("hello", "echo theirs")]);
    apply(dir, "mine.toml");
    apply(dir, "theirs.toml");
    write(dir, "mine.toml", "C", &[("hello", "echo mine")]);
    let o = dir.orc(&["plan", "--config", "mine.toml", "--backend", "embedded"]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("this config's tasks are in folder \"B\"")
            && text(&o).contains("would mix two configs' tasks"),
        "{}",
        text(&o)
    );
    let o = dir.orc(&[
        "apply",
        "--config",
        "mine.toml",
        "--backend",
        "embedded",
        "--auto-approve",
    ]);
    assert!(!o.status.success(), "{}", text(&o));
    // Nothing moved: each folder still holds its own config's task.
    assert_eq!(registry(dir, "B"), ["hello"]);
    assert_eq!(registry(dir, "C"), ["hello"]);
}
