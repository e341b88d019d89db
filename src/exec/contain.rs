//! Containment: every process a run starts, however it detaches, is found, measured
//! and stopped with the run.
//!
//! - Linux: `orc run` is a child subreaper (`PR_SET_CHILD_SUBREAPER`), so a descendant
//!   whose parent dies (a double fork, `setsid`, `setpgid`, daemons) is re-parented to
//!   orc instead of init. The run's processes are then exactly orc's descendants, read
//!   from `/proc`, and are killed until none is left; orc reaps the orphans, so their
//!   CPU time counts in its children's usage, and the tree's memory is sampled.
//! - Other Unix: the task's process group (what leaves the group escapes).
//! - Windows: the task starts suspended, is put in a Job Object with kill-on-close and
//!   only then resumed, so everything it starts is in the job; the job is terminated at
//!   the end and dies with orc's handle in any case. CPU and peak memory are the job's.

use std::process::{Child, Command};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Term,
    Kill,
}

/// Make this process the reaper of the orphans its task leaves (Linux); idempotent.
pub fn become_subreaper() {
    #[cfg(target_os = "linux")]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        // SAFETY: prctl with this option only sets a flag of this process.
        ONCE.call_once(|| unsafe {
            if libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0 {
                tracing::warn!(
                    "cannot become a child subreaper: {}; processes that leave the task's process group may outlive it",
                    std::io::Error::last_os_error()
                );
            }
        });
    }
}

/// One attempt's processes.
pub struct Container {
    /// The task's own process and process group.
    #[cfg(unix)]
    pid: u32,
    /// Largest sum of the tree's resident memory seen, KiB (Linux).
    #[cfg(unix)]
    peak_tree_kb: u64,
    #[cfg(windows)]
    job: job::Job,
}

impl Container {
    /// Prepare `cmd` so that its process can be contained.
    pub fn configure(cmd: &mut Command) {
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(cmd, 0);
        #[cfg(windows)]
        std::os::windows::process::CommandExt::creation_flags(cmd, job::CREATE_SUSPENDED);
    }

    /// Take in the just spawned `child` (started by a command [`configure`]d).
    /// On failure the child is killed.
    /// Windows: the job holds `limits`; on Unix they were set up before the task
    /// started (see `limits`).
    pub fn adopt(child: &mut Child, limits: &crate::config::Limits) -> std::io::Result<Container> {
        #[cfg(windows)]
        {
            let contained = job::Job::new(limits).and_then(|job| {
                job.assign(child)?;
                Ok(job)
            });
            match contained {
                Ok(job) => {
                    job::resume(child.id());
                    Ok(Container { job })
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    Err(e)
                }
            }
        }
        #[cfg(unix)]
        {
            let _ = limits;
            Ok(Container {
                pid: child.id(),
                peak_tree_kb: 0,
            })
        }
    }

    /// Something a signal handler's thread can use to stop the tree: see [`signal_raw`].
    #[cfg(windows)]
    pub fn raw(&self) -> usize {
        self.job.raw()
    }

    /// Something a signal handler's thread can use to stop the tree: see [`signal_raw`].
    #[cfg(unix)]
    pub fn raw(&self) -> usize {
        self.pid as usize
    }

    /// Send `signal` to every process of the tree.
    pub fn signal(&self, signal: Signal) {
        signal_raw(self.raw(), signal);
    }

    /// Kill every process of the tree that is left, and reap the orphans, until none
    /// is (the task's own process must have been waited for).
    pub fn stop_all(&self) {
        #[cfg(target_os = "linux")]
        {
            let me = std::process::id();
            for _ in 0..400 {
                signal_group(self.pid, Signal::Kill);
                // Every process left is below one of orc's children (orphans come to
                // orc), so with none there is nothing to look for in /proc.
                if !linux::has_children() {
                    break;
                }
                let tree = linux::descendants(me);
                if tree.is_empty() {
                    break;
                }
                for p in &tree {
                    if p.zombie {
                        if p.ppid == me && p.pid != self.pid {
                            linux::reap(p.pid);
                        }
                    } else {
                        linux::kill(p.pid, Signal::Kill);
                    }
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        #[cfg(all(unix, not(target_os = "linux")))]
        signal_group(self.pid, Signal::Kill);
        #[cfg(windows)]
        self.job.terminate();
    }

    /// Note the tree's current memory, for its peak (Linux; elsewhere the peak comes
    /// from the job or the children's usage).
    pub fn sample(&mut self) {
        #[cfg(target_os = "linux")]
        {
            let kb = linux::tree_rss_kb(std::process::id());
            self.peak_tree_kb = self.peak_tree_kb.max(kb);
        }
    }

    /// CPU time and peak memory (KiB) of the whole tree, where the container measures
    /// them itself (Windows: the job's accounting); `None` leaves it to the children's
    /// usage. On Linux the sampled peak of the tree's summed memory.
    #[cfg(windows)]
    pub fn usage(&self) -> (Option<Duration>, u64) {
        let (cpu, peak) = self.job.usage();
        (Some(cpu), peak)
    }

    /// See above.
    #[cfg(unix)]
    pub fn usage(&self) -> (Option<Duration>, u64) {
        (None, self.peak_tree_kb)
    }

    /// Windows: the job refused the tree memory at `memory_max` (its processes are
    /// not killed for it, their allocations fail), with the job's peak. On Unix the
    /// cgroup tells (see `limits`).
    pub fn out_of_memory(
        &self,
        limits: &crate::config::Limits,
    ) -> Option<super::limits::OutOfMemory> {
        #[cfg(windows)]
        if let Some(limit) = limits.memory_max
            && self.job.hit_memory_limit()
        {
            let (_, peak_kb) = self.job.usage();
            return Some(super::limits::OutOfMemory {
                limit,
                peak: Some(peak_kb * 1024),
            });
        }
        let _ = limits;
        None
    }
}

/// Signal the tree [`Container::raw`] names (from the stop handler's thread).
pub fn signal_raw(raw: usize, signal: Signal) {
    #[cfg(windows)]
    {
        let _ = signal;
        job::terminate_raw(raw);
    }
    #[cfg(unix)]
    {
        let pid = raw as u32;
        signal_group(pid, signal);
        #[cfg(target_os = "linux")]
        for p in linux::descendants(std::process::id()) {
            if !p.zombie {
                linux::kill(p.pid, signal);
            }
        }
    }
}

#[cfg(unix)]
fn sig(signal: Signal) -> libc::c_int {
    match signal {
        Signal::Term => libc::SIGTERM,
        Signal::Kill => libc::SIGKILL,
    }
}

/// Signal process group `pgid`; ESRCH (already gone) is fine.
#[cfg(unix)]
pub fn signal_group(pgid: u32, signal: Signal) {
    if let Ok(pid) = libc::pid_t::try_from(pgid)
        && pid > 1
    {
        // SAFETY: kill only sends a signal.
        unsafe {
            libc::kill(-pid, sig(signal));
        }
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use super::{Signal, sig};

    pub struct Proc {
        pub pid: u32,
        pub ppid: u32,
        pub zombie: bool,
    }

    /// (state, ppid) of a process, from /proc/PID/stat.
    fn stat(pid: &str) -> Option<(char, u32)> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let (_, rest) = text.rsplit_once(')')?;
        let mut fields = rest.split_whitespace();
        let state = fields.next()?.chars().next()?;
        let ppid = fields.next()?.parse().ok()?;
        Some((state, ppid))
    }

    /// Every descendant of `root`, zombies included (marked).
    pub fn descendants(root: u32) -> Vec<Proc> {
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        let all: Vec<Proc> = dir
            .flatten()
            .filter_map(|e| {
                let name = e.file_name();
                let name = name.to_str()?;
                let pid: u32 = name.parse().ok()?;
                let (state, ppid) = stat(name)?;
                Some(Proc {
                    pid,
                    ppid,
                    zombie: matches!(state, 'Z' | 'X'),
                })
            })
            .collect();
        let mut found: Vec<Proc> = Vec::new();
        let mut parents = vec![root];
        let mut rest = all;
        while !parents.is_empty() {
            let (children, others): (Vec<Proc>, Vec<Proc>) =
                rest.into_iter().partition(|p| parents.contains(&p.ppid));
            rest = others;
            parents = children.iter().map(|p| p.pid).collect();
            found.extend(children);
        }
        found
    }

    /// Whether this process has any child, running or ended but not yet waited for.
    pub fn has_children() -> bool {
        // SAFETY: waitid with WNOWAIT | WNOHANG only reports on children, it neither
        // blocks nor reaps; `info` is a properly sized, zeroed structure.
        unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
            libc::waitid(libc::P_ALL, 0, &mut info, flags) == 0
        }
    }

    pub fn kill(pid: u32, signal: Signal) {
        if let Ok(pid) = libc::pid_t::try_from(pid) {
            // SAFETY: kill only sends a signal.
            unsafe {
                libc::kill(pid, sig(signal));
            }
        }
    }

    /// Reap an orphan that was re-parented to orc and has ended.
    pub fn reap(pid: u32) {
        if let Ok(pid) = libc::pid_t::try_from(pid) {
            let mut status = 0;
            // SAFETY: waits for one child of ours without blocking.
            unsafe {
                libc::waitpid(pid, &mut status, libc::WNOHANG);
            }
        }
    }

    /// The summed resident memory of `root`'s descendants, KiB.
    pub fn tree_rss_kb(root: u32) -> u64 {
        // SAFETY: sysconf only reads a constant.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u64;
        descendants(root)
            .iter()
            .filter(|p| !p.zombie)
            .filter_map(|p| {
                let statm = std::fs::read_to_string(format!("/proc/{}/statm", p.pid)).ok()?;
                statm.split_whitespace().nth(1)?.parse::<u64>().ok()
            })
            .sum::<u64>()
            * page
            / 1024
    }
}

#[cfg(windows)]
mod job {
    use std::os::windows::io::AsRawHandle;
    use std::process::Child;
    use std::time::Duration;

    use windows::Win32::Foundation::{CloseHandle, HANDLE, INVALID_HANDLE_VALUE};
    use windows::Win32::System::Diagnostics::ToolHelp::{
        CreateToolhelp32Snapshot, TH32CS_SNAPTHREAD, THREADENTRY32, Thread32First, Thread32Next,
    };
    use windows::Win32::System::IO::{
        CreateIoCompletionPort, GetQueuedCompletionStatus, OVERLAPPED,
    };
    use windows::Win32::System::JobObjects::{
        AssignProcessToJobObject, CreateJobObjectW, JOB_OBJECT_CPU_RATE_CONTROL_ENABLE,
        JOB_OBJECT_CPU_RATE_CONTROL_HARD_CAP, JOB_OBJECT_LIMIT_ACTIVE_PROCESS,
        JOB_OBJECT_LIMIT_JOB_MEMORY, JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
        JOBOBJECT_ASSOCIATE_COMPLETION_PORT, JOBOBJECT_BASIC_ACCOUNTING_INFORMATION,
        JOBOBJECT_CPU_RATE_CONTROL_INFORMATION, JOBOBJECT_EXTENDED_LIMIT_INFORMATION,
        JobObjectAssociateCompletionPortInformation, JobObjectBasicAccountingInformation,
        JobObjectCpuRateControlInformation, JobObjectExtendedLimitInformation,
        QueryInformationJobObject, SetInformationJobObject, TerminateJobObject,
    };
    use windows::Win32::System::Threading::{OpenThread, ResumeThread, THREAD_SUSPEND_RESUME};
    use windows::core::PCWSTR;

    /// `CREATE_SUSPENDED`: the task runs only once it is in the job.
    pub const CREATE_SUSPENDED: u32 = 0x0000_0004;

    /// A Job Object that kills its processes when its last handle closes, with the
    /// completion port it tells its events on (the memory limit's among them).
    pub struct Job(HANDLE, Option<HANDLE>);

    /// The job's message that one of its processes was refused memory at the job's
    /// limit (JOB_OBJECT_MSG_JOB_MEMORY_LIMIT, of winnt.h).
    const MSG_JOB_MEMORY_LIMIT: u32 = 10;

    fn io(e: windows::core::Error) -> std::io::Error {
        std::io::Error::other(e)
    }

    impl Job {
        pub fn new(limits: &crate::config::Limits) -> std::io::Result<Job> {
            // SAFETY: creates an unnamed job; the handle is owned by the Job and closed
            // on drop.
            let mut job = Job(
                unsafe { CreateJobObjectW(None, PCWSTR::null()) }.map_err(io)?,
                None,
            );
            let mut info = JOBOBJECT_EXTENDED_LIMIT_INFORMATION::default();
            info.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
            if let Some(bytes) = limits.memory_max {
                info.BasicLimitInformation.LimitFlags |= JOB_OBJECT_LIMIT_JOB_MEMORY;
                info.JobMemoryLimit = usize::try_from(bytes).unwrap_or(usize::MAX);
                // A process refused memory at the limit is not killed (its allocation
                // fails); the job says so on its port, which tells an `oom` run. Without
                // the port the limit still holds; only the word for the run is lost.
                job.1 = job
                    .listen()
                    .inspect_err(|e| tracing::warn!("no completion port for the run's job: {e}"))
                    .ok();
            }
            if let Some(n) = limits.max_processes {
                info.BasicLimitInformation.LimitFlags |= JOB_OBJECT_LIMIT_ACTIVE_PROCESS;
                info.BasicLimitInformation.ActiveProcessLimit = n;
            }
            // SAFETY: passes a properly sized, initialised structure.
            unsafe {
                SetInformationJobObject(
                    job.0,
                    JobObjectExtendedLimitInformation,
                    std::ptr::from_ref(&info).cast(),
                    size_of::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>() as u32,
                )
            }
            .map_err(io)?;
            if let Some(percent) = limits.cpu_max {
                // CpuRate is the job's share of the whole machine, in 1/100 percent.
                let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
                let rate = (u64::from(percent) * 100 / cpus).clamp(1, 10_000) as u32;
                let mut cpu = JOBOBJECT_CPU_RATE_CONTROL_INFORMATION {
                    ControlFlags: JOB_OBJECT_CPU_RATE_CONTROL_ENABLE
                        | JOB_OBJECT_CPU_RATE_CONTROL_HARD_CAP,
                    ..Default::default()
                };
                cpu.Anonymous.CpuRate = rate;
                // SAFETY: passes a properly sized, initialised structure.
                unsafe {
                    SetInformationJobObject(
                        job.0,
                        JobObjectCpuRateControlInformation,
                        std::ptr::from_ref(&cpu).cast(),
                        size_of::<JOBOBJECT_CPU_RATE_CONTROL_INFORMATION>() as u32,
                    )
                }
                .map_err(io)?;
            }
            Ok(job)
        }

        /// A completion port for the job's messages.
        fn listen(&self) -> std::io::Result<HANDLE> {
            // SAFETY: a new port, owned by the Job from here (closed on drop).
            let port =
                unsafe { CreateIoCompletionPort(INVALID_HANDLE_VALUE, None, 0, 1) }.map_err(io)?;
            let associate = JOBOBJECT_ASSOCIATE_COMPLETION_PORT {
                CompletionKey: std::ptr::null_mut(),
                CompletionPort: port,
            };
            // SAFETY: passes a properly sized, initialised structure.
            let set = unsafe {
                SetInformationJobObject(
                    self.0,
                    JobObjectAssociateCompletionPortInformation,
                    std::ptr::from_ref(&associate).cast(),
                    size_of::<JOBOBJECT_ASSOCIATE_COMPLETION_PORT>() as u32,
                )
            };
            if let Err(e) = set {
                // SAFETY: the port just made, not kept.
                unsafe {
                    let _ = CloseHandle(port);
                }
                return Err(io(e));
            }
            Ok(port)
        }

        /// Whether a process of the job was refused memory at its limit: the job's
        /// messages so far, read without waiting.
        pub fn hit_memory_limit(&self) -> bool {
            let Some(port) = self.1 else {
                return false;
            };
            let mut hit = false;
            loop {
                let (mut message, mut key) = (0u32, 0usize);
                let mut overlapped: *mut OVERLAPPED = std::ptr::null_mut();
                // SAFETY: the port is ours; the out-pointers are to locals.
                let got = unsafe {
                    GetQueuedCompletionStatus(port, &mut message, &mut key, &mut overlapped, 0)
                };
                if got.is_err() {
                    return hit;
                }
                hit |= message == MSG_JOB_MEMORY_LIMIT;
            }
        }

        pub fn assign(&self, child: &Child) -> std::io::Result<()> {
            let process = HANDLE(child.as_raw_handle());
            // SAFETY: both handles are valid for the duration of the call.
            unsafe { AssignProcessToJobObject(self.0, process) }.map_err(io)
        }

        pub fn raw(&self) -> usize {
            self.0.0 as usize
        }

        pub fn terminate(&self) {
            terminate_raw(self.raw());
        }

        /// CPU time and peak committed memory (KiB) of every process the job held.
        pub fn usage(&self) -> (Duration, u64) {
            let mut basic = JOBOBJECT_BASIC_ACCOUNTING_INFORMATION::default();
            let mut extended = JOBOBJECT_EXTENDED_LIMIT_INFORMATION::default();
            // SAFETY: each call fills the properly sized structure passed.
            let cpu = unsafe {
                QueryInformationJobObject(
                    Some(self.0),
                    JobObjectBasicAccountingInformation,
                    std::ptr::from_mut(&mut basic).cast(),
                    size_of::<JOBOBJECT_BASIC_ACCOUNTING_INFORMATION>() as u32,
                    None,
                )
            }
            .map(|()| {
                let ticks = (basic.TotalUserTime + basic.TotalKernelTime).max(0) as u64;
                Duration::from_nanos(ticks.saturating_mul(100))
            })
            .unwrap_or_default();
            // SAFETY: as above.
            let peak = unsafe {
                QueryInformationJobObject(
                    Some(self.0),
                    JobObjectExtendedLimitInformation,
                    std::ptr::from_mut(&mut extended).cast(),
                    size_of::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>() as u32,
                    None,
                )
            }
            .map(|()| extended.PeakJobMemoryUsed as u64 / 1024)
            .unwrap_or(0);
            (cpu, peak)
        }
    }

    impl Drop for Job {
        fn drop(&mut self) {
            // SAFETY: the handle is ours; closing the last one kills what is left.
            unsafe {
                let _ = CloseHandle(self.0);
                if let Some(port) = self.1 {
                    let _ = CloseHandle(port);
                }
            }
        }
    }

    pub fn terminate_raw(raw: usize) {
        if raw != 0 {
            // SAFETY: a job handle that the running attempt owns.
            unsafe {
                let _ = TerminateJobObject(HANDLE(raw as *mut core::ffi::c_void), 1);
            }
        }
    }

    /// Resume the threads of a process started suspended.
    pub fn resume(pid: u32) {
        // SAFETY: a snapshot of the system's threads, walked with a sized entry;
        // every handle opened is closed.
        unsafe {
            let Ok(snapshot) = CreateToolhelp32Snapshot(TH32CS_SNAPTHREAD, 0) else {
                return;
            };
            let mut entry = THREADENTRY32 {
                dwSize: size_of::<THREADENTRY32>() as u32,
                ..THREADENTRY32::default()
            };
            let mut more = Thread32First(snapshot, &mut entry).is_ok();
            while more {
                if entry.th32OwnerProcessID == pid
                    && let Ok(thread) = OpenThread(THREAD_SUSPEND_RESUME, false, entry.th32ThreadID)
                {
                    ResumeThread(thread);
                    let _ = CloseHandle(thread);
                }
                more = Thread32Next(snapshot, &mut entry).is_ok();
            }
            let _ = CloseHandle(snapshot);
        }
    }
}
