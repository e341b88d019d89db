//! Fleet mode's outbox (migration 11): the runs queued for the fleet database by the
//! triggers on `runs`, while `[fleet]` is applied.

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

    /// How many queue entries wait.
    pub fn outbox_len(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("SELECT count(*) FROM fleet_outbox", [], |r| r.get(0))?)
    }
}
