//! `orc daemon` (the embedded scheduler) and `orc up` (apply, then schedule, in the
//! foreground: the quickest way to see orc work).

use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;

use super::{Global, Output};
use crate::backend::embedded::EmbeddedBackend;
use crate::daemon::{self, Event, Wake};
use crate::exec::Trigger;
use crate::workspace::state_path;
use std::sync::mpsc::{Receiver, Sender};

#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// Schedule only this folder (settings.folder); default: the folder of --config
    /// when given, else every embedded folder applied to the state
    #[arg(long, value_name = "FOLDER")]
    pub folder: Option<String>,
    /// At most this many runs at once (default: settings.max_concurrent as applied, 8)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent: Option<u32>,
    /// On stop, how long running tasks get to finish (e.g. "30s")
    #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = crate::config::parse_duration)]
    pub grace: std::time::Duration,
}

fn options(global: &Global, args: &DaemonArgs) -> anyhow::Result<daemon::Options> {
    let state = state_path(global.state.as_deref());
    let orc = std::env::current_exe().context("cannot find orc's own executable")?;
    let folders = match (&args.folder, &global.config) {
        (Some(folder), _) => daemon::Folders::Only(vec![folder.clone()]),
        (None, Some(config)) => {
            let loaded = crate::config::load(config).map_err(|d| {
                anyhow::anyhow!(
                    "{} does not load, so its folder is unknown:\n{d}",
                    config.display()
                )
            })?;
            daemon::Folders::Only(vec![loaded.config.settings.folder])
        }
        (None, None) => daemon::Folders::Recorded,
    };
    let grace = args.grace;
    Ok(daemon::Options {
        registry_dir: registry_dir(&state),
        state,
        folders,
        orc,
        max_concurrent: args.max_concurrent.map(|n| n as usize),
        grace,
    })
}

/// Where the embedded backend keeps the registries of a state's folders.
fn registry_dir(state: &std::path::Path) -> std::path::PathBuf {
    EmbeddedBackend::registry_dir(state.parent().unwrap_or(std::path::Path::new(".")))
}

/// How a run's exit code reads in the daemon's own output.
fn outcome(code: Option<i32>) -> String {
    match code {
        Some(0) => "success".to_string(),
        Some(crate::exec::EXIT_TIMEOUT) => "timeout".to_string(),
        Some(crate::exec::EXIT_SKIPPED) => "skipped".to_string(),
        Some(crate::exec::EXIT_INTERRUPTED) => "interrupted".to_string(),
        Some(code) => format!("failed (exit code {code})"),
        None => "killed".to_string(),
    }
}

fn print_event(out: &Output, event: Event) {
    let clock = jiff::ZonedDateTime::now().strftime("%H:%M:%S").to_string();
    let text = match event {
        Event::Loaded { tasks, folders } => {
            let list = folders
                .iter()
                .map(|f| format!("\"{f}\""))
                .collect::<Vec<_>>()
                .join(", ");
            let mut line = format!(
                "{tasks} scheduled task{} loaded (folder{} {})",
                if tasks == 1 { "" } else { "s" },
                if folders.len() == 1 { "" } else { "s" },
                if list.is_empty() { "none" } else { &list }
            );
            if tasks == 0 {
                line.push_str(
                    "; warning: nothing to schedule: apply a config to the embedded backend of this state, or check --folder and --state",
                );
                eprintln!("orc daemon: warning: no scheduled task in folder(s) {list}");
            }
            line
        }
        Event::Started {
            task,
            trigger: Trigger::CatchUp,
            due,
        } => format!(
            "started {task} to catch up the run due at {}",
            due.strftime("%Y-%m-%d %H:%M:%S UTC")
        ),
        Event::Started { task, .. } => format!("started {task}"),
        Event::Finished { task, code } => format!("finished {task}: {}", outcome(code)),
        Event::Missed { task, count, .. } => format!(
            "{task} missed {count} scheduled run(s) while the scheduler was not running (see orc history {task})"
        ),
        Event::Stopping { running } => format!("stopping; waiting for {running} running task(s)"),
    };
    tracing::info!("{text}");
    out.info(&format!("{clock} {text}"));
}

pub fn run_daemon(args: DaemonArgs, global: &Global, out: &Output) -> anyhow::Result<ExitCode> {
    let (sender, wake) = daemon::channel_with_signals()?;
    schedule(args, global, out, sender, wake)
}

/// The embedded scheduler until `Wake::Stop` arrives on `wake`.
fn schedule(
    args: DaemonArgs,
    global: &Global,
    out: &Output,
    sender: Sender<Wake>,
    wake: Receiver<Wake>,
) -> anyhow::Result<ExitCode> {
    let opts = options(global, &args)?;
    if !opts.state.exists() {
        bail!(
            "no state database at {}; run `orc apply` first",
            opts.state.display()
        );
    }
    let _log = crate::orclog::init(&opts.state, "daemon");
    ship_in_background(&opts.state);
    let which = match &opts.folders {
        daemon::Folders::Only(f) => format!("folder \"{}\"", f.join("\", \"")),
        daemon::Folders::Recorded => {
            "every embedded folder applied to the state, as applies add them".to_string()
        }
    };
    out.info(&format!(
        "orc daemon: scheduling {which} from {} (Ctrl-C or SIGTERM stops it)",
        opts.registry_dir.display()
    ));
    daemon::run(&opts, sender, wake, &|e| print_event(out, e))?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub listen: super::serve::ListenArgs,
    /// Schedule only: no dashboard and API
    #[arg(long)]
    pub no_dashboard: bool,
    /// Do not apply edits of the config as they are saved
    #[arg(long)]
    pub no_watch: bool,
}

/// Apply the config to the embedded backend, then schedule it in the foreground,
/// with the dashboard beside it and every saved edit of the config applied.
pub fn run_up(up: UpArgs, global: &Global, out: &Output) -> anyhow::Result<ExitCode> {
    let global = Global {
        backend: Some(crate::config::BackendKind::Embedded),
        ..global.clone()
    };
    let (sender, wake) = daemon::channel_with_signals()?;
    run_parts(&up, &global, out, sender, wake)
}

/// `orc up`'s parts that fit the config's backend, until `Wake::Stop` arrives on
/// `wake`: apply, then the dashboard and the watcher, and the embedded scheduler
/// where orc schedules; with cron or Task Scheduler their own scheduler runs the
/// tasks. The OS service (`orc service run`) runs this.
pub fn run_parts(
    up: &UpArgs,
    global: &Global,
    out: &Output,
    sender: Sender<Wake>,
    wake: Receiver<Wake>,
) -> anyhow::Result<ExitCode> {
    // Watching starts before the apply, so an edit saved meanwhile is not missed.
    let watcher = if up.no_watch {
        None
    } else {
        Some(super::watch::prepare(global)?)
    };
    let applied = super::apply::run_approved(global, out, std::time::Duration::from_secs(30))?;
    if applied != ExitCode::SUCCESS {
        return Ok(applied);
    }
    let loaded = crate::config::load(&global.config_path()).ok();
    if !up.no_dashboard {
        super::serve::spawn(&up.listen, global, out)?;
    }
    if let Some(watcher) = watcher {
        watcher.start(out)?;
    }
    let backend = crate::workspace::resolve_backend(
        global.backend,
        loaded
            .as_ref()
            .map_or(crate::config::BackendKind::Auto, |l| {
                l.config.settings.backend
            }),
    );
    if backend != crate::config::BackendKind::Embedded {
        out.info(&format!(
            "The {} backend runs the tasks; orc keeps the dashboard and the watcher until it is stopped.",
            crate::workspace::backend_name(backend)
        ));
        ship_in_background(&crate::workspace::state_path(global.state.as_deref()));
        // Only a stop ends this; runs' ends and reloads are the embedded scheduler's.
        while let Ok(wake) = wake.recv() {
            if matches!(wake, Wake::Stop) {
                break;
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let args = DaemonArgs {
        folder: Some(loaded.map_or_else(|| "Orc".to_string(), |l| l.config.settings.folder)),
        max_concurrent: None,
        grace: std::time::Duration::from_secs(30),
    };
    schedule(args, global, out, sender, wake)
}

/// With `[fleet]` applied, send the runs the outbox queues to the fleet database,
/// every few seconds, for as long as this process runs (a check of the state's
/// settings otherwise).
fn ship_in_background(state: &std::path::Path) {
    let state = state.to_path_buf();
    let spawned = std::thread::Builder::new()
        .name("fleet".to_string())
        .spawn(move || {
            loop {
                // It runs for as long as the process does; should it panic (a bug),
                // it starts again, so that the heartbeat and the shipping of runs do
                // not stop for good while the scheduler goes on.
                let state = state.clone();
                let failed = std::panic::catch_unwind(move || {
                    crate::ops::fleet::keep_shipping(
                        state,
                        crate::host::host_name(),
                        std::time::Duration::from_secs(5),
                    )
                });
                if failed.is_err() {
                    tracing::error!("fleet: the shipping thread failed; starting it again");
                }
                std::thread::sleep(std::time::Duration::from_secs(5));
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("fleet: cannot start shipping runs: {e}");
    }
}
