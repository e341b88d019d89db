//! `orc plan`: what apply would change, Terraform-style.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::validate::print_diagnostics;
use super::{Global, Output, load_workspace};
use crate::plan::{SavedPlan, plan_json, render_human};
use crate::state::State;

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Save the plan to FILE, for `orc apply FILE` to apply exactly it
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Exit 0 with no changes, 1 on error, 2 when there are changes
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Plan only these tasks (repeatable)
    #[arg(long = "target", value_name = "NAME")]
    pub targets: Vec<String>,
}

/// The whole plan, as `orc plan` with no options prints it.
pub fn show(global: &Global, out: &Output) -> anyhow::Result<ExitCode> {
    run(
        PlanArgs {
            out: None,
            detailed_exitcode: false,
            targets: Vec::new(),
        },
        global,
        out,
    )
}

pub fn run(args: PlanArgs, global: &Global, out: &Output) -> anyhow::Result<ExitCode> {
    // Read what orc recorded while the config loads: neither needs the other, and on
    // large configs both take a while. Plan creates nothing, so a missing state is empty.
    let state_path = crate::workspace::state_path(global.state.as_deref());
    let state = std::thread::spawn(move || -> anyhow::Result<Option<State>> {
        if !state_path.exists() {
            return Ok(None);
        }
        Ok(Some(State::open(&state_path)?))
    });
    let Some(ws) = load_workspace(global, out)? else {
        return Ok(ExitCode::FAILURE);
    };
    print_diagnostics(&ws.warnings, out);
    let (desired, _) = ws.desired();
    let held = super::validate::held_secrets(&ws.state_path)?;
    print_diagnostics(
        &super::validate::secret_diagnostics(&ws.config, desired.values().copied(), &held, false),
        out,
    );
    let state = state
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
    let recorded = ws.recorded(state.as_ref())?;
    let backend = ws.backend()?;
    let plan = ws.plan(
        &recorded,
        backend.as_ref(),
        &args.targets,
        false,
        args.out.is_some(),
    )?;
    if out.json {
        out.print_json(&plan_json(&plan));
    } else if !out.quiet {
        print!("{}", render_human(&plan, out.color));
    }
    if let Some(file) = &args.out {
        SavedPlan::new(&plan, &ws.config_path, &ws.state_path, &args.targets).write(file)?;
        out.info(&format!(
            "\nSaved the plan to {}. To apply exactly it: orc apply {}",
            file.display(),
            file.display()
        ));
    }
    let code = if args.detailed_exitcode && plan.has_changes() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    };
    // The process ends next: let the OS reclaim the config, state and plan at once
    // instead of freeing tens of thousands of small objects one by one.
    std::mem::forget((ws, recorded, plan));
    Ok(code)
}
