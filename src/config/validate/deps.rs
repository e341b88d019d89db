//! Dependencies: their syntax, unknown targets, cycles; and renames.

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::config::command::{UnclosedQuote, split_command};
use crate::config::diag::Diagnostic;
use crate::config::load::{Item, Parsed};
use crate::config::model::Dependency;
use crate::config::raw::RawTask;

/// Why a dependency string names nothing orc can check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DependencyError {
    #[error("invalid dependency: {0}")]
    TaskName(#[from] NameError),
    #[error("dependency \"{text}\" names no target after \"{kind}:\"")]
    NoTarget { text: String, kind: String },
    #[error("dependency \"{0}\": the URL must start with http:// or https:// and name a host")]
    Url(String),
    #[error(transparent)]
    Command(#[from] UnclosedQuote),
    #[error("dependency \"{0}\" has an empty command")]
    EmptyCommand(String),
    #[error(
        "unknown dependency kind \"{0}:\"; use a task name, \"file:PATH\", \"url:URL\" or \"command:COMMAND\""
    )]
    UnknownKind(String),
}

/// "name", "file:PATH", "url:URL", "command:LINE".
pub fn parse_dependency(text: &str) -> Result<Dependency, DependencyError> {
    if text == "vpn" {
        return Ok(Dependency::Vpn(None));
    }
    let Some((kind, target)) = text.split_once(':') else {
        check_name(text)?;
        return Ok(Dependency::Task(text.to_string()));
    };
    if target.trim().is_empty() {
        return Err(DependencyError::NoTarget {
            text: text.to_string(),
            kind: kind.to_string(),
        });
    }
    match kind {
        "file" => Ok(Dependency::File(target.to_string())),
        "url" => {
            let lower = target.to_ascii_lowercase();
            let rest = lower
                .strip_prefix("https://")
                .or_else(|| lower.strip_prefix("http://"));
            match rest {
                Some(host) if !host.is_empty() && !host.starts_with('/') => {
                    Ok(Dependency::Url(target.to_string()))
                }
                _ => Err(DependencyError::Url(text.to_string())),
            }
        }
        "vpn" => Ok(Dependency::Vpn(Some(target.trim().to_string()))),
        "command" => {
            let argv = split_command(target)?;
            if argv.is_empty() {
                return Err(DependencyError::EmptyCommand(text.to_string()));
            }
            Ok(Dependency::Command(argv))
        }
        other => Err(DependencyError::UnknownKind(other.to_string())),
    }
}

/// Two tasks renamed from the same old name: apply would move the old task's state
/// and history to one of them and silently start the other afresh. Tasks that never
/// run on the same host (disjoint `hosts`) may share it: each host renames its own.
pub(super) fn check_renames(c: &mut Checker, parsed: &Parsed) {
    let mut by_old: BTreeMap<&str, Vec<(&String, &Item<RawTask>)>> = BTreeMap::new();
    for (name, item) in &parsed.tasks {
        if let Some(from) = &item.value.renamed_from {
            by_old
                .entry(from.value.as_str())
                .or_default()
                .push((name, item));
        }
    }
    let hosts = |item: &Item<RawTask>| -> Vec<String> {
        item.value
            .hosts
            .iter()
            .flatten()
            .map(|h| h.value.to_ascii_lowercase())
            .collect()
    };
    let share_a_host = |a: &[String], b: &[String]| {
        a.is_empty() || b.is_empty() || a.iter().any(|h| b.contains(h))
    };
    for (old, mut tasks) in by_old {
        // The first claim in file order keeps it; later ones are the errors.
        tasks.sort_by_key(|(_, item)| (item.file, item.key_span.start));
        for (i, (name, item)) in tasks.iter().enumerate() {
            let mine = hosts(item);
            let Some((first, first_item)) = tasks[..i]
                .iter()
                .find(|(_, other)| share_a_host(&mine, &hosts(other)))
            else {
                continue;
            };
            let first_at = Diagnostic::error("")
                .at(
                    &c.sources[first_item.file],
                    first_item
                        .value
                        .renamed_from
                        .as_ref()
                        .map(|r| r.span.clone()),
                )
                .position();
            let span = item
                .value
                .renamed_from
                .as_ref()
                .map_or(item.key_span.clone(), |r| r.span.clone());
            let d = c
                .error(
                    item.file,
                    &span,
                    Some(name),
                    format!(
                        "renamed_from = \"{old}\" is claimed by task \"{first}\" too (at {first_at}); the history of \"{old}\" can go to one task only"
                    ),
                )
                .help(format!(
                    "keep renamed_from on the task that continues \"{old}\" and remove it here, or give the tasks disjoint hosts = [...]"
                ));
            c.diags.push(d);
        }
    }
}

/// A task's dependencies on other tasks, each with the span of its entry.
/// Edges out of a task: the target, and where the edge is written (span, file, and
/// the task whose table holds it).
type Edges = Vec<Edge>;

#[derive(Clone)]
struct Edge {
    target: String,
    span: std::ops::Range<usize>,
    file: usize,
    owner: String,
}

/// Unknown dependency targets and cycles among tasks. Works on every task that was
/// parsed, even one with other errors, so all problems show at once.
pub(super) fn check_dependencies(c: &mut Checker, parsed: &Parsed) {
    // Each task's dependencies on other tasks, with the span of each entry.
    let graph: BTreeMap<String, Edges> = parsed
        .tasks
        .iter()
        .map(|(name, item)| {
            let deps = item
                .value
                .dependencies
                .iter()
                .flatten()
                .filter_map(|d| match parse_dependency(&d.value) {
                    Ok(Dependency::Task(target)) => Some(Edge {
                        target,
                        span: d.span.clone(),
                        file: item.file,
                        owner: name.clone(),
                    }),
                    _ => None,
                })
                .collect();
            (name.clone(), deps)
        })
        .collect();
    for edge in graph.values().flatten() {
        unknown_task(c, parsed, edge, "dependency");
    }
    report_cycles(c, &graph, "dependency cycle");
}

/// `on_success`, `on_failure` and `after`: each names a task of the config (not the
/// task itself), a task with `after` is started by those tasks (so has no schedule),
/// and no chain leads back to where it started.
pub(super) fn check_chains(c: &mut Checker, parsed: &Parsed) {
    let mut graph: BTreeMap<String, Edges> = parsed
        .tasks
        .keys()
        .map(|k| (k.clone(), Vec::new()))
        .collect();
    for (name, item) in &parsed.tasks {
        let task = &item.value;
        let lists = [
            ("on_success", &task.on_success),
            ("on_failure", &task.on_failure),
            ("after", &task.after),
        ];
        for (key, list) in lists {
            for entry in list.iter().flatten() {
                let edge = Edge {
                    target: entry.value.clone(),
                    span: entry.span.clone(),
                    file: item.file,
                    owner: name.clone(),
                };
                if entry.value == *name {
                    c.report(
                        item.file,
                        &entry.span,
                        Some(name),
                        format!("{key} names the task itself"),
                    );
                    continue;
                }
                if !unknown_task(c, parsed, &edge, key) {
                    continue;
                }
                // A chain goes from the task that ends to the task it starts: for
                // `after`, from each task waited for to this one.
                if key == "after" {
                    let from = entry.value.clone();
                    graph.entry(from).or_default().push(Edge {
                        target: name.clone(),
                        ..edge
                    });
                } else {
                    graph.entry(name.clone()).or_default().push(edge);
                }
            }
        }
        if let (Some(after), Some(schedule)) = (&task.after, &task.schedule)
            && !after.is_empty()
        {
            c.report(
                item.file,
                &schedule.span,
                Some(name),
                "a task with `after` is started by the tasks it waits for; it takes no schedule",
            );
        }
        if let (Some(timeout), None) = (&task.after_timeout, &task.after) {
            let d = Diagnostic::warning("after_timeout has no effect without after")
                .at(&c.sources[item.file], Some(timeout.span.clone()))
                .task(name);
            c.diags.push(d);
        }
    }
    report_cycles(c, &graph, "chain cycle");
}

/// Report `edge`'s target when no task has that name; whether it names one.
fn unknown_task(c: &mut Checker, parsed: &Parsed, edge: &Edge, what: &str) -> bool {
    let target = &edge.target;
    if parsed.tasks.contains_key(target) || parsed.broken_tasks.contains(target) {
        return true;
    }
    let mut d = c.error(
        edge.file,
        &edge.span,
        Some(&edge.owner),
        format!("unknown {what} \"{target}\": no task has that name"),
    );
    let others = parsed.tasks.keys().filter(|k| **k != edge.owner);
    if let Some(s) = closest(target, others) {
        d = d.help(format!("did you mean \"{s}\"?"));
    }
    c.diags.push(d);
    false
}

/// Depth-first search; each cycle is reported once, at the edge that closes it.
fn report_cycles(c: &mut Checker, graph: &BTreeMap<String, Edges>, label: &str) {
    let edges = |name: &str| -> Edges {
        graph
            .get(name)
            .map(|deps| {
                deps.iter()
                    .filter(|e| graph.contains_key(&e.target))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut reported: BTreeSet<Vec<String>> = BTreeSet::new();
    for start in graph.keys() {
        let mut path: Vec<(String, Edges)> = vec![(start.clone(), edges(start))];
        while let Some((_, pending)) = path.last_mut() {
            let Some(edge) = pending.pop() else {
                if let Some((node, _)) = path.pop() {
                    done.insert(node);
                }
                continue;
            };
            let next = edge.target.clone();
            if done.contains(&next) {
                continue;
            }
            if let Some(pos) = path.iter().position(|(n, _)| *n == next) {
                let mut cycle: Vec<String> = path[pos..].iter().map(|(n, _)| n.clone()).collect();
                let mut key = cycle.clone();
                key.sort();
                if reported.insert(key) {
                    cycle.push(next.clone());
                    c.report(
                        edge.file,
                        &edge.span,
                        Some(&edge.owner),
                        format!("{label}: {}", cycle.join(" -> ")),
                    );
                }
                continue;
            }
            let e = edges(&next);
            path.push((next, e));
        }
    }
}
