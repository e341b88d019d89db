//! The windows backend end to end, against a Task Scheduler folder kept as files
//! (`ORC_WINDOWS_TASKS_DIR`, the layout of `C:\Windows\System32\Tasks`): apply then
//! plan is "No changes." (also after Windows-style rewriting of the XML), drift names
//! each modelled field, unmanaged tasks are reported and never touched, and every real
//! exported fixture imports, registers as schema-valid XML that fires when the original
//! did, and plans clean.

mod common;
use common::TestEnv;

use std::path::{Path, PathBuf};
use std::process::Command;

use jiff::civil::date;
use jiff::tz::TimeZone;
use orc::backend::windows::read::{ReadAction, ReadSchedule, ReadTask, read_task};
use orc::backend::windows::simulate::fire_times_of;
use orc::backend::windows::xml::{decode, to_utf16};

/// A world whose Task Scheduler is a folder of files (`Tasks`), on this machine's
/// own host name, in Berlin, with `config` as its tasks.toml (found in the folder).
fn new_env(config: &str) -> TestEnv {
    TestEnv::builder()
        .config_in_cwd()
        .real_host()
        .windows_tasks_dir()
        .env("TZ", "Europe/Berlin")
        .env("ORC_LOG", "off")
        .config(config)
        .build()
}

trait WindowsEnv {
    fn folder(&self) -> PathBuf;
    fn ok(&self, args: &[&str]) -> String;
    fn apply(&self) -> String;
    fn plan_json(&self) -> serde_json::Value;
    fn assert_no_changes(&self, why: &str);
    fn read_task_file(&self, name: &str) -> String;
    fn write_task_file(&self, name: &str, xml: &str);
}

impl WindowsEnv for TestEnv {
    fn folder(&self) -> PathBuf {
        self.path("Tasks/Orc")
    }

    fn ok(&self, args: &[&str]) -> String {
        self.orc_ok_text(args)
    }

    fn apply(&self) -> String {
        self.ok(&["apply", "--auto-approve"])
    }

    fn plan_json(&self) -> serde_json::Value {
        let o = self.orc(&["plan", "--json"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap()
    }

    fn assert_no_changes(&self, why: &str) {
        let text = self.ok(&["plan"]);
        assert!(text.contains("No changes."), "{why}:\n{text}");
    }

    fn read_task_file(&self, name: &str) -> String {
        decode(&std::fs::read(self.folder().join(name)).unwrap()).unwrap()
    }

    fn write_task_file(&self, name: &str, xml: &str) {
        std::fs::write(self.folder().join(name), to_utf16(xml)).unwrap();
    }
}

/// One task with every field the backend models.
const FULL: &str = r#"
[settings]
backend = "windows"
timezone = "local"

[tasks.etl]
description = "Nightly load"
command = ["python", "etl.py", "--full"]
schedule = "0 6-9 * * 1-5"
timeout = "30m"
retry_count = 1
overlap = "queue"
catch_up = "2h"
jitter = "5m"
run_level = "highest"

[tasks.report]
command = "report.exe"
schedule = "30 7 1,15 * *"
"#;

fn apply_then_plan_has_no_changes_and_windows_rewrites_are_not_drift() {
    let env = new_env(FULL);
    let out = env.apply();
    assert!(out.contains("2 added"), "{out}");
    let xml = env.read_task_file("etl");
    assert!(xml.contains("<Source>orc</Source>"), "{xml}");
    assert!(xml.contains(r"<URI>\Orc\etl</URI>"), "{xml}");
    env.assert_no_changes("right after apply");

    // What Windows does to a registered task: its own declaration and defaults,
    // other spellings of the same values, elements in another order, UTF-8 text
    // that still claims UTF-16.
    for name in ["etl", "report"] {
        let xml = env.read_task_file(name);
        let rewritten = xml
            .replace("<Source>orc</Source>", "<Date>2026-11-27T10:00:00</Date><Source>orc</Source>")
            .replace("<Interval>PT1H</Interval>", "<Interval>PT60M</Interval>")
            .replace("<UserId>S-1-5-18</UserId>", "<UserId>NT AUTHORITY\\SYSTEM</UserId>")
            .replace(
                "<MultipleInstancesPolicy>",
                "<AllowStartOnDemand>true</AllowStartOnDemand><IdleSettings><StopOnIdleEnd>true</StopOnIdleEnd></IdleSettings><MultipleInstancesPolicy>",
            )
            .replace("<Enabled>true</Enabled>\n      <RandomDelay>", "<RandomDelay>")
            .replace(" version=\"1.2\"", "");
        assert_ne!(rewritten, xml);
        std::fs::write(env.folder().join(name), rewritten.as_bytes()).unwrap();
    }
    env.assert_no_changes("after Windows rewrote the XML");

    // Enable and disable through the config: one scheduler call, the file edited.
    env.write_config(&FULL.replace("jitter = \"5m\"", "jitter = \"5m\"\nenabled = false"));
    let plan = env.plan_json();
    assert_eq!(plan["changes"][0]["scheduler_ops"][0], "disable", "{plan}");
    env.apply();
    let xml = env.read_task_file("etl");
    let settings = &xml[xml.find("<Settings>").unwrap()..xml.find("</Settings>").unwrap()];
    assert!(settings.contains("<Enabled>false</Enabled>"), "{settings}");
    env.assert_no_changes("after disabling");
}

/// Each modelled field changed by hand in the live XML: plan names exactly it.
fn drift_names_each_modelled_field() {
    let env = new_env(FULL);
    env.apply();
    let original = env.read_task_file("etl");
    let settings_enabled = |xml: &str, to: &str| {
        let at = xml.find("<Settings>").unwrap();
        let (head, tail) = xml.split_at(at);
        format!("{head}{}", tail.replacen("<Enabled>true</Enabled>", to, 1))
    };
    type Edit = Box<dyn Fn(&str) -> String>;
    let cases: Vec<(&str, Edit)> = vec![
        (
            "trigger 1",
            Box::new(|x: &str| x.replace("T06:00:00", "T07:00:00")),
        ),
        ("trigger 1", Box::new(|x: &str| x.replace("<Monday/>", ""))),
        (
            "trigger 1",
            Box::new(|x: &str| {
                x.replace("<Interval>PT1H</Interval>", "<Interval>PT30M</Interval>")
            }),
        ),
        (
            "trigger 1",
            Box::new(|x: &str| {
                x.replace(
                    "<RandomDelay>PT5M</RandomDelay>",
                    "<RandomDelay>PT10M</RandomDelay>",
                )
            }),
        ),
        (
            "trigger 1",
            Box::new(|x: &str| {
                x.replacen("<Enabled>true</Enabled>", "<Enabled>false</Enabled>", 1)
            }),
        ),
        (
            "trigger 2",
            Box::new(|x: &str| x.replace("</Triggers>", "<BootTrigger /></Triggers>")),
        ),
        (
            "enabled",
            Box::new(move |x: &str| settings_enabled(x, "<Enabled>false</Enabled>")),
        ),
        (
            "overlap",
            Box::new(|x: &str| x.replace(">Queue<", ">Parallel<")),
        ),
        (
            "start when available",
            Box::new(|x: &str| x.replace("<StartWhenAvailable>true", "<StartWhenAvailable>false")),
        ),
        (
            "time limit",
            Box::new(|x: &str| {
                let at = x.find("<ExecutionTimeLimit>").unwrap();
                let end = x[at..].find("</").unwrap() + at;
                format!("{}<ExecutionTimeLimit>PT72H{}", &x[..at], &x[end..])
            }),
        ),
        (
            "run as",
            Box::new(|x: &str| {
                x.replace(
                    "<UserId>S-1-5-18</UserId>",
                    "<UserId>CONTOSO\\svc</UserId><LogonType>Password</LogonType>",
                )
            }),
        ),
        (
            "run level",
            Box::new(|x: &str| x.replace("HighestAvailable", "LeastPrivilege")),
        ),
        (
            "priority",
            Box::new(|x: &str| x.replace("<Priority>5</Priority>", "<Priority>7</Priority>")),
        ),
        (
            "hidden",
            Box::new(|x: &str| x.replace("<Hidden>false</Hidden>", "<Hidden>true</Hidden>")),
        ),
        (
            "start on battery",
            Box::new(|x: &str| {
                x.replace(
                    "<DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>",
                    "",
                )
            }),
        ),
        (
            "command",
            Box::new(|x: &str| x.replace("run etl ", "run etl --verbose ")),
        ),
        (
            "working directory",
            Box::new(|x: &str| {
                x.replace(
                    "</Arguments>",
                    "</Arguments><WorkingDirectory>C:\\temp</WorkingDirectory>",
                )
            }),
        ),
    ];
    for (field, edit) in &cases {
        let edited = edit(&original);
        assert_ne!(edited, original, "the edit for {field} changed nothing");
        env.write_task_file("etl", &edited);
        let plan = env.plan_json();
        let change = plan["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "etl")
            .unwrap_or_else(|| panic!("no change for {field}: {plan}"));
        assert_eq!(change["drift"], "changed_outside", "{field}: {change}");
        let fields: Vec<&str> = change["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["field"].as_str().unwrap())
            .collect();
        assert_eq!(fields, [*field], "{change}");
        env.write_task_file("etl", &original);
    }

    // The words a person reads.
    env.write_task_file(
        "etl",
        &settings_enabled(
            &original.replace("T06:00:00", "T07:00:00"),
            "<Enabled>false</Enabled>",
        ),
    );
    let text = env.ok(&["plan"]);
    assert!(text.contains("# etl was changed outside orc:"), "{text}");
    assert!(text.contains("      enabled: true -> false\n"), "{text}");
    assert!(
        text.contains("trigger 1: 06:00 to 09:00 every 1h, weekly on Mon-Fri, random delay up to 5m -> 07:00 to 10:00 every 1h"),
        "{text}"
    );
    env.apply();
    env.assert_no_changes("apply repaired the drift");

    std::fs::remove_file(env.folder().join("report")).unwrap();
    let plan = env.plan_json();
    assert_eq!(plan["changes"][0]["drift"], "deleted_outside", "{plan}");
    assert_eq!(plan["changes"][0]["action"], "create", "{plan}");
}

/// An event trigger and a logon trigger given as XML, a description, and a user.
const RAW: &str = r#"
[settings]
backend = "windows"
timezone = "local"

[tasks.ev]
description = "After boot events"
command = "true"
run_as = "CONTOSO\\Alice"
triggers = [
    '<EventTrigger><Subscription>&lt;QueryList&gt;&lt;Query Id="0" Path="System"&gt;&lt;Select Path="System"&gt;*[System[EventID=6005]] and *[EventData[Data!=&apos;&apos;]]&lt;/Select&gt;&lt;/Query&gt;&lt;/QueryList&gt;</Subscription><Delay>PT30S</Delay></EventTrigger>',
    '<LogonTrigger><UserId>S-1-5-18</UserId></LogonTrigger>',
]
"#;

/// The fields of the one change of a plan, for task `name`, and its drift.
fn changed_fields(plan: &serde_json::Value, name: &str) -> (Vec<String>, serde_json::Value) {
    let change = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no change for {name}: {plan}"));
    let fields = change["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap().to_string())
        .collect();
    (fields, change["drift"].clone())
}

/// Raw trigger XML is registered exactly (an event query keeps every character), and
/// every part of it is compared: an event ID, a delay or a logon trigger's user
/// changed by hand is drift named by its field, and so is the description; the same
/// values spelled as Windows may spell them (a SID for a name, another case, another
/// duration form) are not.
fn raw_triggers_the_description_and_accounts_are_compared_exactly() {
    let env = new_env(RAW);
    env.apply();
    let xml = env.read_task_file("ev");
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let query = doc
        .descendants()
        .find(|n| n.has_tag_name("Subscription"))
        .and_then(|n| n.text())
        .unwrap();
    assert_eq!(
        query,
        r#"<QueryList><Query Id="0" Path="System"><Select Path="System">*[System[EventID=6005]] and *[EventData[Data!='']]</Select></Query></QueryList>"#,
        "the event query as the config holds it"
    );
    env.assert_no_changes("right after apply");

    let original = env.read_task_file("ev");
    type Edit = Box<dyn Fn(&str) -> String>;
    let drift: Vec<(&str, Edit)> = vec![
        (
            "trigger 1 subscription",
            Box::new(|x: &str| x.replace("EventID=6005", "EventID=41")),
        ),
        (
            "trigger 1 delay",
            Box::new(|x: &str| x.replace("<Delay>PT30S</Delay>", "<Delay>PT2M</Delay>")),
        ),
        (
            "trigger 2 user",
            Box::new(|x: &str| {
                x.replace(
                    "<LogonTrigger><UserId>S-1-5-18</UserId>",
                    "<LogonTrigger><UserId>CONTOSO\\bob</UserId>",
                )
            }),
        ),
        (
            "trigger 2 delay",
            Box::new(|x: &str| {
                x.replace(
                    "<UserId>S-1-5-18</UserId></LogonTrigger>",
                    "<UserId>S-1-5-18</UserId><Delay>PT1M</Delay></LogonTrigger>",
                )
            }),
        ),
        (
            "description",
            Box::new(|x: &str| x.replace("After boot events", "Something else")),
        ),
    ];
    for (field, edit) in &drift {
        let edited = edit(&original);
        assert_ne!(edited, original, "the edit for {field} changed nothing");
        env.write_task_file("ev", &edited);
        let (fields, kind) = changed_fields(&env.plan_json(), "ev");
        assert_eq!(kind, "changed_outside", "{field}");
        assert_eq!(fields, [*field], "{field}");
        env.apply();
        env.assert_no_changes(&format!("apply repaired {field}"));
        assert_eq!(env.read_task_file("ev"), original, "{field} repaired");
    }

    let same: Vec<(&str, Edit)> = vec![
        (
            "the logon user as a name",
            Box::new(|x: &str| {
                x.replace(
                    "<LogonTrigger><UserId>S-1-5-18</UserId>",
                    "<LogonTrigger><UserId>nt authority\\system</UserId>",
                )
            }),
        ),
        (
            "another spelling of the delay",
            Box::new(|x: &str| x.replace("<Delay>PT30S</Delay>", "<Delay>PT0H0M30S</Delay>")),
        ),
        (
            "the account in another case",
            Box::new(|x: &str| x.replace("CONTOSO\\Alice", "contoso\\ALICE")),
        ),
        (
            "a zero delay Windows adds",
            Box::new(|x: &str| {
                x.replace(
                    "<UserId>S-1-5-18</UserId></LogonTrigger>",
                    "<UserId>S-1-5-18</UserId><Delay>PT0S</Delay><Enabled>true</Enabled></LogonTrigger>",
                )
            }),
        ),
    ];
    for (what, edit) in &same {
        let edited = edit(&original);
        assert_ne!(edited, original, "the edit for {what} changed nothing");
        env.write_task_file("ev", &edited);
        env.assert_no_changes(what);
    }
}

/// After `orc secret set` of a `run_as` password, plan shows the task's update and
/// apply registers it again, so Task Scheduler has the new password; the state holds
/// a keyed fingerprint of it, never the value.
fn a_changed_run_as_password_is_registered_again() {
    let env = new_env(
        "[settings]\nbackend = \"windows\"\ntimezone = \"local\"\n\n[tasks.svc]\ncommand = \"true\"\nschedule = \"0 5 * * *\"\nrun_as = { user = \"CONTOSO\\\\svc\", password = { secret = \"svc_pw\" } }\n",
    );
    let set = |value: &str| env.secret_set("svc_pw", value);
    env.ok(&["secret", "init"]);
    set("First-Pass-111");
    env.apply();
    env.assert_no_changes("right after apply");

    set("Second-Pass-222");
    let plan = env.plan_json();
    let (fields, drift) = changed_fields(&plan, "svc");
    assert_eq!(fields, ["run_as password"], "{plan}");
    assert!(drift.is_null(), "{plan}");
    assert_eq!(plan["changes"][0]["scheduler_ops"][0], "update", "{plan}");
    let text = env.ok(&["plan"]);
    assert!(
        text.contains("run_as password = (changed in the vault since it was registered)"),
        "{text}"
    );
    let out = env.apply();
    assert!(out.contains("1 changed"), "{out}");
    env.assert_no_changes("after the new password was registered");

    let state = std::fs::read(env.path("state/state.db")).unwrap();
    for value in ["First-Pass-111", "Second-Pass-222"] {
        assert!(
            !state.windows(value.len()).any(|w| w == value.as_bytes()),
            "the state holds {value} in the clear"
        );
    }
}

/// `orc import --all` adopts live tasks in place, under their names in the folder,
/// not the names in their URI: one whose name orc accepts is taken over as it is; one
/// with a space is registered under orc's name by the next apply, which removes the
/// original. No job is left to run twice.
fn import_all_adopts_live_tasks_in_place() {
    let env = new_env("[settings]\nbackend = \"windows\"\ntimezone = \"local\"\n");
    std::fs::create_dir_all(env.folder()).unwrap();
    let made = |uri: &str, time: &str| {
        format!(
            r#"<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo><URI>{uri}</URI></RegistrationInfo>
  <Triggers><CalendarTrigger><StartBoundary>2020-01-01T{time}</StartBoundary><ScheduleByDay><DaysInterval>1</DaysInterval></ScheduleByDay></CalendarTrigger></Triggers>
  <Actions Context="Author"><Exec><Command>backup.exe</Command></Exec></Actions>
</Task>"#
        )
    };
    env.write_task_file("My Backup", &made("\\Backup", "03:15:00"));
    env.write_task_file("DailyCopy", &made("\\Daily-Copys", "04:30:00"));
    // And a live task with the name orc would give "My Backup".
    env.write_task_file("My_Backup", &made("\\My_Backup", "05:45:00"));
    let out = env.ok(&["import", "--all", "--into", "tasks.toml"]);
    let config = std::fs::read_to_string(env.path("tasks.toml")).unwrap();
    assert!(config.contains("[tasks.DailyCopy]"), "{out}\n{config}");
    assert!(config.contains("[tasks.My_Backup]"), "{config}");
    assert!(config.contains("[tasks.My_Backup_2]"), "{config}");
    let second = &config[config.find("[tasks.My_Backup_2]").unwrap()..];
    assert!(second.contains("renamed_from = \"My Backup\""), "{config}");
    assert!(
        second.contains("15 3 * * *") || second.contains("03:15"),
        "My Backup's schedule: {config}"
    );
    assert!(!config.contains("Daily-Copys"), "{config}");
    env.ok(&["validate"]);

    let plan = env.plan_json();
    assert!(plan["unmanaged"].as_array().unwrap().is_empty(), "{plan}");
    let text = env.ok(&["plan"]);
    assert!(
        text.contains("# My Backup will be renamed to My_Backup_2"),
        "{text}"
    );
    // The original goes only once its successor is registered.
    let renamed = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "My_Backup_2")
        .unwrap();
    assert_eq!(
        renamed["scheduler_ops"],
        serde_json::json!(["create", "delete"]),
        "{plan}"
    );
    env.apply();
    let mut live: Vec<String> = std::fs::read_dir(env.folder())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    live.sort();
    assert_eq!(
        live,
        ["DailyCopy", "My_Backup", "My_Backup_2"],
        "one task each, the originals taken over"
    );
    assert!(
        env.read_task_file("DailyCopy")
            .contains("<Source>orc</Source>")
    );
    env.assert_no_changes("after the adopting apply");
}

/// A process that is not elevated sees only the tasks it may read: a task missing
/// from such a view may only be hidden, so plan and apply refuse to call it deleted
/// and re-create it, saying to run elevated; with nothing missing, plan warns.
fn a_limited_view_never_calls_a_hidden_task_deleted() {
    let env = new_env(FULL);
    env.apply();
    let limited = |args: &[&str]| env.orc_with(args, &[("ORC_WINDOWS_TASKS_VIEW", "limited")]);
    let o = limited(&["plan"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(text.contains("No changes."), "{text}");
    assert!(
        text.contains("tasks of other accounts in the folder are not seen"),
        "{text}"
    );

    // As if "report" ran as SYSTEM and the view left it out.
    let hidden = env.folder().join("report");
    let kept = std::fs::read(&hidden).unwrap();
    std::fs::remove_file(&hidden).unwrap();
    for args in [&["plan"][..], &["apply", "--auto-approve"][..]] {
        let o = limited(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("\"report\" may be hidden from it, not deleted")
                && err.contains("elevated prompt"),
            "{args:?}: {err}"
        );
    }
    assert!(!hidden.exists(), "the refused apply registered nothing");
    std::fs::write(&hidden, kept).unwrap();
    env.assert_no_changes("the full view");
}

/// A task in the folder that orc does not manage is listed with its triggers in
/// words and never touched, by apply or destroy.
fn unmanaged_tasks_are_reported_and_never_touched() {
    let env = new_env(FULL);
    env.apply();
    let hand_made = r#"<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <Triggers>
    <BootTrigger><Delay>PT1M</Delay></BootTrigger>
    <CalendarTrigger><StartBoundary>2020-01-01T03:15:00</StartBoundary><ScheduleByDay><DaysInterval>1</DaysInterval></ScheduleByDay></CalendarTrigger>
  </Triggers>
  <Actions><Exec><Command>C:\backup\run.cmd</Command></Exec></Actions>
</Task>"#;
    env.write_task_file("hand_made", hand_made);
    let before = std::fs::read(env.folder().join("hand_made")).unwrap();
    let text = env.ok(&["plan"]);
    assert!(text.contains("No changes."), "{text}");
    assert!(
        text.contains("? hand_made (at system startup; 03:15 daily)"),
        "{text}"
    );
    env.write_config(&FULL.replace("catch_up = \"2h\"", "catch_up = \"3h\""));
    env.apply();
    env.ok(&["destroy", "--auto-approve"]);
    assert!(!env.folder().join("etl").exists());
    assert_eq!(
        std::fs::read(env.folder().join("hand_made")).unwrap(),
        before
    );

    // Adopted: `import --all` writes its table; apply then manages it.
    env.write_config(FULL);
    env.ok(&["import", "--all", "--into", "tasks.toml"]);
    let config = std::fs::read_to_string(env.path("tasks.toml")).unwrap();
    assert!(config.contains("[tasks.hand_made]"), "{config}");
    assert!(
        config.contains("<BootTrigger><Delay>PT1M</Delay></BootTrigger>"),
        "{config}"
    );
    env.apply();
    env.assert_no_changes("after adopting");
}

/// What an imported task's XML says that orc does not carry over is named in a
/// `# review:` line above its table: the two real exports with MaintenanceSettings,
/// and the other settings they hold that orc registers otherwise.
fn imported_fixtures_name_the_settings_orc_drops() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/windows-tasks");
    let env = new_env("[settings]\nbackend = \"windows\"\ntimezone = \"local\"\n");
    let cases: [(&str, &str, &[&str]); 2] = [
        (
            "Bluscream__Windows-Tasks__ScheduledDefrag.xml",
            "ScheduledDefrag",
            &[
                "# review: dropped Settings/MaintenanceSettings (Period P7D, Deadline P1M, Exclusive false): ",
                "# review: dropped Settings/UseUnifiedSchedulingEngine true: ",
            ],
        ),
        (
            "Nick2bad4u__Task-Scheduler-Rules__File_History__maintenance_mode_.xml",
            "File_History__maintenance_mode_",
            &[
                "# review: dropped Settings/MaintenanceSettings (Period P3D, Deadline P7D, Exclusive false): ",
            ],
        ),
    ];
    for (file, name, notes) in cases {
        let out = env.ok(&["import", "--xml", fixtures.join(file).to_str().unwrap()]);
        // The notes are the comment lines right above the table.
        let header = format!("[tasks.{name}]");
        let (above, _) = out
            .split_once(&header)
            .unwrap_or_else(|| panic!("{file}: no {header}:\n{out}"));
        let comments: Vec<&str> = above
            .lines()
            .rev()
            .take_while(|l| l.starts_with("# review: "))
            .collect();
        for note in notes {
            assert!(
                comments.iter().any(|c| c.starts_with(note)),
                "{file}: no {note:?} above the table:\n{out}"
            );
        }
        // Settings that orc carries over or registers the same way are not named:
        // the time limit is orc's timeout, a restart on failure its retries.
        if name == "ScheduledDefrag" {
            let table = &out[out.find(&header).unwrap()..];
            assert!(
                table.contains("battery = { start = false, stop = true }"),
                "{file}: the battery settings kept:\n{out}"
            );
            assert!(
                !out.contains("Settings/DisallowStartIfOnBatteries"),
                "{out}"
            );
        }
        if name == "File_History__maintenance_mode_" {
            let table = &out[out.find(&header).unwrap()..];
            for key in [
                "timeout = \"12h\"",
                "retry_count = 3",
                "retry_delay = \"1m\"",
            ] {
                assert!(table.contains(key), "{file}: no {key}:\n{out}");
            }
            assert!(!out.contains("Settings/ExecutionTimeLimit"), "{out}");
            assert!(!out.contains("Settings/RestartOnFailure"), "{out}");
        }
        assert!(!out.contains("Settings/Enabled"), "{out}");
        assert!(!out.contains("Settings/AllowStartOnDemand true"), "{out}");
        assert!(!out.contains("Settings/Priority 7"), "{out}");
    }
    // Into a file, the notes stay with their table, and the file still loads.
    env.ok(&[
        "import",
        "--into",
        "tasks.toml",
        "--xml",
        fixtures.join(cases[0].0).to_str().unwrap(),
    ]);
    let config = std::fs::read_to_string(env.path("tasks.toml")).unwrap();
    assert!(
        config.contains("MaintenanceSettings (Period P7D, Deadline P1M, Exclusive false)"),
        "{config}"
    );
    env.ok(&["validate"]);
}

/// Every real exported task: `orc import --xml` adopts it, apply registers
/// schema-valid XML whose triggers fire when the original's do (and keep the
/// triggers orc does not model), and a second plan has no changes.
fn every_fixture_imports_registers_and_plans_clean() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/windows-tasks");
    let files: Vec<PathBuf> = std::fs::read_dir(&fixtures)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .collect();
    assert!(files.len() >= 50);
    let env = new_env("[settings]\nbackend = \"windows\"\ntimezone = \"local\"\n");
    for file in &files {
        let o = env.orc(&["import", "--xml", file.to_str().unwrap()]);
        assert!(
            o.status.success(),
            "{}: {}",
            file.display(),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let mut args = vec!["import", "--into", "tasks.toml", "--xml"];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    let added = env.ok(&args);
    // "Added [tasks.A], [tasks.B] to tasks.toml.": the names, in the files' order.
    let names: Vec<String> = added
        .split("[tasks.")
        .skip(1)
        .map(|s| s.split(']').next().unwrap().trim_matches('"').to_string())
        .collect();
    assert_eq!(names.len(), files.len(), "{added}");
    env.ok(&["validate"]);
    // A stored password does not come along: the imported task names a secret for
    // it, which apply needs in the vault.
    let config = std::fs::read_to_string(env.path("tasks.toml")).unwrap();
    let secrets: std::collections::BTreeSet<&str> = config
        .split("secret = \"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap())
        .collect();
    env.ok(&["secret", "init"]);
    for secret in &secrets {
        env.secret_set(secret, "Imported-Pass-1");
    }
    let out = env.apply();
    assert!(out.contains(&format!("{} added", files.len())), "{out}");
    env.assert_no_changes("after applying every imported fixture");

    // The registered triggers fire when the original ones do, and the triggers orc
    // does not model are kept.
    let fires = |t: &ReadTask| {
        fire_times_of(
            &t.triggers,
            &TimeZone::UTC,
            date(2027, 1, 1),
            date(2027, 3, 1),
        )
        .unwrap()
    };
    let others = |t: &ReadTask| -> Vec<String> {
        t.triggers
            .iter()
            .filter_map(|t| match &t.schedule {
                ReadSchedule::Other(kind) if kind != "WnfStateChangeTrigger" => Some(kind.clone()),
                _ => None,
            })
            .collect()
    };
    let run_as = |t: &ReadTask| {
        orc::backend::windows::describe::entry("t", t, date(2027, 1, 1)).details["run as"].clone()
    };
    let loaded = orc::config::load(&env.path("tasks.toml")).unwrap().config;
    let mut not_system = 0;
    let mut kept_settings = 0;
    let mut several_actions = 0;
    let mut no_account_disabled = 0;
    for (file, name) in files.iter().zip(&names) {
        let original = read_task(&decode(&std::fs::read(file).unwrap()).unwrap()).unwrap();
        let registered = read_task(&env.read_task_file(name)).unwrap();
        // Every command the original ran, in its order: `command`, then `then`.
        let programs: Vec<String> = original
            .actions
            .iter()
            .filter_map(|a| match a {
                ReadAction::Exec { command, .. } => Some(command.trim_matches('"').to_string()),
                ReadAction::Other { .. } => None,
            })
            .collect();
        let task = &loaded.tasks[name.as_str()];
        let imported: Vec<String> = task
            .steps()
            .map(|(action, _)| match action {
                orc::config::Action::Argv(argv) => argv[0].clone(),
                orc::config::Action::Shell(line) => line.clone(),
            })
            .collect();
        if !programs.is_empty() {
            assert_eq!(programs, imported, "{name} from {}", file.display());
        }
        several_actions += usize::from(programs.len() > 1);
        assert_eq!(registered.source.as_deref(), Some("orc"), "{name}");
        // Who it runs as is kept (a task that named no account runs as whoever
        // registers it, orc apply's user).
        if original.principal.user.is_some() || original.principal.group.is_some() {
            assert_eq!(
                run_as(&original),
                run_as(&registered),
                "{name} from {}",
                file.display()
            );
            not_system += usize::from(run_as(&original) != "SYSTEM");
        } else if matches!(
            original.principal.logon_type.as_deref(),
            Some("S4U" | "Password")
        ) {
            // No account, but it ran whether or not its registrant was logged on:
            // current_user would not, so a person chooses, and until then it is off.
            assert!(!registered.enabled, "{name} from {}", file.display());
            no_account_disabled += 1;
        }
        // So are its priority, power, network and visibility settings.
        assert_eq!(
            original.settings,
            registered.settings,
            "{name} from {}",
            file.display()
        );
        kept_settings += usize::from(original.settings != orc::config::WindowsSettings::default());
        assert_eq!(
            fires(&original),
            fires(&registered),
            "{name} from {}",
            file.display()
        );
        assert_eq!(
            others(&original),
            others(&registered),
            "{name} from {}",
            file.display()
        );
    }
    eprintln!(
        "{} fixtures; {not_system} run as an account other than SYSTEM, kept; {} stored passwords named as secrets; {kept_settings} with settings other than orc's defaults, kept; {several_actions} with several actions, all kept; {no_account_disabled} naming no account but not interactive, imported disabled for review",
        files.len(),
        secrets.len()
    );
    assert!(no_account_disabled >= 3, "{no_account_disabled}");
    assert!(not_system >= 15, "{not_system}");
    assert!(several_actions >= 5, "{several_actions}");
    assert!(config.matches("\nschedule = ").count() >= 10, "{config}");
    validate_folder(&env.folder());
}

/// Every file in `folder` against Microsoft's schema (the tests that call this need
/// xmllint and the shared schema, and are reported as ignored without them).
fn validate_folder(folder: &Path) {
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/schemas/task-scheduler.xsd");
    let files: Vec<PathBuf> = std::fs::read_dir(folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let o = Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(&schema)
        .args(&files)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "registered XML fails the schema:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// run_as and run_level in every form: schema-valid, and a password (which needs the
/// vault) refused with the reason.
fn principals_render_valid_xml() {
    let env = new_env(
        r#"
[settings]
backend = "windows"

[tasks.as_system]
command = "a.exe"
run_as = "SYSTEM"

[tasks.as_me]
command = "a.exe"
run_as = "current_user"
run_level = "highest"

[tasks.as_service]
command = "a.exe"
run_as = "CONTOSO\\svc"

[tasks.as_localsystem]
command = "a.exe"
run_as = "LocalSystem"

[tasks.as_local_service]
command = "a.exe"
run_as = "NT AUTHORITY\\LocalService"

[tasks.as_network_service]
command = "a.exe"
run_as = "NETWORK SERVICE"

[tasks.as_gmsa]
command = "a.exe"
run_as = "CONTOSO\\etl-gmsa$"

[tasks.as_bob]
command = "a.exe"
run_as = { user = "CONTOSO\\bob", logon = "interactive" }

[tasks.as_users]
command = "a.exe"
run_as = { group = "BUILTIN\\Users" }

[tasks.tuned]
command = "a.exe"
schedule = "0 6 * * *"
at_startup = true
at_logon = { user = "CONTOSO\\bob" }
on_event = { log = "System", source = "Service Control Manager", id = 7036 }
on_idle = true
expires = "2027-06-30"
priority = 3
wake_to_run = true
run_only_if_network = true
hidden = true
battery = { start = false, stop = true }
"#,
    );
    env.apply();
    // Each account written as Task Scheduler has it: service accounts by SID with
    // no logon type, a gMSA as a Password logon with no password, a named user
    // while logged on, a group by GroupId.
    for (task, has, lacks) in [
        (
            "as_local_service",
            "<UserId>S-1-5-19</UserId>",
            "<LogonType>",
        ),
        ("as_localsystem", "<UserId>S-1-5-18</UserId>", "<LogonType>"),
        (
            "as_network_service",
            "<UserId>S-1-5-20</UserId>",
            "<LogonType>",
        ),
        (
            "as_gmsa",
            "<UserId>CONTOSO\\etl-gmsa$</UserId>",
            "<LogonType>S4U",
        ),
        ("as_gmsa", "<LogonType>Password</LogonType>", "<Password"),
        ("as_bob", "<UserId>CONTOSO\\bob</UserId>", "<LogonType>S4U"),
        (
            "as_bob",
            "<LogonType>InteractiveToken</LogonType>",
            "GroupId",
        ),
        ("as_users", "<GroupId>BUILTIN\\Users</GroupId>", "<UserId>"),
    ] {
        let xml = env.read_task_file(task);
        assert!(xml.contains(has), "{task}: no {has}:\n{xml}");
        assert!(!xml.contains(lacks), "{task}: {lacks}:\n{xml}");
    }
    let tuned = env.read_task_file("tuned");
    for element in [
        "<Priority>3</Priority>",
        "<WakeToRun>true</WakeToRun>",
        "<RunOnlyIfNetworkAvailable>true</RunOnlyIfNetworkAvailable>",
        "<Hidden>true</Hidden>",
        "<DisallowStartIfOnBatteries>true</DisallowStartIfOnBatteries>",
        "<StopIfGoingOnBatteries>true</StopIfGoingOnBatteries>",
        // Typed triggers beside the schedule.
        "<BootTrigger",
        "<LogonTrigger>",
        "<UserId>CONTOSO\\bob</UserId>",
        "<IdleTrigger",
        "Provider[@Name=&apos;Service Control Manager&apos;] and EventID=7036",
        "<CalendarTrigger>",
        // The end of 30 June: no fire from 1 July on.
        "<EndBoundary>2027-07-01T00:00:00</EndBoundary>",
    ] {
        assert!(tuned.contains(element), "no {element}:\n{tuned}");
    }
    // Without them: normal priority (Task Scheduler's own default, 7, is below).
    assert!(
        env.read_task_file("as_me")
            .contains("<Priority>5</Priority>")
    );
    let accounts = std::fs::read_to_string(env.path("tasks.toml")).unwrap();
    env.write_config(
        &accounts
            .replace("priority = 3", "priority = 11")
            .replace("expires = \"2027-06-30\"", "expires = \"next june\"")
            .replace("log = \"System\"", "log = \"Sys'tem\""),
    );
    let o = env.orc(&["validate"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains("priority 11 is outside Task Scheduler's 0 (highest) to 10 (idle)")
            && err.contains("(task \"tuned\")"),
        "{err}"
    );
    assert!(
        err.contains("expires \"next june\" is not a date (\"2027-06-30\")"),
        "{err}"
    );
    assert!(err.contains("on_event needs a log name"), "{err}");
    env.write_config(&accounts);
    let export = env.ok(&["export", "as_local_service"]);
    assert!(export.contains("<UserId>S-1-5-19</UserId>"), "{export}");
    // A table that is none of the forms is refused at its place.
    env.write_config(
        "[settings]\nbackend = \"windows\"\n\n[tasks.odd]\ncommand = \"a.exe\"\nrun_as = { user = \"CONTOSO\\\\bob\", group = \"BUILTIN\\\\Users\" }\n",
    );
    let o = env.orc(&["validate"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains("run_as as a table is") && err.contains("tasks.toml:6:"),
        "{err}"
    );
    env.write_config(&accounts);
    let me = env.read_task_file("as_me");
    assert!(
        me.contains("<LogonType>InteractiveToken</LogonType>"),
        "{me}"
    );
    assert!(me.contains("<RunLevel>HighestAvailable</RunLevel>"), "{me}");
    let service = env.read_task_file("as_service");
    assert!(
        service.contains("<UserId>CONTOSO\\svc</UserId>"),
        "{service}"
    );
    assert!(service.contains("<LogonType>S4U</LogonType>"), "{service}");
    validate_folder(&env.folder());
    let text = env.ok(&["plan"]);
    assert!(text.contains("No changes."), "{text}");

    // A stored password comes from the vault: apply refuses while the vault lacks it,
    // and the XML never holds it.
    env.write_config(
        "[settings]\nbackend = \"windows\"\n\n[tasks.pw]\ncommand = \"a.exe\"\nrun_as = { user = \"CONTOSO\\\\svc\", password = { secret = \"svc_pw\" } }\n",
    );
    let o = env.orc(&["plan"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("warning: run_as refers to the password secret \"svc_pw\", which is not in this server's vault"),
        "{err}"
    );
    assert!(err.contains("tasks.toml:4:8"), "{err}");
    let o = env.orc(&["apply", "--auto-approve"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("nothing was changed"), "{err}");
    assert!(!env.folder().join("pw").exists());

    env.ok(&["secret", "init"]);
    let o = env.orc_with(
        &["secret", "import", "--from-env", "ORC_TEST_SECRET_"],
        &[("ORC_TEST_SECRET_svc_pw", "Pa55-w0rd-for-svc")],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    env.apply();
    let pw = env.read_task_file("pw");
    assert!(pw.contains("<LogonType>Password</LogonType>"), "{pw}");
    assert!(!pw.contains("Pa55-w0rd"), "{pw}");
    validate_folder(&env.folder());
}

/// Every example, on every host it names: apply then plan has no changes, and the
/// XML registered validates against the schema.
fn every_example_applies_and_plans_clean() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    for (config, host) in [
        (examples.clone(), "any-host"),
        (examples.clone(), "srv-01"),
        (examples.join("quickstart"), "any-host"),
    ] {
        let env = TestEnv::builder()
            .host(host)
            .windows_tasks_dir()
            .env("TZ", "Europe/Berlin")
            .env("ORC_LOG", "off")
            .config("")
            .build();
        let run = |args: &[&str]| {
            let o = env
                .command(&[])
                .arg("--config")
                .arg(&config)
                .args(["--backend", "windows"])
                .args(args)
                .envs(
                    [
                        "email_username",
                        "email_password",
                        "db_password",
                        "warehouse_dsn",
                    ]
                    .map(|name| (format!("ORC_EXAMPLE_SECRET_{name}"), "example-value")),
                )
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            assert!(
                o.status.success(),
                "{} on {host}: orc {args:?}:\n{text}{}",
                config.display(),
                String::from_utf8_lossy(&o.stderr)
            );
            text
        };
        // The credentials the examples name (apply refuses tasks without them).
        run(&["secret", "init"]);
        run(&["secret", "import", "--from-env", "ORC_EXAMPLE_SECRET_"]);
        run(&["apply", "--auto-approve"]);
        let plan = run(&["plan"]);
        assert!(
            plan.contains("No changes."),
            "{} on {host}:\n{plan}",
            config.display()
        );
        let folder = std::fs::read_dir(env.path("Tasks"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        validate_folder(&folder);
    }
}

/// A fire inside a daylight-saving change is a warning at the task (Task Scheduler's
/// behaviour there is unspecified); @reboot becomes a boot trigger; trigger elements
/// are refused by the backends that cannot run them.
fn dst_windows_reboot_and_raw_triggers_elsewhere() {
    let env = new_env(
        r#"
[settings]
backend = "windows"

[tasks.night]
command = "a.exe"
schedule = "30 2 * * *"

[tasks.boot]
command = "b.exe"
schedule = "@reboot"

[tasks.quarter]
command = "c.exe"
schedule = "*/15 * * * *"
"#,
    );
    let o = env.orc(&["plan"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let warnings: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("Task Scheduler does not specify"))
        .collect();
    // 02:30 and every quarter hour both meet the March and October changes.
    assert_eq!(warnings.len(), 2, "{err}");
    assert!(
        err.contains("fires at 02:30 on 2027-03-28, which does not exist"),
        "{err}"
    );
    env.apply();
    assert!(env.read_task_file("boot").contains("<BootTrigger>"));
    validate_folder(&env.folder());

    let elsewhere = new_env(
        "[settings]\nbackend = \"embedded\"\n\n[tasks.t]\ncommand = \"true\"\ntriggers = [\"<BootTrigger/>\"]\n",
    );
    let o = elsewhere.orc(&["plan"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(
            "error: triggers = [...], at_startup, at_logon, on_event and on_idle are Task Scheduler triggers, which the embedded backend \
             cannot run; give the task a schedule, or keep the task for Windows hosts with \
             hosts = [...]\n --> tasks.toml:4:8 (task \"t\")\n"
        ),
        "{err}"
    );
    // The zone is refused once, at its line; names differing only in case are one
    // task to Task Scheduler, so refused.
    let zone_and_case = new_env(
        "[settings]\nbackend = \"windows\"\ntimezone = \"Asia/Tokyo\"\n\n[tasks.mine]\ncommand = \"x.exe\"\nschedule = \"06:00\"\n\n[tasks.MINE]\ncommand = \"x.exe\"\nschedule = \"07:00\"\n",
    );
    let o = zone_and_case.orc(&["validate"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(
        err.matches("Task Scheduler runs tasks in the machine's local time")
            .count(),
        1,
        "{err}"
    );
    assert!(err.contains("tasks.toml:3:12\n"), "{err}");
    assert!(
        err.contains("\"mine\" and \"MINE\" differ only in case")
            && err.contains("tasks.toml:5:8 (task \"mine\")"),
        "{err}"
    );
    // With a schedule, the advice is to drop the triggers, not to add one.
    let scheduled = new_env(
        "[settings]\nbackend = \"embedded\"\n\n[tasks.t]\ncommand = \"true\"\nschedule = \"02:00\"\nat_startup = true\n",
    );
    let o = scheduled.orc(&["plan"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cannot run; remove them (the schedule still runs), or keep the task"),
        "{err}"
    );
}

/// What a Windows host means, planned from anywhere; and what anyone who can write the
/// folder may put there: a task nested 60,000 deep, a name and a description full of
/// terminal escapes, a link planted where orc writes. None of it crashes orc, reaches
/// the terminal raw, or makes orc write outside the folder.
fn windows_paths_and_a_hostile_folder() {
    let env = new_env(
        "[settings]\nbackend = \"windows\"\n\n[tasks.copy]\ncommand = 'C:\\tools\\copy.exe'\nworking_dir = 'D:\\data\\in'\nschedule = \"02:00\"\n\n[tasks.appdata]\ncommand = \"x.exe\"\nworking_dir = '%APPDATA%\\orc'\nschedule = \"03:00\"\n\n[tasks.old]\ncommand = \"x.exe\"\nschedule = \"04:00\"\nexpires = \"2020-01-01\"\n",
    );
    let text = env.apply();
    // A Windows path is the task's own, not one below the config's folder.
    let xml = env.read_task_file("copy");
    assert!(
        xml.contains("<WorkingDirectory>D:\\data\\in</WorkingDirectory>"),
        "{xml}"
    );
    assert!(
        env.read_task_file("appdata")
            .contains("<WorkingDirectory>%APPDATA%\\orc</WorkingDirectory>")
    );
    assert!(text.contains("expires \"2020-01-01\" has passed"), "{text}");
    validate_folder(&env.folder());
    // The start folder changed in Task Scheduler is drift, named.
    env.write_task_file("copy", &xml.replace("D:\\data\\in", "E:\\elsewhere"));
    let plan = env.ok(&["plan"]);
    assert!(plan.contains("working directory"), "{plan}");
    env.apply();
    env.assert_no_changes("the start folder was put back");

    // 60,000 nested elements: refused, named, and the plan goes on.
    let deep = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-16\"?><Task xmlns=\"http://schemas.microsoft.com/windows/2004/02/mit/task\"><Triggers><BootTrigger>{}x{}</BootTrigger></Triggers></Task>",
        "<a>".repeat(60_000),
        "</a>".repeat(60_000)
    );
    std::fs::create_dir_all(env.path("Tasks/Other")).unwrap();
    std::fs::write(env.path("Tasks/Other/deep"), to_utf16(&deep)).unwrap();
    // A name and a description that try to colour and rewrite the plan.
    let hostile = "evil\u{1b}[31mRED\u{7}";
    let described = xml.replace(
        "</RegistrationInfo>",
        "<Description>x\u{1b}[2J</Description></RegistrationInfo>",
    );
    std::fs::write(env.path("Tasks/Other").join(hostile), to_utf16(&described)).unwrap();
    std::fs::write(env.folder().join(hostile), to_utf16(&described)).unwrap();
    let o = env.orc(&["plan"]);
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.code().is_some(), "orc plan died: {out}");
    assert!(!out.contains('\u{1b}') && !out.contains('\u{7}'), "{out:?}");
    assert!(out.contains("\\u{1b}[31mRED"), "{out}");
    let o = env.orc(&[
        "import",
        "--xml",
        env.path("Tasks/Other/deep").to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("nests deeper than 32 elements"), "{err}");
    std::fs::remove_file(env.folder().join(hostile)).unwrap();

    // A link planted at the name orc writes through points nowhere it can reach.
    #[cfg(unix)]
    {
        let victim = env.path("victim.txt");
        std::fs::write(&victim, "untouched").unwrap();
        let plant = |pid: u32| {
            let link = env.folder().join(format!(".copy.orc-tmp.{pid}"));
            let _ = std::os::unix::fs::symlink(&victim, link);
        };
        // The next `orc` is one of the next few hundred pids.
        let me = std::process::id();
        for pid in me..me + 2000 {
            plant(pid);
        }
        env.write_task_file("copy", &xml.replace("D:\\data\\in", "E:\\again"));
        env.apply();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched");
        env.assert_no_changes("written through no link");
    }
}

/// The trials of this suite: a test that needs what is missing here is reported as
/// ignored, saying what (see `common::trial`).
fn main() -> std::process::ExitCode {
    common::run_trials(vec![
        common::trial(
            "apply_then_plan_has_no_changes_and_windows_rewrites_are_not_drift",
            apply_then_plan_has_no_changes_and_windows_rewrites_are_not_drift,
            &[],
        ),
        common::trial(
            "drift_names_each_modelled_field",
            drift_names_each_modelled_field,
            &[],
        ),
        common::trial(
            "raw_triggers_the_description_and_accounts_are_compared_exactly",
            raw_triggers_the_description_and_accounts_are_compared_exactly,
            &[],
        ),
        common::trial(
            "a_changed_run_as_password_is_registered_again",
            a_changed_run_as_password_is_registered_again,
            &[],
        ),
        common::trial(
            "import_all_adopts_live_tasks_in_place",
            import_all_adopts_live_tasks_in_place,
            &[],
        ),
        common::trial(
            "a_limited_view_never_calls_a_hidden_task_deleted",
            a_limited_view_never_calls_a_hidden_task_deleted,
            &[],
        ),
        common::trial(
            "unmanaged_tasks_are_reported_and_never_touched",
            unmanaged_tasks_are_reported_and_never_touched,
            &[],
        ),
        common::trial(
            "imported_fixtures_name_the_settings_orc_drops",
            imported_fixtures_name_the_settings_orc_drops,
            &[common::missing_shared("fixtures/windows-tasks")],
        ),
        common::trial(
            "every_fixture_imports_registers_and_plans_clean",
            every_fixture_imports_registers_and_plans_clean,
            &[
                common::missing_shared("fixtures/windows-tasks"),
                common::missing_program("xmllint", &["--version"], "apt-get install libxml2-utils"),
                common::missing_shared("schemas/task-scheduler.xsd"),
            ],
        ),
        common::trial(
            "principals_render_valid_xml",
            principals_render_valid_xml,
            &[
                common::missing_program("xmllint", &["--version"], "apt-get install libxml2-utils"),
                common::missing_shared("schemas/task-scheduler.xsd"),
            ],
        ),
        common::trial(
            "every_example_applies_and_plans_clean",
            every_example_applies_and_plans_clean,
            &[
                common::missing_program("xmllint", &["--version"], "apt-get install libxml2-utils"),
                common::missing_shared("schemas/task-scheduler.xsd"),
            ],
        ),
        common::trial(
            "windows_paths_and_a_hostile_folder",
            windows_paths_and_a_hostile_folder,
            &[
                common::missing_program("xmllint", &["--version"], "apt-get install libxml2-utils"),
                common::missing_shared("schemas/task-scheduler.xsd"),
            ],
        ),
        common::trial(
            "dst_windows_reboot_and_raw_triggers_elsewhere",
            dst_windows_reboot_and_raw_triggers_elsewhere,
            &[
                common::missing_program("xmllint", &["--version"], "apt-get install libxml2-utils"),
                common::missing_shared("schemas/task-scheduler.xsd"),
            ],
        ),
    ])
}
