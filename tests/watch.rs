//! `orc watch` with real files and the real file watcher (inotify here): edits are
//! applied, bursts are one apply, broken saves apply nothing (and are alerted),
//! editor-style atomic saves and new files in included folders are seen, drift is
//! repaired at the interval, and a config folder removed and created again is
//! survived. The watcher keeps running through all of it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;
use common::TestEnv;

/// A running `orc watch` and everything it printed so far.
struct Watching {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    /// The folder: the config files, and the state at `state.db`.
    env: TestEnv,
}

impl Drop for Watching {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const MAIN: &str = "# The team's tasks: comments stay.
[settings]
backend = \"embedded\"
include = [\"tasks.d/*.toml\"]

[tasks.first]
shell = \"echo first\"
schedule = \"@daily\"
";

impl Watching {
    /// `orc watch` on `config` (relative to a fresh folder holding `files`).
    fn start(files: &[(&str, &str)], config: &str, interval: &str) -> Watching {
        let w = Watching::launch(files, config, interval);
        w.wait_for("the first apply", |out| out.contains("Apply complete!"));
        w
    }

    /// `orc watch` started, without waiting for anything.
    fn launch(files: &[(&str, &str)], config: &str, interval: &str) -> Watching {
        Watching::launch_with(files, config, interval, &[])
    }

    /// As [`Watching::launch`], with more variables for orc.
    fn launch_with(
        files: &[(&str, &str)],
        config: &str,
        interval: &str,
        vars: &[(&str, &str)],
    ) -> Watching {
        let mut builder = TestEnv::builder().state("state.db").config_in_cwd();
        for (name, value) in vars {
            builder = builder.env(name, value);
        }
        let env = builder.build();
        for (name, text) in files {
            env.write(name, text);
        }
        let mut child = env
            .command(&[
                "watch",
                "--interval",
                interval,
                "--config",
                config,
                // An emptied file must not fall back to the platform's scheduler.
                "--backend",
                "embedded",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(line);
                }
            });
        }
        Watching { child, lines, env }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.env.path(rel)
    }

    fn output(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    fn applies(&self) -> usize {
        self.output().matches("Apply complete!").count()
    }

    /// The tasks destroyed by all applies so far, from their summary lines.
    fn destroyed(&self) -> usize {
        self.output()
            .lines()
            .filter(|l| l.contains("Apply complete!"))
            .map(|l| {
                let words: Vec<&str> = l.split_whitespace().collect();
                let at = words
                    .iter()
                    .position(|w| w.starts_with("destroyed"))
                    .unwrap();
                words[at - 1].parse::<usize>().unwrap()
            })
            .sum()
    }

    /// Wait (up to 20 s, for a loaded machine) until the output satisfies `done`;
    /// returns how long it took.
    fn wait_for(&self, what: &str, done: impl Fn(&str) -> bool) -> Duration {
        let start = Instant::now();
        loop {
            if done(&self.output()) {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "timed out waiting for {what}; orc watch printed:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Wait until `count` applies have completed.
    fn wait_applies(&self, what: &str, count: usize) -> Duration {
        self.wait_for(what, |out| out.matches("Apply complete!").count() >= count)
    }

    /// The tasks the embedded scheduler has now.
    /// `orc apply` by a person, beside the watcher, on its state (`extra`: more flags).
    fn apply_by_hand(&self, extra: &[&str]) {
        let applied = self
            .env
            .command(&["apply", "--auto-approve", "--backend", "embedded"])
            .args(extra)
            .output()
            .unwrap();
        assert!(applied.status.success(), "{applied:?}");
    }

    fn live_tasks(&self) -> Vec<String> {
        let text = std::fs::read_to_string(self.path("registry/Orc.json")).unwrap_or_default();
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        doc["tasks"]
            .as_object()
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default()
    }

    fn still_running(&mut self) {
        assert!(
            self.child.try_wait().unwrap().is_none(),
            "orc watch stopped:\n{}",
            self.output()
        );
    }
}

fn task(name: &str) -> String {
    format!("[tasks.{name}]\nshell = \"echo {name}\"\nschedule = \"@hourly\"\n")
}

/// Write `text` as an editor with atomic saves does: a temporary file renamed over.
fn atomic_save(path: &Path, text: &str) {
    let tmp = path.with_extension("toml.swp-tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[test]
fn edits_are_applied_and_broken_ones_are_not() {
    let mut w = Watching::start(
        &[("tasks.toml", MAIN), ("tasks.d/team.toml", &task("team"))],
        "tasks.toml",
        "1h",
    );
    assert_eq!(w.live_tasks(), ["first", "team"]);

    // An edit is applied (the benchmark measures how fast: benches/watch_latency.sh).
    std::fs::write(w.path("tasks.toml"), format!("{MAIN}\n{}", task("second"))).unwrap();
    let took = w.wait_applies("the edit", 2);
    eprintln!("edit applied after {took:?}");
    assert_eq!(w.live_tasks(), ["first", "second", "team"]);

    // Ten saves within a second: one apply, of the last one.
    let mut text = format!("{MAIN}\n{}", task("second"));
    for i in 0..10 {
        text.push_str(&format!("\n{}", task(&format!("burst{i}"))));
        std::fs::write(w.path("tasks.toml"), &text).unwrap();
        std::thread::sleep(Duration::from_millis(90));
    }
    w.wait_applies("the burst", 3);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(w.applies(), 3, "one apply for ten saves:\n{}", w.output());
    assert_eq!(w.live_tasks().len(), 13);

    // A broken save: reported with file:line:col, nothing applied.
    let before = std::fs::read(w.path("registry/Orc.json")).unwrap();
    std::fs::write(
        w.path("tasks.d/team.toml"),
        "[tasks.team]\nshell = \"echo team\"\nschedule = \"61 * * * *\"\n",
    )
    .unwrap();
    w.wait_for("the error", |out| out.contains("does not load"));
    w.wait_for("its location", |out| out.contains("tasks.d/team.toml:3:12"));
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(w.applies(), 3);
    assert_eq!(std::fs::read(w.path("registry/Orc.json")).unwrap(), before);

    // The next valid save (atomic, as editors do it) is applied.
    atomic_save(
        &w.path("tasks.d/team.toml"),
        &task("team").replace("@hourly", "@weekly"),
    );
    w.wait_applies("the fixed file", 4);
    w.wait_for("the all-clear", |out| out.contains("loads again"));
    let registry = std::fs::read_to_string(w.path("registry/Orc.json")).unwrap();
    assert!(registry.contains("@weekly"), "{registry}");

    // A new file in the included folder.
    std::fs::write(w.path("tasks.d/new.toml"), task("brand_new")).unwrap();
    w.wait_applies("the new file", 5);
    assert!(w.live_tasks().contains(&"brand_new".to_string()));

    // A git pull that changes many files at once: one apply.
    for i in 0..20 {
        std::fs::write(
            w.path(&format!("tasks.d/pulled{i:02}.toml")),
            task(&format!("pulled{i:02}")),
        )
        .unwrap();
    }
    w.wait_applies("the pull", 6);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(w.applies(), 6, "one apply for the pull:\n{}", w.output());
    assert_eq!(w.live_tasks().len(), 34);

    // Saving without a change, and files that are not config, do nothing.
    std::fs::write(w.path("tasks.d/new.toml"), task("brand_new")).unwrap();
    std::fs::write(w.path("tasks.d/notes.txt"), "not config").unwrap();
    std::fs::write(w.path("tasks.d/.team.toml.swp"), "editor swap").unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(w.applies(), 6, "{}", w.output());
    assert!(
        std::fs::read_to_string(w.path("tasks.toml"))
            .unwrap()
            .starts_with("# The team's tasks")
    );
    w.still_running();
}

#[test]
fn a_broken_save_is_alerted_when_groups_exist() {
    // Mail goes to a port nothing listens on: the alert is queued in the state,
    // to be retried, which is what this test can see without a mail server.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = format!(
        "[settings]\nbackend = \"embedded\"\n\n[smtp]\nserver = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\nfrom = \"orc@example.com\"\ntimeout = \"2s\"\n\n\
         [notify.ops]\nemail = [\"ops@example.com\"]\non = [\"failure\"]\n\n{}",
        task("first")
    );
    let mut w = Watching::start(&[("tasks.toml", &config)], "tasks.toml", "1h");
    std::fs::write(
        w.path("tasks.toml"),
        config.replace("@hourly", "every hour"),
    )
    .unwrap();
    w.wait_for("the error", |out| out.contains("does not load"));
    let queued = || -> Vec<(String, String)> {
        let db = rusqlite::Connection::open(w.path("state.db")).unwrap();
        let mut stmt = db
            .prepare("SELECT event, subject FROM notifications")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0).unwrap(), r.get(1).unwrap())))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let start = Instant::now();
    while queued().is_empty() {
        assert!(start.elapsed() < Duration::from_secs(20), "{}", w.output());
        std::thread::sleep(Duration::from_millis(100));
    }
    let mails = queued();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0].0, "config_error");
    assert!(mails[0].1.contains("tasks.toml does not load"), "{mails:?}");
    // The same broken file saved again is not alerted again.
    std::fs::write(
        w.path("tasks.toml"),
        config.replace("@hourly", "every hour") + "\n",
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(queued().len(), 1);
    w.still_running();
}

/// The queued alert mails of a state: (event, subject).
fn queued_mails(state: &Path) -> Vec<(String, String)> {
    let db = rusqlite::Connection::open(state).unwrap();
    let mut stmt = db
        .prepare("SELECT event, subject FROM notifications")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0).unwrap(), r.get(1).unwrap())))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn a_failing_apply_is_retried_each_interval_but_alerted_once() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let groups = format!(
        "[settings]\nbackend = \"embedded\"\n\n[smtp]\nserver = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\nfrom = \"orc@example.com\"\ntimeout = \"2s\"\n\n\
         [notify.ops]\nemail = [\"ops@example.com\"]\non = [\"failure\"]\n\n"
    );
    // First applied without the task that needs a secret, so the state knows the
    // groups; then the task comes, and every apply is refused: the vault lacks it.
    let mut w = Watching::start(
        &[("tasks.toml", &format!("{groups}{}", task("plain")))],
        "tasks.toml",
        "1s",
    );
    std::fs::write(
        w.path("tasks.toml"),
        format!("{groups}{}\n[tasks.needs_secret]\nshell = \"echo $T\"\nenv = {{ T = {{ secret = \"nope\" }} }}\n", task("plain")),
    )
    .unwrap();
    w.wait_for("the refused apply", |out| out.contains("apply failed"));
    std::thread::sleep(Duration::from_millis(3500));
    let out = w.output();
    assert_eq!(out.matches("apply failed").count(), 1, "{out}");
    exactly_one_alert_queued(&w);
    w.still_running();
}

#[test]
fn drift_is_repaired_at_the_interval() {
    let mut w = Watching::start(
        &[(
            "tasks.toml",
            &format!(
                "[settings]\nbackend = \"embedded\"\n\n{}\n{}",
                task("kept"),
                task("deleted_by_hand")
            ),
        )],
        "tasks.toml",
        "2s",
    );
    // Someone removes a task from the live scheduler by hand.
    let registry = w.path("registry/Orc.json");
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&registry).unwrap()).unwrap();
    doc["tasks"]
        .as_object_mut()
        .unwrap()
        .remove("deleted_by_hand");
    std::fs::write(&registry, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
    assert_eq!(w.live_tasks(), ["kept"]);
    w.wait_applies("the repair", 2);
    let out = w.output();
    assert!(out.contains("drift in 1 task"), "{out}");
    assert!(
        out.contains("deleted_by_hand was deleted outside orc"),
        "{out}"
    );
    assert_eq!(w.live_tasks(), ["deleted_by_hand", "kept"]);
    w.still_running();
}

#[test]
fn a_config_folder_removed_and_created_again_is_survived() {
    let mut w = Watching::start(
        &[
            (
                "conf/main.toml",
                &format!("[settings]\nbackend = \"embedded\"\n\n{}", task("one")),
            ),
            ("conf/more.toml", &task("two")),
        ],
        "conf",
        "1h",
    );
    assert_eq!(w.live_tasks(), ["one", "two"]);
    // `git checkout` of a branch without the folder: an error, and nothing destroyed.
    std::fs::remove_dir_all(w.path("conf")).unwrap();
    w.wait_for("the missing folder", |out| out.contains("does not load"));
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(w.live_tasks(), ["one", "two"]);
    assert_eq!(w.applies(), 1);
    // Back to the branch, with a change: seen and applied.
    std::fs::create_dir(w.path("conf")).unwrap();
    std::fs::write(
        w.path("conf/main.toml"),
        format!("[settings]\nbackend = \"embedded\"\n\n{}", task("one")),
    )
    .unwrap();
    std::fs::write(
        w.path("conf/more.toml"),
        format!("{}\n{}", task("two"), task("three")),
    )
    .unwrap();
    w.wait_applies("the folder back", 2);
    assert_eq!(w.live_tasks(), ["one", "three", "two"]);
    // And it is still watched: a later edit lands too.
    std::fs::write(w.path("conf/more.toml"), task("two")).unwrap();
    w.wait_applies("an edit in the new folder", 3);
    assert_eq!(w.live_tasks(), ["one", "two"]);
    w.still_running();
}

#[test]
fn a_bad_interval_is_refused_before_anything_runs() {
    for (interval, says) in [("0s", "at least 1s"), ("soon", "is not a duration")] {
        let o = TestEnv::builder().in_repo().build().orc(&[
            "watch",
            "--interval",
            interval,
            "--config",
            "nowhere.toml",
        ]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(err.contains("--interval") && err.contains(says), "{err}");
    }
}

/// A config of `count` tasks (`t00`, `t01`, ...), as one string per piece: the
/// settings, then each task.
fn many_tasks(settings: &str, count: usize) -> Vec<String> {
    let mut pieces = vec![settings.to_string()];
    pieces.extend((0..count).map(|i| format!("\n{}", task(&format!("t{i:02}")))));
    pieces
}

const EMBEDDED: &str = "[settings]\nbackend = \"embedded\"\n";

/// Nothing destroyed, and the scheduler still has all `count` tasks.
fn nothing_destroyed(w: &Watching, count: usize) {
    assert_eq!(w.destroyed(), 0, "{}", w.output());
    assert_eq!(w.live_tasks().len(), count, "{}", w.output());
}

#[test]
fn a_file_truncated_and_written_again_destroys_nothing() {
    // Alerts are queued in the state (nothing listens on the port), to count them.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let settings = format!(
        "{EMBEDDED}\n[smtp]\nserver = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\nfrom = \"orc@example.com\"\ntimeout = \"2s\"\n\n\
         [notify.ops]\nemail = [\"ops@example.com\"]\non = [\"failure\"]\n"
    );
    let full = many_tasks(&settings, 20).concat();
    let mut w = Watching::start(&[("tasks.toml", &full)], "tasks.toml", "1s");
    assert_eq!(w.live_tasks().len(), 20);

    // A writer that truncates first and writes the file again 1.5 s later.
    std::fs::File::create(w.path("tasks.toml")).unwrap();
    w.wait_for("the held plan", |out| out.contains("save in progress"));
    std::thread::sleep(Duration::from_millis(1500));
    std::fs::write(w.path("tasks.toml"), &full).unwrap();
    w.wait_for("the all-clear", |out| out.contains("nothing is held back"));
    // Some intervals go by: nothing more is applied.
    std::thread::sleep(Duration::from_millis(2500));
    nothing_destroyed(&w, 20);
    assert_eq!(w.applies(), 1, "{}", w.output());
    let out = w.output();
    assert_eq!(out.matches("save in progress").count(), 1, "{out}");
    assert!(out.contains("destroys every task (20 tasks)"), "{out}");
    // Reported once, alerted once.
    exactly_one_alert_queued(&w);
    w.still_running();
}

#[test]
fn an_emptied_file_stays_held_until_orc_apply() {
    let full = many_tasks(EMBEDDED, 3).concat();
    let mut w = Watching::start(&[("tasks.toml", &full)], "tasks.toml", "1s");
    // Meant or not, a file without its tasks is not applied by watch ...
    std::fs::write(w.path("tasks.toml"), EMBEDDED).unwrap();
    w.wait_for("the held plan", |out| out.contains("save in progress"));
    std::thread::sleep(Duration::from_millis(2500));
    nothing_destroyed(&w, 3);
    assert_eq!(w.output().matches("save in progress").count(), 1);
    // ... but `orc apply` does, and watch agrees afterwards.
    w.apply_by_hand(&[]);
    assert!(w.live_tasks().is_empty());
    w.wait_for("the all-clear", |out| out.contains("nothing is held back"));
    w.still_running();
}

#[test]
fn a_writer_pausing_mid_file_destroys_nothing() {
    use std::io::Write;
    let pieces = many_tasks(EMBEDDED, 20);
    let mut w = Watching::start(&[("tasks.toml", &pieces.concat())], "tasks.toml", "1h");
    // Half the file, a pause of 1.2 s, the rest: the same file as before.
    let mut file = std::fs::File::create(w.path("tasks.toml")).unwrap();
    file.write_all(pieces[..11].concat().as_bytes()).unwrap();
    file.flush().unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    file.write_all(pieces[11..].concat().as_bytes()).unwrap();
    drop(file);
    w.wait_for("the held plan", |out| out.contains("save in progress"));
    w.wait_for("the all-clear", |out| out.contains("nothing is held back"));
    std::thread::sleep(Duration::from_millis(1000));
    nothing_destroyed(&w, 20);
    assert_eq!(w.applies(), 1, "{}", w.output());
    w.still_running();
}

#[test]
fn a_save_that_begins_during_an_apply_is_still_seen_shrinking() {
    use std::io::Write;
    let pieces = many_tasks(EMBEDDED, 20);
    // Each apply pauses 2 s after it wrote the state, as a loaded machine might.
    let w = Watching::launch_with(
        &[("tasks.toml", &pieces.concat())],
        "tasks.toml",
        "1h",
        &[
            ("ORC_FAILPOINT", "apply:after-state"),
            ("ORC_FAILPOINT_PAUSE_MS", "2000"),
        ],
    );
    w.wait_for("the first apply to pause", |out| {
        out.contains("failpoint apply:after-state reached")
    });
    // Half the file while the first apply is still under way, then a pause.
    let mut file = std::fs::File::create(w.path("tasks.toml")).unwrap();
    file.write_all(pieces[..11].concat().as_bytes()).unwrap();
    file.flush().unwrap();
    w.wait_for("the first apply", |out| out.contains("Apply complete!"));
    std::thread::sleep(Duration::from_millis(1500));
    file.write_all(pieces[11..].concat().as_bytes()).unwrap();
    drop(file);
    w.wait_for("the held plan", |out| out.contains("save in progress"));
    std::thread::sleep(Duration::from_millis(3000));
    nothing_destroyed(&w, 20);
}

#[test]
fn a_slow_writer_is_waited_for_past_the_cap() {
    use std::io::Write;
    let pieces = many_tasks(EMBEDDED, 24);
    let mut w = Watching::start(&[("tasks.toml", &pieces.concat())], "tasks.toml", "1h");
    // A piece every 300 ms, 7 s in all: longer than the 5 s wait that used to apply.
    let mut file = std::fs::File::create(w.path("tasks.toml")).unwrap();
    for piece in &pieces {
        file.write_all(piece.as_bytes()).unwrap();
        file.flush().unwrap();
        std::thread::sleep(Duration::from_millis(300));
    }
    drop(file);
    w.wait_for("the notice", |out| out.contains("still changing"));
    // The file ends as it began: its cycle, once quiet, has nothing to say.
    std::thread::sleep(Duration::from_millis(1500));
    nothing_destroyed(&w, 24);
    assert_eq!(w.applies(), 1, "{}", w.output());
    assert!(!w.output().contains("save in progress"), "{}", w.output());
    w.still_running();
}

/// Waits for an alert mail to be queued, then checks no second one follows.
fn exactly_one_alert_queued(w: &Watching) {
    let start = Instant::now();
    while queued_mails(&w.path("state.db")).is_empty() {
        assert!(start.elapsed() < Duration::from_secs(20), "{}", w.output());
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(queued_mails(&w.path("state.db")).len(), 1, "{}", w.output());
}

/// A watched config whose folder another config applied last does not take it over:
/// the plan is held for a person's `orc apply`.
#[test]
fn a_folder_another_config_applied_is_not_taken_over() {
    let theirs = "[settings]\nfolder = \"Shared\"\n\n[tasks.only_theirs]\ncommand = \"true\"\nschedule = \"0 3 * * *\"\n";
    let mine = "[settings]\nfolder = \"Shared\"\n\n[tasks.mine]\ncommand = \"true\"\nschedule = \"0 4 * * *\"\n";
    let mut w = Watching::launch(
        &[("theirs.toml", theirs), ("mine.toml", mine)],
        "mine.toml",
        "1h",
    );
    // Their config is applied first, to the same state, as another project would.
    w.apply_by_hand(&["--config", "theirs.toml", "--lock-timeout", "30s"]);
    // Touch mine so the watcher plans again with their tasks recorded.
    std::thread::sleep(Duration::from_millis(500));
    std::fs::write(w.path("mine.toml"), format!("{mine}\n")).unwrap();
    w.wait_for("the held takeover", |out| {
        out.contains("takes over another config's folder")
    });
    let registry = std::fs::read_to_string(w.path("registry/Shared.json")).unwrap();
    assert!(
        registry.contains("\"only_theirs\""),
        "{registry}\n{}",
        w.output()
    );
    w.still_running();
}
