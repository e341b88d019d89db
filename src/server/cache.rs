//! Answers kept until what they depend on changes, and the gate that heavy reads
//! pass one at a time.
//!
//! Computing the rows of 1,000 tasks (definitions parsed, schedules explained, next
//! runs) takes milliseconds, sending them again microseconds; a plan of 100,000
//! tasks takes seconds and hundreds of megabytes. So each kind of answer is kept
//! until the state (or, for a plan, the config) changes or the minute turns; of the
//! requests that miss at once, one computes and the others wait for its answer; and
//! all heavy computations, of whatever kind, take turns through one permit. A
//! request that cannot get its turn within [`HEAVY_WAIT`] is answered 503 with
//! `Retry-After`.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use axum::http::StatusCode;

use super::{ApiError, ApiResult, Server, blocking, read_state};
use crate::state::State;

/// How long a heavy read waits for its turn.
pub const HEAVY_WAIT: Duration = Duration::from_secs(30);
/// What a 503 tells the client to wait, in seconds.
pub const RETRY_AFTER: &str = "5";
/// The message of a request that did not get its turn.
pub const BUSY: &str = "busy: the server is computing another heavy answer (a plan, the task list, the metrics); retry in a few seconds";

fn busy() -> ApiError {
    ApiError(StatusCode::SERVICE_UNAVAILABLE, BUSY.to_string())
}

/// The size and modification time of each file, None for one that is missing.
pub fn stamps<'a>(paths: impl IntoIterator<Item = &'a Path>) -> Vec<Option<(u64, SystemTime)>> {
    paths
        .into_iter()
        .map(|p| {
            std::fs::metadata(p)
                .and_then(|m| Ok((m.len(), m.modified()?)))
                .ok()
        })
        .collect()
}

/// The state database and its write-ahead log: every commit, whichever process
/// made it, changes the size or modification time of one of them.
pub fn state_files(state: &Path) -> [PathBuf; 2] {
    let mut wal = state.as_os_str().to_owned();
    wal.push("-wal");
    [state.to_path_buf(), PathBuf::from(wal)]
}

/// The minute now: next run times, and drift in the live scheduler, move with it.
pub fn minute() -> i64 {
    jiff::Timestamp::now().as_second() / 60
}

/// What a state-derived answer depends on: the state's files and the minute. None
/// when the files cannot be read, which keeps nothing.
pub type StateKey = (Vec<Option<(u64, SystemTime)>>, i64);

fn state_key(state: &Path) -> Option<StateKey> {
    let stamps = stamps(state_files(state).iter().map(PathBuf::as_path));
    stamps
        .iter()
        .all(Option::is_some)
        .then(|| (stamps, minute()))
}

/// Run `compute` on a blocking thread once it has the heavy permit (or answer 503
/// after [`HEAVY_WAIT`]). The permit goes with the computation, so a client that
/// gives up does not let the next one start beside it.
pub async fn heavy<T: Send + 'static>(
    server: &Server,
    compute: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    let permit = tokio::time::timeout(HEAVY_WAIT, server.heavy.clone().acquire_owned())
        .await
        .map_err(|_| busy())?
        .map_err(|_| busy())?;
    blocking(move || {
        let _permit = permit;
        compute()
    })
    .await
}

/// The last answer of one kind and what it depended on.
pub struct Kept<K, T> {
    last: std::sync::Mutex<Option<(K, T)>>,
    computing: tokio::sync::Mutex<()>,
}

impl<K, T> Default for Kept<K, T> {
    fn default() -> Self {
        Kept {
            last: Default::default(),
            computing: Default::default(),
        }
    }
}

impl<K: PartialEq, T: Clone + Send + 'static> Kept<K, T> {
    fn kept(&self, key: &Option<K>) -> Option<T> {
        let key = key.as_ref()?;
        let last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        last.as_ref()
            .filter(|(k, _)| k == key)
            .map(|(_, value)| value.clone())
    }

    /// The last answer, whatever it depended on.
    pub fn last(&self) -> Option<T> {
        let last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        last.as_ref().map(|(_, value)| value.clone())
    }

    /// The kept answer if `key` is what it depended on, else `compute`'s (a heavy
    /// computation, see [`heavy`]), kept for the next request. `key` must be taken
    /// before anything is read, so a kept answer is never older than its key says.
    pub async fn get(
        &self,
        server: &Server,
        key: Option<K>,
        compute: impl FnOnce() -> ApiResult<T> + Send + 'static,
    ) -> ApiResult<T> {
        self.get_rekeyed(server, key, compute, |_, key| Some(key))
            .await
    }

    /// As [`Kept::get`], with the answer kept under `rekey(answer, key)` (None: not
    /// kept): an answer may show that it depended on more than the key knew.
    pub async fn get_rekeyed(
        &self,
        server: &Server,
        key: Option<K>,
        compute: impl FnOnce() -> ApiResult<T> + Send + 'static,
        rekey: impl FnOnce(&T, K) -> Option<K>,
    ) -> ApiResult<T> {
        if let Some(value) = self.kept(&key) {
            return Ok(value);
        }
        // One request computes; the others that missed with it wait for its answer.
        let _computing = tokio::time::timeout(HEAVY_WAIT, self.computing.lock())
            .await
            .map_err(|_| busy())?;
        if let Some(value) = self.kept(&key) {
            return Ok(value);
        }
        let value = heavy(server, compute).await?;
        if let Some(key) = key.and_then(|k| rekey(&value, k)) {
            *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some((key, value.clone()));
        }
        Ok(value)
    }
}

/// An answer computed from the state, kept until the state changes or the minute
/// turns.
pub struct StateCache<T>(Kept<StateKey, T>);

impl<T> Default for StateCache<T> {
    fn default() -> Self {
        StateCache(Kept::default())
    }
}

impl<T: Clone + Send + 'static> StateCache<T> {
    pub async fn get(
        &self,
        server: &Server,
        compute: impl FnOnce(&State) -> ApiResult<T> + Send + 'static,
    ) -> ApiResult<T> {
        let key = state_key(&server.state);
        let path = server.state.clone();
        self.0
            .get(server, key, move || read_state(&path, compute))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn server(dir: &Path) -> Server {
        let (_tx, stopping) = tokio::sync::watch::channel(false);
        Server::new(
            super::super::ServeOptions {
                state: dir.join("state.db"),
                config: dir.join("tasks.toml"),
                token: "t".repeat(64),
                orc: PathBuf::from("orc"),
                backend: None,
                public_read: false,
                allow_hosts: Vec::new(),
                idle_timeout: Duration::from_secs(30),
            },
            "127.0.0.1".parse().unwrap(),
            tokio::sync::broadcast::channel(1).0,
            stopping,
        )
    }

    /// Six requests at once for one answer compute it once; two kinds of answer at
    /// once compute one after the other.
    #[test]
    fn heavy_reads_take_turns_and_are_computed_once() {
        let dir = tempfile::tempdir().unwrap();
        let server = Arc::new(server(dir.path()));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (now, most, calls) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
        );
        let a: Arc<Kept<u32, u32>> = Arc::default();
        let b: Arc<Kept<u32, u32>> = Arc::default();
        runtime.block_on(async {
            let mut tasks = Vec::new();
            for i in 0..8 {
                let (server, now, most, calls) =
                    (server.clone(), now.clone(), most.clone(), calls.clone());
                let kind = if i % 4 == 3 { b.clone() } else { a.clone() };
                tasks.push(tokio::spawn(async move {
                    kind.get(&server, Some(1), move || {
                        calls.fetch_add(1, Ordering::SeqCst);
                        let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(n, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(150));
                        now.fetch_sub(1, Ordering::SeqCst);
                        Ok(7)
                    })
                    .await
                    .map_err(|e| e.1)
                }));
            }
            for t in tasks {
                assert_eq!(t.await.unwrap(), Ok(7));
            }
        });
        assert_eq!(most.load(Ordering::SeqCst), 1, "one at a time");
        assert_eq!(calls.load(Ordering::SeqCst), 2, "once per kind");
        assert_eq!(a.last(), Some(7));
    }
}
