//! Semantic checks and defaults: from the parsed sections to a [`Config`].
//!
//! Every check reports into the shared [`Diagnostics`] and carries on, so a user sees
//! all problems of a config in one run.

use std::time::Duration;

use jiff::Timestamp;

use super::diag::Diagnostics;
use super::load::Parsed;
use super::model::Config;

/// The longest duration any key accepts (100 years): retention may be long, and no
/// arithmetic on a task's times (every attempt at its timeout, with the pauses) can
/// overflow below it.
pub const MAX_DURATION: Duration = Duration::from_secs(36_500 * 86_400);

/// The most retries a task may ask for.
pub const MAX_RETRIES: u32 = 100;

// One file per part of the config: the checker they all report into, the sections
// around the tasks, one task, what a task runs, its dependencies, and names.
mod calendars;
mod checker;
mod commands;
mod deps;
mod names;
mod sections;
mod task;

use checker::Checker;
use commands::{NUL, command_action, steps};
pub use deps::parse_dependency;
use deps::{check_chains, check_dependencies, check_renames};
use names::check_renamed_from;
pub(crate) use names::closest;
use names::looks_like_email;
pub use names::{NameError, check_name};
pub use sections::is_http_url;
use sections::{TaskDefaults, check_groups};

/// Validate everything parsed and build the config; `None` if anything was wrong.
pub fn build(mut parsed: Parsed, diags: &mut Diagnostics, now: Timestamp) -> Option<Config> {
    let mut c = Checker {
        sources: &parsed.sources,
        diags,
    };

    let (settings, zone) = sections::settings(&mut c, parsed.settings.as_ref());
    let notify = sections::notify_groups(&mut c, &parsed);
    let smtp = sections::smtp(&mut c, parsed.smtp.as_ref());
    let fleet = sections::fleet(&mut c, parsed.fleet.as_ref(), &notify);
    sections::report(
        &mut c,
        parsed.report.as_ref(),
        &notify,
        (smtp.is_some(), fleet.is_some()),
    );
    let defaults = sections::defaults(&mut c, parsed.defaults.as_ref(), &settings, &notify);
    check_dependencies(&mut c, &parsed);
    check_chains(&mut c, &parsed);
    check_renames(&mut c, &parsed);
    check_run_on(&mut c, &parsed, fleet.as_ref());
    let calendars = calendars::calendars(&mut c, &parsed);
    let raw_tasks = std::mem::take(&mut parsed.tasks);
    let around = task::Around {
        defaults: &defaults,
        notify: &notify,
        calendars: &calendars,
        zone: &zone,
    };
    let tasks = task::build_all(&mut c, raw_tasks, &around, now);

    if c.diags.has_errors() {
        return None;
    }
    Some(Config {
        settings,
        smtp,
        fleet,
        notify,
        tasks,
        files: parsed.sources.iter().map(|s| s.path.clone()).collect(),
    })
}

/// `run_on = "one"` needs a pool to run once across; `on_host_failure` means
/// something only with it.
fn check_run_on(c: &mut Checker, parsed: &Parsed, fleet: Option<&crate::config::Fleet>) {
    use crate::config::RunOn;
    let pool = fleet.and_then(|f| f.pool.as_deref());
    let local_time = parsed
        .settings
        .as_ref()
        .and_then(|s| s.value.timezone.as_ref())
        .is_none_or(|tz| tz.value == "local");
    let mut warned_zone = false;
    for (name, item) in &parsed.tasks {
        let task = &item.value;
        let one = task.run_on.as_ref().filter(|r| r.value == RunOn::One);
        if let (Some(run_on), None) = (one, pool) {
            let why = if fleet.is_some() {
                "[fleet] has no pool"
            } else {
                "there is no [fleet] section"
            };
            c.report(
                item.file,
                &run_on.span,
                Some(name),
                format!(
                    "run_on = \"one\" runs a fire on one host of the fleet's pool, but {why}: add [fleet] with url and pool"
                ),
            );
        }
        // A fire is an instant: hosts whose clocks read another zone would each
        // claim another one, and all run it.
        let local_time = task
            .timezone
            .as_ref()
            .map_or(local_time, |tz| matches!(tz.value.trim(), "local" | ""));
        if let (Some(run_on), true, false) = (one, local_time, warned_zone) {
            warned_zone = true;
            let d = crate::config::diag::Diagnostic::warning(
                "run_on = \"one\" with the machine's own time zone: hosts of the pool in other zones would claim different fires and each run its own; set settings.timezone (e.g. \"Europe/Berlin\")",
            )
            .at(&c.sources[item.file], Some(run_on.span.clone()))
            .task(name);
            c.diags.push(d);
        }
        if let (Some(failure), None) = (&task.on_host_failure, one) {
            let d = crate::config::diag::Diagnostic::warning(
                "on_host_failure has no effect without run_on = \"one\"",
            )
            .at(&c.sources[item.file], Some(failure.span.clone()))
            .task(name);
            c.diags.push(d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::Dependency;

    #[test]
    fn names() {
        for ok in ["daily_report", "etl-30m", "a", "v1.2", "COM10"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "has space",
            "a/b",
            "a\\b",
            "x:y",
            "con",
            "LPT1.txt",
            "trailing.",
            "_lead",
            "ünï",
            &"x".repeat(65),
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn dependencies() {
        assert_eq!(
            parse_dependency("vpn_check"),
            Ok(Dependency::Task("vpn_check".into()))
        );
        assert_eq!(
            parse_dependency("file:data/in.csv"),
            Ok(Dependency::File("data/in.csv".into()))
        );
        assert!(matches!(
            parse_dependency("url:https://x.example/health"),
            Ok(Dependency::Url(_))
        ));
        assert_eq!(
            parse_dependency("command:ping -c 1 h"),
            Ok(Dependency::Command(vec![
                "ping".into(),
                "-c".into(),
                "1".into(),
                "h".into()
            ]))
        );
        for bad in [
            "url:ftp://x",
            "url:https://",
            "http:x",
            "file:",
            "command:  ",
            "bad name",
        ] {
            assert!(parse_dependency(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn suggestions() {
        let names = ["vpn_check".to_string(), "daily_report".to_string()];
        assert_eq!(closest("vpn_chek", names.iter()), Some(&names[0]));
        assert_eq!(closest("zzz", names.iter()), None);
    }
}
