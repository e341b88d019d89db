//! Live schedulers behind one trait.
//!
//! A backend holds one folder of tasks (the Task Scheduler folder `\Orc\`, orc's block
//! of the crontab, or the embedded scheduler's registry). Plan compares the entries it
//! lists with what it would render for the desired tasks; apply hands it one batch of
//! changes, so that a backend can write once per apply.

pub mod cron;
pub mod embedded;
pub mod windows;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::{BackendKind, Diagnostic, Task};

/// One task as a live scheduler holds it, normalised so that the desired and the live
/// copy compare equal exactly when the scheduler would behave the same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub name: String,
    /// The trigger in the backend's own terms (crontab fields, orc schedule text);
    /// `None` for a task that runs only on demand.
    pub trigger: Option<String>,
    /// What the scheduler runs: orc itself, calling back `orc run NAME`.
    pub command: Vec<String>,
    pub enabled: bool,
    /// Further settings the scheduler holds, by name in plain words ("trigger 1",
    /// "run as", "overlap"), for backends that model more than the fields above.
    #[serde(flatten, default, skip_serializing_if = "BTreeMap::is_empty")]
    pub details: BTreeMap<String, String>,
    /// The keyed fingerprint of the password registered with the task (never the
    /// value). The scheduler does not give it back: plan compares it with the one
    /// apply recorded, and re-registers the task when the vault's value changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

impl Entry {
    /// Whether the scheduler shows `self` and `other` alike (what only orc's record
    /// holds aside), optionally also ignoring whether each is enabled. Compares in
    /// place: a plan asks this of every task.
    pub fn listed_eq(&self, other: &Entry, ignoring_enabled: bool) -> bool {
        // Destructured, so that a new field cannot be forgotten here.
        let Entry {
            name,
            trigger,
            command,
            enabled,
            details,
            credential: _,
        } = self;
        *name == other.name
            && *trigger == other.trigger
            && *command == other.command
            && (ignoring_enabled || *enabled == other.enabled)
            && *details == other.details
    }
}

impl Entry {
    /// When it runs, in a few words: the trigger, or the numbered triggers.
    pub fn trigger_summary(&self) -> Option<String> {
        if self.trigger.is_some() {
            return self.trigger.clone();
        }
        // "trigger 10" sorts before "trigger 2" as text.
        let mut triggers: Vec<(u32, &str)> = self
            .details
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("trigger ")?.parse().ok()?, v.as_str())))
            .collect();
        triggers.sort();
        let triggers: Vec<&str> = triggers.into_iter().map(|(_, v)| v).collect();
        (!triggers.is_empty()).then(|| triggers.join("; "))
    }
}

/// One change to a live scheduler.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Change {
    Create(Entry),
    Update(Entry),
    Delete { name: String },
    Enable { name: String },
    Disable { name: String },
}

impl Change {
    pub fn name(&self) -> &str {
        match self {
            Change::Create(e) | Change::Update(e) => &e.name,
            Change::Delete { name } | Change::Enable { name } | Change::Disable { name } => name,
        }
    }
}

/// How the scheduler calls orc back:
/// `ORC run NAME --folder FOLDER --backend KIND --state STATE --trigger scheduled`.
/// The folder and backend name the task's scope, so a name that configs of other
/// folders use too is never ambiguous.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub orc: PathBuf,
    pub state: PathBuf,
}

impl Invocation {
    /// The argv a scheduler runs for `name` of `folder` on `backend`. `if_due` asks `orc run` to check the
    /// schedule itself, for backends whose triggers fire on a superset of the times.
    pub fn argv(&self, name: &str, folder: &str, backend: &str, if_due: bool) -> Vec<String> {
        let mut argv = vec![
            self.orc.to_string_lossy().into_owned(),
            "run".to_string(),
            name.to_string(),
            "--folder".to_string(),
            folder.to_string(),
            "--backend".to_string(),
            backend.to_string(),
            "--state".to_string(),
            self.state.to_string_lossy().into_owned(),
            "--trigger".to_string(),
            "scheduled".to_string(),
        ];
        if if_due {
            argv.push("--if-due".to_string());
        }
        argv
    }
}

/// Why a backend could not do what was asked, by kind: callers choose their answer
/// (an HTTP status, doctor's fix, a diagnostic at the task) from the kind, never from
/// the message.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The task cannot be expressed on this backend (e.g. a time zone cron lacks).
    #[error("task \"{task}\": {reason}")]
    Unsupported { task: String, reason: String },
    /// A setting this backend cannot honour (settings.folder, settings.timezone).
    #[error("{0}")]
    Setting(String),
    /// The scheduler cannot be reached: its program or service is missing or down.
    #[error("{0}")]
    Unavailable(String),
    /// The scheduler answered and said no (access denied, a change it rejects, a
    /// task that is not there).
    #[error("{0}")]
    Refused(String),
    /// What the scheduler holds cannot be read as orc wrote it (a broken crontab
    /// block, a damaged registry, an unreadable task file).
    #[error("{0}")]
    Damaged(String),
    /// Another writer changed the scheduler while orc was working on it.
    #[error("{0}")]
    Locked(String),
}

impl BackendError {
    /// An I/O failure while doing `what`: refused when the system denied access,
    /// unavailable otherwise (a missing program or file system, a full disk).
    pub fn io(what: impl std::fmt::Display, e: &std::io::Error) -> BackendError {
        let text = format!("{what}: {e}");
        match e.kind() {
            std::io::ErrorKind::PermissionDenied => BackendError::Refused(text),
            _ => BackendError::Unavailable(text),
        }
    }
}

/// Task Scheduler trigger elements (`triggers = [...]`) mean nothing to cron or to
/// orc's own scheduler: refuse rather than register a task that would never fire.
pub fn refuse_raw_triggers(task: &Task, backend: &str) -> Result<(), BackendError> {
    if task.triggers.is_empty() {
        return Ok(());
    }
    let instead = if task.schedule.is_some() {
        "remove them (the schedule still runs)"
    } else {
        "give the task a schedule"
    };
    Err(BackendError::Unsupported {
        task: task.name.clone(),
        reason: format!(
            "triggers = [...], at_startup, at_logon, on_event and on_idle are Task Scheduler triggers, which the {backend} backend cannot run; {instead}, or keep the task for Windows hosts with hosts = [...]"
        ),
    })
}

/// The vault as a backend that registers passwords (Task Scheduler's `run_as` with
/// a password) reads it: the values, and their keyed fingerprints for plan.
pub struct VaultAccess {
    pub passwords: crate::secrets::SecretReader,
    pub fingerprints: crate::secrets::SecretReader,
}

/// The backend of `kind` driving `folder`, calling orc back as `invocation` says:
/// the one place a backend is built. `timezone` is the config's (cron writes it
/// into its block); `vault` is asked only by the backend that needs it. `Auto` is
/// Task Scheduler on Windows and the embedded scheduler elsewhere.
pub fn open(
    kind: BackendKind,
    folder: &str,
    invocation: Invocation,
    timezone: &str,
    vault: impl FnOnce() -> VaultAccess,
) -> Result<Box<dyn Backend>, BackendError> {
    Ok(match kind {
        BackendKind::Windows => windows_backend(folder, invocation, vault())?,
        BackendKind::Auto if cfg!(windows) => windows_backend(folder, invocation, vault())?,
        BackendKind::Cron => Box::new(cron::CronBackend::new(folder, invocation, timezone)?),
        BackendKind::Embedded | BackendKind::Auto => {
            let dir = invocation
                .state
                .parent()
                .unwrap_or(std::path::Path::new("."))
                .to_path_buf();
            Box::new(embedded::EmbeddedBackend::new(&dir, folder, invocation))
        }
    })
}

fn windows_backend(
    folder: &str,
    invocation: Invocation,
    vault: VaultAccess,
) -> Result<Box<dyn Backend>, BackendError> {
    Ok(Box::new(windows::backend::WindowsBackend::new(
        folder,
        windows::open_folder(folder)?,
        invocation.orc,
        invocation.state,
        windows::machine_zone(),
        vault.passwords,
        vault.fingerprints,
    )))
}

/// A live scheduler folder.
pub trait Backend {
    /// "embedded", "cron", "windows".
    fn kind(&self) -> &'static str;

    /// The entry this backend would hold for `task`.
    fn render(&self, task: &Task) -> Result<Entry, BackendError>;

    /// What this backend makes of `task` before anything is written: errors for what
    /// it cannot run as written. By default, what [`Backend::render`] refuses, as an
    /// error of the task (the caller points it at the task's table).
    fn check(&self, task: &Task) -> Vec<Diagnostic> {
        match self.render(task) {
            Ok(_) => Vec::new(),
            Err(BackendError::Unsupported { reason, .. }) => {
                vec![Diagnostic::error(reason).task(&task.name)]
            }
            Err(e) => vec![Diagnostic::error(e.to_string())],
        }
    }

    /// Every entry in orc's folder, managed or not.
    fn list(&self) -> Result<Vec<Entry>, BackendError>;

    /// Apply a batch of changes. Called only with a non-empty batch: an apply
    /// without changes never touches the scheduler.
    fn apply(&mut self, changes: &[Change]) -> Result<(), BackendError>;

    /// Why `list` may leave out entries that exist (a view limited by the caller's
    /// rights), if it may: plan then refuses to call a missing task deleted.
    fn limited_view(&self) -> Option<String> {
        None
    }

    /// What the last `apply` succeeded with but the admin should know (a task
    /// registered for an account that may not log on as a batch job), taken once.
    fn take_warnings(&mut self) -> Vec<String> {
        Vec::new()
    }
}
