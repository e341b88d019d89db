//! launchd: a daemon's plist in /Library/LaunchDaemons (or an agent's in
//! ~/Library/LaunchAgents), driven with launchctl on macOS.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

use super::{Manager, Probe, UnitArgs};
use crate::cli::Output;
use crate::service::{ServiceSpec, launchd::plist};

pub(super) struct Launchd {
    label: String,
    file: PathBuf,
    /// launchd runs here and the plist is in its own folder: launchctl is called.
    live: bool,
    user: bool,
}

impl Launchd {
    pub(super) fn of(args: &UnitArgs) -> Result<Launchd> {
        // ORC_LAUNCHD_DIR puts the plist elsewhere (a package build, a test): then
        // launchd is never touched.
        let (dir, live) = match std::env::var_os("ORC_LAUNCHD_DIR") {
            Some(dir) => (PathBuf::from(dir), false),
            None if args.user => match std::env::var_os("HOME") {
                Some(home) => (PathBuf::from(home).join("Library/LaunchAgents"), true),
                None => bail!("no HOME: cannot tell where launchd agents go"),
            },
            None => (PathBuf::from("/Library/LaunchDaemons"), true),
        };
        Ok(Launchd {
            label: args.name.clone(),
            file: dir.join(format!("{}.plist", args.name)),
            live: live && cfg!(target_os = "macos"),
            user: args.user,
        })
    }

    /// launchctl's domain of the service: the machine's, or the logged-in user's.
    fn domain(&self) -> String {
        if self.user {
            format!("gui/{}", uid())
        } else {
            "system".to_string()
        }
    }

    fn target(&self) -> String {
        format!("{}/{}", self.domain(), self.label)
    }

    /// `launchctl ARGS`, failing with what it said.
    fn launchctl(&self, args: &[&str]) -> Result<String> {
        super::said(Command::new("launchctl"), "launchctl", args)
    }

    /// Unload the service and wait until launchd has (bootout returns before the
    /// process is gone, and a bootstrap meanwhile fails). Not loaded is fine.
    fn boot_out(&self) {
        if self.launchctl(&["bootout", &self.target()]).is_err() {
            return;
        }
        for _ in 0..120 {
            if self.launchctl(&["print", &self.target()]).is_err() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
        tracing::warn!("{} is still loaded 60 s after bootout", self.label);
    }

    fn installed_and_live(&self, verb: &str) -> Result<()> {
        if !self.file.exists() {
            bail!(
                "{} is not installed ({}): `orc service install` first",
                self.label,
                self.file.display()
            );
        }
        if !self.live {
            bail!(
                "launchd does not run here (or the plist is in ORC_LAUNCHD_DIR): nothing can {verb} it"
            );
        }
        Ok(())
    }
}

#[cfg(unix)]
fn uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

#[cfg(not(unix))]
fn uid() -> u32 {
    0
}

impl Manager for Launchd {
    fn install(
        &self,
        spec: &ServiceSpec,
        _password: Option<&str>,
        force: bool,
        out: &Output,
    ) -> Result<()> {
        if !self.user && self.live && !super::systemd::is_root() {
            bail!(
                "installing a launchd daemon needs root: run it with sudo, or install an agent of your user with --user"
            );
        }
        super::check_ours(&self.file, force, "overwrite")?;
        let log = spec
            .state
            .with_file_name(format!("{}-service.log", spec.name));
        super::write_service_file(&self.file, &plist(spec, &log))?;
        out.info(&format!("Wrote {}.", self.file.display()));
        let bootstrap = format!(
            "launchctl bootstrap {} {}",
            self.domain(),
            self.file.display()
        );
        if self.live {
            // A plist installed before is loaded: out first, so the new one counts.
            self.boot_out();
            self.launchctl(&[
                "bootstrap",
                &self.domain(),
                &self.file.display().to_string(),
            ])?;
            out.info(&format!(
                "Loaded and started {}: `orc service status` says how it runs; its output goes to {}.",
                self.label,
                log.display()
            ));
        } else {
            out.info(&format!(
                "launchd does not run here (or the plist went to ORC_LAUNCHD_DIR): to start it where it does, run\n  {bootstrap}"
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
            self.boot_out();
        }
        std::fs::remove_file(&self.file)
            .with_context(|| format!("cannot remove {}", self.file.display()))?;
        out.info(&format!("Removed {}.", self.file.display()));
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "launchd"
    }

    fn probe(&self) -> Result<Probe> {
        // A link counts, even one that leads nowhere: the name is taken.
        let installed = std::fs::symlink_metadata(&self.file).is_ok();
        // `launchctl print` fails for a service not loaded; it says "state = running"
        // for one that runs.
        let state =
            (self.live && installed).then(|| match self.launchctl(&["print", &self.target()]) {
                Ok(said) => said
                    .lines()
                    .find_map(|l| l.trim().strip_prefix("state = "))
                    .unwrap_or("loaded")
                    .to_string(),
                Err(_) => "not loaded".to_string(),
            });
        Ok(Probe {
            manager: "launchd",
            name: self.label.clone(),
            file: Some(self.file.clone()),
            installed,
            running: state.as_deref() == Some("running"),
            state,
            hint: format!(
                "`launchctl kickstart {}`; its output is in the log the plist names",
                self.target()
            ),
        })
    }

    fn start(&self, out: &Output) -> Result<()> {
        self.installed_and_live("start")?;
        self.launchctl(&["kickstart", &self.target()])?;
        out.info(&format!("Started {}.", self.label));
        Ok(())
    }

    fn stop(&self, out: &Output) -> Result<()> {
        self.installed_and_live("stop")?;
        // SIGTERM: orc stops its runs within their grace and exits 0, which launchd
        // (KeepAlive only after a failure) leaves stopped.
        self.launchctl(&["kill", "SIGTERM", &self.target()])?;
        out.info(&format!("Stopped {}.", self.label));
        Ok(())
    }
}
