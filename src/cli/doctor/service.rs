//! The service check: whether `orc service install` made orc a service of this
//! machine (a system one, else a user one), and whether its manager runs it.

use super::*;
use crate::cli::service::{UnitArgs, probe};

pub(super) fn check_service() -> Check {
    const NAME: &str = "service";
    // A user service only where there are user services (systemd --user, launchd agents).
    let kinds: &[bool] = if cfg!(windows) {
        &[false]
    } else {
        &[false, true]
    };
    let probes = kinds.iter().map(|&user| {
        probe(&UnitArgs {
            user,
            name: "orc".to_string(),
        })
    });
    let mut unknown = None;
    let mut found = None;
    for p in probes {
        match p {
            Ok(p) if p.installed => {
                found = Some(p);
                break;
            }
            Ok(_) => {}
            Err(e) => unknown = Some(e),
        }
    }
    let Some(p) = found else {
        return match unknown {
            Some(e) => Check::skip(NAME, format!("cannot tell: {e:#}")),
            None => Check::skip(
                NAME,
                "orc is not installed as a service (`orc service install` keeps it running across log-offs and reboots)",
            ),
        };
    };
    match p.state.as_deref() {
        _ if p.running => Check::ok(
            NAME,
            format!("{} is installed{} and running", p.name, p.at()),
        ),
        Some(word) => Check::warn(
            NAME,
            format!("{} is installed{} but {word}", p.name, p.at()),
            p.hint.clone(),
        ),
        None => Check::ok(
            NAME,
            format!(
                "{} is installed{}; {} does not run here",
                p.name,
                p.at(),
                p.manager
            ),
        ),
    }
}
