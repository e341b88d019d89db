//! One attempt of a task: spawn it, log its output, enforce its timeout, measure it.
//!
//! The task runs contained (see `contain.rs`): a timeout, a stop request or the
//! task's end stops the whole tree it started, grandchildren that detached included,
//! as systemd does for a service. Output from both streams goes to one capped log,
//! line by line.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};

use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::contain::{self, Container, Signal};
use super::log::CappedLog;
use crate::config::Action;

/// The container of the attempt now running ([`Container::raw`]), so a stop request
/// (SIGTERM to `orc run`) can pass the stop on to the task's whole tree.
static CURRENT: AtomicUsize = AtomicUsize::new(0);
/// Set once `orc run` was asked to stop: no further attempts start.
static STOPPING: AtomicBool = AtomicBool::new(false);

/// Stop the running task (its whole process group) and any attempt after it.
/// Called from the signal handler's thread.
pub fn request_stop() {
    STOPPING.store(true, Ordering::SeqCst);
    let raw = CURRENT.load(Ordering::SeqCst);
    if raw != 0 {
        contain::signal_raw(raw, Signal::Term);
    }
}

/// Whether a stop was requested.
pub fn stop_requested() -> bool {
    STOPPING.load(Ordering::SeqCst)
}

/// Set when `orc run` turned transparent huge pages off for itself (Linux only).
#[cfg(target_os = "linux")]
static SMALL_PAGES: AtomicBool = AtomicBool::new(false);

/// `orc run` lives a few milliseconds, and with transparent huge pages the kernel
/// zeroes 2 MB for every fresh page the allocator touches. Turn them off for this
/// process (unless something already did); what it starts gets the setting back, see
/// [`with_default_pages`]. Long commands (plan on 10,000 tasks) keep them: there they
/// pay off.
pub fn small_pages_for_this_process() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl with these options only reads or sets a flag of this process.
    unsafe {
        if libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) == 0
            && libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) == 0
        {
            SMALL_PAGES.store(true, Ordering::SeqCst);
        }
    }
}

/// Run `spawn` (which starts a process) with [`small_pages_for_this_process`] undone:
/// the flag is inherited through fork and exec, and a task should run as it would
/// without orc. It is set again afterwards: `spawn` returns once the child has its own
/// copy (std's `posix_spawn` and fork both copy it when the child is made), and orc's
/// threads started later (the output readers, the waiter) would otherwise fault in
/// 2 MB pages.
pub fn with_default_pages<T>(spawn: impl FnOnce() -> T) -> T {
    #[cfg(target_os = "linux")]
    if SMALL_PAGES.load(Ordering::SeqCst) {
        // SAFETY: as above.
        unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 0, 0, 0, 0) };
        let spawned = spawn();
        // SAFETY: as above.
        unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
        return spawned;
    }
    spawn()
}

/// Sleep for `pause`, or less when a stop is requested meanwhile.
pub fn sleep_unless_stopped(pause: Duration) {
    let until = std::time::Instant::now() + pause;
    while !stop_requested() {
        let left = until.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            break;
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
}

/// How long a timed-out task gets between SIGTERM and SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Exited with this code (128 + signal when a signal ended it).
    Exited(i32),
    TimedOut,
}

#[derive(Debug, Clone)]
pub struct Attempt {
    pub ending: Ending,
    pub duration: Duration,
    /// User + system CPU of the whole tree.
    pub cpu: Duration,
    /// Peak memory of the tree, in KiB: the largest sum of its processes' resident
    /// memory seen (Linux, sampled; at least the largest process's peak), the job's
    /// peak committed memory (Windows), the largest process's peak (other Unix).
    pub peak_rss_kb: u64,
    /// Ended by the OOM killer at its `memory_max` (Linux, in its cgroup).
    pub oom: Option<super::limits::OutOfMemory>,
    /// How its limits were held, when it had any: for the log.
    pub limited_by: Option<String>,
}

/// Build the command for an action, run the way users expect on this platform: on
/// Windows as Task Scheduler runs an Exec action, `%NAME%` expanded in the program
/// and its arguments (from the environment the task gets, `env` over orc's own), and
/// a shell line handed to cmd exactly as written.
pub fn command(action: &Action, env: &BTreeMap<String, String>) -> Command {
    match action {
        Action::Argv(argv) => {
            let expand = |arg: &str| {
                if cfg!(windows) {
                    expand_percent(arg, |name| lookup(env, name))
                } else {
                    arg.to_string()
                }
            };
            let mut c = Command::new(expand(&argv[0]));
            c.args(argv[1..].iter().map(|a| expand(a)));
            c
        }
        #[cfg(windows)]
        Action::Shell(line) => {
            use std::os::windows::process::CommandExt;
            // cmd parses its own command line: normal argument quoting would turn a
            // quoted path into `\"...\"`, which cmd runs as a name with quotes in
            // it. With /S it strips only the outer pair of quotes added here; /D
            // leaves AutoRun out, so a run does not depend on the registry.
            let mut c = Command::new("cmd");
            c.args(["/D", "/S", "/C"]).raw_arg(format!("\"{line}\""));
            c
        }
        #[cfg(not(windows))]
        Action::Shell(line) => {
            let mut c = Command::new("/bin/sh");
            c.args(["-c", line]);
            c
        }
    }
}

/// orc's own variables (the vault passphrase or its file, the key file, the state,
/// the config, failpoints, imported secrets) and systemd's credentials folder: never
/// the task's, in its environment or in a `%NAME%` of its command.
fn is_orcs_own(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    upper.starts_with("ORC_") || upper == "CREDENTIALS_DIRECTORY"
}

/// A variable of the task's environment: its own `env`, else orc's, by name in any
/// case (Windows' variables are case-insensitive).
#[cfg_attr(not(windows), allow(dead_code))]
fn lookup(env: &BTreeMap<String, String>, name: &str) -> Option<String> {
    env.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
        .or_else(|| {
            // Never one of orc's own, which the task's environment does not have.
            if is_orcs_own(name) {
                return None;
            }
            std::env::vars_os()
                .find(|(k, _)| k.to_str().is_some_and(|k| k.eq_ignore_ascii_case(name)))
                .and_then(|(_, v)| v.into_string().ok())
        })
}

/// `%NAME%` replaced by the variable's value, as ExpandEnvironmentStrings does: a
/// `%NAME%` that is not set, and a lone `%`, stay as written.
#[cfg_attr(not(windows), allow(dead_code))]
fn expand_percent(text: &str, value: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find('%') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.find('%') {
            Some(end) if end > 0 => match value(&after[..end]) {
                Some(v) => {
                    out.push_str(&v);
                    rest = &after[end + 1..];
                }
                None => {
                    out.push_str(&rest[start..start + end + 2]);
                    rest = &after[end + 1..];
                }
            },
            _ => {
                out.push('%');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// How long to wait for the output of processes that escaped the container and still
/// hold its pipes, once the task itself has ended.
const OUTPUT_GRACE: Duration = Duration::from_secs(2);

/// How often the tree's memory is sampled while it runs: often in its first second
/// (most tasks are short), then once a second (a sample reads /proc).
const SAMPLE_FIRST: Duration = Duration::from_millis(100);
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// Output is logged in pieces of at most this size, so a line without newlines
/// cannot grow in memory or slip past the log cap.
const MAX_PIECE: usize = 64 * 1024;

/// Run `action` once; output goes to `log`. `on_spawn` learns the process id (the
/// process group) as soon as it exists, so a crash of orc can be cleaned up later.
/// With `tell`, the log says first how the limits are held.
pub fn run_attempt(
    action: &Action,
    working_dir: &Path,
    env: &BTreeMap<String, String>,
    timeout: Option<Duration>,
    log: &Arc<Mutex<CappedLog>>,
    on_spawn: &dyn Fn(u32),
    (limits, name, tell): &(&crate::config::Limits, String, bool),
) -> std::io::Result<Attempt> {
    let mut cmd = command(action, env);
    // orc's own variables (the vault passphrase or its file, the key file, the state,
    // the config, failpoints, imported secrets) are orc's, never the task's; and so is
    // the folder of systemd credentials. A task that needs one sets it in `env`.
    for (name, _) in std::env::vars_os() {
        let ours = name.to_str().is_some_and(is_orcs_own);
        if ours && !env.contains_key(name.to_str().unwrap_or_default()) {
            cmd.env_remove(&name);
        }
    }
    // As Task Scheduler does with an action's WorkingDirectory.
    #[cfg(windows)]
    let working_dir =
        &std::path::PathBuf::from(expand_percent(&working_dir.to_string_lossy(), |name| {
            lookup(env, name)
        }));
    cmd.current_dir(working_dir).envs(env).stdin(Stdio::null());
    let output = Output::prepare(&mut cmd)?;
    Container::configure(&mut cmd);
    contain::become_subreaper();
    #[cfg(unix)]
    let mut applied = if limits.any() {
        super::limits::apply(&mut cmd, limits, name)?
    } else {
        super::limits::Applied::default()
    };
    #[cfg(not(unix))]
    let mut applied = {
        let _ = name;
        super::limits::Applied::default()
    };

    let before = children_usage();
    let started = Instant::now();
    let mut child = with_default_pages(|| cmd.spawn())?;
    // The command holds orc's copies of the pipes' write ends: closed now, the pipes
    // end when the task's tree has closed them.
    drop(cmd);
    applied.started();
    if *tell && !applied.how.is_empty() {
        let line = format!("limits held by {}", applied.how);
        let _ = log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .line("orc", line.as_bytes());
    }
    let pid = child.id();
    let mut container = Container::adopt(&mut child, limits)?;
    CURRENT.store(container.raw(), Ordering::SeqCst);
    if stop_requested() {
        container.signal(Signal::Term);
    }
    on_spawn(pid);
    let readers = output.pump(&mut child, log.clone());

    // Wait on another thread, so the timeout is a plain receive with a deadline.
    let (tx, rx) = mpsc::channel::<std::io::Result<ExitStatus>>();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let deadline = timeout.map(|limit| started + limit);
    // The first sample comes after the first interval: a task that ends sooner (most
    // checks and copies) costs no walk of /proc, and its peak comes from its usage.
    let received = loop {
        let every = if started.elapsed() < Duration::from_secs(1) {
            SAMPLE_FIRST
        } else {
            SAMPLE_EVERY
        };
        let wait = deadline.map_or(every, |d| {
            d.saturating_duration_since(Instant::now()).min(every)
        });
        match rx.recv_timeout(wait) {
            Ok(status) => break Some(status),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                break Some(Err(std::io::Error::other("the waiting thread ended")));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break None;
                }
                container.sample();
            }
        }
    };
    let (status, timed_out) = match received {
        Some(status) => (status, false),
        None => {
            container.signal(Signal::Term);
            let status = match rx.recv_timeout(KILL_GRACE) {
                Ok(status) => status,
                Err(_) => {
                    container.signal(Signal::Kill);
                    rx.recv().map_err(std::io::Error::other)?
                }
            };
            (status, true)
        }
    };
    CURRENT.store(0, Ordering::SeqCst);
    // The task is over; whatever it left running goes with it, which also closes the
    // pipes those leftovers held open.
    container.stop_all();
    let status = status?;
    // A process that escaped the container may hold the pipes open for ever: give the
    // readers a moment to drain, then go on without them.
    let deadline = Instant::now() + OUTPUT_GRACE;
    while readers.iter().any(|r| !r.is_finished()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    for reader in readers.into_iter().filter(|r| r.is_finished()) {
        let _ = reader.join();
    }
    // What the maskers held back (a possible start of a secret) is this command's
    // output: written now, before the next step's.
    let _ = log.lock().unwrap_or_else(|e| e.into_inner()).finish();
    let duration = started.elapsed();
    let after = children_usage();
    let (cpu, tree_peak) = container.usage();
    Ok(Attempt {
        ending: if timed_out {
            Ending::TimedOut
        } else {
            Ending::Exited(exit_code(status))
        },
        duration,
        cpu: cpu.unwrap_or_else(|| after.0.saturating_sub(before.0)),
        peak_rss_kb: tree_peak.max(after.1),
        limited_by: (!applied.how.is_empty()).then(|| applied.how.clone()),
        oom: applied
            .finish(limits)
            .or_else(|| container.out_of_memory(limits)),
    })
}

/// The task's stdout and stderr, copied into the log in the order they were written
/// as far as the OS tells: on Linux one thread waits on both pipes with epoll, whose
/// ready list is in the order the pipes became readable (registered before the task
/// starts), and drains each as its turn comes, so only lines written to both within
/// the same instant may swap; elsewhere one thread per stream.
enum Output {
    #[cfg(target_os = "linux")]
    Epoll(EpollPipes),
    Threads,
}

impl Output {
    fn prepare(cmd: &mut Command) -> std::io::Result<Output> {
        #[cfg(target_os = "linux")]
        if let Ok((pipes, out, err)) = EpollPipes::new() {
            cmd.stdout(out).stderr(err);
            return Ok(Output::Epoll(pipes));
        }
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        Ok(Output::Threads)
    }

    fn pump(
        self,
        child: &mut std::process::Child,
        log: Arc<Mutex<CappedLog>>,
    ) -> Vec<std::thread::JoinHandle<()>> {
        match self {
            #[cfg(target_os = "linux")]
            Output::Epoll(pipes) => vec![std::thread::spawn(move || pipes.pump(&log))],
            Output::Threads => [
                child
                    .stdout
                    .take()
                    .map(|s| pump(Box::new(s), "out", log.clone())),
                child
                    .stderr
                    .take()
                    .map(|s| pump(Box::new(s), "err", log.clone())),
            ]
            .into_iter()
            .flatten()
            .collect(),
        }
    }
}

/// The read ends of the task's stdout and stderr pipes, in one epoll set.
#[cfg(target_os = "linux")]
struct EpollPipes {
    epoll: std::os::fd::OwnedFd,
    read: [std::os::fd::OwnedFd; 2],
}

#[cfg(target_os = "linux")]
impl EpollPipes {
    /// The pipes, and their write ends for the task.
    fn new() -> std::io::Result<(EpollPipes, Stdio, Stdio)> {
        use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
        let pipe = || -> std::io::Result<(OwnedFd, OwnedFd)> {
            let mut fds = [0; 2];
            // SAFETY: pipe2 fills the two descriptors, which are then owned here.
            if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // SAFETY: fresh descriptors nothing else owns.
            Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
        };
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        // SAFETY: creates a descriptor owned from here on.
        let epoll = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if epoll < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: as above.
        let epoll = unsafe { OwnedFd::from_raw_fd(epoll) };
        for (i, fd) in [&out_r, &err_r].iter().enumerate() {
            let mut event = libc::epoll_event {
                events: (libc::EPOLLIN | libc::EPOLLHUP) as u32,
                u64: i as u64,
            };
            // SAFETY: fcntl and epoll_ctl on descriptors owned here.
            unsafe {
                let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
                libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK);
                if libc::epoll_ctl(
                    epoll.as_raw_fd(),
                    libc::EPOLL_CTL_ADD,
                    fd.as_raw_fd(),
                    &mut event,
                ) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
            }
        }
        Ok((
            EpollPipes {
                epoll,
                read: [out_r, err_r],
            },
            Stdio::from(out_w),
            Stdio::from(err_w),
        ))
    }

    /// Copy both streams into the log until both are closed.
    fn pump(self, log: &Arc<Mutex<CappedLog>>) {
        use std::os::fd::AsRawFd;
        let names = ["out", "err"];
        let fds = [self.read[0].as_raw_fd(), self.read[1].as_raw_fd()];
        let mut lines = [Vec::new(), Vec::new()];
        let mut open = [true, true];
        let mut buf = vec![0u8; MAX_PIECE];
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; 2];
        while open.iter().any(|o| *o) {
            // SAFETY: `events` has room for the 2 events asked for.
            let n = unsafe { libc::epoll_wait(self.epoll.as_raw_fd(), events.as_mut_ptr(), 2, -1) };
            if n < 0 {
                if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                break;
            }
            let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
            for event in &events[..n as usize] {
                let i = event.u64 as usize;
                if !open[i] {
                    continue;
                }
                loop {
                    // SAFETY: reads into `buf`, at most its length.
                    let got = unsafe { libc::read(fds[i], buf.as_mut_ptr().cast(), buf.len()) };
                    if got > 0 {
                        split_lines(&mut lines[i], &buf[..got as usize], &mut |l| {
                            let _ = log.line(names[i], l);
                        });
                        continue;
                    }
                    let e = std::io::Error::last_os_error();
                    if got < 0 && e.kind() == std::io::ErrorKind::Interrupted {
                        continue;
                    }
                    if got == 0 || e.kind() != std::io::ErrorKind::WouldBlock {
                        open[i] = false;
                        // SAFETY: removes a descriptor owned here from the set.
                        unsafe {
                            libc::epoll_ctl(
                                self.epoll.as_raw_fd(),
                                libc::EPOLL_CTL_DEL,
                                fds[i],
                                std::ptr::null_mut(),
                            );
                        }
                    }
                    break;
                }
            }
            // All that was read is written: make it visible (`orc logs --follow`).
            let _ = log.flush();
        }
        let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
        for (i, line) in lines.iter().enumerate() {
            if !line.is_empty() {
                let _ = log.line(names[i], line);
            }
        }
    }
}

/// Cut `data` into lines (pieces of at most [`MAX_PIECE`]), `line` holding the
/// unfinished one; each finished line goes to `emit`.
#[cfg(target_os = "linux")]
fn split_lines(line: &mut Vec<u8>, mut data: &[u8], emit: &mut dyn FnMut(&[u8])) {
    while !data.is_empty() {
        let room = MAX_PIECE - line.len();
        match data.iter().take(room).position(|&b| b == b'\n') {
            Some(i) => {
                line.extend_from_slice(&data[..=i]);
                data = &data[i + 1..];
                emit(line);
                line.clear();
            }
            None => {
                let n = data.len().min(room);
                line.extend_from_slice(&data[..n]);
                data = &data[n..];
                if line.len() >= MAX_PIECE {
                    emit(line);
                    line.clear();
                }
            }
        }
    }
}

/// Copy one stream into the log, line by line (a very long line in pieces).
fn pump(
    stream: Box<dyn Read + Send>,
    name: &'static str,
    log: Arc<Mutex<CappedLog>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut reader = BufReader::with_capacity(MAX_PIECE, stream);
        let mut line = Vec::new();
        loop {
            let (taken, complete) = match reader.fill_buf() {
                Ok([]) | Err(_) => break,
                Ok(buf) => {
                    let room = MAX_PIECE - line.len();
                    match buf.iter().take(room).position(|&b| b == b'\n') {
                        Some(i) => {
                            line.extend_from_slice(&buf[..=i]);
                            (i + 1, true)
                        }
                        None => {
                            let n = buf.len().min(room);
                            line.extend_from_slice(&buf[..n]);
                            (n, line.len() >= MAX_PIECE)
                        }
                    }
                }
            };
            reader.consume(taken);
            if complete {
                let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
                let _ = log.line(name, &line);
                line.clear();
                // All that was read is written: make it visible (`orc logs --follow`)
                // before waiting for more, without a write per line in a burst.
                if reader.buffer().is_empty() {
                    let _ = log.flush();
                }
            }
        }
        if !line.is_empty() {
            let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
            let _ = log.line(name, &line);
        }
    })
}

/// Stop what is left of a task whose `orc run` died: its process group, only while
/// the group's leader (the task's own process) is the one that started at `started`.
///
/// Once the leader is gone, a group left behind cannot be told from a later one with
/// the same id: the run's group may have ended and the id been taken by another
/// session leader that exited too, leaving its own children. Those are named in orc's
/// log and left alone; killing someone else's processes is worse than leaving ours.
pub fn kill_leftovers(pid: u32, started: Option<i64>) {
    let now = crate::state::process_start(pid);
    if started.is_some() && now == started {
        #[cfg(unix)]
        contain::signal_group(pid, Signal::Kill);
    } else if now.is_some() {
        tracing::warn!(
            "process {pid} is no longer the task's (its start time differs); not signalled"
        );
    } else {
        tracing::warn!(
            "the task's process {pid} has ended; what it left in process group {pid} cannot be told from a later group with that id and is not signalled"
        );
    }
}

/// Ask the `orc run` with `pid` to stop its run (`overlap = "replace"`), as a
/// SIGTERM or Ctrl-C would: it stops its task's tree, records the run and lets go
/// of the run's lock. Only that process: a pid whose start time differs is someone
/// else's. On Unix a SIGTERM; on Windows, where one process cannot send another a
/// console signal, the stop event that run waits on (see [`listen_for_stop`]).
pub fn stop_orc_run(pid: u32, started: Option<i64>) {
    let ours = started.is_some() && crate::state::process_start(pid) == started;
    #[cfg(unix)]
    if ours && let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: a signal to one process, checked above to be the run's orc.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
    #[cfg(windows)]
    if ours {
        stop_event::set(pid);
    }
}

/// Windows: stop this run when another `orc run` sets its stop event.
pub fn listen_for_stop() {
    #[cfg(windows)]
    stop_event::listen();
}

/// A named event per `orc run` (`Global\orc-run-stop-PID`, else `Local\...` when
/// the account may not create global objects), created with the default security of
/// the run's account: Task Scheduler's runs as SYSTEM can be stopped by SYSTEM and
/// administrators, a user's runs by that user.
#[cfg(windows)]
mod stop_event {
    use windows::Win32::System::Threading::{
        CreateEventW, EVENT_MODIFY_STATE, INFINITE, OpenEventW, SetEvent, WaitForSingleObject,
    };
    use windows::core::HSTRING;

    fn names(pid: u32) -> [HSTRING; 2] {
        [
            HSTRING::from(format!("Global\\orc-run-stop-{pid}")),
            HSTRING::from(format!("Local\\orc-run-stop-{pid}")),
        ]
    }

    pub fn listen() {
        let me = std::process::id();
        // SAFETY: creates an event owned by this process for its lifetime.
        let event = names(me)
            .iter()
            .find_map(|name| unsafe { CreateEventW(None, true, false, name) }.ok());
        let Some(event) = event else {
            tracing::warn!(
                "cannot create this run's stop event: overlap = \"replace\" cannot stop it"
            );
            return;
        };
        let raw = event.0 as usize;
        std::thread::spawn(move || {
            let event = windows::Win32::Foundation::HANDLE(raw as *mut core::ffi::c_void);
            // SAFETY: the handle stays open for the life of the process.
            if unsafe { WaitForSingleObject(event, INFINITE) }.0 == 0 {
                super::request_stop();
            }
        });
    }

    pub fn set(pid: u32) {
        for name in names(pid) {
            // SAFETY: opens, sets and closes an event by name.
            unsafe {
                if let Ok(event) = OpenEventW(EVENT_MODIFY_STATE, false, &name) {
                    let _ = SetEvent(event);
                    let _ = windows::Win32::Foundation::CloseHandle(event);
                    return;
                }
            }
        }
    }
}

fn exit_code(status: ExitStatus) -> i32 {
    if let Some(code) = status.code() {
        return code;
    }
    #[cfg(unix)]
    if let Some(signal) = std::os::unix::process::ExitStatusExt::signal(&status) {
        return 128 + signal;
    }
    1
}

/// CPU time and peak RSS (KiB) of all waited-for children so far.
#[cfg(unix)]
fn children_usage() -> (Duration, u64) {
    // SAFETY: getrusage fills the struct we pass; zeroed is a valid initial value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) } != 0 {
        return (Duration::ZERO, 0);
    }
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    (
        tv(usage.ru_utime) + tv(usage.ru_stime),
        usage.ru_maxrss as u64,
    )
}

#[cfg(not(unix))]
fn children_usage() -> (Duration, u64) {
    (Duration::ZERO, 0)
}

#[cfg(test)]
mod tests {
    use super::expand_percent;

    #[test]
    fn percent_variables_expand_as_windows_does() {
        let value = |name: &str| match name.to_ascii_lowercase().as_str() {
            "windir" => Some("C:\\Windows".to_string()),
            "comspec" => Some("C:\\Windows\\system32\\cmd.exe".to_string()),
            _ => None,
        };
        assert_eq!(
            expand_percent("%windir%\\system32\\robocopy.exe", value),
            "C:\\Windows\\system32\\robocopy.exe"
        );
        assert_eq!(
            expand_percent("%ComSpec%", value),
            "C:\\Windows\\system32\\cmd.exe"
        );
        assert_eq!(expand_percent("%unset%\\x", value), "%unset%\\x");
        assert_eq!(expand_percent("100% sure", value), "100% sure");
        assert_eq!(expand_percent("%%", value), "%%");
        assert_eq!(
            expand_percent("a%unset%%windir%b", value),
            "a%unset%C:\\Windowsb"
        );
    }
}
