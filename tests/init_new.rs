//! `orc init` and `orc new` without a terminal, as scripts use them: every answer by
//! flag, defaults with --yes, and every refusal leaving the files byte for byte as
//! they were. Also `orc` with no command off a terminal. (The questions themselves
//! are tested through a pseudo-terminal in tests/wizard.rs.)

use std::path::Path;
use std::process::Output;

mod common;
use common::TestEnv;

/// A folder for orc, found there as a person would run it: no ORC_CONFIG; no
/// terminal (stdin is empty).
fn new_env() -> TestEnv {
    TestEnv::builder().config_in_cwd().build()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        text(&o.stdout),
        text(&o.stderr)
    );
}

fn failed(o: &Output) -> String {
    assert_eq!(
        o.status.code(),
        Some(1),
        "stdout:\n{}\nstderr:\n{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    text(&o.stderr)
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap()
}

#[test]
fn init_yes_writes_a_config_that_validates_creates_the_state_and_shows_the_plan() {
    let env = new_env();
    let o = env.orc(&["init", "--yes", "--timezone", "Europe/Berlin"]);
    ok(&o);
    let out = text(&o.stdout);
    assert!(
        out.contains("Plan: 1 to add, 0 to change, 0 to destroy."),
        "{out}"
    );
    assert!(env.path("state/state.db").is_file());
    let config = read(&env.path("tasks.toml"));
    assert!(config.contains("timezone = \"Europe/Berlin\""), "{config}");
    assert!(config.contains("[tasks.hello]"), "{config}");
    assert!(
        config.lines().filter(|l| l.starts_with('#')).count() >= 4,
        "{config}"
    );
    ok(&env.orc(&["validate"]));
    // No vault unless asked for.
    assert!(!env.path("state/orc.key").exists());
}

#[test]
fn init_yes_with_flags_creates_the_vault_and_alert_mail() {
    let env = new_env();
    let o = env.orc(&[
        "init",
        "--yes",
        "--backend",
        "embedded",
        "--vault",
        "key-file",
        "--smtp-server",
        "smtp.example.com",
        "--smtp-from",
        "orc@example.com",
        "--alert-email",
        "ops@example.com",
        "--smtp-login",
    ]);
    ok(&o);
    let config = read(&env.path("tasks.toml"));
    for want in [
        "backend = \"embedded\"",
        "server = \"smtp.example.com\"",
        "email = [\"ops@example.com\"]",
        "password = { secret = \"smtp_password\" }",
        "notify = [\"ops\"]",
    ] {
        assert!(config.contains(want), "{want} missing:\n{config}");
    }
    assert!(env.path("state/orc.key").is_file());
    // The vault opens with the key file it made.
    ok(&env.orc(&["secret", "list"]));
    ok(&env.orc(&["validate"]));
}

#[test]
fn init_refuses_to_replace_a_file_unless_forced() {
    let env = new_env();
    let mine = "# my own tasks\n[tasks.keep]\ncommand = \"true\"\n";
    std::fs::write(env.path("tasks.toml"), mine).unwrap();
    let err = failed(&env.orc(&["init", "--yes"]));
    assert!(err.contains("tasks.toml exists already"), "{err}");
    assert!(err.contains("--force"), "{err}");
    assert_eq!(read(&env.path("tasks.toml")), mine);
    assert!(
        !env.path("state/state.db").exists(),
        "nothing else was made"
    );

    ok(&env.orc(&["init", "--yes", "--force"]));
    let config = read(&env.path("tasks.toml"));
    assert!(config.contains("[tasks.hello]") && !config.contains("[tasks.keep]"));
    ok(&env.orc(&["validate"]));
}

#[test]
fn init_without_a_terminal_or_yes_says_to_add_yes_and_writes_nothing() {
    let env = new_env();
    let err = failed(&env.orc(&["init"]));
    assert!(err.contains("--yes"), "{err}");
    assert!(!env.path("tasks.toml").exists());
    let err = failed(&env.orc(&["init", "--yes", "--timezone", "Mars/Olympus"]));
    assert!(
        err.contains("--timezone") && err.contains("Mars/Olympus"),
        "{err}"
    );
    assert!(!env.path("tasks.toml").exists());
}

const COMMENTED: &str = "\
# Our nightly jobs.   (trailing spaces and odd layout are kept)
[settings]
backend   =   \"embedded\"     # aligned by hand

[smtp]
server = \"smtp.example.com\"
from = \"orc@example.com\"

[notify.ops]
email = [\"ops@example.com\"]

[tasks.extract]
command = \"python extract.py\"   # the first step
schedule = \"0 1 * * *\"

# a closing comment, after the last table";

#[test]
fn new_by_flags_appends_the_task_keeping_the_file_byte_for_byte() {
    let env = new_env();
    std::fs::write(env.path("tasks.toml"), COMMENTED).unwrap();
    let o = env.orc(&[
        "new",
        "--name",
        "load",
        "--type",
        "report",
        "--description",
        "Load \"the\" data",
        "--command",
        "python load.py --all",
        "--schedule",
        "30 2 * * 1-5",
        "--timeout",
        "2h",
        "--retries",
        "2",
        "--depends-on",
        "extract",
        "--depends-on",
        "file:/data/ready.flag",
        "--notify",
        "ops",
    ]);
    ok(&o);
    assert!(
        text(&o.stdout).contains("Plan: 2 to add"),
        "{}",
        text(&o.stdout)
    );
    let after = read(&env.path("tasks.toml"));
    assert!(after.starts_with(COMMENTED), "{after}");
    let added = &after[COMMENTED.len()..];
    assert_eq!(
        added,
        "\n\n[tasks.load]\ntype = \"report\"\ndescription = 'Load \"the\" data'\n\
         command = \"python load.py --all\"\nschedule = \"30 2 * * 1-5\"\ntimeout = \"2h\"\n\
         retry_count = 2\ndependencies = [\"extract\", \"file:/data/ready.flag\"]\n\
         notify = [\"ops\"]\n"
    );
    ok(&env.orc(&["validate"]));
}

#[test]
fn new_with_a_bad_flag_value_says_why_and_changes_nothing() {
    let env = new_env();
    std::fs::write(env.path("tasks.toml"), COMMENTED).unwrap();
    let cases: [(&[&str], &str); 7] = [
        (
            &["--name", "x", "--command", "a", "--schedule", "61 * * * *"],
            "--schedule: invalid schedule \"61 * * * *\"",
        ),
        (
            &["--name", "extract", "--command", "a", "--on-demand"],
            "a task \"extract\" exists already (",
        ),
        (
            &["--name", "bad name", "--command", "a", "--on-demand"],
            "--name:",
        ),
        (
            &["--command", "a"],
            "missing --name, --schedule (or --on-demand)",
        ),
        (
            &[
                "--name",
                "x",
                "--command",
                "a",
                "--on-demand",
                "--notify",
                "devs",
            ],
            "no [notify.devs] in the config; its groups are ops",
        ),
        (
            &[
                "--name",
                "x",
                "--command",
                "a",
                "--on-demand",
                "--depends-on",
                "nope",
            ],
            "no task \"nope\"",
        ),
        (
            &[
                "--name",
                "x",
                "--command",
                "a",
                "--on-demand",
                "--timeout",
                "soon",
            ],
            "--timeout: invalid timeout",
        ),
    ];
    for (args, want) in cases {
        let mut all = vec!["new"];
        all.extend_from_slice(args);
        let err = failed(&env.orc(&all));
        assert!(err.contains(want), "{args:?}: want {want:?} in:\n{err}");
        assert!(err.contains("nothing was changed"), "{err}");
        assert_eq!(read(&env.path("tasks.toml")), COMMENTED, "{args:?}");
    }
}

#[test]
fn new_appends_to_the_chosen_included_file() {
    let env = new_env();
    let main = "[settings]\nbackend = \"embedded\"\ninclude = [\"tasks.d/*.toml\"]\n";
    let extra = "# maintenance jobs\n[tasks.vacuum]\ncommand = \"sqlite3 db vacuum\"\n";
    std::fs::create_dir(env.path("tasks.d")).unwrap();
    std::fs::write(env.path("tasks.toml"), main).unwrap();
    std::fs::write(env.path("tasks.d/maint.toml"), extra).unwrap();
    let o = env.orc(&[
        "new",
        "--name",
        "rotate",
        "--command",
        "logrotate x",
        "--schedule",
        "@daily",
        "--file",
        "tasks.d/maint.toml",
    ]);
    ok(&o);
    assert_eq!(read(&env.path("tasks.toml")), main);
    let after = read(&env.path("tasks.d/maint.toml"));
    assert!(
        after.starts_with(extra) && after.contains("[tasks.rotate]"),
        "{after}"
    );
    let err = failed(&env.orc(&[
        "new",
        "--name",
        "y",
        "--command",
        "a",
        "--on-demand",
        "--file",
        "other.toml",
    ]));
    assert!(err.contains("not one of the config's files"), "{err}");
}

#[test]
fn no_command_off_a_terminal_prints_the_help_and_exits_1() {
    let env = new_env();
    let o = env.orc(&[]);
    let err = failed(&o);
    assert!(err.contains("Usage: orc [OPTIONS] [COMMAND]"), "{err}");
    assert!(err.contains("init") && err.contains("new"), "{err}");
    assert!(o.stdout.is_empty());
}

/// orc in `env`'s folder with the system time zone UTC and, first on PATH, a
/// `crontab` that holds nothing (so the cron backend's plan reads no real crontab).
fn orc_utc(env: &TestEnv, args: &[&str]) -> Output {
    let bin = env.path("fake-bin");
    if !bin.exists() {
        std::fs::create_dir_all(&bin).unwrap();
        let crontab = bin.join("crontab");
        std::fs::write(
            &crontab,
            "#!/bin/sh\n[ \"$1\" = -l ] && exit 0\ncat >/dev/null\n",
        )
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&crontab, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
    let path = std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap();
    env.command(args)
        .env("TZ", "UTC")
        .env("PATH", path)
        .output()
        .unwrap()
}

#[test]
fn init_refuses_a_time_zone_cron_cannot_honour_before_writing_anything() {
    let env = new_env();
    let o = orc_utc(
        &env,
        &[
            "init",
            "--yes",
            "--backend",
            "cron",
            "--timezone",
            "Europe/Berlin",
        ],
    );
    let err = failed(&o);
    assert!(
        err.contains(
            "error: the cron backend cannot honour the time zone Europe/Berlin: cron fires in the \
             system time zone (UTC). Use --timezone local (the system's zone), or --backend \
             embedded, whose scheduler runs schedules in any zone; nothing was changed"
        ),
        "{err}"
    );
    assert!(!env.path("tasks.toml").exists(), "init wrote the config");
    assert!(!env.path("state").exists(), "init created the state");
    // The system's own zone, by name, is what cron runs: accepted, and it plans.
    ok(&orc_utc(
        &env,
        &["init", "--yes", "--backend", "cron", "--timezone", "UTC"],
    ));
    ok(&orc_utc(&env, &["validate"]));
    ok(&orc_utc(&env, &["plan"]));
}

#[test]
fn every_init_example_in_the_help_writes_a_config_that_validates_and_plans() {
    let help = text(&orc_utc(&new_env(), &["init", "--help"]).stdout);
    // One example a line, continued after a trailing backslash (or wrapped by clap).
    let mut examples: Vec<Vec<&str>> = Vec::new();
    let section = help
        .split("Examples:")
        .nth(1)
        .expect("the help has examples");
    for line in section
        .lines()
        .map(|l| l.trim().trim_end_matches('\\').trim_end())
        .filter(|l| !l.is_empty())
    {
        match line.strip_prefix("orc ") {
            Some(rest) => examples.push(rest.split_whitespace().collect()),
            None => examples
                .last_mut()
                .expect("an example starts with orc")
                .extend(line.split_whitespace()),
        }
    }
    assert!(examples.len() >= 3, "{help}");
    for args in examples {
        if !args.contains(&"--yes") {
            continue; // asks on a terminal: tests/wizard.rs
        }
        let env = new_env();
        let o = orc_utc(&env, &args);
        ok(&o);
        let out = text(&o.stdout);
        assert!(out.contains("Plan: 1 to add"), "{args:?}: {out}");
        ok(&orc_utc(&env, &["validate"]));
        ok(&orc_utc(&env, &["plan"]));
    }
}
