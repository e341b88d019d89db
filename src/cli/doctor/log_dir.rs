//! The log folder check: orc can write there, or create it.

use super::*;

pub(super) fn check_log_dir(setup: &Setup) -> Check {
    const NAME: &str = "log_dir";
    let dir = setup
        .config
        .as_ref()
        .and_then(|c| c.settings.log_dir.clone())
        .unwrap_or_else(|| crate::state::default_log_dir(&setup.state_path));
    if dir.exists() && !dir.is_dir() {
        return Check::fail(
            NAME,
            format!("{} is a file, not a folder", dir.display()),
            "point settings.log_dir at a folder",
        );
    }
    match writable_or_creatable(&dir) {
        Ok(how) => Check::ok(NAME, format!("{} {how}", dir.display())),
        Err((place, e)) => Check::fail(
            NAME,
            format!(
                "run logs go to {}, but {} is not writable ({e})",
                dir.display(),
                place.display()
            ),
            format!(
                "give {} write access to {}, or set settings.log_dir to a writable folder",
                who(),
                place.display()
            ),
        ),
    }
}
