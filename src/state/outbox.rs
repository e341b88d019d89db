//! Fleet mode's outbox (migrations 11 and 12): the runs and the alerts' outcomes
//! queued for the fleet database by the triggers on `runs` and `notifications`,
//! while `[fleet]` is applied.

use rusqlite::OptionalExtension;

use super::runs::{SELECT_RUN, run_record};
use super::{Result, RunRecord, State, StateError};

/// A batch of the outbox: the runs queued, each once and as it is now.
pub struct OutboxBatch {
    /// The last queue entry the batch covers: delivered, the queue is cut there.
    pub upto: i64,
    /// The runs, oldest first; a run retention deleted since is not among them, nor
    /// a `duplicate` (the host that ran the fire sends the run).
    pub runs: Vec<RunRecord>,
}

/// A batch of the alerts' queue: each alert once, as it is now.
pub struct AlertBatch {
    pub upto: i64,
    pub alerts: Vec<AlertOutcome>,
}

/// An alert and how its sending went (its body stays on the host).
#[derive(Debug, Clone)]
pub struct AlertOutcome {
    pub id: i64,
    pub task: Option<String>,
    pub run_id: Option<i64>,
    pub event: String,
    pub group: String,
    /// email, webhook, teams, slack or ntfy.
    pub channel: String,
    pub subject: String,
    pub created_at: String,
    pub attempts: i64,
    pub sent_at: Option<String>,
    pub gave_up: bool,
    pub last_error: Option<String>,
}

impl State {
    /// `[fleet]` as last applied to any scope of this state, if any.
    pub fn fleet_settings(&self) -> Result<Option<crate::config::Fleet>> {
        let json: Option<String> = self
            .conn
            .query_row(
                "SELECT json_extract(value, '$.fleet') FROM settings
                 WHERE key LIKE 'runtime:%' AND json_extract(value, '$.fleet') IS NOT NULL
                 ORDER BY updated_at DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?;
        json.map(|j| serde_json::from_str(&j).map_err(StateError::Settings))
            .transpose()
    }

    /// The oldest queue entries, up to `limit`; none when the queue is empty.
    pub fn outbox(&self, limit: usize) -> Result<Option<OutboxBatch>> {
        let upto: Option<i64> = self.conn.query_row(
            "SELECT max(id) FROM (SELECT id FROM fleet_outbox ORDER BY id LIMIT ?1)",
            [limit.min(i64::MAX as usize) as i64],
            |r| r.get(0),
        )?;
        let Some(upto) = upto else {
            return Ok(None);
        };
        let mut stmt = self.conn.prepare(&format!(
            "{SELECT_RUN} WHERE id IN (SELECT run_id FROM fleet_outbox WHERE id <= ?1)
             AND status != 'duplicate' ORDER BY id"
        ))?;
        let runs = stmt
            .query_map([upto], run_record)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(Some(OutboxBatch { upto, runs }))
    }

    /// Cut the queue after what the fleet database took (entries up to `upto`).
    pub fn outbox_delivered(&self, upto: i64) -> Result<()> {
        self.conn
            .execute("DELETE FROM fleet_outbox WHERE id <= ?1", [upto])?;
        Ok(())
    }

    /// How many queue entries wait, runs' and alerts'.
    pub fn outbox_len(&self) -> Result<i64> {
        Ok(self.conn.query_row(
            "SELECT (SELECT count(*) FROM fleet_outbox) + (SELECT count(*) FROM fleet_alert_outbox)",
            [],
            |r| r.get(0),
        )?)
    }

    /// The oldest queued alert outcomes, up to `limit`; none when that queue is
    /// empty.
    pub fn alert_outbox(&self, limit: usize) -> Result<Option<AlertBatch>> {
        let upto: Option<i64> = self.conn.query_row(
            "SELECT max(id) FROM (SELECT id FROM fleet_alert_outbox ORDER BY id LIMIT ?1)",
            [limit.min(i64::MAX as usize) as i64],
            |r| r.get(0),
        )?;
        let Some(upto) = upto else {
            return Ok(None);
        };
        let mut stmt = self.conn.prepare(
            "SELECT id, task, run_id, event, grp, channel, subject, created_at, attempts,
                    sent_at, gave_up, last_error
             FROM notifications
             WHERE id IN (SELECT notification_id FROM fleet_alert_outbox WHERE id <= ?1)
             ORDER BY id",
        )?;
        let alerts = stmt
            .query_map([upto], |r| {
                Ok(AlertOutcome {
                    id: r.get(0)?,
                    task: r.get(1)?,
                    run_id: r.get(2)?,
                    event: r.get(3)?,
                    group: r.get(4)?,
                    channel: r.get(5)?,
                    subject: r.get(6)?,
                    created_at: r.get(7)?,
                    attempts: r.get(8)?,
                    sent_at: r.get(9)?,
                    gave_up: r.get(10)?,
                    last_error: r.get(11)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(Some(AlertBatch { upto, alerts }))
    }

    /// Cut the alerts' queue after what the fleet database took.
    pub fn alert_outbox_delivered(&self, upto: i64) -> Result<()> {
        self.conn
            .execute("DELETE FROM fleet_alert_outbox WHERE id <= ?1", [upto])?;
        Ok(())
    }
}
