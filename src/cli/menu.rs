//! `orc` with no command on a terminal: a short menu of the everyday commands.

use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;

use super::{Cli, Command, Global, Output, ask};

const STATUS: &str = "status: applied tasks, next and last runs";
const PLAN: &str = "plan: what apply would change";
const APPLY: &str = "apply: make the scheduler match tasks.toml";
const NEW: &str = "new task: add one to tasks.toml";
const RUN: &str = "run a task now";
const HISTORY: &str = "history: past runs";
const DASHBOARD: &str = "open the dashboard";
const QUIT: &str = "quit";

/// A command as if typed after `orc`, with the menu's own global options.
fn command(words: &[&str]) -> Result<Command> {
    let cli = Cli::try_parse_from(std::iter::once("orc").chain(words.iter().copied()))?;
    cli.command
        .ok_or_else(|| anyhow::anyhow!("no command in {words:?}"))
}

/// Show the menu until "quit", Esc or Ctrl-C; each pick runs its command and comes
/// back. The dashboard runs until Ctrl-C and ends orc.
pub fn run(global: &Global, out: &Output) -> Result<ExitCode> {
    ask::setup();
    let items = vec![STATUS, PLAN, APPLY, NEW, RUN, HISTORY, DASHBOARD, QUIT];
    loop {
        let picked = inquire::Select::new("orc: what now?", items.clone())
            .with_page_size(items.len())
            .with_help_message(
                "↑↓ to move, enter to pick, esc to quit; `orc --help` lists every command",
            )
            .prompt();
        let picked = match picked {
            Ok(p) => p,
            Err(inquire::InquireError::OperationCanceled)
            | Err(inquire::InquireError::OperationInterrupted) => return Ok(ExitCode::SUCCESS),
            Err(e) => return Err(e.into()),
        };
        let cmd = match picked {
            STATUS => command(&["status"])?,
            PLAN => command(&["plan"])?,
            APPLY => command(&["apply"])?,
            NEW => command(&["new"])?,
            HISTORY => command(&["history"])?,
            RUN => match pick_task(global, out)? {
                Some(name) => command(&["run", &name])?,
                None => continue,
            },
            DASHBOARD => return dashboard(global, out),
            _ => return Ok(ExitCode::SUCCESS),
        };
        // A command's failure is reported and the menu comes back.
        match super::dispatch(cmd, global, out) {
            Ok(code) if code != ExitCode::SUCCESS => eprintln!("(that ended with an error)"),
            Ok(_) => {}
            Err(e) => out.error(&format!("{e:#}")),
        }
        println!();
    }
}

/// A task of the config, picked from a list; `None` when there is none or on Esc.
fn pick_task(global: &Global, out: &Output) -> Result<Option<String>> {
    let config = match crate::config::load(&global.config_path()) {
        Ok(l) => l.config,
        Err(d) => {
            super::validate::print_diagnostics(&d.0, out);
            return Ok(None);
        }
    };
    let names: Vec<String> = config.tasks.keys().cloned().collect();
    if names.is_empty() {
        out.info("The config has no tasks; `orc new` adds one.");
        return Ok(None);
    }
    match inquire::Select::new("Run which task?", names).prompt() {
        Ok(name) => Ok(Some(name)),
        Err(inquire::InquireError::OperationCanceled) => Ok(None),
        Err(e) => ask::answer(Err(e)),
    }
}

/// Serve the dashboard here until Ctrl-C, opening it in the browser when a
/// launcher (`open`, `xdg-open`) is there, else printing its address.
fn dashboard(global: &Global, out: &Output) -> Result<ExitCode> {
    let listen: std::net::SocketAddr = "127.0.0.1:7878".parse()?;
    let options = super::serve::options(
        &super::serve::ListenArgs {
            listen,
            allow_remote: false,
            public_read: false,
            allow_hosts: Vec::new(),
            idle_timeout: std::time::Duration::from_secs(30),
        },
        global,
    )?;
    crate::server::serve(options, listen, crate::server::stop_signal(), |addr| {
        let url = format!("http://{addr}");
        out.info(&format!(
            "Dashboard on {url} (Ctrl-C stops it); to run or change tasks there, log in with the token `orc serve --print-token` prints"
        ));
        let opener = if cfg!(target_os = "macos") {
            "open"
        } else if cfg!(windows) {
            "explorer"
        } else {
            "xdg-open"
        };
        if super::init::which(opener).is_some() {
            let _ = std::process::Command::new(opener)
                .arg(&url)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn();
        }
    })?;
    Ok(ExitCode::SUCCESS)
}
