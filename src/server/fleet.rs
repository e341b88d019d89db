//! Fleet mode in `orc serve`: with `[fleet]` applied, every host's runs and the
//! hosts' register come from the fleet database, `/metrics` adds series by host, and
//! a task of a pool can be run now on whichever host of the pool takes the request.
//! One connection is kept, used one request at a time, and opened again when the
//! server dropped it.

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State as Shared;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, ApiResult, JsonBody, Query, Server, UrlPath, authorised, blocking};
use crate::config::Fleet as FleetSettings;
use crate::fleet::{Fleet, FleetError, FleetRun, RunQuery, RunRequest};

use crate::fleet::LATE_AFTER_SECS;

/// The kept connection to the fleet database, and the fleet's metrics as last
/// computed (counting a million runs takes a few hundred milliseconds: scrapes
/// within [`METRICS_KEPT`] get the same answer).
#[derive(Default)]
pub struct Link {
    db: Mutex<Option<Fleet>>,
    metrics: Mutex<Option<(std::time::Instant, String)>>,
}

/// How long the fleet's series are kept for `/metrics`.
const METRICS_KEPT: std::time::Duration = std::time::Duration::from_secs(10);

/// Run `f` over the fleet database `[fleet]` names (None: no `[fleet]` is applied).
/// A connection the server dropped is opened again and `f` tried once more.
pub fn with_fleet<T>(
    server: &Server,
    f: impl Fn(&mut Fleet, &FleetSettings) -> Result<T, FleetError>,
) -> ApiResult<Option<T>> {
    let Some(settings) = super::read_state(&server.state, |s| Ok(s.fleet_settings()?))? else {
        return Ok(None);
    };
    let mut kept = server.fleet.db.lock().unwrap_or_else(|e| e.into_inner());
    for attempt in 0..2 {
        let db = match kept.as_mut() {
            Some(db) => db,
            None => kept.insert(
                crate::ops::fleet::connect(
                    &settings,
                    &server.state,
                    std::time::Duration::from_secs(5),
                )
                .map_err(unavailable)?,
            ),
        };
        match f(db, &settings) {
            Ok(v) => return Ok(Some(v)),
            Err(FleetError::Query(e)) if e.is_closed() && attempt == 0 => *kept = None,
            Err(e) => {
                // A query the server refused leaves the connection as it was.
                if matches!(&e, FleetError::Query(q) if q.is_closed()) {
                    *kept = None;
                }
                return Err(unavailable(e));
            }
        }
    }
    unreachable!("the loop returns on its second turn")
}

/// The fleet database could not answer: 503, saying why.
fn unavailable(e: impl std::fmt::Display) -> ApiError {
    ApiError(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
}

fn no_fleet() -> ApiError {
    ApiError(
        StatusCode::NOT_FOUND,
        "no [fleet] is applied to this state: the fleet's views need fleet mode".to_string(),
    )
}

/// [`with_fleet`] on a blocking thread; a state without `[fleet]` is a 404.
async fn fleet_call<T: Send + 'static>(
    server: &Arc<Server>,
    f: impl Fn(&mut Fleet, &FleetSettings) -> Result<T, FleetError> + Send + 'static,
) -> ApiResult<T> {
    let server = server.clone();
    blocking(move || with_fleet(&server, f)?.ok_or_else(no_fleet)).await
}

/// `GET /api/fleet/hosts`.
pub async fn hosts(Shared(server): Shared<Arc<Server>>) -> ApiResult<Json<Value>> {
    let hosts = fleet_call(&server, |db, _| db.hosts()).await?;
    Ok(Json(json!({ "hosts": hosts })))
}

#[derive(Debug, Deserialize)]
pub struct HostQuery {
    host: Option<String>,
}

/// `GET /api/fleet/tasks`: each host's last run of each task (of one host, with
/// `host`).
pub async fn tasks(
    Shared(server): Shared<Arc<Server>>,
    Query(q): Query<HostQuery>,
) -> ApiResult<Json<Value>> {
    let host = q.host.filter(|h| !h.is_empty());
    let runs = fleet_call(&server, move |db, _| db.latest_runs(host.as_deref())).await?;
    Ok(Json(json!({ "tasks": runs })))
}

#[derive(Debug, Deserialize)]
pub struct FleetRunsQuery {
    pub host: Option<String>,
    pub task: Option<String>,
    pub folder: Option<String>,
    pub status: Option<String>,
    pub since: Option<String>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

/// A page of the fleet's runs and where the next starts.
pub fn runs_page(
    server: &Server,
    q: &FleetRunsQuery,
    limit: usize,
) -> ApiResult<Option<(Vec<FleetRun>, Option<String>)>> {
    if let Some(c) = &q.cursor
        && !crate::fleet::valid_cursor(c)
    {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "cursor: not a next_cursor of /api/fleet/runs".to_string(),
        ));
    }
    // An empty value is no filter (the dashboard's form sends "Any" as one).
    let filled = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
    if let Some(s) = filled(&q.status) {
        super::run_status(&s)?;
    }
    let since = filled(&q.since)
        .as_deref()
        .map(super::since_time)
        .transpose()?;
    let query = RunQuery {
        host: filled(&q.host),
        folder: filled(&q.folder),
        task: filled(&q.task),
        status: filled(&q.status),
        since,
        before: q.cursor.clone(),
        // One more than asked tells whether there is a next page.
        limit: limit as i64 + 1,
    };
    let Some(mut runs) = with_fleet(server, |db, _| db.runs(&query))? else {
        return Ok(None);
    };
    let more = runs.len() > limit;
    runs.truncate(limit);
    let next = more
        .then(|| runs.last().map(|r| r.cursor.clone()))
        .flatten();
    Ok(Some((runs, next)))
}

/// `GET /api/fleet/runs`: every host's runs, newest first, a page at a time.
pub async fn runs(
    Shared(server): Shared<Arc<Server>>,
    Query(q): Query<FleetRunsQuery>,
) -> ApiResult<Json<Value>> {
    let limit = q.limit.unwrap_or(50).clamp(1, 1000);
    blocking(move || {
        let (runs, next) = runs_page(&server, &q, limit)?.ok_or_else(no_fleet)?;
        Ok(Json(json!({ "runs": runs, "next_cursor": next })))
    })
    .await
}

#[derive(Debug, Deserialize)]
pub struct NewRequest {
    task: String,
    folder: Option<String>,
}

/// `POST /api/fleet/requests`: run a task of a pool now, on whichever host of the
/// pool takes the request first (each host looks every few seconds).
pub async fn request_run(
    Shared(server): Shared<Arc<Server>>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<NewRequest>,
) -> ApiResult<(StatusCode, Json<RunRequest>)> {
    authorised(&server, &headers)?;
    let (task, folder) = (body.task.clone(), body.folder.clone());
    let folder = super::with_state(&server, move |s| {
        match s.find_task(&task, folder.as_deref(), None)? {
            Some(t) => Ok(t.folder),
            None => Err(ApiError(
                StatusCode::NOT_FOUND,
                format!("no task \"{task}\""),
            )),
        }
    })
    .await?;
    let by = format!("dashboard on {}", crate::host::host_name());
    let made = fleet_call(&server, move |db, settings| {
        let Some(pool) = &settings.pool else {
            return Ok(None);
        };
        db.request_run((pool, &folder, &body.task), &by).map(Some)
    })
    .await?;
    match made {
        Some(request) => Ok((StatusCode::ACCEPTED, Json(request))),
        None => Err(ApiError(
            StatusCode::UNPROCESSABLE_ENTITY,
            "[fleet] names no pool: a request goes to the hosts of a pool".to_string(),
        )),
    }
}

/// `GET /api/fleet/requests/{id}`: whether a host took the request, and which.
pub async fn request(
    Shared(server): Shared<Arc<Server>>,
    UrlPath(id): UrlPath<i64>,
) -> ApiResult<Json<RunRequest>> {
    fleet_call(&server, move |db, _| db.run_request(id))
        .await?
        .map(Json)
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no request {id}")))
}

/// The fleet's series for `/metrics`, by host: recorded runs by task and status,
/// last successes, each host's last contact. Empty without `[fleet]`; a database
/// that cannot be reached is said in a comment (the host's own series still go).
pub fn metrics(server: &Server) -> String {
    let mut kept = server
        .fleet
        .metrics
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some((at, text)) = kept.as_ref()
        && at.elapsed() < METRICS_KEPT
    {
        return text.clone();
    }
    let text = fleet_metrics(server);
    *kept = Some((std::time::Instant::now(), text.clone()));
    text
}

fn fleet_metrics(server: &Server) -> String {
    use std::fmt::Write;
    let read = with_fleet(server, |db, _| {
        Ok((db.run_counts()?, db.last_successes()?, db.hosts()?))
    });
    let (counts, successes, hosts) = match read {
        Ok(Some(read)) => read,
        Ok(None) => return String::new(),
        Err(e) => {
            return format!(
                "# the fleet database cannot be read: {}\n",
                e.1.replace('\n', " ")
            );
        }
    };
    let label = super::metrics::label;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP orc_fleet_runs_total Runs the fleet database holds, by host, task and status."
    );
    let _ = writeln!(out, "# TYPE orc_fleet_runs_total counter");
    for (host, task, status, n) in &counts {
        let _ = writeln!(
            out,
            "orc_fleet_runs_total{{host=\"{}\",task=\"{}\",status=\"{}\"}} {n}",
            label(host),
            label(task),
            label(status)
        );
    }
    let _ = writeln!(
        out,
        "# HELP orc_fleet_last_success_timestamp_seconds When each host's tasks last succeeded (Unix time)."
    );
    let _ = writeln!(out, "# TYPE orc_fleet_last_success_timestamp_seconds gauge");
    for (host, task, at) in &successes {
        let _ = writeln!(
            out,
            "orc_fleet_last_success_timestamp_seconds{{host=\"{}\",task=\"{}\"}} {at}",
            label(host),
            label(task)
        );
    }
    let _ = writeln!(
        out,
        "# HELP orc_fleet_host_silent_seconds Seconds since each host's last contact."
    );
    let _ = writeln!(out, "# TYPE orc_fleet_host_silent_seconds gauge");
    for h in &hosts {
        let _ = writeln!(
            out,
            "orc_fleet_host_silent_seconds{{host=\"{}\"}} {}",
            label(&h.host),
            h.silent_secs
        );
    }
    let _ = writeln!(
        out,
        "# HELP orc_fleet_host_up Whether each host made contact in the last {LATE_AFTER_SECS} s."
    );
    let _ = writeln!(out, "# TYPE orc_fleet_host_up gauge");
    for h in &hosts {
        let _ = writeln!(
            out,
            "orc_fleet_host_up{{host=\"{}\"}} {}",
            label(&h.host),
            u8::from(!h.late)
        );
    }
    out
}
