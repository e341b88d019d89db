//! `orc export NAME --format xml`: exactly the Task Scheduler XML orc registers for a
//! task, on any platform, for review or for `schtasks /Create /XML`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};

use super::validate::print_diagnostics;
use super::{Global, Output};
use crate::backend::windows;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// Task Scheduler task XML
    Xml,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  orc export daily_report --format xml\n  orc export daily_report --output daily_report.xml  # UTF-16: schtasks /Create"
)]
pub struct ExportArgs {
    /// The task, from the configuration
    pub name: String,
    #[arg(long, value_enum, default_value = "xml")]
    pub format: Format,
    /// Write to FILE as UTF-16 with a byte-order mark, as Task Scheduler imports it
    /// (default: print UTF-8 text)
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The orc.exe the task calls (default: this orc)
    #[arg(long, value_name = "PATH")]
    pub orc_path: Option<PathBuf>,
    /// The time zone of the server the task is for (default: this machine's), since
    /// Task Scheduler fires in local time
    #[arg(long, value_name = "ZONE")]
    pub machine_zone: Option<String>,
}

pub fn run(args: ExportArgs, global: &Global, out: &Output) -> anyhow::Result<ExitCode> {
    let config_path = global.config_path();
    let loaded = match crate::config::load(&config_path) {
        Ok(loaded) => loaded,
        Err(diags) => {
            print_diagnostics(&diags.0, out);
            return Ok(ExitCode::FAILURE);
        }
    };
    let config = &loaded.config;
    let Some(task) = config.tasks.get(&args.name) else {
        bail!("no task \"{}\" in {}", args.name, config_path.display());
    };
    let orc = match args.orc_path {
        Some(path) => path,
        None => std::env::current_exe().context("cannot find orc's own executable")?,
    };
    let state = std::path::absolute(crate::workspace::state_path(global.state.as_deref()))?;
    let machine_zone = match args.machine_zone {
        Some(zone) => zone,
        None => windows::machine_zone(),
    };
    let xml = windows::task_xml(task, &config.settings.folder, &orc, &state, &machine_zone)
        .map_err(|why| {
            anyhow::anyhow!(
                "{}:{}:{}: task \"{}\": {why}",
                task.origin.file.display(),
                task.origin.line,
                task.origin.column,
                task.name
            )
        })?;
    match &args.output {
        Some(file) => std::fs::write(file, windows::xml::to_utf16(&xml))
            .with_context(|| format!("cannot write {}", file.display()))?,
        // Printed as UTF-8, so it says so: a declaration of UTF-16 over UTF-8 bytes
        // is one no XML parser reads. The file form stays UTF-16, as Windows wants.
        None => println!("{}", windows::xml::declared_utf8(&xml)),
    }
    Ok(ExitCode::SUCCESS)
}
