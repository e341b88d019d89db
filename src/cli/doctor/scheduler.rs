//! The scheduler check, for the backend in use: cron, Task Scheduler, or the
//! embedded one (is an `orc daemon` serving the folder).

use super::*;
use crate::backend::{Backend, BackendError, Invocation};
use crate::config;

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

pub(super) fn check_scheduler(setup: &Setup) -> Check {
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
