//! `orc daemon`: the embedded backend's scheduler.
//!
//! It sleeps until the next fire time or until something happens: an apply rewrote
//! the registry (a file watcher wakes it, so no restart is needed), a run ended, or a
//! stop was asked for. There is no polling loop. Each fire starts
//! `orc run NAME --trigger scheduled` as a child process, so a crashing or hanging task
//! cannot take the scheduler down, and `orc run` itself keeps a task from overlapping
//! with itself. On a stop, firing ends, running tasks get a grace period, and the rest
//! are sent SIGTERM, which makes `orc run` stop their process trees and record them
//! as interrupted.

use std::collections::{BTreeMap, VecDeque};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use notify::Watcher;

use jiff::tz::TimeZone;

use crate::backend::embedded::EmbeddedBackend;
use crate::config::Task;
use crate::exec::Trigger;
use crate::state::State;

/// What wakes the scheduler.
pub enum Wake {
    /// The registry changed: an apply happened.
    Reload,
    /// A run's process ended.
    Finished {
        pid: u32,
        task: String,
        code: Option<i32>,
    },
    /// SIGTERM or Ctrl-C.
    Stop,
}

/// What the daemon does, as it does it (`orc up` prints these).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The registries were read: this many tasks of these folders are scheduled.
    Loaded {
        tasks: usize,
        folders: Vec<String>,
    },
    Started {
        task: String,
        due: Timestamp,
        trigger: Trigger,
    },
    Finished {
        task: String,
        code: Option<i32>,
    },
    /// Fire times passed with no run (the daemon was not running, or the machine
    /// slept); recorded in the history as one "missed" row.
    Missed {
        task: String,
        count: u64,
        first: Timestamp,
        last: Timestamp,
    },
    Stopping {
        running: usize,
    },
}

/// Which folders of the embedded backend the daemon schedules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Folders {
    /// These only (`--folder`, or the folder of `--config`).
    Only(Vec<String>),
    /// Every embedded folder recorded in the state, looked up again at each reload,
    /// so a folder applied for the first time is scheduled without a restart.
    Recorded,
}

pub struct Options {
    pub state: PathBuf,
    /// The folder holding the registries (`registry/FOLDER.json`).
    pub registry_dir: PathBuf,
    pub folders: Folders,
    /// The orc executable to start runs with.
    pub orc: PathBuf,
    /// At most this many runs at once; `None`: `max_concurrent` as last applied.
    pub max_concurrent: Option<usize>,
    /// How long running tasks get to finish after a stop.
    pub grace: Duration,
}

/// A channel for the daemon, with SIGTERM and Ctrl-C sending `Wake::Stop`.
pub fn channel_with_signals() -> Result<(Sender<Wake>, Receiver<Wake>)> {
    let (tx, rx) = mpsc::channel();
    let on_signal = tx.clone();
    ctrlc::set_handler(move || {
        let _ = on_signal.send(Wake::Stop);
    })
    .map_err(DaemonError::Signals)?;
    Ok((tx, rx))
}

/// A task the daemon schedules, and when it fires next.
struct Scheduled {
    task: Task,
    tz: TimeZone,
    next: Option<Timestamp>,
    /// When it was applied (the start of its fire history).
    applied_at: String,
}

impl Scheduled {
    fn fire_after(&self, after: Timestamp) -> Option<Timestamp> {
        let next = self
            .task
            .schedule
            .as_ref()?
            .next_after(&self.tz, after)?
            .timestamp();
        // Past `expires` the task fires no more.
        (!self.task.expired(next)).then_some(next)
    }
}

/// A scheduled task's key: its folder and name (names repeat across folders).
type Key = (String, String);

/// A run to start at `at` (its fire time plus any jitter).
struct Launch {
    folder: String,
    name: String,
    due: Timestamp,
    trigger: Trigger,
    at: Timestamp,
}

/// Schedule until `Wake::Stop` arrives on `wake`.
pub fn run(
    opts: &Options,
    sender: Sender<Wake>,
    wake: Receiver<Wake>,
    on_event: &dyn Fn(Event),
) -> Result<()> {
    let _watcher = watch(&opts.registry_dir, sender.clone())?;
    let state = State::open(&opts.state)?;
    if let Err(e) = crate::retention::maybe_enforce(&state) {
        tracing::warn!("retention failed: {e:#}");
    }
    let host = crate::host::host_name();
    let started = Timestamp::now();
    let (tasks, folders, unrecorded) = load(opts, &state, started)?;
    // Apply writes the registry before it records the tasks in the state: a reload in
    // between finds entries without a record. Until they have one (or a while has
    // passed: an apply that died there), the registries are read again shortly.
    let recheck_until = (unrecorded > 0).then(|| Instant::now() + RECHECK_FOR);
    on_event(Event::Loaded {
        tasks: tasks.len(),
        folders,
    });
    // Fires missed while the daemon was down: recorded, and caught up where asked.
    // (No missed-run check here: `recover` is the daemon's own, and a check now would
    // race the catch-up runs it starts. Each run the daemon starts checks.)
    let waiting = recover(&state, &tasks, started, &host, on_event)?;
    let mut daemon = Daemon {
        opts,
        state: &state,
        host: &host,
        sender,
        on_event,
        tasks,
        waiting,
        queue: VecDeque::new(),
        running: BTreeMap::new(),
        recheck_until,
    };
    loop {
        // Each wake (an `orc run` ended, even killed; a reload; a fire) first records
        // runs whose orc is gone as interrupted.
        crate::exec::recover_abandoned(&state, &host);
        let now = Timestamp::now();
        daemon.due(now);
        daemon.launch();
        // Every fire up to `now` has been handled (queued or recorded missed).
        if daemon.wait(&wake, now).is_break() {
            break;
        }
    }
    stop(opts, daemon.running, &wake, on_event);
    Ok(())
}

/// The scheduler between its start and a stop: the tasks it schedules, the runs
/// due and not yet started, and the runs under way.
struct Daemon<'a> {
    opts: &'a Options,
    state: &'a State,
    host: &'a str,
    /// Handed to each run's watcher thread, which sends `Wake::Finished`.
    sender: Sender<Wake>,
    on_event: &'a dyn Fn(Event),
    tasks: BTreeMap<Key, Scheduled>,
    /// Due runs waiting for their jitter (`at` in the future).
    waiting: Vec<Launch>,
    /// Runs to start, oldest first, as slots free up.
    queue: VecDeque<Launch>,
    /// The `orc run` children under way: their pid and task.
    running: BTreeMap<u32, String>,
    /// Until then, the registries are read again shortly (see [`run`]).
    recheck_until: Option<Instant>,
}

impl Daemon<'_> {
    /// Which tasks are due at `now`: each fire that has come is put to wait for its
    /// jitter, its next fire computed (fires slept through are recorded missed), and
    /// the runs whose time has come are queued.
    fn due(&mut self, now: Timestamp) {
        let mut woke_for: Option<(usize, Timestamp)> = None;
        for ((folder, name), s) in self.tasks.iter_mut() {
            let Some(due) = s.next.filter(|due| *due <= now) else {
                continue;
            };
            let (count, earliest) = woke_for.get_or_insert((0, due));
            *count += 1;
            *earliest = (*earliest).min(due);
            // Usually the following fire is in the future; if not, the machine slept
            // (or the daemon stalled) through it: fire once, record the rest.
            let following = s.fire_after(due);
            s.next = match following {
                Some(f) if f <= now => {
                    let missed = count_fires(s, f, now);
                    report_missed(
                        self.state,
                        (folder, name),
                        &missed,
                        self.host,
                        self.on_event,
                    );
                    s.fire_after(now)
                }
                other => other,
            };
            let at = s
                .task
                .jitter
                .and_then(|j| due.checked_add(crate::exec::jitter_delay(j)).ok())
                .unwrap_or(due);
            self.waiting.push(Launch {
                folder: folder.clone(),
                name: name.clone(),
                due,
                trigger: Trigger::Scheduled,
                at,
            });
        }
        if let Some((count, earliest)) = woke_for {
            // The scheduler's own precision: how late it woke for the fire time.
            tracing::debug!(
                "woke for {count} due task(s) {} ms after {earliest}",
                now.duration_since(earliest).as_millis()
            );
        }
        self.waiting.sort_by_key(|l| std::cmp::Reverse(l.at));
        while self.waiting.last().is_some_and(|l| l.at <= now) {
            self.queue.extend(self.waiting.pop());
        }
    }

    /// At most this many runs at once.
    fn limit(&self) -> usize {
        match self.opts.max_concurrent {
            Some(n) => n,
            // A busy or unreadable state must not stop the scheduler: use the default.
            None => self.state.runtime_settings(None).map_or_else(
                |e| {
                    tracing::warn!("cannot read the runtime settings: {e:#}");
                    crate::config::RuntimeSettings::default().max_concurrent as usize
                },
                |s| s.max_concurrent as usize,
            ),
        }
    }

    /// Start queued runs while there are free slots. Each is an `orc run` child
    /// process, not a thread of the daemon: isolation, so a run that crashes or hangs
    /// takes only itself down (see [`spawn`]).
    fn launch(&mut self) {
        let limit = self.limit();
        while self.running.len() < limit.max(1) {
            let Some(launch) = self.queue.pop_front() else {
                break;
            };
            match spawn(self.opts, &launch, self.sender.clone()) {
                Ok(pid) => {
                    // How late the start is against the fire time (jitter included).
                    tracing::debug!(
                        "fired {} due {} ({} ms late)",
                        launch.name,
                        launch.due,
                        Timestamp::now().duration_since(launch.due).as_millis()
                    );
                    (self.on_event)(Event::Started {
                        task: launch.name.clone(),
                        due: launch.due,
                        trigger: launch.trigger,
                    });
                    self.running.insert(pid, launch.name);
                }
                Err(e) => {
                    tracing::error!("cannot start a run of {}: {e:#}", launch.name);
                    eprintln!("orc daemon: cannot start a run of {}: {e:#}", launch.name);
                }
            }
        }
    }

    /// Sleep until the next fire or jitter ends, or something wakes the scheduler,
    /// and handle that: a reload, or a finished run reaped. Every fire up to
    /// `handled_until` has been handled. Breaks on a stop.
    fn wait(&mut self, wake: &Receiver<Wake>, handled_until: Timestamp) -> ControlFlow<()> {
        let earliest = self
            .tasks
            .values()
            .filter_map(|s| s.next)
            .chain(self.waiting.iter().map(|l| l.at))
            .min();
        let until_next = earliest.map(|next| {
            Duration::try_from(next.duration_since(Timestamp::now())).unwrap_or_default()
        });
        let rechecking = self.recheck_until.filter(|until| Instant::now() < *until);
        let woke = match (until_next, rechecking) {
            (next, Some(_)) => {
                wake.recv_timeout(next.map_or(RECHECK_EVERY, |n| n.min(RECHECK_EVERY)))
            }
            (Some(next), None) => wake.recv_timeout(next),
            (None, None) => wake.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        let recheck = rechecking.is_some() && matches!(woke, Err(RecvTimeoutError::Timeout));
        match woke {
            Ok(Wake::Reload) | Err(RecvTimeoutError::Timeout) if recheck || woke.is_ok() => {
                self.reload(handled_until, recheck);
            }
            Ok(Wake::Finished { pid, task, code }) => self.reap(pid, task, code),
            Ok(Wake::Stop) | Err(RecvTimeoutError::Disconnected) => return ControlFlow::Break(()),
            Ok(Wake::Reload) | Err(RecvTimeoutError::Timeout) => {}
        }
        ControlFlow::Continue(())
    }

    /// Read the registries again; next fires are computed from `handled_until`, not
    /// from now, so a fire that fell due while they were read is not lost.
    /// `recheck`: a reread while apply's records are awaited, not an apply's wake.
    fn reload(&mut self, handled_until: Timestamp, recheck: bool) {
        // On a failed reload the tasks loaded before stay scheduled.
        let before: Vec<Key> = self.tasks.keys().cloned().collect();
        let folders = match load(self.opts, self.state, handled_until) {
            Ok((loaded, folders, unrecorded)) => {
                self.tasks = loaded;
                self.recheck_until = match (unrecorded, self.recheck_until) {
                    (0, _) => None,
                    // A recheck keeps the deadline of the change it follows.
                    (_, Some(until)) if recheck => Some(until),
                    _ => Some(Instant::now() + RECHECK_FOR),
                };
                folders
            }
            Err(e) => {
                tracing::error!("cannot reload the tasks: {e:#}");
                eprintln!("orc daemon: cannot reload the tasks: {e:#}");
                return;
            }
        };
        // Runs waiting for their jitter or a free slot belong to tasks that may
        // have just been removed or disabled.
        let tasks = &self.tasks;
        let scheduled = |l: &Launch| tasks.contains_key(&(l.folder.clone(), l.name.clone()));
        self.waiting.retain(scheduled);
        self.queue.retain(scheduled);
        if !recheck || self.tasks.keys().ne(before.iter()) {
            (self.on_event)(Event::Loaded {
                tasks: self.tasks.len(),
                folders,
            });
        }
    }

    /// A run's `orc run` ended: its slot is free.
    fn reap(&mut self, pid: u32, task: String, code: Option<i32>) {
        self.running.remove(&pid);
        (self.on_event)(Event::Finished { task, code });
    }
}

/// Fire times in `[from, until]`. Counting stops at a bound (a daemon down for a
/// year with a task that fires every minute must not spend its start counting); the
/// last two are found all the same.
#[derive(Default)]
struct Fires {
    count: u64,
    /// `count` is a lower bound.
    capped: bool,
    first: Option<Timestamp>,
    before_last: Option<Timestamp>,
    last: Option<Timestamp>,
}

const COUNT_LIMIT: u64 = 100_000;

fn count_fires(s: &Scheduled, from: Timestamp, until: Timestamp) -> Fires {
    let mut fires = Fires::default();
    let mut at = from.checked_sub(jiff::SignedDuration::from_nanos(1)).ok();
    while let Some(next) = at.and_then(|a| s.fire_after(a)).filter(|n| *n <= until) {
        if !fires.capped {
            fires.count += 1;
        }
        fires.first.get_or_insert(next);
        fires.before_last = fires.last.replace(next);
        at = Some(next);
        if fires.count >= COUNT_LIMIT && !fires.capped {
            // Skip to the last two days: no schedule fires more than once a minute.
            fires.capped = true;
            let near_end = until.checked_sub(jiff::SignedDuration::from_hours(48)).ok();
            at = at.max(near_end);
        }
    }
    fires
}

/// Record missed fires in the history (one row), log and report them.
fn report_missed(
    state: &State,
    (folder, name): (&str, &str),
    fires: &Fires,
    host: &str,
    on_event: &dyn Fn(Event),
) {
    let (Some(first), Some(last)) = (fires.first, fires.last) else {
        return;
    };
    let count = if fires.capped {
        format!("at least {}", fires.count)
    } else {
        fires.count.to_string()
    };
    let reason = format!(
        "missed {count} scheduled run(s) from {} to {}: the scheduler was not running",
        crate::state::timestamp(first),
        crate::state::timestamp(last)
    );
    tracing::warn!("{name}: {reason}");
    if let Err(e) = state.record_missed(
        (folder, name),
        &crate::state::timestamp(last),
        &reason,
        host,
    ) {
        tracing::error!("cannot record the missed runs of {name}: {e:#}");
    }
    on_event(Event::Missed {
        task: name.to_string(),
        count: fires.count,
        first,
        last,
    });
}

/// On start: fire times since each task's last scheduled run (or its apply) are
/// missed. The latest one is caught up when it lies within the task's `catch_up`;
/// the rest are recorded as missed.
fn recover(
    state: &State,
    tasks: &BTreeMap<Key, Scheduled>,
    now: Timestamp,
    host: &str,
    on_event: &dyn Fn(Event),
) -> Result<Vec<Launch>> {
    let last_fires = state.last_fires()?;
    let mut launches = Vec::new();
    for (key @ (folder, name), s) in tasks {
        let since = [last_fires.get(key), Some(&s.applied_at)]
            .into_iter()
            .flatten()
            .filter_map(|t| t.parse::<Timestamp>().ok())
            .max();
        let Some(since) = since else { continue };
        let Some(from) = s.fire_after(since) else {
            continue;
        };
        let mut missed = count_fires(s, from, now);
        let Some(latest) = missed.last else { continue };
        let catch_up = s.task.catch_up.is_some_and(|window| {
            jiff::SignedDuration::try_from(window).is_ok_and(|w| now.duration_since(latest) <= w)
        });
        if catch_up {
            launches.push(Launch {
                folder: folder.clone(),
                name: name.clone(),
                due: latest,
                trigger: Trigger::CatchUp,
                at: now,
            });
            missed.count -= 1;
            missed.last = missed.before_last;
            if missed.count == 0 && !missed.capped {
                missed.first = None;
                missed.last = None;
            }
        }
        report_missed(state, (folder, name), &missed, host, on_event);
    }
    Ok(launches)
}

/// Give running tasks the grace period, then ask their `orc run` to stop.
fn stop(
    opts: &Options,
    mut running: BTreeMap<u32, String>,
    wake: &Receiver<Wake>,
    on_event: &dyn Fn(Event),
) {
    on_event(Event::Stopping {
        running: running.len(),
    });
    let deadline = Instant::now() + opts.grace;
    let mut asked = false;
    while !running.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() && !asked {
            for pid in running.keys() {
                terminate(*pid);
            }
            asked = true;
        }
        let wait = if asked { Duration::from_secs(10) } else { left };
        match wake.recv_timeout(wait) {
            Ok(Wake::Finished { pid, task, code }) => {
                running.remove(&pid);
                on_event(Event::Finished { task, code });
            }
            Ok(_) => {}
            Err(_) if asked => break,
            Err(_) => {}
        }
    }
}

#[cfg(unix)]
fn terminate(pid: u32) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: signals one child process we started; ESRCH (already gone) is fine.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
}

#[cfg(not(unix))]
fn terminate(pid: u32) {
    let _ = Command::new("taskkill")
        .args(["/T", "/PID", &pid.to_string()])
        .output();
}

/// Start `orc run NAME` and a thread that reports when it ends.
///
/// A child process, not `ops` in a thread, on purpose (the one place orc starts
/// itself): a task's run holds its own lock, environment, secrets in memory and
/// process group, and a run that crashes, leaks or is killed by the OOM killer takes
/// only itself down, never the scheduler or the other runs.
fn spawn(opts: &Options, launch: &Launch, sender: Sender<Wake>) -> Result<u32> {
    let mut child = Command::new(&opts.orc)
        .args([
            "run",
            &launch.name,
            "--folder",
            &launch.folder,
            "--backend",
            "embedded",
            "--quiet",
            "--trigger",
            launch.trigger.as_str(),
        ])
        .arg("--scheduled-for")
        .arg(crate::state::timestamp(launch.due))
        // The daemon already waited for the jitter.
        .arg("--no-jitter")
        .arg("--state")
        .arg(&opts.state)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|source| DaemonError::Spawn {
            orc: opts.orc.clone(),
            source,
        })?;
    let pid = child.id();
    let task = launch.name.clone();
    std::thread::spawn(move || {
        let code = child.wait().ok().and_then(|s| s.code());
        let _ = sender.send(Wake::Finished { pid, task, code });
    });
    Ok(pid)
}

/// The folders to schedule now.
pub fn folders(opts: &Options, state: &State) -> Result<Vec<String>> {
    Ok(match &opts.folders {
        Folders::Only(folders) => folders.clone(),
        Folders::Recorded => state
            .scopes()?
            .into_iter()
            .filter(|s| s.backend == "embedded")
            .map(|s| s.folder)
            .collect(),
    })
}

/// How long registry entries without a record in the state are looked for again after
/// a registry change, and how often.
const RECHECK_FOR: Duration = Duration::from_secs(60);
const RECHECK_EVERY: Duration = Duration::from_millis(200);

/// The enabled, scheduled tasks of every folder's registry, with their definitions
/// from the state, and when each fires next after `after`; the folders read; and how
/// many registry entries have no record in the state (yet).
fn load(
    opts: &Options,
    state: &State,
    after: Timestamp,
) -> Result<(BTreeMap<Key, Scheduled>, Vec<String>, usize)> {
    let folders = folders(opts, state)?;
    // A folder applied for the first time has its registry before the state records
    // it: read every registry there is, so its entries count as not yet recorded.
    let mut read: std::collections::BTreeSet<String> = folders.iter().cloned().collect();
    if opts.folders == Folders::Recorded {
        read.extend(EmbeddedBackend::registry_folders(&opts.registry_dir));
    }
    let mut fires = BTreeMap::new();
    let mut unrecorded = 0;
    for folder in &read {
        let path = EmbeddedBackend::registry_path(&opts.registry_dir, folder);
        // One damaged or unreadable registry must not stop the other folders: it is
        // reported and skipped (apply writes it anew).
        let registry = match EmbeddedBackend::read_entries(&path) {
            Ok(Some(registry)) => registry,
            Ok(None) => continue,
            Err(e) => {
                tracing::error!(
                    "registry {}: {e}; its folder is not scheduled",
                    path.display()
                );
                eprintln!(
                    "orc daemon: the registry {} cannot be read ({e}); folder \"{folder}\" is not scheduled until `orc apply` writes it again",
                    path.display()
                );
                continue;
            }
        };
        for entry in registry
            .into_values()
            .filter(|e| e.enabled && e.trigger.is_some())
        {
            let Some(recorded) = state.find_task(&entry.name, Some(folder), Some("embedded"))?
            else {
                unrecorded += 1;
                continue;
            };
            // One task whose definition no longer reads (a time zone this machine's
            // tz database lacks) must not stop the others.
            let task = match Task::from_definition(&recorded.definition) {
                Ok(task) => task,
                Err(e) => {
                    tracing::error!("{folder}/{}: {e}; not scheduled", entry.name);
                    continue;
                }
            };
            let tz = task.timezone.tz().clone();
            let mut s = Scheduled {
                task,
                tz,
                next: None,
                applied_at: recorded.applied_at,
            };
            s.next = s.fire_after(after);
            fires.insert((folder.clone(), entry.name), s);
        }
    }
    // The folders said to be scheduled: those recorded when the load began, and any
    // whose tasks were found recorded while it read (an apply that committed in
    // between), so the message never leaves out a folder whose tasks it counts.
    let mut shown: std::collections::BTreeSet<String> = folders.into_iter().collect();
    shown.extend(fires.keys().map(|(folder, _)| folder.clone()));
    Ok((fires, shown.into_iter().collect(), unrecorded))
}

/// Wake the scheduler when a registry is written. Apply replaces one by renaming a
/// new file over it, so the folder is watched. Where the system will not watch (out
/// of inotify instances, a network file system), the folder is polled every second.
fn watch(dir: &Path, sender: Sender<Wake>) -> Result<Box<dyn Watcher>> {
    std::fs::create_dir_all(dir)?;
    let handler = move |event: notify::Result<notify::Event>| {
        // Reading a registry is an event too: only writes count.
        if let Ok(event) = event
            && !matches!(event.kind, notify::EventKind::Access(_))
            && event
                .paths
                .iter()
                .any(|p| p.extension().is_some_and(|e| e == "json"))
        {
            let _ = sender.send(Wake::Reload);
        }
    };
    let mut watcher: Box<dyn Watcher> = match notify::recommended_watcher(handler.clone()) {
        Ok(w) => Box::new(w),
        Err(e) => {
            tracing::warn!(
                "cannot watch {} ({e}); polling it every second",
                dir.display()
            );
            eprintln!(
                "orc daemon: cannot watch {} ({e}); checking it every second instead",
                dir.display()
            );
            let config = notify::Config::default().with_poll_interval(Duration::from_secs(1));
            Box::new(notify::PollWatcher::new(handler, config)?)
        }
    };
    watcher.watch(dir, notify::RecursiveMode::NonRecursive)?;
    Ok(watcher)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_minute() -> Scheduled {
        let task: Task = serde_json::from_value(serde_json::json!({
            "name": "t", "type": "data_job", "description": null,
            "action": {"argv": ["true"]}, "working_dir": "/", "schedule": "* * * * *",
            "timezone": "UTC", "timeout": null, "retry_count": 0, "retry_delay": 0,
            "dependencies": [], "enabled": true, "env": {}, "hosts": [], "notify": []
        }))
        .unwrap();
        Scheduled {
            task,
            tz: TimeZone::UTC,
            next: None,
            applied_at: String::new(),
        }
    }

    #[test]
    fn an_expired_task_fires_no_more() {
        let mut s = every_minute();
        s.task.expires = Some("2026-01-01T00:05:00".to_string());
        let at = |t: &str| t.parse::<Timestamp>().unwrap();
        assert_eq!(
            s.fire_after(at("2026-01-01T00:03:30Z")),
            Some(at("2026-01-01T00:04:00Z"))
        );
        assert_eq!(s.fire_after(at("2026-01-01T00:04:00Z")), None);
    }

    #[test]
    fn counts_fires_in_a_closed_range() {
        let s = every_minute();
        let from: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let until: Timestamp = "2026-01-01T00:10:00Z".parse().unwrap();
        let f = count_fires(&s, from, until);
        assert_eq!(f.count, 11);
        assert!(!f.capped);
        assert_eq!(f.first, Some(from));
        assert_eq!(f.last, Some(until));
        assert_eq!(f.before_last, "2026-01-01T00:09:00Z".parse().ok());
    }

    #[test]
    fn a_year_of_minutes_is_capped_but_ends_right() {
        let s = every_minute();
        let from: Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
        let until: Timestamp = "2026-01-01T00:00:30Z".parse().unwrap();
        let f = count_fires(&s, from, until);
        assert!(f.capped);
        assert_eq!(f.count, COUNT_LIMIT);
        assert_eq!(f.last, "2026-01-01T00:00:00Z".parse().ok());
        assert_eq!(f.before_last, "2025-12-31T23:59:00Z".parse().ok());
    }
}

/// Why the daemon could not start or go on.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("cannot install the signal handler")]
    Signals(#[source] ctrlc::Error),
    /// A task's `orc run` could not be started.
    #[error("cannot start {}", orc.display())]
    Spawn {
        orc: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Watch(#[from] notify::Error),
    #[error(transparent)]
    State(#[from] crate::state::StateError),
    #[error(transparent)]
    Backend(#[from] crate::backend::BackendError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

type Result<T, E = DaemonError> = std::result::Result<T, E>;
