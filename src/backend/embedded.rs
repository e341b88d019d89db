//! The embedded backend: a registry file that orc's own scheduler (`orc daemon`) reads.
//!
//! One JSON file per folder, replaced atomically (write a temporary file beside it,
//! flush it to disk, rename over the old one), so a reader never sees half a registry
//! and a crash leaves either the old or the new one.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Backend, BackendError, Change, Entry, Invocation};
use crate::config::Task;

#[derive(Debug, Default, Serialize, Deserialize)]
struct Registry {
    version: u32,
    folder: String,
    tasks: BTreeMap<String, Entry>,
}

/// A registry as written: the same document, borrowing its entries.
#[derive(Serialize)]
struct RegistryView<'a> {
    version: u32,
    folder: &'a str,
    tasks: BTreeMap<&'a str, Cow<'a, Entry>>,
}

pub struct EmbeddedBackend {
    path: PathBuf,
    folder: String,
    invocation: Invocation,
}

impl EmbeddedBackend {
    /// The registry for `folder` lives in `dir` (beside the state database).
    /// The folder of the registries of the state whose folder is `dir`.
    pub fn registry_dir(dir: &Path) -> PathBuf {
        dir.join("registry")
    }

    /// The registry file of `folder` in the registry folder `registries`.
    pub fn registry_path(registries: &Path, folder: &str) -> PathBuf {
        registries.join(format!("{folder}.json"))
    }

    /// The folders that have a registry file in the registry folder `registries`.
    pub fn registry_folders(registries: &Path) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(registries) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                // Not the temporary files apply renames into place (".FOLDER.tmp.PID").
                let folder = name.strip_suffix(".json")?;
                (!folder.starts_with('.')).then(|| folder.to_string())
            })
            .collect()
    }

    /// The entries of the registry file `path`, as `orc daemon` schedules them;
    /// None when there is no such file (the folder was never applied).
    pub fn read_entries(path: &Path) -> Result<Option<BTreeMap<String, Entry>>, BackendError> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str::<Registry>(&text)
                .map(|r| Some(r.tasks))
                .map_err(|e| BackendError::Damaged(format!("damaged: {e}"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(BackendError::io("cannot read it", &e)),
        }
    }

    pub fn new(dir: &Path, folder: &str, invocation: Invocation) -> Self {
        EmbeddedBackend {
            path: Self::registry_path(&Self::registry_dir(dir), folder),
            folder: folder.to_string(),
            invocation,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read(&self) -> Result<Registry, BackendError> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| {
                BackendError::Damaged(format!(
                    "the embedded registry {} is damaged: {e}",
                    self.path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Registry {
                version: 1,
                folder: self.folder.clone(),
                tasks: BTreeMap::new(),
            }),
            Err(e) => Err(BackendError::io(
                format_args!("cannot read {}", self.path.display()),
                &e,
            )),
        }
    }

    fn write(&self, registry: &RegistryView<'_>) -> Result<(), BackendError> {
        let io = |e: std::io::Error| {
            BackendError::io(format_args!("cannot write {}", self.path.display()), &e)
        };
        let dir = self.path.parent().unwrap_or(Path::new("."));
        crate::state::create_private_dir(dir).map_err(io)?;
        let tmp = dir.join(format!(".{}.tmp.{}", self.folder, std::process::id()));
        let mut file = crate::state::private_file()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(io)?;
        // Streamed: the registry of a large folder is tens of megabytes as text.
        let mut out = std::io::BufWriter::new(&mut file);
        serde_json::to_writer_pretty(&mut out, registry)
            .map_err(std::io::Error::from)
            .map_err(io)?;
        out.write_all(b"\n").map_err(io)?;
        out.flush().map_err(io)?;
        drop(out);
        file.sync_all().map_err(io)?;
        drop(file);
        std::fs::rename(&tmp, &self.path).map_err(io)
    }
}

impl Backend for EmbeddedBackend {
    fn kind(&self) -> &'static str {
        "embedded"
    }

    fn render(&self, task: &Task) -> Result<Entry, BackendError> {
        super::refuse_raw_triggers(task, "embedded")?;
        Ok(Entry {
            name: task.name.clone(),
            // orc's own scheduler understands orc's whole dialect, in the task's zone.
            trigger: task
                .schedule
                .as_ref()
                .map(|s| format!("{} ({})", s.source(), task.timezone)),
            command: self
                .invocation
                .argv(&task.name, &self.folder, self.kind(), false),
            enabled: task.enabled,
            details: Default::default(),
            credential: None,
        })
    }

    fn list(&self) -> Result<Vec<Entry>, BackendError> {
        Ok(self.read()?.tasks.into_values().collect())
    }

    fn apply(&mut self, changes: &[Change]) -> Result<(), BackendError> {
        let mut registry = self.read()?;
        // The entries written borrow the batch's: a large apply would otherwise hold
        // every new entry twice.
        let mut written: BTreeMap<&str, Cow<'_, Entry>> = BTreeMap::new();
        for change in changes {
            match change {
                Change::Create(e) | Change::Update(e) => {
                    registry.tasks.remove(&e.name);
                    written.insert(&e.name, Cow::Borrowed(e));
                }
                Change::Delete { name } => {
                    registry.tasks.remove(name);
                    written.remove(name.as_str());
                }
                Change::Enable { name } | Change::Disable { name } => {
                    let enabled = matches!(change, Change::Enable { .. });
                    if let Some(e) = registry.tasks.get_mut(name) {
                        e.enabled = enabled;
                    } else if let Some(e) = written.get_mut(name.as_str()) {
                        e.to_mut().enabled = enabled;
                    }
                }
            }
        }
        for (name, entry) in &registry.tasks {
            written.insert(name, Cow::Borrowed(entry));
        }
        self.write(&RegistryView {
            version: 1,
            folder: &self.folder,
            tasks: written,
        })
    }
}
