//! Resource limits of a run (`memory_max`, `cpu_max`, `max_processes`, `nice`) on
//! Unix.
//!
//! - Linux, where orc may make a cgroup v2 for the attempt (a child of its own cgroup
//!   whose `cgroup.subtree_control` gives the controllers: as root in the root cgroup,
//!   or in a delegated systemd subtree): memory.max, cpu.max and pids.max on the
//!   attempt's cgroup, which the task joins before it execs. A run the kernel's OOM
//!   killer ended in it is told by memory.events, with memory.peak.
//! - Otherwise: what rlimits can do, per process: RLIMIT_AS for memory_max (address
//!   space, not resident memory) and RLIMIT_NPROC for max_processes (per user; root
//!   is not held to it). cpu_max is then not enforced, which the attempt's log says.
//! - `nice` everywhere on Unix (setpriority).
//!
//! Windows' limits are the run's Job Object's (see `contain`).

#[cfg(target_os = "linux")]
use std::path::Path;
use std::path::PathBuf;
#[cfg(unix)]
use std::process::Command;

use crate::config::Limits;

/// What an attempt was given, to read and clean up after it.
#[derive(Debug, Default)]
pub struct Applied {
    /// The attempt's own cgroup (Linux, cgroup v2).
    cgroup: Option<PathBuf>,
    /// Its procs file, open until the task has been started (it joins through it).
    procs: Option<std::fs::File>,
    /// How the limits are held, for the log: "cgroup v2 …" or "rlimits …".
    pub how: String,
}

/// Killed for memory: the limit and the peak, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfMemory {
    pub limit: u64,
    pub peak: Option<u64>,
}

/// Where orc may make cgroups for its runs, with every controller the limits need:
/// the cgroup v2 it is in (the unified mount's path of `/proc/self/cgroup`'s `0::`
/// line), when its `cgroup.subtree_control` names them and it is writable.
#[cfg(target_os = "linux")]
pub fn cgroup_parent(limits: &Limits) -> Result<PathBuf, String> {
    let own = std::fs::read_to_string("/proc/self/cgroup").map_err(|e| e.to_string())?;
    let rel = own
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .ok_or("no cgroup v2 (the unified hierarchy) for this process")?;
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").map_err(|e| e.to_string())?;
    let mount = mounts
        .lines()
        .find_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            (right.split_whitespace().next()? == "cgroup2")
                .then(|| left.split_whitespace().nth(4).map(PathBuf::from))
                .flatten()
        })
        .ok_or("cgroup v2 is not mounted")?;
    let dir = mount.join(rel.trim_start_matches('/'));
    let control = std::fs::read_to_string(dir.join("cgroup.subtree_control"))
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let wanted = [
        ("memory", limits.memory_max.is_some()),
        ("cpu", limits.cpu_max.is_some()),
        ("pids", limits.max_processes.is_some()),
    ];
    for (controller, needed) in wanted {
        if needed && !control.split_whitespace().any(|c| c == controller) {
            return Err(format!(
                "the {controller} controller is not enabled for children of {}",
                dir.display()
            ));
        }
    }
    Ok(dir)
}

/// Give `cmd` the `limits`, for attempt `name` (unique on this machine).
#[cfg(unix)]
pub fn apply(cmd: &mut Command, limits: &Limits, name: &str) -> std::io::Result<Applied> {
    use std::os::unix::process::CommandExt;
    let mut applied = Applied::default();
    let cgroup_wanted =
        limits.memory_max.is_some() || limits.cpu_max.is_some() || limits.max_processes.is_some();
    // The cgroup's procs file, opened here: the child writes to it before it execs,
    // with nothing to allocate after the fork.
    let mut procs: Option<std::fs::File> = None;
    #[cfg(target_os = "linux")]
    if cgroup_wanted {
        match cgroup_parent(limits).and_then(|parent| make_cgroup(&parent, name, limits)) {
            Ok((dir, file)) => {
                applied.how = format!("cgroup v2 {}", dir.display());
                applied.cgroup = Some(dir);
                procs = Some(file);
            }
            Err(why) => applied.how = format!("rlimits ({why})"),
        }
    }
    #[cfg(not(target_os = "linux"))]
    if cgroup_wanted {
        applied.how = "rlimits".to_string();
    }
    let rlimits = procs.is_none();
    let (memory, processes, nice) = (limits.memory_max, limits.max_processes, limits.nice);
    let procs_fd = procs.as_ref().map(std::os::fd::AsRawFd::as_raw_fd);
    // SAFETY: the closure runs in the child between fork and exec, and only makes
    // system calls (write, setrlimit, setpriority) on values prepared before.
    unsafe {
        cmd.pre_exec(move || {
            if let Some(fd) = procs_fd
                && libc::write(fd, b"0\n".as_ptr().cast(), 2) < 0
            {
                return Err(std::io::Error::last_os_error());
            }
            let held = [
                (libc::RLIMIT_AS, memory),
                (libc::RLIMIT_NPROC, processes.map(u64::from)),
            ];
            for (resource, value) in held.into_iter().filter(|_| rlimits) {
                if let Some(value) = value {
                    let limit = libc::rlimit {
                        rlim_cur: value as libc::rlim_t,
                        rlim_max: value as libc::rlim_t,
                    };
                    if libc::setrlimit(resource, &limit) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
            }
            if let Some(n) = nice
                && libc::setpriority(libc::PRIO_PROCESS, 0, n) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    // Open (close-on-exec) until the task has started: see [`Applied::started`].
    applied.procs = procs;
    Ok(applied)
}

/// The attempt's cgroup under `parent`, its limits written, and its procs file open.
#[cfg(target_os = "linux")]
fn make_cgroup(
    parent: &Path,
    name: &str,
    limits: &Limits,
) -> Result<(PathBuf, std::fs::File), String> {
    let dir = parent.join(name);
    let at = |e: std::io::Error, what: &Path| format!("{}: {e}", what.display());
    std::fs::create_dir(&dir).map_err(|e| at(e, &dir))?;
    let write = |file: &str, value: String| {
        std::fs::write(dir.join(file), value).map_err(|e| at(e, &dir.join(file)))
    };
    let written = (|| {
        if let Some(bytes) = limits.memory_max {
            write("memory.max", bytes.to_string())?;
            // No swap beyond it, so the limit is what the task gets.
            let _ = std::fs::write(dir.join("memory.swap.max"), "0");
        }
        if let Some(percent) = limits.cpu_max {
            write("cpu.max", format!("{} 100000", u64::from(percent) * 1000))?;
        }
        if let Some(n) = limits.max_processes {
            write("pids.max", n.to_string())?;
        }
        std::fs::OpenOptions::new()
            .write(true)
            .open(dir.join("cgroup.procs"))
            .map_err(|e| at(e, &dir.join("cgroup.procs")))
    })();
    match written {
        Ok(file) => Ok((dir, file)),
        Err(e) => {
            let _ = std::fs::remove_dir(&dir);
            Err(e)
        }
    }
}

impl Applied {
    /// The task has started (and joined its cgroup): the procs file is not needed.
    pub fn started(&mut self) {
        self.procs = None;
    }

    /// After the attempt (its processes all gone): whether the OOM killer ended it in
    /// its cgroup, and the cgroup removed.
    pub fn finish(&mut self, limits: &Limits) -> Option<OutOfMemory> {
        let dir = self.cgroup.take()?;
        let read = |file: &str| std::fs::read_to_string(dir.join(file)).unwrap_or_default();
        let killed = read("memory.events").lines().any(|l| {
            l.strip_prefix("oom_kill ")
                .and_then(|n| n.trim().parse::<u64>().ok())
                .is_some_and(|n| n > 0)
        });
        let peak = read("memory.peak").trim().parse().ok();
        // Empty by now; a moment more should the kernel still be tearing it down.
        for _ in 0..50 {
            if std::fs::remove_dir(&dir).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        match (killed, limits.memory_max) {
            (true, Some(limit)) => Some(OutOfMemory { limit, peak }),
            _ => None,
        }
    }
}

/// An attempt that ended early (it could not start) leaves no cgroup behind.
impl Drop for Applied {
    fn drop(&mut self) {
        if let Some(dir) = self.cgroup.take() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}
