//! Fleet mode's alerts: a claim whose host died mid-run, an outage of the fleet
//! database as this host sees it (once when it begins, once when it ends), and a
//! host of the pool gone silent (and back).

use maud::{DOCTYPE, html};

use crate::config::NotifyEvent;
use crate::state::{MailEvent, Result, State};

/// Fleet mode: the host that claimed a fire of `recorded`'s task stopped renewing
/// its claim before the run finished (it died, or lost the database, mid-run).
/// Queue a `failure` alert to the task's groups that hear failures; `rerun` says
/// whether this host runs the fire again. How many were queued.
pub fn queue_lost_claim(
    state: &State,
    recorded: &crate::state::RecordedTask,
    (holder, fire): (&str, &str),
    rerun: bool,
    host: &str,
) -> Result<usize> {
    let Ok(task) = recorded.task() else {
        return Ok(0);
    };
    let scope = recorded.scope();
    let settings = state.notify_settings(Some(&scope))?;
    let then = if rerun {
        format!("{host} runs the fire again (on_host_failure = \"rerun\").")
    } else {
        "The fire is not run again (on_host_failure = \"alert\"); `orc run` it by hand if it must."
            .to_string()
    };
    let reason = format!(
        "{holder} claimed the fire at {fire} and stopped renewing its claim before the run finished: it died, or lost the fleet database, mid-run"
    );
    let subject = format!("[orc] {} LOST on {holder}", task.name);
    let text = format!("{}: {reason}.\n\n{then}\n", task.name);
    let mut queued = 0;
    for group_name in &task.notify {
        let Some(group) = settings.notify.get(group_name) else {
            continue;
        };
        if !group.on.contains(&NotifyEvent::Failure) {
            continue;
        }
        let html = html! {
            (DOCTYPE)
            html {
                body style="font-family:Segoe UI,Arial,sans-serif" {
                    h2 style="color:#cf222e" { (task.name) " LOST on " (holder) }
                    p { (reason) "." }
                    p { (then) }
                }
            }
        }
        .into_string();
        let facts = super::hooks::Facts {
            event: MailEvent::Failure.as_str().to_string(),
            task: Some(task.name.clone()),
            host: host.to_string(),
            folder: Some(recorded.folder.clone()),
            status: Some("interrupted".to_string()),
            reason: Some(reason.clone()),
            title: subject.clone(),
            text: text.clone(),
            ..super::hooks::Facts::default()
        };
        queued += super::queue_alert(
            state,
            group_name,
            group,
            &super::Alert {
                task: Some(&task.name),
                run_id: None,
                event: MailEvent::Failure,
                subject: subject.clone(),
                text: text.clone(),
                html,
                facts,
                scope: Some(&scope),
            },
        )?;
    }
    tracing::warn!("task {}: {reason}", task.name);
    Ok(queued)
}

/// The fleet database cannot be reached from `host` (`error`), or (`None`) can be
/// again: tell `groups` (`[fleet] notify`) once. How many were queued.
pub fn queue_outage(
    state: &State,
    groups: &[String],
    host: &str,
    error: Option<&str>,
) -> Result<usize> {
    let (subject, text, event) = match error {
        Some(error) => (
            format!("[orc] the fleet database is unreachable from {host}"),
            format!(
                "{host} cannot reach the fleet database: {error}.\n\nIts runs wait in its outbox and go when the database is back; fires of run_on = \"one\" tasks are skipped or run here as [fleet] on_unavailable says. One mail for this outage: the next says when it ends.\n"
            ),
            MailEvent::Failure,
        ),
        None => (
            format!("[orc] the fleet database answers {host} again"),
            format!("{host} reaches the fleet database again; its outbox is being sent.\n"),
            MailEvent::Recovered,
        ),
    };
    let status = if error.is_some() {
        "unreachable"
    } else {
        "reachable"
    };
    queue_fleet_alert(state, groups, host, (subject, text, event), status, error)
}

/// `host`, seen from `sweeper` (the host holding its pool's sweep lease), has not
/// made contact for over two minutes (it is down, or cut off from the database), or
/// (`back`) made contact again: tell `groups` (`[fleet] notify`). How many were
/// queued.
pub fn queue_silent_host(
    state: &State,
    groups: &[String],
    sweeper: &str,
    host: &crate::fleet::Host,
    back: bool,
) -> Result<usize> {
    let name = &host.host;
    let (subject, text, event, status) = if back {
        (
            format!("[orc] {name} is back in contact with the fleet"),
            format!("{name} made contact with the fleet database again (seen from {sweeper}).\n"),
            MailEvent::Recovered,
            "in contact",
        )
    } else {
        (
            format!("[orc] {name} is silent"),
            format!(
                "{name} has not made contact with the fleet database since {} ({} s, seen from {sweeper}): it is down, its orc is stopped, or it cannot reach the database. Fires of run_on = \"one\" tasks go to the other hosts of its pool. One mail: the next says when it is back.\n",
                host.last_contact, host.silent_secs
            ),
            MailEvent::Failure,
            "silent",
        )
    };
    queue_fleet_alert(state, groups, sweeper, (subject, text, event), status, None)
}

/// Queue a fleet-wide alert (no task of its own) to `groups`.
fn queue_fleet_alert(
    state: &State,
    groups: &[String],
    host: &str,
    (subject, text, event): (String, String, MailEvent),
    status: &str,
    reason: Option<&str>,
) -> Result<usize> {
    let settings = state.notify_settings(None)?;
    let mut queued = 0;
    for group_name in groups {
        let Some(group) = settings.notify.get(group_name) else {
            continue;
        };
        let html = html! {
            (DOCTYPE)
            html { body style="font-family:Segoe UI,Arial,sans-serif" {
                h2 { (subject) }
                p { (text) }
            } }
        }
        .into_string();
        let facts = super::hooks::Facts {
            event: event.as_str().to_string(),
            host: host.to_string(),
            status: Some(status.to_string()),
            reason: reason.map(str::to_string),
            title: subject.clone(),
            text: text.clone(),
            ..super::hooks::Facts::default()
        };
        queued += super::queue_alert(
            state,
            group_name,
            group,
            &super::Alert {
                task: None,
                run_id: None,
                event,
                subject: subject.clone(),
                text: text.clone(),
                html,
                facts,
                scope: None,
            },
        )?;
    }
    Ok(queued)
}
