//! The dashboard: server-rendered pages over the same state and actions as the API.
//!
//! Pages are plain HTML from the server; `app.js` adds the live parts (filters,
//! buttons that call the API, the schedule preview, refresh on `/events`, the log
//! tail). Without scripts every page still reads. Buttons that change something
//! appear only to a logged-in session, and send its CSRF token.

mod fleet;
mod view;

pub use view::url_encode;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Path as UrlPath, Query, State as Shared};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, PreEscaped, html};
use serde::Deserialize;

use super::{ApiError, Server, blocking, events, session, with_state};
use crate::html::Text;
use crate::state::{RunFilter, RunStatus};
use view::{Viewer, badge, page, when};

pub fn routes() -> Router<Arc<Server>> {
    Router::new()
        .route("/", get(grid))
        .route("/tasks/{name}", get(task_page))
        .route("/tasks/{name}/edit", get(edit_page))
        .route("/new", get(new_page))
        .route("/runs", get(runs_page))
        .route("/runs/{id}", get(run_page))
        .route("/fleet", get(fleet::fleet_page))
        .route("/plan", get(plan_page))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/events", get(events::events))
        .route("/static/app.css", get(css))
        .route("/static/app.js", get(js))
}

async fn css() -> Response {
    asset("text/css; charset=utf-8", include_str!("app.css"))
}

async fn js() -> Response {
    asset("text/javascript; charset=utf-8", include_str!("app.js"))
}

fn asset(kind: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        body,
    )
        .into_response()
}

/// The viewer of this request: logged in when its session cookie is live.
fn viewer(server: &Server, headers: &HeaderMap) -> Viewer {
    Viewer {
        csrf: session::cookie(headers, session::COOKIE).and_then(|id| server.sessions.csrf(id)),
        fleet: super::read_state(&server.state, |s| Ok(s.fleet_settings()?.is_some()))
            .unwrap_or(false),
    }
}

/// A page, with headers that keep it out of frames and other sites' scripts.
fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "same-origin"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Html(body),
    )
        .into_response()
}

/// An API error shown as a page.
fn error_page(viewer: &Viewer, e: ApiError) -> Response {
    let title = match e.0 {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::SERVICE_UNAVAILABLE if e.1 == super::cache::BUSY => "Busy",
        StatusCode::SERVICE_UNAVAILABLE => "No state yet",
        StatusCode::UNPROCESSABLE_ENTITY => "The config does not load",
        _ => "Something went wrong",
    };
    let mut response = html(
        e.0,
        page(
            title,
            "",
            viewer,
            html! { h1 { (title) } pre class="error" { (e.1) } },
        ),
    );
    if e.0 == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            header::HeaderValue::from_static(super::cache::RETRY_AFTER),
        );
    }
    response
}

#[derive(Debug, Default, Deserialize)]
struct GridQuery {
    q: Option<String>,
    status: Option<String>,
}

/// The grid's status filter: value, label.
const STATUS_FILTERS: [(&str, &str); 7] = [
    ("", "All"),
    ("bad", "Failing"),
    ("running", "Running"),
    ("ok", "OK"),
    ("warn", "Skipped"),
    ("paused", "Paused"),
    ("idle", "Never run"),
];

/// A task's row (as in `GET /api/tasks`) and its last 20 durations, oldest first.
pub type GridRow = (crate::ops::status::TaskStatus, Vec<i64>);

/// `/`: every task, its state in colour and words, and what runs next.
async fn grid(
    Shared(server): Shared<Arc<Server>>,
    headers: HeaderMap,
    Query(filter): Query<GridQuery>,
) -> Response {
    let viewer = viewer(&server, &headers);
    let rows = server
        .grid
        .get(&server, |s| {
            let mut rows = Vec::new();
            for row in crate::ops::status::tasks(s)? {
                let durations = s.recent_durations((&row.folder, &row.name), 20)?;
                rows.push((row, durations));
            }
            Ok(Arc::new(rows))
        })
        .await;
    let rows = match rows {
        Ok(rows) => rows,
        Err(e) if e.0 == StatusCode::SERVICE_UNAVAILABLE => {
            let body = html! {
                h1 { "Tasks" }
                p { "Nothing is applied yet. Write " code { "tasks.toml" } " and run " code { "orc apply" } " (or create a task " a href="/new" { "here" } ")." }
            };
            return html(StatusCode::OK, page("Tasks", "/", &viewer, body));
        }
        Err(e) => return error_page(&viewer, e),
    };
    let query = filter.q.unwrap_or_default();
    let wanted = filter.status.unwrap_or_default();
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    let mut body_rows = Vec::new();
    let folders: std::collections::BTreeSet<&str> =
        rows.iter().map(|(row, _)| row.folder.as_str()).collect();
    for (row, durations) in rows.iter() {
        let name = row.name.as_str();
        // The folder is shown only where configs of more than one folder share the state.
        let folder = (folders.len() > 1).then_some(row.folder.as_str());
        let enabled = row.enabled;
        let (word, class) = view::task_status(enabled, row.last_result.map(|s| s.as_str()));
        *counts.entry(class).or_default() += 1;
        let schedule = row.schedule.as_deref();
        let words = row.schedule_words.as_deref().unwrap_or("on demand only");
        let search = format!(
            "{name} {} {} {words}",
            row.kind.as_str(),
            schedule.unwrap_or_default()
        )
        .to_lowercase();
        let shown = (wanted.is_empty() || wanted == class)
            && (query.is_empty() || search.contains(&query.to_lowercase()));
        let (toggle, label) = if enabled {
            ("disable", "Pause")
        } else {
            ("enable", "Resume")
        };
        body_rows.push(html! {
            tr data-name=(name) data-status=(class) data-search=(search) hidden[!shown] {
                td { (badge(word, class)) }
                td {
                    a href={ "/tasks/" (view::url_encode(name)) } { (name) }
                    div class="muted small" {
                        (row.kind.as_str())
                        @if let Some(f) = folder { " · folder " (f) }
                    }
                }
                td {
                    (words)
                    @if let Some(s) = schedule { div { code { (s) } } }
                }
                td { (row.next_run.as_deref().unwrap_or("–")) }
                td { (when(row.last_run.as_deref())) }
                td class="opt spark" {
                    (view::sparkline(durations)) " " span class="small" { (view::duration(row.last_duration_ms)) }
                }
                td class="actions" {
                    @if viewer.logged_in() {
                        button type="button" data-action="run" data-task=(name) { "Run now" }
                        " "
                        button type="button" data-action=(toggle) data-task=(name) { (label) }
                    }
                }
            }
        });
    }
    let status_counts: Vec<(&str, &str, usize)> = STATUS_FILTERS[1..]
        .iter()
        .filter_map(|(class, label)| counts.get(class).map(|n| (*class, *label, *n)))
        .collect();
    let body = html! {
        h1 { "Tasks" }
        ul id="summary" class="summary" data-live aria-label="Tasks by state" {
            li { (rows.len()) " tasks" }
            @for (class, label, n) in &status_counts {
                li { (badge(label, class)) " " (n) }
            }
        }
        @if !viewer.logged_in() {
            p class="muted" { a href="/login" { "Log in" } " to run, pause or edit tasks." }
        }
        form class="filters" role="search" method="get" action="/" {
            label { "Search " input type="search" id="search" name="q" value=(query) placeholder="name, type or schedule"; }
            label {
                "State "
                select id="status-filter" name="status" {
                    @for (value, label) in STATUS_FILTERS {
                        option value=(value) selected[value == wanted] { (label) }
                    }
                }
            }
            noscript { button type="submit" { "Filter" } }
            span id="task-count" class="muted" aria-live="polite" {}
        }
        (view::table(
            "grid",
            Some("task-rows"),
            &[
                (html! { "State" }, ""),
                (html! { "Task" }, ""),
                (html! { "Schedule" }, ""),
                (html! { "Next run" }, ""),
                (html! { "Last run" }, ""),
                (html! { "Duration" }, "opt"),
                (html! { span class="visually-hidden" { "Actions" } }, ""),
            ],
            &body_rows,
        ))
    };
    html(StatusCode::OK, page("Tasks", "/", &viewer, body))
}

/// A task's buttons: run now, pause or resume, edit, delete.
fn task_actions(
    viewer: &Viewer,
    name: &str,
    enabled: bool,
    pool: Option<&str>,
    params: &serde_json::Map<String, serde_json::Value>,
) -> Markup {
    let u = view::url_encode(name);
    if !viewer.logged_in() {
        return html! {
            p class="muted" { a href={ "/login?next=/tasks/" (u) } { "Log in" } " to run, pause or edit this task." }
        };
    }
    let (toggle, label) = if enabled {
        ("disable", "Pause")
    } else {
        ("enable", "Resume")
    };
    html! {
        div class="actions" id="task-actions" data-live {
            button type="button" data-action="run" data-task=(name) { "Run now" }
            " "
            @if let Some(pool) = pool {
                button type="button" data-action="run-pool" data-task=(name) title={ "Whichever host of the pool " (pool) " takes it first runs it" } {
                    "Run on any host of " (pool)
                }
                " "
            }
            button type="button" data-action=(toggle) data-task=(name) { (label) }
            " "
            a class="button" href={ "/tasks/" (u) "/edit" } { "Edit" }
            " "
            button type="button" class="danger" data-action="delete" data-task=(name) { "Delete" }
        }
        @if !params.is_empty() {
            // Run with parameters: a field each, its default shown; a field left
            // empty keeps the default.
            form class="run-params" id="run-params" {
                fieldset {
                    legend { "Run with parameters" }
                    @for (param, default) in params {
                        label {
                            (param) " "
                            input type="text" name=(param) data-param=(param)
                                placeholder=(default.as_str().unwrap_or_default());
                        }
                        " "
                    }
                    button type="button" data-action="run-params" data-task=(name) { "Run with these" }
                }
            }
        }
    }
}

/// A second badge for a run alerted for its duration (none otherwise).
fn duration_badge(r: &crate::state::RunRecord) -> Markup {
    match r.duration_flag {
        Some(crate::state::DurationFlag::Slow) => html! { " " (badge("slow", "warn")) },
        Some(crate::state::DurationFlag::TooFast) => html! { " " (badge("too fast", "warn")) },
        None => html! {},
    }
}

/// A run history table.
fn runs_table(runs: &[crate::state::RunRecord], with_task: bool) -> Markup {
    if runs.is_empty() {
        return html! { p class="muted" { "No runs yet." } };
    }
    let rows: Vec<Markup> = runs
        .iter()
        .map(|r| {
            let (word, class) = view::run_status(r.status.as_str());
            html! {
                tr {
                    td { a href={ "/runs/" (r.id) } { "#" (r.id) } }
                    @if with_task {
                        td { a href={ "/tasks/" (view::url_encode(&r.task)) } { (r.task) } }
                    }
                    td { (badge(word, class)) (duration_badge(r)) }
                    td { (when(Some(&r.started_at))) }
                    td { (view::duration(r.duration_ms)) }
                    td class="opt" { (r.trigger.map_or("–", |t| t.as_str())) }
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
    let mut headers = vec![(html! { "Run" }, "")];
    if with_task {
        headers.push((html! { "Task" }, ""));
    }
    headers.extend([
        (html! { "State" }, ""),
        (html! { "Started" }, ""),
        (html! { "Duration" }, ""),
        (html! { "Trigger" }, "opt"),
        (html! { "Exit" }, "opt"),
        (html! { "Reason" }, "opt"),
    ]);
    view::table("runs", None, &headers, &rows)
}

/// A log viewer that follows the log while the run is going.
fn log_viewer(run: &crate::state::RunRecord) -> Markup {
    let id = run.id;
    html! {
        section aria-labelledby="log-title" {
            h2 id="log-title" { "Log of run #" (id) }
            p class="muted small" {
                a href={ "/api/runs/" (id) "/log" } { "plain text" }
                " · "
                code { "orc logs " (run.task) " --run " (id) }
            }
            pre id="log" class="log" tabindex="0" data-run=(id)
                data-running=(run.status == crate::state::RunStatus::Running)
                aria-label={ "Log of run " (id) } { "Loading…" }
        }
    }
}

/// `/tasks/NAME`: the definition, the history, a duration chart and the last log.
async fn task_page(
    Shared(server): Shared<Arc<Server>>,
    headers: HeaderMap,
    UrlPath(name): UrlPath<String>,
) -> Response {
    let viewer = viewer(&server, &headers);
    let wanted = name.clone();
    let found = with_state(&server, move |s| {
        let row = super::task_detail(s, &wanted)?;
        let runs = s.runs(&RunFilter {
            task: Some(wanted.clone()),
            limit: 50,
            ..Default::default()
        })?;
        let pool = s.fleet_settings()?.and_then(|f| f.pool);
        let chain = chain_of(&s.tasks()?, &wanted);
        Ok((row, runs, pool, chain))
    })
    .await;
    let (row, runs, pool, chain) = match found {
        Ok(found) => found,
        Err(e) => return error_page(&viewer, e),
    };
    let enabled = row["enabled"].as_bool().unwrap_or(true);
    let (word, class) = view::task_status(enabled, row["last_result"].as_str());
    // The zone its times are in, unless the machine's own.
    let zone = row["definition"]["timezone"]
        .as_str()
        .filter(|z| !matches!(*z, "local" | ""))
        .filter(|_| row["schedule_words"].is_string())
        .map(|z| format!(" ({z})"))
        .unwrap_or_default();
    let facts = [
        (
            "Schedule",
            row["schedule_words"]
                .as_str()
                .unwrap_or("on demand only")
                .to_string()
                + &zone,
        ),
        ("Next run", view::value_text(&row["next_run"])),
    ];
    let days = day_facts(&row["definition"]);
    let definition: Vec<(&String, String)> = row["definition"]
        .as_object()
        .map(|fields| {
            fields
                .iter()
                .filter(|(k, _)| k.as_str() != "name")
                .map(|(k, v)| (k, view::value_text(v)))
                .collect()
        })
        .unwrap_or_default();
    let chart: Vec<(i64, i64, &str)> = runs
        .iter()
        .rev()
        // Skipped runs did not run: they have no duration of the task's to chart.
        .filter(|r| {
            matches!(
                r.status,
                RunStatus::Success
                    | RunStatus::Warning
                    | RunStatus::Failed
                    | RunStatus::Timeout
                    | RunStatus::Interrupted
                    | RunStatus::Oom
            )
        })
        .filter_map(|r| r.duration_ms.map(|d| (r.id, d, r.status.as_str())))
        .collect();
    let u = view::url_encode(&name);
    let body = html! {
        h1 { (name) " " span id="task-state" data-live { (badge(word, class)) } }
        (task_actions(
            &viewer,
            &name,
            enabled,
            pool.as_deref(),
            row["definition"]["params"].as_object().unwrap_or(&serde_json::Map::new()),
        ))
        dl class="facts" {
            @for (k, v) in &facts { dt { (k) } dd { (v) } }
            @for (k, v) in &days { dt { (k) } dd { (v) } }
            @for (k, tasks) in [("Upstream", &chain.0), ("Downstream", &chain.1)] {
                @if !tasks.is_empty() {
                    dt { (k) }
                    dd {
                        @for (i, (task, why)) in tasks.iter().enumerate() {
                            @if i > 0 { ", " }
                            a href={ "/tasks/" (view::url_encode(task)) } { (task) }
                            " (" (why) ")"
                        }
                    }
                }
            }
        }
        section aria-labelledby="chart-title" {
            h2 id="chart-title" { "Durations" }
            div id="task-chart" data-live { (view::duration_chart(&chart)) }
        }
        section aria-labelledby="history-title" {
            h2 id="history-title" { "History" }
            div id="task-history" data-live { (runs_table(&runs, false)) }
            p { a href={ "/runs?task=" (u) } { "All runs of " (name) } }
        }
        div id="task-log" data-live {
            @if let Some(run) = runs.first() { (log_viewer(run)) }
        }
        section aria-labelledby="definition-title" {
            h2 id="definition-title" { "Definition (as applied)" }
            div class="scroll" {
                table class="definition" {
                    tbody {
                        @for (k, v) in &definition {
                            tr { th scope="row" { (k) } td { code { (v) } } }
                        }
                    }
                }
            }
        }
    };
    html(StatusCode::OK, page(&name, "/", &viewer, body))
}

/// The tasks that start `name` (upstream) and that it starts (downstream), each with
/// the key that says so, from the applied definitions.
type Links = Vec<(String, &'static str)>;

fn chain_of(recorded: &[crate::state::RecordedTask], name: &str) -> (Links, Links) {
    let (mut up, mut down): (Links, Links) = (Vec::new(), Vec::new());
    let tasks: Vec<crate::config::Task> = recorded.iter().filter_map(|r| r.task().ok()).collect();
    for t in &tasks {
        if t.name == name {
            up.extend(t.after.iter().map(|a| (a.clone(), "after")));
            down.extend(t.on_success.iter().map(|d| (d.clone(), "on_success")));
            down.extend(t.on_failure.iter().map(|d| (d.clone(), "on_failure")));
            continue;
        }
        for (list, key) in [(&t.on_success, "on_success"), (&t.on_failure, "on_failure")] {
            if list.iter().any(|d| d == name) {
                up.push((t.name.clone(), key));
            }
        }
        if t.after.iter().any(|a| a == name) {
            down.push((t.name.clone(), "after"));
        }
    }
    for links in [&mut up, &mut down] {
        links.sort();
        links.dedup();
    }
    (up, down)
}

/// The calendars and blackout windows of a task's definition, in words.
fn day_facts(definition: &serde_json::Value) -> Vec<(&'static str, String)> {
    let names = |key: &str| {
        definition[key].as_array().map(|cals| {
            cals.iter()
                .filter_map(|c| c["name"].as_str())
                .collect::<Vec<_>>()
                .join(", ")
        })
    };
    let mut facts = Vec::new();
    if let Some(n) = names("skip_on").filter(|n| !n.is_empty()) {
        facts.push(("Skipped on", n));
    }
    if let Some(n) = names("only_on").filter(|n| !n.is_empty()) {
        facts.push(("Only on", n));
    }
    let defer = definition["blackout_policy"] == "defer";
    for w in definition["blackout"].as_array().into_iter().flatten() {
        facts.push((
            "Blackout",
            format!(
                "{} to {}{}",
                w["from"].as_str().unwrap_or("?"),
                w["to"].as_str().unwrap_or("?"),
                if defer {
                    " (deferred to its end)"
                } else {
                    " (skipped)"
                }
            ),
        ));
    }
    facts
}

#[derive(Debug, Default, Deserialize)]
struct RunsQuery {
    task: Option<String>,
    status: Option<String>,
    cursor: Option<i64>,
}

/// `/runs`: the history of every task, newest first, 50 at a time.
async fn runs_page(
    Shared(server): Shared<Arc<Server>>,
    headers: HeaderMap,
    Query(q): Query<RunsQuery>,
) -> Response {
    let viewer = viewer(&server, &headers);
    let status = match q
        .status
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(super::run_status)
    {
        None => None,
        Some(Ok(status)) => Some(status),
        Some(Err(e)) => return error_page(&viewer, e),
    };
    let filter = RunFilter {
        task: q.task.clone().filter(|t| !t.is_empty()),
        status,
        before: q.cursor,
        limit: 51,
        ..Default::default()
    };
    let found = with_state(&server, move |s| {
        let names: Vec<String> = s.tasks()?.into_iter().map(|t| t.name).collect();
        Ok((names, s.runs(&filter)?))
    })
    .await;
    let (names, mut runs) = match found {
        Ok(found) => found,
        Err(e) => return error_page(&viewer, e),
    };
    let more = runs.len() > 50;
    runs.truncate(50);
    let task = q.task.unwrap_or_default();
    let status = q.status.unwrap_or_default();
    let base = format!(
        "/runs?task={}&status={}",
        view::url_encode(&task),
        view::url_encode(&status)
    );
    let older = runs.last().filter(|_| more).map(|last| last.id);
    let body = html! {
        h1 { "Runs" }
        form class="filters" method="get" action="/runs" {
            (view::filter_select(("Task", "task"), "All tasks", names.iter().map(String::as_str), &task))
            (view::status_select(&status))
            button type="submit" { "Show" }
        }
        // Only the first page follows new runs; older pages stay where they are.
        div id="run-list" data-live[q.cursor.is_none()] { (runs_table(&runs, true)) }
        (view::pages(&base, q.cursor.is_some(), older.map(|id| id.to_string()).as_deref()))
    };
    html(StatusCode::OK, page("Runs", "/runs", &viewer, body))
}

/// `/runs/ID`: one run and its log.
async fn run_page(
    Shared(server): Shared<Arc<Server>>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<i64>,
) -> Response {
    let viewer = viewer(&server, &headers);
    let found = with_state(&server, move |s| {
        s.run(id)?
            .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no run {id}")))
    })
    .await;
    let run = match found {
        Ok(run) => run,
        Err(e) => return error_page(&viewer, e),
    };
    let (word, class) = view::run_status(run.status.as_str());
    let facts: [(&str, Markup); 10] = [
        (
            "Task",
            html! { a href={ "/tasks/" (view::url_encode(&run.task)) } { (run.task) } },
        ),
        (
            "State",
            html! { (badge(word, class)) (duration_badge(&run)) },
        ),
        ("Started", when(Some(&run.started_at))),
        ("Finished", when(run.finished_at.as_deref())),
        ("Duration", html! { (view::duration(run.duration_ms)) }),
        (
            "Exit code",
            html! { (view::value_text(&serde_json::json!(run.exit_code))) },
        ),
        ("Attempts", html! { (run.attempts) }),
        (
            "Trigger",
            html! {
                (run.trigger.map_or("–", |t| t.as_str()))
                @if let Some(up) = run.upstream {
                    ", started by " a href={ "/runs/" (up) } { "run #" (up) }
                }
            },
        ),
        ("Host", html! { (run.host.as_deref().unwrap_or("–")) }),
        ("Reason", html! { (run.reason.as_deref().unwrap_or("–")) }),
    ];
    let body = html! {
        h1 { "Run #" (id) " of " (run.task) }
        dl class="facts" id="run-facts" data-live {
            @for (k, v) in &facts { dt { (k) } dd { (v) } }
        }
        (log_viewer(&run))
    };
    html(
        StatusCode::OK,
        page(&format!("Run #{id}"), "/runs", &viewer, body),
    )
}

/// `/plan`: what apply would change, drift included, and a button to apply it.
async fn plan_page(Shared(server): Shared<Arc<Server>>, headers: HeaderMap) -> Response {
    let viewer = viewer(&server, &headers);
    let plan = match super::kept_plan(&server).await {
        Ok(plan) => plan,
        Err(e) => return error_page(&viewer, e),
    };
    let (text, changes) = (&plan.text, plan.changes);
    let logged_in = viewer.logged_in();
    let body = html! {
        h1 { "Plan" }
        p class="muted" {
            "What " code { "orc apply" } " would do now, from "
            code { (server.config.display()) }
            ", including drift in the live scheduler."
        }
        @if changes && logged_in {
            p { button type="button" data-action="apply" class="primary" { "Apply these changes" } }
        } @else if changes {
            p class="muted" { a href="/login?next=/plan" { "Log in" } " to apply." }
        }
        pre class="plan" id="plan" {
            // Each line keeps its symbol; the class only colours it.
            @for line in text.lines() {
                @let class = match line.trim_start().chars().next() {
                    Some('+') => "add",
                    Some('~') => "change",
                    Some('-') => "remove",
                    Some('!') => "drift",
                    _ => "",
                };
                span class=(class) { (line) } "\n"
            }
        }
        pre id="apply-output" class="log" hidden {}
    };
    html(StatusCode::OK, page("Plan", "/plan", &viewer, body))
}

/// A field of the task form: its TOML key, label, input type and hint.
struct Field {
    key: &'static str,
    label: &'static str,
    hint: &'static str,
}

const FIELDS: [Field; 8] = [
    Field {
        key: "description",
        label: "Description",
        hint: "",
    },
    Field {
        key: "command",
        label: "Command",
        hint: "Run without a shell, split into words like a shell would: <code>python etl.py --full</code>",
    },
    Field {
        key: "shell",
        label: "Shell command line",
        hint: "Instead of a command, when you need pipes or redirection (sh -c, cmd /C).",
    },
    Field {
        key: "schedule",
        label: "Schedule",
        hint: "Cron (<code>0 6 * * 1-5</code>), a macro (<code>@daily</code>) or a shorthand (<code>06:00</code>, <code>MON 08:00</code>). Empty: on demand only.",
    },
    Field {
        key: "timeout",
        label: "Timeout",
        hint: "For example <code>30m</code> or <code>2h</code>.",
    },
    Field {
        key: "retry_count",
        label: "Retries",
        hint: "How often a failed run is tried again.",
    },
    Field {
        key: "dependencies",
        label: "Dependencies",
        hint: "Comma-separated: task names, <code>file:PATH</code>, <code>url:URL</code>, <code>command:LINE</code>.",
    },
    Field {
        key: "notify",
        label: "Notification groups",
        hint: "Comma-separated names of <code>[notify.NAME]</code> groups.",
    },
];

/// A TOML value as the form shows it: lists comma-separated, a command array as
/// a command line.
fn form_text(key: &str, item: &toml_edit::Item) -> String {
    match item.as_value() {
        Some(toml_edit::Value::String(s)) => s.value().clone(),
        Some(toml_edit::Value::Array(a)) => {
            let words: Vec<String> = a
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string())
                })
                .collect();
            if key == "command" {
                shell_words::join(words)
            } else {
                words.join(", ")
            }
        }
        Some(v) => v.to_string().trim().to_string(),
        None => String::new(),
    }
}

/// The task form, for a new task (`name` None) or to edit one.
fn task_form(
    viewer: &Viewer,
    name: Option<&str>,
    values: &std::collections::BTreeMap<String, String>,
    timezone: &str,
) -> Markup {
    let value = |k: &str| values.get(k).map(String::as_str).unwrap_or_default();
    let kind = value("type");
    let enabled = value("enabled") != "false";
    let logged_in = viewer.logged_in();
    html! {
        form id="task-form" class="task-form" data-mode=(if name.is_some() { "edit" } else { "create" })
            data-timezone=(timezone) novalidate {
            @match name {
                Some(n) => input type="hidden" name="name" value=(n) data-initial=(n);,
                None => div class="field" {
                    label for="f-name" { "Name" }
                    input id="f-name" name="name" required maxlength="64" pattern="[A-Za-z0-9][A-Za-z0-9_.\\-]*" autocomplete="off" aria-describedby="h-name";
                    p class="hint" id="h-name" {
                        "Letters, digits, " code { "_" } ", " code { "-" } " and " code { "." } "; it names the scheduled task."
                    }
                },
            }
            div class="field" {
                label for="f-type" { "Type" }
                select id="f-type" name="type" data-initial=(kind) {
                    @for k in ["data_job", "condition", "report", "maintenance"] {
                        option selected[k == kind] { (k) }
                    }
                }
            }
            @for f in &FIELDS {
                @let v = value(f.key);
                div class="field" {
                    label for={ "f-" (f.key) } { (f.label) }
                    @if f.key == "retry_count" {
                        input id={ "f-" (f.key) } name=(f.key) type="number" min="0" inputmode="numeric" value=(v) data-initial=(v) autocomplete="off" aria-describedby={ "h-" (f.key) };
                    } @else {
                        input id={ "f-" (f.key) } name=(f.key) value=(v) data-initial=(v) autocomplete="off" aria-describedby={ "h-" (f.key) };
                    }
                    // Safe unescaped: the hints are fixed literals of FIELDS above, with
                    // their <code> markup, and hold nothing from a user.
                    p class="hint" id={ "h-" (f.key) } { (PreEscaped(f.hint)) }
                    @if f.key == "schedule" {
                        div id="schedule-preview" class="preview" aria-live="polite" {}
                    }
                }
            }
            div class="field check" {
                input type="checkbox" id="f-enabled" name="enabled" checked[enabled] data-initial=(enabled);
                label for="f-enabled" { "Enabled" }
            }
            div id="form-error" class="error" role="alert" tabindex="-1" hidden {}
            @if !logged_in {
                p class="muted" { a href="/login" { "Log in" } " to save." }
            }
            p {
                button type="submit" class="primary" disabled[!logged_in] {
                    (if name.is_some() { "Save and apply" } else { "Create and apply" })
                }
            }
            p class="muted small" {
                "Saving writes the task into its file in tasks.toml (comments kept), checks the config, and applies it."
            }
        }
    }
}

/// `/new`: the form for a new task.
async fn new_page(Shared(server): Shared<Arc<Server>>, headers: HeaderMap) -> Response {
    let viewer = viewer(&server, &headers);
    let config = server.config.clone();
    let timezone = blocking(move || {
        Ok(crate::config::load(&config)
            .map(|l| l.config.settings.timezone)
            .unwrap_or_else(|_| "local".to_string()))
    })
    .await
    .unwrap_or_else(|_| "local".to_string());
    let mut values = std::collections::BTreeMap::new();
    values.insert("type".to_string(), "data_job".to_string());
    let body = html! {
        h1 { "New task" }
        (task_form(&viewer, None, &values, &timezone))
    };
    html(StatusCode::OK, page("New task", "/new", &viewer, body))
}

/// `/tasks/NAME/edit`: the form, filled from the task's table in its file.
async fn edit_page(
    Shared(server): Shared<Arc<Server>>,
    headers: HeaderMap,
    UrlPath(name): UrlPath<String>,
) -> Response {
    let viewer = viewer(&server, &headers);
    let shared = server.clone();
    let wanted = name.clone();
    let found = blocking(move || {
        let loaded = super::load_config(&shared)?;
        let task = loaded
            .tasks
            .get(&wanted)
            .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no task \"{wanted}\"")))?;
        let text = std::fs::read_to_string(&task.origin.file).map_err(ApiError::internal)?;
        let mut doc: toml_edit::DocumentMut = text
            .parse()
            .map_err(|e| super::unprocessable(format!("{}: {e}", task.origin.file.display())))?;
        let table = super::task_table(&mut doc, &wanted)?;
        let values: std::collections::BTreeMap<String, String> = table
            .iter()
            .map(|(k, item)| (k.to_string(), form_text(k, item)))
            .collect();
        Ok((values, loaded.settings.timezone.clone()))
    })
    .await;
    let (mut values, timezone) = match found {
        Ok(found) => found,
        Err(e) => return error_page(&viewer, e),
    };
    values
        .entry("type".to_string())
        .or_insert_with(|| "data_job".to_string());
    let body = html! {
        h1 { "Edit " (name) }
        p class="muted" { "Fields left out here (env, hosts, retries' delay and others) stay as they are in the file." }
        (task_form(&viewer, Some(&name), &values, &timezone))
    };
    html(
        StatusCode::OK,
        page(&format!("Edit {name}"), "/", &viewer, body),
    )
}

#[derive(Debug, Default, Deserialize)]
struct LoginQuery {
    next: Option<String>,
}

/// Only a path on this server: never another site (an open redirect). Browsers
/// drop tabs and line breaks from a `Location` and read `\` as `/`, so `/<tab>/x`
/// or `/\x` would become `//x`, another host: only plain path characters pass.
fn local_path(next: Option<&str>) -> String {
    match next {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && p.chars().all(|c| c.is_ascii_graphic() && c != '\\') =>
        {
            p.to_string()
        }
        _ => "/".to_string(),
    }
}

fn login_form(next: &str, error: Option<&str>) -> Markup {
    html! {
        h1 { "Log in" }
        @if let Some(e) = error {
            // Text: the message reads as it always has, its apostrophe as `&#39;`.
            p class="error" role="alert" id="login-error" { (Text(e)) }
        }
        form method="post" action="/login" class="login" {
            input type="hidden" name="next" value=(next);
            div class="field" {
                label for="token" { "Token" }
                input type="password" id="token" name="token" required autocomplete="current-password" aria-describedby="token-hint";
                p class="hint" id="token-hint" { "On the server, " code { "orc serve --print-token" } " shows it." }
            }
            p { button type="submit" class="primary" { "Log in" } }
        }
    }
}

async fn login_page(
    Shared(server): Shared<Arc<Server>>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    let viewer = viewer(&server, &headers);
    let next = local_path(q.next.as_deref());
    html(
        StatusCode::OK,
        page("Log in", "", &viewer, login_form(&next, None)),
    )
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    token: String,
    next: Option<String>,
}

/// The token in exchange for a session cookie.
async fn login(Shared(server): Shared<Arc<Server>>, Form(form): Form<LoginForm>) -> Response {
    let next = local_path(form.next.as_deref());
    if !session::same_secret(form.token.trim(), &server.token) {
        let viewer = Viewer {
            csrf: None,
            fleet: false,
        };
        return html(
            StatusCode::UNAUTHORIZED,
            page(
                "Log in",
                "",
                &viewer,
                login_form(&next, Some("That is not the server's token.")),
            ),
        );
    }
    let (id, _) = server.sessions.create();
    (
        [(header::SET_COOKIE, session::set_cookie(&id))],
        Redirect::to(&next),
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
struct LogoutForm {
    csrf: String,
}

async fn logout(
    Shared(server): Shared<Arc<Server>>,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Response {
    if let Some(id) = session::cookie(&headers, session::COOKIE) {
        match server.sessions.csrf(id) {
            Some(_) if super::access::same_origin(&headers).is_err() => {
                return (StatusCode::FORBIDDEN, "not from a page of this server").into_response();
            }
            Some(csrf) if session::same_secret(&form.csrf, &csrf) => server.sessions.remove(id),
            Some(_) => return (StatusCode::FORBIDDEN, "wrong CSRF token").into_response(),
            None => {}
        }
    }
    (
        [(header::SET_COOKIE, session::clear_cookie())],
        Redirect::to("/"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_stay_on_this_server() {
        assert_eq!(local_path(Some("/plan")), "/plan");
        assert_eq!(local_path(Some("//evil.example/")), "/");
        assert_eq!(local_path(Some("https://evil.example/")), "/");
        assert_eq!(local_path(Some("/\\evil.example")), "/");
        assert_eq!(local_path(Some("/\t/evil.example")), "/");
        assert_eq!(local_path(Some("/\n/evil.example")), "/");
        assert_eq!(local_path(Some("/ /evil.example")), "/");
        assert_eq!(
            local_path(Some("/runs?task=a&status=failed")),
            "/runs?task=a&status=failed"
        );
        assert_eq!(local_path(None), "/");
    }

    #[test]
    fn form_text_of_toml_values() {
        let doc: toml_edit::DocumentMut =
            "command = [\"python\", \"a b.py\"]\ndependencies = [\"x\", \"y\"]\nretry_count = 2\n"
                .parse()
                .unwrap();
        assert_eq!(form_text("command", &doc["command"]), "python 'a b.py'");
        assert_eq!(form_text("dependencies", &doc["dependencies"]), "x, y");
        assert_eq!(form_text("retry_count", &doc["retry_count"]), "2");
    }
}
