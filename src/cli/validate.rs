//! `orc validate`: load the config and report every problem.

use std::process::ExitCode;

use serde_json::json;

use super::{Global, Output};
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
pub fn check(global: &Global) -> anyhow::Result<Checked> {
    let ws = match Workspace::load(
        &global.config_path(),
        global.state.as_deref(),
        global.backend.as_deref(),
    ) {
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
    let found = crate::checks::backend_diagnostics(
        &ws.config,
        kind,
        &ws.state_path,
        desired.values().copied(),
    );
    let failed = found.iter().any(Diagnostic::is_error);
    let mut diagnostics = ws.warnings.clone();
    diagnostics.extend(found);
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

/// validate's JSON document (also what plan and apply print with --json when the
/// config has errors).
pub fn report_json(
    diagnostics: &[Diagnostic],
    config: Option<&config::Config>,
) -> serde_json::Value {
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    json!({
        "format_version": "1.0",
        "valid": config.is_some(),
        "error_count": errors,
        "warning_count": diagnostics.len() - errors,
        "diagnostics": diagnostics,
        "tasks": config.map_or(0, |c| c.tasks.len()),
    })
}

pub fn run(global: &Global, out: &Output) -> anyhow::Result<ExitCode> {
    let Checked {
        mut diagnostics,
        workspace,
    } = check(global)?;
    // The server's vault, as plan checks it: a credential it lacks is worth knowing
    // before apply refuses the task (without a state, every secret is missing).
    if let Some(ws) = &workspace {
        let held = held_secrets(&ws.state_path)?;
        let (desired, _) = ws.desired();
        diagnostics.extend(secret_diagnostics(
            &ws.config,
            desired.values().copied(),
            &held,
            false,
        ));
    }
    let config = workspace.as_ref().map(|ws| &ws.config);
    if out.json {
        out.print_json(&report_json(&diagnostics, config));
    } else {
        print_diagnostics(&diagnostics, out);
        if let Some(c) = config {
            out.info(&format!(
                "{} The configuration is valid: {} task{} in {} file{}.",
                out.paint("1;32", "Success!"),
                c.tasks.len(),
                if c.tasks.len() == 1 { "" } else { "s" },
                c.files.len(),
                if c.files.len() == 1 { "" } else { "s" },
            ));
        } else {
            let errors = diagnostics.iter().filter(|d| d.is_error()).count();
            let warnings = diagnostics.len() - errors;
            eprintln!(
                "{errors} error{} and {warnings} warning{} in {}",
                if errors == 1 { "" } else { "s" },
                if warnings == 1 { "" } else { "s" },
                global.config_path().display()
            );
        }
    }
    Ok(if config.is_some() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// References to secrets that this server's vault (`held`) lacks: an error when
/// `fatal` (apply: a task must not be scheduled without its credential), else a
/// warning (validate, plan).
pub fn secret_diagnostics<'a>(
    config: &config::Config,
    tasks: impl Iterator<Item = &'a config::Task>,
    held: &std::collections::BTreeSet<String>,
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
                found.push(crate::checks::at_task(task, d));
            }
        }
        if let config::RunAs::Password { secret, .. } = &task.run_as
            && !held.contains(secret)
        {
            let d = make(format!("run_as refers to the password secret \"{secret}\""))
                .help(format!("store it with `orc secret set {secret}`"));
            found.push(crate::checks::at_task(task, d));
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
    found
}

/// The names of the secrets in the vault of the state at `path` (none without one).
pub fn held_secrets(path: &std::path::Path) -> anyhow::Result<std::collections::BTreeSet<String>> {
    if !path.exists() {
        return Ok(Default::default());
    }
    let state = crate::state::State::open(path)?;
    Ok(crate::secrets::list(&state)?
        .into_iter()
        .map(|s| s.name)
        .collect())
}

/// Errors always go to stderr; warnings too, unless --quiet.
pub fn print_diagnostics(diagnostics: &[Diagnostic], out: &Output) {
    let color = out.color_stderr();
    for d in diagnostics {
        if d.is_error() || !out.quiet {
            eprintln!("{}", d.render(color));
        }
    }
}
