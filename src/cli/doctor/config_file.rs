//! The config check: does it load, with how many tasks, files and warnings.

use super::*;
use crate::config;

pub(super) fn check_config(path: &Path) -> (Check, Option<Config>) {
    const NAME: &str = "config";
    let fix = "run `orc validate` to see every problem with its file, line and column";
    match config::load(path) {
        Ok(loaded) => {
            let c = &loaded.config;
            let detail = format!(
                "{} is valid: {} in {}",
                path.display(),
                plural(c.tasks.len(), "task"),
                plural(c.files.len(), "file")
            );
            let check = if loaded.warnings.is_empty() {
                Check::ok(NAME, detail)
            } else {
                Check::warn(
                    NAME,
                    format!(
                        "{detail}, with {}",
                        plural(loaded.warnings.len(), "warning")
                    ),
                    fix,
                )
            };
            (check, Some(loaded.config))
        }
        Err(diags) => {
            let errors: Vec<_> = diags.0.iter().filter(|d| d.is_error()).collect();
            let first = errors.first().map_or(String::new(), |d| {
                let place = d
                    .file
                    .as_ref()
                    .map_or(String::new(), |f| match &d.location {
                        Some(l) => format!("{}:{}:{}: ", f.display(), l.line, l.column),
                        None => format!("{}: ", f.display()),
                    });
                format!(": {place}{}", d.message)
            });
            (
                Check::fail(
                    NAME,
                    format!(
                        "{} does not load ({}){first}",
                        path.display(),
                        plural(errors.len(), "error")
                    ),
                    fix,
                ),
                None,
            )
        }
    }
}
