//! Dependencies, checked before a task's first attempt. Each unmet one comes back
//! as a reason a person can act on.

use std::path::Path;
use std::time::Duration;

use super::Result;

use super::{Status, Trigger};
use crate::config::{Dependency, Task, TaskType};
use crate::state::State;

/// How recent a dependency task's success must be, unless the task says (`max_age`).
pub const MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// How long a `url:` or `command:` check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(30);

/// `Ok(None)` when every dependency holds, else the first reason one does not.
/// Dependency tasks are looked up in the task's own `folder`.
pub fn check(
    state: &State,
    task: &Task,
    folder: &str,
    host: &str,
    depth: usize,
) -> Result<Option<String>> {
    for dep in &task.dependencies {
        if let Some(reason) = check_one(state, task, folder, dep, host, depth)? {
            return Ok(Some(reason));
        }
    }
    Ok(None)
}

fn check_one(
    state: &State,
    task: &Task,
    folder: &str,
    dep: &Dependency,
    host: &str,
    depth: usize,
) -> Result<Option<String>> {
    Ok(match dep {
        Dependency::Task(name) => {
            let Some(recorded) = state.task_in_folder(name, folder)? else {
                return Ok(Some(format!("dependency task \"{name}\" is not applied")));
            };
            let other = recorded.task()?;
            if other.kind == TaskType::Condition {
                // A condition is a fresh check: run it now.
                if depth > 8 {
                    return Ok(Some(format!("condition \"{name}\" nests too deep")));
                }
                let request = super::RunRequest {
                    name,
                    folder: Some(folder),
                    backend: Some(&recorded.backend),
                    trigger: Trigger::Dependency,
                    host,
                    scheduled_for: None,
                    jitter: false,
                    on_start: None,
                    upstream: None,
                    params: None,
                    side_by_side: false,
                };
                let report = super::run_task(state, &request, depth + 1)?;
                match report.status {
                    Status::Success => None,
                    status => Some(format!(
                        "condition \"{name}\" did not hold ({}{})",
                        status.as_str(),
                        report.reason.map(|r| format!(": {r}")).unwrap_or_default()
                    )),
                }
            } else {
                let max_age = task.max_age.unwrap_or(MAX_AGE);
                match state.last_success((folder, name))? {
                    Some(at) if age(&at).is_some_and(|a| a <= max_age) => None,
                    Some(at) => Some(format!(
                        "dependency \"{name}\" last succeeded at {at}, more than {} ago",
                        crate::config::format_duration(max_age)
                    )),
                    None => Some(format!("dependency \"{name}\" has never succeeded")),
                }
            }
        }
        Dependency::File(pattern) => {
            let full = task.working_dir.join(pattern);
            let found = glob::glob(&full.to_string_lossy())
                .map(|mut paths| paths.any(|p| p.is_ok()))
                .unwrap_or_else(|_| Path::new(&full).exists());
            (!found).then(|| {
                format!(
                    "file \"{pattern}\" does not exist (in {})",
                    task.working_dir.display()
                )
            })
        }
        Dependency::Url(url) => check_url(url),
        Dependency::Vpn(host) => super::vpn::check(host.as_deref()),
        Dependency::Command(argv) => {
            let mut check = std::process::Command::new(&argv[0]);
            check
                .args(&argv[1..])
                .current_dir(&task.working_dir)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
            let result = super::process::with_default_pages(|| check.spawn())
                .and_then(|mut child| child.wait());
            match result {
                Ok(s) if s.success() => None,
                Ok(s) => Some(format!(
                    "command \"{}\" exited with {}",
                    argv.join(" "),
                    s.code().unwrap_or(-1)
                )),
                Err(e) => Some(format!(
                    "command \"{}\" could not start: {e}",
                    argv.join(" ")
                )),
            }
        }
    })
}

fn check_url(url: &str) -> Option<String> {
    let agent = ureq::Agent::config_builder()
        .timeout_global(Some(CHECK_TIMEOUT))
        .http_status_as_error(false)
        .build()
        .new_agent();
    match agent.get(url).call() {
        Ok(response) if response.status().is_success() => None,
        Ok(response) => Some(format!("{url} answered {}", response.status())),
        Err(e) => Some(format!("{url} did not answer: {e}")),
    }
}

fn age(rfc3339: &str) -> Option<Duration> {
    let at: jiff::Timestamp = rfc3339.parse().ok()?;
    jiff::Timestamp::now().duration_since(at).try_into().ok()
}
