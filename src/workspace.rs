//! Everything a plan or apply works on: the loaded config, the state path, the host,
//! and the chosen backend. Loading the config has no side effects, so a bad config
//! stops orc before anything is created or written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::backend::{Backend, BackendError, Invocation};
use crate::config::{self, BackendKind, Config, Diagnostic, Diagnostics, Task};
use crate::plan::{self, Inputs, Plan, Skipped};
use crate::secrets::{SecretError, SecretReader};
use crate::state::{self, Recorded, Scope, State, StateError};

pub struct Workspace {
    pub config: Config,
    pub config_path: PathBuf,
    pub state_path: PathBuf,
    pub host: String,
    pub warnings: Vec<Diagnostic>,
    backend_override: Option<BackendKind>,
}

/// The backend that runs here: `--backend` if given, else settings.backend; `auto`
/// is Task Scheduler on Windows and the embedded scheduler elsewhere.
pub fn resolve_backend(given: Option<BackendKind>, configured: BackendKind) -> BackendKind {
    match given.unwrap_or(configured) {
        BackendKind::Auto if cfg!(windows) => BackendKind::Windows,
        BackendKind::Auto => BackendKind::Embedded,
        k => k,
    }
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

/// Reads a secret from the vault of the state at `state`, opened when first asked
/// (asking for the passphrase on a terminal when needed).
pub fn vault_reader(state: &Path) -> SecretReader {
    vault_reader_with(state, crate::secrets::passphrase_from_env_or_prompt)
}

/// [`vault_reader`] with the passphrase from `passphrase` (`orc doctor` never asks).
pub fn vault_reader_with(
    state: &Path,
    passphrase: fn(&str) -> crate::secrets::Result<zeroize::Zeroizing<String>>,
) -> SecretReader {
    let state = state.to_path_buf();
    Box::new(move |name| {
        let db = State::open(&state).map_err(SecretError::vault)?;
        let key_file = crate::secrets::key::key_file_path(db.path());
        let vault =
            crate::secrets::Vault::open(&db, &key_file, &passphrase).map_err(SecretError::vault)?;
        vault.get(name).map_err(SecretError::vault)
    })
}

/// Keyed fingerprints of the vault's secrets (`Vault::fingerprint`), for the
/// Windows backend to tell a changed `run_as` password. The vault is opened once,
/// when first asked, without a prompt, and every secret's fingerprint kept.
pub fn vault_fingerprints(state: &Path) -> SecretReader {
    let state = state.to_path_buf();
    let known: std::cell::RefCell<Option<Result<BTreeMap<String, String>, SecretError>>> =
        std::cell::RefCell::new(None);
    Box::new(move |name| {
        let mut known = known.borrow_mut();
        let all = known.get_or_insert_with(|| {
            let db = State::open(&state).map_err(SecretError::vault)?;
            let key_file = crate::secrets::key::key_file_path(db.path());
            // Never a prompt: a plan must not ask for the passphrase. Without one at
            // hand the fingerprints are unknown, and plan does not compare them.
            let unattended = |_: &str| {
                crate::secrets::passphrase_unattended()?.ok_or(
                    crate::secrets::VaultError::NeedsPassphrase(
                        crate::secrets::NoPassphrase::NotAsked,
                    ),
                )
            };
            let vault = crate::secrets::Vault::open(&db, &key_file, &unattended)
                .map_err(SecretError::vault)?;
            let mut all = BTreeMap::new();
            for info in crate::secrets::list(&db).map_err(SecretError::vault)? {
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
                .ok_or_else(|| SecretError::Missing(name.to_string())),
            Err(e) => Err(e.clone()),
        }
    })
}

impl Workspace {
    /// Load and validate the config. Errors come back as diagnostics to print.
    pub fn load(
        config_path: &Path,
        state: Option<&Path>,
        backend: Option<BackendKind>,
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
            host: crate::host::host_name(),
            warnings: loaded.warnings,
            backend_override: backend,
        })
    }

    /// The state, created if missing.
    pub fn open_state(&self) -> Result<State> {
        Ok(State::open(&self.state_path)?)
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
        Ok(resolve_backend(
            self.backend_override,
            self.config.settings.backend,
        ))
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
                return Err(WorkspaceError::MixedConfigs {
                    old: old.clone(),
                    scope,
                    path,
                });
            }
            recorded.claimed_by = Some(format!(
                "{scope} was last applied from {path} (at {at}), not from this config ({me}); applying makes its tasks this config's: tasks only {path} has are destroyed"
            ));
        }
        Ok(recorded)
    }

    /// The crontab backend for this workspace's folder, whatever the backend setting.
    pub fn cron_backend(&self) -> Result<crate::backend::cron::CronBackend> {
        Ok(crate::backend::cron::CronBackend::new(
            &self.config.settings.folder,
            self.invocation()?,
            &self.config.settings.timezone,
        )?)
    }

    pub fn backend(&self) -> Result<Box<dyn Backend>> {
        self.backend_in(&self.config.settings.folder)
    }

    /// How the scheduler calls this orc back, with this workspace's state.
    fn invocation(&self) -> Result<Invocation> {
        let orc = std::env::current_exe().map_err(WorkspaceError::NoExecutable)?;
        Ok(Invocation {
            orc,
            state: self.state_path.clone(),
        })
    }

    /// The backend, driving `folder` (another than the config's when it moves).
    pub fn backend_in(&self, folder: &str) -> Result<Box<dyn Backend>> {
        let vault = || crate::backend::VaultAccess {
            passwords: vault_reader(&self.state_path),
            fingerprints: vault_fingerprints(&self.state_path),
        };
        Ok(crate::backend::open(
            self.backend_kind()?,
            folder,
            self.invocation()?,
            &self.config.settings.timezone,
            vault,
        )?)
    }

    /// A backend's refusal of a task, at where the task is defined.
    fn locate(&self, error: BackendError) -> WorkspaceError {
        if let BackendError::Unsupported { task, .. } = &error
            && let Some(t) = self.config.tasks.get(task)
        {
            return WorkspaceError::Refused {
                origin: t.origin.clone(),
                error,
            };
        }
        error.into()
    }

    /// The Task Scheduler folder of the windows backend, for reading task XML.
    pub fn windows_folder(&self) -> Result<Box<dyn crate::backend::windows::folder::TaskFolder>> {
        Ok(crate::backend::windows::open_folder(
            &self.config.settings.folder,
        )?)
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
                return Err(WorkspaceError::UnknownTarget(t.clone()));
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
                return Err(WorkspaceError::LimitedView {
                    why,
                    missing: missing.join(", "),
                });
            }
            plan.warnings.push(format!(
                "{why}; tasks of other accounts in the folder are not seen"
            ));
        }
        Ok(plan)
    }
}

/// Why a workspace could not give its state, backend or plan.
#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// The backend cannot express a task: said at the task's place in the config.
    // Not a `#[source]`: the message carries it.
    #[error("{}:{}:{}: {error}", origin.file.display(), origin.line, origin.column)]
    Refused {
        origin: crate::config::Origin,
        error: BackendError,
    },
    /// Moving into the folder would mix this config's tasks with another's.
    #[error(
        "this config's tasks are in folder \"{old}\" ({}), and folder \"{}\" holds the tasks of {path}: moving into it would mix two configs' tasks; choose another folder, or `orc destroy` one of them first",
        scope.backend,
        scope.folder
    )]
    MixedConfigs {
        old: String,
        scope: Scope,
        path: String,
    },
    #[error("--target {0}: no task of that name in the configuration or the state")]
    UnknownTarget(String),
    /// The scheduler shows this account only part of the folder.
    #[error(
        "{why}: {missing} may be hidden from it, not deleted, so nothing is planned; run orc from an elevated prompt (Run as administrator)"
    )]
    LimitedView { why: String, missing: String },
    #[error("cannot find orc's own executable")]
    NoExecutable(#[source] std::io::Error),
}

impl WorkspaceError {
    /// The backend error inside, if that is what this is.
    pub fn backend(&self) -> Option<&BackendError> {
        match self {
            WorkspaceError::Backend(e) | WorkspaceError::Refused { error: e, .. } => Some(e),
            _ => None,
        }
    }
}

type Result<T, E = WorkspaceError> = std::result::Result<T, E>;
