//! Test hook for crash tests: with `ORC_FAILPOINT=NAME`, orc stops at the named point,
//! says so on stderr, and waits to be killed. The kill -9 tests use it to crash an
//! apply at exact points; in normal use the variable is unset and this does nothing.
//! With `ORC_FAILPOINT_PAUSE_MS=N` as well, orc waits N ms there and goes on: the
//! race tests use it to make a slow step slow on any machine.

use std::io::Write;

pub fn hit(name: &str) {
    if std::env::var("ORC_FAILPOINT").is_ok_and(|v| v == name) {
        let mut err = std::io::stderr();
        let _ = writeln!(err, "orc: failpoint {name} reached");
        let _ = err.flush();
        if let Some(ms) = std::env::var("ORC_FAILPOINT_PAUSE_MS")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            std::thread::sleep(std::time::Duration::from_millis(ms));
            return;
        }
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
}
