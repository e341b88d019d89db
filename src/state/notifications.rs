//! Alert mails in the state: queued when a run ends, sent right after, retried with
//! backoff when the mail server is away, given up after a few attempts. Kept, so that
//! `orc status` can say what could not be sent.

use super::Result;
use rusqlite::{OptionalExtension, params};

use super::{State, timestamp};

/// A mail to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub id: i64,
    pub task: Option<String>,
    pub run_id: Option<i64>,
    pub event: super::MailEvent,
    pub group: String,
    pub recipients: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub attempts: u32,
    pub channel: super::Channel,
    /// The event's facts as JSON, for the HTTP targets (`notify::hooks::Facts`).
    pub payload: Option<String>,
}

/// What `orc status` shows about mail.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct MailSummary {
    pub sent: i64,
    pub waiting: i64,
    pub given_up: i64,
    pub last_error: Option<String>,
}

impl State {
    /// Queue a mail, due now.
    pub fn queue_notification(&self, n: &Notification) -> Result<i64> {
        let now = timestamp(jiff::Timestamp::now());
        self.conn.execute(
            "INSERT INTO notifications (task, run_id, event, grp, recipients, subject, text, html,
             created_at, next_attempt_at, channel, payload)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10, ?11)",
            params![
                n.task,
                n.run_id,
                n.event,
                n.group,
                serde_json::to_string(&n.recipients)?,
                n.subject,
                n.text,
                n.html,
                now,
                n.channel,
                n.payload
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Mails not sent yet whose next attempt is due (with `all`, every one waiting).
    pub fn due_notifications(&self, all: bool) -> Result<Vec<Notification>> {
        let now = if all {
            "9999".to_string()
        } else {
            timestamp(jiff::Timestamp::now())
        };
        let mut stmt = self.conn.prepare(
            "SELECT id, task, run_id, event, grp, recipients, subject, text, html, attempts,
             channel, payload FROM notifications WHERE sent_at IS NULL AND gave_up = 0 AND next_attempt_at <= ?1
             ORDER BY id",
        )?;
        let rows = stmt.query_map([now], |r| {
            let recipients: String = r.get(5)?;
            Ok(Notification {
                id: r.get(0)?,
                task: r.get(1)?,
                run_id: r.get(2)?,
                event: r.get(3)?,
                group: r.get(4)?,
                recipients: serde_json::from_str(&recipients).unwrap_or_default(),
                subject: r.get(6)?,
                text: r.get(7)?,
                html: r.get(8)?,
                attempts: r.get(9)?,
                channel: r.get(10)?,
                payload: r.get(11)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Forget the alerts of `channel` for `task` still waiting to be sent: a newer
    /// one replaces them (a Healthchecks ping must not land after a later run's).
    pub fn drop_waiting(&self, channel: super::Channel, task: &str) -> Result<usize> {
        Ok(self.conn.execute(
            "DELETE FROM notifications WHERE channel = ?1 AND task = ?2 AND sent_at IS NULL AND gave_up = 0",
            params![channel, task],
        )?)
    }

    /// Forget run `run_id`'s alerts for `event` still waiting to be sent (a `slow`
    /// alert that says "still running" once the run has ended).
    pub fn drop_waiting_event(&self, event: super::MailEvent, run_id: i64) -> Result<usize> {
        Ok(self.conn.execute(
            "DELETE FROM notifications WHERE event = ?1 AND run_id = ?2 AND sent_at IS NULL AND gave_up = 0",
            params![event, run_id],
        )?)
    }

    pub fn notification_sent(&self, id: i64) -> Result<()> {
        self.conn.execute(
            "UPDATE notifications SET sent_at = ?2, attempts = attempts + 1, last_error = NULL WHERE id = ?1",
            params![id, timestamp(jiff::Timestamp::now())],
        )?;
        Ok(())
    }

    /// A failed attempt: try again at `retry_at`, or give up (None).
    pub fn notification_failed(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<jiff::Timestamp>,
    ) -> Result<()> {
        self.conn.execute(
            "UPDATE notifications SET attempts = attempts + 1, last_error = ?2,
             next_attempt_at = COALESCE(?3, next_attempt_at), gave_up = ?4 WHERE id = ?1",
            params![id, error, retry_at.map(timestamp), retry_at.is_none()],
        )?;
        Ok(())
    }

    pub fn mail_summary(&self) -> Result<MailSummary> {
        let (sent, waiting, given_up): (i64, i64, i64) = self.conn.query_row(
            "SELECT COALESCE(SUM(sent_at IS NOT NULL), 0),
                    COALESCE(SUM(sent_at IS NULL AND gave_up = 0), 0),
                    COALESCE(SUM(gave_up = 1), 0) FROM notifications",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        let last_error = self
            .conn
            .query_row(
                "SELECT last_error FROM notifications WHERE sent_at IS NULL AND last_error IS NOT NULL
                 ORDER BY id DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?;
        Ok(MailSummary {
            sent,
            waiting,
            given_up,
            last_error,
        })
    }

    /// The status of the task's last finished run before run `id` (skips aside).
    pub fn previous_outcome(&self, task: &str, id: i64) -> Result<Option<super::RunStatus>> {
        Ok(self
            .conn
            .query_row(
                "SELECT status FROM runs WHERE task = ?1 AND id < ?2 AND finished_at IS NOT NULL
                 AND status NOT IN ('skipped', 'duplicate', 'missed') ORDER BY id DESC LIMIT 1",
                params![task, id],
                |r| r.get(0),
            )
            .optional()?)
    }
}
