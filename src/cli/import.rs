//! `orc import`: adopt tasks orc does not manage yet. orc writes their `[tasks.NAME]`
//! tables (to stdout, or appended to a file with its comments kept); the next apply
//! then takes them over.
//!
//! Sources: an unmanaged task in orc's scheduler folder (`orc import NAME`, or every
//! one with `--all`), or task XML files exported from Task Scheduler (`--xml FILE...`,
//! on any platform).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use clap::Args;
use toml_edit::{Array, DocumentMut, Item, Table, value};

use super::{Global, Output, load_workspace};
use crate::backend::windows::adopt::{Adopted, adopt};
use crate::backend::windows::xml::decode;
use crate::config::BackendKind;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  orc import nightly_backup                 # one unmanaged task in orc's folder
  orc import --all --into tasks.toml        # every unmanaged task, appended
  orc import --xml exported/*.xml           # Task Scheduler XML (schtasks /Query /XML)")]
pub struct ImportArgs {
    /// The unmanaged task to adopt from orc's scheduler folder
    #[arg(required_unless_present_any = ["all", "xml"], conflicts_with_all = ["all", "xml"])]
    pub name: Option<String>,
    /// Adopt every task in orc's folder that orc does not manage
    #[arg(long, conflicts_with = "xml")]
    pub all: bool,
    /// Read Task Scheduler XML files (UTF-16 or UTF-8) instead of the folder
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub xml: Vec<PathBuf>,
    /// Append the tasks to this tasks.toml (comments and layout are kept)
    #[arg(long, value_name = "FILE")]
    pub into: Option<PathBuf>,
}

fn today() -> jiff::civil::Date {
    jiff::tz::TimeZone::system()
        .to_datetime(jiff::Timestamp::now())
        .date()
}

pub fn run(args: ImportArgs, global: &Global, out: &Output) -> anyhow::Result<ExitCode> {
    let adopted = if args.xml.is_empty() {
        from_folder(&args, global, out)?
    } else {
        from_files(&args.xml)?
    };
    let Some(mut adopted) = adopted else {
        return Ok(ExitCode::FAILURE);
    };
    unique_names(&mut adopted);
    if adopted.is_empty() {
        out.info("Nothing to import: every task in the folder is managed by orc.");
        return Ok(ExitCode::SUCCESS);
    }
    write(&adopted, args.into.as_deref(), out)?;
    Ok(ExitCode::SUCCESS)
}

fn from_files(files: &[PathBuf]) -> anyhow::Result<Option<Vec<Adopted>>> {
    let today = today();
    let mut adopted = Vec::new();
    for file in files {
        let bytes =
            std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
        let stem = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let task = decode(&bytes)
            .and_then(|xml| adopt(&xml, &stem, today))
            .map_err(|e| anyhow!("{}: {e}", file.display()))?;
        adopted.push(task);
    }
    Ok(Some(adopted))
}

/// Unmanaged tasks from the live folder: on Task Scheduler from their XML, elsewhere
/// from the backend's entry (its command and trigger).
fn from_folder(
    args: &ImportArgs,
    global: &Global,
    out: &Output,
) -> anyhow::Result<Option<Vec<Adopted>>> {
    let Some(ws) = load_workspace(global, out)? else {
        return Ok(None);
    };
    let recorded = ws.recorded(ws.existing_state()?.as_ref())?.tasks;
    let managed =
        |name: &str| ws.config.tasks.contains_key(name) || recorded.iter().any(|r| r.name == name);
    if let Some(name) = &args.name
        && managed(name)
    {
        bail!("task \"{name}\" is already managed by orc; nothing to import");
    }
    let wanted = |name: &str| match &args.name {
        Some(n) => n == name,
        None => !managed(name),
    };
    let folder = &ws.config.settings.folder;
    let mut adopted = Vec::new();
    if ws.backend_kind()? == BackendKind::Windows {
        let today = today();
        for stored in ws.windows_folder()?.list()? {
            if wanted(&stored.name) {
                adopted.push(
                    adopt(&stored.xml, &stored.name, today)
                        .map_err(|e| anyhow!("task \"{}\": {e}", stored.name))?,
                );
            }
        }
    } else {
        let backend = ws.backend()?;
        for entry in backend.list()?.into_iter().filter(|e| wanted(&e.name)) {
            adopted.push(from_entry(&entry, backend.kind())?);
        }
    }
    if let Some(name) = &args.name
        && adopted.is_empty()
    {
        bail!("no task \"{name}\" in the scheduler's folder {folder}");
    }
    Ok(Some(adopted))
}

/// A cron line or an embedded registry entry as a task table.
fn from_entry(entry: &crate::backend::Entry, kind: &str) -> anyhow::Result<Adopted> {
    let orc_invocation = entry.command.get(1).is_some_and(|a| a == "run")
        && entry.command.get(2) == Some(&entry.name);
    if orc_invocation {
        bail!(
            "\"{}\" calls `orc run` but its definition is not in this state; add [tasks.{}] to tasks.toml \
             (with its command and schedule) and `orc apply` takes it over",
            entry.name,
            entry.name
        );
    }
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
        crate::schedule::parse(trigger).map_err(|e| {
            anyhow!("the live trigger \"{trigger}\" is not a schedule orc accepts: {e}")
        })?;
        table.insert("schedule", value(trigger.as_str()));
    }
    if !entry.enabled {
        table.insert("enabled", value(false));
    }
    Ok(Adopted {
        name: entry.name.clone(),
        table,
        notes: Vec::new(),
    })
}

/// Tasks that share a name (two folders' "Backup") get `_2`, `_3`, with a note.
fn unique_names(adopted: &mut [Adopted]) {
    let mut seen = std::collections::BTreeSet::new();
    for a in adopted.iter_mut() {
        let base = a.name.clone();
        let mut n = 1;
        while !seen.insert(a.name.clone()) {
            n += 1;
            a.name = format!("{base}_{n}");
        }
        if n > 1 {
            a.notes.push(format!(
                "named {} because another imported task is named {base}",
                a.name
            ));
        }
    }
}

/// The tables as a TOML document: `[tasks.NAME]` each, notes as comments above.
fn snippet(adopted: &[Adopted]) -> anyhow::Result<DocumentMut> {
    let mut doc = DocumentMut::new();
    let mut tasks = Table::new();
    tasks.set_implicit(true);
    for a in adopted {
        let mut table = a.table.clone();
        table.set_implicit(false);
        let notes: String = a.notes.iter().map(|n| format!("# review: {n}\n")).collect();
        table.decor_mut().set_prefix(format!("\n{notes}"));
        tasks.insert(&a.name, Item::Table(table));
    }
    doc.insert("tasks", Item::Table(tasks));
    Ok(doc)
}

fn write(adopted: &[Adopted], into: Option<&Path>, out: &Output) -> anyhow::Result<()> {
    let snippet = snippet(adopted)?;
    let Some(file) = into else {
        print!("{}", snippet.to_string().trim_start());
        return Ok(());
    };
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", file.display())),
    };
    let mut doc: DocumentMut = text
        .parse()
        .with_context(|| format!("{} is not valid TOML", file.display()))?;
    let tasks = doc.entry("tasks").or_insert_with(|| {
        let mut t = Table::new();
        t.set_implicit(true);
        Item::Table(t)
    });
    let Some(tasks) = tasks.as_table_mut() else {
        bail!("`tasks` in {} is not a table", file.display());
    };
    // Check every name first, so the file is written whole or not at all.
    for a in adopted {
        if tasks.contains_key(&a.name) {
            bail!(
                "[tasks.{}] is already in {}; nothing was added",
                a.name,
                file.display()
            );
        }
    }
    for a in adopted {
        tasks.insert(&a.name, snippet["tasks"][&a.name].clone());
    }
    std::fs::write(file, doc.to_string())
        .with_context(|| format!("cannot write {}", file.display()))?;
    let names: Vec<String> = adopted
        .iter()
        .map(|a| format!("[tasks.{}]", a.name))
        .collect();
    out.info(&format!(
        "Added {} to {}. Review it, then `orc plan` and `orc apply`.",
        names.join(", "),
        file.display()
    ));
    Ok(())
}
