//! `orc validate`: load the config and report every problem.

use std::process::ExitCode;

use serde_json::json;

use super::{Global, Output};
use crate::config::{self, Diagnostic};
pub use crate::ops::check::{Checked, held_secrets, secret_diagnostics};

/// [`crate::ops::check::check`] of the config, state and backend the flags name.
pub fn check(global: &Global) -> anyhow::Result<Checked> {
    Ok(crate::ops::check::check(
        &global.config_path(),
        global.state.as_deref(),
        global.backend,
    )?)
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

/// Errors always go to stderr; warnings too, unless --quiet.
pub fn print_diagnostics(diagnostics: &[Diagnostic], out: &Output) {
    let color = out.color_stderr();
    for d in diagnostics {
        if d.is_error() || !out.quiet {
            eprintln!("{}", d.render(color));
        }
    }
}
