//! The closed sets of words the state stores in its TEXT columns: a run's status and
//! trigger, a notification's event. Each is an enum here, written and read through
//! `ToSql`/`FromSql`, so that a typo in a comparison is a compile error and a row
//! holding a word orc does not know is an error when read, not a silent mismatch.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

use crate::config::NotifyEvent;

/// Gives a fieldless enum its stored word: `as_str`, `FromStr`, `Display`,
/// `Serialize` (as the word), `ToSql` and `FromSql`.
macro_rules! stored_words {
    ($ty:ident { $($variant:ident => $word:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The word stored and shown for this value.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $word),+
                }
            }
        }

        impl std::str::FromStr for $ty {
            type Err = UnknownWord;

            fn from_str(text: &str) -> Result<$ty, UnknownWord> {
                match text {
                    $($word => Ok($ty::$variant),)+
                    _ => Err(UnknownWord {
                        kind: stringify!($ty),
                        word: text.to_string(),
                        known: &[$($word),+],
                    }),
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                // `pad`, so that `{:<11}` lines up columns as it does for a str.
                f.pad(self.as_str())
            }
        }

        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl ToSql for $ty {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $ty {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<$ty> {
                value
                    .as_str()?
                    .parse()
                    .map_err(|e: UnknownWord| FromSqlError::Other(Box::new(e)))
            }
        }
    };
}

/// A word that names none of a kind's values (a status a newer orc wrote, a typo in
/// a filter).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("\"{word}\" is not a {kind}; it is one of {}", known.join(", "))]
pub struct UnknownWord {
    pub kind: &'static str,
    pub word: String,
    pub known: &'static [&'static str],
}

/// Where a run stands: running until it finishes, then how it ended; `missed` for
/// fire times nothing ran at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum RunStatus {
    Running,
    Success,
    /// The default of a [`super::RunFinish`] being filled in: a finish that never
    /// said how it went did not succeed.
    #[default]
    Failed,
    Timeout,
    Skipped,
    Interrupted,
    Missed,
    /// Fleet mode, `run_on = "one"`: another host of the pool claimed the fire and
    /// ran it; this host did nothing (and alerts nothing).
    Duplicate,
    /// Ended with one of the task's `warning_exit_codes`: not a failure, but told.
    Warning,
    /// Killed for memory at the task's `memory_max` (its cgroup's OOM killer).
    Oom,
}

stored_words!(RunStatus {
    Running => "running",
    Success => "success",
    Failed => "failed",
    Timeout => "timeout",
    Skipped => "skipped",
    Interrupted => "interrupted",
    Missed => "missed",
    Duplicate => "duplicate",
    Warning => "warning",
    Oom => "oom",
});

impl RunStatus {
    /// Finished and not a success: what alerts and the report count as a problem.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            RunStatus::Failed | RunStatus::Timeout | RunStatus::Interrupted | RunStatus::Oom
        )
    }
}

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RunTrigger {
    Scheduled,
    Manual,
    Dependency,
    CatchUp,
    /// Started by another task's run: `on_success`, `on_failure` or `after`.
    Chain,
    /// A past fire run by `orc backfill`.
    Backfill,
}

stored_words!(RunTrigger {
    Scheduled => "scheduled",
    Manual => "manual",
    Dependency => "dependency",
    CatchUp => "catch-up",
    Chain => "chain",
    Backfill => "backfill",
});

/// What a queued mail is about: one of the run events a `[notify]` group hears
/// (`on = [...]`), or a config that stopped a scheduled run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MailEvent {
    Failure,
    Timeout,
    Skipped,
    Retry,
    Success,
    Recovered,
    Missed,
    Slow,
    TooFast,
    Warning,
    ConfigError,
}

stored_words!(MailEvent {
    Failure => "failure",
    Timeout => "timeout",
    Skipped => "skipped",
    Retry => "retry",
    Success => "success",
    Recovered => "recovered",
    Missed => "missed",
    Slow => "slow",
    TooFast => "too_fast",
    Warning => "warning",
    ConfigError => "config_error",
});

/// Why a run's duration was alerted: it went on past `max_duration`, or succeeded
/// quicker than `min_duration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DurationFlag {
    Slow,
    TooFast,
}

stored_words!(DurationFlag {
    Slow => "slow",
    TooFast => "too_fast",
});

/// Where a queued alert goes: mail through `[smtp]`, or one of a group's HTTP targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Channel {
    Email,
    Webhook,
    Teams,
    Slack,
    Ntfy,
    Healthchecks,
}

stored_words!(Channel {
    Email => "email",
    Webhook => "webhook",
    Teams => "teams",
    Slack => "slack",
    Ntfy => "ntfy",
    Healthchecks => "healthchecks",
});

impl From<NotifyEvent> for MailEvent {
    fn from(e: NotifyEvent) -> MailEvent {
        match e {
            NotifyEvent::Failure => MailEvent::Failure,
            NotifyEvent::Timeout => MailEvent::Timeout,
            NotifyEvent::Skipped => MailEvent::Skipped,
            NotifyEvent::Retry => MailEvent::Retry,
            NotifyEvent::Success => MailEvent::Success,
            NotifyEvent::Recovered => MailEvent::Recovered,
            NotifyEvent::Missed => MailEvent::Missed,
            NotifyEvent::Slow => MailEvent::Slow,
            NotifyEvent::TooFast => MailEvent::TooFast,
            NotifyEvent::Warning => MailEvent::Warning,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_through_sqlite() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        for status in RunStatus::ALL {
            let back: RunStatus = conn.query_row("SELECT ?1", [status], |r| r.get(0)).unwrap();
            assert_eq!(back, *status);
        }
        for trigger in RunTrigger::ALL {
            let text: String = conn
                .query_row("SELECT ?1", [trigger], |r| r.get(0))
                .unwrap();
            assert_eq!(text, trigger.as_str());
        }
        let event: MailEvent = conn
            .query_row("SELECT 'config_error'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(event, MailEvent::ConfigError);
        assert_eq!(
            MailEvent::from(NotifyEvent::Recovered).as_str(),
            "recovered"
        );
    }

    #[test]
    fn an_unknown_word_is_an_error_naming_the_known_ones() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let read: rusqlite::Result<RunStatus> =
            conn.query_row("SELECT 'exploded'", [], |r| r.get(0));
        let e = read.unwrap_err().to_string();
        assert!(e.contains("\"exploded\" is not a RunStatus"), "{e}");
        assert!(e.contains("running, success, failed"), "{e}");
        assert_eq!("catch-up".parse::<RunTrigger>(), Ok(RunTrigger::CatchUp));
    }
}
