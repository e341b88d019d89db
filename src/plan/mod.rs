//! The three-way diff: desired (tasks.toml) against recorded (state) and live
//! (the scheduler), as DESIGN.md's plan semantics describe.

mod render;
mod saved;
mod words;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::backend::{Backend, BackendError, Change, Entry};
use crate::config::Task;
use crate::state::{RecordedTask, TaskWrite, hash};

pub use render::{PlanJson, audit_json, plan_json, render_human, render_json};
pub use saved::{SavedPlan, Staleness};

/// What apply will do to one task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    Update,
    /// Move the state and history of `renamed_from`, and re-create the live entry.
    Rename,
    /// The config's folder changed: the task leaves the old folder and arrives in
    /// the new one, its state and history with it.
    Move,
    Delete,
}

/// Something that happened to a task outside orc since the last apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Drift {
    ChangedOutside,
    DeletedOutside,
}

/// One changed field: its canonical `key = value` text before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    // In the order of their names, as the JSON plan has always given them.
    pub after: Option<String>,
    pub before: Option<String>,
    pub field: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct TaskPlan {
    pub name: String,
    pub action: Action,
    pub renamed_from: Option<String>,
    pub drift: Option<Drift>,
    /// Field-level differences (of the definition, or of the live entry for drift).
    /// Empty, with `unrecorded` set, for a task orc holds no record of: every field
    /// it sets is new, and [`TaskPlan::fields`] lists them from the definition this
    /// plan writes only when asked (a plan of 100,000 new tasks would otherwise hold
    /// over a million of them).
    pub fields: Vec<FieldChange>,
    #[serde(skip)]
    pub unrecorded: bool,
    /// Text before and after in tasks.toml's words, for the line diff in human output
    /// (`fields` keeps the canonical JSON of each changed field).
    #[serde(skip)]
    pub before_text: String,
    #[serde(skip)]
    pub after_text: String,
    /// The scheduler operations this needs; empty when only the state changes.
    pub scheduler: Vec<Change>,
    #[serde(skip)]
    pub state: Vec<TaskWrite>,
}

impl TaskPlan {
    /// The changed fields (see `fields`).
    pub fn fields(&self) -> std::borrow::Cow<'_, [FieldChange]> {
        if !self.unrecorded {
            return std::borrow::Cow::Borrowed(&self.fields);
        }
        let definition = self.state.iter().find_map(|w| match w {
            TaskWrite::Upsert { definition, .. } => Some(definition.as_str()),
            _ => None,
        });
        std::borrow::Cow::Owned(field_changes(
            "",
            &canonical(definition.unwrap_or_default()),
        ))
    }
}

/// A task in orc's folder that orc neither manages nor is asked to.
#[derive(Debug, Clone, Serialize)]
pub struct Unmanaged {
    pub name: String,
    pub trigger: Option<String>,
}

/// A task the config has for other hosts only.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    // In the order of their names, as the JSON plan has always given them.
    pub hosts: Vec<String>,
    pub name: String,
}

/// Per-task fingerprints of the three inputs, so a saved plan can tell what moved.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Fingerprint {
    pub desired: Option<String>,
    pub recorded: Option<String>,
    pub live: Option<String>,
}

/// A change of the runtime settings (`[settings]` keys that steer `orc run` and
/// `orc daemon`: retention, max_concurrent), which apply records in the state.
#[derive(Debug, Clone, Serialize)]
pub struct SettingsPlan {
    pub fields: Vec<FieldChange>,
    #[serde(skip)]
    pub before_text: String,
    #[serde(skip)]
    pub after_text: String,
    #[serde(skip)]
    pub json: String,
}

/// The fingerprint key of the settings (a task name never starts with '@').
const SETTINGS_KEY: &str = "@settings";

/// A plan's scheduler operations in one batch, with how many each task's change
/// gave, so that they can go back into the plan.
pub struct SchedulerBatch {
    pub changes: Vec<Change>,
    lengths: Vec<usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub backend: String,
    pub folder: String,
    /// The folder this config's tasks are leaving (its `folder` changed).
    pub moved_from: Option<String>,
    /// Deletes in the old folder, applied after the new folder holds the tasks.
    #[serde(skip)]
    pub old_folder: Vec<Change>,
    /// What an admin should know before applying (another config applied this folder).
    pub warnings: Vec<String>,
    pub host: String,
    pub changes: Vec<TaskPlan>,
    pub settings: Option<SettingsPlan>,
    pub unmanaged: Vec<Unmanaged>,
    pub skipped: Vec<Skipped>,
    pub fingerprints: BTreeMap<String, Fingerprint>,
}

/// Counts for the summary line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
}

impl Plan {
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for c in &self.changes {
            match c.action {
                Action::Create => s.add += 1,
                Action::Update | Action::Rename | Action::Move => s.change += 1,
                Action::Delete => s.destroy += 1,
            }
        }
        if self.settings.is_some() {
            s.change += 1;
        }
        s
    }

    pub fn has_changes(&self) -> bool {
        !self.changes.is_empty() || self.settings.is_some() || self.moved_from.is_some()
    }

    /// Every scheduler operation, in one batch, moved out of the plan: a large apply
    /// would otherwise hold each new entry twice. [`Plan::put_back`] returns them
    /// once the scheduler has them, for the report.
    pub fn take_scheduler_batch(&mut self) -> SchedulerBatch {
        let lengths: Vec<usize> = self.changes.iter().map(|c| c.scheduler.len()).collect();
        let mut changes = Vec::with_capacity(lengths.iter().sum());
        for c in &mut self.changes {
            changes.append(&mut c.scheduler);
        }
        SchedulerBatch { changes, lengths }
    }

    /// The batch [`Plan::take_scheduler_batch`] took, back in the changes it came from.
    pub fn put_back(&mut self, batch: SchedulerBatch) {
        let mut changes = batch.changes.into_iter();
        for (c, length) in self.changes.iter_mut().zip(batch.lengths) {
            c.scheduler = changes.by_ref().take(length).collect();
        }
    }

    /// Every state write, in one transaction; the tasks' own borrowed from the plan
    /// (a large apply would otherwise hold every definition twice).
    pub fn state_writes(&self) -> Vec<std::borrow::Cow<'_, TaskWrite>> {
        use std::borrow::Cow;
        let moved = self
            .moved_from
            .iter()
            .map(|from| Cow::Owned(TaskWrite::MoveFolder { from: from.clone() }));
        moved
            .chain(
                self.changes
                    .iter()
                    .flat_map(|c| c.state.iter().map(Cow::Borrowed)),
            )
            .chain(self.settings.iter().map(|s| {
                Cow::Owned(TaskWrite::Settings {
                    json: s.json.clone(),
                })
            }))
            .collect()
    }

    /// Keep only the changes for `targets` (and what their renames touch).
    pub fn retain_targets(&mut self, targets: &[String]) {
        if targets.is_empty() {
            return;
        }
        self.settings = None;
        self.changes.retain(|c| {
            targets.contains(&c.name)
                || c.renamed_from.as_ref().is_some_and(|f| targets.contains(f))
        });
    }
}

impl Summary {
    pub fn line(&self) -> String {
        format!(
            "{} to add, {} to change, {} to destroy.",
            self.add, self.change, self.destroy
        )
    }
}

/// Everything plan needs to know.
pub struct Inputs<'a> {
    pub desired: &'a BTreeMap<&'a str, &'a Task>,
    pub recorded: &'a [RecordedTask],
    /// The runtime settings JSON the config wants (`None` when destroying).
    pub desired_settings: Option<String>,
    /// The runtime settings JSON apply last recorded.
    pub recorded_settings: Option<&'a str>,
    pub live: &'a [Entry],
    /// When the config's folder changed: the old folder, and what it holds now.
    /// `recorded` then holds the tasks recorded there.
    pub moved_from: Option<(String, &'a [Entry])>,
    pub skipped: Vec<Skipped>,
    pub folder: String,
    pub host: String,
    /// Compute per-task fingerprints (for saving a plan or checking a saved one);
    /// skipped otherwise, since hashing every task costs time on large configs.
    pub fingerprints: bool,
}

/// `key = value` lines of a JSON object, one per field, sorted by key.
fn canonical(json: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(serde_json::Value::Object(map)) => {
            map.iter().map(|(k, v)| format!("{k} = {v}\n")).collect()
        }
        _ => String::new(),
    }
}

/// Field-level differences between two canonical texts.
fn field_changes(before: &str, after: &str) -> Vec<FieldChange> {
    let parse = |text: &str| -> BTreeMap<String, String> {
        text.lines()
            .filter_map(|l| {
                l.split_once(" = ")
                    .map(|(k, v)| (k.to_string(), v.to_string()))
            })
            .collect()
    };
    let (b, a) = (parse(before), parse(after));
    let keys: BTreeSet<&String> = b.keys().chain(a.keys()).collect();
    keys.into_iter()
        .filter(|k| b.get(*k) != a.get(*k))
        .map(|k| FieldChange {
            field: k.clone(),
            before: b.get(k).cloned(),
            after: a.get(k).cloned(),
        })
        .collect()
}

/// What a create of the task leaves out: its default working_dir, and the time zone
/// unless the task sets its own.
fn created(task: &Task) -> words::SetOnly {
    words::SetOnly {
        base_dir: Some(task_base_dir(task)),
        own_timezone: task.timezone_origin.is_some(),
    }
}

/// The folder a task's `working_dir` defaults to: that of its file.
fn task_base_dir(task: &Task) -> std::path::PathBuf {
    let dir = match task.origin.file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())
}

fn entry_json(entry: &Entry) -> String {
    serde_json::to_string(entry).unwrap_or_default()
}

/// What the record says of the password Windows holds, in the plan's words.
fn credential_before(recorded: &Option<String>) -> &'static str {
    match recorded {
        Some(_) => "changed in the vault since it was registered",
        None => "not known: registered by an older orc, or before a rekey",
    }
}

/// Compute the plan. Live entries are compared with what `backend` would render for
/// each desired task, so drift is semantic, not textual.
pub fn compute(inputs: Inputs, backend: &dyn Backend) -> Result<Plan, BackendError> {
    let recorded: BTreeMap<&str, &RecordedTask> = inputs
        .recorded
        .iter()
        .map(|r| (r.name.as_str(), r))
        .collect();
    let live: BTreeMap<&str, &Entry> = inputs.live.iter().map(|e| (e.name.as_str(), e)).collect();

    // Renames apply when the old name is recorded and the new one is not yet; or
    // when the old name is a live task orc does not manage and the new one is not
    // live yet: an imported task adopted under orc's name for it ("My Backup" as
    // My_Backup), whose original apply removes.
    let mut renames: BTreeMap<&str, &str> = BTreeMap::new();
    for (&name, task) in inputs.desired {
        if let Some(from) = &task.renamed_from
            && !recorded.contains_key(name)
            && !inputs.desired.contains_key(from.as_str())
            && (recorded.contains_key(from.as_str())
                || (live.contains_key(from.as_str()) && !live.contains_key(name)))
        {
            renames.insert(from.as_str(), name);
        }
    }

    let mut names: BTreeSet<&str> = BTreeSet::new();
    names.extend(inputs.desired.keys().copied());
    names.extend(recorded.keys());
    names.extend(live.keys());

    let mut changes = Vec::new();
    let mut unmanaged = Vec::new();
    let mut fingerprints = BTreeMap::new();
    for name in names {
        let desired = inputs.desired.get(name).copied();
        let wanted = desired.map(|t| backend.render(t)).transpose()?;
        if inputs.fingerprints {
            fingerprints.insert(
                name.to_string(),
                Fingerprint {
                    desired: desired
                        .zip(wanted.as_ref())
                        .map(|(t, e)| hash(&format!("{}\n{}", t.definition(), entry_json(e)))),
                    recorded: recorded
                        .get(name)
                        .map(|r| hash(&format!("{}\n{}", r.hash, r.entry))),
                    live: live.get(name).map(|e| hash(&entry_json(e))),
                },
            );
        }
        if renames.contains_key(name) {
            continue; // handled with the new name
        }
        match (desired, wanted) {
            (Some(task), Some(want)) => {
                let from = renames
                    .iter()
                    .find(|(_, to)| **to == name)
                    .map(|(from, _)| *from);
                let rec = recorded
                    .get(name)
                    .or_else(|| from.and_then(|f| recorded.get(f)))
                    .copied();
                if let Some(c) =
                    plan_desired(name, task, want, rec, live.get(name).copied(), from, &live)
                {
                    changes.push(c);
                }
            }
            _ => match (recorded.get(name), live.get(name)) {
                (Some(rec), live_entry) => {
                    changes.push(TaskPlan {
                        name: name.to_string(),
                        action: Action::Delete,
                        renamed_from: None,
                        drift: live_entry.is_none().then_some(Drift::DeletedOutside),
                        fields: field_changes(&canonical(&rec.definition), ""),
                        unrecorded: false,
                        before_text: words::task_words(
                            &rec.definition,
                            Some(&words::SetOnly::default()),
                        ),
                        after_text: String::new(),
                        scheduler: live_entry
                            .map(|_| Change::Delete {
                                name: name.to_string(),
                            })
                            .into_iter()
                            .collect(),
                        state: vec![TaskWrite::Delete {
                            name: name.to_string(),
                        }],
                    });
                }
                (None, Some(entry)) => unmanaged.push(Unmanaged {
                    name: name.to_string(),
                    trigger: entry.trigger_summary(),
                }),
                (None, None) => {}
            },
        }
    }
    let mut old_folder = Vec::new();
    if let Some((_, old_live)) = &inputs.moved_from {
        // A recorded task is not "deleted outside orc" for being absent from the new
        // folder: it moves there. Its old entry is deleted once the new one exists.
        for c in changes.iter_mut() {
            let was_recorded = recorded.contains_key(c.name.as_str())
                || c.renamed_from
                    .as_deref()
                    .is_some_and(|f| recorded.contains_key(f));
            if !was_recorded {
                continue;
            }
            c.drift = None;
            if matches!(c.action, Action::Create | Action::Update) {
                // Shown as what changes on the way, not as a new task.
                if c.action == Action::Create
                    && let (Some(rec), Some(task)) = (
                        recorded.get(c.name.as_str()),
                        inputs.desired.get(c.name.as_str()),
                    )
                {
                    c.before_text = words::task_words(&rec.definition, None);
                    c.after_text = words::task_words(&task.definition(), None);
                }
                c.action = Action::Move;
            }
        }
        old_folder = old_live
            .iter()
            .filter(|e| recorded.contains_key(e.name.as_str()))
            .map(|e| Change::Delete {
                name: e.name.clone(),
            })
            .collect();
    }
    let settings = plan_settings(inputs.desired_settings.as_deref(), inputs.recorded_settings);
    if inputs.fingerprints {
        fingerprints.insert(
            SETTINGS_KEY.to_string(),
            Fingerprint {
                desired: inputs.desired_settings.as_deref().map(hash),
                recorded: inputs.recorded_settings.map(hash),
                live: None,
            },
        );
    }
    Ok(Plan {
        backend: backend.kind().to_string(),
        folder: inputs.folder,
        moved_from: inputs.moved_from.map(|(from, _)| from),
        old_folder,
        warnings: Vec::new(),
        host: inputs.host,
        changes,
        settings,
        unmanaged,
        skipped: inputs.skipped,
        fingerprints,
    })
}

/// A settings change, when the config's runtime settings differ from those recorded
/// (or from the defaults, before any apply recorded them).
fn plan_settings(desired: Option<&str>, recorded: Option<&str>) -> Option<SettingsPlan> {
    let desired = desired?;
    let default = crate::config::RuntimeSettings::default().to_json();
    let recorded = recorded.unwrap_or(&default);
    // Compared as JSON values: the same settings may be spelled in another key order
    // (recorded by an older orc, or the defaults).
    let value = |json: &str| serde_json::from_str::<serde_json::Value>(json).ok();
    if desired == recorded || value(desired) == value(recorded) {
        return None;
    }
    Some(SettingsPlan {
        fields: field_changes(&canonical(recorded), &canonical(desired)),
        before_text: words::settings_words(recorded),
        after_text: words::settings_words(desired),
        json: desired.to_string(),
    })
}

fn plan_desired(
    name: &str,
    task: &Task,
    want: Entry,
    rec: Option<&RecordedTask>,
    live_entry: Option<&Entry>,
    renamed_from: Option<&str>,
    live: &BTreeMap<&str, &Entry>,
) -> Option<TaskPlan> {
    let definition = task.definition();
    let want_json = entry_json(&want);
    let recorded_same = rec.is_some_and(|r| r.definition == definition);
    // The password fingerprint apply recorded, against the vault's now. Unknown
    // here (the vault cannot be opened) means not compared: the record stands.
    // A record without one (made by an orc before fingerprints, or after the vault
    // was rekeyed, which changes every fingerprint) also registers the password
    // again: the only way to be sure Windows has the vault's.
    let uses_password = matches!(task.run_as, crate::config::RunAs::Password { .. });
    // Read only where a password is involved: a plan would parse every record.
    let recorded_credential = rec
        .filter(|_| uses_password || want.credential.is_some())
        .and_then(|r| serde_json::from_str::<Entry>(&r.entry).ok())
        .and_then(|e| e.credential);
    let credential_changed =
        want.credential.is_some() && rec.is_some() && recorded_credential != want.credential;
    let want = match (&want.credential, &recorded_credential) {
        (None, Some(kept)) if uses_password => Entry {
            credential: Some(kept.clone()),
            ..want
        },
        _ => want,
    };
    let want_json = if want.credential.is_some() {
        entry_json(&want)
    } else {
        want_json
    };
    // The entry moves into its change: a plan of 100,000 new tasks would hold each twice.
    let (change, action, drift) = match live_entry {
        None => {
            let drift = (rec.is_some() && renamed_from.is_none()).then_some(Drift::DeletedOutside);
            (Some(Change::Create(want)), Action::Create, drift)
        }
        Some(current) if !current.listed_eq(&want, false) => {
            let only_enabled = current.listed_eq(&want, true);
            let drift = (recorded_same && rec.is_some_and(|r| r.entry == want_json))
                .then_some(Drift::ChangedOutside);
            let change = match (only_enabled, want.enabled) {
                (true, true) => Change::Enable {
                    name: name.to_string(),
                },
                (true, false) => Change::Disable {
                    name: name.to_string(),
                },
                (false, _) => Change::Update(want),
            };
            (Some(change), Action::Update, drift)
        }
        Some(_) if credential_changed => {
            // Task Scheduler keeps the old password until the task is registered
            // again; its next run would fail to log on (0x8007052E).
            (Some(Change::Update(want)), Action::Update, None)
        }
        Some(_) => {
            if recorded_same && rec.is_some_and(|r| r.entry == want_json) && renamed_from.is_none()
            {
                return None; // equal everywhere: no change, no scheduler call
            }
            // The scheduler already matches (settings it does not hold changed, or a
            // previous apply stopped before recording): only the state moves.
            (None, Action::Update, None)
        }
    };
    // The old entry goes once the new one exists: a create that fails (a wrong
    // password, a missing logon right) leaves the original, which for an adopted
    // task holds the only copy of what it was.
    let delete_old = renamed_from
        .filter(|from| live.contains_key(from))
        .map(|from| Change::Delete {
            name: from.to_string(),
        });
    // Collected from options, so each vector holds exactly its changes (a vector
    // grown by push reserves four).
    let scheduler: Vec<Change> = change.into_iter().chain(delete_old).collect();
    let action = if renamed_from.is_some() {
        Action::Rename
    } else {
        action
    };
    let unrecorded = rec.is_none() && drift.is_none();
    let (fields, before_text, after_text) = match (drift, live_entry) {
        (Some(Drift::ChangedOutside), Some(current)) => {
            let (before, after) = (canonical(&entry_json(current)), canonical(&want_json));
            (field_changes(&before, &after), before, after)
        }
        _ if unrecorded => {
            // Every field is new: listed from the definition when asked.
            let words = words::task_words(&definition, Some(&created(task)));
            (Vec::new(), String::new(), words)
        }
        _ => {
            let mut fields = field_changes(
                &rec.map(|r| canonical(&r.definition)).unwrap_or_default(),
                &canonical(&definition),
            );
            if credential_changed {
                fields.push(FieldChange {
                    field: "run_as password".to_string(),
                    before: Some(credential_before(&recorded_credential).to_string()),
                    after: Some("the vault's, registered again".to_string()),
                });
            }
            // A create (also a re-create after a hand deletion) lists every field the
            // file sets; an update diffs the whole definitions, unchanged lines hidden.
            // So does the adoption of an entry orc did not record (imported).
            let (before, after) = if action == Action::Create {
                (
                    String::new(),
                    words::task_words(&definition, Some(&created(task))),
                )
            } else {
                (
                    rec.map(|r| words::task_words(&r.definition, None))
                        .unwrap_or_default(),
                    words::task_words(&definition, None),
                )
            };
            (fields, before, after)
        }
    };
    let (before_text, after_text) = if credential_changed {
        (
            format!(
                "{before_text}run_as password = ({})\n",
                credential_before(&recorded_credential)
            ),
            format!("{after_text}run_as password = (the vault's, registered again)\n"),
        )
    } else {
        (before_text, after_text)
    };
    // Written last, so the definition and entry move in instead of being copied.
    let rename = renamed_from.map(|from| TaskWrite::Rename {
        from: from.to_string(),
        to: name.to_string(),
    });
    let upsert = TaskWrite::Upsert {
        name: name.to_string(),
        definition,
        entry: want_json,
    };
    let state: Vec<TaskWrite> = rename.into_iter().chain([upsert]).collect();
    Some(TaskPlan {
        name: name.to_string(),
        action,
        renamed_from: renamed_from.map(str::to_string),
        drift,
        fields,
        unrecorded,
        before_text,
        after_text,
        scheduler,
        state,
    })
}
