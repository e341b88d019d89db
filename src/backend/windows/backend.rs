//! The Windows backend: orc's tasks as Task Scheduler tasks in one folder.
//!
//! `render` writes the XML orc would register and reads it back through the same
//! lenient reader as the live folder, so both sides of the comparison are normalised
//! the same way. The rendered XML is kept for `apply`, which registers it.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;

use super::folder::TaskFolder;
use super::{describe, read, task_xml};
use crate::backend::{Backend, BackendError, Change, Entry};
use crate::config::{RunAs, Task};

pub struct WindowsBackend {
    folder_name: String,
    folder: Box<dyn TaskFolder>,
    orc_exe: PathBuf,
    state: PathBuf,
    machine_zone: String,
    today: jiff::civil::Date,
    /// The XML rendered for each task, by name, with the vault secret holding its
    /// account's password, for apply to register.
    rendered: RefCell<BTreeMap<String, (String, Option<String>)>>,
    /// A secret's value from the vault, for passwords of `run_as` accounts.
    passwords: crate::secrets::SecretReader,
    /// A secret's keyed fingerprint, recorded with the task so that plan sees a
    /// password changed in the vault (Task Scheduler never returns it).
    fingerprints: crate::secrets::SecretReader,
}

impl WindowsBackend {
    /// Tasks in `folder` (reached through `driver`) that call `orc_exe` with `state`, on
    /// a machine whose zone is `machine_zone`.
    pub fn new(
        folder_name: &str,
        driver: Box<dyn TaskFolder>,
        orc_exe: PathBuf,
        state: PathBuf,
        machine_zone: String,
        passwords: crate::secrets::SecretReader,
        fingerprints: crate::secrets::SecretReader,
    ) -> WindowsBackend {
        WindowsBackend {
            folder_name: folder_name.to_string(),
            folder: driver,
            orc_exe,
            state,
            machine_zone,
            today: jiff::tz::TimeZone::system()
                .to_datetime(jiff::Timestamp::now())
                .date(),
            rendered: RefCell::default(),
            passwords,
            fingerprints,
        }
    }

    /// Where the tasks live, for messages.
    pub fn describe(&self) -> String {
        self.folder.describe()
    }

    /// The rendered XML of a task (after `render`).
    pub fn rendered_xml(&self, name: &str) -> Option<String> {
        self.rendered.borrow().get(name).map(|(xml, _)| xml.clone())
    }
}

/// The normalised entry of task XML; XML that cannot be read still lists, with the
/// reason as its only detail, so plan reports it instead of failing.
pub fn entry_of(name: &str, xml: &str, today: jiff::civil::Date) -> Entry {
    match read::read_task(xml) {
        Ok(task) => describe::entry(name, &task, today),
        Err(e) => Entry {
            name: name.to_string(),
            trigger: None,
            command: Vec::new(),
            enabled: false,
            details: BTreeMap::from([("unreadable".to_string(), e.to_string())]),
            credential: None,
        },
    }
}

impl Backend for WindowsBackend {
    fn kind(&self) -> &'static str {
        "windows"
    }

    fn render(&self, task: &Task) -> Result<Entry, BackendError> {
        let xml = task_xml(
            task,
            &self.folder_name,
            &self.orc_exe,
            &self.state,
            &self.machine_zone,
        )
        .map_err(|why| BackendError::Unsupported {
            task: task.name.clone(),
            reason: why.to_string(),
        })?;
        // Windows' own verdict on the XML, before anything is registered, so that
        // validate and plan report at the task what apply would be refused.
        self.folder.check_definition(&task.name, &xml)?;
        let mut entry = entry_of(&task.name, &xml, self.today);
        let secret = match &task.run_as {
            RunAs::Password { secret, .. } => Some(secret.clone()),
            _ => None,
        };
        // Unknown (the vault cannot be opened here): not compared, see plan.
        entry.credential = secret
            .as_deref()
            .and_then(|s| (self.fingerprints)(s).ok())
            .map(|f| f.to_string());
        self.rendered
            .borrow_mut()
            .insert(task.name.clone(), (xml, secret));
        Ok(entry)
    }

    fn list(&self) -> Result<Vec<Entry>, BackendError> {
        Ok(self
            .folder
            .list()?
            .iter()
            .map(|t| entry_of(&t.name, &t.xml, self.today))
            .collect())
    }

    fn apply(&mut self, changes: &[Change]) -> Result<(), BackendError> {
        for change in changes {
            match change {
                Change::Create(e) | Change::Update(e) => {
                    let (xml, secret) =
                        self.rendered
                            .borrow()
                            .get(&e.name)
                            .cloned()
                            .ok_or_else(|| {
                                BackendError::Refused(format!(
                                    "task \"{}\": no rendered XML to register (plan before apply)",
                                    e.name
                                ))
                            })?;
                    let password = secret
                        .map(|s| {
                            (self.passwords)(&s).map_err(|why| {
                                BackendError::Refused(format!(
                                    "task \"{}\": the run_as password: {why}",
                                    e.name
                                ))
                            })
                        })
                        .transpose()?;
                    self.folder
                        .register(&e.name, &xml, password.as_ref().map(|p| p.as_str()))?;
                }
                Change::Delete { name } => self.folder.delete(name)?,
                Change::Enable { name } => self.folder.set_enabled(name, true)?,
                Change::Disable { name } => self.folder.set_enabled(name, false)?,
            }
        }
        Ok(())
    }

    fn take_warnings(&mut self) -> Vec<String> {
        self.folder.take_warnings()
    }

    fn limited_view(&self) -> Option<String> {
        self.folder.limited_view()
    }
}
