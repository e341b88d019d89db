//! `orc validate`: load the config and report every problem.

use std::process::ExitCode;

use serde_json::json;

use super::{Global, Output};
use crate::config::{self, Diagnostic};

pub fn run(global: &Global, out: &Output) -> anyhow::Result<ExitCode> {
    let (mut diagnostics, mut loaded) = match config::load(&global.config_path()) {
        Ok(loaded) => (loaded.warnings.clone(), Some(loaded)),
        Err(diags) => (diags.0, None),
    };
    if let Some(l) = &loaded
        && targets_windows(global, &l.config)
    {
        let refused = windows_diagnostics(&l.config);
        if !refused.is_empty() {
            diagnostics.extend(refused);
            loaded = None;
        }
    }
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

/// Whether the tasks go to Task Scheduler: `--backend windows`, `backend =
/// "windows"`, or `auto` on Windows.
fn targets_windows(global: &Global, config: &config::Config) -> bool {
    match global.backend.as_deref() {
        Some(flag) => flag == "windows" || (flag == "auto" && cfg!(windows)),
        None => match config.settings.backend {
            config::BackendKind::Windows => true,
            config::BackendKind::Auto => cfg!(windows),
            _ => false,
        },
    }
}

/// A task Task Scheduler cannot run as written (a schedule no set of triggers
/// matches exactly, a time zone other than the machine's or UTC), as an error at the
/// task.
fn windows_diagnostics(config: &config::Config) -> Vec<Diagnostic> {
    let zone = jiff::tz::TimeZone::system()
        .iana_name()
        .unwrap_or("UTC")
        .to_string();
    let placeholder = std::path::Path::new("orc.exe");
    config
        .tasks
        .values()
        .filter_map(|task| {
            let why = crate::backend::windows::task_xml(
                task,
                &config.settings.folder,
                placeholder,
                placeholder,
                &zone,
            )
            .err()?;
            let origin = &task.origin;
            let diagnostic = Diagnostic::error(why).task(&task.name);
            Some(match std::fs::read_to_string(&origin.file) {
                Ok(text) => {
                    let offset: usize = text
                        .split_inclusive('\n')
                        .take(origin.line.saturating_sub(1))
                        .map(str::len)
                        .sum::<usize>()
                        + origin.column.saturating_sub(1);
                    let source = config::Source::new(origin.file.clone(), text);
                    diagnostic.at(&source, Some(offset..offset + 1))
                }
                Err(_) => diagnostic.in_file(&origin.file),
            })
        })
        .collect()
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
