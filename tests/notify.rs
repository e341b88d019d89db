//! Alert mail against a real SMTP server on 127.0.0.1 (Python's aiosmtpd, from
//! `tests/smtp/server.py`) that requires AUTH, with the credentials from orc's vault.
//! Reported as ignored without python3 and aiosmtpd (`pip install aiosmtpd`), except
//! under CI=true, where that is a failure.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{Smtp, TestEnv, exit_and_output as text};

const USER: &str = "orc-alerts";
const PASSWORD: &str = "Sm7p-Pa55";

/// The test mail server, taking this file's login.
fn smtp(dir: &Path) -> Smtp {
    common::smtp(dir, USER, PASSWORD)
}

impl Smtp {
    /// The mails received so far, in order.
    fn mails(&self) -> Vec<String> {
        let mut files: Vec<(u32, PathBuf)> = std::fs::read_dir(&self.maildir)
            .map(|d| {
                d.filter_map(|e| {
                    let p = e.ok()?.path();
                    let n = p.file_stem()?.to_str()?.parse().ok()?;
                    (p.extension()? == "eml").then_some((n, p))
                })
                .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
            .iter()
            .map(|(_, p)| std::fs::read_to_string(p).unwrap())
            .collect()
    }

    fn wait_for(&self, count: usize) -> Vec<String> {
        let start = Instant::now();
        loop {
            let mails = self.mails();
            if mails.len() >= count || start.elapsed() > Duration::from_secs(10) {
                return mails;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A world whose environment holds the SMTP login, for `secret import --from-env`.
fn new_env() -> TestEnv {
    TestEnv::builder()
        .env("ORC_TEST_SMTP_user", USER)
        .env("ORC_TEST_SMTP_pass", PASSWORD)
        .build()
}

trait NotifyEnv {
    fn setup(&self, port: u16, extra: &str);
    fn run(&self, name: &str) -> Output;
}

impl NotifyEnv for TestEnv {
    /// A config alerting through `port`, the vault holding the SMTP login.
    fn setup(&self, port: u16, extra: &str) {
        std::fs::write(self.path("tasks.toml"), config(port, extra)).unwrap();
        self.orc_ok_text(&["secret", "init"]);
        self.orc_ok_text(&["secret", "import", "--from-env", "ORC_TEST_SMTP_"]);
        self.orc_ok_text(&["apply", "--auto-approve"]);
    }

    fn run(&self, name: &str) -> Output {
        self.orc(&["run", name])
    }
}

fn config(port: u16, extra: &str) -> String {
    format!(
        r#"
[settings]
backend = "embedded"

[smtp]
server = "127.0.0.1"
port = {port}
tls = "none"
username = {{ secret = "user" }}
password = {{ secret = "pass" }}
from = "orc@example.com"
timeout = "5s"

[notify.ops]
email = ["ops@example.com"]
on = ["failure", "timeout", "recovered"]

[notify.all]
email = ["team@example.com"]
on = ["success"]

[tasks.flaky]
description = "Fails while the file 'broken' exists"
shell = "echo checking; if [ -f broken ]; then echo 'disk full' >&2; exit 3; fi; echo fine"
notify = ["ops"]

{extra}
"#
    )
}

fn header<'a>(mail: &'a str, name: &str) -> &'a str {
    mail.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or("")
}

fn a_failure_mails_once_success_does_not_and_recovery_does() {
    let env = new_env();
    let server = smtp(env.dir());
    env.setup(
        server.port,
        "[tasks.quiet]\ncommand = \"true\"\nnotify = [\"all\"]\n",
    );

    std::fs::write(env.path("broken"), "").unwrap();
    let o = env.run("flaky");
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let mails = server.wait_for(1);
    assert_eq!(mails.len(), 1, "{mails:?}");
    let mail = &mails[0];
    assert_eq!(
        header(mail, "Subject"),
        "[orc] flaky FAILED on testhost (exit 3)"
    );
    assert_eq!(header(mail, "X-Envelope-To"), "ops@example.com");
    assert!(mail.contains("Exit code    3"), "{mail}");
    assert!(mail.contains("disk full"), "the log's last lines: {mail}");
    assert!(mail.contains("orc logs flaky --run 1"), "{mail}");
    assert!(mail.contains("text/html"), "an HTML part: {mail}");

    // Still failing: another mail (one per failed run); then the first success
    // after failures: "recovered", and no mail for plain success.
    env.run("flaky");
    assert_eq!(server.wait_for(2).len(), 2);
    std::fs::remove_file(env.path("broken")).unwrap();
    let o = env.run("flaky");
    assert!(o.status.success(), "{}", text(&o));
    let mails = server.wait_for(3);
    assert_eq!(mails.len(), 3);
    assert_eq!(
        header(&mails[2], "Subject"),
        "[orc] flaky RECOVERED on testhost"
    );
    let o = env.run("flaky");
    assert!(o.status.success());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        server.mails().len(),
        3,
        "success without `on = [\"success\"]` sends nothing"
    );

    // A group that asked for success gets it.
    env.run("quiet");
    let mails = server.wait_for(4);
    assert_eq!(
        header(&mails[3], "Subject"),
        "[orc] quiet succeeded on testhost"
    );
    assert_eq!(header(&mails[3], "X-Envelope-To"), "team@example.com");
}

fn a_dead_mail_server_changes_no_result_and_is_retried() {
    let env = new_env();
    let server = smtp(env.dir());
    // A port where nothing listens.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    env.setup(dead, "");
    std::fs::write(env.path("broken"), "").unwrap();
    let o = env.run("flaky");
    assert_eq!(
        o.status.code(),
        Some(3),
        "the task's own result: {}",
        text(&o)
    );
    let history = env.orc_ok_text(&["history", "flaky", "--json"]);
    let runs: serde_json::Value = serde_json::from_str(&history).unwrap();
    assert_eq!(runs[0]["status"], "failed");
    assert_eq!(runs[0]["exit_code"], 3);
    let status = env.orc_ok_text(&["status"]);
    assert!(status.contains("1 waiting to be retried"), "{status}");
    assert!(status.contains("connection"), "{status}");

    // The server is back (the config now points at it): the waiting mail goes out.
    std::fs::write(env.path("tasks.toml"), config(server.port, "")).unwrap();
    env.orc_ok_text(&["apply", "--auto-approve"]);
    let flushed = env.orc_ok_text(&["notify", "flush"]);
    assert!(flushed.contains("Sent 1"), "{flushed}");
    let mails = server.wait_for(1);
    assert_eq!(mails.len(), 1);
    assert_eq!(
        header(&mails[0], "Subject"),
        "[orc] flaky FAILED on testhost (exit 3)"
    );
}

fn notify_test_says_what_failed() {
    let env = new_env();
    let server = smtp(env.dir());
    env.setup(server.port, "");
    let out = env.orc_ok_text(&["notify", "test", "ops"]);
    assert!(out.contains("Sent a test mail to ops@example.com"), "{out}");
    assert_eq!(server.wait_for(1).len(), 1);

    let fails = |config: String, why: &str| {
        std::fs::write(env.path("tasks.toml"), config).unwrap();
        let o = env.orc(&["notify", "test", "ops"]);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(why),
            "expected {why}: {}",
            text(&o)
        );
    };
    let good = config(server.port, "");
    fails(good.replace("127.0.0.1", "no-such-host.invalid"), "DNS");
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    fails(config(dead, ""), "connection");
    fails(
        good.replace("ops@example.com", "nobody@rejected.example"),
        "rejected",
    );
    fails(good.replace("tls = \"none\"", "tls = \"tls\""), "TLS");
    // Wrong credentials in the vault.
    let mut set = env
        .command(&["secret", "set", "pass"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    set.stdin.take().unwrap().write_all(b"wrong").unwrap();
    assert!(set.wait().unwrap().success());
    fails(good, "authentication");
}

/// A history with a gap: the fires in the gap are found, recorded as one missed row,
/// and alerted once; a second check finds nothing new.
fn missed_runs_in_a_gap_are_found_and_alerted_once() {
    let env = new_env();
    let server = smtp(env.dir());
    env.setup(
        server.port,
        "[tasks.every_minute]\ncommand = \"true\"\nschedule = \"* * * * *\"\nnotify = [\"watch\"]\n\n\
         [notify.watch]\nemail = [\"watch@example.com\"]\non = [\"missed\"]\n",
    );
    let now = jiff::Timestamp::now();
    let minute = jiff::Timestamp::from_second(now.as_second() / 60 * 60).unwrap();
    let at = |mins: i64, secs: i64| {
        orc::state::timestamp(minute - jiff::SignedDuration::from_secs(mins * 60 - secs))
    };
    let db = rusqlite::Connection::open(env.path("state/state.db")).unwrap();
    db.execute(
        "UPDATE tasks SET applied_at = ?1 WHERE name = 'every_minute'",
        [at(30, -30)],
    )
    .unwrap();
    for k in (1..=30).filter(|k| !(11..=19).contains(k)) {
        db.execute(
            "INSERT INTO runs (task, folder, started_at, finished_at, status, trigger, host, pid, attempt)
             VALUES ('every_minute', 'Orc', ?1, ?1, 'success', 'scheduled', 'testhost', 1, 1)",
            [at(k, 5)],
        )
        .unwrap();
    }
    drop(db);

    let out = env.orc_ok_text(&["check-missed", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["missed"].as_array().unwrap().len(), 1, "{v}");
    let m = &v["missed"][0];
    assert_eq!(m["task"], "every_minute");
    assert_eq!(m["count"], 9, "{v}");
    assert_eq!(m["first"], at(19, 0));
    assert_eq!(m["last"], at(11, 0));
    let mails = server.wait_for(1);
    assert_eq!(mails.len(), 1);
    assert_eq!(
        header(&mails[0], "Subject"),
        "[orc] every_minute MISSED on testhost"
    );
    assert_eq!(header(&mails[0], "X-Envelope-To"), "watch@example.com");
    let history = env.orc_ok_text(&["history", "every_minute", "--status", "missed", "--json"]);
    let rows: serde_json::Value = serde_json::from_str(&history).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");

    // Checked once: nothing new, no second mail.
    let out = env.orc_ok_text(&["check-missed", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v["missed"].as_array().unwrap().is_empty(), "{v}");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(server.mails().len(), 1);
}

/// `[report]` becomes the managed task orc_report, whose run mails the report.
fn the_report_section_mails_the_report() {
    let env = new_env();
    let server = smtp(env.dir());
    env.setup(
        server.port,
        "[report]\nschedule = \"0 7 * * *\"\nemail = \"ops\"\nsince = \"7d\"\n",
    );
    let status = env.orc_ok_text(&["status"]);
    assert!(status.contains("orc_report"), "{status}");
    env.orc(&["run", "flaky"]);
    let o = env.run("orc_report");
    assert!(o.status.success(), "{}", text(&o));
    let mails = server.wait_for(1);
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(
        header(&mails[0], "Subject"),
        "[orc] report for testhost: 1 runs, 0 failed, 0 missed"
    );
    assert!(mails[0].contains("text/html"), "{}", mails[0]);
}

fn main() -> std::process::ExitCode {
    common::run_trials(vec![
        common::trial(
            "a_failure_mails_once_success_does_not_and_recovery_does",
            a_failure_mails_once_success_does_not_and_recovery_does,
            &[common::missing_python_module("aiosmtpd")],
        ),
        common::trial(
            "a_dead_mail_server_changes_no_result_and_is_retried",
            a_dead_mail_server_changes_no_result_and_is_retried,
            &[common::missing_python_module("aiosmtpd")],
        ),
        common::trial(
            "notify_test_says_what_failed",
            notify_test_says_what_failed,
            &[common::missing_python_module("aiosmtpd")],
        ),
        common::trial(
            "missed_runs_in_a_gap_are_found_and_alerted_once",
            missed_runs_in_a_gap_are_found_and_alerted_once,
            &[common::missing_python_module("aiosmtpd")],
        ),
        common::trial(
            "the_report_section_mails_the_report",
            the_report_section_mails_the_report,
            &[common::missing_python_module("aiosmtpd")],
        ),
    ])
}
