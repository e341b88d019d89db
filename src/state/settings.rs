//! The `settings` table: key/value rows for the runtime settings apply records and
//! for orc's own bookkeeping (when retention last ran).

use super::{Result, StateError};
use rusqlite::{Connection, OptionalExtension, params};

use super::{Scope, State, now, timestamp};
use crate::config::RuntimeSettings;

/// The key prefix of the runtime settings apply records: `runtime:BACKEND:FOLDER`.
pub const RUNTIME: &str = "runtime";

pub(super) fn write(conn: &Connection, key: &str, value: &str) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO settings (key, value, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        params![key, value, now()],
    )?;
    Ok(())
}

impl State {
    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// The runtime settings JSON applied to `scope`, or (without one) the latest any
    /// apply recorded.
    fn runtime_json(&self, scope: Option<&Scope>) -> Result<Option<String>> {
        match scope {
            Some(scope) => match self.setting(&scope.settings_key())? {
                Some(json) => Ok(Some(json)),
                // A scope that never recorded settings (a task found by name from an
                // older state): the latest applied.
                None => self.runtime_json(None),
            },
            None => Ok(self
                .conn
                .query_row(
                    "SELECT value FROM settings WHERE key LIKE 'runtime:%' ORDER BY updated_at DESC LIMIT 1",
                    [],
                    |r| r.get(0),
                )
                .optional()?),
        }
    }

    /// The runtime settings last applied (to `scope`, or to any), or the defaults
    /// before any apply set them.
    pub fn runtime_settings(&self, scope: Option<&Scope>) -> Result<RuntimeSettings> {
        match self.runtime_json(scope)? {
            Some(json) => serde_json::from_str(&json).map_err(StateError::Settings),
            None => Ok(RuntimeSettings::default()),
        }
    }

    /// Record orc's own bookkeeping value `key` (never a key apply writes).
    pub fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        write(&self.conn, key, value)?;
        Ok(())
    }

    /// Orc's own bookkeeping value `key`, written as `value` if there was none.
    pub fn setting_or_insert(&self, key: &str, value: &str) -> Result<String> {
        self.conn.execute(
            "INSERT OR IGNORE INTO settings (key, value, updated_at) VALUES (?1, ?2, ?3)",
            params![key, value, now()],
        )?;
        Ok(self.setting(key)?.unwrap_or_else(|| value.to_string()))
    }

    /// Forget orc's own bookkeeping value `key`; whether there was one.
    pub fn clear_setting(&self, key: &str) -> Result<bool> {
        Ok(self
            .conn
            .execute("DELETE FROM settings WHERE key = ?1", [key])?
            == 1)
    }

    /// Where alerts go, as last applied to `scope` (or to any); nothing before an
    /// apply set it.
    pub fn notify_settings(&self, scope: Option<&Scope>) -> Result<crate::config::NotifySettings> {
        match self.runtime_json(scope)? {
            Some(json) => serde_json::from_str(&json).map_err(StateError::Settings),
            None => Ok(Default::default()),
        }
    }

    /// Claim a periodic job: true (and the claim recorded) when `key` was last
    /// claimed longer than `every` ago, or never. Of several processes asking at
    /// once, one wins.
    pub fn claim(&self, key: &str, every: std::time::Duration) -> Result<bool> {
        let now = jiff::Timestamp::now();
        // A period too long to subtract reaches back before any claim.
        let before = timestamp(
            jiff::SignedDuration::try_from(every)
                .ok()
                .and_then(|d| now.checked_sub(d).ok())
                .unwrap_or(jiff::Timestamp::MIN),
        );
        // Read first: nearly always it is not time yet, and a read takes no write lock.
        if self.setting(key)?.is_some_and(|last| last >= before) {
            return Ok(false);
        }
        let changed = self.conn.execute(
            "INSERT INTO settings (key, value, updated_at) VALUES (?1, ?2, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
             WHERE settings.value < ?3",
            params![key, timestamp(now), before],
        )?;
        Ok(changed > 0)
    }
}
