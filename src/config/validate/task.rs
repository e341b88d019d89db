//! One `[tasks.NAME]` table: from its raw keys to a [`Task`].

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;

use super::*;
use crate::config::diag::{Diagnostic, Diagnostics};
use crate::config::load::Item;
use crate::config::model::{Action, NotifyGroup, Origin, RunAs, Task};
use crate::config::raw::{EnvValue, RawTask, RunAsValue};
use crate::schedule::{self, Zone};

#[allow(clippy::too_many_arguments)]
pub(super) fn build_task(
    c: &mut Checker,
    name: &str,
    item: &Item<RawTask>,
    defaults: &TaskDefaults,
    notify: &BTreeMap<String, NotifyGroup>,
    zone: &Zone,
    now: Timestamp,
) -> Option<Task> {
    let file = item.file;
    let raw = &item.value;
    let errors_before = c.diags.errors().count();
    let t = Some(name);
    if let Err(e) = check_name(name) {
        c.report(file, &item.key_span, t, format!("invalid task name: {e}"));
    }

    let action = match (&raw.command, &raw.shell) {
        (Some(_), Some(shell)) => {
            c.report(
                file,
                &shell.span,
                t,
                "a task takes either `command` or `shell`, not both",
            );
            None
        }
        (None, None) => {
            if !item.dropped.iter().any(|k| k == "command" || k == "shell") {
                c.report(
                    file,
                    &item.key_span,
                    t,
                    "the task has neither `command` nor `shell`",
                );
            }
            None
        }
        (Some(cmd), None) => command_action(&cmd.value)
            .map_err(|e| c.report(file, &cmd.span, t, e.to_string()))
            .ok(),
        (None, Some(shell)) => {
            if shell.value.trim().is_empty() {
                c.report(file, &shell.span, t, "the shell command is empty");
            }
            Some(Action::Shell(shell.value.clone()))
        }
    };
    let then = steps(c, file, t, raw.then.as_deref().unwrap_or_default());

    let schedule = raw
        .schedule
        .as_ref()
        .and_then(|s| match schedule::parse(&s.value) {
            Ok(parsed) => {
                for w in parsed.dst_warnings(zone.tz(), now) {
                    let d = Diagnostic::warning(w)
                        .at(&c.sources[file], Some(s.span.clone()))
                        .task(name);
                    c.diags.push(d);
                }
                Some(parsed)
            }
            Err(e) => {
                c.report(file, &s.span, t, format!("invalid schedule: {e}"));
                None
            }
        });

    let timeout = match &raw.timeout {
        Some(v) => c.opt_duration(
            file,
            t,
            "timeout",
            Some(v),
            Some("; leave it out for no timeout"),
        ),
        None => defaults.timeout,
    };
    let retry_delay = match &raw.retry_delay {
        Some(v) => c.duration(file, t, "retry_delay", v),
        None => defaults.retry_delay,
    }
    .unwrap_or(Duration::from_secs(30));
    let retry_count = match &raw.retry_count {
        Some(n) => c.retry_count(file, t, n).unwrap_or(0),
        None => defaults.retry_count.unwrap_or(0),
    };
    let wait = c.opt_duration(file, t, "wait", raw.wait.as_ref(), None);
    let poll = c.opt_duration(file, t, "poll", raw.poll.as_ref(), Some(""));
    let max_age = c.opt_duration(file, t, "max_age", raw.max_age.as_ref(), None);
    let catch_up = c.opt_duration(file, t, "catch_up", raw.catch_up.as_ref(), None);
    let jitter = c.opt_duration(file, t, "jitter", raw.jitter.as_ref(), None);
    for (key, value) in [("catch_up", &raw.catch_up), ("jitter", &raw.jitter)] {
        if let (Some(v), None, None) = (value, &raw.schedule, &raw.triggers) {
            let d = Diagnostic::warning(format!("{key} has no effect: the task has no schedule"))
                .at(&c.sources[file], Some(v.span.clone()))
                .task(name);
            c.diags.push(d);
        }
    }
    let run_as = match &raw.run_as {
        None => RunAs::System,
        Some(v) => match &v.value {
            RunAsValue::Name(name) => match name.trim() {
                n if n.eq_ignore_ascii_case("SYSTEM")
                    || n.eq_ignore_ascii_case("NT AUTHORITY\\SYSTEM") =>
                {
                    RunAs::System
                }
                "current_user" => RunAs::CurrentUser,
                n if crate::tasksched::is_system(n) => RunAs::System,
                n if crate::tasksched::service_account(n).is_some() => RunAs::Service(
                    crate::tasksched::service_account(n)
                        .unwrap_or_default()
                        .to_string(),
                ),
                n if n.ends_with('$') => RunAs::Gmsa(n.to_string()),
                "" => {
                    c.report(
                        file,
                        &v.span,
                        t,
                        "run_as is empty; use \"SYSTEM\", \"current_user\" or a user name",
                    );
                    RunAs::System
                }
                n => RunAs::User(n.to_string()),
            },
            RunAsValue::WithPassword(u) => {
                let user = u.user.as_deref().map(str::trim).filter(|u| !u.is_empty());
                let group = u.group.as_deref().map(str::trim).filter(|g| !g.is_empty());
                let secret = u
                    .password
                    .as_ref()
                    .map(|p| p.secret.trim())
                    .filter(|s| !s.is_empty());
                let logon = u.logon.as_deref().map(str::trim);
                match (user, group, secret, logon) {
                    (Some(user), None, Some(secret), None | Some("password")) => RunAs::Password {
                        user: user.to_string(),
                        secret: secret.to_string(),
                    },
                    (Some(user), None, None, Some("interactive")) => {
                        RunAs::Interactive(user.to_string())
                    }
                    (Some(user), None, None, Some("s4u")) => RunAs::User(user.to_string()),
                    (None, Some(group), None, None) => RunAs::Group(group.to_string()),
                    _ => {
                        c.report(
                            file,
                            &v.span,
                            t,
                            "run_as as a table is { user = \"...\", password = { secret = \"...\" } }, { user = \"...\", logon = \"interactive\" or \"s4u\" }, or { group = \"...\" }",
                        );
                        RunAs::System
                    }
                }
            }
        },
    };
    let mut triggers = Vec::new();
    for fragment in raw.triggers.iter().flatten() {
        match crate::tasksched::trigger_fragment(&fragment.value) {
            Ok(compact) => triggers.push(compact),
            Err(e) => c.report(file, &fragment.span, t, format!("invalid trigger: {e}")),
        }
    }
    // Typed triggers: beside a schedule or raw triggers, as trigger elements.
    if raw.at_startup == Some(true) {
        triggers.push(crate::tasksched::boot_trigger());
    }
    match raw.at_logon.as_ref().map(|a| &a.value) {
        Some(crate::config::raw::AtLogon::Any(true)) => {
            triggers.push(crate::tasksched::logon_trigger(None));
        }
        Some(crate::config::raw::AtLogon::User { user }) if user.trim().is_empty() => {
            let span = raw.at_logon.as_ref().map(|a| &a.span);
            c.report(
                file,
                span.unwrap_or(&item.key_span),
                t,
                "at_logon = { user = ... } needs an account; for any user write at_logon = true",
            );
        }
        Some(crate::config::raw::AtLogon::User { user }) => {
            triggers.push(crate::tasksched::logon_trigger(Some(user.trim())));
        }
        _ => {}
    }
    if let Some(event) = &raw.on_event {
        let e = &event.value;
        let quoted = [Some(e.log.as_str()), e.source.as_deref()]
            .into_iter()
            .flatten()
            .any(|v| v.contains(['\'', '"', '<', '>', '&']));
        if e.log.trim().is_empty() || quoted {
            c.report(
                file,
                &event.span,
                t,
                "on_event needs a log name (\"System\", \"Application\"), and the log and source may not hold quotes, <, > or &",
            );
        } else {
            triggers.push(crate::tasksched::event_trigger(
                e.log.trim(),
                e.source.as_deref().map(str::trim),
                e.id,
            ));
        }
    }
    if raw.on_idle == Some(true) {
        triggers.push(crate::tasksched::idle_trigger());
    }
    if let (Some(s), Some(_)) = (&raw.schedule, &raw.triggers) {
        c.report(
            file,
            &s.span,
            t,
            "schedule and triggers exclude each other; keep one",
        );
    }
    let retry_max_delay = c.opt_duration(
        file,
        t,
        "retry_max_delay",
        raw.retry_max_delay.as_ref(),
        None,
    );

    let mut env = defaults.env.clone();
    if let Some(task_env) = &raw.env {
        env.extend(c.env(file, t, task_env));
    }

    let mut hosts = Vec::new();
    for h in raw.hosts.iter().flatten() {
        if h.value.trim().is_empty() || h.value.chars().any(char::is_whitespace) {
            c.report(
                file,
                &h.span,
                t,
                format!("\"{}\" is not a host name", h.value),
            );
        }
        hosts.push(h.value.clone());
    }

    let notify_groups = match &raw.notify {
        Some(groups) => check_groups(c, file, t, groups, notify),
        None => defaults.notify.clone(),
    };

    let mut dependencies = Vec::new();
    for dep in raw.dependencies.iter().flatten() {
        match parse_dependency(&dep.value) {
            Ok(d) => dependencies.push(d),
            Err(e) => c.report(file, &dep.span, t, e.to_string()),
        }
    }

    // An earlier orc name, or the name of a task made outside orc that this one
    // adopts (`orc import` of "My Backup"): any name Task Scheduler allows.
    if let Some(from) = &raw.renamed_from
        && let Err(e) = check_renamed_from(&from.value)
    {
        c.report(file, &from.span, t, format!("invalid renamed_from: {e}"));
    }

    let working_dir = match &raw.working_dir {
        Some(w) => c.dir_in(file, w.as_ref()),
        None => defaults
            .working_dir
            .clone()
            .unwrap_or_else(|| c.base_dir(file)),
    };

    let priority = match &raw.priority {
        None => crate::config::model::NORMAL_PRIORITY,
        Some(p) => match u8::try_from(p.value) {
            Ok(v) if v <= 10 => v,
            _ => {
                c.report(
                    file,
                    &p.span,
                    t,
                    format!(
                        "priority {} is outside Task Scheduler's 0 (highest) to 10 (idle); 4-6 are normal",
                        p.value
                    ),
                );
                crate::config::model::NORMAL_PRIORITY
            }
        },
    };
    let expires = raw.expires.as_ref().and_then(|e| {
        let text = e.value.trim();
        // A bare date is the whole of that day (jiff would read it as its midnight).
        let end = if text.contains('T') {
            text.parse::<jiff::civil::DateTime>().ok()
        } else {
            text.parse::<jiff::civil::Date>()
                .ok()
                .and_then(|day| day.tomorrow().ok())
                .map(|d| d.to_datetime(jiff::civil::Time::midnight()))
        };
        match end {
            None => c.report(
                file,
                &e.span,
                t,
                format!(
                    "expires \"{text}\" is not a date (\"2027-06-30\") or a date and time (\"2027-06-30T18:00\")"
                ),
            ),
            Some(end) if zone.tz().to_timestamp(end).is_ok_and(|at| at <= now) => {
                let d = Diagnostic::warning(format!(
                    "expires \"{text}\" has passed: the task no longer fires on its schedule or triggers (a manual run still works)"
                ))
                .at(&c.sources[file], Some(e.span.clone()))
                .task(name);
                c.diags.push(d);
            }
            Some(_) => {}
        }
        end.map(|end| end.strftime("%Y-%m-%dT%H:%M:%S").to_string())
    });
    let battery = raw.battery.unwrap_or_default();
    let windows = crate::config::model::WindowsSettings {
        priority,
        wake_to_run: raw.wake_to_run.unwrap_or(false),
        run_only_if_network: raw.run_only_if_network.unwrap_or(false),
        start_on_battery: battery.start.unwrap_or(true),
        stop_on_battery: battery.stop.unwrap_or(false),
        hidden: raw.hidden.unwrap_or(false),
    };
    // What has no span of its own is reported at the task.
    let unspanned = [
        ("description", raw.description.as_deref()),
        ("working_dir", raw.working_dir.as_deref()),
    ];
    for (key, text) in unspanned {
        if text.is_some_and(|s| s.contains('\0')) {
            c.report(file, &item.key_span, t, format!("{key} {NUL}"));
        }
    }
    if let Some(shell) = &raw.shell
        && shell.value.contains('\0')
    {
        c.report(file, &shell.span, t, format!("shell {NUL}"));
    }
    for (key, value) in raw.env.iter().flatten() {
        let plain = match &value.value {
            EnvValue::Plain(v) => v.as_str(),
            EnvValue::Secret { secret } => secret.as_str(),
        };
        if key.value.contains('\0') || plain.contains('\0') {
            c.report(file, &value.span, t, format!("env {NUL}"));
        }
    }
    if let Some(v) = &raw.run_as {
        let names = match &v.value {
            RunAsValue::Name(n) => vec![n.as_str()],
            RunAsValue::WithPassword(u) => [&u.user, &u.group]
                .into_iter()
                .flatten()
                .map(String::as_str)
                .collect(),
        };
        if names
            .iter()
            .any(|n| n.contains('\0') || n.contains(['\n', '\r']))
        {
            c.report(
                file,
                &v.span,
                t,
                "run_as holds a NUL or line break, which no account name has",
            );
        }
    }
    if c.diags.errors().count() > errors_before {
        return None;
    }
    let (line, column) = c.sources[file].line_col(item.key_span.start);
    Some(Task {
        name: name.to_string(),
        kind: raw.kind.unwrap_or_default(),
        description: raw.description.clone(),
        action: action?,
        then,
        working_dir,
        schedule,
        timeout,
        retry_count,
        retry_delay,
        dependencies,
        wait,
        poll,
        max_age,
        catch_up,
        jitter,
        run_as,
        run_level: raw.run_level.unwrap_or_default(),
        triggers,
        windows,
        expires,
        retry_backoff: raw.retry_backoff.unwrap_or_default(),
        retry_max_delay,
        overlap: raw.overlap.unwrap_or_default(),
        enabled: raw.enabled.unwrap_or(true),
        env,
        hosts,
        notify: notify_groups,
        timezone: zone.clone(),
        log_dir: defaults.log_dir.clone(),
        max_log_size: defaults.max_log_size,
        renamed_from: raw.renamed_from.as_ref().map(|r| r.value.clone()),
        origin: Origin {
            file: c.sources[file].path.clone(),
            line,
            column,
        },
    })
}

/// Every `[tasks.NAME]`, checked on every core: each task stands alone, and large
/// fleets have thousands of them. The raw tables are consumed: each is freed once its
/// task is built, so the two never all live at once.
pub(super) fn build_all(
    c: &mut Checker,
    raw: BTreeMap<String, Box<Item<RawTask>>>,
    defaults: &TaskDefaults,
    notify: &BTreeMap<String, NotifyGroup>,
    zone: &Zone,
    now: Timestamp,
) -> BTreeMap<String, Task> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    let chunk = raw.len().div_ceil(workers).max(256);
    let mut parts: Vec<Vec<(String, Box<Item<RawTask>>)>> = Vec::new();
    for (name, item) in raw {
        match parts.last_mut() {
            Some(part) if part.len() < chunk => part.push((name, item)),
            _ => parts.push(vec![(name, item)]),
        }
    }
    let sources = c.sources;
    let results: Vec<(Vec<Task>, Diagnostics)> = std::thread::scope(|scope| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|part| {
                scope.spawn(move || {
                    let mut diags = Diagnostics::default();
                    let mut c = Checker {
                        sources,
                        diags: &mut diags,
                    };
                    let built = part
                        .into_iter()
                        .filter_map(|(name, item)| {
                            build_task(&mut c, &name, &item, defaults, notify, zone, now)
                        })
                        .collect();
                    (built, diags)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    let mut built = Vec::with_capacity(results.iter().map(|(b, _)| b.len()).sum());
    for (tasks, diags) in results {
        c.diags.0.extend(diags.0);
        built.extend(tasks.into_iter().map(|t| (t.name.clone(), t)));
    }
    // Collected at once, the map is built from the sorted run with full nodes;
    // inserted one by one, a third of each node would stay empty.
    BTreeMap::from_iter(built)
}
