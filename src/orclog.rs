//! orc's own log: what orc did (applies, runs, retention, the daemon), not what tasks
//! printed (that goes to each run's log).
//!
//! Lines go to `<state dir>/orc-log/orc.YYYY-MM-DD.log`, one file per day, the last
//! 14 days kept. Every orc process of a server appends to the same file, so each line
//! carries the process id and command. `ORC_LOG` sets the level: error, warn, info
//! (the default), debug, trace or off.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::filter::LevelFilter;

/// Days of orc's own log kept.
const KEEP_DAYS: usize = 14;

/// Where orc's own log is written, for a state database at `state`.
pub fn dir(state: &Path) -> PathBuf {
    state
        .parent()
        .map_or_else(|| PathBuf::from("orc-log"), |d| d.join("orc-log"))
}

/// Start logging for this process. Returns a guard that keeps the process's span
/// (pid and command) on every line; a log that cannot be opened is not an error
/// for the command, only a warning.
pub fn init(state: &Path, command: &'static str) -> Option<tracing::span::EnteredSpan> {
    let level = match std::env::var("ORC_LOG") {
        Ok(text) => LevelFilter::from_str(text.trim()).unwrap_or_else(|_| {
            eprintln!(
                "warning: ORC_LOG={text:?} is not a level (error, warn, info, debug, trace, off); using info"
            );
            LevelFilter::INFO
        }),
        Err(_) => LevelFilter::INFO,
    };
    if level == LevelFilter::OFF {
        return None;
    }
    // Created here: the appender lists the folder (to prune old days) before it
    // creates it, and complains on stderr when it is missing.
    if let Err(e) = crate::state::create_private_dir(&dir(state)) {
        eprintln!(
            "warning: cannot write orc's log in {}: {e}",
            dir(state).display()
        );
        return None;
    }
    let appender = RollingFileAppender::builder()
        .rotation(Rotation::DAILY)
        .filename_prefix("orc")
        .filename_suffix("log")
        .max_log_files(KEEP_DAYS)
        .build(dir(state));
    let appender = match appender {
        Ok(a) => a,
        Err(e) => {
            eprintln!(
                "warning: cannot write orc's log in {}: {e}",
                dir(state).display()
            );
            return None;
        }
    };
    let installed = tracing_subscriber::fmt()
        .with_writer(appender)
        .with_ansi(false)
        .with_target(false)
        .with_max_level(level)
        .try_init();
    if installed.is_err() {
        // Already set up (a test calling in twice): keep the first.
        return None;
    }
    Some(tracing::info_span!("orc", pid = std::process::id(), cmd = command).entered())
}
