//! Answers kept until the state changes or the minute turns. Computing the rows of
//! 1,000 tasks (definitions parsed, schedules explained, next runs) takes
//! milliseconds; sending them again takes microseconds.

use std::path::Path;
use std::time::SystemTime;

use super::{ApiResult, Server, with_state};
use crate::state::State;

/// What a kept answer depends on: every commit to the state (which changes the size
/// or modification time of the database or its write-ahead log, whichever process
/// made it) and the minute (next run times move with the clock). None when the files
/// cannot be read, which keeps nothing.
type Key = Option<(Vec<(u64, SystemTime)>, i64)>;

fn key(state: &Path) -> Key {
    let mut wal = state.as_os_str().to_owned();
    wal.push("-wal");
    let stamps = [state, Path::new(&wal)]
        .iter()
        .map(|p| std::fs::metadata(p).and_then(|m| Ok((m.len(), m.modified()?))))
        .collect::<std::io::Result<Vec<_>>>()
        .ok()?;
    Some((stamps, jiff::Timestamp::now().as_second() / 60))
}

/// The last answer of one kind and what it depended on.
pub struct StateCache<T> {
    last: std::sync::Mutex<Option<(Key, T)>>,
    computing: tokio::sync::Mutex<()>,
}

impl<T> Default for StateCache<T> {
    fn default() -> Self {
        StateCache {
            last: Default::default(),
            computing: Default::default(),
        }
    }
}

impl<T: Clone + Send + 'static> StateCache<T> {
    fn kept(&self, key: &Key) -> Option<T> {
        key.as_ref()?;
        let last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        last.as_ref()
            .filter(|(k, _)| k == key)
            .map(|(_, value)| value.clone())
    }

    /// The kept answer if the state and the minute are as they were, else
    /// `compute`'s (with the state, on a blocking thread), kept for the next request.
    pub async fn get(
        &self,
        server: &Server,
        compute: impl FnOnce(&State) -> ApiResult<T> + Send + 'static,
    ) -> ApiResult<T> {
        // The key is taken before reading, so a kept answer is never older than
        // its key says.
        let key = key(&server.state);
        if let Some(value) = self.kept(&key) {
            return Ok(value);
        }
        // One request computes; the others that missed with it wait for its answer
        // (at the turn of a minute, many would otherwise compute the same at once).
        let _computing = self.computing.lock().await;
        if let Some(value) = self.kept(&key) {
            return Ok(value);
        }
        let value = with_state(server, compute).await?;
        if key.is_some() {
            *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some((key, value.clone()));
        }
        Ok(value)
    }
}
