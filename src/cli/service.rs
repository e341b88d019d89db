//! `orc service install | uninstall | status | start | stop`: `orc up` as a systemd
//! service, so the scheduler, the dashboard and the watcher outlive the terminal and
//! come back after a reboot.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};

use super::{Global, Output};
use crate::config::BackendKind;
use crate::service::{ServiceSpec, systemd_unit};

#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Install `orc up` of this config as a systemd service, started now and at boot
    #[command(
        after_help = "The unit runs `orc up --config C --state S` (the embedded \
scheduler, the dashboard and the watcher), restarts it 10 s after a failure, and re-applies \
the config on `systemctl reload`. It is a system unit in /etc/systemd/system (as root), or \
with --user one in ~/.config/systemd/user. When systemd runs this machine, orc reloads it \
and enables the unit; otherwise it says what to run.\n\nExamples:\n  sudo orc service install \
--config /etc/orc --state /var/lib/orc/state.db\n  orc service install --user"
    )]
    Install(InstallArgs),
    /// Stop and remove the service
    Uninstall(UnitArgs),
    /// Whether the service is installed and running
    Status(UnitArgs),
    /// Start the installed service
    Start(UnitArgs),
    /// Stop the service (it starts again at boot)
    Stop(UnitArgs),
}

#[derive(Debug, Args)]
pub struct UnitArgs {
    /// A user service (`systemctl --user`), running while your user manager does
    #[arg(long)]
    pub user: bool,
    /// The unit's name
    #[arg(long, default_value = "orc")]
    pub name: String,
}

#[derive(Debug, Args)]
pub struct InstallArgs {
    #[command(flatten)]
    pub unit: UnitArgs,
    /// The account a system service runs as (default root)
    #[arg(long)]
    pub account: Option<String>,
}

/// Where the unit goes, and whether orc drives systemd for it.
struct Place {
    file: PathBuf,
    /// systemd runs here and the unit is in its own folder: systemctl is called.
    live: bool,
    user: bool,
    unit: String,
}

impl Place {
    fn of(args: &UnitArgs) -> Result<Place> {
        if crate::config::check_name(&args.name).is_err() || args.name.contains('.') {
            bail!(
                "--name {:?}: a unit name is letters, digits, '-' and '_'",
                args.name
            );
        }
        let unit = format!("{}.service", args.name);
        // ORC_SYSTEMD_DIR puts the unit elsewhere (a package build, a test): then
        // systemd is never touched.
        let (dir, live) = match std::env::var_os("ORC_SYSTEMD_DIR") {
            Some(dir) => (PathBuf::from(dir), false),
            None => (default_dir(args.user)?, systemd_runs()),
        };
        Ok(Place {
            file: dir.join(&unit),
            live,
            user: args.user,
            unit,
        })
    }

    /// `systemctl [--user] ARGS`, failing with what it said.
    fn systemctl(&self, args: &[&str]) -> Result<String> {
        let mut command = Command::new("systemctl");
        if self.user {
            command.arg("--user");
        }
        let out = command
            .args(args)
            .output()
            .context("cannot run systemctl")?;
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if !out.status.success() {
            bail!("systemctl {}: {}", args.join(" "), said.trim());
        }
        Ok(said.trim().to_string())
    }

    /// The commands to run by hand where orc does not drive systemd.
    fn by_hand(&self, verbs: &[&str]) -> String {
        let user = if self.user { " --user" } else { "" };
        verbs
            .iter()
            .map(|v| format!("  systemctl{user} {v}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// systemd's own test that it runs this machine (sd_booted).
fn systemd_runs() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

fn default_dir(user: bool) -> Result<PathBuf> {
    if !user {
        return Ok(PathBuf::from("/etc/systemd/system"));
    }
    if let Some(config) = std::env::var_os("XDG_CONFIG_HOME").filter(|c| !c.is_empty()) {
        return Ok(PathBuf::from(config).join("systemd/user"));
    }
    match std::env::var_os("HOME") {
        Some(home) => Ok(PathBuf::from(home).join(".config/systemd/user")),
        None => bail!("no HOME: cannot tell where user units go"),
    }
}

pub fn run(cmd: ServiceCommand, global: &Global, out: &Output) -> Result<ExitCode> {
    if !cfg!(target_os = "linux") {
        bail!(
            "orc service installs a systemd service, on Linux; on this system run `orc up` from its own service manager"
        );
    }
    match cmd {
        ServiceCommand::Install(args) => install(&args, global, out),
        ServiceCommand::Uninstall(args) => uninstall(&args, out),
        ServiceCommand::Status(args) => status(&args, out),
        ServiceCommand::Start(args) => start_or_stop(&args, "start", out),
        ServiceCommand::Stop(args) => start_or_stop(&args, "stop", out),
    }
}

fn start_or_stop(args: &UnitArgs, verb: &str, out: &Output) -> Result<ExitCode> {
    let place = Place::of(args)?;
    if !place.file.exists() {
        bail!(
            "{} is not installed ({}): `orc service install` first",
            place.unit,
            place.file.display()
        );
    }
    if !place.live {
        bail!(
            "systemd does not run here (or the unit is in ORC_SYSTEMD_DIR): nothing can {verb} it"
        );
    }
    place.systemctl(&[verb, &place.unit])?;
    out.info(&format!(
        "{} {}.",
        if verb == "start" {
            "Started"
        } else {
            "Stopped"
        },
        place.unit
    ));
    Ok(ExitCode::SUCCESS)
}

#[cfg(unix)]
fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

#[cfg(not(unix))]
fn is_root() -> bool {
    false
}

fn install(args: &InstallArgs, global: &Global, out: &Output) -> Result<ExitCode> {
    let place = Place::of(&args.unit)?;
    let config = std::path::absolute(global.config_path())?;
    let loaded = match crate::config::load(&config) {
        Ok(loaded) => loaded,
        Err(diags) => {
            super::validate::print_diagnostics(&diags.0, out);
            bail!("{} does not load: nothing was installed", config.display());
        }
    };
    // `orc up` schedules with orc's own scheduler: a config for cron or Task
    // Scheduler would have its tasks moved there.
    let backend = crate::workspace::resolve_backend(global.backend, loaded.config.settings.backend);
    if backend != BackendKind::Embedded {
        bail!(
            "the service runs `orc up`, which schedules with orc's embedded scheduler, but {} uses the {} backend, whose own scheduler runs the tasks; nothing was installed",
            config.display(),
            crate::workspace::backend_name(backend)
        );
    }
    if !place.user && place.live && !is_root() {
        bail!(
            "installing a system service needs root: run it with sudo, or install a user service with --user"
        );
    }
    let spec = ServiceSpec {
        name: args.unit.name.clone(),
        orc: std::env::current_exe()
            .and_then(std::fs::canonicalize)
            .context("cannot find orc's own executable")?,
        config: config.clone(),
        state: std::path::absolute(crate::workspace::state_path(global.state.as_deref()))?,
        user: place.user,
        account: args.account.clone(),
    };
    if let Some(dir) = place.file.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(&place.file, systemd_unit(&spec))
        .with_context(|| format!("cannot write {}", place.file.display()))?;
    out.info(&format!("Wrote {}.", place.file.display()));
    if place.live {
        place.systemctl(&["daemon-reload"])?;
        place.systemctl(&["enable", "--now", &place.unit])?;
        out.info(&format!(
            "Enabled and started {}: `orc service status` says how it runs.",
            place.unit
        ));
    } else {
        out.info(&format!(
            "systemd does not run here (or the unit went to ORC_SYSTEMD_DIR): to start it where it does, run\n{}",
            place.by_hand(&["daemon-reload", &format!("enable --now {}", place.unit)])
        ));
    }
    Ok(ExitCode::SUCCESS)
}

fn uninstall(args: &UnitArgs, out: &Output) -> Result<ExitCode> {
    let place = Place::of(args)?;
    if !place.file.exists() {
        out.info(&format!("{} is not installed.", place.file.display()));
        return Ok(ExitCode::SUCCESS);
    }
    if place.live {
        // Already stopped or never loaded is fine: the file goes either way.
        if let Err(e) = place.systemctl(&["disable", "--now", &place.unit]) {
            tracing::warn!("{e:#}");
        }
    }
    std::fs::remove_file(&place.file)
        .with_context(|| format!("cannot remove {}", place.file.display()))?;
    if place.live {
        place.systemctl(&["daemon-reload"])?;
    }
    out.info(&format!("Removed {}.", place.file.display()));
    Ok(ExitCode::SUCCESS)
}

/// What `orc service status` and `orc doctor` say of a unit.
pub(crate) struct Probe {
    pub unit: String,
    pub file: PathBuf,
    pub installed: bool,
    /// systemctl is-active's word; none where systemd does not run.
    pub active: Option<String>,
}

pub(crate) fn probe(args: &UnitArgs) -> Result<Probe> {
    let place = Place::of(args)?;
    let installed = place.file.exists();
    // is-active answers "inactive" (and fails) for a stopped unit: its word is wanted.
    let active = (place.live && installed).then(|| {
        let mut command = Command::new("systemctl");
        if place.user {
            command.arg("--user");
        }
        command
            .args(["is-active", &place.unit])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_else(|e| format!("unknown ({e})"))
    });
    Ok(Probe {
        unit: place.unit,
        file: place.file,
        installed,
        active,
    })
}

fn status(args: &UnitArgs, out: &Output) -> Result<ExitCode> {
    let p = probe(args)?;
    if out.json {
        out.print_json(&serde_json::json!({
            "unit": p.file,
            "installed": p.installed,
            "active": p.active,
        }));
    } else if p.installed {
        let running = match &p.active {
            Some(word) => format!("systemd says it is {word}"),
            None => "systemd does not run here, so it is not running".to_string(),
        };
        println!("{} is installed ({}); {running}.", p.unit, p.file.display());
    } else {
        println!("{} is not installed ({}).", p.unit, p.file.display());
    }
    Ok(ExitCode::SUCCESS)
}
