//! The dashboard: server-rendered pages over the same state and actions as the API.
//!
//! Pages are plain HTML from the server; `app.js` adds the live parts (filters,
//! buttons that call the API, the schedule preview, refresh on `/events`, the log
//! tail). Without scripts every page still reads. Buttons that change something
//! appear only to a logged-in session, and send its CSRF token.

mod view;

pub use view::url_encode;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Path as UrlPath, Query, State as Shared};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::{ApiError, Server, blocking, events, session, with_state};
use crate::state::RunFilter;
use view::{Viewer, badge, esc, page, when};

pub fn routes() -> Router<Arc<Server>> {
    Router::new()
        .route("/", get(grid))
        .route("/tasks/{name}", get(task_page))
        .route("/tasks/{name}/edit", get(edit_page))
        .route("/new", get(new_page))
        .route("/runs", get(runs_page))
        .route("/runs/{id}", get(run_page))
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
            &format!("<h1>{title}</h1><pre class=\"error\">{}</pre>", esc(&e.1)),
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
            let body = "<h1>Tasks</h1><p>Nothing is applied yet. Write <code>tasks.toml</code> and run <code>orc apply</code> (or create a task <a href=\"/new\">here</a>).</p>";
            return html(StatusCode::OK, page("Tasks", "/", &viewer, body));
        }
        Err(e) => return error_page(&viewer, e),
    };
    let query = filter.q.unwrap_or_default();
    let wanted = filter.status.unwrap_or_default();
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    let mut body_rows = Vec::new();
    // The folder is shown only where configs of more than one folder share the state.
    let folders: std::collections::BTreeSet<&str> =
        rows.iter().map(|(row, _)| row.folder.as_str()).collect();
    for (row, durations) in rows.iter() {
        let name = row.name.as_str();
        let folder = match row.folder.as_str() {
            f if folders.len() > 1 => format!(" · folder {}", esc(f)),
            _ => String::new(),
        };
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
        let actions = if viewer.logged_in() {
            let (toggle, label) = if enabled {
                ("disable", "Pause")
            } else {
                ("enable", "Resume")
            };
            format!(
                "<button type=\"button\" data-action=\"run\" data-task=\"{n}\">Run now</button> <button type=\"button\" data-action=\"{toggle}\" data-task=\"{n}\">{label}</button>",
                n = esc(name)
            )
        } else {
            String::new()
        };
        body_rows.push(format!(
            "<tr data-name=\"{n}\" data-status=\"{class}\" data-search=\"{search}\"{hidden}>\
<td>{badge}</td>\
<td><a href=\"/tasks/{u}\">{n}</a><div class=\"muted small\">{kind}{folder}</div></td>\
<td>{words}{source}</td>\
<td>{next}</td>\
<td>{last}</td>\
<td class=\"opt spark\">{spark} <span class=\"small\">{dur}</span></td>\
<td class=\"actions\">{actions}</td></tr>",
            n = esc(name),
            u = view::url_encode(name),
            search = esc(&search),
            hidden = if shown { "" } else { " hidden" },
            badge = badge(word, class),
            kind = esc(row.kind.as_str()),
            words = esc(words),
            source = schedule
                .map(|s| format!("<div><code>{}</code></div>", esc(s)))
                .unwrap_or_default(),
            next = esc(row.next_run.as_deref().unwrap_or("–")),
            last = when(row.last_run.as_deref()),
            spark = view::sparkline(durations),
            dur = view::duration(row.last_duration_ms),
        ));
    }
    let summary: String = STATUS_FILTERS[1..]
        .iter()
        .filter_map(|(class, label)| {
            counts
                .get(class)
                .map(|n| format!("<li>{} {n}</li>", badge(label, class)))
        })
        .collect();
    let options: String = STATUS_FILTERS
        .iter()
        .map(|(value, label)| {
            let selected = if *value == wanted { " selected" } else { "" };
            format!("<option value=\"{value}\"{selected}>{label}</option>")
        })
        .collect();
    let hint = if viewer.logged_in() {
        ""
    } else {
        "<p class=\"muted\"><a href=\"/login\">Log in</a> to run, pause or edit tasks.</p>"
    };
    let body = format!(
        "<h1>Tasks</h1>\
<ul id=\"summary\" class=\"summary\" data-live aria-label=\"Tasks by state\"><li>{total} tasks</li>{summary}</ul>\
{hint}\
<form class=\"filters\" role=\"search\" method=\"get\" action=\"/\">\
<label>Search <input type=\"search\" id=\"search\" name=\"q\" value=\"{q}\" placeholder=\"name, type or schedule\"></label>\
<label>State <select id=\"status-filter\" name=\"status\">{options}</select></label>\
<noscript><button type=\"submit\">Filter</button></noscript>\
<span id=\"task-count\" class=\"muted\" aria-live=\"polite\"></span>\
</form>\
{table}",
        total = rows.len(),
        q = esc(&query),
        table = view::table(
            "grid",
            &[
                ("State", ""),
                ("Task", ""),
                ("Schedule", ""),
                ("Next run", ""),
                ("Last run", ""),
                ("Duration", "opt"),
                ("<span class=\"visually-hidden\">Actions</span>", ""),
            ],
            &body_rows,
        )
        .replacen("<tbody>", "<tbody id=\"task-rows\" data-live>", 1),
    );
    html(StatusCode::OK, page("Tasks", "/", &viewer, &body))
}

/// A task's buttons: run now, pause or resume, edit, delete.
fn task_actions(viewer: &Viewer, name: &str, enabled: bool) -> String {
    if !viewer.logged_in() {
        return format!(
            "<p class=\"muted\"><a href=\"/login?next=/tasks/{}\">Log in</a> to run, pause or edit this task.</p>",
            view::url_encode(name)
        );
    }
    let (toggle, label) = if enabled {
        ("disable", "Pause")
    } else {
        ("enable", "Resume")
    };
    format!(
        "<div class=\"actions\" id=\"task-actions\" data-live><button type=\"button\" data-action=\"run\" data-task=\"{n}\">Run now</button> \
<button type=\"button\" data-action=\"{toggle}\" data-task=\"{n}\">{label}</button> \
<a class=\"button\" href=\"/tasks/{u}/edit\">Edit</a> \
<button type=\"button\" class=\"danger\" data-action=\"delete\" data-task=\"{n}\">Delete</button></div>",
        n = esc(name),
        u = view::url_encode(name),
    )
}

/// A run history table.
fn runs_table(runs: &[crate::state::RunRecord], with_task: bool) -> String {
    let rows: Vec<String> = runs
        .iter()
        .map(|r| {
            let (word, class) = view::run_status(r.status.as_str());
            let task = if with_task {
                format!(
                    "<td><a href=\"/tasks/{}\">{}</a></td>",
                    view::url_encode(&r.task),
                    esc(&r.task)
                )
            } else {
                String::new()
            };
            format!(
                "<tr><td><a href=\"/runs/{id}\">#{id}</a></td>{task}<td>{}</td><td>{}</td><td>{}</td><td class=\"opt\">{}</td><td class=\"opt\">{}</td><td class=\"opt\">{}</td></tr>",
                badge(word, class),
                when(Some(&r.started_at)),
                view::duration(r.duration_ms),
                esc(r.trigger.map_or("–", |t| t.as_str())),
                r.exit_code.map(|c| c.to_string()).unwrap_or_else(|| "–".into()),
                esc(r.reason.as_deref().unwrap_or("")),
                id = r.id,
            )
        })
        .collect();
    let mut headers = vec![("Run", "")];
    if with_task {
        headers.push(("Task", ""));
    }
    headers.extend([
        ("State", ""),
        ("Started", ""),
        ("Duration", ""),
        ("Trigger", "opt"),
        ("Exit", "opt"),
        ("Reason", "opt"),
    ]);
    if runs.is_empty() {
        return "<p class=\"muted\">No runs yet.</p>".to_string();
    }
    view::table("runs", &headers, &rows)
}

/// A log viewer that follows the log while the run is going.
fn log_viewer(run: &crate::state::RunRecord) -> String {
    format!(
        "<section aria-labelledby=\"log-title\"><h2 id=\"log-title\">Log of run #{id}</h2>\
<p class=\"muted small\"><a href=\"/api/runs/{id}/log\">plain text</a> · <code>orc logs {task} --run {id}</code></p>\
<pre id=\"log\" class=\"log\" tabindex=\"0\" data-run=\"{id}\" data-running=\"{running}\" aria-label=\"Log of run {id}\">Loading…</pre></section>",
        id = run.id,
        task = esc(&run.task),
        running = run.status == crate::state::RunStatus::Running,
    )
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
        Ok((row, runs))
    })
    .await;
    let (row, runs) = match found {
        Ok(found) => found,
        Err(e) => return error_page(&viewer, e),
    };
    let enabled = row["enabled"].as_bool().unwrap_or(true);
    let (word, class) = view::task_status(enabled, row["last_result"].as_str());
    let facts: String = [
        (
            "Schedule",
            row["schedule_words"]
                .as_str()
                .unwrap_or("on demand only")
                .to_string(),
        ),
        ("Next run", view::value_text(&row["next_run"])),
    ]
    .iter()
    .map(|(k, v)| format!("<dt>{k}</dt><dd>{}</dd>", esc(v)))
    .collect();
    let definition_rows: String = row["definition"]
        .as_object()
        .map(|fields| {
            fields
                .iter()
                .filter(|(k, _)| k.as_str() != "name")
                .map(|(k, v)| {
                    format!(
                        "<tr><th scope=\"row\">{}</th><td><code>{}</code></td></tr>",
                        esc(k),
                        esc(&view::value_text(v))
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let chart: Vec<(i64, i64, &str)> = runs
        .iter()
        .rev()
        // Skipped runs did not run: they have no duration of the task's to chart.
        .filter(|r| {
            matches!(
                r.status.as_str(),
                "success" | "failed" | "timeout" | "interrupted"
            )
        })
        .filter_map(|r| r.duration_ms.map(|d| (r.id, d, r.status.as_str())))
        .collect();
    let log = runs.first().map(log_viewer).unwrap_or_default();
    let body = format!(
        "<h1>{n} <span id=\"task-state\" data-live>{badge}</span></h1>\
{actions}\
<dl class=\"facts\">{facts}</dl>\
<section aria-labelledby=\"chart-title\"><h2 id=\"chart-title\">Durations</h2><div id=\"task-chart\" data-live>{chart}</div></section>\
<section aria-labelledby=\"history-title\"><h2 id=\"history-title\">History</h2><div id=\"task-history\" data-live>{history}</div>\
<p><a href=\"/runs?task={u}\">All runs of {n}</a></p></section>\
<div id=\"task-log\" data-live>{log}</div>\
<section aria-labelledby=\"definition-title\"><h2 id=\"definition-title\">Definition (as applied)</h2>\
<div class=\"scroll\"><table class=\"definition\"><tbody>{definition_rows}</tbody></table></div></section>",
        n = esc(&name),
        u = view::url_encode(&name),
        badge = badge(word, class),
        actions = task_actions(&viewer, &name, enabled),
        chart = view::duration_chart(&chart),
        history = runs_table(&runs, false),
    );
    html(StatusCode::OK, page(&name, "/", &viewer, &body))
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
    let task_options: String = std::iter::once(String::new())
        .chain(names)
        .map(|n| {
            let selected = if n == task { " selected" } else { "" };
            let label = if n.is_empty() { "All tasks" } else { &n };
            format!(
                "<option value=\"{}\"{selected}>{}</option>",
                esc(&n),
                esc(label)
            )
        })
        .collect();
    let status_options: String = [
        "",
        "success",
        "failed",
        "timeout",
        "running",
        "skipped",
        "missed",
        "interrupted",
    ]
    .iter()
    .map(|s| {
        let selected = if *s == status { " selected" } else { "" };
        let label = if s.is_empty() { "Any state" } else { s };
        format!("<option value=\"{s}\"{selected}>{label}</option>")
    })
    .collect();
    let base = format!(
        "/runs?task={}&status={}",
        view::url_encode(&task),
        view::url_encode(&status)
    );
    let mut pages = Vec::new();
    if q.cursor.is_some() {
        pages.push(format!("<a href=\"{}\">Newest</a>", esc(&base)));
    }
    if let (true, Some(last)) = (more, runs.last()) {
        pages.push(format!(
            "<a href=\"{}&amp;cursor={}\" rel=\"next\">Older runs</a>",
            esc(&base),
            last.id
        ));
    }
    let body = format!(
        "<h1>Runs</h1>\
<form class=\"filters\" method=\"get\" action=\"/runs\">\
<label>Task <select name=\"task\">{task_options}</select></label>\
<label>State <select name=\"status\">{status_options}</select></label>\
<button type=\"submit\">Show</button></form>\
<div id=\"run-list\"{live}>{table}</div><nav class=\"pages\" aria-label=\"Pages\">{pages}</nav>",
        // Only the first page follows new runs; older pages stay where they are.
        live = if q.cursor.is_none() { " data-live" } else { "" },
        table = runs_table(&runs, true),
        pages = pages.join(" "),
    );
    html(StatusCode::OK, page("Runs", "/runs", &viewer, &body))
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
    let facts: String = [
        (
            "Task",
            format!(
                "<a href=\"/tasks/{}\">{}</a>",
                view::url_encode(&run.task),
                esc(&run.task)
            ),
        ),
        ("State", badge(word, class)),
        ("Started", when(Some(&run.started_at))),
        ("Finished", when(run.finished_at.as_deref())),
        ("Duration", view::duration(run.duration_ms)),
        (
            "Exit code",
            view::value_text(&serde_json::json!(run.exit_code)),
        ),
        ("Attempts", run.attempts.to_string()),
        ("Trigger", esc(run.trigger.map_or("–", |t| t.as_str()))),
        ("Host", esc(run.host.as_deref().unwrap_or("–"))),
        ("Reason", esc(run.reason.as_deref().unwrap_or("–"))),
    ]
    .iter()
    .map(|(k, v)| format!("<dt>{k}</dt><dd>{v}</dd>"))
    .collect();
    let body = format!(
        "<h1>Run #{id} of {task}</h1><dl class=\"facts\" id=\"run-facts\" data-live>{facts}</dl>{log}",
        task = esc(&run.task),
        log = log_viewer(&run),
    );
    html(
        StatusCode::OK,
        page(&format!("Run #{id}"), "/runs", &viewer, &body),
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
    // Each line keeps its symbol; the class only colours it.
    let lines: String = text
        .lines()
        .map(|line| {
            let class = match line.trim_start().chars().next() {
                Some('+') => "add",
                Some('~') => "change",
                Some('-') => "remove",
                Some('!') => "drift",
                _ => "",
            };
            format!("<span class=\"{class}\">{}</span>\n", esc(line))
        })
        .collect();
    let apply = match (changes, viewer.logged_in()) {
        (true, true) => {
            "<p><button type=\"button\" data-action=\"apply\" class=\"primary\">Apply these changes</button></p>"
        }
        (true, false) => {
            "<p class=\"muted\"><a href=\"/login?next=/plan\">Log in</a> to apply.</p>"
        }
        (false, _) => "",
    };
    let body = format!(
        "<h1>Plan</h1><p class=\"muted\">What <code>orc apply</code> would do now, from <code>{config}</code>, including drift in the live scheduler.</p>\
{apply}<pre class=\"plan\" id=\"plan\">{lines}</pre><pre id=\"apply-output\" class=\"log\" hidden></pre>",
        config = esc(&server.config.display().to_string()),
    );
    html(StatusCode::OK, page("Plan", "/plan", &viewer, &body))
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
) -> String {
    let value = |k: &str| values.get(k).cloned().unwrap_or_default();
    let name_field = match name {
        Some(n) => format!(
            "<input type=\"hidden\" name=\"name\" value=\"{n}\" data-initial=\"{n}\">",
            n = esc(n)
        ),
        None => "<div class=\"field\"><label for=\"f-name\">Name</label>\
<input id=\"f-name\" name=\"name\" required maxlength=\"64\" pattern=\"[A-Za-z0-9][A-Za-z0-9_.\\-]*\" autocomplete=\"off\" aria-describedby=\"h-name\">\
<p class=\"hint\" id=\"h-name\">Letters, digits, <code>_</code>, <code>-</code> and <code>.</code>; it names the scheduled task.</p></div>"
            .to_string(),
    };
    let kind = value("type");
    let kinds: String = ["data_job", "condition", "report", "maintenance"]
        .iter()
        .map(|k| {
            let selected = if *k == kind { " selected" } else { "" };
            format!("<option{selected}>{k}</option>")
        })
        .collect();
    let fields: String = FIELDS
        .iter()
        .map(|f| {
            let v = value(f.key);
            let extra = match f.key {
                "schedule" => "<div id=\"schedule-preview\" class=\"preview\" aria-live=\"polite\"></div>",
                _ => "",
            };
            let input_type = if f.key == "retry_count" {
                " type=\"number\" min=\"0\" inputmode=\"numeric\""
            } else {
                ""
            };
            format!(
                "<div class=\"field\"><label for=\"f-{k}\">{label}</label>\
<input id=\"f-{k}\" name=\"{k}\"{input_type} value=\"{v}\" data-initial=\"{v}\" autocomplete=\"off\" aria-describedby=\"h-{k}\">\
<p class=\"hint\" id=\"h-{k}\">{hint}</p>{extra}</div>",
                k = f.key,
                label = f.label,
                v = esc(&v),
                hint = f.hint,
            )
        })
        .collect();
    let enabled = value("enabled") != "false";
    let login = if viewer.logged_in() {
        ""
    } else {
        "<p class=\"muted\"><a href=\"/login\">Log in</a> to save.</p>"
    };
    format!(
        "<form id=\"task-form\" class=\"task-form\" data-mode=\"{mode}\" data-timezone=\"{tz}\" novalidate>\
{name_field}\
<div class=\"field\"><label for=\"f-type\">Type</label><select id=\"f-type\" name=\"type\" data-initial=\"{kind_attr}\">{kinds}</select></div>\
{fields}\
<div class=\"field check\"><input type=\"checkbox\" id=\"f-enabled\" name=\"enabled\"{checked} data-initial=\"{enabled}\"><label for=\"f-enabled\">Enabled</label></div>\
<div id=\"form-error\" class=\"error\" role=\"alert\" tabindex=\"-1\" hidden></div>\
{login}<p><button type=\"submit\" class=\"primary\"{disabled}>{submit}</button></p>\
<p class=\"muted small\">Saving writes the task into its file in tasks.toml (comments kept), checks the config, and applies it.</p>\
</form>",
        mode = if name.is_some() { "edit" } else { "create" },
        tz = esc(timezone),
        kind_attr = esc(&kind),
        checked = if enabled { " checked" } else { "" },
        disabled = if viewer.logged_in() { "" } else { " disabled" },
        submit = if name.is_some() {
            "Save and apply"
        } else {
            "Create and apply"
        },
    )
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
    let body = format!(
        "<h1>New task</h1>{}",
        task_form(&viewer, None, &values, &timezone)
    );
    html(StatusCode::OK, page("New task", "/new", &viewer, &body))
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
        let text = std::fs::read_to_string(&task.origin.file).map_err(anyhow::Error::from)?;
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
    let body = format!(
        "<h1>Edit {n}</h1><p class=\"muted\">Fields left out here (env, hosts, retries' delay and others) stay as they are in the file.</p>{}",
        task_form(&viewer, Some(&name), &values, &timezone),
        n = esc(&name),
    );
    html(
        StatusCode::OK,
        page(&format!("Edit {name}"), "/", &viewer, &body),
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

fn login_form(next: &str, error: Option<&str>) -> String {
    let error = error
        .map(|e| {
            format!(
                "<p class=\"error\" role=\"alert\" id=\"login-error\">{}</p>",
                esc(e)
            )
        })
        .unwrap_or_default();
    format!(
        "<h1>Log in</h1>{error}\
<form method=\"post\" action=\"/login\" class=\"login\">\
<input type=\"hidden\" name=\"next\" value=\"{next}\">\
<div class=\"field\"><label for=\"token\">Token</label>\
<input type=\"password\" id=\"token\" name=\"token\" required autocomplete=\"current-password\" aria-describedby=\"token-hint\">\
<p class=\"hint\" id=\"token-hint\">On the server, <code>orc serve --print-token</code> shows it.</p></div>\
<p><button type=\"submit\" class=\"primary\">Log in</button></p></form>",
        next = esc(next),
    )
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
        page("Log in", "", &viewer, &login_form(&next, None)),
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
        let viewer = Viewer { csrf: None };
        return html(
            StatusCode::UNAUTHORIZED,
            page(
                "Log in",
                "",
                &viewer,
                &login_form(&next, Some("That is not the server's token.")),
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
