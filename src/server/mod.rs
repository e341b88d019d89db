//! `orc serve`: the REST API and the dashboard over HTTP (axum), on loopback unless
//! told otherwise.
//!
//! Every request is checked first (`access`): its Host must name this server, and
//! every route but the health check, the login page and the static assets needs the
//! server's token (`Authorization: Bearer TOKEN`), created owner-only beside the
//! state on first start, or a dashboard session (cookie plus CSRF token, see
//! `session`); `--public-read` opens the reads. Heavy reads (plans, the task list,
//! the metrics) are kept per state change and computed one at a time (`cache`).
//! Connections that stay idle are closed (`serve`).
//! Each request reads the state on a blocking thread, through a connection kept
//! from earlier requests (`State::with_kept_connection`); `orc run` may write the
//! state meanwhile.

mod access;
mod cache;
mod dashboard;
mod events;
mod fleet;
mod metrics;
mod session;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Request, State as Shared};
use axum::http::{HeaderMap, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::backend::BackendError;
use crate::ops::apply::ApplyError;
use crate::ops::edit::{Edit, EditOpError, EditTarget};
use crate::state::{RunFilter, State, StateError};
use crate::workspace::WorkspaceError;

/// What `orc serve` is asked to serve.
pub struct ServeOptions {
    pub state: PathBuf,
    /// tasks.toml: the API's edits are written there, then applied.
    pub config: PathBuf,
    pub token: String,
    /// The orc executable, for starting runs.
    pub orc: PathBuf,
    /// `--backend`, when the server was told one (`orc up` always runs the embedded
    /// scheduler, whatever settings.backend says): plans and applies use it too.
    pub backend: Option<crate::config::BackendKind>,
    /// `--public-read`: reads need no login.
    pub public_read: bool,
    /// `--allow-host`: more names the server is reached by.
    pub allow_hosts: Vec<String>,
    /// A connection that sends no request for this long is closed.
    pub idle_timeout: std::time::Duration,
}

/// What every handler needs.
pub struct Server {
    pub state: PathBuf,
    pub config: PathBuf,
    pub token: String,
    pub orc: PathBuf,
    pub backend: Option<crate::config::BackendKind>,
    access: access::Access,
    sessions: session::Sessions,
    /// Held while a request reads the config, edits a file and applies it, so two
    /// edits never start from the same original (the second would drop the first's
    /// change) and none reads a file another is writing.
    edits: std::sync::Mutex<()>,
    /// `GET /api/tasks`, as sent.
    task_list: cache::StateCache<axum::body::Bytes>,
    /// The dashboard grid's rows with their recent durations.
    grid: cache::StateCache<Arc<Vec<dashboard::GridRow>>>,
    /// `GET /metrics`, as sent.
    metrics: cache::StateCache<String>,
    /// The plan, as JSON and as text.
    plans: cache::Kept<cache::StateKey, Arc<PlanAnswer>>,
    /// The one permit heavy computations take turns with (`cache::heavy`).
    heavy: Arc<tokio::sync::Semaphore>,
    /// Announces every change to the state (for the dashboard's live refresh).
    changes: tokio::sync::broadcast::Sender<i64>,
    /// Turns true when the server stops, ending the event streams.
    stopping: events::Stopping,
    /// The fleet database, with `[fleet]` applied.
    fleet: fleet::Link,
}

impl Server {
    fn new(
        options: ServeOptions,
        listen: std::net::IpAddr,
        changes: tokio::sync::broadcast::Sender<i64>,
        stopping: events::Stopping,
    ) -> Server {
        Server {
            access: access::Access::new(listen, &options.allow_hosts, options.public_read),
            state: options.state,
            config: options.config,
            token: options.token,
            orc: options.orc,
            backend: options.backend,
            edits: Default::default(),
            sessions: Default::default(),
            task_list: Default::default(),
            grid: Default::default(),
            metrics: Default::default(),
            plans: Default::default(),
            heavy: Arc::new(tokio::sync::Semaphore::new(1)),
            changes,
            stopping,
            fleet: Default::default(),
        }
    }

    /// One config edit at a time (see `edits`).
    fn editing(&self) -> std::sync::MutexGuard<'_, ()> {
        self.edits.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The token file beside the state database.
pub fn token_path(state: &Path) -> PathBuf {
    state.parent().unwrap_or(Path::new(".")).join("serve.token")
}

/// The server's token: read, or created (owner-only) on first use.
pub fn token(state: &Path) -> Result<String, ServeError> {
    let path = token_path(state);
    if let Ok(text) = std::fs::read_to_string(&path) {
        let token = text.trim();
        // An empty token would let an empty Authorization header through.
        if token.len() < 32 {
            return Err(ServeError::DamagedToken(path));
        }
        return Ok(token.to_string());
    }
    let bytes: [u8; 32] = crate::secrets::key::random_bytes();
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let unwritable = |source| ServeError::Token {
        path: path.clone(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(unwritable)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    use std::io::Write;
    options
        .open(&path)
        .and_then(|mut f| f.write_all(format!("{token}\n").as_bytes()))
        .map_err(unwritable)?;
    Ok(token)
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "the token file {} is empty or damaged; delete it and orc serve makes a new one",
        .0.display()
    )]
    DamagedToken(PathBuf),
    #[error("cannot write the token file {}", path.display())]
    Token {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot listen on {addr}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// The runtime, the state watcher or the socket failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// An API error: a status and a JSON body `{"error": "..."}`.
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.0, Json(json!({ "error": self.1 }))).into_response();
        // No state yet, or a heavy read that did not get its turn: both pass.
        if self.0 == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                header::HeaderValue::from_static(cache::RETRY_AFTER),
            );
        }
        response
    }
}

impl ApiError {
    /// A failure that is the server's own (500): an encoding or file error.
    fn internal(e: impl std::fmt::Display) -> Self {
        ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }
}

impl From<StateError> for ApiError {
    fn from(e: StateError) -> Self {
        ApiError(state_status(&e), crate::ops::error_chain(&e))
    }
}

impl From<crate::ops::check::CheckError> for ApiError {
    fn from(e: crate::ops::check::CheckError) -> Self {
        use crate::ops::check::CheckError;
        match e {
            CheckError::Workspace(e) => e.into(),
            CheckError::State(e) => e.into(),
            CheckError::Vault(e) => ApiError(
                StatusCode::INTERNAL_SERVER_ERROR,
                crate::ops::error_chain(&e),
            ),
        }
    }
}

impl From<WorkspaceError> for ApiError {
    fn from(e: WorkspaceError) -> Self {
        let status = match &e {
            WorkspaceError::State(e) => state_status(e),
            e => backend_status(e.backend()),
        };
        ApiError(status, crate::ops::error_chain(&e))
    }
}

/// The status of a backend error, by its kind: another writer is a conflict, a
/// scheduler that cannot be reached is unavailable.
fn backend_status(e: Option<&BackendError>) -> StatusCode {
    match e {
        Some(BackendError::Locked(_)) => StatusCode::CONFLICT,
        Some(BackendError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The status of a state error, by its kind.
fn state_status(e: &StateError) -> StatusCode {
    match e {
        // A name two folders have is the caller's to disambiguate, not a server fault;
        // a lock is another orc's apply, to be retried.
        StateError::Ambiguous(_) | StateError::Locked(_) => StatusCode::CONFLICT,
        e if e.is_busy() => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

type ApiResult<T> = std::result::Result<T, ApiError>;

/// axum's `Path`, `Query` and `Json` extractors, with a request they cannot parse
/// answered as every other API error: the status axum chose, `{"error": "..."}`.
struct UrlPath<T>(T);
struct Query<T>(T);
struct JsonBody<T>(T);

impl<S: Send + Sync, T> FromRequestParts<S> for UrlPath<T>
where
    axum::extract::Path<T>:
        FromRequestParts<S, Rejection = axum::extract::rejection::PathRejection>,
{
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> ApiResult<Self> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| UrlPath(p.0))
            .map_err(|e| ApiError(e.status(), e.body_text()))
    }
}

impl<S: Send + Sync, T> FromRequestParts<S> for Query<T>
where
    axum::extract::Query<T>:
        FromRequestParts<S, Rejection = axum::extract::rejection::QueryRejection>,
{
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> ApiResult<Self> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|e| ApiError(e.status(), e.body_text()))
    }
}

impl<S: Send + Sync, T> FromRequest<S> for JsonBody<T>
where
    Json<T>: FromRequest<S, Rejection = axum::extract::rejection::JsonRejection>,
{
    type Rejection = ApiError;
    async fn from_request(request: Request, state: &S) -> ApiResult<Self> {
        Json::<T>::from_request(request, state)
            .await
            .map(|j| JsonBody(j.0))
            .map_err(|e| ApiError(e.status(), e.body_text()))
    }
}

/// Run `f` on a blocking thread (SQLite, files, child processes).
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
}

/// Run `f` with the state at `path` (on a blocking thread: SQLite).
fn read_state<T>(path: &Path, f: impl FnOnce(&State) -> ApiResult<T>) -> ApiResult<T> {
    if !path.exists() {
        return Err(ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            "no state yet: run `orc apply` first".to_string(),
        ));
    }
    State::with_kept_connection(path, f)?
}

/// Run `f` with the state on a blocking thread.
async fn with_state<T: Send + 'static>(
    server: &Server,
    f: impl FnOnce(&State) -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    let path = server.state.clone();
    blocking(move || read_state(&path, f)).await
}

/// Mutating requests carry the token, or come from a logged-in dashboard page: the
/// session cookie together with that session's CSRF token (a cookie alone is what
/// a forged cross-site request would have, so it is refused with 403), sent from a
/// page of this server (`Origin`, see `access::same_origin`).
fn authorised(server: &Server, headers: &HeaderMap) -> ApiResult<()> {
    access::logged_in(server, headers)?;
    if headers.contains_key(header::AUTHORIZATION) {
        return Ok(());
    }
    let csrf = session::cookie(headers, session::COOKIE)
        .and_then(|id| server.sessions.csrf(id))
        .unwrap_or_default();
    let given = headers
        .get(session::CSRF_HEADER)
        .and_then(|v| v.to_str().ok());
    match given {
        Some(t) if !csrf.is_empty() && session::same_secret(t, &csrf) => {}
        _ => {
            return Err(ApiError(
                StatusCode::FORBIDDEN,
                "missing or wrong X-CSRF-Token for this session".to_string(),
            ));
        }
    }
    access::same_origin(headers)
}

pub fn router(server: Arc<Server>, idle: std::time::Duration) -> Router {
    Router::new()
        .merge(dashboard::routes())
        .route("/api/schedule", get(schedule_preview))
        .route("/api/health", get(health))
        .route("/api/tasks", get(tasks).post(create))
        .route("/api/tasks/{name}", get(task).put(update).delete(delete))
        .route("/api/tasks/{name}/run", post(run_now))
        .route("/api/tasks/{name}/enable", post(enable))
        .route("/api/tasks/{name}/disable", post(disable))
        .route("/api/plan", get(plan))
        .route("/api/apply", post(apply))
        .route("/api/runs", get(runs))
        .route("/api/runs/{id}", get(run))
        .route("/api/runs/{id}/log", get(run_log))
        .route("/api/fleet/hosts", get(fleet::hosts))
        .route("/api/fleet/runs", get(fleet::runs))
        .route("/api/fleet/tasks", get(fleet::tasks))
        .route("/api/fleet/requests", post(fleet::request_run))
        .route("/api/fleet/requests/{id}", get(fleet::request))
        .route("/metrics", get(metrics::metrics))
        .with_state(server.clone())
        .layer(axum::middleware::from_fn_with_state(server, access::guard))
        // A request body that stops arriving is cut off like an idle connection.
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(idle))
}

async fn health(Shared(server): Shared<Arc<Server>>) -> ApiResult<Json<Value>> {
    let path = server.state.clone();
    let tasks = with_state(&server, |s| Ok(s.tasks()?.len())).await.ok();
    Ok(Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "state": path,
        "tasks": tasks,
    })))
}

async fn tasks(Shared(server): Shared<Arc<Server>>) -> ApiResult<Response> {
    let body = server
        .task_list
        .get(&server, |s| {
            Ok(serde_json::to_vec(&crate::ops::status::tasks(s)?)
                .map_err(ApiError::internal)?
                .into())
        })
        .await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

async fn task(
    Shared(server): Shared<Arc<Server>>,
    UrlPath(name): UrlPath<String>,
) -> ApiResult<Json<Value>> {
    with_state(&server, move |s| Ok(Json(task_detail(s, &name)?))).await
}

/// A task's row (as in `GET /api/tasks`) with its applied definition; 404 if the
/// state has no such task.
fn task_detail(s: &State, name: &str) -> ApiResult<Value> {
    let status = crate::ops::status::task(s, name)?
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no task \"{name}\"")))?;
    let mut row = serde_json::to_value(status).map_err(ApiError::internal)?;
    row["definition"] = s
        .task(name)?
        .and_then(|t| serde_json::from_str(&t.definition).ok())
        .unwrap_or_default();
    Ok(row)
}

#[derive(Debug, Deserialize)]
struct RunsQuery {
    task: Option<String>,
    /// Only runs of tasks in this folder.
    folder: Option<String>,
    status: Option<String>,
    /// A duration ("24h") or an RFC 3339 time.
    since: Option<String>,
    limit: Option<usize>,
    cursor: Option<i64>,
}

async fn runs(
    Shared(server): Shared<Arc<Server>>,
    Query(q): Query<RunsQuery>,
) -> ApiResult<Json<Value>> {
    let limit = q.limit.unwrap_or(50).clamp(1, 1000);
    let since = q.since.as_deref().map(since_time).transpose()?;
    with_state(&server, move |s| {
        // One more than asked tells whether there is a next page.
        let mut page = s.runs(&RunFilter {
            task: q.task,
            folder: q.folder,
            status: q.status.as_deref().map(run_status).transpose()?,
            since,
            before: q.cursor,
            limit: limit + 1,
        })?;
        let more = page.len() > limit;
        page.truncate(limit);
        let next = more.then(|| page.last().map(|r| r.id)).flatten();
        Ok(Json(json!({ "runs": page, "next_cursor": next })))
    })
    .await
}

/// A `since` parameter: a duration back from now ("24h") or an RFC 3339 time, as a
/// state timestamp.
fn since_time(text: &str) -> ApiResult<String> {
    Ok(match crate::config::parse_duration(text) {
        // Further back than time goes (since=99999999999d): every run.
        Ok(d) => crate::state::timestamp(
            jiff::SignedDuration::try_from(d)
                .ok()
                .and_then(|d| jiff::Timestamp::now().checked_sub(d).ok())
                .unwrap_or(jiff::Timestamp::MIN),
        ),
        Err(_) => crate::state::timestamp(text.parse::<jiff::Timestamp>().map_err(|_| {
            ApiError(
                StatusCode::BAD_REQUEST,
                format!("since: \"{text}\" is neither a duration (24h) nor an RFC 3339 time"),
            )
        })?),
    })
}

async fn run(
    Shared(server): Shared<Arc<Server>>,
    UrlPath(id): UrlPath<i64>,
) -> ApiResult<Json<Value>> {
    with_state(&server, move |s| {
        s.run(id)?
            .map(|r| Json(json!(r)))
            .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no run {id}")))
    })
    .await
}

#[derive(Debug, Deserialize)]
struct LogQuery {
    /// Only lines from this one on (1-based).
    from: Option<usize>,
    /// Only lines up to this one (inclusive).
    to: Option<usize>,
    /// Only the last N lines (of the range, when one is given).
    tail: Option<usize>,
}

/// A log larger than this is a heavy read.
const BIG_LOG: u64 = 8 << 20;

/// A run's log as text (masked when the run wrote it), whole or a range of lines.
async fn run_log(
    Shared(server): Shared<Arc<Server>>,
    UrlPath(id): UrlPath<i64>,
    Query(q): Query<LogQuery>,
) -> ApiResult<Response> {
    let path = with_state(&server, move |s| {
        s.run(id)?
            .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no run {id}")))?
            .log_path
            .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("run {id} has no log")))
    })
    .await?;
    let unreadable = move |e: std::io::Error| {
        ApiError(StatusCode::NOT_FOUND, format!("the log of run {id}: {e}"))
    };
    let size = std::fs::metadata(&path).map_err(unreadable)?.len();
    // A big log is read (and held) one at a time, as the other heavy reads.
    let bytes = if size > BIG_LOG {
        cache::heavy(&server, move || std::fs::read(&path).map_err(unreadable)).await?
    } else {
        std::fs::read(&path).map_err(unreadable)?
    };
    // A program may print bytes that are not UTF-8; they show as U+FFFD.
    let text = String::from_utf8_lossy(&bytes);
    let text = if q.from.is_none() && q.to.is_none() && q.tail.is_none() {
        text.into_owned()
    } else {
        let lines: Vec<&str> = text.lines().collect();
        let end = q.to.unwrap_or(lines.len()).min(lines.len());
        let start = q.from.unwrap_or(1).saturating_sub(1).min(end);
        let picked = &lines[start..end];
        let picked = &picked[picked.len().saturating_sub(q.tail.unwrap_or(usize::MAX))..];
        picked.iter().map(|l| format!("{l}\n")).collect()
    };
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

/// The body `POST /api/tasks/{name}/run` may have: values for the task's parameters.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunBody {
    #[serde(default)]
    params: std::collections::BTreeMap<String, String>,
}

/// Start a run now, as `orc run NAME --trigger manual [--param ...]` in its own
/// process.
async fn run_now(
    Shared(server): Shared<Arc<Server>>,
    headers: HeaderMap,
    UrlPath(name): UrlPath<String>,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    authorised(&server, &headers)?;
    let body: RunBody = if body.iter().all(u8::is_ascii_whitespace) {
        RunBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError(
                StatusCode::BAD_REQUEST,
                format!("the body is {{\"params\": {{\"NAME\": \"VALUE\"}}}}: {e}"),
            )
        })?
    };
    let task_name = name.clone();
    let task = with_state(&server, move |s| {
        Ok(match s.task(&task_name)? {
            Some(recorded) => Some((recorded.task()?, recorded.folder, recorded.backend)),
            None => None,
        })
    })
    .await?;
    let Some((task, folder, backend)) = task else {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("no task \"{name}\""),
        ));
    };
    if let Some(unknown) = body.params.keys().find(|k| !task.params.contains_key(*k)) {
        return Err(unprocessable(format!(
            "task \"{name}\" has no parameter \"{unknown}\"{}",
            if task.params.is_empty() {
                String::new()
            } else {
                format!(
                    "; its parameters are {}",
                    task.params.keys().cloned().collect::<Vec<_>>().join(", ")
                )
            }
        )));
    }
    if let Some(bad) = body
        .params
        .iter()
        .find_map(|(k, v)| crate::config::params::check_value(k, v).err())
    {
        return Err(unprocessable(bad));
    }
    let mut command = std::process::Command::new(&server.orc);
    // The task found, whatever else shares its name.
    command
        .args(["run", &name, "--trigger", "manual", "--quiet"])
        .args(["--folder", &folder, "--backend", &backend, "--state"])
        .arg(&server.state);
    for (k, v) in &body.params {
        // One argument each, whatever the value holds: no shell reads it.
        command.arg(format!("--param={k}={v}"));
    }
    let child = command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| {
            ApiError(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot start orc run: {e}"),
            )
        })?;
    let pid = child.id();
    // Reap it when it ends, so it leaves no zombie behind.
    std::thread::spawn(move || {
        let mut child = child;
        let _ = child.wait();
    });
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "task": name, "started": true, "pid": pid })),
    ))
}

/// A plan as the API and the dashboard send it, and the config files it was made from.
pub struct PlanAnswer {
    pub json: axum::body::Bytes,
    pub text: String,
    pub changes: bool,
    files: Vec<PathBuf>,
}

/// The plan `orc plan` would show now: pending changes and drift (422 when the
/// config does not load).
fn current_plan(
    config: &Path,
    state: &Path,
    backend: Option<crate::config::BackendKind>,
) -> ApiResult<PlanAnswer> {
    // The same checks as `orc plan`, the backend's included (a task Task Scheduler
    // could not take is a located error here too).
    let checked = crate::ops::check::check(config, Some(state), backend)?;
    let Some(ws) = checked.workspace else {
        return Err(unprocessable(format!(
            "{} does not load:\n{}",
            config.display(),
            crate::config::Diagnostics(checked.diagnostics)
        )));
    };
    let recorded = ws.recorded(ws.existing_state()?.as_ref())?;
    let live = ws.backend()?;
    let plan = ws.plan(&recorded, live.as_ref(), &[], false, false)?;
    Ok(PlanAnswer {
        json: serde_json::to_vec(&crate::plan::plan_json(&plan))
            .map_err(ApiError::internal)?
            .into(),
        text: crate::plan::render_human(&plan, false),
        changes: plan.has_changes(),
        files: ws.config.files.clone(),
    })
}

/// The plan now, kept until the state, the config (its path and every file it was
/// read from) or the minute (drift in the live scheduler) changes; computed one
/// at a time with the other heavy reads.
async fn kept_plan(server: &Server) -> ApiResult<Arc<PlanAnswer>> {
    let files = server
        .plans
        .last()
        .map(|p| p.files.clone())
        .unwrap_or_default();
    let key = (plan_stamps(server, &files), cache::minute());
    let (config, state, backend) = (server.config.clone(), server.state.clone(), server.backend);
    server
        .plans
        .get_rekeyed(
            server,
            Some(key),
            move || current_plan(&config, &state, backend).map(Arc::new),
            |answer, (before, minute)| {
                if answer.files == files {
                    return Some((before, minute));
                }
                // Read from other files than the key knew (the first plan, an
                // include added): kept under their stamps, if the state and the
                // config's own path are as they were before the plan was made.
                let after = plan_stamps(server, &answer.files);
                (after[..3] == before[..3]).then_some((after, minute))
            },
        )
        .await
}

/// The stamps a plan depends on: the state's two files, the config's path, and
/// the config files it was read from.
fn plan_stamps(server: &Server, files: &[PathBuf]) -> Vec<Option<(u64, std::time::SystemTime)>> {
    let state = cache::state_files(&server.state);
    cache::stamps(
        state
            .iter()
            .chain([&server.config])
            .chain(files)
            .map(PathBuf::as_path),
    )
}

/// The plan `orc plan --json` would print: pending changes and drift.
async fn plan(Shared(server): Shared<Arc<Server>>) -> ApiResult<Response> {
    let plan = kept_plan(&server).await?;
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        plan.json.clone(),
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
struct ScheduleQuery {
    expr: String,
    /// "local" (the default) or an IANA zone.
    timezone: Option<String>,
}

/// A schedule in words and its next five fire times, or why it is not one (the
/// dashboard's form previews what is typed).
async fn schedule_preview(Query(q): Query<ScheduleQuery>) -> ApiResult<Json<Value>> {
    let zone_name = q.timezone.unwrap_or_else(|| "local".to_string());
    let zone = crate::schedule::resolve_zone(&zone_name)
        .map_err(|e| unprocessable(format!("timezone: {e}")))?;
    let schedule = crate::schedule::parse(&q.expr)
        .map_err(|e| unprocessable(format!("schedule \"{}\": {e}", q.expr)))?;
    let next: Vec<String> = schedule
        .upcoming(&zone, jiff::Timestamp::now(), 5)
        .iter()
        .map(|t| t.strftime("%a %Y-%m-%d %H:%M %:z").to_string())
        .collect();
    Ok(Json(json!({
        "schedule": q.expr,
        "words": schedule.explain(),
        "timezone": zone_name,
        "next": next,
    })))
}

/// Apply tasks.toml, as `orc apply --auto-approve` does (the same transaction, lock
/// and audit record, in this process).
async fn apply(Shared(server): Shared<Arc<Server>>, headers: HeaderMap) -> ApiResult<Json<Value>> {
    authorised(&server, &headers)?;
    let server = server.clone();
    blocking(move || {
        let o = apply_now(&server)?;
        Ok(Json(json!({ "applied": true, "output": o })))
    })
    .await
}

/// `orc apply --auto-approve` of the served config and state, in this process: the
/// plan applied and the outcome, or why nothing was: 422 for a config that does not
/// load or names secrets the vault lacks, 409 when another apply holds the state
/// (after waiting a while for it) or the scheduler was changed meanwhile, 503 when the
/// scheduler cannot be reached, 500 when it refused or otherwise.
fn apply_now(server: &Server) -> ApiResult<String> {
    use crate::ops::apply::{ApplyOptions, apply_config};
    let options = ApplyOptions {
        lock_timeout: API_LOCK_WAIT,
        ..Default::default()
    };
    let report = apply_config(&server.config, &server.state, server.backend, &options)
        .map_err(|e| ApiError(apply_status(&e), apply_detail(&e)))?;
    Ok(apply_output(&report))
}

/// What an apply printed: the plan, the warnings, the summary.
fn apply_output(report: &crate::ops::apply::ApplyReport) -> String {
    let mut output = crate::plan::render_human(&report.plan, false);
    for warning in &report.warnings {
        output.push_str(&format!("warning: {warning}\n"));
    }
    if report.applied() {
        let s = report.plan.summary();
        output.push_str(&format!(
            "Apply complete! Tasks: {} added, {} changed, {} destroyed.\n",
            s.add, s.change, s.destroy
        ));
    }
    output
}

/// The status of a failed apply, by its kind.
fn apply_status(e: &ApplyError) -> StatusCode {
    match e {
        ApplyError::Locked(_) => StatusCode::CONFLICT,
        ApplyError::Invalid { .. } | ApplyError::MissingSecrets(_) | ApplyError::SavedPlan(_) => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        // Another writer changed the scheduler meanwhile: like a held lock.
        ApplyError::Scheduler { error, .. } => backend_status(Some(error)),
        ApplyError::State(e) => state_status(e),
        ApplyError::Workspace(e) => backend_status(e.backend()),
        ApplyError::Vault(_) | ApplyError::Review(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A failed apply in words, with the diagnostics of missing secrets.
fn apply_detail(e: &ApplyError) -> String {
    match e {
        ApplyError::MissingSecrets(d) => {
            format!("{e}:\n{}", crate::config::Diagnostics(d.clone()))
        }
        _ => crate::ops::error_chain(e),
    }
}

/// The status of a config edit that was not made, by its kind.
fn edit_status(e: &EditOpError) -> StatusCode {
    use crate::config::edit::{EditError, Restored};
    match e {
        EditOpError::NoTask { .. } => StatusCode::NOT_FOUND,
        EditOpError::Exists(_) => StatusCode::CONFLICT,
        EditOpError::BadValue(_) => StatusCode::BAD_REQUEST,
        EditOpError::ConfigInvalid { .. } | EditOpError::Refused(_) => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        EditOpError::File(EditError::Io(_)) => StatusCode::INTERNAL_SERVER_ERROR,
        EditOpError::File(EditError::Conflict(_)) => StatusCode::CONFLICT,
        EditOpError::File(_) => StatusCode::UNPROCESSABLE_ENTITY,
        EditOpError::Apply {
            restored, error, ..
        } => match restored {
            Ok(Restored::Back) => apply_status(error),
            Ok(Restored::ChangedSince) => StatusCode::CONFLICT,
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
        },
    }
}

impl From<EditOpError> for ApiError {
    fn from(e: EditOpError) -> Self {
        ApiError(edit_status(&e), e.to_string())
    }
}

/// Make `edit` in the served config and apply it, one edit at a time.
fn edit_now(server: &Server, edit: &Edit) -> ApiResult<crate::ops::edit::Edited> {
    let _one_at_a_time = server.editing();
    let target = EditTarget {
        config: &server.config,
        state: &server.state,
        backend: server.backend,
        lock_timeout: API_LOCK_WAIT,
    };
    Ok(crate::ops::edit::edit(&target, edit)?)
}

/// How long an API apply waits for another (orc watch, a terminal) to let go of
/// the state before answering 409: long enough for a usual apply, short enough
/// that the request does not hang.
const API_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

async fn enable(
    shared: Shared<Arc<Server>>,
    headers: HeaderMap,
    name: UrlPath<String>,
) -> ApiResult<Json<Value>> {
    set_enabled(shared, headers, name, true).await
}

async fn disable(
    shared: Shared<Arc<Server>>,
    headers: HeaderMap,
    name: UrlPath<String>,
) -> ApiResult<Json<Value>> {
    set_enabled(shared, headers, name, false).await
}

/// Pause or resume a task the way an admin would: `enabled = …` written into the
/// file that defines it (comments and layout kept), the config checked, then applied.
/// A config that does not load, or an apply that fails, puts the file back as it was.
async fn set_enabled(
    Shared(server): Shared<Arc<Server>>,
    headers: HeaderMap,
    UrlPath(name): UrlPath<String>,
    enabled: bool,
) -> ApiResult<Json<Value>> {
    authorised(&server, &headers)?;
    let server = server.clone();
    blocking(move || {
        let edited = edit_now(
            &server,
            &Edit::SetEnabled {
                name: &name,
                enabled,
            },
        )?;
        Ok(Json(
            json!({ "task": name, "enabled": enabled, "file": edited.file }),
        ))
    })
    .await
}

/// A `status=` filter: one of the words runs are stored with.
fn run_status(text: &str) -> Result<crate::state::RunStatus, ApiError> {
    text.parse().map_err(|e: crate::state::UnknownWord| {
        ApiError(StatusCode::BAD_REQUEST, format!("status: {e}"))
    })
}

fn unprocessable(message: String) -> ApiError {
    ApiError(StatusCode::UNPROCESSABLE_ENTITY, message)
}

/// The config as it is now, or a 422 saying why it does not load.
fn load_config(server: &Server) -> ApiResult<crate::config::Config> {
    crate::config::load(&server.config)
        .map(|l| l.config)
        .map_err(|d| unprocessable(format!("{} does not load:\n{d}", server.config.display())))
}

impl From<crate::config::edit::EditError> for ApiError {
    fn from(e: crate::config::edit::EditError) -> Self {
        match e {
            crate::config::edit::EditError::Io(m) => ApiError(StatusCode::INTERNAL_SERVER_ERROR, m),
            crate::config::edit::EditError::Conflict(m) => ApiError(StatusCode::CONFLICT, m),
            other => unprocessable(other.to_string()),
        }
    }
}

/// The table of task `name` in `doc`.
fn task_table<'a>(
    doc: &'a mut toml_edit::DocumentMut,
    name: &str,
) -> ApiResult<&'a mut dyn toml_edit::TableLike> {
    doc.get_mut("tasks")
        .and_then(|t| t.get_mut(name))
        .and_then(|t| t.as_table_like_mut())
        .ok_or_else(|| unprocessable(format!("[tasks.{name}] is not a table orc can edit")))
}

/// `POST /api/tasks` with `{"name", "type", "command", "schedule", ...}`: the task
/// appended to the main config file, checked, and applied.
async fn create(
    Shared(server): Shared<Arc<Server>>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    authorised(&server, &headers)?;
    let server = server.clone();
    blocking(move || {
        let bad = |m: String| ApiError(StatusCode::BAD_REQUEST, m);
        let fields = body
            .as_object()
            .ok_or_else(|| bad("the body must be a JSON object".to_string()))?;
        let name = fields
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("\"name\" is required".to_string()))?;
        let edited = edit_now(&server, &Edit::Create { name, fields })?;
        Ok((
            StatusCode::CREATED,
            Json(json!({ "task": name, "file": edited.file })),
        ))
    })
    .await
}

/// `PUT /api/tasks/{name}` with `{"key": value, ...}`: those keys of the task set in
/// its file (`null` removes one), checked and applied.
async fn update(
    Shared(server): Shared<Arc<Server>>,
    headers: HeaderMap,
    UrlPath(name): UrlPath<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    authorised(&server, &headers)?;
    let server = server.clone();
    blocking(move || {
        let fields = body.as_object().ok_or_else(|| {
            ApiError(
                StatusCode::BAD_REQUEST,
                "the body must be a JSON object".to_string(),
            )
        })?;
        edit_now(
            &server,
            &Edit::Update {
                name: &name,
                fields,
            },
        )?;
        Ok(Json(
            json!({ "task": name, "updated": fields.keys().collect::<Vec<_>>() }),
        ))
    })
    .await
}

/// `DELETE /api/tasks/{name}`: the task removed from its file, checked, applied.
async fn delete(
    Shared(server): Shared<Arc<Server>>,
    headers: HeaderMap,
    UrlPath(name): UrlPath<String>,
) -> ApiResult<Json<Value>> {
    authorised(&server, &headers)?;
    let server = server.clone();
    blocking(move || {
        edit_now(&server, &Edit::Delete { name: &name })?;
        Ok(Json(json!({ "task": name, "deleted": true })))
    })
    .await
}

/// Serve until `stop` resolves; `ready` gets the bound address (the port when
/// `listen` asked for port 0).
///
/// HTTP/1 connections are served by hyper directly (axum's `serve` cannot time
/// connections out): a connection that sends no complete request head within
/// `idle_timeout` (a new one, or one kept alive after an answer) is closed. On
/// stop, no new connection is taken, idle ones close, and the event streams end.
pub fn serve(
    options: ServeOptions,
    listen: SocketAddr,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    use tower::ServiceExt;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|source| ServeError::Listen {
                addr: listen,
                source,
            })?;
        let (stopping_tx, stopping) = tokio::sync::watch::channel(false);
        let idle = options.idle_timeout;
        let changes = events::watch_state(options.state.clone(), stopping.clone())?;
        let server = Server::new(options, listen.ip(), changes, stopping);
        let app = router(Arc::new(server), idle);
        ready(listener.local_addr()?);
        let connections = hyper_util::server::graceful::GracefulShutdown::new();
        let mut stop = std::pin::pin!(stop);
        loop {
            let stream = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    // Out of file descriptors and the like: wait, as axum does.
                    Err(_) => {
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = &mut stop => break,
            };
            let local = stream.local_addr().ok().map(access::LocalAddr);
            let app = app.clone();
            let service = hyper::service::service_fn(
                move |mut request: hyper::Request<hyper::body::Incoming>| {
                    if let Some(local) = local {
                        request.extensions_mut().insert(local);
                    }
                    app.clone().oneshot(request.map(axum::body::Body::new))
                },
            );
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(idle)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            let connection = connections.watch(connection);
            tokio::spawn(async move {
                let _ = connection.await;
            });
        }
        drop(listener);
        let _ = stopping_tx.send(true);
        connections.shutdown().await;
        Ok(())
    })
}

/// Resolves on Ctrl-C, or SIGTERM on Unix (how service managers stop a server).
pub async fn stop_signal() {
    #[cfg(unix)]
    if let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        return;
    }
    let _ = tokio::signal::ctrl_c().await;
}
