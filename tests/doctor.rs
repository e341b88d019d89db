//! `orc doctor` on real setups: a healthy one passes; then one broken thing at a time
//! (an unwritable or world-readable state, a wrong passphrase or key file, a mail
//! server that is down or refuses the login, a missing crontab program, an orc path
//! that moved) is named on its check's line with exit 1. Real files, real SQLite, a
//! real SMTP server (Python's aiosmtpd, `tests/smtp/server.py`), the real `crontab`, a
//! real `orc daemon`; a test whose tool is missing is reported as ignored, a failure
//! under CI=true. Unix only: file modes, `chattr` and /proc are what it works with.

mod common;

/// File modes, `chattr` and /proc: the suite exists only on Unix.
#[cfg(unix)]
mod suite {

    use std::path::{Path, PathBuf};
    use std::process::{Command, Output, Stdio};
    use std::time::{Duration, Instant};

    use super::common;
    use common::{Smtp, TestEnv};

    const USER: &str = "orc-alerts";
    const PASSWORD: &str = "Sm7p-Pa55";

    /// An embedded-backend config with one scheduled task, and `extra` appended; the
    /// SMTP login in the environment, for `secret import --from-env`.
    fn new_env(extra: &str) -> TestEnv {
        let env = TestEnv::builder()
            .env("ORC_TEST_SMTP_user", USER)
            .env("ORC_TEST_SMTP_pass", PASSWORD)
            .build();
        env.write_config(&config_with(extra));
        env
    }

    /// The embedded-backend config with one scheduled task, and `extra` appended.
    fn config_with(extra: &str) -> String {
        format!(
            "[settings]\nbackend = \"embedded\"\n\n[tasks.hello]\ncommand = [\"echo\", \"hi\"]\nschedule = \"0 6 * * *\"\n\n{extra}"
        )
    }

    trait DoctorEnv {
        fn set_secret(&self, name: &str, value: &str, envs: &[(&str, &str)]);
        fn doctor(&self) -> Doctor;
        fn doctor_with(&self, envs: &[(&str, &str)]) -> Doctor;
    }

    impl DoctorEnv for TestEnv {
        /// `orc secret set NAME` with the value on stdin.
        fn set_secret(&self, name: &str, value: &str, envs: &[(&str, &str)]) {
            let o = self.secret_set_with(name, value, envs);
            assert!(o.status.success(), "{}", text(&o));
        }

        fn doctor(&self) -> Doctor {
            Doctor::of(self.orc(&["doctor"]))
        }

        fn doctor_with(&self, envs: &[(&str, &str)]) -> Doctor {
            Doctor::of(self.orc_with(&["doctor"], envs))
        }
    }

    /// The output of one `orc doctor`.
    struct Doctor {
        output: Output,
        stdout: String,
    }

    impl Doctor {
        fn of(output: Output) -> Doctor {
            let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
            Doctor { output, stdout }
        }

        /// The line of check `name`, and its fix line when there is one.
        fn line(&self, name: &str) -> String {
            let lines: Vec<&str> = self.stdout.lines().collect();
            let at = lines
                .iter()
                .position(|l| l.split_whitespace().nth(1) == Some(name))
                .unwrap_or_else(|| panic!("no line for check {name}:\n{}", text(&self.output)));
            let mut line = lines[at].to_string();
            if let Some(fix) = lines
                .get(at + 1)
                .filter(|l| l.trim_start().starts_with("fix:"))
            {
                line.push('\n');
                line.push_str(fix);
            }
            line
        }

        /// The mark of check `name`: ok, warn, FAIL or skip.
        fn mark(&self, name: &str) -> String {
            self.line(name)
                .split_whitespace()
                .next()
                .unwrap()
                .to_string()
        }

        fn code(&self) -> Option<i32> {
            self.output.status.code()
        }

        /// Check `name` failed, its line saying `detail` and its fix `fix`; exit 1.
        fn fails(&self, name: &str, detail: &str, fix: &str) {
            assert_eq!(self.code(), Some(1), "{}", text(&self.output));
            let line = self.line(name);
            assert_eq!(self.mark(name), "FAIL", "{line}");
            assert!(
                line.contains(detail),
                "{name} should say {detail:?}:\n{line}"
            );
            assert!(
                line.contains("fix:") && line.contains(fix),
                "{name} should tell to {fix:?}:\n{line}"
            );
        }

        fn says(&self, name: &str, mark: &str, detail: &str) {
            let line = self.line(name);
            assert_eq!(self.mark(name), mark, "{}", text(&self.output));
            assert!(
                line.contains(detail),
                "{name} should say {detail:?}:\n{line}"
            );
        }
    }

    const CHECKS: [&str; 10] = [
        "config",
        "state",
        "scheduler",
        "vault",
        "smtp",
        "log_dir",
        "limits",
        "orc_path",
        "service",
        "fleet",
    ];

    fn text(o: &Output) -> String {
        format!(
            "exit {:?}\nstdout:\n{}\nstderr:\n{}",
            o.status.code(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    }

    fn is_root() -> bool {
        // SAFETY: geteuid has no preconditions.
        unsafe { libc::geteuid() == 0 }
    }

    fn chmod(path: &Path, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    /// A healthy setup: applied, a key-file vault holding a secret a task uses.
    fn healthy(extra: &str) -> TestEnv {
        let env = new_env(&format!(
            "[tasks.uses_secret]\ncommand = [\"true\"]\nenv = {{ TOKEN = {{ secret = \"token\" }} }}\n\n{extra}"
        ));
        env.orc_ok(&["secret", "init"]);
        env.set_secret("token", "t0ken-value", &[]);
        env.orc_ok(&["apply", "--auto-approve"]);
        env
    }

    fn a_healthy_setup_passes_and_names_every_check() {
        let env = healthy("");
        let d = env.doctor();
        assert_eq!(d.code(), Some(0), "{}", text(&d.output));
        for check in CHECKS {
            assert_ne!(d.mark(check), "FAIL", "{}", d.line(check));
        }
        d.says("config", "ok", "is valid: 2 tasks in 1 file");
        d.says(
            "state",
            "ok",
            "opens and is writable, 2 tasks applied, mode 0600",
        );
        d.says("scheduler", "warn", "no `orc daemon` runs for this state");
        d.says("vault", "ok", "orc.key opens the vault; 1 secret decrypts");
        d.says("smtp", "skip", "no [smtp]");
        d.says("log_dir", "ok", "writable");
        // The test binary is a cargo build output: named, but not a failure.
        d.says("orc_path", "warn", "cargo build output");
        assert!(
            d.stdout.contains("No problems; 2 warnings."),
            "{}",
            d.stdout
        );
        assert!(
            !d.stdout.contains("t0ken-value")
                && !String::from_utf8_lossy(&d.output.stderr).contains("t0ken-value"),
            "a secret was printed"
        );

        // --json: one object per check, in the same order.
        let o = env.command(&["doctor", "--json"]).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let items = json.as_array().unwrap();
        let names: Vec<&str> = items.iter().map(|c| c["check"].as_str().unwrap()).collect();
        assert_eq!(names, CHECKS);
        for item in items {
            let status = item["status"].as_str().unwrap();
            assert!(["ok", "warn", "skip"].contains(&status), "{item}");
            assert!(item["detail"].is_string(), "{item}");
            assert_eq!(item["fix"].is_string(), status == "warn", "{item}");
        }
    }

    fn a_fresh_folder_is_fine_before_the_first_apply() {
        let env = new_env("");
        let d = env.doctor();
        assert_eq!(d.code(), Some(0), "{}", text(&d.output));
        d.says("state", "ok", "does not exist yet; `orc apply` creates it");
        d.says("vault", "skip", "no state database");
        d.says("log_dir", "ok", "will be created");
        assert!(!env.state().exists(), "doctor created the state");
    }

    /// Undoes `chattr +i` when dropped, so a failing test leaves a removable folder.
    struct Immutable(PathBuf);

    impl Drop for Immutable {
        fn drop(&mut self) {
            let _ = Command::new("chattr").arg("-i").arg(&self.0).status();
        }
    }

    /// Make `dir` unwritable: mode 0500, or for root (whom permission bits do not stop)
    /// the immutable attribute, which stops root too. `None` when neither works here.
    fn unwritable(dir: &Path) -> Option<Option<Immutable>> {
        if !is_root() {
            chmod(dir, 0o500);
            return Some(None);
        }
        let done = Command::new("chattr")
            .arg("+i")
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        let guard = Immutable(dir.to_path_buf());
        if done && std::fs::write(dir.join("probe"), "").is_err() {
            return Some(Some(guard));
        }
        None
    }

    /// Why no folder can be made unwritable here, if none can: as root (whom modes do
    /// not stop), on a file system without the immutable attribute.
    fn cannot_make_a_folder_unwritable() -> Option<String> {
        let dir = tempfile::tempdir().ok()?;
        let probe = dir.path().join("probe");
        std::fs::create_dir(&probe).ok()?;
        let made = unwritable(&probe).is_some();
        chmod(&probe, 0o700);
        (!made).then(|| {
            "a folder root cannot write (chattr +i, which this file system lacks)".to_string()
        })
    }

    fn an_unwritable_state_folder_is_named() {
        let env = healthy("");
        let dir = env.path("state");
        let guard = unwritable(&dir).expect("a folder made unwritable (as root: chattr +i)");
        let d = env.doctor();
        d.fails("state", "is not writable", "write access to");
        assert!(
            d.line("state").contains(&dir.display().to_string()),
            "{}",
            d.line("state")
        );
        drop(guard);
        chmod(&dir, 0o700);

        // A state not created yet, in a folder that cannot take it.
        let fresh = new_env("");
        std::fs::create_dir(fresh.path("state")).unwrap();
        let guard = unwritable(&fresh.path("state")).expect("a folder made unwritable");
        let d = fresh.doctor();
        d.fails("state", "cannot create", "write access");
        drop(guard);
    }

    fn a_state_others_can_read_is_named_with_its_mode() {
        let env = healthy("");
        chmod(&env.state(), 0o644);
        let d = env.doctor();
        d.fails(
            "state",
            "state.db is mode 0644: other users can read",
            &format!("chmod 600 {}", env.state().display()),
        );
        // Only the mode is wrong: the rest is still read from the state.
        d.says("vault", "ok", "1 secret decrypts");
        chmod(&env.state(), 0o600);
        assert_eq!(env.doctor().code(), Some(0));
    }

    fn a_state_path_that_is_a_folder_is_named() {
        let env = new_env("");
        std::fs::create_dir_all(env.state()).unwrap();
        env.doctor().fails(
            "state",
            "is a folder, not a database",
            "point --state or ORC_STATE at a file",
        );
    }

    fn a_broken_config_is_named_with_its_line() {
        let env = healthy("");
        std::fs::write(
            env.path("tasks.toml"),
            "[tasks.bad]\ncommand = [\"true\"]\nschedule = \"61 * * * *\"\n",
        )
        .unwrap();
        let d = env.doctor();
        d.fails("config", "tasks.toml:3:", "orc validate");
        // The rest is still checked, from the state.
        d.says("state", "ok", "opens and is writable");
    }

    fn a_wrong_passphrase_is_named() {
        let env = new_env(
            "[tasks.uses_secret]\ncommand = [\"true\"]\nenv = { TOKEN = { secret = \"token\" } }\n",
        );
        let right = [("ORC_PASSPHRASE", "correct horse")];
        let o = env
            .command(&["secret", "init", "--key", "passphrase"])
            .envs(right)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        env.set_secret("token", "t0ken-value", &right);
        env.orc_ok(&["apply", "--auto-approve"]);

        let d = env.doctor_with(&[("ORC_PASSPHRASE", "wrong horse")]);
        d.fails("vault", "wrong passphrase", "set ORC_PASSPHRASE");
        assert_eq!(d.mark("state"), "ok", "only the vault is broken");

        let d = env.doctor_with(&right);
        assert_eq!(d.code(), Some(0), "{}", text(&d.output));
        d.says(
            "vault",
            "ok",
            "the passphrase in ORC_PASSPHRASE opens the vault; 1 secret decrypts",
        );

        // Without ORC_PASSPHRASE doctor cannot tell, and says so without failing.
        let d = env.doctor();
        assert_eq!(d.code(), Some(0), "{}", text(&d.output));
        d.says("vault", "warn", "ORC_PASSPHRASE is not set");
    }

    fn a_missing_or_readable_key_file_is_named() {
        let env = healthy("");
        let key = env.path("state/orc.key");
        chmod(&key, 0o644);
        env.doctor().fails(
            "vault",
            "can be read by others (mode 0644)",
            &format!("chmod 600 {}", key.display()),
        );
        chmod(&key, 0o600);
        std::fs::rename(&key, env.path("elsewhere.key")).unwrap();
        env.doctor().fails("vault", "key file", "copy the key file");
        // Pointed at it, it opens again.
        let d = env.doctor_with(&[("ORC_KEY_FILE", env.path("elsewhere.key").to_str().unwrap())]);
        assert_eq!(d.code(), Some(0), "{}", text(&d.output));
    }

    fn a_config_secret_missing_from_the_vault_is_a_warning() {
        let env = healthy("");
        // A task added to the config after the apply (apply itself would refuse it).
        env.write_config(&config_with(
        "[tasks.uses_secret]\ncommand = [\"true\"]\nenv = { TOKEN = { secret = \"token\" } }\n\n\
         [tasks.other]\ncommand = [\"true\"]\nenv = { KEY = { secret = \"nope\" } }\n",
    ));
        let d = env.doctor();
        assert_eq!(d.code(), Some(0), "{}", text(&d.output));
        d.says("vault", "warn", "secret \"nope\"");
        assert!(
            d.line("vault").contains("orc secret set nope"),
            "{}",
            d.line("vault")
        );
    }

    // ---- SMTP ----

    /// The test mail server, taking this file's login.
    fn smtp(dir: &Path) -> Smtp {
        common::smtp(dir, USER, PASSWORD)
    }

    fn smtp_config(port: u16) -> String {
        format!(
            r#"
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
"#
        )
    }

    /// A setup alerting through 127.0.0.1:`port`, the login in the vault.
    fn with_smtp(port: u16) -> TestEnv {
        let env = new_env(&smtp_config(port));
        env.orc_ok(&["secret", "init"]);
        env.orc_ok(&["secret", "import", "--from-env", "ORC_TEST_SMTP_"]);
        env.orc_ok(&["apply", "--auto-approve"]);
        env
    }

    fn a_mail_server_that_is_down_is_named() {
        // A loopback port that was free a moment ago and has no listener now.
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let env = with_smtp(port);
        let d = env.doctor();
        d.fails(
            "smtp",
            &format!("connection: nothing answers there (127.0.0.1:{port}"),
            "check that the mail server runs",
        );
        for check in ["config", "state", "vault", "log_dir"] {
            assert_eq!(
                d.mark(check),
                "ok",
                "only the mail server is broken: {}",
                d.line(check)
            );
        }
    }

    fn a_working_mail_server_passes_and_a_wrong_password_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let server = smtp(dir.path());
        let env = with_smtp(server.port);
        let d = env.doctor();
        assert_eq!(d.code(), Some(0), "{}", text(&d.output));
        d.says(
            "smtp",
            "ok",
            &format!(
                "127.0.0.1:{} (tls = none) answers and accepts the login",
                server.port
            ),
        );
        assert!(
            std::fs::read_dir(dir.path().join("mail")).map_or(true, |d| d.count() == 0),
            "doctor sent a mail"
        );

        env.set_secret("pass", "not-the-password", &[]);
        let d = env.doctor();
        d.fails(
            "smtp",
            "authentication: the server refused the username or password",
            "check the login",
        );
        assert!(
            !d.stdout.contains(PASSWORD) && !d.stdout.contains("not-the-password"),
            "{}",
            d.stdout
        );
        assert_eq!(d.mark("vault"), "ok", "{}", d.line("vault"));
    }

    // ---- scheduler ----

    fn the_crontab_program_is_checked() {
        let env = new_env("");
        let d = Doctor::of(
            env.command(&["doctor", "--backend", "cron"])
                .output()
                .unwrap(),
        );
        let line = d.line("scheduler");
        assert!(
            line.contains("cron: `crontab -l` works"),
            "{}",
            text(&d.output)
        );
        assert_ne!(d.mark("scheduler"), "FAIL", "{line}");
    }

    /// Without a crontab program on PATH: named, with how to install one.
    fn a_missing_crontab_program_is_named() {
        let env = new_env("");
        let empty = env.path("empty-bin");
        std::fs::create_dir(&empty).unwrap();
        let d = Doctor::of(
            env.command(&["doctor", "--backend", "cron"])
                .env("PATH", &empty)
                .output()
                .unwrap(),
        );
        d.fails("scheduler", "cannot run `crontab -l`", "install cron");
    }

    fn a_running_daemon_for_this_state_is_seen() {
        let env = healthy("");
        env.doctor()
            .says("scheduler", "warn", "no `orc daemon` runs for this state");
        let mut daemon = env
            .command(&["daemon"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        let seen = loop {
            let d = env.doctor();
            if d.mark("scheduler") == "ok" || start.elapsed() > Duration::from_secs(10) {
                break d;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let _ = daemon.kill();
        let _ = daemon.wait();
        seen.says(
            "scheduler",
            "ok",
            &format!("`orc daemon` runs (pid {})", daemon.id()),
        );
    }

    fn a_daemon_that_serves_another_folder_is_flagged() {
        let env = healthy("");
        let mut daemon = env
            .command(&["daemon", "--folder", "Elsewhere"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        let seen = loop {
            let d = env.doctor();
            if d.line("scheduler").contains("Elsewhere")
                || start.elapsed() > Duration::from_secs(10)
            {
                break d;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let _ = daemon.kill();
        let _ = daemon.wait();
        seen.says(
            "scheduler",
            "warn",
            &format!(
                "schedules folder Elsewhere (pid {}), not \"Orc\": its tasks never fire",
                daemon.id()
            ),
        );
    }

    // ---- orc's own path ----

    fn an_orc_path_that_moved_or_is_temporary_is_named() {
        let env = healthy("");
        // Apply with a copy of orc, as if installed elsewhere.
        let copy = env.path("bin/orc");
        std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
        std::fs::copy(env!("CARGO_BIN_EXE_orc"), &copy).unwrap();
        let o = env
            .command_of(&copy, env.dir(), &["apply", "--auto-approve"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));

        // That copy lives in a temporary folder: a failure when it runs doctor itself.
        let d = Doctor::of(
            env.command_of(&copy, env.dir(), &["doctor"])
                .output()
                .unwrap(),
        );
        d.fails(
            "orc_path",
            "is in the temporary folder",
            "install orc in a fixed place",
        );

        // The applied tasks call the copy, not this orc.
        let d = env.doctor();
        d.says(
            "orc_path",
            "warn",
            &format!("2 applied tasks call {}, not this orc", copy.display()),
        );
        assert_eq!(d.code(), Some(0), "{}", text(&d.output));

        // The copy is gone: every scheduled run would fail.
        std::fs::remove_file(&copy).unwrap();
        env.doctor().fails(
            "orc_path",
            &format!(
                "2 applied tasks call {}, which does not exist",
                copy.display()
            ),
            "run `orc apply` with this orc",
        );
    }

    /// The trials of this suite: a test that needs what is missing here is reported as
    /// ignored, saying what (see `common::trial`).
    pub fn main() -> std::process::ExitCode {
        common::run_trials(vec![
            common::trial(
                "a_healthy_setup_passes_and_names_every_check",
                a_healthy_setup_passes_and_names_every_check,
                &[],
            ),
            common::trial(
                "a_fresh_folder_is_fine_before_the_first_apply",
                a_fresh_folder_is_fine_before_the_first_apply,
                &[],
            ),
            common::trial(
                "an_unwritable_state_folder_is_named",
                an_unwritable_state_folder_is_named,
                &[cannot_make_a_folder_unwritable()],
            ),
            common::trial(
                "a_state_others_can_read_is_named_with_its_mode",
                a_state_others_can_read_is_named_with_its_mode,
                &[],
            ),
            common::trial(
                "a_state_path_that_is_a_folder_is_named",
                a_state_path_that_is_a_folder_is_named,
                &[],
            ),
            common::trial(
                "a_broken_config_is_named_with_its_line",
                a_broken_config_is_named_with_its_line,
                &[],
            ),
            common::trial(
                "a_wrong_passphrase_is_named",
                a_wrong_passphrase_is_named,
                &[],
            ),
            common::trial(
                "a_missing_or_readable_key_file_is_named",
                a_missing_or_readable_key_file_is_named,
                &[],
            ),
            common::trial(
                "a_config_secret_missing_from_the_vault_is_a_warning",
                a_config_secret_missing_from_the_vault_is_a_warning,
                &[],
            ),
            common::trial(
                "a_mail_server_that_is_down_is_named",
                a_mail_server_that_is_down_is_named,
                &[],
            ),
            common::trial(
                "a_working_mail_server_passes_and_a_wrong_password_is_named",
                a_working_mail_server_passes_and_a_wrong_password_is_named,
                &[common::missing_python_module("aiosmtpd")],
            ),
            common::trial(
                "the_crontab_program_is_checked",
                the_crontab_program_is_checked,
                &[common::missing_program(
                    "crontab",
                    &["-l"],
                    "apt-get install cron",
                )],
            ),
            common::trial(
                "a_missing_crontab_program_is_named",
                a_missing_crontab_program_is_named,
                &[],
            ),
            common::trial(
                "a_running_daemon_for_this_state_is_seen",
                a_running_daemon_for_this_state_is_seen,
                &[],
            ),
            common::trial(
                "a_daemon_that_serves_another_folder_is_flagged",
                a_daemon_that_serves_another_folder_is_flagged,
                &[],
            ),
            common::trial(
                "an_orc_path_that_moved_or_is_temporary_is_named",
                an_orc_path_that_moved_or_is_temporary_is_named,
                &[],
            ),
        ])
    }
}

#[cfg(unix)]
fn main() -> std::process::ExitCode {
    suite::main()
}

#[cfg(not(unix))]
fn main() {}
