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
    /// The run's log file could not be created.
    #[error("cannot create the log {}", path.display())]
    Log {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A parameter given that the task does not have.
    #[error("{0}")]
    Param(String),
    #[error("cannot install the signal handler")]
    Signals(#[source] ctrlc::Error),
    #[error(transparent)]
    State(#[from] StateError),
}

pub type Result<T, E = RunError> = std::result::Result<T, E>;
