//! Everything a plan or apply works on: the loaded config, the state path, the host,
//! and the chosen backend. Loading the config has no side effects, so a bad config
//! stops orc before anything is created or written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::backend::embedded::EmbeddedBackend;
use crate::backend::{Backend, Invocation};
use crate::config::{self, BackendKind, Config, Diagnostic, Diagnostics, Task};
use crate::plan::{self, Inputs, Plan, Skipped};
use crate::state::{self, Recorded, Scope, State};

pub struct Workspace {
    pub config: Config,
    pub config_path: PathBuf,
    pub state_path: PathBuf,
    pub host: String,
    pub warnings: Vec<Diagnostic>,
    backend_override: Option<String>,
}

/// This machine's name, as `hosts = [...]` matches it. `ORC_HOSTNAME` overrides it
/// (for fleet tests, and for machines whose name is not what the config uses).
pub fn host_name() -> String {
    std::env::var("ORC_HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| gethostname::gethostname().to_string_lossy().into_owned())
}

/// The backend that runs here: `--backend` if given, else settings.backend; `auto`
/// is Task Scheduler on Windows and the embedded scheduler elsewhere.
pub fn resolve_backend(
    given: Option<&str>,
    configured: BackendKind,
) -> std::result::Result<BackendKind, String> {
    let kind = match given {
        None => configured,
        Some("auto") => BackendKind::Auto,
        Some("windows") => BackendKind::Windows,
        Some("cron") => BackendKind::Cron,
        Some("embedded") => BackendKind::Embedded,
        Some(other) => {
            return Err(format!(
                "unknown backend \"{other}\"; use auto, windows, cron or embedded"
            ));
        }
    };
    Ok(match kind {
        BackendKind::Auto if cfg!(windows) => BackendKind::Windows,
        BackendKind::Auto => BackendKind::Embedded,
        k => k,
    })
}

/// The name a backend kind has in the state and in `--backend`.
pub fn backend_name(kind: BackendKind) -> &'static str {
    match kind {
        BackendKind::Windows => "windows",
        BackendKind::Cron => "cron",
        BackendKind::Embedded => "embedded",
        BackendKind::Auto if cfg!(windows) => "windows",
        BackendKind::Auto => "embedded",
    }
}

/// `--state` (or `ORC_STATE`), else the platform default; absolute.
pub fn state_path(given: Option<&Path>) -> PathBuf {
    let path = given
        .map(Path::to_path_buf)
        .unwrap_or_else(state::default_path);
    std::path::absolute(&path).unwrap_or(path)
}

/// Who runs orc, for locks and the audit log: `$USER` (`%USERNAME%`), else the
/// account of the process itself (cron and services often set no `$USER`).
pub fn user_name() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(account_name)
        .unwrap_or_else(|| "unknown".to_string())
}

/// The name of the account this process runs as, from the user database.
#[cfg(unix)]
fn account_name() -> Option<String> {
    let mut buf = vec![0u8; 4096];
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: getpwuid_r writes into `pwd` and `buf`, both alive and of the sizes
    // given; `pw_name` points into `buf` and is read before `buf` is dropped.
    unsafe {
        let rc = libc::getpwuid_r(
            libc::geteuid(),
            &mut pwd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut found,
        );
        if rc != 0 || found.is_null() || pwd.pw_name.is_null() {
            return None;
        }
        Some(
            std::ffi::CStr::from_ptr(pwd.pw_name)
                .to_string_lossy()
                .into_owned(),
        )
    }
}

/// The name of the account of this process's token.
#[cfg(windows)]
fn account_name() -> Option<String> {
    use windows::Win32::System::WindowsProgramming::GetUserNameW;
    let mut buf = [0u16; 257];
    let mut len = buf.len() as u32;
    // SAFETY: the buffer and its length in characters, as GetUserNameW expects.
    unsafe { GetUserNameW(Some(windows::core::PWSTR(buf.as_mut_ptr())), &mut len) }.ok()?;
    Some(String::from_utf16_lossy(
        &buf[..(len as usize).saturating_sub(1)],
    ))
}

/// The commit of the config when it sits in a git work tree, with "+dirty" when it has
/// uncommitted changes; for the audit log.
pub fn git_commit(config: &Path) -> Option<String> {
    let dir = if config.is_dir() {
        config
    } else {
        config.parent()?
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let commit = git(&["rev-parse", "HEAD"])?;
    let dirty = git(&["status", "--porcelain", "--", "."]).is_some_and(|s| !s.is_empty());
    Some(if dirty {
        format!("{commit}+dirty")
    } else {
        commit
    })
}

/// The Task Scheduler folder the windows backend drives: a directory of task files
/// when `ORC_WINDOWS_TASKS_DIR` names one (a copy of a server's `System32\\Tasks`, or
/// a test's), else Task Scheduler itself, which only Windows has.
pub fn windows_folder(
    folder: &str,
) -> Result<Box<dyn crate::backend::windows::folder::TaskFolder>> {
    use crate::backend::windows::folder::DirFolder;
    if let Some(dir) = std::env::var_os("ORC_WINDOWS_TASKS_DIR").filter(|d| !d.is_empty()) {
        return Ok(Box::new(DirFolder::new(Path::new(&dir), folder)));
    }
    #[cfg(windows)]
    {
        Ok(Box::new(crate::backend::windows::com::ComFolder::connect(
            folder,
        )?))
    }
    #[cfg(not(windows))]
    bail!(
        "the windows backend drives Task Scheduler, which only Windows has; to plan against a copy of a server's task folder, set ORC_WINDOWS_TASKS_DIR to a directory laid out like C:\\Windows\\System32\\Tasks"
    )
}

/// Reads a secret from the vault of the state at `state`, opened when first asked.
pub fn vault_reader(state: &Path) -> crate::secrets::SecretReader {
    let state = state.to_path_buf();
    Box::new(move |name| {
        let db = State::open(&state).map_err(|e| format!("{e:#}"))?;
        let key_file = crate::secrets::key::key_file_path(db.path());
        let vault = crate::secrets::Vault::open(
            &db,
            &key_file,
            &crate::secrets::passphrase_from_env_or_prompt,
        )
        .map_err(|e| format!("{e:#}"))?;
        vault.get(name).map_err(|e| format!("{e:#}"))
    })
}

/// Keyed fingerprints of the vault's secrets (`Vault::fingerprint`), for the
/// Windows backend to tell a changed `run_as` password. The vault is opened once,
/// when first asked, without a prompt, and every secret's fingerprint kept.
pub fn vault_fingerprints(state: &Path) -> crate::secrets::SecretReader {
    let state = state.to_path_buf();
    let known: std::cell::RefCell<Option<Result<BTreeMap<String, String>, String>>> =
        std::cell::RefCell::new(None);
    Box::new(move |name| {
        let mut known = known.borrow_mut();
        let all = known.get_or_insert_with(|| {
            let db = State::open(&state).map_err(|e| format!("{e:#}"))?;
            let key_file = crate::secrets::key::key_file_path(db.path());
            // Never a prompt: a plan must not ask for the passphrase. Without one at
            // hand the fingerprints are unknown, and plan does not compare them.
            let unattended = |_: &str| {
                crate::secrets::passphrase_unattended()?
                    .ok_or_else(|| anyhow::anyhow!("no passphrase without asking"))
            };
            let vault = crate::secrets::Vault::open(&db, &key_file, &unattended)
                .map_err(|e| format!("{e:#}"))?;
            let mut all = BTreeMap::new();
            for info in crate::secrets::list(&db).map_err(|e| format!("{e:#}"))? {
                if let Ok(fingerprint) = vault.fingerprint(&info.name) {
                    all.insert(info.name, fingerprint);
                }
            }
            Ok(all)
        });
        match all {
            Ok(all) => all
                .get(name)
                .cloned()
                .map(zeroize::Zeroizing::new)
                .ok_or_else(|| format!("no secret \"{name}\" in the vault")),
            Err(e) => Err(e.clone()),
        }
    })
}

impl Workspace {
    /// Load and validate the config. Errors come back as diagnostics to print.
    pub fn load(
        config_path: &Path,
        state: Option<&Path>,
        backend: Option<&str>,
    ) -> Result<Workspace, Diagnostics> {
        let loaded = config::load(config_path)?;
        let state_path = state
            .map(Path::to_path_buf)
            .unwrap_or_else(state::default_path);
        let state_path = std::path::absolute(&state_path).unwrap_or(state_path);
        Ok(Workspace {
            config: loaded.config,
            config_path: config_path.to_path_buf(),
            state_path,
            host: host_name(),
            warnings: loaded.warnings,
            backend_override: backend.map(str::to_string),
        })
    }

    /// The state, created if missing.
    pub fn open_state(&self) -> Result<State> {
        State::open(&self.state_path)
    }

    /// The state if it exists; plan reads without creating anything.
    pub fn existing_state(&self) -> Result<Option<State>> {
        if self.state_path.exists() {
            self.open_state().map(Some)
        } else {
            Ok(None)
        }
    }

    /// The backend to use: `--backend`, else `settings.backend`; `auto` is Task
    /// Scheduler on Windows and the embedded scheduler elsewhere.
    pub fn backend_kind(&self) -> Result<BackendKind> {
        resolve_backend(
            self.backend_override.as_deref(),
            self.config.settings.backend,
        )
        .map_err(anyhow::Error::msg)
    }

    /// The scope this config plans and applies: its backend's folder.
    pub fn scope(&self) -> Result<Scope> {
        Ok(Scope::new(
            backend_name(self.backend_kind()?),
            &self.config.settings.folder,
        ))
    }

    /// The config's path as the audit log records it (absolute, so that the same
    /// config is recognised from any working folder).
    pub fn config_identity(&self) -> String {
        std::fs::canonicalize(&self.config_path)
            .or_else(|_| std::path::absolute(&self.config_path))
            .unwrap_or_else(|_| self.config_path.clone())
            .display()
            .to_string()
    }

    /// What the state recorded for this config's scope: the plan's "before". When
    /// the scope is new and the tasks this config applied last are still recorded in
    /// another folder of the backend, the config's folder changed: those are the
    /// "before", and the plan moves them. When another config applied the scope last,
    /// the plan warns.
    pub fn recorded(&self, state: Option<&State>) -> Result<Recorded> {
        let Some(state) = state else {
            return Ok(Recorded::default());
        };
        let scope = self.scope()?;
        let mut recorded = state.recorded(&scope)?;
        let me = self.config_identity();
        let given = self.config_path.display().to_string();
        let is_me = |path: &str| path == me || path == given;
        if recorded.tasks.is_empty() {
            let mut from = state.folders_applied_from(&scope.backend, &me)?;
            if from.is_empty() && given != me {
                from = state.folders_applied_from(&scope.backend, &given)?;
            }
            from.retain(|f| *f != scope.folder);
            if let Some(old) = from.into_iter().next() {
                let old_scope = Scope::new(&scope.backend, &old);
                let before = state.recorded(&old_scope)?;
                recorded.tasks = before.tasks;
                recorded.settings = recorded.settings.or(before.settings);
                recorded.moved_from = Some(old);
            }
        }
        if let Some((path, at)) = state.last_apply_config(&scope)?
            && !is_me(&path)
            && !recorded.tasks.is_empty()
        {
            // This config's tasks are recorded in another folder too: applying would
            // merge two configs' tasks and leave the old folder scheduled. Refuse.
            let mut mine = state.folders_applied_from(&scope.backend, &me)?;
            if given != me {
                mine.extend(state.folders_applied_from(&scope.backend, &given)?);
            }
            mine.retain(|f| *f != scope.folder);
            if let Some(old) = mine.first() {
                bail!(
                    "this config's tasks are in folder \"{old}\" ({}), and folder \"{}\" holds the tasks of {path}: moving into it would mix two configs' tasks; choose another folder, or `orc destroy` one of them first",
                    scope.backend,
                    scope.folder
                );
            }
            recorded.claimed_by = Some(format!(
                "{scope} was last applied from {path} (at {at}), not from this config ({me}); applying makes its tasks this config's: tasks only {path} has are destroyed"
            ));
        }
        Ok(recorded)
    }

    /// The crontab backend for this workspace's folder, whatever the backend setting.
    pub fn cron_backend(&self) -> Result<crate::backend::cron::CronBackend> {
        self.cron_backend_in(&self.config.settings.folder)
    }

    /// The crontab backend driving `folder` (another than the config's when it moves).
    fn cron_backend_in(&self, folder: &str) -> Result<crate::backend::cron::CronBackend> {
        let orc = std::env::current_exe().context("cannot find orc's own executable")?;
        let invocation = Invocation {
            orc,
            state: self.state_path.clone(),
        };
        Ok(crate::backend::cron::CronBackend::new(
            folder,
            invocation,
            &self.config.settings.timezone,
        )?)
    }

    pub fn backend(&self) -> Result<Box<dyn Backend>> {
        self.backend_in(&self.config.settings.folder)
    }

    /// The backend, driving `folder` (another than the config's when it moves).
    pub fn backend_in(&self, folder: &str) -> Result<Box<dyn Backend>> {
        let orc = std::env::current_exe().context("cannot find orc's own executable")?;
        let kind = self.backend_kind()?;
        let invocation = Invocation {
            orc,
            state: self.state_path.clone(),
        };
        Ok(match kind {
            BackendKind::Embedded => {
                let dir = self.state_path.parent().unwrap_or(Path::new("."));
                Box::new(EmbeddedBackend::new(dir, folder, invocation))
            }
            BackendKind::Cron => Box::new(self.cron_backend_in(folder)?),
            BackendKind::Windows => {
                Box::new(crate::backend::windows::backend::WindowsBackend::new(
                    folder,
                    windows_folder(folder)?,
                    invocation.orc,
                    invocation.state,
                    crate::backend::windows::machine_zone(),
                    vault_reader(&self.state_path),
                    vault_fingerprints(&self.state_path),
                ))
            }
            BackendKind::Auto => unreachable!("auto is resolved above"),
        })
    }

    /// A backend's refusal of a task, prefixed with where the task is defined.
    fn locate(&self, e: crate::backend::BackendError) -> anyhow::Error {
        match &e {
            crate::backend::BackendError::Unsupported { task, .. } => {
                match self.config.tasks.get(task) {
                    Some(t) => anyhow::anyhow!(
                        "{}:{}:{}: {e}",
                        t.origin.file.display(),
                        t.origin.line,
                        t.origin.column
                    ),
                    None => e.into(),
                }
            }
            crate::backend::BackendError::Io(_) => e.into(),
        }
    }

    /// The Task Scheduler folder of the windows backend, for reading task XML.
    pub fn windows_folder(&self) -> Result<Box<dyn crate::backend::windows::folder::TaskFolder>> {
        windows_folder(&self.config.settings.folder)
    }

    /// The tasks this host should run, and those the config keeps for other hosts.
    pub fn desired(&self) -> (BTreeMap<&str, &Task>, Vec<Skipped>) {
        let mut desired = BTreeMap::new();
        let mut skipped = Vec::new();
        for (name, task) in &self.config.tasks {
            if task.hosts.is_empty()
                || task
                    .hosts
                    .iter()
                    .any(|h| h.eq_ignore_ascii_case(&self.host))
            {
                desired.insert(name.as_str(), task);
            } else {
                skipped.push(Skipped {
                    name: name.clone(),
                    hosts: task.hosts.clone(),
                });
            }
        }
        (desired, skipped)
    }

    /// Compute the plan against `recorded` (see `Workspace::recorded`; empty without a
    /// state); `destroy` plans to remove every recorded task.
    pub fn plan(
        &self,
        recorded: &Recorded,
        backend: &dyn Backend,
        targets: &[String],
        destroy: bool,
        fingerprints: bool,
    ) -> Result<Plan> {
        let (mut desired, skipped) = self.desired();
        if destroy {
            desired.clear();
        }
        for t in targets {
            let known =
                self.config.tasks.contains_key(t) || recorded.tasks.iter().any(|r| &r.name == t);
            if !known {
                bail!("--target {t}: no task of that name in the configuration or the state");
            }
        }
        let live = backend.list()?;
        let old_live = match &recorded.moved_from {
            Some(old) => self.backend_in(old)?.list()?,
            None => Vec::new(),
        };
        let mut plan = plan::compute(
            Inputs {
                desired: &desired,
                recorded: &recorded.tasks,
                desired_settings: (!destroy).then(|| self.config.recorded_settings_json()),
                recorded_settings: recorded.settings.as_deref(),
                live: &live,
                moved_from: recorded
                    .moved_from
                    .as_ref()
                    .map(|old| (old.clone(), old_live.as_slice())),
                skipped,
                folder: self.config.settings.folder.clone(),
                host: self.host.clone(),
                fingerprints,
            },
            backend,
        )
        .map_err(|e| self.locate(e))?;
        plan.warnings.extend(recorded.claimed_by.clone());
        plan.retain_targets(targets);
        if let Some(why) = backend.limited_view() {
            let missing: Vec<String> = plan
                .changes
                .iter()
                .filter(|c| c.drift == Some(plan::Drift::DeletedOutside))
                .map(|c| format!("\"{}\"", c.name))
                .collect();
            if !missing.is_empty() {
                bail!(
                    "{why}: {} may be hidden from it, not deleted, so nothing is planned; run orc from an elevated prompt (Run as administrator)",
                    missing.join(", ")
                );
            }
            plan.warnings.push(format!(
                "{why}; tasks of other accounts in the folder are not seen"
            ));
        }
        Ok(plan)
    }
}
