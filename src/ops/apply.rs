//! Apply and destroy: make the live scheduler match, safely.
//!
//! Order of work, chosen so that a crash at any point converges on the next run:
//! take the lock, plan, write the audit row, write the scheduler in one batch, then
//! record every task change in one state transaction. A crash after the scheduler
//! write leaves live ahead of state; the next plan sees live already matching and
//! records it without touching the scheduler again.

use std::time::Duration;

use crate::config::Diagnostic;
use crate::failpoint;
use crate::host::{git_commit, user_name};
use crate::plan::{Plan, SavedPlan, audit_json};
use crate::state::{ApplyMeta, Locked, StateError};
use crate::workspace::{Workspace, WorkspaceError};

/// What to apply.
#[derive(Debug, Default)]
pub struct ApplyOptions<'a> {
    /// Only these tasks (empty: all).
    pub targets: &'a [String],
    /// Remove every task orc manages in the folder instead.
    pub destroy: bool,
    /// How long to wait for another apply to let go of the state.
    pub lock_timeout: Duration,
    /// A plan saved by `orc plan -o`: applied exactly, or refused if stale.
    pub saved: Option<&'a SavedPlan>,
}

/// The plan about to be applied, for the caller to show and approve.
pub struct Review<'a> {
    pub plan: &'a Plan,
    /// The holder of a stale lock this apply broke (its process had ended).
    pub broke_lock: Option<String>,
}

/// What an apply did.
pub struct ApplyReport {
    pub plan: Plan,
    /// The audit row, when there were changes and they were approved.
    pub apply_id: Option<i64>,
    /// Registered, but someone must act (an account without the batch logon right).
    pub warnings: Vec<String>,
}

impl ApplyReport {
    /// Whether the scheduler and the state were changed.
    pub fn applied(&self) -> bool {
        self.apply_id.is_some()
    }
}

/// Why an apply changed nothing, or stopped part way (to be resumed by the next).
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Another orc holds the state's lock.
    #[error(transparent)]
    Locked(Locked),
    /// Tasks name secrets this server's vault lacks; nothing was changed.
    #[error(
        "{} secret reference{} cannot be resolved on this server; nothing was changed",
        .0.len(),
        if .0.len() == 1 { "" } else { "s" }
    )]
    MissingSecrets(Vec<Diagnostic>),
    /// A saved plan made for another place, or that no longer matches.
    #[error("{0}")]
    SavedPlan(String),
    /// The scheduler refused the changes or could not be reached.
    #[error("{what}: {error}")]
    Scheduler {
        what: String,
        // Not a `#[source]`: the message already carries it, and anyhow's `{:#}`
        // would say it twice.
        error: crate::backend::BackendError,
    },
    /// The state database failed (another kind than its lock).
    #[error(transparent)]
    State(StateError),
    /// The config does not load, or the backend refuses it (nothing was changed).
    #[error("{} does not load:\n{}", .config.display(), crate::config::Diagnostics(.diagnostics.clone()))]
    Invalid {
        config: std::path::PathBuf,
        diagnostics: Vec<Diagnostic>,
    },
    /// The state, backend or plan could not be had (before anything changed).
    #[error(transparent)]
    Workspace(WorkspaceError),
    /// The vault could not list its secrets.
    #[error(transparent)]
    Vault(crate::secrets::VaultError),
    /// The caller's review (an approval prompt) failed.
    #[error(transparent)]
    Review(anyhow::Error),
}

impl From<super::check::CheckError> for ApplyError {
    fn from(e: super::check::CheckError) -> Self {
        match e {
            super::check::CheckError::Workspace(e) => e.into(),
            super::check::CheckError::State(e) => e.into(),
            super::check::CheckError::Vault(e) => e.into(),
        }
    }
}

impl From<WorkspaceError> for ApplyError {
    fn from(e: WorkspaceError) -> Self {
        match e {
            WorkspaceError::State(e) => e.into(),
            other => ApplyError::Workspace(other),
        }
    }
}

impl From<StateError> for ApplyError {
    fn from(e: StateError) -> Self {
        match e {
            StateError::Locked(locked) => ApplyError::Locked(locked),
            other => ApplyError::State(other),
        }
    }
}

/// The vault's database failures are the state's (their statuses too); none other
/// comes from listing the secrets' names.
impl From<crate::secrets::VaultError> for ApplyError {
    fn from(e: crate::secrets::VaultError) -> Self {
        match e {
            crate::secrets::VaultError::State(e) => e.into(),
            other => ApplyError::Vault(other),
        }
    }
}

/// Plan under the lock, let `review` see the plan (to show it) and approve it, then
/// apply it. Its answer matters only when there are changes: `false` changes nothing.
pub fn apply(
    ws: &Workspace,
    opts: &ApplyOptions,
    review: &mut dyn FnMut(&Review) -> anyhow::Result<bool>,
) -> Result<ApplyReport, ApplyError> {
    let state = ws.open_state()?;
    if !opts.destroy {
        // A task is never scheduled without the credentials it names.
        let held = crate::secrets::list(&state)?
            .into_iter()
            .map(|s| s.name)
            .collect();
        let (desired, _) = ws.desired();
        let missing =
            super::check::secret_diagnostics(&ws.config, desired.values().copied(), &held, true);
        if !missing.is_empty() {
            return Err(ApplyError::MissingSecrets(missing));
        }
    }
    let purpose = if opts.destroy { "destroy" } else { "apply" };
    let (host, user) = (ws.host.clone(), user_name());
    let lock = state.lock("apply", purpose, &host, &user, opts.lock_timeout)?;
    let broke_lock = lock.broke.as_ref().map(ToString::to_string);
    if let Some(dead) = &broke_lock {
        tracing::warn!("broke a stale apply lock held by {dead}");
    }
    failpoint::hit("apply:locked");

    let mut backend = ws.backend()?;
    let mut plan = ws.plan(
        &ws.recorded(Some(&state))?,
        backend.as_ref(),
        opts.targets,
        opts.destroy,
        opts.saved.is_some(),
    )?;
    if let Some(saved) = opts.saved {
        check_saved(saved, ws, &plan)?;
    }
    let unapplied = |plan| ApplyReport {
        plan,
        apply_id: None,
        warnings: Vec::new(),
    };
    if !review(&Review {
        plan: &plan,
        broke_lock,
    })
    .map_err(ApplyError::Review)?
        || !plan.has_changes()
    {
        return Ok(unapplied(plan));
    }

    let summary = plan.summary();
    let apply_id = state.begin_apply(&ApplyMeta {
        user,
        host,
        git_commit: git_commit(&ws.config_path),
        config_path: ws.config_identity(),
        backend: plan.backend.clone(),
        folder: plan.folder.clone(),
        summary: summary.line(),
        plan: serde_json::to_string(&audit_json(&plan)).map_err(StateError::from)?,
    })?;
    failpoint::hit("apply:before-scheduler");
    let batch = plan.take_scheduler_batch();
    let applied = if batch.changes.is_empty() {
        Ok(())
    } else {
        backend.apply(&batch.changes)
    };
    plan.put_back(batch);
    if let Err(e) = applied {
        state.fail_apply(apply_id, &e.to_string())?;
        tracing::error!("apply {apply_id} failed: {e}");
        return Err(ApplyError::Scheduler {
            what: format!("the {} scheduler refused the changes", plan.backend),
            error: e,
        });
    }
    // A folder move deletes the old entries only once the new folder holds the tasks:
    // an apply stopped in between leaves both, and the next plan finishes the move.
    if let Some(from) = &plan.moved_from
        && !plan.old_folder.is_empty()
        && let Err(e) = ws.backend_in(from)?.apply(&plan.old_folder)
    {
        state.fail_apply(apply_id, &e.to_string())?;
        tracing::error!("apply {apply_id} failed: {e}");
        return Err(ApplyError::Scheduler {
            what: format!(
                "the {} scheduler refused to delete the tasks of folder \"{from}\"",
                plan.backend
            ),
            error: e,
        });
    }
    let warnings = backend.take_warnings();
    for warning in &warnings {
        tracing::warn!("apply {apply_id}: {warning}");
    }
    failpoint::hit("apply:after-scheduler");
    state.commit_apply(apply_id, &ws.scope()?, &plan.state_writes())?;
    failpoint::hit("apply:after-state");
    drop(lock);
    tracing::info!(
        "apply {apply_id} by {} of {}: {}",
        user_name(),
        ws.config_path.display(),
        summary.line()
    );
    Ok(ApplyReport {
        plan,
        apply_id: Some(apply_id),
        warnings,
    })
}

/// A saved plan applies only to the same place and only if nothing moved since.
fn check_saved(saved: &SavedPlan, ws: &Workspace, plan: &Plan) -> Result<(), ApplyError> {
    if saved.backend != plan.backend || saved.folder != plan.folder || saved.state != ws.state_path
    {
        return Err(ApplyError::SavedPlan(format!(
            "the saved plan was made for the {} backend, folder {}, state {}; this apply uses the {} backend, folder {}, state {}",
            saved.backend,
            saved.folder,
            saved.state.display(),
            plan.backend,
            plan.folder,
            ws.state_path.display()
        )));
    }
    let stale = saved.staleness(plan);
    if stale.is_stale() {
        return Err(ApplyError::SavedPlan(format!(
            "the saved plan is stale; nothing was applied:\n{stale}Run `orc plan -o FILE` again and review the new plan."
        )));
    }
    Ok(())
}

/// Load and check the config at `config` as `orc apply --auto-approve` does, and apply
/// it to `state`: for the front ends that apply without a terminal (the API).
pub fn apply_config(
    config: &std::path::Path,
    state: &std::path::Path,
    backend: Option<crate::config::BackendKind>,
    opts: &ApplyOptions,
) -> Result<ApplyReport, ApplyError> {
    let checked = super::check::check(config, Some(state), backend)?;
    let Some(ws) = checked.workspace else {
        return Err(ApplyError::Invalid {
            config: config.to_path_buf(),
            diagnostics: checked.diagnostics,
        });
    };
    apply(&ws, opts, &mut |_| Ok(true))
}
