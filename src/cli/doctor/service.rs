//! The service check: whether `orc service install` made orc a systemd service (a
//! system one, else a user one), and whether systemd runs it.

use super::*;
use crate::cli::service::{UnitArgs, probe};

pub(super) fn check_service() -> Check {
    const NAME: &str = "service";
    if !cfg!(target_os = "linux") {
        return Check::skip(NAME, "orc service installs systemd services, on Linux");
    }
    let found = [false, true].into_iter().find_map(|user| {
        let args = UnitArgs {
            user,
            name: "orc".to_string(),
        };
        probe(&args).ok().filter(|p| p.installed).map(|p| (user, p))
    });
    let Some((user, p)) = found else {
        return Check::skip(
            NAME,
            "orc is not installed as a service (`orc service install` keeps `orc up` running across log-offs and reboots)",
        );
    };
    let systemctl = if user {
        "systemctl --user"
    } else {
        "systemctl"
    };
    match p.active.as_deref() {
        Some("active") => Check::ok(NAME, format!("{} ({}) is active", p.unit, p.file.display())),
        Some(word) => Check::warn(
            NAME,
            format!("{} ({}) is installed but {word}", p.unit, p.file.display()),
            format!(
                "`{systemctl} start {}`, and `journalctl{} -u {}` says why it stopped",
                p.unit,
                if user { " --user" } else { "" },
                p.unit
            ),
        ),
        None => Check::ok(
            NAME,
            format!(
                "{} is installed ({}); systemd does not run here",
                p.unit,
                p.file.display()
            ),
        ),
    }
}
