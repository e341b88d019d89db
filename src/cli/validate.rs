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
        let found = windows_diagnostics(&l.config, l.config.tasks.values());
        if found.iter().any(Diagnostic::is_error) {
            loaded = None;
        }
        diagnostics.extend(found);
    }
    // The server's vault, when this machine has a state: a credential it lacks is
    // worth knowing before apply refuses the task.
    if let Some(l) = &loaded {
        let state = crate::workspace::state_path(global.state.as_deref());
        if state.exists() {
            let held = held_secrets(&state)?;
            diagnostics.extend(secret_diagnostics(
                &l.config,
                l.config.tasks.values(),
                &held,
                false,
            ));
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
        None => {
            config.settings.backend == config::BackendKind::Windows
                || (cfg!(windows) && config.settings.backend == config::BackendKind::Auto)
        }
    }
}

/// What Task Scheduler makes of each task, as diagnostics at the task: an error for a
/// task it cannot run as written (a schedule no set of triggers matches exactly, a time
/// zone other than the machine's or UTC), a warning for a schedule that fires inside a
/// daylight-saving change, where Task Scheduler's behaviour is unspecified.
pub fn windows_diagnostics<'a>(
    config: &config::Config,
    tasks: impl Iterator<Item = &'a config::Task>,
) -> Vec<Diagnostic> {
    use crate::backend::windows;
    let zone = windows::machine_zone();
    let placeholder = std::path::Path::new("orc.exe");
    let now = jiff::Timestamp::now();
    let mut diagnostics = Vec::new();
    for task in tasks {
        match windows::task_xml(
            task,
            &config.settings.folder,
            placeholder,
            placeholder,
            &zone,
        ) {
            Err(why) => diagnostics.push(at_task(task, Diagnostic::error(why))),
            Ok(_) => diagnostics.extend(
                windows::dst_window_warning(task, &zone, now)
                    .map(|w| at_task(task, Diagnostic::warning(w))),
            ),
        }
    }
    diagnostics
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
                found.push(at_task(task, d));
            }
        }
        if let config::RunAs::Password { secret, .. } = &task.run_as
            && !held.contains(secret)
        {
            let d = make(format!("run_as refers to the password secret \"{secret}\""))
                .help(format!("store it with `orc secret set {secret}`"));
            found.push(at_task(task, d));
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

/// `diagnostic` pointed at the start of `task`'s table.
fn at_task(task: &config::Task, diagnostic: Diagnostic) -> Diagnostic {
    let origin = &task.origin;
    let diagnostic = diagnostic.task(&task.name);
    match std::fs::read_to_string(&origin.file) {
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
    }
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
