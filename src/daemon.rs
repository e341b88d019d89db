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
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use jiff::Timestamp;
use notify::Watcher;

use crate::backend::Entry;
use crate::config::Task;
use crate::schedule::resolve_zone;
use crate::state::State;

/// What wakes the scheduler.
pub enum Wake {
    /// The registry changed: an apply happened.
    Reload,
    /// A run's process ended.
    Finished { task: String, code: Option<i32> },
    /// SIGTERM or Ctrl-C.
    Stop,
}

/// What the daemon does, as it does it (`orc up` prints these).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Loaded { tasks: usize },
    Started { task: String, due: Timestamp },
    Finished { task: String, code: Option<i32> },
    Stopping { running: usize },
}

pub struct Options {
    pub state: PathBuf,
    pub registry: PathBuf,
    /// The orc executable to start runs with.
    pub orc: PathBuf,
    pub max_concurrent: usize,
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
    .context("cannot install the signal handler")?;
    Ok((tx, rx))
}

/// Schedule until `Wake::Stop` arrives on `wake`.
pub fn run(
    opts: &Options,
    sender: Sender<Wake>,
    wake: Receiver<Wake>,
    on_event: &dyn Fn(Event),
) -> Result<()> {
    let _watcher = watch(&opts.registry, sender.clone())?;
    let mut next_fires = load(opts, Timestamp::now())?;
    on_event(Event::Loaded {
        tasks: next_fires.len(),
    });
    let mut running: BTreeMap<String, u32> = BTreeMap::new();
    let mut queue: VecDeque<(String, Timestamp)> = VecDeque::new();
    loop {
        let now = Timestamp::now();
        for (name, (task, next)) in next_fires.iter_mut() {
            if let Some(due) = next.filter(|due| *due <= now) {
                // Fire once, even when the machine slept through several fire times.
                queue.push_back((name.clone(), due));
                *next = next_fire(task, now);
            }
        }
        while running.len() < opts.max_concurrent.max(1) {
            let Some((name, due)) = queue.pop_front() else {
                break;
            };
            match spawn(opts, &name, sender.clone()) {
                Ok(pid) => {
                    on_event(Event::Started {
                        task: name.clone(),
                        due,
                    });
                    running.insert(name, pid);
                }
                Err(e) => eprintln!("orc daemon: cannot start a run of {name}: {e:#}"),
            }
        }
        let earliest = next_fires.values().filter_map(|(_, next)| *next).min();
        let woke = match earliest {
            Some(next) => wake.recv_timeout(
                Duration::try_from(next.duration_since(Timestamp::now())).unwrap_or_default(),
            ),
            None => wake.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match woke {
            Ok(Wake::Reload) => {
                next_fires = load(opts, Timestamp::now())?;
                on_event(Event::Loaded {
                    tasks: next_fires.len(),
                });
            }
            Ok(Wake::Finished { task, code }) => {
                running.remove(&task);
                on_event(Event::Finished { task, code });
            }
            Ok(Wake::Stop) | Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {}
        }
    }
    stop(opts, running, &wake, on_event);
    Ok(())
}

/// Give running tasks the grace period, then ask their `orc run` to stop.
fn stop(
    opts: &Options,
    mut running: BTreeMap<String, u32>,
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
            for pid in running.values() {
                terminate(*pid);
            }
            asked = true;
        }
        let wait = if asked { Duration::from_secs(10) } else { left };
        match wake.recv_timeout(wait) {
            Ok(Wake::Finished { task, code }) => {
                running.remove(&task);
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
fn spawn(opts: &Options, name: &str, sender: Sender<Wake>) -> Result<u32> {
    let mut child = Command::new(&opts.orc)
        .args(["run", name, "--trigger", "scheduled", "--quiet", "--state"])
        .arg(&opts.state)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {}", opts.orc.display()))?;
    let pid = child.id();
    let task = name.to_string();
    std::thread::spawn(move || {
        let code = child.wait().ok().and_then(|s| s.code());
        let _ = sender.send(Wake::Finished { task, code });
    });
    Ok(pid)
}

fn next_fire(task: &Task, after: Timestamp) -> Option<Timestamp> {
    let tz = resolve_zone(&task.timezone).ok()?;
    Some(task.schedule.as_ref()?.next_after(&tz, after)?.timestamp())
}

/// The registry's enabled, scheduled tasks, with their definitions from the state,
/// and when each fires next.
fn load(opts: &Options, now: Timestamp) -> Result<BTreeMap<String, (Task, Option<Timestamp>)>> {
    #[derive(serde::Deserialize)]
    struct Registry {
        tasks: BTreeMap<String, Entry>,
    }
    let registry = match std::fs::read_to_string(&opts.registry) {
        Ok(text) => serde_json::from_str::<Registry>(&text)
            .with_context(|| format!("the registry {} is damaged", opts.registry.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Registry {
            tasks: BTreeMap::new(),
        },
        Err(e) => {
            return Err(e).with_context(|| format!("cannot read {}", opts.registry.display()));
        }
    };
    let state = State::open(&opts.state)?;
    let mut fires = BTreeMap::new();
    for entry in registry
        .tasks
        .into_values()
        .filter(|e| e.enabled && e.trigger.is_some())
    {
        let Some(recorded) = state.task(&entry.name)? else {
            continue;
        };
        let task = Task::from_definition(&recorded.definition)?;
        let next = next_fire(&task, now);
        fires.insert(entry.name, (task, next));
    }
    Ok(fires)
}

/// Wake the scheduler when the registry is written. Apply replaces it by renaming a
/// new file over it, so the folder is watched.
fn watch(registry: &Path, sender: Sender<Wake>) -> Result<notify::RecommendedWatcher> {
    let dir = registry.parent().unwrap_or(Path::new(".")).to_path_buf();
    std::fs::create_dir_all(&dir)?;
    let name = registry.file_name().map(|n| n.to_os_string());
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        // Reading the registry is an event too: only writes count.
        if let Ok(event) = event
            && !matches!(event.kind, notify::EventKind::Access(_))
            && event
                .paths
                .iter()
                .any(|p| p.file_name().map(|n| n.to_os_string()) == name)
        {
            let _ = sender.send(Wake::Reload);
        }
    })?;
    watcher.watch(&dir, notify::RecursiveMode::NonRecursive)?;
    Ok(watcher)
}
