//! The check of orc's own path: the orc the applied tasks call exists and is this
//! one, not in a temporary folder or a cargo build output.

use super::*;
use crate::backend::Entry;

pub(super) fn check_orc_path(state: Option<&State>) -> Check {
    const NAME: &str = "orc_path";
    let install = "install orc in a fixed place (e.g. /usr/local/bin/orc, or `cargo install --path .`) and run `orc apply` with it";
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            return Check::fail(
                NAME,
                format!("cannot find orc's own executable: {e}"),
                install,
            );
        }
    };
    if exe.to_string_lossy().ends_with(" (deleted)") || !exe.exists() {
        return Check::fail(
            NAME,
            format!(
                "{} was deleted or replaced since this orc started",
                exe.display()
            ),
            install,
        );
    }
    // A cargo build in a checkout under /tmp is a developer's build (warned about
    // below), not an installed orc about to vanish.
    if build_output(&exe).is_none()
        && let Some(why) = temporary(&exe)
    {
        return Check::fail(
            NAME,
            format!(
                "{} is in {why}: scheduled tasks would call a file that goes away",
                exe.display()
            ),
            install,
        );
    }
    // What the applied tasks call: the first word of each recorded entry.
    let recorded: Vec<PathBuf> = state
        .and_then(|s| s.tasks().ok())
        .unwrap_or_default()
        .iter()
        .filter_map(|t| serde_json::from_str::<Entry>(&t.entry).ok())
        .filter_map(|e| e.command.first().map(PathBuf::from))
        .collect();
    let mut others: Vec<(PathBuf, usize)> = Vec::new();
    for path in recorded.iter().filter(|p| !same_file(p, &exe)) {
        match others.iter_mut().find(|(p, _)| p == path) {
            Some((_, n)) => *n += 1,
            None => others.push((path.clone(), 1)),
        }
    }
    let here = format!("scheduled tasks call {}", exe.display());
    if let Some((gone, n)) = others.iter().find(|(p, _)| !p.exists()) {
        return Check::fail(
            NAME,
            format!(
                "{} applied {} {}, which does not exist",
                n,
                if *n == 1 { "task calls" } else { "tasks call" },
                gone.display()
            ),
            format!(
                "run `orc apply` with this orc ({}) to point them at it",
                exe.display()
            ),
        );
    }
    if let Some((other, n)) = others.first() {
        return Check::warn(
            NAME,
            format!(
                "{} applied {} {}, not this orc ({})",
                n,
                if *n == 1 { "task calls" } else { "tasks call" },
                other.display(),
                exe.display()
            ),
            "run `orc apply` with the orc you mean to keep, so the scheduler and you use the same one",
        );
    }
    if let Some(why) = build_output(&exe) {
        return Check::warn(
            NAME,
            format!(
                "{here}, which is {why}: the next build replaces it and `cargo clean` deletes it"
            ),
            install,
        );
    }
    let applied = if recorded.is_empty() {
        String::new()
    } else {
        format!(" (as the {} applied do)", plural(recorded.len(), "task"))
    };
    Check::ok(NAME, format!("{here}{applied}"))
}

/// Why `exe` lives in a temporary folder, if it does.
fn temporary(exe: &Path) -> Option<String> {
    let mut temps = vec![std::env::temp_dir()];
    if cfg!(unix) {
        temps.extend(["/tmp", "/var/tmp", "/dev/shm"].map(PathBuf::from));
    }
    temps
        .into_iter()
        .filter_map(|t| std::fs::canonicalize(&t).ok().or(Some(t)))
        .find(|t| exe.starts_with(t))
        .map(|t| format!("the temporary folder {}", t.display()))
}

/// Why `exe` is a cargo build output (`target/debug/orc`, `target/<triple>/release/orc`,
/// a folder cargo marked with CACHEDIR.TAG), if it is.
fn build_output(exe: &Path) -> Option<String> {
    for dir in exe.ancestors().skip(1) {
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let profile = matches!(name, "debug" | "release" | "deps");
        let in_target = dir
            .ancestors()
            .skip(1)
            .take(2)
            .any(|d| d.file_name().is_some_and(|n| n == "target"));
        if (profile && in_target) || dir.join("CACHEDIR.TAG").is_file() {
            return Some(format!("a cargo build output in {}", dir.display()));
        }
    }
    None
}

fn same_file(a: &Path, b: &Path) -> bool {
    if a == b {
        return true;
    }
    if cfg!(windows)
        && a.to_string_lossy()
            .eq_ignore_ascii_case(&b.to_string_lossy())
    {
        return true;
    }
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doctor_knows_build_outputs_from_installed_paths() {
        for built in [
            "/home/me/orc/target/debug/orc",
            "/home/me/orc/target/release/orc",
            "/home/me/orc/target/x86_64-unknown-linux-gnu/release/orc",
            "/home/me/orc/target/debug/deps/orc-0123abcd",
        ] {
            assert!(build_output(Path::new(built)).is_some(), "{built}");
        }
        for installed in [
            "/usr/local/bin/orc",
            "/home/me/.cargo/bin/orc",
            "/opt/target/orc",
        ] {
            assert_eq!(build_output(Path::new(installed)), None, "{installed}");
        }
    }

    #[test]
    fn doctor_knows_temporary_folders() {
        let tmp = std::env::temp_dir().join("x/orc");
        assert!(temporary(&tmp).is_some());
        assert_eq!(temporary(Path::new("/usr/local/bin/orc")), None);
    }
}
