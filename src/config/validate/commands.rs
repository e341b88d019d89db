//! What a task runs: `command`, `shell` and `then` steps.

use super::*;
use crate::config::command::{UnclosedQuote, split_command};
use crate::config::model::{Action, Step};
use crate::config::raw::{CommandValue, RawStep, Spanned};

/// No program, path, variable or Task Scheduler field can hold one; it would
/// surface only when the task starts (or as XML that is not well-formed).
pub(super) const NUL: &str =
    "holds a NUL character (\\u0000), which no command, path or Task Scheduler field can carry";

/// Why a `command`, `shell` or `then` step cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Unclosed(#[from] UnclosedQuote),
    #[error("the command is empty")]
    Empty,
    #[error("the shell command is empty")]
    EmptyShell,
    #[error("{NUL}")]
    Nul,
    #[error("working_dir {NUL}")]
    NulInWorkingDir,
    #[error("takes either `command` or `shell`, not both")]
    Both,
    #[error("needs `command` or `shell`")]
    Neither,
}

/// A `command` value as what runs: argv, split without a shell from a line.
pub(super) fn command_action(value: &CommandValue) -> Result<Action, CommandError> {
    let argv = match value {
        CommandValue::Line(line) => split_command(line)?,
        CommandValue::Argv(argv) => argv.clone(),
    };
    if argv.first().is_none_or(|p| p.trim().is_empty()) {
        return Err(CommandError::Empty);
    }
    if argv.iter().any(|a| a.contains('\0')) {
        return Err(CommandError::Nul);
    }
    Ok(Action::Argv(argv))
}

/// `then = [...]`: each step a command or a shell line, with its own `working_dir`
/// (relative to the file, like the task's).
pub(super) fn steps(
    c: &mut Checker<'_>,
    file: usize,
    t: Option<&str>,
    raw: &[Spanned<RawStep>],
) -> Vec<Step> {
    let mut steps = Vec::new();
    for (i, step) in raw.iter().enumerate() {
        let n = i + 1;
        let action = match (&step.value.command, &step.value.shell) {
            (Some(command), None) => command_action(command),
            (None, Some(shell)) if shell.trim().is_empty() => Err(CommandError::EmptyShell),
            (None, Some(shell)) if shell.contains('\0') => Err(CommandError::Nul),
            (None, Some(shell)) => Ok(Action::Shell(shell.clone())),
            (Some(_), Some(_)) => Err(CommandError::Both),
            (None, None) => Err(CommandError::Neither),
        };
        let action = action.and_then(|a| match &step.value.working_dir {
            Some(w) if w.contains('\0') => Err(CommandError::NulInWorkingDir),
            _ => Ok(a),
        });
        match action {
            Ok(action) => steps.push(Step {
                action,
                working_dir: step
                    .value
                    .working_dir
                    .as_ref()
                    .map(|w| c.dir_in(file, w.as_ref())),
            }),
            Err(e) => c.report(file, &step.span, t, format!("then step {n}: {e}")),
        }
    }
    steps
}
