//! Questions on the terminal for `orc init`, `orc new` and the menu (inquire), and
//! the live schedule preview shown while a schedule is typed.

use std::io::IsTerminal;

use anyhow::{Result, anyhow};
use inquire::autocompletion::{Autocomplete, Replacement};
use inquire::validator::Validation;
use inquire::{CustomUserError, InquireError};
use jiff::Timestamp;
use jiff::tz::TimeZone;

/// Whether questions can be asked: stdin is a terminal, and so is stderr, where
/// inquire draws them.
pub fn can_ask() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Plain prompts when `NO_COLOR` is set, as for the rest of orc's output.
pub fn setup() {
    if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
        inquire::set_global_render_config(inquire::ui::RenderConfig::empty());
    }
}

/// An answer, or "cancelled" when Esc or Ctrl-C ended the question.
pub fn answer<T>(result: Result<T, InquireError>) -> Result<T> {
    result.map_err(|e| match e {
        InquireError::OperationCanceled | InquireError::OperationInterrupted => {
            anyhow!("cancelled; nothing was changed")
        }
        other => anyhow!("cannot ask on this terminal: {other}"),
    })
}

/// A validator from a check that returns the reason a value is refused.
pub fn check(
    f: impl Fn(&str) -> Result<()> + Clone + 'static,
) -> impl Fn(&str) -> Result<Validation, CustomUserError> + Clone + 'static {
    move |text: &str| {
        Ok(match f(text) {
            Ok(()) => Validation::Valid,
            Err(reason) => Validation::Invalid(reason.to_string().into()),
        })
    }
}

/// What a schedule means, as lines under the question: its words and next five fire
/// times, or why it is not a schedule. Empty input means "on demand".
pub fn schedule_preview(input: &str, tz: &TimeZone, now: Timestamp) -> Vec<String> {
    let input = input.trim();
    if input.is_empty() {
        return vec!["(empty: no schedule; the task runs on demand or as a dependency)".into()];
    }
    match crate::schedule::parse(input) {
        Ok(schedule) => {
            let mut lines = vec![format!("= {}", schedule.explain())];
            lines.extend(
                schedule
                    .upcoming(tz, now, 5)
                    .iter()
                    .map(|t| format!("  next: {}", t.strftime("%a %Y-%m-%d %H:%M %Z"))),
            );
            lines
        }
        Err(e) => vec![format!("✗ {e}")],
    }
}

/// Whether `text` is one of [`schedule_preview`]'s lines rather than a schedule
/// (the user moved down onto the preview and pressed enter).
pub fn is_preview_line(text: &str) -> bool {
    text.starts_with("= ")
        || text.starts_with("  next: ")
        || text.starts_with("✗ ")
        || text.starts_with("(empty: ")
}

/// Redraws [`schedule_preview`] under the input after every keystroke (inquire's
/// suggestion list). Tab completes nothing: the lines are information, not choices.
#[derive(Clone)]
pub struct SchedulePreview {
    pub tz: TimeZone,
}

impl Autocomplete for SchedulePreview {
    fn get_suggestions(&mut self, input: &str) -> Result<Vec<String>, CustomUserError> {
        Ok(schedule_preview(input, &self.tz, Timestamp::now()))
    }

    fn get_completion(
        &mut self,
        _input: &str,
        _highlighted: Option<String>,
    ) -> Result<Replacement, CustomUserError> {
        Ok(None)
    }
}

/// Ask for a schedule with the live preview; empty means none. Invalid input is
/// refused with the reason, and the question stays.
pub fn schedule(message: &str, default: Option<&str>, tz: &TimeZone) -> Result<Option<String>> {
    let mut prompt = inquire::Text::new(message)
        .with_autocomplete(SchedulePreview { tz: tz.clone() })
        .with_page_size(6)
        .with_validator(check(|text: &str| {
            if is_preview_line(text) {
                return Err(anyhow!("that line is the preview: press ↑ to go back to your input"));
            }
            let text = text.trim();
            if text.is_empty() {
                return Ok(());
            }
            crate::schedule::parse(text)
                .map(|_| ())
                .map_err(|e| anyhow!("invalid schedule: {e}"))
        }))
        .with_help_message(
            "cron (\"0 6 * * 1-5\"), a macro (\"@daily\") or a shorthand (\"06:00\", \"MON 08:00\"); empty for none",
        );
    if let Some(d) = default {
        prompt = prompt.with_default(d);
    }
    let text = answer(prompt.prompt())?;
    let text = text.trim();
    Ok((!text.is_empty()).then(|| text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_preview_says_the_schedule_in_words_and_five_times_or_why_not() {
        let tz = TimeZone::UTC;
        let now: Timestamp = "2026-01-05T00:00:00Z".parse().unwrap();
        let lines = schedule_preview("0 6 * * 1-5", &tz, now);
        assert_eq!(lines.len(), 6, "{lines:?}");
        assert!(
            lines[0].starts_with("= ") && lines[0].contains("06:00"),
            "{lines:?}"
        );
        assert_eq!(lines[1], "  next: Mon 2026-01-05 06:00 UTC");
        assert_eq!(lines[5], "  next: Fri 2026-01-09 06:00 UTC");
        let bad = schedule_preview("61 * * * *", &tz, now);
        assert_eq!(bad.len(), 1);
        assert!(bad[0].starts_with("✗ ") && bad[0].contains("61"), "{bad:?}");
        assert!(lines.iter().chain(&bad).all(|l| is_preview_line(l)));
        assert!(!is_preview_line("0 6 * * *"));
    }
}
