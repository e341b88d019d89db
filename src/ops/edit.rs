//! The API's config edits: enable, disable, create, update and delete a task in its
//! file (toml_edit keeps the file's comments and layout), check that the config still
//! loads, and apply it. Anything that fails puts the file back as it was, byte for
//! byte, unless someone saved it meanwhile: then it is left with their change.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::apply::{ApplyError, ApplyOptions, ApplyReport, apply_config};
use crate::config::edit::{EditError, Restored};
use crate::config::{BackendKind, Config, Diagnostics};

/// Where the edits go and how they are applied.
pub struct EditTarget<'a> {
    pub config: &'a Path,
    pub state: &'a Path,
    pub backend: Option<BackendKind>,
    pub lock_timeout: std::time::Duration,
}

/// One change to the config.
pub enum Edit<'a> {
    SetEnabled {
        name: &'a str,
        enabled: bool,
    },
    /// A new task, appended to the config's main file.
    Create {
        name: &'a str,
        fields: &'a Map<String, Value>,
    },
    /// Keys of a task set (`null` removes one).
    Update {
        name: &'a str,
        fields: &'a Map<String, Value>,
    },
    Delete {
        name: &'a str,
    },
}

/// A change made and applied: the file it went to, and the apply.
pub struct Edited {
    pub file: PathBuf,
    pub report: ApplyReport,
}

/// Why a change was not made, or was undone.
#[derive(Debug, thiserror::Error)]
pub enum EditOpError {
    /// The config does not load as it is, before any change.
    #[error("{} does not load:\n{diagnostics}", config.display())]
    ConfigInvalid {
        config: PathBuf,
        diagnostics: Diagnostics,
    },
    #[error("no task \"{name}\"{place}")]
    NoTask {
        name: String,
        /// ` in FILE`, or nothing.
        place: String,
    },
    #[error("task \"{0}\" exists already")]
    Exists(String),
    /// A change orc will not make (a name that is not one, a table it cannot edit).
    #[error("{0}")]
    Refused(String),
    /// A value that is no TOML value for its key.
    #[error("{0}")]
    BadValue(String),
    #[error(transparent)]
    File(#[from] EditError),
    /// The change was written, but applying it failed: `restored` says what became
    /// of the file.
    #[error("{}", apply_failed(file, restored, error))]
    Apply {
        file: PathBuf,
        restored: Result<Restored, String>,
        // Boxed: an apply's error is large, and most edits fail before it.
        error: Box<ApplyError>,
    },
}

fn apply_failed(file: &Path, restored: &Result<Restored, String>, error: &ApplyError) -> String {
    let why = match error {
        ApplyError::MissingSecrets(d) => format!("{error}:\n{}", Diagnostics(d.clone())),
        e => super::error_chain(e),
    };
    match restored {
        Ok(Restored::Back) => {
            format!("apply failed; {} is back as it was: {why}", file.display())
        }
        Ok(Restored::ChangedSince) => format!(
            "apply failed, and {} was changed by someone else since this edit was written: it was left as it is now (this edit may not be in it) and nothing was applied; look at the file, then apply it: {why}",
            file.display()
        ),
        Err(e) => format!(
            "apply failed, and {} could not be put back as it was ({e}): {why}",
            file.display()
        ),
    }
}

/// Make `edit` in its file and apply the config.
pub fn edit(target: &EditTarget, edit: &Edit) -> Result<Edited, EditOpError> {
    let config = load(target.config)?;
    match *edit {
        Edit::SetEnabled { name, enabled } => {
            let file = file_of(&config, name, Some(target.config))?;
            edit_and_apply(target, &file, |doc| {
                task_table(doc, name)?.insert("enabled", toml_edit::value(enabled));
                Ok(())
            })
        }
        Edit::Create { name, fields } => {
            crate::config::check_name(name)
                .map_err(|e| EditOpError::Refused(format!("name: {e}")))?;
            if config.tasks.contains_key(name) {
                return Err(EditOpError::Exists(name.to_string()));
            }
            let file = config.files.first().cloned().ok_or_else(|| {
                EditOpError::Refused("the config has no file to add to".to_string())
            })?;
            let mut table = toml_edit::Table::new();
            for (key, value) in fields.iter().filter(|(k, _)| *k != "name") {
                table.insert(key, toml_edit::Item::Value(toml_value(key, value)?));
            }
            edit_text_and_apply(target, &file, |text| {
                Ok(crate::config::edit::append_task(text, &file, name, table)?)
            })
        }
        Edit::Update { name, fields } => {
            if fields.contains_key("name") {
                return Err(EditOpError::Refused(
                    "a task's name cannot change here: create the new one and delete the old (or set renamed_from in tasks.toml)".to_string(),
                ));
            }
            let file = file_of(&config, name, None)?;
            edit_and_apply(target, &file, |doc| {
                let table = task_table(doc, name)?;
                for (key, value) in fields {
                    match value {
                        Value::Null => {
                            table.remove(key);
                        }
                        v => {
                            table.insert(key, toml_edit::Item::Value(toml_value(key, v)?));
                        }
                    }
                }
                Ok(())
            })
        }
        Edit::Delete { name } => {
            let file = file_of(&config, name, None)?;
            edit_and_apply(target, &file, |doc| {
                doc.get_mut("tasks")
                    .and_then(|t| t.as_table_like_mut())
                    .and_then(|t| t.remove(name))
                    .map(|_| ())
                    .ok_or_else(|| not_editable(name))
            })
        }
    }
}

/// The config as it is now, or why it does not load.
fn load(config: &Path) -> Result<Config, EditOpError> {
    crate::config::load(config)
        .map(|l| l.config)
        .map_err(|diagnostics| EditOpError::ConfigInvalid {
            config: config.to_path_buf(),
            diagnostics,
        })
}

/// The file that defines task `name` (`in_config` names the config in the error).
fn file_of(config: &Config, name: &str, in_config: Option<&Path>) -> Result<PathBuf, EditOpError> {
    config
        .tasks
        .get(name)
        .map(|t| t.origin.file.clone())
        .ok_or_else(|| EditOpError::NoTask {
            name: name.to_string(),
            place: in_config
                .map(|c| format!(" in {}", c.display()))
                .unwrap_or_default(),
        })
}

fn not_editable(name: &str) -> EditOpError {
    EditOpError::Refused(format!("[tasks.{name}] is not a table orc can edit"))
}

/// The table of task `name` in `doc`.
fn task_table<'a>(
    doc: &'a mut toml_edit::DocumentMut,
    name: &str,
) -> Result<&'a mut dyn toml_edit::TableLike, EditOpError> {
    doc.get_mut("tasks")
        .and_then(|t| t.get_mut(name))
        .and_then(|t| t.as_table_like_mut())
        .ok_or_else(|| not_editable(name))
}

/// A JSON value as a TOML value, or why not.
fn toml_value(key: &str, v: &Value) -> Result<toml_edit::Value, EditOpError> {
    crate::config::edit::toml_value(key, v).map_err(|e| EditOpError::BadValue(e.to_string()))
}

/// Change `file` with `change` (on its parsed document), check, and apply.
fn edit_and_apply(
    target: &EditTarget,
    file: &Path,
    change: impl FnOnce(&mut toml_edit::DocumentMut) -> Result<(), EditOpError>,
) -> Result<Edited, EditOpError> {
    edit_text_and_apply(target, file, |text| {
        let mut doc = crate::config::edit::parse(text, file)?;
        change(&mut doc)?;
        Ok(doc.to_string())
    })
}

/// As [`edit_and_apply`], with the change made on the file's text.
fn edit_text_and_apply(
    target: &EditTarget,
    file: &Path,
    change: impl FnOnce(&str) -> Result<String, EditOpError>,
) -> Result<Edited, EditOpError> {
    let edited = crate::config::edit::edit_file(file, target.config, change)?;
    let options = ApplyOptions {
        lock_timeout: target.lock_timeout,
        ..Default::default()
    };
    match apply_config(target.config, target.state, target.backend, &options) {
        Ok(report) => Ok(Edited {
            file: file.to_path_buf(),
            report,
        }),
        Err(error) => Err(EditOpError::Apply {
            file: file.to_path_buf(),
            restored: edited.restore().map_err(|e| e.to_string()),
            error: Box::new(error),
        }),
    }
}
