//! Changing a config file in place, for `orc new` and the dashboard's API.
//!
//! Edits go through `toml_edit`, so comments and layout stay as they were. A new
//! task is appended after everything else in the file, so the file's old text is a
//! prefix of its new text, byte for byte. Every edit is checked by loading the whole
//! config; a change that makes it invalid puts the file back as it was, unless
//! someone changed the file meanwhile: an edit never overwrites another's.

use std::path::{Path, PathBuf};

use super::Diagnostics;

/// Why an edit was not made. The file is as it was in every case.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("{0}")]
    Io(String),
    /// The file is not TOML that can be edited.
    #[error("{0}")]
    Syntax(String),
    /// The config would not load after the change.
    #[error("the change makes the config invalid; nothing changed:\n{0}")]
    Invalid(Diagnostics),
    /// The change was to be undone, but the file had been changed by someone else
    /// since it was written: it is left as it is.
    #[error("{0}")]
    Conflict(String),
}

/// A file that was changed, with its old bytes to put back (say, when applying the
/// change failed) and the bytes written, to know whether it is still ours to undo.
#[derive(Debug)]
pub struct Edited {
    pub file: PathBuf,
    original: Vec<u8>,
    written: Vec<u8>,
}

/// What undoing an edit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restored {
    /// The file is back as it was before the edit.
    Back,
    /// The file is no longer what the edit wrote (someone saved it since): it was
    /// left as it is.
    ChangedSince,
}

impl Edited {
    /// Put the file back as it was before the edit, but only if it is still byte for
    /// byte what the edit wrote; a file someone changed since is left alone. (Between
    /// that comparison and the rename a save can still slip in; the window is the
    /// time of one small write.)
    pub fn restore(&self) -> std::io::Result<Restored> {
        match std::fs::read(&self.file) {
            Ok(now) if now == self.written => {
                write_whole(&self.file, &self.original)?;
                Ok(Restored::Back)
            }
            Ok(_) => Ok(Restored::ChangedSince),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Restored::ChangedSince),
            Err(e) => Err(e),
        }
    }
}

/// Replace `file`'s contents all at once: written beside it under a new, random,
/// hidden name (created exclusively, so nothing planted there is followed), then
/// renamed over it, so a reader (`orc watch`, another request, an editor) sees the
/// old text or the new, never half of one. The file keeps its permissions, and a
/// symlink stays a symlink.
fn write_whole(file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    // A symlinked file stays a symlink: the file it points to is replaced.
    let file = &std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
    let name = file.file_name().unwrap_or_default().to_string_lossy();
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    // Created with O_EXCL and owner-only; removed again if anything below fails.
    let mut temp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".orc-edit")
        .tempfile_in(dir)?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    let mode = std::fs::metadata(file)?.permissions();
    temp.as_file().set_permissions(mode)?;
    temp.persist(file).map_err(|e| e.error)?;
    Ok(())
}

/// Replace `file`'s contents all at once, keeping its permissions (see `write_whole`).
pub fn replace_file(file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_whole(file, bytes)
}

/// Change `file` (one of the config's files) with `change`, which gets the file's
/// text and returns the new text, then check that the config at `config` still
/// loads. Anything that fails leaves the file byte for byte as it was, or, when
/// someone changed it meanwhile, as they left it ([`EditError::Conflict`]).
pub fn edit_file<E: From<EditError>>(
    file: &Path,
    config: &Path,
    change: impl FnOnce(&str) -> Result<String, E>,
) -> Result<Edited, E> {
    let original = std::fs::read(file)
        .map_err(|e| EditError::Io(format!("cannot read {}: {e}", file.display())))?;
    let text = std::str::from_utf8(&original)
        .map_err(|_| EditError::Syntax(format!("{} is not UTF-8 text", file.display())))?;
    let new = change(text)?;
    let edited = Edited {
        file: file.to_path_buf(),
        original,
        written: new.into_bytes(),
    };
    write_whole(file, &edited.written)
        .map_err(|e| EditError::Io(format!("cannot write {}: {e}", file.display())))?;
    if let Err(d) = super::load(config) {
        if let Ok(Restored::ChangedSince) = edited.restore() {
            return Err(EditError::Conflict(format!(
                "the change makes the config invalid, and {} was changed by someone else meanwhile; it was left as it is now:\n{d}",
                file.display()
            ))
            .into());
        }
        return Err(EditError::Invalid(d).into());
    }
    Ok(edited)
}

/// Parse `text` (the contents of `file`) for an edit.
pub fn parse(text: &str, file: &Path) -> Result<toml_edit::DocumentMut, EditError> {
    text.parse()
        .map_err(|e| EditError::Syntax(format!("{}: {e}", file.display())))
}

/// `text` with `[tasks.NAME]` and `table`'s keys appended at its end, after a blank
/// line. The table is rendered by toml_edit (quoting and escaping as TOML needs);
/// the text before it is untouched. Refused when the result would not be TOML that
/// defines the task, e.g. when the file defines `tasks` in another shape.
pub fn append_task(
    text: &str,
    file: &Path,
    name: &str,
    table: toml_edit::Table,
) -> Result<String, EditError> {
    parse(text, file)?;
    let mut fragment = toml_edit::DocumentMut::new();
    let mut tasks = toml_edit::Table::new();
    tasks.set_implicit(true);
    tasks.insert(name, toml_edit::Item::Table(table));
    fragment.insert("tasks", toml_edit::Item::Table(tasks));
    let separator = if text.is_empty() {
        ""
    } else if text.ends_with('\n') {
        "\n"
    } else {
        "\n\n"
    };
    let new = format!("{text}{separator}{fragment}");
    let doc = parse(&new, file).map_err(|e| {
        EditError::Syntax(format!("cannot append [tasks.{name}] to this file: {e}"))
    })?;
    if doc
        .get("tasks")
        .and_then(|t| t.get(name))
        .is_none_or(|t| !t.is_table_like())
    {
        return Err(EditError::Syntax(format!(
            "{}: appending [tasks.{name}] does not define the task",
            file.display()
        )));
    }
    Ok(new)
}

/// A JSON value TOML cannot hold (`null`, or a number too large), under this key.
#[derive(Debug, thiserror::Error)]
#[error("\"{0}\": null is not a TOML value")]
pub struct NotToml(pub String);

/// A JSON value as a TOML value: strings, numbers, booleans, arrays and tables
/// (`null` has no TOML form). `key` names the value in the error.
pub fn toml_value(key: &str, v: &serde_json::Value) -> Result<toml_edit::Value, NotToml> {
    use serde_json::Value;
    let bad = || NotToml(key.to_string());
    Ok(match v {
        Value::String(s) => s.as_str().into(),
        Value::Bool(b) => (*b).into(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.into(),
            None => n.as_f64().ok_or_else(bad)?.into(),
        },
        Value::Array(items) => {
            let mut array = toml_edit::Array::new();
            for item in items {
                array.push(toml_value(key, item)?);
            }
            array.into()
        }
        Value::Object(map) => {
            let mut table = toml_edit::InlineTable::new();
            for (k, item) in map {
                table.insert(k, toml_value(k, item)?);
            }
            table.into()
        }
        Value::Null => return Err(bad()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(pairs: &[(&str, &str)]) -> toml_edit::Table {
        let mut t = toml_edit::Table::new();
        for (k, v) in pairs {
            t.insert(k, toml_edit::value(*v));
        }
        t
    }

    #[test]
    fn appends_after_everything_keeping_the_text_before() {
        let file = Path::new("tasks.toml");
        for text in [
            "",
            "# only a comment",
            "[settings]\nfolder = \"X\"   # keep me\n\n# trailing comment\n",
            "[tasks.a]\ncommand = \"a\"\n[notify.ops]\nemail = [\"a@b.c\"]",
        ] {
            let new = append_task(text, file, "b-2", table(&[("command", "echo \"hi\"")])).unwrap();
            assert!(new.starts_with(text), "{new}");
            let doc: toml_edit::DocumentMut = new.parse().unwrap();
            assert_eq!(
                doc["tasks"]["b-2"]["command"].as_str(),
                Some("echo \"hi\""),
                "{new}"
            );
        }
    }

    #[test]
    fn refuses_what_would_not_define_the_task() {
        let file = Path::new("tasks.toml");
        // The task exists already: a duplicate table.
        let text = "[tasks.a]\ncommand = \"a\"\n";
        assert!(append_task(text, file, "a", table(&[("command", "b")])).is_err());
        // `tasks` is not a table.
        assert!(append_task("tasks = 3\n", file, "a", table(&[("command", "b")])).is_err());
        // Not TOML at all.
        assert!(append_task("[tasks\n", file, "a", table(&[("command", "b")])).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn files_are_replaced_whole_keeping_mode_and_symlinks() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.toml");
        std::fs::write(&real, "old").unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).unwrap();
        let link = dir.path().join("tasks.toml");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        write_whole(&link, b"new").unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read(&real).unwrap(), b"new");
        let mode = std::fs::metadata(&real).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o640);
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn json_values_become_toml() {
        let v = serde_json::json!({"a": [1, "x", true], "b": 1.5});
        let t = toml_value("k", &v).unwrap();
        assert_eq!(t.to_string(), "{ a = [1, \"x\", true], b = 1.5 }");
        assert!(toml_value("k", &serde_json::Value::Null).is_err());
    }
}
