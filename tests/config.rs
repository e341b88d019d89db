//! Loading tasks.toml: defaults, includes, folders, resolution, warnings.

use std::path::{Path, PathBuf};
use std::time::Duration;

use orc::config::{self, Action, Dependency, EnvValue, NotifyEvent, TaskType};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&path, text).unwrap();
    path
}

fn load_ok(path: &Path) -> config::Loaded {
    config::load(path).unwrap_or_else(|d| panic!("expected a valid config:\n{d}"))
}

#[test]
fn the_example_loads_with_every_key_applied() {
    let loaded = load_ok(Path::new("examples/tasks.toml"));
    let c = &loaded.config;
    assert_eq!(c.settings.timezone, "Europe/Berlin");
    assert_eq!(c.settings.folder, "Orc");
    let runtime = c.settings.runtime;
    assert_eq!(runtime.history_retention, Duration::from_secs(90 * 86_400));
    assert_eq!(runtime.log_retention, Duration::from_secs(14 * 86_400));
    assert_eq!(runtime.max_concurrent, 4);
    assert_eq!(c.settings.max_log_size, 20 << 20);
    assert!(c.tasks.values().all(|t| t.max_log_size == 20 << 20));
    assert_eq!(
        c.files.len(),
        3,
        "tasks.toml plus two included files: {:?}",
        c.files
    );

    let report = &c.tasks["daily_report"];
    assert_eq!(report.kind, TaskType::Report);
    assert_eq!(
        report.action,
        Action::Argv(vec![
            "python".into(),
            "scripts/generate_report.py".into(),
            "--format".into(),
            "html".into()
        ])
    );
    assert_eq!(report.timeout, Some(Duration::from_secs(3600)));
    assert_eq!(report.retry_count, 3);
    assert_eq!(report.retry_delay, Duration::from_secs(300));
    assert_eq!(
        report.dependencies,
        vec![
            Dependency::Task("vpn_check".into()),
            Dependency::File("data/input.csv".into())
        ]
    );
    assert_eq!(report.env["MODE"], EnvValue::Plain("prod".into()));
    assert_eq!(
        report.env["DB_PASSWORD"],
        EnvValue::Secret {
            secret: "db_password".into()
        }
    );
    assert_eq!(
        report.notify,
        vec!["ops".to_string()],
        "inherited from [defaults]"
    );
    assert_eq!(
        report.schedule.as_ref().unwrap().explain(),
        "At 06:00, Monday through Friday"
    );
    assert!(report.working_dir.is_absolute() && report.working_dir.ends_with("examples"));
    assert_eq!(report.origin.line, 42);

    // Defaults fill what a task leaves out.
    let vpn = &c.tasks["vpn_check"];
    assert_eq!(vpn.timeout, Some(Duration::from_secs(30)));
    assert_eq!(vpn.retry_delay, Duration::from_secs(30));
    assert!(vpn.schedule.is_none());
    assert_eq!(c.tasks["monthly_cleanup"].hosts, vec!["srv-01".to_string()]);
    assert!(matches!(
        c.tasks["monthly_cleanup"].action,
        Action::Shell(_)
    ));
    assert_eq!(
        c.notify["ops"].on,
        vec![
            NotifyEvent::Failure,
            NotifyEvent::Timeout,
            NotifyEvent::Recovered
        ]
    );
    assert_eq!(c.smtp.as_ref().unwrap().port, 587);
}

#[test]
fn a_folder_loads_all_its_toml_files_together() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "a.toml",
        "[tasks.first]\ncommand = \"echo 1\"\n",
    );
    write(
        dir.path(),
        "b.toml",
        "[tasks.second]\ncommand = \"echo 2\"\ndependencies = [\"first\"]\n",
    );
    write(dir.path(), "notes.txt", "not toml, ignored");
    let c = load_ok(dir.path()).config;
    assert_eq!(c.tasks.keys().collect::<Vec<_>>(), ["first", "second"]);
    assert_eq!(c.files.len(), 2);
}

#[test]
fn built_in_defaults_apply_without_defaults_section() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "tasks.toml",
        "[tasks.t]\ncommand = [\"run\", \"a b\"]\n",
    );
    let c = load_ok(&f).config;
    let t = &c.tasks["t"];
    assert_eq!(t.kind, TaskType::DataJob);
    assert_eq!(t.timeout, None, "no timeout unless one is set");
    assert_eq!(t.retry_count, 0);
    assert_eq!(t.retry_delay, Duration::from_secs(30));
    assert!(t.enabled);
    assert_eq!(t.action, Action::Argv(vec!["run".into(), "a b".into()]));
    assert_eq!(c.settings.folder, "Orc");
    assert_eq!(c.settings.timezone, "local");
}

#[test]
fn task_values_override_defaults_and_env_merges() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "tasks.toml",
        r#"
[defaults]
timeout = "10m"
retry_count = 2
working_dir = "work"
env = { A = "from-defaults", B = "from-defaults" }

[tasks.t]
command = "x"
timeout = 90
working_dir = "/srv/jobs"
env = { B = "from-task", C = { secret = "c_secret" } }
"#,
    );
    let t = load_ok(&f).config.tasks["t"].clone();
    assert_eq!(t.timeout, Some(Duration::from_secs(90)));
    assert_eq!(t.retry_count, 2);
    assert_eq!(t.working_dir, PathBuf::from("/srv/jobs"));
    assert_eq!(t.env["A"], EnvValue::Plain("from-defaults".into()));
    assert_eq!(t.env["B"], EnvValue::Plain("from-task".into()));
    assert_eq!(
        t.env["C"],
        EnvValue::Secret {
            secret: "c_secret".into()
        }
    );
}

#[test]
fn includes_are_relative_to_the_including_file_and_read_once() {
    let dir = tempfile::tempdir().unwrap();
    let main = write(
        dir.path(),
        "conf/tasks.toml",
        "[settings]\ninclude = [\"more/*.toml\", \"more/x.toml\"]\n[tasks.main]\ncommand = \"m\"\n",
    );
    write(
        dir.path(),
        "conf/more/x.toml",
        "[tasks.x]\ncommand = \"x\"\ndependencies = [\"main\"]\n",
    );
    write(
        dir.path(),
        "conf/more/y.toml",
        "[tasks.y]\ncommand = \"y\"\n",
    );
    let c = load_ok(&main).config;
    assert_eq!(c.tasks.len(), 3);
    assert_eq!(c.files.len(), 3, "x.toml matched twice but read once");
}

#[test]
fn an_include_glob_matching_nothing_warns() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "tasks.toml",
        "[settings]\ninclude = [\"none/*.toml\"]\n[tasks.t]\ncommand = \"x\"\n",
    );
    let loaded = load_ok(&f);
    assert_eq!(loaded.warnings.len(), 1);
    assert!(loaded.warnings[0].message.contains("matches no files"));
    assert_eq!(loaded.warnings[0].location.as_ref().unwrap().line, 2);
}

#[test]
fn a_fixed_time_in_a_dst_gap_or_overlap_warns_but_loads() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "tasks.toml",
        r#"[settings]
timezone = "Europe/Berlin"

[tasks.gap]
command = "x"
schedule = "30 2 * * *"

[tasks.overlap]
command = "x"
schedule = "15 2 * * SUN"

[tasks.wildcard]
command = "x"
schedule = "*/15 2 * * *"

[tasks.safe]
command = "x"
schedule = "0 6 * * *"
"#,
    );
    let now: jiff::Timestamp = "2026-11-27T00:00:00Z".parse().unwrap();
    let loaded = config::load_at(&f, now).unwrap();
    let by_task = |name: &str| -> Vec<String> {
        loaded
            .warnings
            .iter()
            .filter(|w| w.task.as_deref() == Some(name))
            .map(|w| w.message.clone())
            .collect()
    };
    let gap = by_task("gap");
    assert!(
        gap.iter().any(
            |w| w.contains("02:30 on 2027-03-28 does not exist in Europe/Berlin")
                && w.contains("03:00")
        ),
        "{gap:?}"
    );
    assert!(
        gap.iter()
            .any(|w| w.contains("02:30 on 2027-10-31 occurs twice")),
        "{gap:?}"
    );
    let overlap = by_task("overlap");
    assert!(
        overlap
            .iter()
            .any(|w| w.contains("02:15 on 2027-10-31 occurs twice")),
        "{overlap:?}"
    );
    assert!(
        by_task("wildcard").is_empty(),
        "wildcard jobs follow the wall clock"
    );
    assert!(by_task("safe").is_empty());
    let w = loaded
        .warnings
        .iter()
        .find(|w| w.task.as_deref() == Some("gap"))
        .unwrap();
    assert_eq!(
        (
            w.location.as_ref().unwrap().line,
            w.location.as_ref().unwrap().column
        ),
        (6, 12)
    );
}

#[test]
fn all_errors_are_reported_not_just_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "tasks.toml",
        r#"[tasks.a]
command = "x"
schedule = "61 * * * *"
tiemout = "5m"

[tasks.b]
command = "x"
dependencies = ["missing"]

[tasks.c]
shell = "x"
retry_delay = "soon"
"#,
    );
    let diags = config::load(&f).unwrap_err();
    let errors: Vec<_> = diags.errors().collect();
    let found: Vec<(Option<&str>, usize)> = errors
        .iter()
        .map(|d| (d.task.as_deref(), d.location.as_ref().unwrap().line))
        .collect();
    assert_eq!(
        found,
        vec![
            (Some("a"), 3),
            (Some("a"), 4),
            (Some("b"), 8),
            (Some("c"), 12)
        ],
        "{diags}"
    );
}

#[test]
fn a_missing_config_names_the_path() {
    let err = config::load(Path::new("/nonexistent/tasks.toml")).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("/nonexistent/tasks.toml") && text.contains("not found"),
        "{text}"
    );
}

#[test]
fn columns_count_characters_not_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "tasks.toml",
        "[tasks.t]\ndescription = \"Überprüfung\"; command = \"x\"\n",
    );
    let diags = config::load(&f).unwrap_err();
    let d = diags.errors().next().unwrap();
    let loc = d.location.as_ref().unwrap();
    assert_eq!(loc.line, 2);
    // The stray ';' sits after 28 characters (30 bytes) of the line.
    assert_eq!(loc.column, 28, "{d}");
}

/// An include `**` that runs into symlink loops ends, and finds each file once.
#[cfg(unix)]
#[test]
fn an_include_through_symlink_loops_ends() {
    let dir = tempfile::tempdir().unwrap();
    let main = write(
        dir.path(),
        "tasks.toml",
        "[settings]\ninclude = [\"d/**/*.toml\"]\n",
    );
    write(
        dir.path(),
        "d/e/more.toml",
        "[tasks.more]\ncommand = \"true\"\n",
    );
    for link in ["d/e/loop", "d/back"] {
        std::os::unix::fs::symlink(dir.path().join("d"), dir.path().join(link)).unwrap();
    }
    let loaded = load_ok(&main);
    assert_eq!(loaded.config.tasks.len(), 1);
    assert!(loaded.config.tasks.contains_key("more"));
}
