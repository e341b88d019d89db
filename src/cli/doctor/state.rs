//! The state check: the database opens, takes writes (rolled back), and others
//! cannot read it.

use super::*;

pub(super) fn check_state(path: &Path) -> Check {
    const NAME: &str = "state";
    let elsewhere = "or choose another place with --state or ORC_STATE";
    if path.is_dir() {
        return Check::fail(
            NAME,
            format!("{} is a folder, not a database", path.display()),
            format!(
                "point --state or ORC_STATE at a file, e.g. {}",
                path.join("state.db").display()
            ),
        );
    }
    let dir = parent(path);
    if !path.exists() {
        return match writable_or_creatable(&dir) {
            Ok(how) => Check::ok(
                NAME,
                format!(
                    "{} does not exist yet; `orc apply` creates it, owner-only ({how})",
                    path.display()
                ),
            ),
            Err((place, e)) => Check::fail(
                NAME,
                format!(
                    "cannot create {}: {} is not writable ({e})",
                    path.display(),
                    place.display()
                ),
                format!(
                    "give {} write access to {}, {elsewhere}",
                    who(),
                    place.display()
                ),
            ),
        };
    }
    if let Err(e) = probe_dir(&dir) {
        return Check::fail(
            NAME,
            format!(
                "the folder {} is not writable ({e}); orc writes the database's journal beside it",
                dir.display()
            ),
            format!(
                "give {} write access to {} (chown, chmod 700), {elsewhere}",
                who(),
                dir.display()
            ),
        );
    }
    let state = match State::open(path) {
        Ok(state) => state,
        Err(e) => {
            return Check::fail(
                NAME,
                format!("{e:#}"),
                "check that the file is orc's state database; restore it from a backup if it is damaged",
            );
        }
    };
    if let Err(e) = write_probe(&state) {
        return Check::fail(
            NAME,
            format!("{} opens but cannot be written: {e}", path.display()),
            format!("make {} writable for {}", path.display(), who()),
        );
    }
    let applied = state.tasks().map(|t| t.len()).unwrap_or(0);
    let opened = format!(
        "{} opens and is writable, {} applied",
        path.display(),
        plural(applied, "task")
    );
    match loose_modes(path) {
        Modes::Unknown => Check::ok(NAME, opened),
        Modes::Private(mode) => Check::ok(NAME, format!("{opened}, mode {mode:04o}")),
        Modes::Loose(files) => {
            let list: Vec<String> = files
                .iter()
                .map(|(f, m)| format!("{} is mode {m:04o}", f.display()))
                .collect();
            let names: Vec<String> = files.iter().map(|(f, _)| f.display().to_string()).collect();
            Check::fail(
                NAME,
                format!(
                    "{opened}, but {}: other users can read the run history and the vault",
                    list.join(", ")
                ),
                format!("chmod 600 {}", names.join(" ")),
            )
        }
    }
}

/// A write inside a transaction that is rolled back: the database takes writes.
fn write_probe(state: &State) -> rusqlite::Result<()> {
    let conn = state.conn();
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result = conn
        .execute_batch("CREATE TABLE main.orc_doctor_probe (x); DROP TABLE main.orc_doctor_probe;");
    let _ = conn.execute_batch("ROLLBACK");
    result
}

enum Modes {
    /// Not a Unix system: Windows keeps permissions in ACLs.
    #[cfg_attr(unix, allow(dead_code))]
    Unknown,
    /// Every file owner-only; the database's mode.
    #[cfg_attr(not(unix), allow(dead_code))]
    Private(u32),
    /// The files others may read or write, with their modes.
    #[cfg_attr(not(unix), allow(dead_code))]
    Loose(Vec<(PathBuf, u32)>),
}

/// The database and its journal files, and which of them others may read.
fn loose_modes(path: &Path) -> Modes {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| {
            std::fs::metadata(p)
                .ok()
                .map(|m| m.permissions().mode() & 0o777)
        };
        let mut loose = Vec::new();
        for suffix in ["", "-wal", "-shm"] {
            let mut name = path.as_os_str().to_os_string();
            name.push(suffix);
            let file = PathBuf::from(name);
            if let Some(m) = mode(&file).filter(|m| m & 0o077 != 0) {
                loose.push((file, m));
            }
        }
        if loose.is_empty() {
            Modes::Private(mode(path).unwrap_or(0o600))
        } else {
            Modes::Loose(loose)
        }
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Modes::Unknown
    }
}
