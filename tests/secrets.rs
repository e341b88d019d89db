//! The secrets vault through the real binary and a real SQLite state: round trip,
//! wrong keys, tampered ciphertexts, owner-only files, a rekey killed half-way, and a
//! leak scan of every command's output and every file orc writes.

use std::path::{Path, PathBuf};
use std::process::Output;

mod common;
use common::TestEnv;

const SECRET: &str = "S3cr3t-Value-123";

/// A world with an empty tasks.toml.
fn new_env() -> TestEnv {
    TestEnv::builder().config("").build()
}

trait SecretsEnv {
    fn reveal(&self, name: &str) -> Output;
}

impl SecretsEnv for TestEnv {
    fn reveal(&self, name: &str) -> Output {
        self.orc(&["secret", "get", name, "--reveal"])
    }
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn failed_with(o: &Output, message: &str) {
    assert_eq!(o.status.code(), Some(1), "{}", text(o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(message),
        "expected \"{message}\":\n{}",
        text(o)
    );
    assert!(o.stdout.is_empty(), "no partial output: {}", text(o));
}

#[test]
fn round_trip_list_and_remove() {
    let env = new_env();
    env.orc_ok(&["secret", "init"]);
    env.secret_set("db_password", SECRET);
    env.secret_set("api_token", "second value with spaces");
    let o = env.reveal("db_password");
    assert_eq!(String::from_utf8_lossy(&o.stdout), format!("{SECRET}\n"));
    assert_eq!(
        String::from_utf8_lossy(&env.reveal("api_token").stdout),
        "second value with spaces\n"
    );
    let plain = env.orc_ok(&["secret", "get", "db_password"]);
    assert!(
        !plain.contains(SECRET),
        "get without --reveal prints no value"
    );

    let list = env.orc_ok(&["secret", "list", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&list).unwrap();
    let names: Vec<&str> = v["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["api_token", "db_password"]);
    assert!(v["secrets"][0]["created_at"].is_string());

    // Each set uses a fresh nonce: the same value twice is stored differently.
    let before: Vec<u8> = env
        .db()
        .query_row(
            "SELECT nonce FROM secrets WHERE name = 'db_password'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    env.secret_set("db_password", SECRET);
    let after: Vec<u8> = env
        .db()
        .query_row(
            "SELECT nonce FROM secrets WHERE name = 'db_password'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_ne!(before, after);

    env.orc_ok(&["secret", "rm", "api_token"]);
    failed_with(&env.reveal("api_token"), "no secret \"api_token\"");
    // A value is never taken from the command line.
    let o = env.orc(&["secret", "set", "x", SECRET]);
    assert_ne!(o.status.code(), Some(0));
    failed_with(&env.reveal("x"), "no secret \"x\"");

    // import --from-env, for CI pipelines.
    let o = env
        .command(&["secret", "import", "--from-env", "ORC_T_"])
        .env("ORC_T_from_ci", "ci-value")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&env.reveal("from_ci").stdout),
        "ci-value\n"
    );
}

#[test]
fn wrong_passphrase_and_wrong_key_file_fail_clearly() {
    let env = new_env();
    let o = env
        .command(&["secret", "init", "--key", "passphrase"])
        .env("ORC_PASSPHRASE", "correct horse")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(!env.path("state/orc.key").exists());
    let o = env.secret_set_with(
        "db_password",
        SECRET,
        &[("ORC_PASSPHRASE", "correct horse")],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = env
        .command(&["secret", "get", "db_password", "--reveal"])
        .env("ORC_PASSPHRASE", "correct horse")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), format!("{SECRET}\n"));
    let o = env
        .command(&["secret", "get", "db_password", "--reveal"])
        .env("ORC_PASSPHRASE", "wrong horse")
        .output()
        .unwrap();
    failed_with(&o, "wrong passphrase for the vault");
    failed_with(&env.reveal("db_password"), "set ORC_PASSPHRASE");

    // A key file of another vault.
    let other = new_env();
    other.orc_ok(&["secret", "init"]);
    let keyed = new_env();
    keyed.orc_ok(&["secret", "init"]);
    keyed.secret_set("db_password", SECRET);
    let foreign = other.path("state/orc.key");
    let o = keyed
        .command(&["secret", "get", "db_password", "--reveal"])
        .env("ORC_KEY_FILE", &foreign)
        .output()
        .unwrap();
    failed_with(&o, "does not open the vault");
    std::fs::remove_file(keyed.path("state/orc.key")).unwrap();
    failed_with(&keyed.reveal("db_password"), "key file");
}

#[test]
fn tampered_ciphertexts_fail_to_decrypt() {
    let env = new_env();
    env.orc_ok(&["secret", "init"]);
    env.secret_set("a", SECRET);
    env.secret_set("b", "another");
    let row = |name: &str| -> (Vec<u8>, Vec<u8>) {
        env.db()
            .query_row(
                "SELECT nonce, ciphertext FROM secrets WHERE name = ?1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap()
    };
    let put = |name: &str, nonce: &[u8], ct: &[u8]| {
        env.db()
            .execute(
                "UPDATE secrets SET nonce = ?2, ciphertext = ?3 WHERE name = ?1",
                rusqlite::params![name, nonce, ct],
            )
            .unwrap();
    };
    let (a_nonce, a_ct) = row("a");
    let (b_nonce, _) = row("b");

    let mut flipped = a_ct.clone();
    flipped[3] ^= 0x01;
    put("a", &a_nonce, &flipped);
    failed_with(&env.reveal("a"), "secret \"a\" cannot be decrypted");

    put("a", &b_nonce, &a_ct);
    failed_with(&env.reveal("a"), "secret \"a\" cannot be decrypted");

    // a's ciphertext, moved whole to b: the name is bound, so it fails.
    put("a", &a_nonce, &a_ct);
    put("b", &a_nonce, &a_ct);
    failed_with(&env.reveal("b"), "secret \"b\" cannot be decrypted");
    assert_eq!(
        String::from_utf8_lossy(&env.reveal("a").stdout),
        format!("{SECRET}\n")
    );
}

#[cfg(unix)]
#[test]
fn the_database_and_the_key_file_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let env = new_env();
    env.orc_ok(&["secret", "init"]);
    env.secret_set("a", SECRET);
    for file in ["state/state.db", "state/orc.key"] {
        let mode = std::fs::metadata(env.path(file))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{file}: {mode:o}");
    }
    let dir_mode = std::fs::metadata(env.path("state"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode & 0o077, 0, "state folder {dir_mode:o}");
}

/// `orc secret rekey` stopped by kill -9 at each point loses no secret: before its
/// commit the old key still opens everything, after it the new one does (the
/// staged key file is moved into place by the next open).
#[cfg(unix)]
#[test]
fn rekey_killed_half_way_loses_nothing() {
    use std::io::{BufRead, BufReader};
    for point in ["rekey:staged", "rekey:half-way", "rekey:committed"] {
        let env = new_env();
        env.orc_ok(&["secret", "init"]);
        for i in 0..5 {
            env.secret_set(&format!("s{i}"), &format!("value-{i}"));
        }
        let mut child = env
            .command(&["secret", "rekey"])
            .env("ORC_FAILPOINT", point)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        stderr.read_line(&mut line).unwrap();
        assert!(line.contains("failpoint"), "{point}: {line}");
        child.kill().unwrap();
        child.wait().unwrap();
        for i in 0..5 {
            let o = env.reveal(&format!("s{i}"));
            assert_eq!(
                String::from_utf8_lossy(&o.stdout),
                format!("value-{i}\n"),
                "{point}: {}",
                text(&o)
            );
        }
        // And a rekey afterwards completes.
        env.orc_ok(&["secret", "rekey"]);
        assert_eq!(
            String::from_utf8_lossy(&env.reveal("s4").stdout),
            "value-4\n"
        );
    }

    // Key file to passphrase and back.
    let env = new_env();
    env.orc_ok(&["secret", "init"]);
    env.secret_set("a", SECRET);
    let o = env
        .command(&["secret", "rekey", "--key", "passphrase"])
        .env("ORC_NEW_PASSPHRASE", "new words")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        !env.path("state/orc.key").exists(),
        "the old key file is removed"
    );
    let o = env
        .command(&["secret", "rekey", "--key", "key-file"])
        .env("ORC_PASSPHRASE", "new words")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&env.reveal("a").stdout),
        format!("{SECRET}\n")
    );
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Every command orc has, on a task that prints its secret, and their error paths:
/// the plaintext appears in no output, no log, and no byte of the database.
#[test]
fn the_secret_leaks_nowhere() {
    let env = new_env();
    std::fs::write(
        env.path("tasks.toml"),
        r#"
[settings]
backend = "embedded"

[tasks.echoes]
shell = "echo \"the value is $DB_PASSWORD\"; echo \"$DB_PASSWORD\" >&2; printf '%s' \"$DB_PASSWORD\" | cut -c1-5; echo; exit 3"
env = { DB_PASSWORD = { secret = "db_password" } }
retry_count = 1
retry_delay = 1

[tasks.missing]
command = "true"
env = { OTHER = { secret = "not_stored" } }
"#,
    )
    .unwrap();
    let mut outputs: Vec<(String, Output)> = Vec::new();
    let mut record = |label: &str, o: Output| outputs.push((label.to_string(), o));
    record("init", env.orc(&["secret", "init"]));
    record("set", env.secret_set_with("db_password", SECRET, &[]));
    for args in [
        vec!["secret", "list"],
        vec!["secret", "list", "--json"],
        vec!["secret", "get", "db_password"],
        vec!["secret", "get", "nosuch"],
        vec!["validate"],
        vec!["plan"],
        vec!["plan", "--json"],
        vec!["apply", "--auto-approve"],
    ] {
        record(&args.join(" "), env.orc(&args));
    }
    // Apply refused `missing`; apply `echoes` alone.
    std::fs::write(
        env.path("tasks.toml"),
        std::fs::read_to_string(env.path("tasks.toml"))
            .unwrap()
            .split("[tasks.missing]")
            .next()
            .unwrap(),
    )
    .unwrap();
    for args in [
        vec!["apply", "--auto-approve"],
        vec!["plan", "--json"],
        vec!["run", "echoes"],
        vec!["run", "echoes", "--json"],
        vec!["history"],
        vec!["history", "--json"],
        vec!["logs", "echoes"],
        vec!["status"],
        vec!["status", "--json"],
        vec!["secret", "rekey"],
        vec!["run", "echoes"],
    ] {
        record(&args.join(" "), env.orc(&args));
    }
    let o = env
        .command(&["run", "echoes"])
        .env("ORC_KEY_FILE", env.path("nowhere.key"))
        .output()
        .unwrap();
    record("run with a missing key file", o);

    let mut checked = 0;
    for (label, o) in &outputs {
        for stream in [&o.stdout, &o.stderr] {
            let shown = String::from_utf8_lossy(stream);
            assert!(
                !shown.contains(SECRET),
                "`orc {label}` printed the secret:\n{shown}"
            );
            checked += 1;
        }
    }
    let logs = env.orc_ok(&["logs", "echoes"]);
    assert!(logs.contains("the value is ***"), "{logs}");
    assert!(
        logs.contains("S3cr3"),
        "a part of the value is not the value: {logs}"
    );
    for file in files_under(env.dir()) {
        let bytes = std::fs::read(&file).unwrap();
        let found = bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes());
        assert!(!found, "{} holds the secret", file.display());
        checked += 1;
    }
    assert!(checked > 40, "{checked}");
}

/// What reaches a task: none of orc's own variables (the passphrase, the key file,
/// the state, the config, failpoints), and its log masks the passphrase and every
/// secret the run decrypted, even when the task prints them.
#[test]
fn the_vault_key_never_reaches_a_task() {
    const PASSPHRASE: &str = "Master-Pass-PHRASE-777";
    const OTHER: &str = "Other-Secret-Not-Asked-For";
    let env = new_env();
    let pass = [("ORC_PASSPHRASE", PASSPHRASE)];
    let o = env
        .command(&["secret", "init", "--key", "passphrase"])
        .envs(pass)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    for (name, value) in [("db_pw", SECRET), ("other", OTHER)] {
        let o = env.secret_set_with(name, value, &pass);
        assert!(o.status.success(), "{}", text(&o));
    }
    // The task prints its whole environment, then the passphrase and its secret
    // as if it had found them elsewhere.
    std::fs::write(
        env.path("tasks.toml"),
        format!(
            "[settings]\nbackend = \"embedded\"\n\n[tasks.dbg]\nshell = \"env; echo found {PASSPHRASE}; echo again $DB_PW\"\nenv = {{ DB_PW = {{ secret = \"db_pw\" }} }}\n"
        ),
    )
    .unwrap();
    let o = env
        .command(&["apply", "--auto-approve"])
        .envs(pass)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let o = env
        .command(&["run", "dbg"])
        .envs(pass)
        .env("ORC_FAILPOINT", "none")
        .env("ORC_KEY_FILE", env.path("nowhere.key"))
        .env("ORC_SECRET_IMPORTED", "imported-value")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let logs: Vec<PathBuf> = files_under(&env.path("state/logs"));
    assert_eq!(logs.len(), 1, "{logs:?}");
    let log = std::fs::read_to_string(&logs[0]).unwrap();
    assert!(log.contains("found ***"), "{log}");
    assert!(log.contains("again ***"), "{log}");
    assert!(log.contains("DB_PW=***"), "{log}");
    for leak in [PASSPHRASE, SECRET, OTHER, "imported-value"] {
        assert!(!log.contains(leak), "{leak} in the log:\n{log}");
    }
    let names: Vec<&str> = log
        .lines()
        .filter_map(|l| l.split_once(" out ").map(|(_, v)| v))
        .filter_map(|v| v.split_once('=').map(|(k, _)| k))
        .collect();
    assert!(names.contains(&"DB_PW"), "{log}");
    let ours: Vec<&&str> = names.iter().filter(|n| n.starts_with("ORC_")).collect();
    assert!(
        ours.is_empty(),
        "orc's variables reached the task: {ours:?}"
    );
    // The log is its owner's only.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&logs[0]).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "log mode {mode:o}");
    }
}

/// The passphrase can come from a file (ORC_PASSPHRASE_FILE, owner-only) instead of
/// the environment; a file others can read is refused, as is such a key file.
#[cfg(unix)]
#[test]
fn the_passphrase_comes_from_an_owner_only_file() {
    use std::os::unix::fs::PermissionsExt;
    const PASSPHRASE: &str = "file-held-passphrase-42";
    let env = new_env();
    let o = env
        .command(&["secret", "init", "--key", "passphrase"])
        .env("ORC_PASSPHRASE", PASSPHRASE)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let file = env.path("pass");
    std::fs::write(&file, format!("{PASSPHRASE}\n")).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let o = env.secret_set_with(
        "x",
        SECRET,
        &[("ORC_PASSPHRASE_FILE", file.to_str().unwrap())],
    );
    assert!(o.status.success(), "{}", text(&o));
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = env
        .command(&["secret", "get", "x", "--reveal"])
        .env("ORC_PASSPHRASE_FILE", &file)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        text(&o).contains("can be read by others (mode 0644)"),
        "{}",
        text(&o)
    );
}

/// Tampered scrypt parameters are refused before anything is allocated.
#[test]
fn tampered_scrypt_parameters_are_refused() {
    let env = new_env();
    let o = env
        .command(&["secret", "init", "--key", "passphrase"])
        .env("ORC_PASSPHRASE", "pp-for-scrypt")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    env.db().execute("UPDATE vault SET log_n = 30", []).unwrap();
    let o = env
        .command(&["secret", "list"])
        .env("ORC_PASSPHRASE", "pp-for-scrypt")
        .output()
        .unwrap();
    let o2 = env
        .command(&["secret", "get", "anything", "--reveal"])
        .env("ORC_PASSPHRASE", "pp-for-scrypt")
        .output()
        .unwrap();
    assert_eq!(o2.status.code(), Some(1), "{}", text(&o2));
    assert!(
        text(&o2).contains("outside what orc writes"),
        "{}\n{}",
        text(&o),
        text(&o2)
    );
}
