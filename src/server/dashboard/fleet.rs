//! `/fleet`: with `[fleet]` applied, every host of the fleet (its pool, version, last
//! contact, and whether it is late) and every host's runs, filtered by host, task
//! and state, a page at a time; read from the fleet database.

use std::sync::Arc;

use axum::extract::{Query, State as Shared};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{Markup, html};

use super::view::{self, badge, page, when};
use super::{error_page, viewer};
use crate::fleet::FleetRun;
use crate::fleet::Host;
use crate::server::fleet::{FleetRunsQuery, runs_page, with_fleet};
use crate::server::{ApiError, Server, blocking};

const PAGE: usize = 50;

pub async fn fleet_page(
    Shared(server): Shared<Arc<Server>>,
    headers: HeaderMap,
    Query(q): Query<FleetRunsQuery>,
) -> Response {
    let viewer = viewer(&server, &headers);
    let found = {
        let server = server.clone();
        blocking(move || {
            let Some(hosts) = with_fleet(&server, |db, _| db.hosts())? else {
                return Err(ApiError(
                    StatusCode::NOT_FOUND,
                    "no [fleet] is applied to this state: the fleet's page needs fleet mode (see Fleet mode in README.md)".to_string(),
                ));
            };
            let (runs, next) = runs_page(&server, &q, PAGE)?.unwrap_or_default();
            let host = q.host.clone().filter(|h| !h.is_empty());
            let task = q.task.clone().filter(|t| !t.is_empty());
            let latest: Vec<FleetRun> = with_fleet(&server, |db, _| db.latest_runs(host.as_deref()))?
                .unwrap_or_default()
                .into_iter()
                .filter(|r| task.as_ref().is_none_or(|t| *t == r.task))
                .collect();
            let tasks: Vec<String> = super::super::read_state(&server.state, |s| {
                Ok(s.tasks()?.into_iter().map(|t| t.name).collect())
            })?;
            Ok((hosts, (runs, next, latest), tasks, q))
        })
        .await
    };
    let (hosts, (runs, next, latest), tasks, q) = match found {
        Ok(found) => found,
        Err(e) => return error_page(&viewer, e),
    };
    let chosen = |v: &Option<String>| v.clone().unwrap_or_default();
    let (host, task, status) = (chosen(&q.host), chosen(&q.task), chosen(&q.status));
    let base = format!(
        "/fleet?host={}&task={}&status={}",
        view::url_encode(&host),
        view::url_encode(&task),
        view::url_encode(&status)
    );
    let body = html! {
        h1 { "Fleet" }
        section aria-labelledby="hosts-title" {
            h2 id="hosts-title" { "Hosts" }
            div id="host-list" data-live { (hosts_table(&hosts)) }
        }
        section aria-labelledby="fleet-tasks-title" {
            h2 id="fleet-tasks-title" { "Tasks on every host" }
            p class="muted" { "Each host's last run of each task (of the host and task chosen below)." }
            div id="fleet-tasks" data-live { (latest_table(&latest)) }
        }
        section aria-labelledby="fleet-runs-title" {
            h2 id="fleet-runs-title" { "Runs of every host" }
            form class="filters" method="get" action="/fleet" {
                (view::filter_select(("Host", "host"), "All hosts", hosts.iter().map(|h| h.host.as_str()), &host))
                (view::filter_select(("Task", "task"), "All tasks", tasks.iter().map(String::as_str), &task))
                (view::status_select(&status))
                button type="submit" { "Show" }
            }
            div id="fleet-runs" data-live[q.cursor.is_none()] { (runs_table(&runs)) }
            (view::pages(&base, q.cursor.is_some(), next.as_deref()))
        }
    };
    super::html(StatusCode::OK, page("Fleet", "/fleet", &viewer, body))
}

fn hosts_table(hosts: &[Host]) -> Markup {
    if hosts.is_empty() {
        return html! { p class="muted" { "No host has made contact yet." } };
    }
    let rows: Vec<Markup> = hosts
        .iter()
        .map(|h| {
            let (word, class) = if h.late {
                ("late", "bad")
            } else {
                ("in contact", "ok")
            };
            html! {
                tr data-host=(h.host) {
                    td { (h.host) }
                    td { (h.pool.as_deref().unwrap_or("–")) }
                    td { (badge(word, class)) }
                    td { (when(Some(&h.last_contact))) }
                    td class="opt" { (h.version) }
                }
            }
        })
        .collect();
    view::table(
        "hosts",
        None,
        &[
            (html! { "Host" }, ""),
            (html! { "Pool" }, ""),
            (html! { "Contact" }, ""),
            (html! { "Last contact" }, ""),
            (html! { "Version" }, "opt"),
        ],
        &rows,
    )
}

fn latest_table(runs: &[FleetRun]) -> Markup {
    if runs.is_empty() {
        return html! { p class="muted" { "No host has recorded a run yet." } };
    }
    let rows: Vec<Markup> = runs
        .iter()
        .map(|r| {
            let (word, class) = view::run_status(&r.status);
            html! {
                tr data-host=(r.host) data-task=(r.task) {
                    td { (r.host) }
                    td { (r.task) }
                    td { (badge(word, class)) }
                    td { (when(Some(&r.started_at))) }
                    td { (view::duration(r.duration_ms)) }
                }
            }
        })
        .collect();
    view::table(
        "tasks",
        None,
        &[
            (html! { "Host" }, ""),
            (html! { "Task" }, ""),
            (html! { "Last run" }, ""),
            (html! { "Started" }, ""),
            (html! { "Duration" }, ""),
        ],
        &rows,
    )
}

fn runs_table(runs: &[FleetRun]) -> Markup {
    if runs.is_empty() {
        return html! { p class="muted" { "No runs in the fleet database." } };
    }
    let rows: Vec<Markup> = runs
        .iter()
        .map(|r| {
            let (word, class) = view::run_status(&r.status);
            html! {
                tr data-host=(r.host) {
                    td { (r.host) }
                    td { "#" (r.run_id) }
                    td { (r.task) }
                    td { (badge(word, class)) }
                    td { (when(Some(&r.started_at))) }
                    td { (view::duration(r.duration_ms)) }
                    td class="opt" { (r.trigger.as_deref().unwrap_or("–")) }
                    td class="opt" {
                        @match r.exit_code {
                            Some(c) => (c),
                            None => "–",
                        }
                    }
                    td class="opt" { (r.reason.as_deref().unwrap_or("")) }
                }
            }
        })
        .collect();
    view::table(
        "runs",
        None,
        &[
            (html! { "Host" }, ""),
            (html! { "Run" }, ""),
            (html! { "Task" }, ""),
            (html! { "State" }, ""),
            (html! { "Started" }, ""),
            (html! { "Duration" }, ""),
            (html! { "Trigger" }, "opt"),
            (html! { "Exit" }, "opt"),
            (html! { "Reason" }, "opt"),
        ],
        &rows,
    )
}
