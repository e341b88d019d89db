//! Names: what a task, group, secret or folder may be called, and "did you mean".

/// Why a name is refused: each rule a Windows task name, a file name and a crontab
/// word all satisfy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("the name is empty")]
    Empty,
    #[error("\"{0}\" is longer than 64 characters")]
    TooLong(String),
    #[error("\"{name}\" contains {c:?}; names may hold only letters A-Z, digits, '_', '-' and '.'")]
    Character { name: String, c: char },
    #[error("\"{0}\" must start with a letter or digit")]
    Start(String),
    #[error("\"{0}\" ends with '.', which Windows drops from names")]
    TrailingDot(String),
    #[error("\"{0}\" is a reserved device name on Windows")]
    Reserved(String),
    /// A `renamed_from` longer than Task Scheduler allows.
    #[error("\"{0}\" is longer than a task name can be (238)")]
    TooLongForTaskScheduler(String),
    /// A `renamed_from` with a folder separator or a control character.
    #[error("\"{name}\" contains {c:?}, which no task name holds")]
    NotInTaskName { name: String, c: char },
}

/// Check a name used for tasks, notify groups, secrets and the folder. It must be
/// usable as a Windows task name, a file name, and a crontab word without quoting.
pub fn check_name(name: &str) -> Result<(), NameError> {
    const RESERVED: [&str; 22] = [
        "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
        "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
    ];
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.chars().count() > 64 {
        return Err(NameError::TooLong(name.to_string()));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        let name = name.to_string();
        return Err(NameError::Character { name, c });
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(NameError::Start(name.to_string()));
    }
    if name.ends_with('.') {
        return Err(NameError::TrailingDot(name.to_string()));
    }
    let stem = name.split('.').next().unwrap_or(name);
    if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(stem)) {
        return Err(NameError::Reserved(name.to_string()));
    }
    Ok(())
}

/// A `renamed_from`: an orc name, or a Task Scheduler task's name (spaces and other
/// punctuation allowed; no folder separators or control characters).
pub(super) fn check_renamed_from(name: &str) -> Result<(), NameError> {
    if check_name(name).is_ok() {
        return Ok(());
    }
    if name.trim().is_empty() {
        return Err(NameError::Empty);
    }
    if name.chars().count() > 238 {
        return Err(NameError::TooLongForTaskScheduler(name.to_string()));
    }
    if let Some(c) = name.chars().find(|c| {
        c.is_control() || matches!(c, '\\' | '/' | '"' | '<' | '>' | '|' | ':' | '*' | '?')
    }) {
        let name = name.to_string();
        return Err(NameError::NotInTaskName { name, c });
    }
    Ok(())
}

/// The closest known name, for "did you mean" hints.
pub(crate) fn closest<'a>(
    name: &str,
    known: impl Iterator<Item = &'a String>,
) -> Option<&'a String> {
    known
        .map(|k| (edit_distance(name, k), k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3))
        .min()
        .map(|(_, k)| k)
}

pub(super) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

pub(super) fn looks_like_email(s: &str) -> bool {
    match s.rsplit_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !s.chars().any(char::is_whitespace)
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        }
        None => false,
    }
}
