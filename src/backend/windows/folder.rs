//! Where task XML lives: a Task Scheduler folder, behind one small trait.
//!
//! On Windows the folder is reached through the Task Scheduler COM API (`com.rs`). A
//! [`DirFolder`] is the same folder as files: Task Scheduler keeps every task as an XML
//! file under `%SystemRoot%\System32\Tasks\FOLDER\NAME` (Wine under
//! `drive_c/windows/system32/tasks/`), so a directory with that layout, such as a copy
//! of a server's folder, can be planned against on any machine.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::xml;
use crate::backend::BackendError;

/// One registered task: its name and its XML as the scheduler returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTask {
    pub name: String,
    pub xml: String,
}

/// A Task Scheduler folder (`\Orc\`).
pub trait TaskFolder {
    /// Where the folder is, for messages ("Task Scheduler folder \Orc\").
    fn describe(&self) -> String;

    /// Every task in the folder (not its subfolders), managed by orc or not.
    fn list(&self) -> Result<Vec<StoredTask>, BackendError>;

    /// Create or replace `name` with `xml` (TASK_CREATE_OR_UPDATE). `password` is the
    /// account's password for a task that runs as a user whether logged on or not.
    fn register(
        &mut self,
        name: &str,
        xml: &str,
        password: Option<&str>,
    ) -> Result<(), BackendError>;

    /// Remove `name`; a task that is already gone is not an error.
    fn delete(&mut self, name: &str) -> Result<(), BackendError>;

    fn set_enabled(&mut self, name: &str, enabled: bool) -> Result<(), BackendError>;

    /// Task Scheduler's own check of a definition, without registering it: why it
    /// would refuse the XML (as [`BackendError::Unsupported`]), if it would. Nothing
    /// checks a folder of files.
    fn check_definition(&self, _name: &str, _xml: &str) -> Result<(), BackendError> {
        Ok(())
    }

    /// Why this view of the folder may lack tasks that exist (Windows shows a
    /// process that is not elevated only the tasks it may read), if it may.
    fn limited_view(&self) -> Option<String> {
        None
    }

    /// What the registrations so far succeeded with but the admin should know
    /// (Task Scheduler's SCHED_S_* codes), taken once.
    fn take_warnings(&mut self) -> Vec<String> {
        Vec::new()
    }
}

/// A Task Scheduler folder as a directory of task files (UTF-16 LE with a BOM, as
/// Windows writes them). Each file is replaced atomically.
#[derive(Debug, Clone)]
pub struct DirFolder {
    dir: PathBuf,
    folder: String,
}

impl DirFolder {
    /// The folder `folder` under `root` (a `System32\Tasks` directory or a copy of one).
    pub fn new(root: &Path, folder: &str) -> DirFolder {
        DirFolder {
            dir: root.join(folder),
            folder: folder.to_string(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn io(&self, what: &str, path: &Path, e: std::io::Error) -> BackendError {
        BackendError::io(format_args!("cannot {what} {}", path.display()), &e)
    }

    fn write(&self, name: &str, xml: &str) -> Result<(), BackendError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| self.io("create", &self.dir, e))?;
        let path = self.dir.join(name);
        let tmp = self
            .dir
            .join(format!(".{name}.orc-tmp.{}", std::process::id()));
        let result = (|| {
            // Never through what is already there: a link planted at the temporary
            // name would have orc write wherever it points. Removing it removes only
            // the link; one planted again in between makes create_new fail.
            let _ = std::fs::remove_file(&tmp);
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)?;
            file.write_all(&xml::to_utf16(xml))?;
            file.sync_all()?;
            std::fs::rename(&tmp, &path)
        })();
        result.map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            self.io("write", &path, e)
        })
    }
}

impl TaskFolder for DirFolder {
    /// A copy of a folder as a process that was not elevated saw it is marked with
    /// `ORC_WINDOWS_TASKS_VIEW=limited`, so plan treats it as Windows' limited view.
    fn limited_view(&self) -> Option<String> {
        std::env::var("ORC_WINDOWS_TASKS_VIEW")
            .is_ok_and(|v| v == "limited")
            .then(|| {
                format!(
                    "{} is a limited view (ORC_WINDOWS_TASKS_VIEW=limited: as a process that is not elevated sees it, without the tasks of SYSTEM or other accounts)",
                    self.dir.display()
                )
            })
    }

    fn describe(&self) -> String {
        format!(
            "Task Scheduler folder \\{}\\ ({})",
            self.folder,
            self.dir.display()
        )
    }

    fn list(&self) -> Result<Vec<StoredTask>, BackendError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io("read", &self.dir, e)),
        };
        let mut tasks = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| self.io("read", &self.dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            // Subfolders are other folders; dot files are orc's own temporaries.
            if name.starts_with('.') || !entry.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            let bytes =
                std::fs::read(entry.path()).map_err(|e| self.io("read", &entry.path(), e))?;
            let xml = xml::decode(&bytes).map_err(|e| {
                BackendError::Damaged(format!("task file {}: {e}", entry.path().display()))
            })?;
            tasks.push(StoredTask { name, xml });
        }
        tasks.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(tasks)
    }

    fn register(
        &mut self,
        name: &str,
        xml: &str,
        _password: Option<&str>,
    ) -> Result<(), BackendError> {
        // A file holds no password: Windows keeps it in its credential store.
        self.write(name, xml)
    }

    fn delete(&mut self, name: &str) -> Result<(), BackendError> {
        let path = self.dir.join(name);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(self.io("delete", &path, e)),
            _ => Ok(()),
        }
    }

    fn set_enabled(&mut self, name: &str, enabled: bool) -> Result<(), BackendError> {
        let path = self.dir.join(name);
        let bytes = std::fs::read(&path).map_err(|e| self.io("read", &path, e))?;
        let text = xml::decode(&bytes)
            .map_err(|e| BackendError::Damaged(format!("task file {}: {e}", path.display())))?;
        let edited = xml::set_enabled(&text, enabled)
            .map_err(|e| BackendError::Damaged(format!("task file {}: {e}", path.display())))?;
        self.write(name, &edited)
    }
}
