//! Plan and apply on the embedded backend: the three-way semantics, output formats,
//! renames, hosts, targets, destroy and import, against real SQLite files.

use std::path::PathBuf;
use std::process::Output;

mod common;
use common::TestEnv;

/// What these tests read and change beside orc: the embedded registry, and orc on
/// another host.
trait ApplyEnv {
    fn registry(&self) -> PathBuf;
    fn orc_as(&self, host: &str, args: &[&str]) -> Output;
    fn registry_json(&self) -> serde_json::Value;
    fn edit_registry(&self, f: impl FnOnce(&mut serde_json::Value));
}

impl ApplyEnv for TestEnv {
    fn registry(&self) -> PathBuf {
        self.path("state/registry/Orc.json")
    }

    fn orc_as(&self, host: &str, args: &[&str]) -> Output {
        self.command(args)
            .env("ORC_HOSTNAME", host)
            .output()
            .unwrap()
    }

    fn registry_json(&self) -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(self.registry()).unwrap()).unwrap()
    }

    fn edit_registry(&self, f: impl FnOnce(&mut serde_json::Value)) {
        let mut v = self.registry_json();
        f(&mut v);
        std::fs::write(self.registry(), serde_json::to_string_pretty(&v).unwrap()).unwrap();
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

const TWO_TASKS: &str = r#"
[tasks.extract]
command = "python extract.py"
schedule = "0 5 * * *"

[tasks.load]
command = ["python", "load.py"]
schedule = "30 5 * * MON-FRI"
dependencies = ["extract"]
"#;

fn apply_ok(env: &TestEnv) {
    let o = env.orc(&["apply", "--auto-approve"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
}

#[test]
fn create_then_no_changes_then_update_then_delete() {
    let env = TestEnv::new();
    env.write_config(TWO_TASKS);

    let o = env.orc(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    let out = text(&o);
    assert!(
        out.contains("# extract will be created") && out.contains("+ task \"extract\""),
        "{out}"
    );
    assert!(
        out.contains("Plan: 2 to add, 0 to change, 0 to destroy."),
        "{out}"
    );
    assert!(!env.state().exists(), "plan creates no state");

    apply_ok(&env);
    let o = env.orc(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).contains("No changes."));
    assert_eq!(env.registry_json()["tasks"].as_object().unwrap().len(), 2);

    env.write_config(&TWO_TASKS.replace("0 5 * * *", "15 4 * * *"));
    let o = env.orc(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&o), 2);
    let out = text(&o);
    assert!(out.contains("# extract will be updated in place"), "{out}");
    assert!(out.contains("- schedule = \"0 5 * * *\""), "{out}");
    assert!(out.contains("+ schedule = \"15 4 * * *\""), "{out}");
    assert!(out.contains("unchanged fields hidden"), "{out}");
    assert!(
        out.contains("Plan: 0 to add, 1 to change, 0 to destroy."),
        "{out}"
    );
    apply_ok(&env);
    assert!(
        env.registry_json()["tasks"]["extract"]["trigger"]
            .as_str()
            .unwrap()
            .starts_with("15 4 * * *")
    );

    env.write_config(
        "[tasks.extract]\ncommand = \"python extract.py\"\nschedule = \"15 4 * * *\"\n",
    );
    let o = env.orc(&["plan"]);
    assert!(
        text(&o).contains("# load will be destroyed"),
        "{}",
        text(&o)
    );
    assert!(text(&o).contains("Plan: 0 to add, 0 to change, 1 to destroy."));
    apply_ok(&env);
    assert!(env.registry_json()["tasks"].get("load").is_none());
    let rows: i64 = env
        .db()
        .query_row("SELECT COUNT(*) FROM tasks", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 1);
}

#[test]
fn a_change_the_scheduler_does_not_hold_updates_state_only() {
    let env = TestEnv::new();
    env.write_config(TWO_TASKS);
    apply_ok(&env);
    let before = std::fs::read(env.registry()).unwrap();
    env.write_config(&TWO_TASKS.replace(
        "command = \"python extract.py\"",
        "command = \"python extract.py\"\nretry_count = 3",
    ));
    let o = env.orc(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&o), 2);
    assert!(text(&o).contains("state only"), "{}", text(&o));
    assert!(text(&o).contains("+ retry_count = 3"), "{}", text(&o));
    apply_ok(&env);
    assert_eq!(
        std::fs::read(env.registry()).unwrap(),
        before,
        "the scheduler was not written"
    );
    let def: String = env
        .db()
        .query_row(
            "SELECT definition FROM tasks WHERE name = 'extract'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(def.contains("\"retry_count\":3"), "{def}");
}

#[test]
fn drift_outside_orc_is_named_and_repaired() {
    let env = TestEnv::new();
    env.write_config(TWO_TASKS);
    apply_ok(&env);

    env.edit_registry(|v| v["tasks"]["extract"]["trigger"] = "0 23 * * * (local)".into());
    env.edit_registry(|v| {
        v["tasks"].as_object_mut().unwrap().remove("load");
    });
    let o = env.orc(&["plan", "--detailed-exitcode", "--json"]);
    assert_eq!(code(&o), 2);
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let changes = plan["changes"].as_array().unwrap();
    let by_name = |n: &str| changes.iter().find(|c| c["name"] == n).unwrap().clone();
    assert_eq!(by_name("extract")["drift"], "changed_outside");
    assert_eq!(by_name("extract")["action"], "update");
    assert_eq!(by_name("extract")["fields"][0]["field"], "trigger");
    assert_eq!(by_name("load")["drift"], "deleted_outside");
    assert_eq!(by_name("load")["action"], "create");

    let o = env.orc(&["plan"]);
    let out = text(&o);
    assert!(
        out.contains("Note: Tasks have changed outside orc"),
        "{out}"
    );
    assert!(
        out.contains("# extract was changed outside orc:\n      trigger: ")
            && out.contains(" -> 0 23 * * * (local)\n"),
        "{out}"
    );
    assert!(out.contains("# load was deleted outside orc"), "{out}");

    apply_ok(&env);
    assert_eq!(code(&env.orc(&["plan", "--detailed-exitcode"])), 0);
}

#[test]
fn unmanaged_tasks_are_reported_and_left_alone() {
    let env = TestEnv::new();
    env.write_config(TWO_TASKS);
    apply_ok(&env);
    env.edit_registry(|v| {
        v["tasks"]["handmade"] = serde_json::json!({
            "name": "handmade", "trigger": "0 1 * * *", "command": ["backup.sh", "--all"], "enabled": true
        });
    });
    let o = env.orc(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&o), 0, "unmanaged is not a change: {}", text(&o));
    assert!(text(&o).contains("? handmade (0 1 * * *)"), "{}", text(&o));
    apply_ok(&env);
    assert!(
        env.registry_json()["tasks"].get("handmade").is_some(),
        "apply leaves it alone"
    );

    // Import writes it into tasks.toml, keeping what is there, and apply adopts it.
    let o = env.orc(&[
        "import",
        "handmade",
        "--into",
        env.config().to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let config = std::fs::read_to_string(env.config()).unwrap();
    assert!(
        config.starts_with(TWO_TASKS),
        "existing text is kept:\n{config}"
    );
    assert!(
        config.contains("[tasks.handmade]")
            && config.contains("command = [\"backup.sh\", \"--all\"]"),
        "{config}"
    );
    let o = env.orc(&["plan", "--json"]);
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(plan["unmanaged"], serde_json::json!([]));
    assert_eq!(plan["changes"][0]["name"], "handmade");
    apply_ok(&env);
    assert_eq!(code(&env.orc(&["plan", "--detailed-exitcode"])), 0);
}

/// The embedded registry holds orc's schedule followed by the zone, `0 1 * * * (UTC)`:
/// import reads that format (the trigger orc itself wrote, copied to a hand-made
/// entry), keeps the zone, and apply then leaves the trigger exactly as it was. A zone
/// the config's tasks do not run in is refused, naming the task, with nothing written.
#[test]
fn import_reads_the_embedded_trigger_with_its_zone() {
    let env = TestEnv::new();
    let config = format!("[settings]\ntimezone = \"Europe/Berlin\"\n{TWO_TASKS}");
    env.write_config(&config);
    apply_ok(&env);
    let written = env.registry_json()["tasks"]["extract"]["trigger"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(written, "0 5 * * * (Europe/Berlin)");
    env.edit_registry(|v| {
        v["tasks"]["handmade"] = serde_json::json!({
            "name": "handmade", "trigger": written, "command": ["backup.sh", "--all"], "enabled": true
        });
        v["tasks"]["elsewhere"] = serde_json::json!({
            "name": "elsewhere", "trigger": "0 5 * * * (America/New_York)", "command": ["x"], "enabled": true
        });
    });
    let path = env.config();
    let into = path.to_str().unwrap();

    // The other zone: refused, naming the task and the zones; the file is untouched.
    let o = env.orc(&["import", "--all", "--into", into]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    let err = text(&o);
    assert!(
        err.contains("task \"elsewhere\"")
            && err.contains("America/New_York")
            && err.contains("Europe/Berlin"),
        "{err}"
    );
    assert!(!err.contains("6 fields"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), config);

    let o = env.orc(&["import", "handmade", "--into", into]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let imported = std::fs::read_to_string(&path).unwrap();
    let doc: toml::Table = imported.parse().unwrap();
    assert_eq!(
        doc["tasks"]["handmade"]["schedule"].as_str(),
        Some("0 5 * * *"),
        "{imported}"
    );
    apply_ok(&env);
    assert_eq!(
        env.registry_json()["tasks"]["handmade"]["trigger"],
        "0 5 * * * (Europe/Berlin)"
    );
    assert_eq!(code(&env.orc(&["plan", "--detailed-exitcode"])), 0);
}

/// `--into` appends after everything in the file, its last comment too, without a
/// final newline even: the old file is a byte-for-byte prefix of the new one, as
/// with `orc new`.
#[test]
fn import_into_keeps_the_file_as_a_byte_prefix() {
    let env = TestEnv::new();
    let config = format!("{TWO_TASKS}\n# trailing comment, kept last before the import");
    env.write_config(&config);
    apply_ok(&env);
    env.edit_registry(|v| {
        v["tasks"]["handmade"] = serde_json::json!({
            "name": "handmade", "trigger": "0 1 * * *", "command": ["backup.sh"], "enabled": true
        });
    });
    // A file that has the task already: refused, naming it, and left as it is.
    let other = env.dir().join("other.toml");
    let taken = "[tasks.handmade]\ncommand = \"x\"\n";
    std::fs::write(&other, taken).unwrap();
    let o = env.orc(&["import", "--all", "--into", other.to_str().unwrap()]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(
        text(&o).contains("[tasks.handmade] is already in"),
        "{}",
        text(&o)
    );
    assert_eq!(std::fs::read_to_string(&other).unwrap(), taken);

    let o = env.orc(&["import", "--all", "--into", env.config().to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let new = std::fs::read_to_string(env.config()).unwrap();
    assert!(
        new.starts_with(&config),
        "the old text is not a prefix:\n{new}"
    );
    let added = &new[config.len()..];
    assert!(added.contains("[tasks.handmade]"), "{new}");
    assert!(!added.contains("trailing comment"), "{new}");
    let doc: toml::Table = new.parse().unwrap();
    assert_eq!(
        doc["tasks"]["handmade"]["schedule"].as_str(),
        Some("0 1 * * *")
    );
    apply_ok(&env);
    assert_eq!(code(&env.orc(&["plan", "--detailed-exitcode"])), 0);
}

#[test]
fn renamed_from_moves_state_and_history() {
    let env = TestEnv::new();
    env.write_config(TWO_TASKS);
    apply_ok(&env);
    env.db()
        .execute("INSERT INTO runs (task, folder, started_at, status) VALUES ('extract', 'Orc', '2026-11-01T05:00:00Z', 'succeeded')", [])
        .unwrap();
    env.write_config(
        &TWO_TASKS
            .replace(
                "[tasks.extract]",
                "[tasks.extract_sales]\nrenamed_from = \"extract\"",
            )
            .replace(
                "dependencies = [\"extract\"]",
                "dependencies = [\"extract_sales\"]",
            ),
    );
    let o = env.orc(&["plan", "--json"]);
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rename = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "extract_sales")
        .unwrap()
        .clone();
    assert_eq!(rename["action"], "rename");
    assert_eq!(rename["renamed_from"], "extract");
    assert!(text(&env.orc(&["plan"])).contains("# extract will be renamed to extract_sales"));
    assert_eq!(plan["summary"]["destroy"], 0, "a rename destroys nothing");
    apply_ok(&env);
    let db = env.db();
    let history: String = db
        .query_row("SELECT task FROM runs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(history, "extract_sales");
    let names: Vec<String> = db
        .prepare("SELECT name FROM tasks ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(names, ["extract_sales", "load"]);
    assert!(env.registry_json()["tasks"].get("extract").is_none());
    assert_eq!(
        code(&env.orc(&["plan", "--detailed-exitcode"])),
        0,
        "renamed_from may stay in the file"
    );
}

#[test]
fn hosts_limit_tasks_to_named_machines() {
    let env = TestEnv::new();
    env.write_config(&format!(
        "{TWO_TASKS}\n[tasks.fileserver_only]\ncommand = \"x\"\nhosts = [\"srv-01\"]\n"
    ));
    let o = env.orc(&["plan"]);
    assert!(
        text(&o).contains("Skipped on this host (testhost):\n  fileserver_only (hosts = srv-01)"),
        "{}",
        text(&o)
    );
    apply_ok(&env);
    assert!(
        env.registry_json()["tasks"]
            .get("fileserver_only")
            .is_none()
    );

    let other = TestEnv::new();
    other.write_config(&format!(
        "{TWO_TASKS}\n[tasks.fileserver_only]\ncommand = \"x\"\nhosts = [\"srv-01\"]\n"
    ));
    let o = other.orc_as("SRV-01", &["apply", "--auto-approve"]);
    assert_eq!(code(&o), 0);
    assert!(
        other.registry_json()["tasks"]
            .get("fileserver_only")
            .is_some(),
        "host names match case-insensitively"
    );
}

#[test]
fn target_limits_plan_and_apply() {
    let env = TestEnv::new();
    env.write_config(TWO_TASKS);
    let o = env.orc(&["apply", "--auto-approve", "--target", "extract"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let tasks = env.registry_json()["tasks"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect::<Vec<_>>();
    assert_eq!(tasks, ["extract"]);
    let o = env.orc(&["plan", "--target", "extract", "--detailed-exitcode"]);
    assert_eq!(code(&o), 0);
    let o = env.orc(&["plan", "--target", "nope"]);
    assert_eq!(code(&o), 1);
    assert!(text(&o).contains("--target nope"));
}

#[test]
fn destroy_removes_managed_tasks_only() {
    let env = TestEnv::new();
    env.write_config(TWO_TASKS);
    apply_ok(&env);
    env.edit_registry(|v| {
        v["tasks"]["handmade"] = serde_json::json!({"name": "handmade", "trigger": null, "command": ["x"], "enabled": true});
    });
    let o = env.orc(&["destroy"]);
    assert_eq!(code(&o), 1, "needs --auto-approve off a terminal");
    let o = env.orc(&["destroy", "--auto-approve"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(
        text(&o).contains("Destroy complete! Tasks: 0 added, 0 changed, 2 destroyed."),
        "{}",
        text(&o)
    );
    let keys: Vec<String> = env.registry_json()["tasks"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(keys, ["handmade"]);
}

#[test]
fn disabling_a_task_is_an_in_place_toggle() {
    let env = TestEnv::new();
    env.write_config(TWO_TASKS);
    apply_ok(&env);
    env.write_config(&TWO_TASKS.replace(
        "schedule = \"0 5 * * *\"",
        "schedule = \"0 5 * * *\"\nenabled = false",
    ));
    let o = env.orc(&["plan", "--json"]);
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        plan["changes"][0]["scheduler_ops"],
        serde_json::json!(["disable"])
    );
    apply_ok(&env);
    assert_eq!(env.registry_json()["tasks"]["extract"]["enabled"], false);
}

#[test]
fn json_plan_has_the_documented_shape() {
    let env = TestEnv::new();
    env.write_config(TWO_TASKS);
    let o = env.orc(&["plan", "--json"]);
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for key in [
        "format_version",
        "backend",
        "folder",
        "host",
        "has_changes",
        "summary",
        "changes",
        "unmanaged",
        "skipped",
    ] {
        assert!(plan.get(key).is_some(), "missing {key}: {plan}");
    }
    assert_eq!(plan["format_version"], "1");
    assert_eq!(plan["backend"], "embedded");
    assert_eq!(
        plan["summary"],
        serde_json::json!({"add": 2, "change": 0, "destroy": 0})
    );
    let c = &plan["changes"][0];
    for key in [
        "name",
        "action",
        "renamed_from",
        "drift",
        "fields",
        "scheduler_ops",
    ] {
        assert!(c.get(key).is_some(), "missing changes[].{key}: {c}");
    }
    assert_eq!(c["scheduler_ops"], serde_json::json!(["create"]));
}

#[test]
fn the_audit_log_records_who_applied_what() {
    let env = TestEnv::new();
    env.write_config(TWO_TASKS);
    apply_ok(&env);
    let (host, outcome, summary, backend): (String, String, String, String) = env
        .db()
        .query_row(
            "SELECT host, outcome, summary, backend FROM applies",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!(
        (host.as_str(), outcome.as_str(), backend.as_str()),
        ("testhost", "succeeded", "embedded")
    );
    assert_eq!(summary, "2 to add, 0 to change, 0 to destroy.");
}

#[test]
fn status_lists_applied_tasks_with_next_run() {
    let env = TestEnv::new();
    env.write_config(TWO_TASKS);
    apply_ok(&env);
    let o = env.orc(&["status", "--json"]);
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["name"], "extract");
    assert_eq!(rows[0]["schedule"], "0 5 * * *");
    assert!(
        rows[0]["next_run"].as_str().unwrap().contains(" 05:00 "),
        "{}",
        rows[0]
    );
    assert_eq!(rows[0]["last_result"], serde_json::Value::Null);
    let o = env.orc(&["status"]);
    let out = text(&o);
    assert!(
        out.starts_with("NAME") && out.contains("LAST RESULT") && out.contains("load"),
        "{out}"
    );
}

#[test]
fn a_saved_plan_remembers_its_config_and_state() {
    let env = TestEnv::new();
    env.write_config(TWO_TASKS);
    let plan_file = env.dir().join("reviewed.plan");
    let o = env.orc(&["plan", "-o", plan_file.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    // Applied from elsewhere, naming only the plan: config and state come from it.
    let elsewhere = TestEnv::builder().config_in_cwd().default_state().build();
    let o = elsewhere.orc(&["apply", plan_file.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(
        text(&o).contains("Apply complete! Tasks: 2 added"),
        "{}",
        text(&o)
    );
    assert_eq!(code(&env.orc(&["plan", "--detailed-exitcode"])), 0);
}

#[test]
fn an_unapproved_apply_off_a_terminal_creates_nothing() {
    let env = TestEnv::new();
    env.write_config(TWO_TASKS);
    let o = env.orc(&["apply"]);
    assert_eq!(code(&o), 1);
    assert!(text(&o).contains("--auto-approve"), "{}", text(&o));
    assert!(!env.state().exists(), "no state database was created");
    assert!(!env.registry().exists(), "no registry was written");
}
