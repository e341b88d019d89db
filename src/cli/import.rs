//! `orc import`: adopt tasks orc does not manage yet. orc writes their `[tasks.NAME]`
//! tables (to stdout, or appended to a file with its comments kept); the next apply
//! then takes them over.
//!
//! Sources: an unmanaged task in orc's scheduler folder (`orc import NAME`, or every
//! one with `--all`), or task XML files exported from Task Scheduler (`--xml FILE...`,
//! on any platform). On the cron backend the folder is orc's block of the crontab,
//! and the ordinary lines outside it can be adopted too: each moves into orc's
//! block as it is (one crontab write), so cron runs it as before until apply takes
//! it over.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::{Global, Output, load_workspace};
use crate::ops::import::{ImportOptions, import};

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  orc import nightly_backup                 # one unmanaged task in orc's folder
  orc import --all --into tasks.toml        # every unmanaged task, appended
  orc import --xml exported/*.xml           # from schtasks /Query /XML")]
pub struct ImportArgs {
    /// The unmanaged task to adopt from orc's scheduler folder
    #[arg(required_unless_present_any = ["all", "xml"], conflicts_with_all = ["all", "xml"])]
    pub name: Option<String>,
    /// Adopt every task in orc's folder that orc does not manage (on the cron
    /// backend, also the crontab's lines outside orc's block)
    #[arg(long, conflicts_with = "xml")]
    pub all: bool,
    /// Read Task Scheduler XML files (UTF-16 or UTF-8) instead of the folder
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub xml: Vec<PathBuf>,
    /// Append the tasks to this tasks.toml (comments and layout are kept)
    #[arg(long, value_name = "FILE")]
    pub into: Option<PathBuf>,
}

pub fn run(args: ImportArgs, global: &Global, out: &Output) -> anyhow::Result<ExitCode> {
    let ws = if args.xml.is_empty() {
        let Some(ws) = load_workspace(global, out)? else {
            return Ok(ExitCode::FAILURE);
        };
        Some(ws)
    } else {
        None
    };
    let report = import(
        ws.as_ref(),
        &ImportOptions {
            name: args.name.as_deref(),
            all: args.all,
            xml: &args.xml,
            into: args.into.as_deref(),
        },
    )?;
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
    if report.adopted.is_empty() {
        out.info("Nothing to import: every task in the folder is managed by orc.");
        return Ok(ExitCode::SUCCESS);
    }
    for (line, name) in &report.moved {
        // On stderr: stdout may be the tables themselves.
        if !out.quiet {
            eprintln!(
                "Moved line {line} of the crontab into orc's block as task \"{name}\": cron runs it as \
                 before until `orc apply` takes it over."
            );
        }
    }
    match (&report.tables, &args.into) {
        (Some(tables), _) => print!("{tables}"),
        (None, Some(file)) => {
            let names: Vec<String> = report
                .adopted
                .iter()
                .map(|name| format!("[tasks.{name}]"))
                .collect();
            out.info(&format!(
                "Added {} to {}. Review it, then `orc plan` and `orc apply`.",
                names.join(", "),
                file.display()
            ));
        }
        (None, None) => {}
    }
    Ok(ExitCode::SUCCESS)
}
