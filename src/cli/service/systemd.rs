//! systemd: the unit in /etc/systemd/system (or ~/.config/systemd/user), driven with
//! systemctl where systemd runs this machine.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use super::{Manager, Probe, UnitArgs};
use crate::cli::Output;
use crate::service::{ServiceSpec, systemd::unit};

/// Where the unit goes, and whether orc drives systemd for it.
pub(super) struct Place {
    file: PathBuf,
    /// systemd runs here and the unit is in its own folder: systemctl is called.
    live: bool,
    user: bool,
    unit: String,
}

impl Place {
    pub(super) fn of(args: &UnitArgs) -> Result<Place> {
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

    fn command(&self) -> Command {
        let mut command = Command::new("systemctl");
        if self.user {
            command.arg("--user");
        }
        command
    }

    /// `systemctl [--user] ARGS`, failing with what it said.
    fn systemctl(&self, args: &[&str]) -> Result<String> {
        super::said(self.command(), "systemctl", args).map(|s| s.trim().to_string())
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

    fn start_or_stop(&self, verb: &str, out: &Output) -> Result<()> {
        if !self.file.exists() {
            bail!(
                "{} is not installed ({}): `orc service install` first",
                self.unit,
                self.file.display()
            );
        }
        if !self.live {
            bail!(
                "systemd does not run here (or the unit is in ORC_SYSTEMD_DIR): nothing can {verb} it"
            );
        }
        self.systemctl(&[verb, &self.unit])?;
        let done = if verb == "start" {
            "Started"
        } else {
            "Stopped"
        };
        out.info(&format!("{done} {}.", self.unit));
        Ok(())
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

/// The values the unit holds as they are (not quoted): systemd strips the spaces
/// around a value and reads a trailing backslash as "the value goes on below".
fn check_unit_values(spec: &ServiceSpec) -> Result<()> {
    let values = [
        (
            "the config's folder",
            spec.working_dir().display().to_string(),
        ),
        ("--config", spec.config.display().to_string()),
    ];
    for (what, value) in values {
        if value.trim() != value || value.ends_with('\\') {
            bail!(
                "{what} {value:?}: a systemd unit cannot hold a path that ends in a space or a backslash; nothing was installed"
            );
        }
    }
    // systemd takes the executable's name quoted but does not undo $$ or \\ in it.
    let orc = spec.orc.display().to_string();
    if let Some(c) = orc.chars().find(|c| "$%\"'\\".contains(*c)) {
        bail!(
            "orc's path {orc:?} holds {c:?}, which systemd cannot start an executable by: install orc where its path has none (/usr/local/bin/orc); nothing was installed"
        );
    }
    Ok(())
}

#[cfg(unix)]
pub(super) fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

#[cfg(not(unix))]
pub(super) fn is_root() -> bool {
    false
}

impl Manager for Place {
    fn install(
        &self,
        spec: &ServiceSpec,
        _password: Option<&str>,
        force: bool,
        out: &Output,
    ) -> Result<()> {
        if !self.user && self.live && !is_root() {
            bail!(
                "installing a system service needs root: run it with sudo, or install a user service with --user"
            );
        }
        super::check_ours(&self.file, force, "overwrite")?;
        check_unit_values(spec)?;
        super::write_service_file(&self.file, &unit(spec))?;
        out.info(&format!("Wrote {}.", self.file.display()));
        if self.live {
            self.systemctl(&["daemon-reload"])?;
            self.systemctl(&["enable", &self.unit])?;
            // restart, not start: a unit that ran before runs the new command line.
            self.systemctl(&["restart", &self.unit])?;
            out.info(&format!(
                "Enabled and started {}: `orc service status` says how it runs.",
                self.unit
            ));
        } else {
            out.info(&format!(
                "systemd does not run here (or the unit went to ORC_SYSTEMD_DIR): to start it where it does, copy it to {} and run\n{}",
                default_dir(self.user)?.display(),
                self.by_hand(&["daemon-reload", &format!("enable --now {}", self.unit)])
            ));
        }
        Ok(())
    }

    fn uninstall(&self, force: bool, out: &Output) -> Result<()> {
        if std::fs::symlink_metadata(&self.file).is_err() {
            out.info(&format!("{} is not installed.", self.file.display()));
            return Ok(());
        }
        super::check_ours(&self.file, force, "remove")?;
        if self.live {
            // Already stopped or never loaded is fine: the file goes either way.
            if let Err(e) = self.systemctl(&["disable", "--now", &self.unit]) {
                tracing::warn!("{e:#}");
            }
        }
        std::fs::remove_file(&self.file)
            .with_context(|| format!("cannot remove {}", self.file.display()))?;
        if self.live {
            self.systemctl(&["daemon-reload"])?;
        }
        out.info(&format!("Removed {}.", self.file.display()));
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "systemd"
    }

    fn probe(&self) -> Result<Probe> {
        // A link counts, even one that leads nowhere: the name is taken.
        let installed = std::fs::symlink_metadata(&self.file).is_ok();
        // is-active answers "inactive" (and fails) for a stopped unit: its word is wanted.
        let state = (self.live && installed).then(|| {
            self.command()
                .args(["is-active", &self.unit])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                .unwrap_or_else(|e| format!("unknown ({e})"))
        });
        let user = if self.user { " --user" } else { "" };
        Ok(Probe {
            manager: "systemd",
            name: self.unit.clone(),
            file: Some(self.file.clone()),
            installed,
            running: state.as_deref() == Some("active"),
            state,
            hint: format!(
                "`systemctl{user} start {unit}`, and `journalctl{journal} -u {unit}` says why it stopped",
                unit = self.unit,
                journal = if self.user { " --user" } else { "" },
            ),
        })
    }

    fn start(&self, out: &Output) -> Result<()> {
        self.start_or_stop("start", out)
    }

    fn stop(&self, out: &Output) -> Result<()> {
        self.start_or_stop("stop", out)
    }
}
