//! `orc apply` and `orc destroy`: make the live scheduler match, safely.
//!
//! Order of work, chosen so that a crash at any point converges on the next run:
//! take the lock, plan, write the audit row, write the scheduler in one batch, then
//! record every task change in one state transaction. A crash after the scheduler
//! write leaves live ahead of state; the next plan sees live already matching and
//! records it without touching the scheduler again.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;

use super::validate::print_diagnostics;
use super::{Global, Output, load_workspace};
use crate::config::parse_duration;
use crate::failpoint;
use crate::plan::{Plan, SavedPlan, render_human, render_json};
use crate::state::ApplyMeta;
use crate::workspace::{Workspace, git_commit, user_name};

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
    #[arg(long, value_name = "DURATION", default_value = "0s")]
    pub lock_timeout: String,
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
    let lock_timeout = parse_duration(&args.common.lock_timeout)
        .map_err(|e| anyhow::anyhow!("--lock-timeout: {e}"))?;
    let targets = match &saved {
        Some(s) => s.targets.clone(),
        None => args.common.targets.clone(),
    };

    // Refuse before creating or locking anything when nobody could answer the prompt.
    if saved.is_none() && !args.common.auto_approve && !std::io::stdin().is_terminal() {
        bail!(
            "orc {} needs --auto-approve when it is not run on a terminal",
            if destroy { "destroy" } else { "apply" }
        );
    }
    let state = ws.open_state()?;
    if !destroy {
        // A task is never scheduled without the credentials it names.
        let held = crate::secrets::list(&state)?
            .into_iter()
            .map(|s| s.name)
            .collect();
        let (desired, _) = ws.desired();
        let missing =
            super::validate::secret_diagnostics(&ws.config, desired.values().copied(), &held, true);
        if !missing.is_empty() {
            print_diagnostics(&missing, out);
            bail!(
                "{} secret reference{} cannot be resolved on this server; nothing was changed",
                missing.len(),
                if missing.len() == 1 { "" } else { "s" }
            );
        }
    }
    let _log = crate::orclog::init(&ws.state_path, if destroy { "destroy" } else { "apply" });
    let (host, user) = (ws.host.clone(), user_name());
    let purpose = if destroy { "destroy" } else { "apply" };
    let lock = state.lock("apply", purpose, &host, &user, lock_timeout)?;
    if let Some(dead) = &lock.broke {
        eprintln!("warning: broke a stale lock held by {dead}: that process is no longer running");
        tracing::warn!("broke a stale apply lock held by {dead}");
    }
    failpoint::hit("apply:locked");

    let mut backend = ws.backend()?;
    let plan = ws.plan(
        &ws.recorded(Some(&state))?,
        backend.as_ref(),
        &targets,
        destroy,
        saved.is_some(),
    )?;

    if let Some(saved) = &saved {
        check_saved(saved, &ws, &plan)?;
    } else if out.json {
        out.print_json(&render_json(&plan));
    } else if !out.quiet {
        print!("{}", render_human(&plan, out.color));
    }
    if !plan.has_changes() {
        return Ok(ExitCode::SUCCESS);
    }
    if saved.is_none() && !args.common.auto_approve && !confirm(destroy)? {
        eprintln!("{} cancelled.", if destroy { "Destroy" } else { "Apply" });
        return Ok(ExitCode::FAILURE);
    }

    let summary = plan.summary();
    let apply_id = state.begin_apply(&ApplyMeta {
        user,
        host,
        git_commit: git_commit(&ws.config_path),
        config_path: ws.config_identity(),
        backend: plan.backend.clone(),
        folder: plan.folder.clone(),
        summary: summary.line(),
        plan: render_json(&plan).to_string(),
    })?;
    failpoint::hit("apply:before-scheduler");
    let batch = plan.scheduler_batch();
    if !batch.is_empty()
        && let Err(e) = backend.apply(&batch)
    {
        state.fail_apply(apply_id, &e.to_string())?;
        tracing::error!("apply {apply_id} failed: {e}");
        bail!("the {} scheduler refused the changes: {e}", plan.backend);
    }
    // A folder move deletes the old entries only once the new folder holds the tasks:
    // an apply stopped in between leaves both, and the next plan finishes the move.
    if let Some(from) = &plan.moved_from
        && !plan.old_folder.is_empty()
        && let Err(e) = ws.backend_in(from)?.apply(&plan.old_folder)
    {
        state.fail_apply(apply_id, &e.to_string())?;
        tracing::error!("apply {apply_id} failed: {e}");
        bail!(
            "the {} scheduler refused to delete the tasks of folder \"{from}\": {e}",
            plan.backend
        );
    }
    // Registered, but the admin must act (an account without the batch logon
    // right): said at the task, on stderr and in orc's log.
    for warning in backend.take_warnings() {
        tracing::warn!("apply {apply_id}: {warning}");
        eprintln!("{} {warning}", out.paint("1;33", "warning:"));
    }
    failpoint::hit("apply:after-scheduler");
    state.commit_apply(apply_id, &ws.scope()?, &plan.state_writes())?;
    failpoint::hit("apply:after-state");
    drop(lock);
    tracing::info!(
        "apply {apply_id} by {} of {}: {}",
        user_name(),
        ws.config_path.display(),
        summary.line()
    );

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
pub fn run_approved(global: &Global, out: &Output, lock_timeout: &str) -> anyhow::Result<ExitCode> {
    run(
        ApplyArgs {
            plan_file: None,
            common: CommonArgs {
                auto_approve: true,
                targets: Vec::new(),
                lock_timeout: lock_timeout.to_string(),
            },
        },
        global,
        out,
        false,
    )
}

/// A saved plan applies only to the same place and only if nothing moved since.
fn check_saved(saved: &SavedPlan, ws: &Workspace, plan: &Plan) -> anyhow::Result<()> {
    if saved.backend != plan.backend || saved.folder != plan.folder || saved.state != ws.state_path
    {
        bail!(
            "the saved plan was made for the {} backend, folder {}, state {}; this apply uses the {} backend, folder {}, state {}",
            saved.backend,
            saved.folder,
            saved.state.display(),
            plan.backend,
            plan.folder,
            ws.state_path.display()
        );
    }
    let stale = saved.staleness(plan);
    if stale.is_stale() {
        bail!(
            "the saved plan is stale; nothing was applied:\n{stale}Run `orc plan -o FILE` again and review the new plan."
        );
    }
    Ok(())
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
