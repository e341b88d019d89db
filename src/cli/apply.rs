//! `orc apply` and `orc destroy`: the plan shown, the question asked, the outcome
//! said; the transaction itself is [`crate::ops::apply`].

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;

use super::validate::print_diagnostics;
use super::{Global, Output, load_workspace};
use crate::ops::{
    self,
    apply::{ApplyError, ApplyOptions, Review},
};
use crate::plan::{SavedPlan, plan_json, render_human};

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// A plan saved by `orc plan -o FILE`; applied exactly, or refused if stale
    pub plan_file: Option<PathBuf>,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct CommonArgs {
    /// Skip the confirmation prompt (needed when not on a terminal)
    #[arg(long)]
    pub auto_approve: bool,
    /// Only these tasks (repeatable)
    #[arg(long = "target", value_name = "NAME")]
    pub targets: Vec<String>,
    /// Wait this long for another apply to finish (e.g. "30s", "5m"); default: fail at once
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = crate::config::parse_duration)]
    pub lock_timeout: Duration,
}

pub fn run(
    args: ApplyArgs,
    global: &Global,
    out: &Output,
    destroy: bool,
) -> anyhow::Result<ExitCode> {
    let saved = args.plan_file.as_deref().map(SavedPlan::read).transpose()?;
    // A saved plan knows its config and state; flags may still name them explicitly.
    let global = &match &saved {
        Some(s) => Global {
            config: global.config.clone().or_else(|| Some(s.config.clone())),
            state: global.state.clone().or_else(|| Some(s.state.clone())),
            ..global.clone()
        },
        None => global.clone(),
    };
    let Some(ws) = load_workspace(global, out)? else {
        return Ok(ExitCode::FAILURE);
    };
    print_diagnostics(&ws.warnings, out);
    let lock_timeout = args.common.lock_timeout;
    let targets = match &saved {
        Some(s) => s.targets.clone(),
        None => args.common.targets.clone(),
    };

    // Refuse before creating or locking anything when nobody could answer the prompt.
    let ask = saved.is_none() && !args.common.auto_approve;
    if ask && !std::io::stdin().is_terminal() {
        bail!(
            "orc {} needs --auto-approve when it is not run on a terminal",
            if destroy { "destroy" } else { "apply" }
        );
    }
    let _log = crate::orclog::init(&ws.state_path, if destroy { "destroy" } else { "apply" });
    let options = ApplyOptions {
        targets: &targets,
        destroy,
        lock_timeout,
        saved: saved.as_ref(),
    };
    // A saved plan was shown when it was made.
    let approval = Approval {
        ask,
        show_plan: saved.is_none(),
        still_wanted: &|| true,
    };
    apply_loaded(&ws, &options, out, &approval)
}

/// How an apply of a loaded workspace is approved and shown.
pub struct Approval<'a> {
    /// Ask on the terminal (no --auto-approve, no saved plan).
    pub ask: bool,
    /// Print the plan before applying it.
    pub show_plan: bool,
    /// Asked under the lock, after the plan: false applies nothing (orc watch: the
    /// files changed since they were read).
    pub still_wanted: &'a dyn Fn() -> bool,
}

/// Apply `ws` in-process through [`ops::apply`], saying what happens as `orc apply`
/// does: the plan, the question, the warnings, the outcome. `orc apply`, `orc
/// destroy`, `orc watch` and `orc up` all apply through here.
pub fn apply_loaded(
    ws: &crate::workspace::Workspace,
    options: &ApplyOptions,
    out: &Output,
    approval: &Approval,
) -> anyhow::Result<ExitCode> {
    let destroy = options.destroy;
    let mut cancelled = false;
    let mut review = |r: &Review| -> anyhow::Result<bool> {
        if let Some(dead) = &r.broke_lock {
            eprintln!(
                "warning: broke a stale lock held by {dead}: that process is no longer running"
            );
        }
        if approval.show_plan {
            if out.json {
                out.print_json(&plan_json(r.plan));
            } else if !out.quiet {
                print!("{}", render_human(r.plan, out.color));
            }
        }
        if r.plan.has_changes() && approval.ask && !confirm(destroy)? {
            eprintln!("{} cancelled.", if destroy { "Destroy" } else { "Apply" });
            cancelled = true;
            return Ok(false);
        }
        if r.plan.has_changes() && !(approval.still_wanted)() {
            cancelled = true;
            return Ok(false);
        }
        Ok(true)
    };
    let report = match ops::apply::apply(ws, options, &mut review) {
        Ok(report) => report,
        Err(ApplyError::MissingSecrets(missing)) => {
            print_diagnostics(&missing, out);
            return Err(ApplyError::MissingSecrets(missing).into());
        }
        Err(e) => return Err(e.into()),
    };
    if cancelled {
        return Ok(ExitCode::FAILURE);
    }
    if !report.applied() {
        return Ok(ExitCode::SUCCESS);
    }
    // Registered, but the admin must act (an account without the batch logon
    // right): said at the task, on stderr and in orc's log.
    for warning in &report.warnings {
        eprintln!("{} {warning}", out.paint("1;33", "warning:"));
    }
    let summary = report.plan.summary();
    out.info(&format!(
        "{} Tasks: {} added, {} changed, {} destroyed.",
        out.paint(
            "1;32",
            if destroy {
                "Destroy complete!"
            } else {
                "Apply complete!"
            }
        ),
        summary.add,
        summary.change,
        summary.destroy
    ));
    Ok(ExitCode::SUCCESS)
}

/// `orc apply --auto-approve` of the whole config, as `orc up` and `orc watch` do it,
/// waiting up to `lock_timeout` for another apply.
pub fn run_approved(
    global: &Global,
    out: &Output,
    lock_timeout: Duration,
) -> anyhow::Result<ExitCode> {
    let Some(ws) = load_workspace(global, out)? else {
        return Ok(ExitCode::FAILURE);
    };
    print_diagnostics(&ws.warnings, out);
    let _log = crate::orclog::init(&ws.state_path, "apply");
    let options = ApplyOptions {
        targets: &[],
        destroy: false,
        lock_timeout,
        saved: None,
    };
    let approval = Approval {
        ask: false,
        show_plan: true,
        still_wanted: &|| true,
    };
    apply_loaded(&ws, &options, out, &approval)
}

/// Ask on a terminal; refuse to guess anywhere else.
fn confirm(destroy: bool) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "orc {} needs --auto-approve when it is not run on a terminal",
            if destroy { "destroy" } else { "apply" }
        );
    }
    let question = if destroy {
        "Do you really want to destroy all tasks orc manages in this folder?"
    } else {
        "Do you want to perform these actions?"
    };
    print!("{question}\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .context("cannot read the answer")?;
    println!();
    Ok(answer.trim() == "yes")
}

/// `orc destroy` takes the same options as apply, minus a plan file.
pub fn run_destroy(common: CommonArgs, global: &Global, out: &Output) -> anyhow::Result<ExitCode> {
    run(
        ApplyArgs {
            plan_file: None,
            common,
        },
        global,
        out,
        true,
    )
}
