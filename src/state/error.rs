//! What can go wrong with the state database, by kind, so that callers (the API's
//! statuses, `orc doctor`'s fixes) choose from the kind and never from the text.

use std::path::PathBuf;

use super::{AmbiguousTask, Locked};

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The file could not be created, opened or brought to this orc's schema.
    #[error("cannot {action} the state database {}", path.display())]
    Open {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: Box<StateError>,
    },
    /// Written by a newer orc: this one would misread it.
    #[error(
        "the state database has schema version {found}, newer than this orc understands ({known}); upgrade orc"
    )]
    TooNew { found: i64, known: i64 },
    /// Another orc holds the lock asked for.
    #[error(transparent)]
    Locked(#[from] Locked),
    /// A task name more than one scope has, asked for without saying which.
    #[error(transparent)]
    Ambiguous(#[from] AmbiguousTask),
    /// The definition apply recorded no longer parses (written by another orc).
    #[error("the recorded definition of \"{name}\" is unreadable")]
    Unreadable {
        name: String,
        #[source]
        source: serde_json::Error,
    },
    /// The settings an apply recorded no longer parse.
    #[error("the recorded settings are unreadable; run `orc apply` again")]
    Settings(#[source] serde_json::Error),
    #[error(transparent)]
    Sql(#[from] rusqlite::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A record that would not encode as JSON.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

impl StateError {
    /// Whether SQLite gave up waiting for another process's write (its busy timeout).
    pub fn is_busy(&self) -> bool {
        match self {
            StateError::Sql(e) => e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy),
            StateError::Open { source, .. } => source.is_busy(),
            _ => false,
        }
    }
}

pub type Result<T, E = StateError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::State;

    #[test]
    fn a_state_from_a_newer_orc_is_refused_by_kind_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        drop(State::open(&path).unwrap());
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 999).unwrap();
        drop(conn);
        let Err(e) = State::open(&path) else {
            panic!("a newer schema opened");
        };
        let StateError::Open { action, source, .. } = &e else {
            panic!("{e:?}");
        };
        assert_eq!(*action, "migrate");
        assert!(
            matches!(**source, StateError::TooNew { found: 999, .. }),
            "{source:?}"
        );
        let text = format!("{:#}", anyhow::Error::from(e));
        assert!(
            text.starts_with("cannot migrate the state database "),
            "{text}"
        );
        let known = crate::state::migrations::VERSION;
        let end = format!("newer than this orc understands ({known}); upgrade orc");
        assert!(text.ends_with(&end), "{text}");
    }

    #[test]
    fn an_unreadable_record_names_its_task_and_keeps_the_parse_error() {
        let recorded = crate::state::RecordedTask {
            backend: "embedded".into(),
            folder: "Orc".into(),
            name: "etl".into(),
            definition: "{\"name\": 3}".into(),
            hash: String::new(),
            entry: String::new(),
            applied_at: String::new(),
            apply_id: None,
        };
        let Err(e) = recorded.task() else {
            panic!("a broken definition parsed");
        };
        assert!(
            matches!(&e, StateError::Unreadable { name, .. } if name == "etl"),
            "{e:?}"
        );
        let text = format!("{:#}", anyhow::Error::from(e));
        assert!(
            text.starts_with("the recorded definition of \"etl\" is unreadable: "),
            "{text}"
        );
    }

    #[test]
    fn a_busy_database_is_told_apart_from_other_failures() {
        let busy = StateError::Sql(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            None,
        ));
        assert!(busy.is_busy());
        let wrapped = StateError::Open {
            action: "open",
            path: "x".into(),
            source: Box::new(busy),
        };
        assert!(wrapped.is_busy());
        assert!(!StateError::TooNew { found: 9, known: 8 }.is_busy());
    }
}
