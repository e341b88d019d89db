//! Facts about the machine and the account orc runs on: the host name `hosts = [...]`
//! matches, the user locks and the audit log name, the git commit of a config. A
//! leaf: it imports nothing of orc.

use std::path::Path;

/// This machine's name, as `hosts = [...]` matches it. `ORC_HOSTNAME` overrides it
/// (for fleet tests, and for machines whose name is not what the config uses).
pub fn host_name() -> String {
    std::env::var("ORC_HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| gethostname::gethostname().to_string_lossy().into_owned())
}

/// Who runs orc, for locks and the audit log: `$USER` (`%USERNAME%`), else the
/// account of the process itself (cron and services often set no `$USER`).
pub fn user_name() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(account_name)
        .unwrap_or_else(|| "unknown".to_string())
}

/// The name of the account this process runs as, from the user database.
#[cfg(unix)]
fn account_name() -> Option<String> {
    let mut buf = vec![0u8; 4096];
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: getpwuid_r writes into `pwd` and `buf`, both alive and of the sizes
    // given; `pw_name` points into `buf` and is read before `buf` is dropped.
    unsafe {
        let rc = libc::getpwuid_r(
            libc::geteuid(),
            &mut pwd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut found,
        );
        if rc != 0 || found.is_null() || pwd.pw_name.is_null() {
            return None;
        }
        Some(
            std::ffi::CStr::from_ptr(pwd.pw_name)
                .to_string_lossy()
                .into_owned(),
        )
    }
}

/// The name of the account of this process's token.
#[cfg(windows)]
fn account_name() -> Option<String> {
    use windows::Win32::System::WindowsProgramming::GetUserNameW;
    let mut buf = [0u16; 257];
    let mut len = buf.len() as u32;
    // SAFETY: the buffer and its length in characters, as GetUserNameW expects.
    unsafe { GetUserNameW(Some(windows::core::PWSTR(buf.as_mut_ptr())), &mut len) }.ok()?;
    Some(String::from_utf16_lossy(
        &buf[..(len as usize).saturating_sub(1)],
    ))
}

/// The commit of the config when it sits in a git work tree, with "+dirty" when it has
/// uncommitted changes; for the audit log.
pub fn git_commit(config: &Path) -> Option<String> {
    let dir = if config.is_dir() {
        config
    } else {
        config.parent()?
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let commit = git(&["rev-parse", "HEAD"])?;
    let dirty = git(&["status", "--porcelain", "--", "."]).is_some_and(|s| !s.is_empty());
    Some(if dirty {
        format!("{commit}+dirty")
    } else {
        commit
    })
}
