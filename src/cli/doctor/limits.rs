//! The resource limits check: how this machine holds the tasks' `memory_max`,
//! `cpu_max` and `max_processes` (their run's cgroup v2, or rlimits), and what it
//! cannot hold.

use super::*;

pub(super) fn check_limits(setup: &Setup) -> Check {
    const NAME: &str = "limits";
    let Some(config) = &setup.config else {
        return Check::skip(NAME, "the config does not load");
    };
    let limited: Vec<&crate::config::Task> =
        config.tasks.values().filter(|t| t.limits.any()).collect();
    if limited.is_empty() {
        return Check::skip(
            NAME,
            "no task sets memory_max, cpu_max, max_processes or nice",
        );
    }
    let names = |tasks: &[&crate::config::Task]| {
        tasks
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    #[cfg(target_os = "linux")]
    {
        let all = crate::config::Limits {
            memory_max: Some(1),
            cpu_max: Some(1),
            max_processes: Some(1),
            nice: None,
        };
        match crate::exec::cgroup_parent(&all) {
            Ok(dir) => Check::ok(
                NAME,
                format!(
                    "each run of {} gets its own cgroup v2 under {}",
                    names(&limited),
                    dir.display()
                ),
            ),
            Err(why) => {
                let cpu: Vec<&crate::config::Task> = limited
                    .iter()
                    .copied()
                    .filter(|t| t.limits.cpu_max.is_some())
                    .collect();
                let root = crate::host::user_name() == "root";
                let unheld = if cpu.is_empty() {
                    String::new()
                } else {
                    format!("; cpu_max of {} is not enforced", names(&cpu))
                };
                let nproc = if root && limited.iter().any(|t| t.limits.max_processes.is_some()) {
                    "; max_processes does not hold root (RLIMIT_NPROC)"
                } else {
                    ""
                };
                Check::warn(
                    NAME,
                    format!(
                        "no cgroup v2 for the runs ({why}): rlimits instead (memory_max is each process's address space){unheld}{nproc}"
                    ),
                    "run orc as root in a cgroup v2 whose children get the memory, cpu and pids controllers (or in a systemd unit with Delegate=yes)",
                )
            }
        }
    }
    #[cfg(windows)]
    {
        Check::ok(
            NAME,
            format!("each run of {} is held by its Job Object", names(&limited)),
        )
    }
    #[cfg(all(unix, not(target_os = "linux")))]
    {
        Check::warn(
            NAME,
            format!(
                "rlimits only for {} (memory_max is each process's address space; cpu_max is not enforced)",
                names(&limited)
            ),
            "cgroup limits need Linux",
        )
    }
}
