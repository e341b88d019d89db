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
use crate::config::{BackendKind, Config};
use crate::state::State;

// One file per check (the scheduler's three backends share one); [`checks`] runs them
// in order, and the helpers they share are at the end of this file.
mod config_file;
mod fleet;
mod limits;
mod log_dir;
mod orc_path;
mod scheduler;
mod service;
mod smtp;
mod state;
mod vault;

use config_file::check_config;
use fleet::check_fleet;
use limits::check_limits;
use log_dir::check_log_dir;
use orc_path::check_orc_path;
use scheduler::check_scheduler;
use service::check_service;
use smtp::check_smtp;
use state::check_state;
use vault::check_vault;

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
        check_limits(&setup),
        check_orc_path(state.as_ref()),
        check_service(),
        check_fleet(&setup, vault_opens),
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

// ---- helpers the checks share ----

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
