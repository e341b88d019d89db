//! `orc validate`: load the config and report every problem.

use std::process::ExitCode;

use serde_json::json;

use super::{Global, Output};
use crate::config::{self, Diagnostic};

pub fn run(global: &Global, out: &Output) -> anyhow::Result<ExitCode> {
    let (diagnostics, loaded) = match config::load(&global.config_path()) {
        Ok(loaded) => (loaded.warnings.clone(), Some(loaded)),
        Err(diags) => (diags.0, None),
    };
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = diagnostics.len() - errors;
    if out.json {
        out.print_json(&json!({
            "format_version": "1.0",
            "valid": loaded.is_some(),
            "error_count": errors,
            "warning_count": warnings,
            "diagnostics": diagnostics,
            "tasks": loaded.as_ref().map_or(0, |l| l.config.tasks.len()),
        }));
    } else {
        print_diagnostics(&diagnostics, out);
        if let Some(loaded) = &loaded {
            let c = &loaded.config;
            out.info(&format!(
                "{} The configuration is valid: {} task{} in {} file{}.",
                out.paint("1;32", "Success!"),
                c.tasks.len(),
                if c.tasks.len() == 1 { "" } else { "s" },
                c.files.len(),
                if c.files.len() == 1 { "" } else { "s" },
            ));
        } else {
            eprintln!(
                "{errors} error{} and {warnings} warning{} in {}",
                if errors == 1 { "" } else { "s" },
                if warnings == 1 { "" } else { "s" },
                global.config_path().display()
            );
        }
    }
    Ok(if loaded.is_some() {
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
