//! What a backend refuses before orc touches a scheduler, as diagnostics at the file,
//! line, column and task.
//!
//! Plan and apply run these checks for the backend they drive and refuse the config on
//! an error; `orc validate` runs the very same ones, so a config it passes is one plan
//! accepts, short of what only the live scheduler can tell (its current tasks). The
//! checks render each task as the backend would, with no scheduler behind it: the
//! backends' own `render` is the single source of what they can run.

use std::path::{Path, PathBuf};

use crate::backend::cron;
use crate::backend::{Invocation, open};
use crate::config::{BackendKind, Config, Diagnostic, Origin, Source, Task};

/// What the `kind` backend makes of the config and of each of `tasks` (the tasks this
/// host runs): errors for what it cannot run as written, warnings for what it runs
/// unreliably. `state` is the state database the scheduler would call orc back with.
pub fn backend_diagnostics<'a>(
    config: &Config,
    kind: BackendKind,
    state: &Path,
    tasks: impl Iterator<Item = &'a Task>,
) -> Vec<Diagnostic> {
    let invocation = Invocation {
        orc: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("orc")),
        state: state.to_path_buf(),
    };
    let resolved = crate::workspace::resolve_backend(None, kind);
    match resolved {
        BackendKind::Windows => windows_diagnostics(config, &invocation, tasks),
        BackendKind::Cron => {
            let mut found = Vec::new();
            if let Some(why) = cron::zone_refusal(&config.settings.timezone) {
                let d = Diagnostic::error(why);
                found.push(match &config.settings.timezone_origin {
                    Some(origin) => at_origin(origin, d),
                    None => in_first_file(config, d),
                });
            }
            // The settings' zone is checked above, once for the whole config; a
            // task's own zone at its key.
            let tasks: Vec<&Task> = tasks.collect();
            for task in &tasks {
                if let (Some(origin), Some(why)) = (
                    &task.timezone_origin,
                    cron::zone_refusal(task.timezone.name()),
                ) {
                    found.push(at_origin(origin, Diagnostic::error(why).task(&task.name)));
                }
            }
            found.extend(rendered(
                config,
                BackendKind::Cron,
                invocation,
                tasks.into_iter(),
            ));
            found
        }
        kind => rendered(config, kind, invocation, tasks),
    }
}

/// What the `kind` backend's own [`Backend::check`] says of each task, at the task.
fn rendered<'a>(
    config: &Config,
    kind: BackendKind,
    invocation: Invocation,
    tasks: impl Iterator<Item = &'a Task>,
) -> Vec<Diagnostic> {
    let no_vault = || crate::backend::VaultAccess {
        passwords: Box::new(|_| Err(crate::secrets::SecretError::NotRead)),
        fingerprints: Box::new(|_| Err(crate::secrets::SecretError::NotRead)),
    };
    // The zone is the caller's to check, once: "local" stands in for it here.
    let backend = match open(kind, &config.settings.folder, invocation, "local", no_vault) {
        Ok(backend) => backend,
        Err(e) => return vec![in_first_file(config, Diagnostic::error(e.to_string()))],
    };
    tasks
        .flat_map(|task| {
            backend.check(task).into_iter().map(|d| match &d.task {
                Some(_) => at_task(task, d),
                None => in_first_file(config, d),
            })
        })
        .collect()
}

/// What Task Scheduler makes of each task, as diagnostics at the task: an error for a
/// task it cannot run as written (a schedule no set of triggers matches exactly, a time
/// zone other than the machine's or UTC), a warning for a schedule that fires inside a
/// daylight-saving change, where Task Scheduler's behaviour is unspecified.
fn windows_diagnostics<'a>(
    config: &Config,
    invocation: &Invocation,
    tasks: impl Iterator<Item = &'a Task>,
) -> Vec<Diagnostic> {
    use crate::backend::windows;
    let zone = windows::machine_zone();
    let now = jiff::Timestamp::now();
    let mut diagnostics = Vec::new();
    // The zone is the config's, said once at its `timezone` line; the tasks it
    // stops (those with calendar times) are not each told again.
    let zone_refusal = windows::zone_refusal(&config.settings.timezone, &zone);
    let mut zone_refused = false;
    // Task Scheduler's names ignore case: two that differ only in it are one task.
    let mut seen: std::collections::BTreeMap<String, &str> = Default::default();
    for task in tasks {
        if let Some(first) = seen.insert(task.name.to_ascii_lowercase(), &task.name) {
            diagnostics.push(at_task(
                task,
                Diagnostic::error(format!(
                    "\"{}\" and \"{first}\" differ only in case, and Task Scheduler's names do not: they would be one task; rename one",
                    task.name
                )),
            ));
        }
        match windows::task_xml(
            task,
            &config.settings.folder,
            &invocation.orc,
            &invocation.state,
            &zone,
        ) {
            // A task's own zone, at its key.
            Err(why @ windows::Refusal::Zone { .. }) if task.timezone_origin.is_some() => {
                let origin = task.timezone_origin.as_ref().unwrap_or(&task.origin);
                diagnostics.push(at_origin(
                    origin,
                    Diagnostic::error(why.to_string()).task(&task.name),
                ));
            }
            Err(why) if Some(&why) == zone_refusal.as_ref() => {
                if !zone_refused {
                    zone_refused = true;
                    let d = Diagnostic::error(why.to_string());
                    diagnostics.push(match &config.settings.timezone_origin {
                        Some(origin) => at_origin(origin, d),
                        None => in_first_file(config, d),
                    });
                }
            }
            Err(why) => diagnostics.push(at_task(task, Diagnostic::error(why.to_string()))),
            Ok(_) => diagnostics.extend(
                windows::dst_window_warning(task, &zone, now)
                    .map(|w| at_task(task, Diagnostic::warning(w))),
            ),
        }
    }
    diagnostics
}

/// What this machine cannot hold of the tasks' resource limits, as warnings at the
/// task: without a cgroup v2 for its runs, `cpu_max` is not enforced and root is not
/// held to `max_processes` (`orc doctor` says the same, once).
pub fn limit_diagnostics<'a>(tasks: impl Iterator<Item = &'a Task>) -> Vec<Diagnostic> {
    // Windows' Job Object holds every limit: nothing to say there.
    #[cfg_attr(windows, allow(unused_mut))]
    let mut found = Vec::new();
    for task in tasks.filter(|t| t.limits.any()) {
        #[cfg(target_os = "linux")]
        {
            let Err(why) = crate::exec::cgroup_parent(&task.limits) else {
                continue;
            };
            let root = crate::host::user_name() == "root";
            let unheld: Vec<&str> = [
                (task.limits.cpu_max.is_some(), "cpu_max is not enforced"),
                (
                    task.limits.max_processes.is_some() && root,
                    "max_processes does not hold root (RLIMIT_NPROC)",
                ),
            ]
            .into_iter()
            .filter_map(|(holds, what)| holds.then_some(what))
            .collect();
            if !unheld.is_empty() {
                found.push(at_task(
                    task,
                    Diagnostic::warning(format!(
                        "{} on this machine: its runs get no cgroup v2 ({why}), only rlimits",
                        unheld.join(", and ")
                    )),
                ));
            }
        }
        #[cfg(all(unix, not(target_os = "linux")))]
        if task.limits.cpu_max.is_some() {
            found.push(at_task(
                task,
                Diagnostic::warning("cpu_max is not enforced here: it needs Linux's cgroup v2"),
            ));
        }
        #[cfg(windows)]
        let _ = task;
    }
    found
}

/// `diagnostic` pointed at the start of `task`'s table.
pub fn at_task(task: &Task, diagnostic: Diagnostic) -> Diagnostic {
    at_origin(&task.origin, diagnostic.task(&task.name))
}

/// `diagnostic` pointed at `origin`, with the source line when the file still reads.
pub fn at_origin(origin: &Origin, diagnostic: Diagnostic) -> Diagnostic {
    let Ok(text) = std::fs::read_to_string(&origin.file) else {
        return diagnostic.in_file(&origin.file);
    };
    let line_start: usize = text
        .split_inclusive('\n')
        .take(origin.line.saturating_sub(1))
        .map(str::len)
        .sum();
    // The column counts characters, not bytes.
    let offset = line_start
        + text[line_start.min(text.len())..]
            .char_indices()
            .nth(origin.column.saturating_sub(1))
            .map_or(0, |(i, _)| i);
    let end = token_end(&text, offset);
    let source = Source::new(origin.file.clone(), text);
    diagnostic.at(&source, Some(offset..end))
}

/// Where the value or key at `start` ends on its line: its closing quote, or the
/// first space or TOML punctuation after it (at least one character).
fn token_end(text: &str, start: usize) -> usize {
    let rest = text.get(start..).unwrap_or_default();
    let line = rest.split('\n').next().unwrap_or_default();
    let mut chars = line.char_indices();
    let len = match chars.next() {
        None => return start + 1,
        Some((_, quote @ ('"' | '\''))) => chars
            .find(|(_, c)| *c == quote)
            .map_or(line.len(), |(i, c)| i + c.len_utf8()),
        Some(_) => line
            .find(|c: char| c.is_whitespace() || "=,[]{}".contains(c))
            .unwrap_or(line.len()),
    };
    start + len.max(1)
}

fn in_first_file(config: &Config, diagnostic: Diagnostic) -> Diagnostic {
    match config.files.first() {
        Some(file) => diagnostic.in_file(file),
        None => diagnostic,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_pointed_value_is_underlined_whole() {
        let text = "timezone = \"America/New_York\"\n[tasks.crunch]\n";
        let at = text.find('"').unwrap();
        assert_eq!(
            &text[at..super::token_end(text, at)],
            "\"America/New_York\""
        );
        let at = text.find("tasks").unwrap();
        assert_eq!(&text[at..super::token_end(text, at)], "tasks.crunch");
    }
}
