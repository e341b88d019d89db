//! `orc new`: add a task to tasks.toml by answering questions, or by flags in scripts.
//! The task is appended to the chosen file with toml_edit, keeping the file's
//! comments and layout; then the plan is shown.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Args;
use jiff::tz::TimeZone;

use super::{Global, Output, ask};
use crate::config::{Config, check_name, edit, parse_dependency, parse_duration, split_command};

const TYPES: [&str; 4] = ["data_job", "condition", "report", "maintenance"];

#[derive(Debug, Args)]
pub struct NewArgs {
    /// The task's name: letters, digits, `_`, `-`, `.`
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// The task's type
    #[arg(long = "type", value_name = "TYPE", value_enum)]
    pub kind: Option<crate::config::TaskType>,
    /// Free text shown in plans and the dashboard
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,
    /// What to run, split into words without a shell ("python etl.py --full")
    #[arg(long, value_name = "LINE")]
    pub command: Option<String>,
    /// When to run: cron, a macro or a shorthand (see `orc schedule explain`)
    #[arg(long, value_name = "EXPR", conflicts_with = "on_demand")]
    pub schedule: Option<String>,
    /// No schedule: the task runs only on demand or as a dependency
    #[arg(long)]
    pub on_demand: bool,
    /// Stop a run after this long ("90s", "5m", "1h", or seconds)
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// Extra attempts after a failure
    #[arg(long, value_name = "N")]
    pub retries: Option<u32>,
    /// A dependency: a task name, file:PATH, url:URL or command:LINE (repeatable)
    #[arg(long = "depends-on", value_name = "DEP")]
    pub depends_on: Vec<String>,
    /// A [notify.NAME] group to alert (repeatable)
    #[arg(long = "notify", value_name = "GROUP")]
    pub notify: Vec<String>,
    /// The config file to append to: the main file or one of its includes
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Ask nothing: what no flag gives is left out
    #[arg(long, short = 'y')]
    pub yes: bool,
}

/// The answers, checked.
struct NewTask {
    name: String,
    kind: String,
    description: Option<String>,
    command: String,
    schedule: Option<String>,
    timeout: Option<String>,
    retries: u32,
    dependencies: Vec<String>,
    notify: Vec<String>,
}

fn check_new_name(config: &Config, name: &str) -> Result<()> {
    check_name(name)?;
    if let Some(task) = config.tasks.get(name) {
        return Err(anyhow::anyhow!(
            "a task \"{name}\" exists already ({}:{}:{})",
            task.origin.file.display(),
            task.origin.line,
            task.origin.column
        ));
    }
    Ok(())
}

fn check_command(line: &str) -> Result<()> {
    match split_command(line) {
        Ok(words) if words.is_empty() => Err(anyhow::anyhow!("the command is empty")),
        Ok(_) => Ok(()),
        Err(e) => Err(anyhow::anyhow!("invalid command: {e}")),
    }
}

fn check_schedule(text: &str) -> Result<()> {
    crate::schedule::parse(text)
        .map(|_| ())
        .map_err(|e| anyhow::anyhow!("invalid schedule \"{text}\": {e}"))
}

fn check_timeout(text: &str) -> Result<()> {
    match parse_duration(text) {
        Ok(d) if d.is_zero() => Err(anyhow::anyhow!("the timeout must be more than 0")),
        Ok(_) => Ok(()),
        Err(e) => Err(anyhow::anyhow!("invalid timeout: {e}")),
    }
}

fn check_dependency(config: &Config, new_name: &str, dep: &str) -> Result<()> {
    match parse_dependency(dep)? {
        crate::config::Dependency::Task(t) if t == new_name => {
            Err(anyhow::anyhow!("\"{t}\" is the new task itself"))
        }
        crate::config::Dependency::Task(t) if !config.tasks.contains_key(&t) => {
            Err(anyhow::anyhow!(
                "no task \"{t}\" in the config (for other kinds write file:PATH, url:URL or command:LINE)"
            ))
        }
        _ => Ok(()),
    }
}

fn check_group(config: &Config, group: &str) -> Result<()> {
    if config.notify.contains_key(group) {
        return Ok(());
    }
    let known: Vec<&str> = config.notify.keys().map(String::as_str).collect();
    if known.is_empty() {
        bail!("no [notify.{group}] in the config, which has no notification groups")
    }
    bail!(
        "no [notify.{group}] in the config; its groups are {}",
        known.join(", ")
    )
}

/// The config file to append to: `--file`, which must be one of the config's files.
fn chosen_file(config: &Config, given: &Path) -> Result<PathBuf> {
    let wanted = std::fs::canonicalize(given).unwrap_or_else(|_| given.to_path_buf());
    config
        .files
        .iter()
        .find(|f| std::fs::canonicalize(f).is_ok_and(|c| c == wanted))
        .cloned()
        .ok_or_else(|| {
            anyhow::anyhow!(
                "--file {}: not one of the config's files ({})",
                given.display(),
                config
                    .files
                    .iter()
                    .map(|f| f.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
}

pub fn run(args: NewArgs, global: &Global, out: &Output) -> Result<ExitCode> {
    let config_path = global.config_path();
    if !config_path.exists() {
        bail!(
            "{} does not exist; `orc init` creates it (or pass --config)",
            config_path.display()
        );
    }
    let config = match crate::config::load(&config_path) {
        Ok(loaded) => loaded.config,
        Err(d) => {
            super::validate::print_diagnostics(&d.0, out);
            bail!(
                "{} has errors; fix them before adding a task (nothing was changed)",
                config_path.display()
            );
        }
    };
    let interactive = !args.yes && ask::can_ask();
    let task = if interactive {
        ask::setup();
        ask_task(&args, &config)?
    } else {
        task_from_flags(&args, &config)?
    };
    let file = match &args.file {
        Some(f) => chosen_file(&config, f)?,
        None if interactive && config.files.len() > 1 => {
            let names: Vec<String> = config
                .files
                .iter()
                .map(|f| f.display().to_string())
                .collect();
            let picked = ask::answer(
                inquire::Select::new("Append the task to which file?", names.clone()).prompt(),
            )?;
            config.files[names.iter().position(|n| *n == picked).unwrap_or(0)].clone()
        }
        None => match config.files.first() {
            Some(f) => f.clone(),
            None => bail!("the config has no file to add the task to"),
        },
    };
    let table = task.table();
    let result = edit::edit_file(&file, &config_path, |text| {
        edit::append_task(text, &file, &task.name, table)
    });
    match result {
        Ok(_) => {}
        Err(edit::EditError::Invalid(d)) => {
            super::validate::print_diagnostics(&d.0, out);
            bail!(
                "adding [tasks.{}] would make the config invalid; {} is as it was",
                task.name,
                file.display()
            );
        }
        Err(e) => bail!("{e}; nothing was changed"),
    }
    out.info(&format!(
        "Added [tasks.{}] to {}. The plan:\n",
        task.name,
        file.display()
    ));
    super::plan::show(global, out)?;
    out.info("\n`orc apply` makes it so.");
    Ok(ExitCode::SUCCESS)
}

/// Every answer from the flags, each checked; the missing required ones are named
/// together.
fn task_from_flags(args: &NewArgs, config: &Config) -> Result<NewTask> {
    let mut missing = Vec::new();
    if args.name.is_none() {
        missing.push("--name");
    }
    if args.command.is_none() {
        missing.push("--command");
    }
    if args.schedule.is_none() && !args.on_demand {
        missing.push("--schedule (or --on-demand)");
    }
    if !missing.is_empty() {
        bail!(
            "missing {}: without a terminal to ask on, orc new takes every answer from flags \
             (see orc new --help); nothing was changed",
            missing.join(", ")
        );
    }
    check_flags(args, config)?;
    Ok(NewTask {
        name: args.name.clone().unwrap_or_default(),
        kind: args.kind.unwrap_or_default().as_str().to_string(),
        description: args.description.clone().filter(|d| !d.is_empty()),
        command: args.command.clone().unwrap_or_default(),
        schedule: args.schedule.clone(),
        timeout: args.timeout.clone(),
        retries: args.retries.unwrap_or(0),
        dependencies: args.depends_on.clone(),
        notify: args.notify.clone(),
    })
}

/// Ask for each answer no flag gave (the flags' values are checked as in scripts).
fn ask_task(args: &NewArgs, config: &Config) -> Result<NewTask> {
    use inquire::{MultiSelect, Select, Text};
    check_flags(args, config)?;
    let name = match args.name.clone() {
        Some(n) => n,
        None => {
            let config = config.clone();
            ask::answer(
                Text::new("Name:")
                    .with_help_message(
                        "letters, digits, _ - . (it names the task in the scheduler)",
                    )
                    .with_validator(ask::check(move |t: &str| check_new_name(&config, t.trim())))
                    .prompt(),
            )?
            .trim()
            .to_string()
        }
    };
    let kind = match args.kind {
        Some(k) => k.as_str().to_string(),
        None => ask::answer(
            Select::new("Type:", TYPES.to_vec())
                .with_help_message(
                    "data_job: does work; condition: a check other tasks depend on; report; maintenance",
                )
                .prompt(),
        )?
        .to_string(),
    };
    let description = match &args.description {
        Some(d) => Some(d.clone()),
        None => Some(ask::answer(
            Text::new("Description:")
                .with_help_message("optional; shown in plans and the dashboard")
                .prompt(),
        )?),
    }
    .map(|d| d.trim().to_string())
    .filter(|d| !d.is_empty());
    let command = match &args.command {
        Some(c) => c.clone(),
        None => ask::answer(
            Text::new("Command:")
                .with_help_message("split into words without a shell: python scripts/etl.py --full")
                .with_validator(ask::check(|t: &str| check_command(t)))
                .prompt(),
        )?
        .trim()
        .to_string(),
    };
    let schedule = if args.on_demand {
        None
    } else {
        match &args.schedule {
            Some(s) => Some(s.clone()),
            None => {
                let tz = crate::schedule::resolve_zone(&config.settings.timezone)
                    .unwrap_or_else(|_| TimeZone::system());
                ask::schedule("Schedule:", None, &tz)?
            }
        }
    };
    let timeout = match &args.timeout {
        Some(t) => Some(t.clone()),
        None => Some(ask::answer(
            Text::new("Timeout:")
                .with_help_message("optional: 90s, 5m, 1h, or seconds; empty for none")
                .with_validator(ask::check(|t: &str| {
                    if t.trim().is_empty() {
                        Ok(())
                    } else {
                        check_timeout(t)
                    }
                }))
                .prompt(),
        )?),
    }
    .map(|t| t.trim().to_string())
    .filter(|t| !t.is_empty());
    let retries = match args.retries {
        Some(r) => r,
        None => {
            let text = ask::answer(
                Text::new("Retries:")
                    .with_default("0")
                    .with_help_message("extra attempts after a failure")
                    .with_validator(ask::check(|t: &str| {
                        t.trim()
                            .parse::<u32>()
                            .map(|_| ())
                            .map_err(|_| anyhow::anyhow!("\"{t}\" is not a whole number ≥ 0"))
                    }))
                    .prompt(),
            )?;
            text.trim().parse().unwrap_or(0)
        }
    };
    let dependencies = if !args.depends_on.is_empty() {
        args.depends_on.clone()
    } else {
        let mut deps = Vec::new();
        let tasks: Vec<String> = config.tasks.keys().cloned().collect();
        if !tasks.is_empty() {
            deps = ask::answer(
                MultiSelect::new("Depends on tasks:", tasks)
                    .with_help_message("space picks, enter when done (none is fine)")
                    .prompt(),
            )?;
        }
        loop {
            let config = config.clone();
            let me = name.clone();
            let more = ask::answer(
                Text::new("Other dependency:")
                    .with_help_message("file:PATH, url:URL or command:LINE; empty when done")
                    .with_validator(ask::check(move |t: &str| {
                        let t = t.trim();
                        if t.is_empty() {
                            Ok(())
                        } else {
                            check_dependency(&config, &me, t)
                        }
                    }))
                    .prompt(),
            )?;
            let more = more.trim();
            if more.is_empty() {
                break;
            }
            deps.push(more.to_string());
        }
        deps
    };
    let notify = if !args.notify.is_empty() || config.notify.is_empty() {
        args.notify.clone()
    } else {
        ask::answer(
            MultiSelect::new(
                "Alert these notification groups:",
                config.notify.keys().cloned().collect(),
            )
            .with_help_message("space picks, enter when done; none: [defaults] notify applies")
            .prompt(),
        )?
    };
    Ok(NewTask {
        name,
        kind,
        description,
        command,
        schedule,
        timeout,
        retries,
        dependencies,
        notify,
    })
}

/// Check the answers the flags gave (on a terminal the rest are asked).
fn check_flags(args: &NewArgs, config: &Config) -> Result<()> {
    let fail = |what: &str, e: anyhow::Error| anyhow::anyhow!("{what}: {e}; nothing was changed");
    if let Some(n) = &args.name {
        check_new_name(config, n).map_err(|e| fail("--name", e))?;
    }
    let me = args.name.clone().unwrap_or_default();
    if let Some(c) = &args.command {
        check_command(c).map_err(|e| fail("--command", e))?;
    }
    if let Some(s) = &args.schedule {
        check_schedule(s).map_err(|e| fail("--schedule", e))?;
    }
    if let Some(t) = &args.timeout {
        check_timeout(t).map_err(|e| fail("--timeout", e))?;
    }
    for d in &args.depends_on {
        check_dependency(config, &me, d).map_err(|e| fail("--depends-on", e))?;
    }
    for g in &args.notify {
        check_group(config, g).map_err(|e| fail("--notify", e))?;
    }
    Ok(())
}

impl NewTask {
    /// The task's keys, in the order the README's reference lists them.
    fn table(&self) -> toml_edit::Table {
        let mut t = toml_edit::Table::new();
        if self.kind != TYPES[0] {
            t.insert("type", toml_edit::value(&self.kind));
        }
        if let Some(d) = &self.description {
            t.insert("description", toml_edit::value(d));
        }
        t.insert("command", toml_edit::value(&self.command));
        if let Some(s) = &self.schedule {
            t.insert("schedule", toml_edit::value(s));
        }
        if let Some(timeout) = &self.timeout {
            match timeout.parse::<i64>() {
                Ok(seconds) => t.insert("timeout", toml_edit::value(seconds)),
                Err(_) => t.insert("timeout", toml_edit::value(timeout)),
            };
        }
        if self.retries > 0 {
            t.insert("retry_count", toml_edit::value(i64::from(self.retries)));
        }
        let array = |items: &[String]| {
            let mut a = toml_edit::Array::new();
            for i in items {
                a.push(i.as_str());
            }
            toml_edit::value(a)
        };
        if !self.dependencies.is_empty() {
            t.insert("dependencies", array(&self.dependencies));
        }
        if !self.notify.is_empty() {
            t.insert("notify", array(&self.notify));
        }
        t
    }
}
