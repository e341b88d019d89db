//! The checks plan and apply make before they touch the scheduler, and validate
//! reports: the config's own, what the backend refuses, and secrets the vault lacks.

use std::collections::BTreeSet;
use std::path::Path;

use crate::config::{self, Diagnostic};
use crate::workspace::Workspace;

/// What validate found: every diagnostic, and the workspace when there is no error.
pub struct Checked {
    pub diagnostics: Vec<Diagnostic>,
    pub workspace: Option<Workspace>,
}

/// Load the config and run every check plan and apply make before they touch the
/// scheduler: the config's own checks, then what the backend this host resolves to
/// (`--backend`, else settings.backend) refuses of the tasks this host runs. Plan and
/// apply refuse a config with errors here; validate reports them.
pub fn check(
    config: &Path,
    state: Option<&Path>,
    backend: Option<crate::config::BackendKind>,
) -> Result<Checked, CheckError> {
    let ws = match Workspace::load(config, state, backend) {
        Ok(ws) => ws,
        Err(diags) => {
            return Ok(Checked {
                diagnostics: diags.0,
                workspace: None,
            });
        }
    };
    let kind = ws.backend_kind()?;
    let (desired, _) = ws.desired();
    let found = super::backend_checks::backend_diagnostics(
        &ws.config,
        kind,
        &ws.state_path,
        desired.values().copied(),
    );
    let failed = found.iter().any(Diagnostic::is_error);
    let mut diagnostics = ws.warnings.clone();
    diagnostics.extend(found);
    diagnostics.extend(super::backend_checks::limit_diagnostics(
        desired.values().copied(),
    ));
    // A config the backend refuses still gets the secret warnings, which the callers
    // add themselves only when it passes: every problem at once.
    if failed {
        let held = held_secrets(&ws.state_path)?;
        diagnostics.extend(secret_diagnostics(
            &ws.config,
            desired.values().copied(),
            &held,
            false,
        ));
    }
    Ok(Checked {
        diagnostics,
        workspace: (!failed).then_some(ws),
    })
}

/// References to secrets that this server's vault (`held`) lacks: an error when
/// `fatal` (apply: a task must not be scheduled without its credential), else a
/// warning (validate, plan).
pub fn secret_diagnostics<'a>(
    config: &config::Config,
    tasks: impl Iterator<Item = &'a config::Task>,
    held: &BTreeSet<String>,
    fatal: bool,
) -> Vec<Diagnostic> {
    let make = |message: String| {
        let message = format!("{message}, which is not in this server's vault");
        if fatal {
            Diagnostic::error(message)
        } else {
            Diagnostic::warning(message)
        }
    };
    let mut found = Vec::new();
    for task in tasks {
        for (name, value) in &task.env {
            if let config::EnvValue::Secret { secret } = value
                && !held.contains(secret)
            {
                let d = make(format!("env {name} refers to secret \"{secret}\""))
                    .help(format!("store it with `orc secret set {secret}`"));
                found.push(super::backend_checks::at_task(task, d));
            }
        }
        if let Some(config::EnvValue::Secret { secret }) = &task.healthchecks
            && !held.contains(secret)
        {
            let d = make(format!("healthchecks refers to secret \"{secret}\""))
                .help(format!("store it with `orc secret set {secret}`"));
            found.push(super::backend_checks::at_task(task, d));
        }
        if let config::RunAs::Password { secret, .. } = &task.run_as
            && !held.contains(secret)
        {
            let d = make(format!("run_as refers to the password secret \"{secret}\""))
                .help(format!("store it with `orc secret set {secret}`"));
            found.push(super::backend_checks::at_task(task, d));
        }
    }
    if let Some(smtp) = &config.smtp {
        for (key, value) in [("username", &smtp.username), ("password", &smtp.password)] {
            if let Some(config::EnvValue::Secret { secret }) = value
                && !held.contains(secret)
            {
                let d = make(format!("[smtp] {key} refers to secret \"{secret}\""))
                    .help(format!("store it with `orc secret set {secret}`"));
                found.push(match config.files.first() {
                    Some(file) => d.in_file(file),
                    None => d,
                });
            }
        }
    }
    for (group, g) in &config.notify {
        for hook in &g.hooks {
            for value in hook.values() {
                if let config::EnvValue::Secret { secret } = value
                    && !held.contains(secret)
                {
                    let d = make(format!(
                        "[notify.{group}] {} refers to secret \"{secret}\"",
                        hook.channel()
                    ))
                    .help(format!("store it with `orc secret set {secret}`"));
                    found.push(match config.files.first() {
                        Some(file) => d.in_file(file),
                        None => d,
                    });
                }
            }
        }
    }
    found
}

/// The names of the secrets in the vault of the state at `path` (none without one).
pub fn held_secrets(path: &std::path::Path) -> Result<BTreeSet<String>, CheckError> {
    if !path.exists() {
        return Ok(Default::default());
    }
    let state = crate::state::State::open(path)?;
    Ok(crate::secrets::list(&state)?
        .into_iter()
        .map(|s| s.name)
        .collect())
}

/// Why the checks could not be made (a config that fails them is not an error: its
/// diagnostics are the answer).
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Workspace(#[from] crate::workspace::WorkspaceError),
    #[error(transparent)]
    State(#[from] crate::state::StateError),
    #[error(transparent)]
    Vault(#[from] crate::secrets::VaultError),
}
