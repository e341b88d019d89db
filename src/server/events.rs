//! `GET /events`: server-sent events that tell open pages the state changed.
//!
//! Runs are written by other processes (`orc run`, the daemon, `orc apply`), so the
//! server cannot announce its own writes. One thread watches SQLite's
//! `PRAGMA data_version`, which changes whenever another connection commits, and
//! broadcasts a `change` event; pages then fetch their fresh parts. Polling one
//! pragma every quarter second costs next to nothing, whatever the history's size.

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State as Shared;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use tokio::sync::{broadcast, watch};

use super::Server;

const POLL: Duration = Duration::from_millis(250);

/// Start the watcher thread; it ends (closing its connection) when the server stops.
pub fn watch_state(state: PathBuf, stopping: Stopping) -> std::io::Result<broadcast::Sender<i64>> {
    let (tx, _) = broadcast::channel(16);
    let sender = tx.clone();
    std::thread::Builder::new()
        .name("orc-state-watch".into())
        .spawn(move || {
            let mut conn = None;
            let mut last = None;
            while !*stopping.borrow() {
                std::thread::sleep(POLL);
                if conn.is_none() && state.exists() {
                    conn = rusqlite::Connection::open_with_flags(
                        &state,
                        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
                    )
                    .ok();
                }
                let Some(c) = &conn else { continue };
                let Ok(version) = c.query_row("PRAGMA data_version", [], |r| r.get::<_, i64>(0))
                else {
                    // The file went away or broke: open it again next time.
                    conn = None;
                    continue;
                };
                if last.is_some_and(|v| v != version) {
                    // No receivers is fine: nobody is looking.
                    let _ = sender.send(version);
                }
                last = Some(version);
            }
        })?;
    Ok(tx)
}

/// A page's stream: a `change` event per state change, until the server stops.
pub async fn events(
    Shared(server): Shared<Arc<Server>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let changes = server.changes.subscribe();
    let stopping = server.stopping.clone();
    let stream = futures_util::stream::unfold(
        (changes, stopping),
        |(mut changes, mut stopping)| async move {
            loop {
                tokio::select! {
                    change = changes.recv() => match change {
                        Ok(v) => {
                            let event = Event::default().event("change").data(v.to_string());
                            return Some((Ok(event), (changes, stopping)));
                        }
                        // Missed a few: one event says as much as many.
                        Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(broadcast::error::RecvError::Closed) => return None,
                    },
                    // The server is stopping: end the stream so shutdown need not wait.
                    _ = stopping.changed() => return None,
                }
            }
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// Receivers of `true` when the server stops.
pub type Stopping = watch::Receiver<bool>;
