//! `orc doctor`: check the setup, one line per check, and for each problem a line that
//! says what to do. Each check is one function returning a [`Check`]; a check that does
//! not apply here is shown as skipped with the reason. Nothing is created or changed:
//! writability is probed with a file that is removed at once, the state with a write
//! inside a transaction that is rolled back, the mail server by logging in and saying
//! goodbye without sending.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::Serialize;
use serde_json::json;

use super::{Global, Output};
use crate::backend::{Backend, BackendError, Entry, Invocation};
use crate::config::{self, BackendKind, Config};
use crate::state::State;

/// How a check came out. Only `Fail` makes `orc doctor` exit 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
    Skip,
}

/// One line of the report: what was checked, how it went, and what to do about it.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub check: &'static str,
    pub status: Status,
    pub detail: String,
    pub fix: Option<String>,
}

impl Check {
    fn ok(check: &'static str, detail: impl Into<String>) -> Check {
        Check {
            check,
            status: Status::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    fn warn(check: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            check,
            status: Status::Warn,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    fn fail(check: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            check,
            status: Status::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    fn skip(check: &'static str, reason: impl Into<String>) -> Check {
        Check {
            check,
            status: Status::Skip,
            detail: reason.into(),
            fix: None,
        }
    }
}

/// What the checks share: the config (when it loads) and where things are.
struct Setup {
    config: Option<Config>,
    state_path: PathBuf,
    backend_override: Option<BackendKind>,
}

pub fn run(global: &Global, out: &Output) -> anyhow::Result<ExitCode> {
    let checks = checks(global);
    if out.json {
        out.print_json(&json!(checks));
    } else {
        print(&checks, global, out);
    }
    Ok(if checks.iter().any(|c| c.status == Status::Fail) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Every check, in the order a setup is built: config, state, scheduler, vault, mail,
/// logs, and the path the scheduler calls.
pub fn checks(global: &Global) -> Vec<Check> {
    let config_path = global.config_path();
    let (config_check, config) = check_config(&config_path);
    let setup = Setup {
        config,
        state_path: crate::workspace::state_path(global.state.as_deref()),
        backend_override: global.backend,
    };
    let state_check = check_state(&setup.state_path);
    // The later checks read the state when it opens, even if its mode is wrong; they
    // never create it.
    let state = setup
        .state_path
        .is_file()
        .then(|| State::open(&setup.state_path).ok())
        .flatten();
    let (vault, vault_opens) = check_vault(&setup, state.as_ref());
    let smtp = check_smtp(&setup, state.as_ref(), vault_opens);
    vec![
        config_check,
        state_check,
        check_scheduler(&setup),
        vault,
        smtp,
        check_log_dir(&setup),
        check_orc_path(state.as_ref()),
    ]
}

fn print(checks: &[Check], global: &Global, out: &Output) {
    let state = crate::workspace::state_path(global.state.as_deref());
    out.info(&format!(
        "Checking {} with the state {}\n",
        global.config_path().display(),
        state.display()
    ));
    for c in checks {
        if out.quiet && c.status != Status::Fail {
            continue;
        }
        let mark = match c.status {
            Status::Ok => out.paint("32", "ok  "),
            Status::Warn => out.paint("33", "warn"),
            Status::Fail => out.paint("1;31", "FAIL"),
            Status::Skip => out.paint("2", "skip"),
        };
        println!("  {mark}  {:<9}  {}", c.check, c.detail);
        if let Some(fix) = &c.fix {
            println!("  {:4}  {:<9}  {} {fix}", "", "", out.paint("1", "fix:"));
        }
    }
    let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
    let warned = checks.iter().filter(|c| c.status == Status::Warn).count();
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let summary = match (failed, warned) {
        (0, 0) => out.paint("32", "\nEverything looks right."),
        (0, w) => format!("\nNo problems; {}.", plural(w, "warning")),
        (f, w) => format!(
            "\n{}, {}.",
            out.paint("1;31", &format!("{} failed", plural(f, "check"))),
            plural(w, "warning")
        ),
    };
    if !out.quiet {
        println!("{summary}");
    }
}

// ---- config ----

fn check_config(path: &Path) -> (Check, Option<Config>) {
    const NAME: &str = "config";
    let fix = "run `orc validate` to see every problem with its file, line and column";
    match config::load(path) {
        Ok(loaded) => {
            let c = &loaded.config;
            let detail = format!(
                "{} is valid: {} in {}",
                path.display(),
                plural(c.tasks.len(), "task"),
                plural(c.files.len(), "file")
            );
            let check = if loaded.warnings.is_empty() {
                Check::ok(NAME, detail)
            } else {
                Check::warn(
                    NAME,
                    format!(
                        "{detail}, with {}",
                        plural(loaded.warnings.len(), "warning")
                    ),
                    fix,
                )
            };
            (check, Some(loaded.config))
        }
        Err(diags) => {
            let errors: Vec<_> = diags.0.iter().filter(|d| d.is_error()).collect();
            let first = errors.first().map_or(String::new(), |d| {
                let place = d
                    .file
                    .as_ref()
                    .map_or(String::new(), |f| match &d.location {
                        Some(l) => format!("{}:{}:{}: ", f.display(), l.line, l.column),
                        None => format!("{}: ", f.display()),
                    });
                format!(": {place}{}", d.message)
            });
            (
                Check::fail(
                    NAME,
                    format!(
                        "{} does not load ({}){first}",
                        path.display(),
                        plural(errors.len(), "error")
                    ),
                    fix,
                ),
                None,
            )
        }
    }
}

// ---- state ----

fn check_state(path: &Path) -> Check {
    const NAME: &str = "state";
    let elsewhere = "or choose another place with --state or ORC_STATE";
    if path.is_dir() {
        return Check::fail(
            NAME,
            format!("{} is a folder, not a database", path.display()),
            format!(
                "point --state or ORC_STATE at a file, e.g. {}",
                path.join("state.db").display()
            ),
        );
    }
    let dir = parent(path);
    if !path.exists() {
        return match writable_or_creatable(&dir) {
            Ok(how) => Check::ok(
                NAME,
                format!(
                    "{} does not exist yet; `orc apply` creates it, owner-only ({how})",
                    path.display()
                ),
            ),
            Err((place, e)) => Check::fail(
                NAME,
                format!(
                    "cannot create {}: {} is not writable ({e})",
                    path.display(),
                    place.display()
                ),
                format!(
                    "give {} write access to {}, {elsewhere}",
                    who(),
                    place.display()
                ),
            ),
        };
    }
    if let Err(e) = probe_dir(&dir) {
        return Check::fail(
            NAME,
            format!(
                "the folder {} is not writable ({e}); orc writes the database's journal beside it",
                dir.display()
            ),
            format!(
                "give {} write access to {} (chown, chmod 700), {elsewhere}",
                who(),
                dir.display()
            ),
        );
    }
    let state = match State::open(path) {
        Ok(state) => state,
        Err(e) => {
            return Check::fail(
                NAME,
                format!("{e:#}"),
                "check that the file is orc's state database; restore it from a backup if it is damaged",
            );
        }
    };
    if let Err(e) = write_probe(&state) {
        return Check::fail(
            NAME,
            format!("{} opens but cannot be written: {e}", path.display()),
            format!("make {} writable for {}", path.display(), who()),
        );
    }
    let applied = state.tasks().map(|t| t.len()).unwrap_or(0);
    let opened = format!(
        "{} opens and is writable, {} applied",
        path.display(),
        plural(applied, "task")
    );
    match loose_modes(path) {
        Modes::Unknown => Check::ok(NAME, opened),
        Modes::Private(mode) => Check::ok(NAME, format!("{opened}, mode {mode:04o}")),
        Modes::Loose(files) => {
            let list: Vec<String> = files
                .iter()
                .map(|(f, m)| format!("{} is mode {m:04o}", f.display()))
                .collect();
            let names: Vec<String> = files.iter().map(|(f, _)| f.display().to_string()).collect();
            Check::fail(
                NAME,
                format!(
                    "{opened}, but {}: other users can read the run history and the vault",
                    list.join(", ")
                ),
                format!("chmod 600 {}", names.join(" ")),
            )
        }
    }
}

/// A write inside a transaction that is rolled back: the database takes writes.
fn write_probe(state: &State) -> rusqlite::Result<()> {
    let conn = state.conn();
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result = conn
        .execute_batch("CREATE TABLE main.orc_doctor_probe (x); DROP TABLE main.orc_doctor_probe;");
    let _ = conn.execute_batch("ROLLBACK");
    result
}

enum Modes {
    /// Not a Unix system: Windows keeps permissions in ACLs.
    #[cfg_attr(unix, allow(dead_code))]
    Unknown,
    /// Every file owner-only; the database's mode.
    #[cfg_attr(not(unix), allow(dead_code))]
    Private(u32),
    /// The files others may read or write, with their modes.
    #[cfg_attr(not(unix), allow(dead_code))]
    Loose(Vec<(PathBuf, u32)>),
}

/// The database and its journal files, and which of them others may read.
fn loose_modes(path: &Path) -> Modes {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| {
            std::fs::metadata(p)
                .ok()
                .map(|m| m.permissions().mode() & 0o777)
        };
        let mut loose = Vec::new();
        for suffix in ["", "-wal", "-shm"] {
            let mut name = path.as_os_str().to_os_string();
            name.push(suffix);
            let file = PathBuf::from(name);
            if let Some(m) = mode(&file).filter(|m| m & 0o077 != 0) {
                loose.push((file, m));
            }
        }
        if loose.is_empty() {
            Modes::Private(mode(path).unwrap_or(0o600))
        } else {
            Modes::Loose(loose)
        }
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Modes::Unknown
    }
}

// ---- scheduler ----

/// `--backend`, else `settings.backend` (auto when the config does not load).
fn backend_kind(setup: &Setup) -> BackendKind {
    let configured = setup
        .config
        .as_ref()
        .map_or(BackendKind::Auto, |c| c.settings.backend);
    crate::workspace::resolve_backend(setup.backend_override, configured)
}

fn folder(setup: &Setup) -> String {
    setup
        .config
        .as_ref()
        .map_or_else(|| "Orc".to_string(), |c| c.settings.folder.clone())
}

fn check_scheduler(setup: &Setup) -> Check {
    match backend_kind(setup) {
        BackendKind::Cron => check_cron(setup),
        BackendKind::Windows => check_task_scheduler(setup),
        _ => check_embedded(setup),
    }
}

fn invocation(setup: &Setup) -> Invocation {
    Invocation {
        orc: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("orc")),
        state: setup.state_path.clone(),
    }
}

fn check_cron(setup: &Setup) -> Check {
    const NAME: &str = "scheduler";
    let folder = folder(setup);
    let zone = setup
        .config
        .as_ref()
        .map_or_else(|| "local".to_string(), |c| c.settings.timezone.clone());
    let backend = match crate::backend::cron::CronBackend::new(&folder, invocation(setup), &zone) {
        Ok(b) => b,
        Err(e) => {
            return Check::fail(
                NAME,
                format!("cron: {e}"),
                "set settings.timezone to \"local\" for cron, or use another backend",
            );
        }
    };
    match backend.list() {
        Ok(entries) => {
            let detail = format!(
                "cron: `crontab -l` works; {} in orc's block for folder \"{folder}\"",
                plural(entries.len(), "task")
            );
            match cron_daemon_running() {
                Some(false) => Check::warn(
                    NAME,
                    format!("{detail}, but no cron daemon runs on this machine"),
                    "start cron (systemctl enable --now cron, or service cron start)",
                ),
                _ => Check::ok(NAME, detail),
            }
        }
        Err(e) => {
            let fix = match e {
                BackendError::Unavailable(_) => {
                    "install cron (Debian and Ubuntu: apt-get install cron; RHEL: dnf install cronie)"
                }
                BackendError::Refused(_) => {
                    "check that this account may use crontab (/etc/cron.allow, /etc/cron.deny)"
                }
                _ => "look at `crontab -l` and repair orc's block by hand with `crontab -e`",
            };
            Check::fail(NAME, format!("cron: {e}"), fix)
        }
    }
}

/// Whether a cron daemon process runs, on Linux (`None` elsewhere).
fn cron_daemon_running() -> Option<bool> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let names = ["cron", "crond", "busybox crond", "cronie"];
    Some(processes().any(|(pid, _)| {
        std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .is_ok_and(|comm| names.contains(&comm.trim()))
    }))
}

/// Every process of this machine with its argv (Linux only: empty elsewhere).
fn processes() -> impl Iterator<Item = (u32, Vec<String>)> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let argv = cmdline
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            Some((pid, argv))
        })
}

fn check_task_scheduler(setup: &Setup) -> Check {
    const NAME: &str = "scheduler";
    let folder = folder(setup);
    let fix = if cfg!(windows) {
        "start the Task Scheduler service (`sc start Schedule`), and run orc from an account that may manage the folder (an elevated prompt)"
    } else {
        "the windows backend needs Windows; elsewhere set ORC_WINDOWS_TASKS_DIR to a copy of a server's task folder"
    };
    let tasks = match crate::backend::windows::open_folder(&folder) {
        Ok(tasks) => tasks,
        Err(e) => return Check::fail(NAME, format!("Task Scheduler: {e:#}"), fix),
    };
    match tasks.list() {
        Ok(found) => Check::ok(
            NAME,
            format!(
                "Task Scheduler answers; {} readable, {} in it",
                tasks.describe(),
                plural(found.len(), "task")
            ),
        ),
        Err(e) => Check::fail(NAME, format!("Task Scheduler: {e}"), fix),
    }
}

fn check_embedded(setup: &Setup) -> Check {
    const NAME: &str = "scheduler";
    let backend = crate::backend::embedded::EmbeddedBackend::new(
        &parent(&setup.state_path),
        &folder(setup),
        invocation(setup),
    );
    let registry = backend.path().to_path_buf();
    let dir = parent(&registry);
    if let Err((place, e)) = writable_or_creatable(&dir) {
        return Check::fail(
            NAME,
            format!(
                "embedded: the registry folder {} is not writable ({e})",
                place.display()
            ),
            format!(
                "give {} write access to {}, or move the state (--state, ORC_STATE)",
                who(),
                place.display()
            ),
        );
    }
    let entries = match backend.list() {
        Ok(entries) => entries,
        Err(e) => {
            return Check::fail(
                NAME,
                format!("embedded: {e}"),
                "run `orc apply` to write the registry again",
            );
        }
    };
    let scheduled = entries
        .iter()
        .filter(|e| e.enabled && e.trigger.is_some())
        .count();
    let detail = format!(
        "embedded: the registry {} can be written; {} scheduled",
        registry.display(),
        plural(scheduled, "task")
    );
    let pids = daemon_pids(&setup.state_path);
    let folder = folder(setup);
    let serving: Vec<(u32, Option<Vec<String>>)> = pids
        .iter()
        .flatten()
        .map(|pid| (*pid, served_folders(*pid)))
        .collect();
    let serves_mine = serving
        .iter()
        .any(|(_, f)| f.as_ref().is_none_or(|f| f.contains(&folder)));
    match pids {
        Some(pids) if !pids.is_empty() && !serves_mine => Check::warn(
            NAME,
            format!(
                "{detail}, but the `orc daemon` running for this state schedules {}, not \"{folder}\": its tasks never fire",
                serving
                    .iter()
                    .map(|(pid, f)| format!(
                        "folder {} (pid {pid})",
                        f.as_deref().unwrap_or_default().join(", ")
                    ))
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
            format!(
                "restart it without --folder (it then schedules every folder applied to the state), or with --folder {folder}"
            ),
        ),
        Some(pids) if !pids.is_empty() => Check::ok(
            NAME,
            format!(
                "{detail}; `orc daemon` runs (pid {})",
                pids.iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        Some(_) if scheduled > 0 => Check::warn(
            NAME,
            format!("{detail}, but no `orc daemon` runs for this state: nothing fires"),
            "start `orc daemon` (or `orc up`) and keep it running, e.g. as a systemd service",
        ),
        _ => Check::ok(NAME, detail),
    }
}

/// The processes running `orc daemon` or `orc up` for the state at `state`, found in
/// /proc (Linux; `None` elsewhere). Their state is their `--state`, else their
/// `ORC_STATE`, else the default path in their environment.
fn daemon_pids(state: &Path) -> Option<Vec<u32>> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let me = std::process::id();
    let pids = processes()
        .filter(|(pid, argv)| {
            *pid != me
                && argv.first().is_some_and(|a0| {
                    Path::new(a0)
                        .file_name()
                        .is_some_and(|n| n == "orc" || n == "orc.exe")
                })
                && argv[1..].iter().any(|a| a == "daemon" || a == "up")
        })
        .filter(|(pid, argv)| process_state(*pid, argv).is_some_and(|s| s == state))
        .map(|(pid, _)| pid)
        .collect();
    Some(pids)
}

/// The folders a running `orc daemon` or `orc up` schedules: its `--folder`, else the
/// folder of its config (`--config`, `ORC_CONFIG`, or `orc up`'s tasks.toml); `None`
/// when it schedules every folder applied to the state.
fn served_folders(pid: u32) -> Option<Vec<String>> {
    let argv = processes().find(|(p, _)| *p == pid)?.1;
    let arg = |name: &str| {
        argv.iter().enumerate().find_map(|(i, a)| {
            if a == name {
                argv.get(i + 1).cloned()
            } else {
                a.strip_prefix(&format!("{name}=")).map(str::to_string)
            }
        })
    };
    if let Some(folder) = arg("--folder") {
        return Some(vec![folder]);
    }
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    let env_config = environ
        .split(|b| *b == 0)
        .find_map(|kv| kv.strip_prefix(b"ORC_CONFIG="))
        .filter(|v| !v.is_empty())
        .map(|v| String::from_utf8_lossy(v).into_owned());
    let is_up = argv[1..].iter().any(|a| a == "up");
    let config = arg("--config")
        .or(env_config)
        .or_else(|| is_up.then(|| "tasks.toml".to_string()))?;
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap_or_default();
    let loaded = config::load(&cwd.join(config)).ok()?;
    Some(vec![loaded.config.settings.folder])
}

/// The state a running orc uses, from its arguments and environment.
fn process_state(pid: u32, argv: &[String]) -> Option<PathBuf> {
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).ok()?;
    let given = argv.iter().enumerate().find_map(|(i, a)| {
        if a == "--state" {
            argv.get(i + 1).cloned()
        } else {
            a.strip_prefix("--state=").map(str::to_string)
        }
    });
    let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let var = |name: &str| {
        environ
            .split(|b| *b == 0)
            .find_map(|kv| kv.strip_prefix(format!("{name}=").as_bytes()))
            .filter(|v| !v.is_empty())
            .map(|v| PathBuf::from(String::from_utf8_lossy(v).into_owned()))
    };
    let path = match given.map(PathBuf::from).or_else(|| var("ORC_STATE")) {
        Some(p) => p,
        None => var("XDG_STATE_HOME")
            .or_else(|| var("HOME").map(|h| h.join(".local/state")))?
            .join("orc")
            .join("state.db"),
    };
    Some(if path.is_absolute() {
        path
    } else {
        cwd.join(path)
    })
}

// ---- vault ----

/// The passphrase from `ORC_PASSPHRASE` only: doctor never prompts.
fn passphrase_from_env(_prompt: &str) -> anyhow::Result<zeroize::Zeroizing<String>> {
    std::env::var("ORC_PASSPHRASE")
        .map(zeroize::Zeroizing::new)
        .map_err(|_| anyhow::anyhow!("ORC_PASSPHRASE is not set"))
}

/// The secrets the config names that `held` lacks, by name.
fn missing_secrets(
    config: Option<&Config>,
    held: &std::collections::BTreeSet<String>,
) -> Vec<crate::config::Diagnostic> {
    match config {
        Some(c) => super::validate::secret_diagnostics(c, c.tasks.values(), held, false),
        None => Vec::new(),
    }
}

/// The vault check, and whether the vault opened (`None`: there is none to open).
fn check_vault(setup: &Setup, state: Option<&State>) -> (Check, Option<bool>) {
    let opens = std::cell::Cell::new(None);
    let check = vault(setup, state, &opens);
    (check, opens.get())
}

fn vault(setup: &Setup, state: Option<&State>, opens: &std::cell::Cell<Option<bool>>) -> Check {
    const NAME: &str = "vault";
    let Some(state) = state else {
        return Check::skip(
            NAME,
            "no state database yet, or it does not open (see state)",
        );
    };
    let initialised = match crate::secrets::initialised(state) {
        Ok(i) => i,
        Err(e) => {
            return Check::fail(
                NAME,
                format!("{e:#}"),
                "run `orc apply` to migrate the state",
            );
        }
    };
    opens.set(Some(false));
    if !initialised {
        let wanted = missing_secrets(setup.config.as_ref(), &Default::default());
        return if wanted.is_empty() {
            opens.set(None);
            Check::skip(
                NAME,
                "no secrets vault, and nothing in the config uses a secret",
            )
        } else {
            Check::fail(
                NAME,
                format!(
                    "the config uses {}, but this state has no vault",
                    plural(wanted.len(), "secret")
                ),
                "run `orc secret init`, then `orc secret set NAME` for each",
            )
        };
    }
    let key_file = crate::secrets::key::key_file_path(state.path());
    let asked = std::cell::Cell::new(false);
    let passphrase = |prompt: &str| {
        asked.set(true);
        passphrase_from_env(prompt)
    };
    let vault = match crate::secrets::Vault::open(state, &key_file, &passphrase) {
        Ok(v) => {
            opens.set(Some(true));
            v
        }
        Err(e) if asked.get() && std::env::var_os("ORC_PASSPHRASE").is_none() => {
            let _ = e;
            return Check::warn(
                NAME,
                "the vault is protected by a passphrase and ORC_PASSPHRASE is not set, so it was not checked",
                "set ORC_PASSPHRASE for `orc doctor`, and for the runs the scheduler starts",
            );
        }
        Err(e) => {
            let text = format!("{e:#}");
            let fix = if asked.get() {
                "set ORC_PASSPHRASE to the passphrase the vault was made with (`orc secret rekey` changes it)".to_string()
            } else if key_file_mode(&key_file).is_some_and(|m| m & 0o077 != 0) {
                format!("chmod 600 {}", key_file.display())
            } else if !key_file.exists() {
                format!(
                    "copy the key file from the server where `orc secret init` ran to {}, or point ORC_KEY_FILE at it",
                    key_file.display()
                )
            } else {
                "point ORC_KEY_FILE at this vault's key file".to_string()
            };
            return Check::fail(NAME, text, fix);
        }
    };
    let key = if asked.get() {
        "the passphrase in ORC_PASSPHRASE".to_string()
    } else {
        format!("the key file {}", key_file.display())
    };
    let names: Vec<String> = match crate::secrets::list(state) {
        Ok(list) => list.into_iter().map(|s| s.name).collect(),
        Err(e) => return Check::fail(NAME, format!("{e:#}"), "restore the state from a backup"),
    };
    let broken: Vec<&String> = names.iter().filter(|n| vault.get(n).is_err()).collect();
    if let Some(first) = broken.first() {
        return Check::fail(
            NAME,
            format!(
                "{key} opens the vault, but {} of {} do not decrypt: {}",
                broken.len(),
                plural(names.len(), "secret"),
                broken
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            format!("set each again, e.g. `orc secret set {first}`"),
        );
    }
    let opened = match names.len() {
        0 => format!("{key} opens the vault, which holds no secrets"),
        1 => format!("{key} opens the vault; 1 secret decrypts"),
        n => format!("{key} opens the vault; {n} secrets decrypt"),
    };
    if !asked.get()
        && let Some(mode) = key_file_mode(&key_file).filter(|m| m & 0o077 != 0)
    {
        return Check::fail(
            NAME,
            format!("{opened}, but the key file is mode {mode:04o}: other users can read it"),
            format!("chmod 600 {}", key_file.display()),
        );
    }
    let held = names.into_iter().collect();
    let missing = missing_secrets(setup.config.as_ref(), &held);
    if let Some(first) = missing.first() {
        return Check::warn(
            NAME,
            format!(
                "{opened}, but {} the config uses {} not in it ({})",
                plural(missing.len(), "reference"),
                if missing.len() == 1 { "is" } else { "are" },
                first.message
            ),
            first
                .help
                .clone()
                .unwrap_or_else(|| "`orc secret set NAME`".to_string()),
        );
    }
    Check::ok(NAME, opened)
}

fn key_file_mode(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path)
            .ok()
            .map(|m| m.permissions().mode() & 0o777)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

// ---- smtp ----

fn check_smtp(setup: &Setup, state: Option<&State>, vault_opens: Option<bool>) -> Check {
    const NAME: &str = "smtp";
    // The config's [smtp]; without a config that loads, the one last applied.
    let settings = match &setup.config {
        Some(c) => config::NotifySettings {
            smtp: c.smtp.clone(),
            notify: c.notify.clone(),
        },
        None => match state.map(|s| s.notify_settings(None)) {
            Some(Ok(applied)) => applied,
            _ => return Check::skip(NAME, "the config does not load (see config)"),
        },
    };
    let Some(smtp) = settings.smtp.clone() else {
        return Check::skip(NAME, "no [smtp] in the config: alert mail is off");
    };
    let uses_vault = [&smtp.username, &smtp.password]
        .iter()
        .any(|v| matches!(v, Some(config::EnvValue::Secret { .. })));
    if uses_vault && vault_opens == Some(false) {
        return Check::skip(
            NAME,
            "its login is in the vault, which did not open (see vault)",
        );
    }
    let state_path = setup.state_path.clone();
    let reader = crate::workspace::vault_reader_with(&state_path, passphrase_from_env);
    let login = match crate::notify::login(&settings, &reader) {
        Ok(login) => login,
        Err(e) => {
            return Check::fail(
                NAME,
                format!("cannot read the login: {e}"),
                "store it with `orc secret set NAME` (the name [smtp] gives)",
            );
        }
    };
    let place = format!(
        "{}:{} (tls = {})",
        smtp.server,
        smtp.port,
        tls_name(smtp.tls)
    );
    let logs_in = login.is_some();
    match crate::notify::mail::check(&smtp, login) {
        Ok(()) => Check::ok(
            NAME,
            if logs_in {
                format!("{place} answers and accepts the login")
            } else {
                format!("{place} answers (no login configured)")
            },
        ),
        Err(why) => {
            let fix = if why.starts_with("DNS") {
                "check [smtp] server: the name must resolve from this machine"
            } else if why.starts_with("connection") {
                "check that the mail server runs and [smtp] server and port are right (a firewall between?)"
            } else if why.starts_with("TLS") {
                "check [smtp] tls against the port: \"starttls\" for 587, \"tls\" for 465, \"none\" only on a trusted network"
            } else if why.starts_with("authentication") {
                "check the login: `orc secret set NAME` for the username and password [smtp] names"
            } else {
                "try `orc notify test GROUP` for the whole path of a mail"
            };
            Check::fail(NAME, why, fix)
        }
    }
}

fn tls_name(tls: config::TlsMode) -> &'static str {
    match tls {
        config::TlsMode::None => "none",
        config::TlsMode::Starttls => "starttls",
        config::TlsMode::Tls => "tls",
    }
}

// ---- log folder ----

fn check_log_dir(setup: &Setup) -> Check {
    const NAME: &str = "log_dir";
    let dir = setup
        .config
        .as_ref()
        .and_then(|c| c.settings.log_dir.clone())
        .unwrap_or_else(|| crate::state::default_log_dir(&setup.state_path));
    if dir.exists() && !dir.is_dir() {
        return Check::fail(
            NAME,
            format!("{} is a file, not a folder", dir.display()),
            "point settings.log_dir at a folder",
        );
    }
    match writable_or_creatable(&dir) {
        Ok(how) => Check::ok(NAME, format!("{} {how}", dir.display())),
        Err((place, e)) => Check::fail(
            NAME,
            format!(
                "run logs go to {}, but {} is not writable ({e})",
                dir.display(),
                place.display()
            ),
            format!(
                "give {} write access to {}, or set settings.log_dir to a writable folder",
                who(),
                place.display()
            ),
        ),
    }
}

// ---- orc's own path ----

fn check_orc_path(state: Option<&State>) -> Check {
    const NAME: &str = "orc_path";
    let install = "install orc in a fixed place (e.g. /usr/local/bin/orc, or `cargo install --path .`) and run `orc apply` with it";
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            return Check::fail(
                NAME,
                format!("cannot find orc's own executable: {e}"),
                install,
            );
        }
    };
    if exe.to_string_lossy().ends_with(" (deleted)") || !exe.exists() {
        return Check::fail(
            NAME,
            format!(
                "{} was deleted or replaced since this orc started",
                exe.display()
            ),
            install,
        );
    }
    // A cargo build in a checkout under /tmp is a developer's build (warned about
    // below), not an installed orc about to vanish.
    if build_output(&exe).is_none()
        && let Some(why) = temporary(&exe)
    {
        return Check::fail(
            NAME,
            format!(
                "{} is in {why}: scheduled tasks would call a file that goes away",
                exe.display()
            ),
            install,
        );
    }
    // What the applied tasks call: the first word of each recorded entry.
    let recorded: Vec<PathBuf> = state
        .and_then(|s| s.tasks().ok())
        .unwrap_or_default()
        .iter()
        .filter_map(|t| serde_json::from_str::<Entry>(&t.entry).ok())
        .filter_map(|e| e.command.first().map(PathBuf::from))
        .collect();
    let mut others: Vec<(PathBuf, usize)> = Vec::new();
    for path in recorded.iter().filter(|p| !same_file(p, &exe)) {
        match others.iter_mut().find(|(p, _)| p == path) {
            Some((_, n)) => *n += 1,
            None => others.push((path.clone(), 1)),
        }
    }
    let here = format!("scheduled tasks call {}", exe.display());
    if let Some((gone, n)) = others.iter().find(|(p, _)| !p.exists()) {
        return Check::fail(
            NAME,
            format!(
                "{} applied {} {}, which does not exist",
                n,
                if *n == 1 { "task calls" } else { "tasks call" },
                gone.display()
            ),
            format!(
                "run `orc apply` with this orc ({}) to point them at it",
                exe.display()
            ),
        );
    }
    if let Some((other, n)) = others.first() {
        return Check::warn(
            NAME,
            format!(
                "{} applied {} {}, not this orc ({})",
                n,
                if *n == 1 { "task calls" } else { "tasks call" },
                other.display(),
                exe.display()
            ),
            "run `orc apply` with the orc you mean to keep, so the scheduler and you use the same one",
        );
    }
    if let Some(why) = build_output(&exe) {
        return Check::warn(
            NAME,
            format!(
                "{here}, which is {why}: the next build replaces it and `cargo clean` deletes it"
            ),
            install,
        );
    }
    let applied = if recorded.is_empty() {
        String::new()
    } else {
        format!(" (as the {} applied do)", plural(recorded.len(), "task"))
    };
    Check::ok(NAME, format!("{here}{applied}"))
}

/// Why `exe` lives in a temporary folder, if it does.
fn temporary(exe: &Path) -> Option<String> {
    let mut temps = vec![std::env::temp_dir()];
    if cfg!(unix) {
        temps.extend(["/tmp", "/var/tmp", "/dev/shm"].map(PathBuf::from));
    }
    temps
        .into_iter()
        .filter_map(|t| std::fs::canonicalize(&t).ok().or(Some(t)))
        .find(|t| exe.starts_with(t))
        .map(|t| format!("the temporary folder {}", t.display()))
}

/// Why `exe` is a cargo build output (`target/debug/orc`, `target/<triple>/release/orc`,
/// a folder cargo marked with CACHEDIR.TAG), if it is.
fn build_output(exe: &Path) -> Option<String> {
    for dir in exe.ancestors().skip(1) {
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let profile = matches!(name, "debug" | "release" | "deps");
        let in_target = dir
            .ancestors()
            .skip(1)
            .take(2)
            .any(|d| d.file_name().is_some_and(|n| n == "target"));
        if (profile && in_target) || dir.join("CACHEDIR.TAG").is_file() {
            return Some(format!("a cargo build output in {}", dir.display()));
        }
    }
    None
}

fn same_file(a: &Path, b: &Path) -> bool {
    if a == b {
        return true;
    }
    if cfg!(windows)
        && a.to_string_lossy()
            .eq_ignore_ascii_case(&b.to_string_lossy())
    {
        return true;
    }
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

// ---- helpers ----

/// The account orc runs as, for a fix line: `$USER`, else the uid.
fn who() -> String {
    let name = crate::host::user_name();
    #[cfg(unix)]
    if name == "unknown" {
        // SAFETY: geteuid has no preconditions.
        return format!("uid {}", unsafe { libc::geteuid() });
    }
    name
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// The folder of `path` ("." for a bare name).
fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Create and remove a file in `dir`: the one honest test of writing there (permission
/// bits do not tell for root, ACLs, read-only mounts or immutable folders).
fn probe_dir(dir: &Path) -> std::io::Result<()> {
    let probe = dir.join(format!(".orc-doctor-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)?;
    std::fs::remove_file(&probe)
}

/// Whether orc can write in `dir`: "is writable", or, for a folder that does not exist
/// yet, "will be created in X, which is writable". The error names the folder that
/// refused.
fn writable_or_creatable(dir: &Path) -> Result<String, (PathBuf, std::io::Error)> {
    if dir.is_dir() {
        return probe_dir(dir)
            .map(|()| "is writable".to_string())
            .map_err(|e| (dir.to_path_buf(), e));
    }
    let Some(existing) = dir.ancestors().skip(1).find(|a| a.exists()) else {
        return Err((
            dir.to_path_buf(),
            std::io::Error::new(std::io::ErrorKind::NotFound, "no existing parent folder"),
        ));
    };
    if !existing.is_dir() {
        return Err((
            existing.to_path_buf(),
            std::io::Error::new(std::io::ErrorKind::NotADirectory, "a file, not a folder"),
        ));
    }
    probe_dir(existing)
        .map(|()| {
            format!(
                "will be created in {}, which is writable",
                existing.display()
            )
        })
        .map_err(|e| (existing.to_path_buf(), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doctor_knows_build_outputs_from_installed_paths() {
        for built in [
            "/home/me/orc/target/debug/orc",
            "/home/me/orc/target/release/orc",
            "/home/me/orc/target/x86_64-unknown-linux-gnu/release/orc",
            "/home/me/orc/target/debug/deps/orc-0123abcd",
        ] {
            assert!(build_output(Path::new(built)).is_some(), "{built}");
        }
        for installed in [
            "/usr/local/bin/orc",
            "/home/me/.cargo/bin/orc",
            "/opt/target/orc",
        ] {
            assert_eq!(build_output(Path::new(installed)), None, "{installed}");
        }
    }

    #[test]
    fn doctor_knows_temporary_folders() {
        let tmp = std::env::temp_dir().join("x/orc");
        assert!(temporary(&tmp).is_some());
        assert_eq!(temporary(Path::new("/usr/local/bin/orc")), None);
    }

    #[test]
    fn doctor_probes_folders_by_writing() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(writable_or_creatable(dir.path()).unwrap(), "is writable");
        let deeper = dir.path().join("a/b");
        let how = writable_or_creatable(&deeper).unwrap();
        assert!(how.starts_with("will be created in"), "{how}");
        assert!(!dir.path().join("a").exists(), "a probe creates nothing");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let file = dir.path().join("f");
        std::fs::write(&file, "").unwrap();
        let (place, _) = writable_or_creatable(&file.join("logs")).unwrap_err();
        assert_eq!(place, file);
    }
}
