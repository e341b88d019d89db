//! The questions of `orc init`, `orc new` and the menu, answered through a real
//! pseudo-terminal (expectrl): keys go in as a terminal sends them (Enter is `\r`,
//! arrows are escape sequences), and the screen is read back as drawn. Unix only.

#![cfg(unix)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use expectrl::session::OsSession as Pty;
use expectrl::{Expect, Session};

const ENTER: &str = "\r";
const DOWN: &str = "\x1b[B";
const RIGHT: &str = "\x1b[C";
const ESC: &str = "\x1b";
const BACKSPACE: &str = "\x7f";
const CTRL_U: &str = "\x15";
const CTRL_W: &str = "\x17";
const CTRL_A: &str = "\x01";
const CTRL_E: &str = "\x05";

mod common;
use common::TestEnv;

/// A folder for orc, found there as a person would run it (no ORC_CONFIG), with an
/// xterm for the pseudo-terminal.
fn new_env() -> TestEnv {
    TestEnv::builder()
        .config_in_cwd()
        .env("TERM", "xterm")
        .build()
}

trait Terminal {
    fn pty(&self, args: &[&str]) -> Pty;
}

impl Terminal for TestEnv {
    /// orc on a 120×40 pseudo-terminal, under `sh`, which then prints orc's exit
    /// code on the screen (read like the rest) and keeps the terminal open a moment.
    fn pty(&self, args: &[&str]) -> Pty {
        let command = self.command(&[]);
        let mut sh = Command::new("sh");
        sh.arg("-c")
            .arg("\"$0\" \"$@\"; echo \"orc exited $?\"; sleep 3")
            .arg(env!("CARGO_BIN_EXE_orc"))
            .args(args)
            .current_dir(self.dir());
        for (k, v) in command.get_envs() {
            match v {
                Some(v) => sh.env(k, v),
                None => sh.env_remove(k),
            };
        }
        let mut s = Session::spawn(sh).unwrap();
        s.get_process_mut().set_window_size(120, 40).unwrap();
        s.set_expect_timeout(Some(Duration::from_secs(20)));
        s
    }
}

/// Wait for `needle` on the screen; on a timeout, fail saying what was awaited and
/// what the screen showed.
fn expect(s: &mut Pty, needle: &str) -> String {
    match s.expect(needle) {
        Ok(found) => String::from_utf8_lossy(found.before()).into_owned(),
        Err(e) => {
            let rest = s
                .expect(expectrl::Eof)
                .map(|f| String::from_utf8_lossy(f.as_bytes()).into_owned())
                .unwrap_or_default();
            panic!("waiting for {needle:?}: {e}; the screen ends with:\n{rest}")
        }
    }
}

fn send(s: &mut Pty, keys: &str) {
    s.send(keys).unwrap();
    // crossterm reads a lone ESC as the Esc key only if nothing follows at once.
    std::thread::sleep(Duration::from_millis(100));
}

fn exits_with(s: &mut Pty, code: i32) {
    expect(s, &format!("orc exited {code}\r\n"));
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap()
}

#[test]
fn init_asks_and_writes_a_config_that_validates_with_the_vault_and_mail() {
    let env = new_env();
    let mut s = env.pty(&["init"]);
    expect(&mut s, "Which scheduler should run the tasks?");
    expect(&mut s, "embedded scheduler here (recommended");
    send(&mut s, ENTER);
    expect(&mut s, "Time zone of the schedules:");
    send(&mut s, "Mars/Olympus");
    send(&mut s, ENTER);
    expect(&mut s, "unknown time zone \"Mars/Olympus\"");
    // Refused with the reason; the question stays. Ctrl-U clears the answer, as in a
    // shell (it once typed a "u"); Ctrl-W deletes a word, Ctrl-A goes to the start.
    send(&mut s, CTRL_U);
    send(&mut s, "Berlin Europe/");
    send(&mut s, CTRL_A);
    for _ in 0.."Berlin ".len() {
        send(&mut s, RIGHT);
    }
    send(&mut s, CTRL_W);
    send(&mut s, CTRL_E);
    send(&mut s, "Berlin");
    send(&mut s, ENTER);
    expect(&mut s, "Create a vault");
    send(&mut s, DOWN);
    send(&mut s, ENTER);
    expect(&mut s, "Send alert mail when a task fails?");
    send(&mut s, "y");
    send(&mut s, ENTER);
    expect(&mut s, "SMTP server:");
    send(&mut s, "smtp.example.com");
    send(&mut s, ENTER);
    expect(&mut s, "SMTP port:");
    send(&mut s, ENTER);
    expect(&mut s, "Send alerts from:");
    send(&mut s, "not-an-address");
    send(&mut s, ENTER);
    expect(&mut s, "is not a mail address");
    for _ in 0.."not-an-address".len() {
        send(&mut s, BACKSPACE);
    }
    send(&mut s, "orc@example.com");
    send(&mut s, ENTER);
    expect(&mut s, "Send alerts to:");
    send(&mut s, "ops@example.com");
    send(&mut s, ENTER);
    expect(&mut s, "need a login?");
    send(&mut s, "n");
    send(&mut s, ENTER);
    expect(&mut s, "Created the vault with the key file");
    expect(&mut s, "Plan: 1 to add, 1 to change, 0 to destroy.");
    exits_with(&mut s, 0);

    let config = read(&env.path("tasks.toml"));
    for want in [
        "backend = \"auto\"",
        "timezone = \"Europe/Berlin\"",
        "server = \"smtp.example.com\"",
        "email = [\"ops@example.com\"]",
        "[tasks.hello]",
    ] {
        assert!(config.contains(want), "{want} missing:\n{config}");
    }
    assert!(!config.contains("Mars"), "{config}");
    assert!(env.path("state/orc.key").is_file());
    env.orc_ok(&["validate"]);
}

const COMMENTED: &str = "\
# Nightly jobs; keep this comment.
[settings]
backend = \"embedded\"   # orc's own scheduler
timezone = \"UTC\"

[smtp]
server = \"smtp.example.com\"
from = \"orc@example.com\"

[notify.ops]
email = [\"ops@example.com\"]

[tasks.extract]
command = \"python extract.py\"     # first
schedule = \"0 1 * * *\"
# the end
";

#[test]
fn new_refuses_a_bad_schedule_with_the_reason_then_appends_keeping_the_comments() {
    let env = new_env();
    std::fs::write(env.path("tasks.toml"), COMMENTED).unwrap();
    let mut s = env.pty(&["new"]);
    expect(&mut s, "Name:");
    send(&mut s, "extract");
    send(&mut s, ENTER);
    expect(&mut s, "a task \"extract\" exists already");
    for _ in 0.."extract".len() {
        send(&mut s, BACKSPACE);
    }
    send(&mut s, "load");
    send(&mut s, ENTER);
    expect(&mut s, "Type:");
    send(&mut s, DOWN);
    send(&mut s, DOWN);
    send(&mut s, ENTER); // report
    expect(&mut s, "Description:");
    send(&mut s, "Load the data");
    send(&mut s, ENTER);
    expect(&mut s, "Command:");
    send(&mut s, "python load.py --all");
    send(&mut s, ENTER);
    expect(&mut s, "Schedule:");
    // The preview follows the typing: the reason while it is wrong...
    send(&mut s, "61 * * * *");
    expect(&mut s, "✗ 61 is out of range for the minute field");
    send(&mut s, ENTER);
    expect(
        &mut s,
        "invalid schedule: 61 is out of range for the minute field",
    );
    for _ in 0.."61 * * * *".len() {
        send(&mut s, BACKSPACE);
    }
    // ...the words and the next fire times once it is right.
    send(&mut s, "0 6 * * 1-5");
    expect(&mut s, "06:00");
    expect(&mut s, "next: ");
    send(&mut s, ENTER);
    expect(&mut s, "Timeout:");
    send(&mut s, "soon");
    send(&mut s, ENTER);
    expect(&mut s, "is not a duration");
    for _ in 0.."soon".len() {
        send(&mut s, BACKSPACE);
    }
    send(&mut s, "30m");
    send(&mut s, ENTER);
    expect(&mut s, "Retries:");
    send(&mut s, BACKSPACE);
    send(&mut s, "2");
    send(&mut s, ENTER);
    expect(&mut s, "Depends on tasks:");
    send(&mut s, " ");
    send(&mut s, ENTER);
    expect(&mut s, "Other dependency:");
    send(&mut s, "ftp:x");
    send(&mut s, ENTER);
    expect(&mut s, "unknown dependency kind");
    for _ in 0.."ftp:x".len() {
        send(&mut s, BACKSPACE);
    }
    send(&mut s, "file:/data/ready.flag");
    send(&mut s, ENTER);
    expect(&mut s, "Other dependency:");
    send(&mut s, ENTER);
    expect(&mut s, "Alert these notification groups:");
    send(&mut s, " ");
    send(&mut s, ENTER);
    expect(&mut s, "Added [tasks.load] to");
    expect(&mut s, "Plan: 2 to add, 1 to change, 0 to destroy.");
    exits_with(&mut s, 0);

    let after = read(&env.path("tasks.toml"));
    assert!(after.starts_with(COMMENTED), "{after}");
    assert_eq!(
        &after[COMMENTED.len()..],
        "\n[tasks.load]\ntype = \"report\"\ndescription = \"Load the data\"\n\
         command = \"python load.py --all\"\nschedule = \"0 6 * * 1-5\"\ntimeout = \"30m\"\n\
         retry_count = 2\ndependencies = [\"extract\", \"file:/data/ready.flag\"]\n\
         notify = [\"ops\"]\n"
    );
    env.orc_ok(&["validate"]);
}

#[test]
fn new_cancelled_with_esc_changes_nothing() {
    let env = new_env();
    std::fs::write(env.path("tasks.toml"), COMMENTED).unwrap();
    let mut s = env.pty(&["new"]);
    expect(&mut s, "Name:");
    send(&mut s, "half");
    send(&mut s, ENTER);
    expect(&mut s, "Type:");
    send(&mut s, ESC);
    expect(&mut s, "cancelled; nothing was changed");
    exits_with(&mut s, 1);
    assert_eq!(read(&env.path("tasks.toml")), COMMENTED);
}

#[test]
fn the_menu_runs_status_and_comes_back() {
    let env = new_env();
    std::fs::write(env.path("tasks.toml"), COMMENTED).unwrap();
    env.orc_ok(&["apply", "--auto-approve"]);
    let mut s = env.pty(&[]);
    let menu = expect(&mut s, "quit");
    assert!(menu.contains("orc: what now?"), "{menu}");
    assert!(!menu.contains("extract"), "{menu}");
    send(&mut s, ENTER); // status, the first entry
    expect(&mut s, "NAME");
    expect(&mut s, "extract");
    expect(&mut s, "0 1 * * *");
    // Back at the menu after the command; Esc leaves.
    expect(&mut s, "orc: what now?");
    send(&mut s, ESC);
    exits_with(&mut s, 0);
}
