//! Why `orc run` could not run a task at all (a run that starts and fails is a
//! recorded outcome, not an error).

use std::path::PathBuf;

use crate::state::StateError;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// No applied task of that name (in the folder asked for).
    #[error("no task \"{name}\"{place} in the state {}; apply it first", state.display())]
    NotApplied {
        name: String,
        /// ` in folder "F"`, or nothing.
        place: String,
        state: PathBuf,
    },
    /// The definition apply recorded no longer parses (written by another orc).
    #[error("the recorded definition of \"{name}\" is unreadable")]
    Unreadable {
        name: String,
        #[source]
        source: serde_json::Error,
    },
    /// The run's log file could not be created.
    #[error("cannot create the log {}", path.display())]
    Log {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot install the signal handler")]
    Signals(#[source] ctrlc::Error),
    #[error(transparent)]
    State(#[from] StateError),
}

pub type Result<T, E = RunError> = std::result::Result<T, E>;

/// The task of a recorded definition, or why it cannot be read.
pub(super) fn recorded_task(name: &str, definition: &str) -> Result<crate::config::Task> {
    crate::config::Task::from_definition(definition).map_err(|source| RunError::Unreadable {
        name: name.to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_record_names_its_task_and_keeps_the_parse_error() {
        let Err(e) = recorded_task("etl", "{\"name\": 3}") else {
            panic!("a broken definition parsed");
        };
        assert!(
            matches!(&e, RunError::Unreadable { name, .. } if name == "etl"),
            "{e:?}"
        );
        let text = format!("{:#}", anyhow::Error::from(e));
        assert!(
            text.starts_with("the recorded definition of \"etl\" is unreadable: "),
            "{text}"
        );
    }
}
