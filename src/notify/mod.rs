//! Alerts: when a run ends, a mail to each of the task's notification groups that
//! asked for what happened (failure, timeout, skipped, retry, success, recovered).
//!
//! The run's result is recorded first; mails are queued in the state and sent after,
//! so a mail server that is away never delays or changes the result. A mail that
//! cannot be sent is retried with backoff by later runs (and `orc notify flush`),
//! and given up after [`MAX_ATTEMPTS`], which `orc status` shows.

pub mod fleet;
pub mod hooks;
pub mod mail;
pub mod missed;

use std::path::Path;
use std::time::Duration;

use maud::{DOCTYPE, html};

use crate::config::{EnvValue, Hook, NotifyEvent, NotifyGroup, NotifySettings, Task};
use crate::exec::{RunReport, Status};
use crate::secrets::SecretReader;
use crate::state::Result;
use crate::state::notifications::Notification;
use crate::state::{Channel, MailEvent, RunStatus, Scope, State};

/// Attempts per mail before it is given up.
pub const MAX_ATTEMPTS: u32 = 5;
/// Lines of the run log an alert carries.
const LOG_LINES: usize = 50;
/// Lines of the run log a chat message or webhook carries (chat cards stay readable),
/// and at most this many characters of them (Teams refuses a card over about 28 kB).
const HOOK_LOG_LINES: usize = 20;
const HOOK_LOG_CHARS: usize = 4000;

/// The pause after failed attempt `n` (1-based).
fn backoff(n: u32) -> Duration {
    match n {
        1 => Duration::from_secs(60),
        2 => Duration::from_secs(5 * 60),
        3 => Duration::from_secs(30 * 60),
        _ => Duration::from_secs(2 * 3600),
    }
}

/// What a finished run means to the notification groups.
pub fn events_of(report: &RunReport, previous: Option<RunStatus>) -> Vec<NotifyEvent> {
    let mut events = Vec::new();
    match report.status {
        Status::Failed | Status::Interrupted | Status::Oom => events.push(NotifyEvent::Failure),
        Status::Timeout => events.push(NotifyEvent::Timeout),
        Status::Skipped => events.push(NotifyEvent::Skipped),
        Status::Success => {
            events.push(NotifyEvent::Success);
            if previous.is_some_and(RunStatus::is_failure) {
                events.push(NotifyEvent::Recovered);
            }
        }
        Status::Warning => {
            events.push(NotifyEvent::Warning);
            if previous.is_some_and(RunStatus::is_failure) {
                events.push(NotifyEvent::Recovered);
            }
        }
        Status::Duplicate => {}
    }
    if report.attempts > 1 {
        events.push(NotifyEvent::Retry);
    }
    events
}

/// The last `n` lines of a run log (already masked by the run).
fn log_tail(path: Option<&Path>, n: usize) -> String {
    let Some(text) = path.and_then(|p| std::fs::read(p).ok()) else {
        return String::new();
    };
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Subject, text and HTML of the alert for `event` of a run.
pub fn compose(
    event: NotifyEvent,
    task: &Task,
    report: &RunReport,
    host: &str,
    duration: Option<Duration>,
) -> (String, String, String) {
    let what = match event {
        NotifyEvent::Failure => "FAILED",
        NotifyEvent::Timeout => "TIMED OUT",
        NotifyEvent::Skipped => "SKIPPED",
        NotifyEvent::Retry => "needed a retry",
        NotifyEvent::Success => "succeeded",
        NotifyEvent::Recovered => "RECOVERED",
        NotifyEvent::Missed => "MISSED",
        NotifyEvent::Slow => "is SLOW",
        NotifyEvent::TooFast => "finished TOO FAST",
        NotifyEvent::Warning => "ended with a WARNING",
    };
    let mut subject = format!("[orc] {} {what} on {host}", task.name);
    let coded = [NotifyEvent::Failure, NotifyEvent::Warning];
    if let Some(code) = report.exit_code.filter(|_| coded.contains(&event)) {
        subject.push_str(&format!(" (exit {code})"));
    }
    let mut facts: Vec<(&str, String)> = vec![
        ("Task", task.name.clone()),
        ("Host", host.to_string()),
        ("Status", report.status.as_str().to_string()),
        ("Run", report.id.to_string()),
        ("Attempts", report.attempts.to_string()),
    ];
    if let Some(code) = report.exit_code {
        facts.push(("Exit code", code.to_string()));
    }
    if let Some(d) = duration {
        facts.push(("Duration", crate::config::format_duration(d)));
    }
    if let Some(reason) = &report.reason {
        facts.push(("Reason", reason.clone()));
    }
    if let Some(d) = &task.description {
        facts.push(("Description", d.clone()));
    }
    let tail = log_tail(report.log_path.as_deref(), LOG_LINES);
    let more = format!("orc logs {} --run {}", task.name, report.id);
    let mut text = format!("{} {what} on {host}.\n\n", task.name);
    for (k, v) in &facts {
        text.push_str(&format!("{k:<12} {v}\n"));
    }
    if !tail.is_empty() {
        text.push_str(&format!("\nLast lines of the log:\n{tail}\n"));
    }
    text.push_str(&format!("\nThe whole log: {more}\n"));

    let colour = match event {
        NotifyEvent::Success | NotifyEvent::Recovered => "#1a7f37",
        NotifyEvent::Retry
        | NotifyEvent::Skipped
        | NotifyEvent::Slow
        | NotifyEvent::TooFast
        | NotifyEvent::Warning => "#9a6700",
        _ => "#cf222e",
    };
    let html = html! {
        (DOCTYPE)
        html {
            body style="font-family:Segoe UI,Arial,sans-serif;font-size:14px" {
                h2 style={ "color:" (colour) ";margin:0 0 12px" } { (task.name) " " (what) }
                table style="border-collapse:collapse" {
                    @for (k, v) in &facts {
                        tr { th align="left" style="padding:2px 12px 2px 0" { (k) } td { (v) } }
                    }
                }
                @if !tail.is_empty() {
                    p { "Last lines of the log:" }
                    pre style="background:#f6f8fa;padding:8px;font-size:12px" { (tail) }
                }
                p { "The whole log: " code { (more) } }
            }
        }
    }
    .into_string();
    (subject, text, html)
}

/// A finished run, as its alerts need it.
pub struct RunAlerts<'a> {
    pub task: &'a Task,
    pub report: &'a RunReport,
    pub host: &'a str,
    pub scope: &'a Scope,
    /// Its start was pinged to the task's Healthchecks checks: they hear its end too.
    pub pinged_start: bool,
}

/// Queue the alerts a finished run calls for, and its Healthchecks pings; nothing is
/// sent here.
pub fn queue_for_run(state: &State, settings: &NotifySettings, run: &RunAlerts) -> Result<usize> {
    let RunAlerts {
        task, report, host, ..
    } = *run;
    if task.notify.is_empty() && task.healthchecks.is_none() {
        return Ok(0);
    }
    let previous = state.previous_outcome(&task.name, report.id)?;
    let record = state.run(report.id)?;
    let duration = record
        .as_ref()
        .and_then(|r| r.duration_ms)
        .map(|ms| Duration::from_millis(ms.max(0) as u64));
    let mut events = events_of(report, previous);
    if record.is_some_and(|r| r.duration_flag == Some(crate::state::DurationFlag::TooFast)) {
        events.push(NotifyEvent::TooFast);
    }
    // Read once, and bounded: a chat card or a ping body has limits of its own.
    let tail = hooks::clip_end(
        &log_tail(report.log_path.as_deref(), HOOK_LOG_LINES),
        HOOK_LOG_CHARS,
    );
    let facts_of = |event: NotifyEvent, subject: &str, text: &str| hooks::Facts {
        event: MailEvent::from(event).as_str().to_string(),
        task: Some(task.name.clone()),
        host: host.to_string(),
        folder: Some(run.scope.folder.clone()),
        status: Some(report.status.as_str().to_string()),
        exit_code: report.exit_code,
        attempts: Some(report.attempts),
        duration_secs: duration.map(|d| d.as_secs_f64()),
        duration: duration.map(crate::config::format_duration),
        reason: report.reason.clone(),
        log_tail: Some(tail.clone()),
        run_id: Some(report.id),
        title: subject.to_string(),
        text: text.to_string(),
        ..hooks::Facts::default()
    };
    let mut queued = 0;
    // The run's main event (failure, timeout, skipped or success) ends its pings.
    if let Some(&first) = events.first().filter(|_| run.pinged_start) {
        let (subject, text, _) = compose(first, task, report, host, duration);
        let facts = facts_of(first, &subject, &text);
        queued += queue_pings(state, settings, run, first, &facts)?;
    }
    for &event in &events {
        for group_name in &task.notify {
            let Some(group) = settings.notify.get(group_name) else {
                continue;
            };
            if !group.on.contains(&event) {
                continue;
            }
            let (subject, text, html) = compose(event, task, report, host, duration);
            let facts = facts_of(event, &subject, &text);
            queued += queue_alert(
                state,
                group_name,
                group,
                &Alert {
                    task: Some(&task.name),
                    run_id: Some(report.id),
                    event: event.into(),
                    subject,
                    text,
                    html,
                    facts,
                    scope: Some(run.scope),
                },
            )?;
        }
    }
    Ok(queued)
}

/// Queue the `slow` alert of run `run_id`, still going after the task's
/// `max_duration` (`limit`), to each group that hears `slow`.
pub fn queue_slow(
    state: &State,
    settings: &NotifySettings,
    task: &Task,
    (run_id, limit): (i64, Duration),
    host: &str,
    scope: &Scope,
) -> Result<usize> {
    let limit_words = crate::config::format_duration(limit);
    let subject = format!("[orc] {} is SLOW on {host}", task.name);
    let reason = format!("still running after {limit_words} (max_duration)");
    let text = format!(
        "{} is still running on {host} after {limit_words} (its max_duration, counted from \
         the run's start: dependency waits and retries included); it goes on running, \
         each attempt within its timeout.\n\nRun {run_id}: `orc logs {} --run {run_id} \
         --follow` shows it.\n",
        task.name, task.name
    );
    let html = html! {
        (DOCTYPE)
        html {
            body style="font-family:Segoe UI,Arial,sans-serif;font-size:14px" {
                h2 style="color:#9a6700;margin:0 0 12px" { (task.name) " is SLOW" }
                p { (text) }
            }
        }
    }
    .into_string();
    let facts = hooks::Facts {
        event: MailEvent::Slow.as_str().to_string(),
        task: Some(task.name.clone()),
        host: host.to_string(),
        folder: Some(scope.folder.clone()),
        status: Some("running".to_string()),
        duration_secs: Some(limit.as_secs_f64()),
        duration: Some(limit_words),
        reason: Some(reason),
        run_id: Some(run_id),
        title: subject.clone(),
        text: text.clone(),
        ..hooks::Facts::default()
    };
    let alert = Alert {
        task: Some(&task.name),
        run_id: Some(run_id),
        event: MailEvent::Slow,
        subject,
        text,
        html,
        facts,
        scope: Some(scope),
    };
    let mut queued = 0;
    for group_name in &task.notify {
        if let Some(group) = settings.notify.get(group_name)
            && group.on.contains(&NotifyEvent::Slow)
        {
            queued += queue_alert(state, group_name, group, &alert)?;
        }
    }
    Ok(queued)
}

/// The Healthchecks checks a task pings: its own, and its groups'.
pub fn healthchecks_of(task: &Task, settings: &NotifySettings) -> Vec<Hook> {
    let mut checks: Vec<Hook> = task
        .healthchecks
        .iter()
        .map(|url| Hook::Healthchecks { url: url.clone() })
        .collect();
    for group in task.notify.iter().filter_map(|g| settings.notify.get(g)) {
        for hook in &group.hooks {
            if matches!(hook, Hook::Healthchecks { .. }) && !checks.contains(hook) {
                checks.push(hook.clone());
            }
        }
    }
    checks
}

/// What a Healthchecks `/start` says.
pub fn start_facts(task: &Task, run_id: i64, host: &str, folder: &str) -> hooks::Facts {
    hooks::Facts {
        event: "start".to_string(),
        task: Some(task.name.clone()),
        host: host.to_string(),
        folder: Some(folder.to_string()),
        status: Some("running".to_string()),
        run_id: Some(run_id),
        title: format!("[orc] {} started on {host}", task.name),
        ..hooks::Facts::default()
    }
}

/// Queue the end of a run for each Healthchecks check of the task (a skipped run is
/// a failure to the check: its work was not done).
fn queue_pings(
    state: &State,
    settings: &NotifySettings,
    run: &RunAlerts,
    event: NotifyEvent,
    facts: &hooks::Facts,
) -> Result<usize> {
    let task = run.task;
    // A ping of an earlier run still waiting for a retry would land after this one
    // and leave the check in that run's state.
    state.drop_waiting(Channel::Healthchecks, &task.name)?;
    let checks = healthchecks_of(task, settings);
    for check in &checks {
        let payload = serde_json::to_string(&hooks::Queued {
            facts: facts.clone(),
            target: Some(check.clone()),
            backend: Some(run.scope.backend.clone()),
            folder: Some(run.scope.folder.clone()),
        })?;
        state.queue_notification(&Notification {
            id: 0,
            task: Some(task.name.clone()),
            run_id: facts.run_id,
            event: event.into(),
            group: String::new(),
            recipients: Vec::new(),
            subject: facts.title.clone(),
            text: facts.text.clone(),
            html: String::new(),
            attempts: 0,
            channel: Channel::Healthchecks,
            payload: Some(payload),
        })?;
    }
    Ok(checks.len())
}

/// One alert for a group, in every form its targets take.
pub struct Alert<'a> {
    pub task: Option<&'a str>,
    pub run_id: Option<i64>,
    pub event: MailEvent,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub facts: hooks::Facts,
    /// The scope whose groups these are (none for a config that does not load).
    pub scope: Option<&'a Scope>,
}

/// Queue `alert` to `group`: a mail when it has addresses, and one delivery per HTTP
/// target. Returns how many were queued.
pub fn queue_alert(
    state: &State,
    group_name: &str,
    group: &NotifyGroup,
    alert: &Alert<'_>,
) -> Result<usize> {
    let row = |channel, recipients, html: &str, payload| Notification {
        id: 0,
        task: alert.task.map(str::to_string),
        run_id: alert.run_id,
        event: alert.event,
        group: group_name.to_string(),
        recipients,
        subject: alert.subject.clone(),
        text: alert.text.clone(),
        html: html.to_string(),
        attempts: 0,
        channel,
        payload,
    };
    let mut queued = 0;
    if !group.email.is_empty() {
        state.queue_notification(&row(Channel::Email, group.email.clone(), &alert.html, None))?;
        queued += 1;
    }
    // Healthchecks hears of every run's start and end (`ping_start`, `queue_pings`),
    // not of the events a group chose.
    let hooks: Vec<&Hook> = group
        .hooks
        .iter()
        .filter(|h| !matches!(h, Hook::Healthchecks { .. }))
        .collect();
    if !hooks.is_empty() {
        let payload = serde_json::to_string(&hooks::Queued {
            facts: alert.facts.clone(),
            target: None,
            backend: alert.scope.map(|s| s.backend.clone()),
            folder: alert.scope.map(|s| s.folder.clone()),
        })?;
        for hook in hooks {
            state.queue_notification(&row(
                channel_of(hook),
                Vec::new(),
                "",
                Some(payload.clone()),
            ))?;
            queued += 1;
        }
    }
    Ok(queued)
}

/// The queue's word for a target.
fn channel_of(hook: &Hook) -> Channel {
    match hook {
        Hook::Webhook { .. } => Channel::Webhook,
        Hook::Teams { .. } => Channel::Teams,
        Hook::Slack { .. } => Channel::Slack,
        Hook::Ntfy { .. } => Channel::Ntfy,
        Hook::Healthchecks { .. } => Channel::Healthchecks,
    }
}

/// Queue a mail about a config that does not load (from `orc watch`) to every group
/// that wants failures: no task ran, but nothing the admin saved was applied either.
pub fn queue_config_error(
    state: &State,
    settings: &NotifySettings,
    config: &Path,
    errors: &str,
    host: &str,
) -> Result<usize> {
    let subject = format!("[orc] {} does not load on {host}", config.display());
    let text = format!(
        "orc watch found errors in {} on {host}; nothing was applied, and the last good\n\
         config stays live until the errors are fixed.\n\n{errors}",
        config.display()
    );
    let html = html! {
        p {
            "orc watch found errors in " code { (config.display()) } " on " (host)
            "; nothing was applied, and the last good config stays live until the errors are fixed."
        }
        pre { (errors) }
    }
    .into_string();
    let facts = hooks::Facts {
        event: MailEvent::ConfigError.as_str().to_string(),
        host: host.to_string(),
        reason: Some(errors.to_string()),
        title: subject.clone(),
        text: text.clone(),
        ..hooks::Facts::default()
    };
    let alert = Alert {
        task: None,
        run_id: None,
        event: MailEvent::ConfigError,
        subject,
        text,
        html,
        facts,
        scope: None,
    };
    let mut queued = 0;
    for (name, group) in &settings.notify {
        if group.on.contains(&NotifyEvent::Failure) {
            queued += queue_alert(state, name, group, &alert)?;
        }
    }
    Ok(queued)
}

/// A secret `[smtp]` names for its login that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("the smtp secret \"{secret}\": {error}")]
pub struct LoginError {
    pub secret: String,
    pub error: crate::secrets::SecretError,
}

/// The login for `[smtp]`, its values resolved (secrets from the vault).
pub fn login(
    settings: &NotifySettings,
    secrets: &SecretReader,
) -> Result<Option<mail::Login>, LoginError> {
    let Some(smtp) = &settings.smtp else {
        return Ok(None);
    };
    let resolve = |v: &EnvValue| -> Result<zeroize::Zeroizing<String>, LoginError> {
        match v {
            EnvValue::Plain(p) => Ok(zeroize::Zeroizing::new(p.clone())),
            EnvValue::Secret { secret } => secrets(secret).map_err(|error| LoginError {
                secret: secret.clone(),
                error,
            }),
        }
    };
    match (&smtp.username, &smtp.password) {
        (Some(u), Some(p)) => Ok(Some(mail::Login {
            username: resolve(u)?.to_string(),
            password: resolve(p)?,
        })),
        _ => Ok(None),
    }
}

/// Send every queued alert that is due (with `now`, every one still waiting, backoff
/// or not); failures are recorded and retried later. Returns (sent, failed).
pub fn deliver(state: &State, secrets: &SecretReader, now: bool) -> Result<(usize, usize)> {
    let due = state.due_notifications(now)?;
    if due.is_empty() {
        return Ok((0, 0));
    }
    let settings = state.notify_settings(None)?;
    let (mails, posts): (Vec<Notification>, Vec<Notification>) =
        due.into_iter().partition(|n| n.channel == Channel::Email);
    let (sent, failed) = deliver_mails(state, secrets, &settings, &mails)?;
    let (posted, failed_posts) = deliver_posts(state, secrets, &settings, &posts)?;
    Ok((sent + posted, failed + failed_posts))
}

/// Record a failed attempt: retried after the backoff, or given up (after the last
/// attempt, or at once when `retry` is false).
fn record_failure(state: &State, n: &Notification, error: &str, retry: bool) -> Result<()> {
    let attempt = n.attempts + 1;
    let retry_at = (retry && attempt < MAX_ATTEMPTS).then(|| {
        jiff::Timestamp::now()
            + jiff::SignedDuration::try_from(backoff(attempt)).unwrap_or_default()
    });
    let what = if n.channel == Channel::Email {
        format!("mail \"{}\"", n.subject)
    } else {
        format!("{} alert \"{}\"", n.channel.as_str(), n.subject)
    };
    match retry_at {
        Some(_) => tracing::warn!("{what} not sent (attempt {attempt} of {MAX_ATTEMPTS}): {error}"),
        None => tracing::warn!("{what} not sent, given up after attempt {attempt}: {error}"),
    }
    state.notification_failed(n.id, error, retry_at)
}

fn deliver_mails(
    state: &State,
    secrets: &SecretReader,
    settings: &NotifySettings,
    due: &[Notification],
) -> Result<(usize, usize)> {
    if due.is_empty() {
        return Ok((0, 0));
    }
    let (mut sent, mut failed) = (0, 0);
    let Some(smtp) = &settings.smtp else {
        for n in due {
            record_failure(state, n, "no [smtp] section has been applied", true)?;
        }
        return Ok((0, due.len()));
    };
    let login = match login(settings, secrets) {
        Ok(login) => login,
        Err(e) => {
            for n in due {
                record_failure(state, n, &e.to_string(), true)?;
            }
            return Ok((0, due.len()));
        }
    };
    for n in due {
        let result = mail::send(
            smtp,
            login.as_ref().map(|l| mail::Login {
                username: l.username.clone(),
                password: l.password.clone(),
            }),
            &mail::Mail {
                to: &n.recipients,
                subject: &n.subject,
                text: &n.text,
                html: &n.html,
            },
        );
        match result {
            Ok(()) => {
                state.notification_sent(n.id)?;
                sent += 1;
            }
            Err(e) => {
                record_failure(state, n, &e, true)?;
                failed += 1;
            }
        }
    }
    Ok((sent, failed))
}

/// Deliver the queued alerts of the HTTP targets, each to the target its group has
/// now (a target removed since is given up, saying so); a Healthchecks ping to the
/// check it was queued with.
fn deliver_posts(
    state: &State,
    secrets: &SecretReader,
    settings: &NotifySettings,
    due: &[Notification],
) -> Result<(usize, usize)> {
    let (mut sent, mut failed) = (0, 0);
    let mut by_scope: std::collections::BTreeMap<Scope, NotifySettings> = Default::default();
    for n in due {
        let queued = n
            .payload
            .as_deref()
            .and_then(|p| serde_json::from_str::<hooks::Queued>(p).ok());
        // The group of the scope the alert was queued for (two folders may each
        // have a group of that name), else the settings applied last.
        let scoped = match queued
            .as_ref()
            .and_then(|q| q.backend.as_ref().zip(q.folder.as_ref()))
        {
            Some((backend, folder)) => {
                let scope = Scope::new(backend, folder);
                if !by_scope.contains_key(&scope) {
                    let settings = state.notify_settings(Some(&scope))?;
                    by_scope.insert(scope.clone(), settings);
                }
                by_scope.get(&scope)
            }
            None => None,
        };
        let groups = scoped.unwrap_or(settings);
        let hook = match queued.as_ref().and_then(|q| q.target.as_ref()) {
            Some(own) => Some(own),
            None => groups
                .notify
                .get(&n.group)
                .and_then(|g| g.hooks.iter().find(|h| channel_of(h) == n.channel)),
        };
        let result = match (hook, &queued) {
            (Some(hook), Some(queued)) => {
                // Links as the dashboard's address is now, not as it was when queued.
                let mut facts = queued.facts.clone();
                facts.link(groups.dashboard_url.as_deref());
                hooks::send(hook, &facts, secrets).map_err(|e| (e.to_string(), e.retry))
            }
            (None, _) => Err((
                format!(
                    "[notify.{}] has no {} target any more",
                    n.group,
                    n.channel.as_str()
                ),
                false,
            )),
            (_, None) => Err((
                "the queued alert holds no readable event".to_string(),
                false,
            )),
        };
        match result {
            Ok(_) => {
                state.notification_sent(n.id)?;
                sent += 1;
            }
            Err((error, retry)) => {
                record_failure(state, n, &error, retry)?;
                failed += 1;
            }
        }
    }
    Ok((sent, failed))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = "<script>alert(1)</script> \"'&";

    #[test]
    fn an_alert_mail_escapes_what_the_task_and_its_run_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("tasks.toml");
        std::fs::write(
            &config,
            "[settings]\nbackend = \"embedded\"\n\n[tasks.nightly]\ndescription = '<script>alert(1)</script> \"&'\ncommand = \"true\"\n",
        )
        .unwrap();
        let loaded = crate::config::load(&config).unwrap();
        let task = &loaded.config.tasks["nightly"];
        let log = dir.path().join("run.log");
        std::fs::write(&log, format!("starting\n{HOSTILE}\n")).unwrap();
        let report = RunReport {
            id: 7,
            task: "nightly".to_string(),
            status: Status::Failed,
            exit_code: Some(3),
            attempts: 1,
            reason: Some(format!("failed: {HOSTILE}")),
            log_path: Some(log),
        };
        let (_, text, html) = compose(
            NotifyEvent::Failure,
            task,
            &report,
            "<b>host</b>",
            Some(Duration::from_secs(5)),
        );
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("<b>host"), "{html}");
        // The reason, the description and the log tail, each escaped.
        assert_eq!(
            html.matches("&lt;script&gt;alert(1)&lt;/script&gt;")
                .count(),
            3,
            "{html}"
        );
        assert!(html.contains("failed: &lt;script&gt;alert(1)&lt;/script&gt; &quot;'&amp;"));
        assert!(html.contains("&lt;b&gt;host&lt;/b&gt;"), "{html}");
        assert!(
            html.contains(
                "<pre style=\"background:#f6f8fa;padding:8px;font-size:12px\">starting\n"
            )
        );
        // The plain-text part carries the text as written.
        assert!(text.contains(HOSTILE), "{text}");
    }

    #[test]
    fn a_config_error_mail_escapes_the_errors() {
        let dir = tempfile::tempdir().unwrap();
        let state = State::open(&dir.path().join("state.db")).unwrap();
        let mut settings = NotifySettings::default();
        settings.notify.insert(
            "ops".to_string(),
            crate::config::NotifyGroup {
                email: vec!["ops@example.com".to_string()],
                on: vec![NotifyEvent::Failure],
                hooks: Vec::new(),
            },
        );
        let queued = queue_config_error(
            &state,
            &settings,
            Path::new("tasks.toml"),
            &format!("tasks.toml:3:1: {HOSTILE}"),
            "srv",
        )
        .unwrap();
        assert_eq!(queued, 1);
        let html = &state.due_notifications(true).unwrap()[0].html;
        assert!(!html.contains("<script>"), "{html}");
        assert!(
            html.contains(
                "<pre>tasks.toml:3:1: &lt;script&gt;alert(1)&lt;/script&gt; &quot;'&amp;</pre>"
            ),
            "{html}"
        );
    }
}
