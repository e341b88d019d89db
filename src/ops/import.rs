//! `orc import`'s use-case: adopt tasks orc does not manage yet, as `[tasks.NAME]`
//! tables (returned, or appended to a file with its comments kept); the next apply
//! then takes them over. Nothing is printed here: the report says what was found,
//! moved and written, and the warnings.
//!
//! Sources: an unmanaged task in orc's scheduler folder (one by name, or every one),
//! or task XML files exported from Task Scheduler (on any platform). On the cron
//! backend the folder is orc's block of the crontab, and the ordinary lines outside
//! it can be adopted too: each moves into orc's block as it is (one crontab write),
//! so cron runs it as before until apply takes it over.

use std::path::{Path, PathBuf};

use toml_edit::{Array, DocumentMut, Item, Table, value};

use crate::backend::BackendError;
use crate::backend::cron::{CronBackend, CronJob, CronJobs, plain_argv};
use crate::backend::windows::adopt::{Adopted, adopt, orc_name};
use crate::backend::windows::xml::decode;
use crate::config::BackendKind;
use crate::workspace::{Workspace, WorkspaceError};

/// What to adopt, and where to put it.
#[derive(Debug, Default)]
pub struct ImportOptions<'a> {
    /// One unmanaged task of orc's folder.
    pub name: Option<&'a str>,
    /// Every unmanaged task of the folder (on cron, the lines outside orc's block too).
    pub all: bool,
    /// Task Scheduler XML files instead of the folder.
    pub xml: &'a [PathBuf],
    /// Append the tables to this tasks.toml instead of returning them.
    pub into: Option<&'a Path>,
}

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportReport {
    /// The names of the adopted tasks, in order.
    pub adopted: Vec<String>,
    /// Crontab lines moved into orc's block: the line number and the task's name.
    pub moved: Vec<(usize, String)>,
    /// The tables, when no `into` file was given.
    pub tables: Option<String>,
    /// Tasks left where they are, and why.
    pub warnings: Vec<String>,
}

/// Why nothing was imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("task \"{0}\" is already managed by orc; nothing to import")]
    AlreadyManaged(String),
    #[error("no task \"{name}\" in the scheduler's folder {folder}")]
    NotInFolder { name: String, folder: String },
    /// A live task runs in another zone than the config's: importing it would move its
    /// times, so nothing is imported until `timezone` says which.
    #[error("{0}")]
    OtherZone(String),
    /// A task or file the import will not take, in words that say why.
    #[error("{0}")]
    Refused(String),
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {}{what}", path.display())]
    Write {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// Adopt what `opts` names: from `ws`'s folder, or from XML files (then `ws` may be
/// `None`). Everything that can be refused is checked before anything is written.
pub fn import(ws: Option<&Workspace>, opts: &ImportOptions) -> Result<ImportReport, ImportError> {
    let mut report = ImportReport::default();
    let Found {
        mut adopted,
        cron,
        taken,
    } = match ws {
        Some(ws) if opts.xml.is_empty() => from_folder(ws, opts, &mut report.warnings)?,
        _ => Found {
            adopted: from_files(opts.xml)?,
            cron: None,
            taken: Default::default(),
        },
    };
    unique_names(&mut adopted, &taken);
    for a in &mut adopted {
        a.link_live_name();
    }
    if adopted.is_empty() {
        return Ok(report);
    }
    let tables = snippet(&adopted);
    let appended = match opts.into {
        Some(file) => {
            let text = appended(&adopted, file)?;
            writable(file)?;
            Some((file, text))
        }
        None => None,
    };
    if let Some(cron) = &cron {
        let moves: Vec<(usize, String)> = cron
            .moves
            .iter()
            .map(|&(task, job)| (job, adopted[task].name.clone()))
            .collect();
        cron.backend.adopt(&cron.jobs, &moves)?;
        report.moved = moves
            .into_iter()
            .map(|(job, name)| (cron.jobs.outside[job].line, name))
            .collect();
    }
    match appended {
        None => report.tables = Some(tables.to_string().trim_start().to_string()),
        Some((file, text)) => write_file(file, &text)?,
    }
    report.adopted = adopted.into_iter().map(|a| a.name).collect();
    Ok(report)
}

fn today() -> jiff::civil::Date {
    jiff::tz::TimeZone::system()
        .to_datetime(jiff::Timestamp::now())
        .date()
}

/// What an import found: the tables, and crontab lines to move into orc's block.
struct Found {
    adopted: Vec<Adopted>,
    cron: Option<CronMove>,
    /// Names an adopted task must not take under a new name: the folder's live
    /// tasks and the tasks orc manages.
    taken: std::collections::BTreeSet<String>,
}

/// Lines outside orc's crontab block that are adopted: `moves` pairs an index into
/// `Found::adopted` with an index into `jobs.outside`.
struct CronMove {
    backend: CronBackend,
    jobs: CronJobs,
    moves: Vec<(usize, usize)>,
}

fn from_files(files: &[PathBuf]) -> Result<Vec<Adopted>, ImportError> {
    let today = today();
    let mut adopted = Vec::new();
    for file in files {
        let bytes = std::fs::read(file).map_err(|source| ImportError::Read {
            path: file.clone(),
            source,
        })?;
        let stem = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let task = decode(&bytes)
            .and_then(|xml| adopt(&xml, None, &stem, today))
            .map_err(|e| ImportError::Refused(format!("{}: {e}", file.display())))?;
        adopted.push(task);
    }
    Ok(adopted)
}

/// Unmanaged tasks from the live folder: on Task Scheduler from their XML, on cron
/// from the crontab's lines, elsewhere from the backend's entry (its command and
/// trigger).
fn from_folder(
    ws: &Workspace,
    args: &ImportOptions,
    warnings: &mut Vec<String>,
) -> Result<Found, ImportError> {
    let recorded = ws.recorded(ws.existing_state()?.as_ref())?.tasks;
    let managed =
        |name: &str| ws.config.tasks.contains_key(name) || recorded.iter().any(|r| r.name == name);
    if let Some(name) = args.name
        && managed(name)
    {
        return Err(ImportError::AlreadyManaged(name.to_string()));
    }
    let wanted = |name: &str| match args.name {
        Some(n) => n == name,
        None => !managed(name),
    };
    let folder = &ws.config.settings.folder;
    let mut adopted = Vec::new();
    let mut cron = None;
    let mut taken: std::collections::BTreeSet<String> = ws.config.tasks.keys().cloned().collect();
    taken.extend(recorded.iter().map(|r| r.name.clone()));
    match ws.backend_kind()? {
        BackendKind::Windows => {
            let today = today();
            for stored in ws.windows_folder()?.list()? {
                taken.insert(stored.name.clone());
                if wanted(&stored.name) {
                    adopted.push(
                        adopt(&stored.xml, Some(&stored.name), &stored.name, today).map_err(
                            |e| ImportError::Refused(format!("task \"{}\": {e}", stored.name)),
                        )?,
                    );
                }
            }
        }
        BackendKind::Cron => {
            let backend = ws.cron_backend()?;
            let jobs = backend.jobs()?;
            // Its own set: the lines outside the block are named against the block's
            // names here, while the set returned for `unique_names` leaves them out,
            // or a block task adopted under its own name would be renamed after itself.
            let mut taken: std::collections::BTreeSet<String> =
                ws.config.tasks.keys().cloned().collect();
            taken.extend(recorded.iter().map(|r| r.name.clone()));
            for job in &jobs.block {
                let name = job.name.clone().unwrap_or_default();
                taken.insert(name.clone());
                if wanted(&name) {
                    adopted.push(from_cron_job(job, &name, &[])?);
                }
            }
            let mut moves = Vec::new();
            for (index, job) in jobs.outside.iter().enumerate() {
                let name = free_name(&name_for_line(job), &mut taken);
                if !wanted(&name) {
                    continue;
                }
                let refusal = match &job.problem {
                    Some(problem) => Some(problem.clone()),
                    None => job.trigger.as_deref().and_then(|t| {
                        crate::schedule::parse(t)
                            .err()
                            .map(|e| format!("its schedule \"{t}\" is not one orc accepts: {e}"))
                    }),
                };
                if let Some(why) = refusal {
                    // The line itself is not shown: a command may carry a password.
                    let text = format!(
                        "line {} of the crontab (task name \"{name}\") cannot be adopted and stays \
                         where it is: {why}",
                        job.line
                    );
                    if args.name.is_some() {
                        return Err(ImportError::Refused(text));
                    }
                    warnings.push(text);
                    continue;
                }
                let notes = line_notes(job);
                moves.push((adopted.len(), index));
                adopted.push(from_cron_job(job, &name, &notes)?);
            }
            cron = Some(CronMove {
                backend,
                jobs,
                moves,
            });
        }
        _ => {
            let backend = ws.backend()?;
            let zone = &ws.config.settings.timezone;
            for entry in backend.list()?.into_iter().filter(|e| wanted(&e.name)) {
                match from_entry(&entry, backend.kind(), zone) {
                    Ok(a) => adopted.push(a),
                    // One task that cannot be read does not hold back the others; a
                    // zone other than the config's is the config's to fix first.
                    Err(e) if args.all && !matches!(e, ImportError::OtherZone(_)) => {
                        warnings.push(format!(
                            "skipped, the others are imported: {}",
                            super::error_chain(&e)
                        ));
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }
    if let Some(name) = args.name
        && adopted.is_empty()
    {
        return Err(ImportError::NotInFolder {
            name: name.to_string(),
            folder: folder.clone(),
        });
    }
    Ok(Found {
        adopted,
        cron,
        taken,
    })
}

/// `orc run NAME` in a live entry: orc's own line for a task it lost track of.
fn calls_orc_run(name: &str, argv: &[String]) -> Result<(), ImportError> {
    if argv.get(1).is_some_and(|a| a == "run") && argv.get(2).is_some_and(|a| a == name) {
        return Err(ImportError::Refused(format!(
            "\"{name}\" calls `orc run` but its definition is not in this state; add [tasks.{name}] to \
             tasks.toml (with its command and schedule) and `orc apply` takes it over"
        )));
    }
    Ok(())
}

/// The command of a task: an argv when it is only words, else the shell line.
fn insert_command(table: &mut Table, text: &str) {
    match plain_argv(text) {
        Some(argv) => {
            let mut array = Array::new();
            for a in &argv {
                array.push(a.as_str());
            }
            table.insert("command", value(array));
        }
        None => {
            table.insert("shell", value(text));
        }
    }
}

/// A line of the crontab (in orc's block or outside it) as a task table.
fn from_cron_job(job: &CronJob, name: &str, notes: &[String]) -> Result<Adopted, ImportError> {
    let Some(command) = &job.command else {
        return Err(ImportError::Refused(format!(
            "task \"{name}\" (line {} of the crontab): its command has a % that is not escaped, \
             so cron feeds what follows it to the command's input, which orc cannot say; fix the line \
             (crontab -e) and import again",
            job.line
        )));
    };
    if let Some(argv) = plain_argv(command) {
        calls_orc_run(name, &argv)?;
    }
    let mut table = Table::new();
    let origin = match job.name {
        Some(_) => "orc's crontab block".to_string(),
        None => format!("line {} of the crontab", job.line),
    };
    table.insert("description", value(format!("Imported from {origin}")));
    insert_command(&mut table, command);
    if let Some(trigger) = &job.trigger {
        crate::schedule::parse(trigger).map_err(|e| {
            ImportError::Refused(format!(
                "task \"{name}\" (line {} of the crontab): the schedule \"{trigger}\" is not one orc \
                 accepts: {e}",
                job.line
            ))
        })?;
        table.insert("schedule", value(trigger.as_str()));
    }
    if !job.enabled {
        table.insert("enabled", value(false));
    }
    Ok(Adopted {
        name: name.to_string(),
        table,
        notes: notes.to_vec(),
        live_name: None,
    })
}

/// What a person should check about a line that moves from its place in the crontab.
fn line_notes(job: &CronJob) -> Vec<String> {
    let mut notes = Vec::new();
    if !job.env.is_empty() {
        notes.push(format!(
            "the crontab sets {} above line {}, which cron gave the command; orc runs it with \
             orc's environment: put what it needs in env = {{ ... }}",
            job.env.join(", "),
            job.line
        ));
    }
    if job.env.iter().any(|e| e == "SHELL") && job.command.as_deref().and_then(plain_argv).is_none()
    {
        notes.push("the crontab sets SHELL; orc runs shell = \"...\" with /bin/sh".to_string());
    }
    notes
}

/// A task name for a crontab line: the program it runs (`./backup.sh` -> `backup`),
/// past `cd DIR &&`, variables and wrappers like `nice`; else `crontab_line_N`.
fn name_for_line(job: &CronJob) -> String {
    const WRAPPERS: [&str; 8] = [
        "sudo", "nice", "nohup", "exec", "env", "time", "ionice", "command",
    ];
    let fallback = format!("crontab_line_{}", job.line);
    let Some(command) = &job.command else {
        return fallback;
    };
    let mut skip_next = false;
    for word in command.split_whitespace() {
        let word = word.trim_matches(['\'', '"']);
        if std::mem::take(&mut skip_next) {
            continue;
        }
        if word == "cd" {
            skip_next = true;
            continue;
        }
        let operator = word
            .chars()
            .all(|c| matches!(c, '&' | '|' | ';' | '(' | ')' | '{' | '}'));
        if operator
            || WRAPPERS.contains(&word)
            || word.starts_with('-')
            || word.contains('=')
            || word.is_empty()
        {
            continue;
        }
        let base = word.rsplit('/').next().unwrap_or(word);
        let stem = match base.rsplit_once('.') {
            Some((stem, _)) if !stem.is_empty() => stem,
            _ => base,
        };
        let name = orc_name(stem);
        if !name.starts_with("task_") && crate::config::check_name(&name).is_ok() {
            return name;
        }
        break;
    }
    fallback
}

/// `name`, or `name_2`, `name_3`... when it is taken; the result is taken then.
fn free_name(name: &str, taken: &mut std::collections::BTreeSet<String>) -> String {
    let mut candidate = name.to_string();
    let mut n = 1;
    while taken.contains(&candidate) {
        n += 1;
        candidate = format!("{name}_{n}");
    }
    taken.insert(candidate.clone());
    candidate
}

/// An embedded registry entry (or another backend's) as a task table. orc writes
/// the embedded trigger as the schedule followed by its zone: `0 1 * * * (UTC)`.
fn from_entry(
    entry: &crate::backend::Entry,
    kind: &str,
    zone: &str,
) -> Result<Adopted, ImportError> {
    let name = &entry.name;
    calls_orc_run(name, &entry.command)?;
    let mut table = Table::new();
    let mut argv = Array::new();
    for a in &entry.command {
        argv.push(a.as_str());
    }
    table.insert(
        "description",
        value(format!("Imported from the {kind} scheduler")),
    );
    table.insert("command", value(argv));
    if let Some(trigger) = &entry.trigger {
        let (schedule, live_zone) = split_zone(trigger);
        if let Some(live_zone) = live_zone
            && !same_zone(live_zone, zone)
        {
            return Err(ImportError::OtherZone(format!(
                "task \"{name}\": its trigger \"{trigger}\" runs in the zone {live_zone}, but this \
                 config's tasks run in timezone = \"{zone}\" ([settings]); set timezone = \"{live_zone}\" \
                 there to import it unchanged; nothing was imported"
            )));
        }
        crate::schedule::parse(schedule).map_err(|e| {
            ImportError::Refused(format!(
                "task \"{name}\": the live trigger \"{trigger}\" is not a schedule orc accepts: {e}"
            ))
        })?;
        table.insert("schedule", value(schedule));
    }
    if !entry.enabled {
        table.insert("enabled", value(false));
    }
    Ok(Adopted {
        name: name.clone(),
        table,
        notes: Vec::new(),
        live_name: None,
    })
}

/// `0 1 * * * (Europe/Berlin)` as the schedule and the zone; a trigger without a zone
/// as it is.
fn split_zone(trigger: &str) -> (&str, Option<&str>) {
    let trimmed = trigger.trim_end();
    if let Some(inner) = trimmed.strip_suffix(')')
        && let Some(at) = inner.rfind(" (")
    {
        let zone = inner[at + 2..].trim();
        if !zone.is_empty() && !zone.contains(char::is_whitespace) {
            return (inner[..at].trim_end(), Some(zone));
        }
    }
    (trigger, None)
}

fn same_zone(a: &str, b: &str) -> bool {
    let utc = |z: &str| {
        matches!(
            z.to_ascii_uppercase().as_str(),
            "UTC"
                | "ETC/UTC"
                | "UCT"
                | "ETC/UCT"
                | "ZULU"
                | "ETC/ZULU"
                | "UNIVERSAL"
                | "ETC/UNIVERSAL"
        )
    };
    a.eq_ignore_ascii_case(b) || (utc(a) && utc(b))
}

/// Tasks that would share a name (two files' "Backup", or "My Backup" as My_Backup
/// beside a live My_Backup) get `_2`, `_3`, with a note. A task adopted under its own
/// name in the folder keeps it; the others take none of the `taken` names.
/// Names are told apart without case, as Task Scheduler tells them.
fn unique_names(adopted: &mut [Adopted], taken: &std::collections::BTreeSet<String>) {
    let mut seen: std::collections::BTreeSet<String> =
        taken.iter().map(|n| n.to_ascii_lowercase()).collect();
    for a in adopted.iter_mut() {
        if a.live_name.as_deref() == Some(a.name.as_str()) {
            continue;
        }
        let base = a.name.clone();
        let mut n = 1;
        while !seen.insert(a.name.to_ascii_lowercase()) {
            n += 1;
            a.name = format!("{base}_{n}");
        }
        if n > 1 {
            a.notes.push(format!(
                "named {} because another task is named {base}",
                a.name
            ));
        }
    }
}

/// The tables as a TOML document: `[tasks.NAME]` each, notes as comments above.
fn snippet(adopted: &[Adopted]) -> DocumentMut {
    let mut doc = DocumentMut::new();
    let mut tasks = Table::new();
    tasks.set_implicit(true);
    for a in adopted {
        let mut table = a.table.clone();
        table.set_implicit(false);
        table.decor_mut().set_prefix(format!("\n{}", notes(a)));
        tasks.insert(&a.name, Item::Table(table));
    }
    doc.insert("tasks", Item::Table(tasks));
    doc
}

fn notes(a: &Adopted) -> String {
    a.notes
        .iter()
        // A comment holds no control character (TOML refuses them): each becomes a space.
        .map(|n| format!("# review: {}\n", n.replace(|c: char| c.is_control(), " ")))
        .collect()
}

/// `file`'s text with the tables appended after everything in it (its last comment
/// too), the way `orc new` appends: the old text stays a byte-for-byte prefix.
/// Refused, naming the file, when a task is there already or the file is not TOML.
fn appended(adopted: &[Adopted], file: &Path) -> Result<String, ImportError> {
    let text = match std::fs::read(file) {
        Ok(bytes) => String::from_utf8(bytes).map_err(|_| {
            ImportError::Refused(format!(
                "{} is not UTF-8 text; nothing was imported",
                file.display()
            ))
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(source) => {
            return Err(ImportError::Read {
                path: file.to_path_buf(),
                source,
            });
        }
    };
    let doc: DocumentMut = text.parse().map_err(|e| {
        ImportError::Refused(format!(
            "{} is not valid TOML; nothing was imported: {e}",
            file.display()
        ))
    })?;
    // Check every name first, so the file is written whole or not at all.
    for a in adopted {
        if doc.get("tasks").and_then(|t| t.get(&a.name)).is_some() {
            return Err(ImportError::Refused(format!(
                "[tasks.{}] is already in {}; nothing was imported",
                a.name,
                file.display()
            )));
        }
    }
    let mut new = text;
    for a in adopted {
        let mut table = a.table.clone();
        table.decor_mut().set_prefix(notes(a));
        new = crate::config::edit::append_task(&new, file, &a.name, table)
            .map_err(|e| ImportError::Refused(format!("{e}; nothing was imported")))?;
    }
    Ok(new)
}

/// Can `file` be written the way `write_file` writes it (a new file beside it)? Asked
/// before the crontab is changed, so that a read-only file refuses the import whole.
fn writable(file: &Path) -> Result<(), ImportError> {
    // A link to nowhere would pass the folder probe below and fail at the write,
    // after the crontab lines moved.
    if !file.exists()
        && let Ok(target) = std::fs::read_link(file)
    {
        return Err(ImportError::Refused(format!(
            "cannot write {}: it links to {}, which does not exist; nothing was imported",
            file.display(),
            target.display()
        )));
    }
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let probe = if file.exists() {
        std::fs::OpenOptions::new()
            .append(true)
            .open(file)
            .and_then(|_| tempfile::tempfile_in(dir))
    } else {
        tempfile::tempfile_in(dir)
    };
    probe.map(drop).map_err(|source| ImportError::Write {
        path: file.to_path_buf(),
        what: "; nothing was imported",
        source,
    })
}

fn write_file(file: &Path, text: &str) -> Result<(), ImportError> {
    if file.exists() {
        crate::config::edit::replace_file(file, text.as_bytes())
    } else {
        std::fs::write(file, text)
    }
    .map_err(|source| ImportError::Write {
        path: file.to_path_buf(),
        what: "",
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_triggers_split_into_schedule_and_zone() {
        assert_eq!(split_zone("0 1 * * * (UTC)"), ("0 1 * * *", Some("UTC")));
        assert_eq!(
            split_zone("MON 08:00 (Europe/Berlin)"),
            ("MON 08:00", Some("Europe/Berlin"))
        );
        assert_eq!(split_zone("0 1 * * *"), ("0 1 * * *", None));
        assert_eq!(split_zone("(UTC)"), ("(UTC)", None));
        assert!(same_zone("utc", "Etc/UTC"));
        assert!(!same_zone("UTC", "local"));
    }
}
