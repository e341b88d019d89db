//! `orc import NAME`: adopt a task that sits in orc's folder but that orc does not
//! manage. orc writes its `[tasks.NAME]` table (to stdout, or appended to a file with
//! its comments kept); the next apply then takes it over.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use clap::Args;
use toml_edit::{Array, DocumentMut, Item, Table, value};

use super::{Global, Output, load_workspace};

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The unmanaged task to adopt
    pub name: String,
    /// Append the task to this tasks.toml (comments and layout are kept)
    #[arg(long, value_name = "FILE")]
    pub into: Option<PathBuf>,
}

pub fn run(args: ImportArgs, global: &Global, out: &Output) -> anyhow::Result<ExitCode> {
    let Some(ws) = load_workspace(global, out) else {
        return Ok(ExitCode::FAILURE);
    };
    if ws.config.tasks.contains_key(&args.name) {
        bail!(
            "task \"{}\" is already in the configuration; nothing to import",
            args.name
        );
    }
    let backend = ws.backend()?;
    let entry = backend
        .list()?
        .into_iter()
        .find(|e| e.name == args.name)
        .ok_or_else(|| {
            anyhow!(
                "no task \"{}\" in the {} scheduler's folder {}",
                args.name,
                backend.kind(),
                ws.config.settings.folder
            )
        })?;
    let orc_invocation = entry.command.get(1).is_some_and(|a| a == "run")
        && entry.command.get(2) == Some(&args.name);
    if orc_invocation {
        bail!(
            "\"{}\" calls `orc run` but its definition is not in this state; add [tasks.{}] to tasks.toml \
             (with its command and schedule) and `orc apply` takes it over",
            args.name,
            args.name
        );
    }
    let mut table = Table::new();
    table.set_implicit(false);
    let mut argv = Array::new();
    for a in &entry.command {
        argv.push(a.as_str());
    }
    table.insert(
        "description",
        value(format!("Imported from the {} scheduler", backend.kind())),
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
    let mut snippet = DocumentMut::new();
    let mut tasks = Table::new();
    tasks.set_implicit(true);
    tasks.insert(&args.name, Item::Table(table));
    snippet.insert("tasks", Item::Table(tasks));

    match &args.into {
        None => print!("{snippet}"),
        Some(file) => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read {}", file.display()))?;
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
            tasks.insert(&args.name, snippet["tasks"][&args.name].clone());
            std::fs::write(file, doc.to_string())
                .with_context(|| format!("cannot write {}", file.display()))?;
            out.info(&format!(
                "Added [tasks.{}] to {}. Review it, then `orc plan` and `orc apply`.",
                args.name,
                file.display()
            ));
        }
    }
    Ok(ExitCode::SUCCESS)
}
