//! One apply at a time: a lock row in the state database.
//!
//! A second apply fails at once naming the holder (or waits with `--lock-timeout`).
//! A holder that died on this host (kill -9, power loss) cannot release its lock, so a
//! lock whose process is gone is broken automatically, with a warning. A process is
//! known by its pid and its start time: a pid reused by another process is not the
//! holder.

use std::time::{Duration, Instant};

use super::Result;
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use serde::Serialize;

use super::{State, now};

/// Who holds a lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LockHolder {
    pub pid: u32,
    pub host: String,
    pub user: String,
    pub purpose: String,
    pub acquired_at: String,
    /// When the holder process started (see [`process_start`]), if known.
    #[serde(skip)]
    pub pid_start: Option<i64>,
}

/// Another orc holds the lock and did not let go in time (the API's 409).
#[derive(Debug, thiserror::Error)]
#[error(
    "the state is locked by another orc: {holder}; wait for it to finish, or pass --lock-timeout to wait"
)]
pub struct Locked {
    pub holder: LockHolder,
}

impl std::fmt::Display for LockHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pid {} on host {} (user {}, {} since {})",
            self.pid, self.host, self.user, self.purpose, self.acquired_at
        )
    }
}

/// Releases the lock when dropped.
pub struct LockGuard<'a> {
    state: &'a State,
    name: String,
    /// A stale lock that was broken to take this one, for the caller to warn about.
    pub broke: Option<LockHolder>,
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        let _ = self.state.conn.execute(
            "DELETE FROM locks WHERE name = ?1 AND pid = ?2",
            params![self.name, std::process::id()],
        );
    }
}

/// Is process `pid` running on this machine? (A zombie is not.)
pub fn pid_alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return false;
        };
        #[cfg(target_os = "linux")]
        if let Some((state, _)) = linux_stat(pid as u32)
            && matches!(state, 'Z' | 'X')
        {
            return false;
        }
        // Signal 0 checks existence; EPERM means it exists but belongs to someone else.
        // SAFETY: kill with signal 0 sends nothing; it only checks the pid.
        let rc = unsafe { libc::kill(pid, 0) };
        rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
    #[cfg(windows)]
    {
        windows_alive(pid)
    }
}

/// Windows: a pid that cannot be opened because there is no such process is dead; one
/// that cannot be opened for another reason (access denied) is assumed alive: never
/// break a live lock.
#[cfg(windows)]
fn windows_alive(pid: u32) -> bool {
    use windows::Win32::Foundation::{CloseHandle, ERROR_INVALID_PARAMETER, STILL_ACTIVE};
    use windows::Win32::System::Threading::{
        GetExitCodeProcess, OpenProcess, PROCESS_QUERY_LIMITED_INFORMATION,
    };
    // SAFETY: the handle opened is closed; the exit code is written by the call.
    unsafe {
        match OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, false, pid) {
            Ok(handle) => {
                let mut code = 0u32;
                let known = GetExitCodeProcess(handle, &mut code).is_ok();
                let _ = CloseHandle(handle);
                !known || code == STILL_ACTIVE.0 as u32
            }
            Err(e) => e.code() != ERROR_INVALID_PARAMETER.to_hresult(),
        }
    }
}

/// (state, start time in clock ticks since boot) of a process, from /proc.
#[cfg(target_os = "linux")]
fn linux_stat(pid: u32) -> Option<(char, i64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = text.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields after the name start at the 3rd (state); the start time is the 22nd.
    Some((
        fields.first()?.chars().next()?,
        fields.get(19)?.parse().ok()?,
    ))
}

/// When process `pid` started, in a form that only tells processes apart (Linux:
/// clock ticks since boot; Windows: its creation time); `None` when there is no such
/// process or the platform does not say.
pub fn process_start(pid: u32) -> Option<i64> {
    #[cfg(target_os = "linux")]
    return linux_stat(pid)
        .filter(|(state, _)| !matches!(state, 'Z' | 'X'))
        .map(|(_, start)| start);
    #[cfg(windows)]
    return windows_start(pid);
    #[cfg(not(any(target_os = "linux", windows)))]
    {
        let _ = pid;
        None
    }
}

#[cfg(windows)]
fn windows_start(pid: u32) -> Option<i64> {
    use windows::Win32::Foundation::{CloseHandle, FILETIME, STILL_ACTIVE};
    use windows::Win32::System::Threading::{
        GetExitCodeProcess, GetProcessTimes, OpenProcess, PROCESS_QUERY_LIMITED_INFORMATION,
    };
    // SAFETY: the handle opened is closed; the FILETIMEs are written by the call.
    unsafe {
        let handle = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, false, pid).ok()?;
        let mut code = 0u32;
        let running =
            GetExitCodeProcess(handle, &mut code).is_ok() && code == STILL_ACTIVE.0 as u32;
        let (mut created, mut exited, mut kernel, mut user) = (
            FILETIME::default(),
            FILETIME::default(),
            FILETIME::default(),
            FILETIME::default(),
        );
        let times = GetProcessTimes(handle, &mut created, &mut exited, &mut kernel, &mut user);
        let _ = CloseHandle(handle);
        (running && times.is_ok())
            .then(|| (i64::from(created.dwHighDateTime) << 32) | i64::from(created.dwLowDateTime))
    }
}

/// This process's start time (see [`process_start`]); read once, it does not change.
pub fn my_start() -> Option<i64> {
    static MINE: std::sync::OnceLock<Option<i64>> = std::sync::OnceLock::new();
    *MINE.get_or_init(|| process_start(std::process::id()))
}

/// Is the process that was `pid`, started at `started` (when recorded), still
/// running? A pid now used by a process that started at another time is not it.
pub fn same_process(pid: u32, started: Option<i64>) -> bool {
    if !pid_alive(pid) {
        return false;
    }
    match (started, process_start(pid)) {
        (Some(then), Some(now)) => then == now,
        _ => true,
    }
}

impl State {
    /// Take lock `name` for `purpose`, waiting up to `timeout` for a live holder.
    pub fn lock(
        &self,
        name: &str,
        purpose: &str,
        host: &str,
        user: &str,
        timeout: Duration,
    ) -> Result<LockGuard<'_>> {
        let start = Instant::now();
        loop {
            let holder = match self.try_lock(name, purpose, host, user)? {
                Ok(guard) => return Ok(guard),
                Err(holder) => holder,
            };
            if start.elapsed() >= timeout {
                return Err(Locked { holder }.into());
            }
            let left = timeout.saturating_sub(start.elapsed());
            std::thread::sleep(
                Duration::from_millis(200)
                    .min(left)
                    .max(Duration::from_millis(10)),
            );
        }
    }

    /// Take lock `name` if it is free or its holder died on this host; otherwise
    /// say who holds it.
    pub fn try_lock(
        &self,
        name: &str,
        purpose: &str,
        host: &str,
        user: &str,
    ) -> Result<std::result::Result<LockGuard<'_>, LockHolder>> {
        let me = std::process::id();
        let tx = rusqlite::Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)?;
        let holder: Option<LockHolder> = tx
            .query_row(
                "SELECT pid, host, user, purpose, acquired_at, pid_start FROM locks WHERE name = ?1",
                [name],
                |r| {
                    Ok(LockHolder {
                        pid: r.get(0)?,
                        host: r.get(1)?,
                        user: r.get(2)?,
                        purpose: r.get(3)?,
                        acquired_at: r.get(4)?,
                        pid_start: r.get(5)?,
                    })
                },
            )
            .optional()?;
        let stale = holder
            .as_ref()
            .is_some_and(|h| h.host == host && (h.pid == me || !same_process(h.pid, h.pid_start)));
        if let Some(live) = holder.clone().filter(|_| !stale) {
            tx.rollback()?;
            return Ok(Err(live));
        }
        let broke = holder.filter(|h| h.pid != me);
        tx.execute("DELETE FROM locks WHERE name = ?1", [name])?;
        tx.execute(
            "INSERT INTO locks (name, pid, host, user, purpose, acquired_at, pid_start) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![name, me, host, user, purpose, now(), my_start()],
        )?;
        tx.commit()?;
        if let Some(dead) = &broke {
            self.mark_interrupted(dead.pid, &dead.host)?;
        }
        Ok(Ok(LockGuard {
            state: self,
            name: name.to_string(),
            broke,
        }))
    }
}
