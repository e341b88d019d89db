//! Test hook for crash tests: with `ORC_FAILPOINT=NAME`, orc stops at the named point,
//! says so on stderr, and waits to be killed. The kill -9 tests use it to crash an
//! apply at exact points; in normal use the variable is unset and this does nothing.

use std::io::Write;

pub fn hit(name: &str) {
    if std::env::var("ORC_FAILPOINT").is_ok_and(|v| v == name) {
        let mut err = std::io::stderr();
        let _ = writeln!(err, "orc: failpoint {name} reached");
        let _ = err.flush();
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
}
