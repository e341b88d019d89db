//! orc as an OS service: what the service manager starts (`orc service run`, which
//! runs `orc up`'s parts that fit the backend) and how each manager is told to keep
//! it running: a systemd unit on Linux, a launchd plist on macOS, the Service Control
//! Manager on Windows. `orc service` (src/cli/service) installs and drives them.

use std::path::{Path, PathBuf};

pub mod launchd;
pub mod systemd;
#[cfg(windows)]
pub mod windows;

/// What the service runs, and as whom.
#[derive(Debug, Clone)]
pub struct ServiceSpec {
    /// The service's name: the unit's without `.service`, the plist's label, the
    /// Windows service's (default "orc").
    pub name: String,
    /// The orc executable the service starts.
    pub orc: PathBuf,
    pub config: PathBuf,
    pub state: PathBuf,
    /// `--backend` as given to install, kept for the service's applies.
    pub backend: Option<String>,
    /// `orc up`'s options given to install (`--listen`, `--no-watch`, ...), passed on.
    pub up_options: Vec<String>,
    /// A per-user service (systemd `--user`, a launchd agent).
    pub user: bool,
    /// The account the service runs as; the manager's default (root, LocalSystem)
    /// when none.
    pub account: Option<String>,
    /// The service (or a task it runs) gains privileges through setuid or setgid
    /// programs: sudo in a task, or `crontab` (setgid) applying for an account other
    /// than root. systemd's NoNewPrivileges would break them, so it is left out.
    pub gains_privileges: bool,
}

/// The first line of every file `orc service install` writes: install overwrites
/// and uninstall removes only a file that starts with it (or with --force).
pub const MARKER: &str = "Written by `orc service install`";

impl ServiceSpec {
    /// `--config C --state S [--backend B]`: where every command of the service works.
    pub fn paths(&self) -> Vec<String> {
        let mut args = vec![
            "--config".to_string(),
            self.config.display().to_string(),
            "--state".to_string(),
            self.state.display().to_string(),
        ];
        if let Some(backend) = &self.backend {
            args.extend(["--backend".to_string(), backend.clone()]);
        }
        args
    }

    /// The arguments after orc's path that the service manager starts orc with.
    pub fn run_args(&self) -> Vec<String> {
        let mut args = vec![
            "service".to_string(),
            "run".to_string(),
            "--name".to_string(),
            self.name.clone(),
        ];
        args.extend(self.paths());
        args.extend(self.up_options.iter().cloned());
        args
    }

    /// The arguments of the apply a reload runs.
    pub fn reload_args(&self) -> Vec<String> {
        let mut args = vec![
            "apply".to_string(),
            "--auto-approve".to_string(),
            "--quiet".to_string(),
        ];
        args.extend(self.paths());
        args
    }

    /// The folder the service works in: the config's (or the config folder itself).
    pub fn working_dir(&self) -> &Path {
        if self.config.is_dir() {
            &self.config
        } else {
            self.config.parent().unwrap_or(Path::new("/"))
        }
    }
}
