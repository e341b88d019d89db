//! The human plan speaks tasks.toml: values as the file writes them, only what is set
//! on a create, every set field on a re-create; the JSON plan keeps the machine form.

mod common;
use common::TestEnv;

fn plan(dir: &TestEnv) -> String {
    let o = dir.orc(&["plan", "--backend", "embedded"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn apply(dir: &TestEnv) {
    let o = dir.orc(&["apply", "--backend", "embedded", "--auto-approve"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// The body of `task "NAME" { ... }` in a human plan.
fn body<'a>(plan: &'a str, name: &str) -> Vec<&'a str> {
    let start = format!("task \"{name}\" {{");
    plan.lines()
        .skip_while(|l| !l.contains(&start))
        .skip(1)
        .take_while(|l| l.trim() != "}")
        .collect()
}

const CONFIG: &str = r#"[settings]
history_retention = "14d"

[tasks.heartbeat]
command = ["true"]

[tasks.etl]
shell = "cd /srv && ./etl.sh >> /var/log/etl.log 2>&1"
schedule = "0 2 * * *"
timeout = "2h"
dependencies = ["heartbeat", "file:in/*.csv"]
"#;

#[test]
fn a_create_lists_what_the_file_sets_in_its_words() {
    let env = TestEnv::builder().config_in_cwd().build();
    let dir = &env;
    std::fs::write(dir.join("tasks.toml"), CONFIG).unwrap();
    let text = plan(dir);
    let etl = body(&text, "etl");
    assert_eq!(
        etl.iter().map(|l| l.trim()).collect::<Vec<_>>(),
        [
            "+ dependencies = [\"heartbeat\", \"file:in/*.csv\"]",
            "+ schedule = \"0 2 * * *\"",
            "+ shell = \"cd /srv && ./etl.sh >> /var/log/etl.log 2>&1\"",
            "+ timeout = \"2h\"",
        ],
        "{text}"
    );
    assert_eq!(
        body(&text, "heartbeat")
            .iter()
            .map(|l| l.trim())
            .collect::<Vec<_>>(),
        ["+ command = [\"true\"]"],
        "{text}"
    );
    for internal in [
        "action =",
        "\"kind\"",
        "env = {}",
        "hosts = []",
        "description = null",
        "7200",
        "2592000",
    ] {
        assert!(!text.contains(internal), "{internal} in:\n{text}");
    }
    assert!(text.contains("+ history_retention = \"14d\""), "{text}");

    // The JSON plan keeps the machine form.
    let o = dir.orc(&["plan", "--backend", "embedded", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let etl = json["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "etl")
        .unwrap();
    let field = |name: &str| {
        etl["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["field"] == name)
            .unwrap_or_else(|| panic!("no field {name}: {etl}"))["after"]
            .clone()
    };
    assert_eq!(field("timeout"), "7200");
    assert!(field("action").as_str().unwrap().contains("\"shell\""));
}

/// CONFIG applied, then its timeout changed in the file (not applied).
fn applied_then_timeout_changed() -> TestEnv {
    let env = TestEnv::builder().config_in_cwd().build();
    std::fs::write(env.join("tasks.toml"), CONFIG).unwrap();
    apply(&env);
    std::fs::write(
        env.join("tasks.toml"),
        CONFIG.replace("timeout = \"2h\"", "timeout = \"90m\""),
    )
    .unwrap();
    env
}

#[test]
fn an_update_diffs_in_the_files_words() {
    let env = applied_then_timeout_changed();
    let dir = &env;
    let text = plan(dir);
    let etl: Vec<&str> = body(&text, "etl").iter().map(|l| l.trim()).collect();
    assert_eq!(
        etl[..2],
        ["- timeout = \"2h\"", "+ timeout = \"1h30m\""],
        "{text}"
    );
    assert!(etl[2].starts_with("# ("), "{text}");
}

#[test]
fn a_task_deleted_by_hand_is_recreated_with_every_set_field() {
    let env = TestEnv::builder().config_in_cwd().build();
    let dir = &env;
    std::fs::write(dir.join("tasks.toml"), CONFIG).unwrap();
    apply(dir);
    // Someone removes etl from the registry by hand.
    let registry = dir.join("state/registry/Orc.json");
    let mut value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&registry).unwrap()).unwrap();
    value["tasks"].as_object_mut().unwrap().remove("etl");
    std::fs::write(&registry, value.to_string()).unwrap();

    let text = plan(dir);
    assert!(text.contains("etl was deleted outside orc"), "{text}");
    let etl: Vec<&str> = body(&text, "etl").iter().map(|l| l.trim()).collect();
    assert_eq!(etl.len(), 4, "{text}");
    assert!(etl.contains(&"+ timeout = \"2h\""), "{text}");
}

/// The audit row of an apply names each new task without its fields (its definition
/// is the `tasks` row that apply wrote), while `orc plan --json` lists them; an
/// update's audit row keeps the fields it changed.
#[test]
fn the_audit_row_names_new_tasks_and_keeps_updated_fields() {
    let env = applied_then_timeout_changed();
    let dir = &env;
    apply(dir);
    let db = dir.db();
    let audit = |id: i64| -> serde_json::Value {
        let plan: String = db
            .query_row(
                "SELECT plan FROM apply_plans WHERE apply_id = ?1",
                [id],
                |r| r.get(0),
            )
            .unwrap();
        serde_json::from_str(&plan).unwrap()
    };
    let etl = |plan: &serde_json::Value| {
        plan["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "etl")
            .cloned()
            .unwrap_or_else(|| panic!("no etl in {plan}"))
    };
    let created = etl(&audit(1));
    assert_eq!(created["action"], "create", "{created}");
    assert!(created.get("fields").is_none(), "{created}");
    let updated = etl(&audit(2));
    assert_eq!(updated["action"], "update", "{updated}");
    let fields = updated["fields"].as_array().unwrap();
    assert_eq!(fields.len(), 1, "{updated}");
    assert_eq!(fields[0]["field"], "timeout");
    assert_eq!(fields[0]["before"], "7200");
    assert_eq!(fields[0]["after"], "5400");
    // The definition the create wrote is what the update's `before` starts from.
    let definition: String = db
        .query_row("SELECT definition FROM tasks WHERE name = 'etl'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(definition.contains("\"timeout\":5400"), "{definition}");
}

#[test]
fn a_create_shows_a_tasks_own_zone_and_its_limits_as_written() {
    let env = TestEnv::builder().config_in_cwd().build();
    std::fs::write(
        env.join("tasks.toml"),
        "[settings]\ntimezone = \"UTC\"\n\n\
         [tasks.tokyo]\ncommand = [\"true\"]\nschedule = \"0 9 * * *\"\n\
         timezone = \"Asia/Tokyo\"\nmemory_max = \"512MB\"\ncpu_max = \"50%\"\n\n\
         [tasks.home]\ncommand = [\"true\"]\nschedule = \"0 9 * * *\"\n",
    )
    .unwrap();
    let text = plan(&env);
    let tokyo: Vec<&str> = body(&text, "tokyo").iter().map(|l| l.trim()).collect();
    for line in [
        "+ timezone = \"Asia/Tokyo\"",
        "+ memory_max = \"512MB\"",
        "+ cpu_max = \"50%\"",
    ] {
        assert!(tokyo.contains(&line), "{line} missing:\n{text}");
    }
    // The zone of [settings] is shown there, not in every task.
    assert!(
        !body(&text, "home").iter().any(|l| l.contains("timezone")),
        "{text}"
    );
}
