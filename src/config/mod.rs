//! tasks.toml: the user contract.
//!
//! `raw` mirrors the file (and generates the JSON Schema), `load` reads files and
//! their structure, `validate` checks meaning and applies defaults, and `model` is the
//! validated result the rest of orc uses. Problems are [`Diagnostic`]s that name the
//! file, line, column and task.

mod calendar;
mod command;
mod diag;
mod duration;
pub mod edit;
mod load;
mod model;
pub mod params;
mod raw;
mod validate;

use std::path::Path;

use jiff::Timestamp;

pub use calendar::{Blackout, BlackoutPolicy, Calendar, DayRange, LOOK_AHEAD, Verdict, Window};
pub use command::split_command;
pub use diag::{Diagnostic, Diagnostics, Location, Severity, Source};
pub use duration::{format_duration, format_size, parse_duration, parse_size};
pub use load::config_files;
pub use model::{
    Action, Config, Dependency, ExitCodes, ExitMeaning, Fleet, Hook, Limits, NotifyGroup,
    NotifySettings, Origin, RunAs, RuntimeSettings, Settings, Smtp, Step, Task, WindowsSettings,
};
pub use raw::{
    BackendKind, Backoff, EnvValue, NotifyEvent, OnHostFailure, OnUnavailable, Overlap, RunLevel,
    RunOn, TaskType, TlsMode, json_schema,
};
pub use validate::{check_name, is_http_url, parse_dependency};

/// A valid config and its warnings.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<Diagnostic>,
}

/// Load and validate the config at `path` (a file, or a folder of `*.toml`).
/// On any error, every diagnostic found is returned, errors and warnings alike.
pub fn load(path: &Path) -> Result<Loaded, Diagnostics> {
    load_at(path, Timestamp::now())
}

/// As [`load`], with DST warnings computed for the year after `now`.
pub fn load_at(path: &Path, now: Timestamp) -> Result<Loaded, Diagnostics> {
    let mut diags = Diagnostics::default();
    let parsed = load::parse_all(path, &mut diags);
    let order: Vec<_> = parsed.sources.iter().map(|s| s.path.clone()).collect();
    let config = validate::build(parsed, &mut diags, now);
    // Report in file order, then by position, as a compiler would.
    diags.0.sort_by_key(|d| {
        let file = d
            .file
            .as_ref()
            .and_then(|f| order.iter().position(|o| o == f));
        let pos = d.location.as_ref().map(|l| (l.line, l.column));
        (file, pos)
    });
    match config {
        Some(config) if !diags.has_errors() => Ok(Loaded {
            config,
            warnings: diags.0,
        }),
        _ => Err(diags),
    }
}
