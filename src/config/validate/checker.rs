//! The checker every section reports into: diagnostics at a span of a file, and
//! the value types many sections share (durations, environments, folders).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;
use crate::config::diag::{Diagnostic, Diagnostics, Source};
use crate::config::duration::{format_duration, parse_duration};
use crate::config::raw::{DurationValue, EnvValue, Spanned};

pub(super) struct Checker<'a> {
    pub(super) sources: &'a [Source],
    pub(super) diags: &'a mut Diagnostics,
}

impl Checker<'_> {
    pub(super) fn error(
        &mut self,
        file: usize,
        span: &std::ops::Range<usize>,
        task: Option<&str>,
        msg: impl Into<String>,
    ) -> Diagnostic {
        let mut d = Diagnostic::error(msg).at(&self.sources[file], Some(span.clone()));
        if let Some(t) = task {
            d = d.task(t);
        }
        d
    }

    pub(super) fn report(
        &mut self,
        file: usize,
        span: &std::ops::Range<usize>,
        task: Option<&str>,
        msg: impl Into<String>,
    ) {
        let d = self.error(file, span, task, msg);
        self.diags.push(d);
    }

    pub(super) fn duration(
        &mut self,
        file: usize,
        task: Option<&str>,
        key: &str,
        v: &Spanned<DurationValue>,
    ) -> Option<Duration> {
        let parsed = match &v.value {
            DurationValue::Seconds(n) if *n >= 0 => Ok(Duration::from_secs(*n as u64)),
            DurationValue::Seconds(n) => Err(format!("{n} is negative")),
            DurationValue::Text(t) => parse_duration(t).map_err(|e| e.to_string()),
        }
        .and_then(|d| {
            if d > MAX_DURATION {
                Err(format!(
                    "{} is longer than the most orc accepts, {}",
                    format_duration(d),
                    format_duration(MAX_DURATION)
                ))
            } else {
                Ok(d)
            }
        });
        match parsed {
            Ok(d) => Some(d),
            Err(e) => {
                self.report(file, &v.span, task, format!("invalid {key}: {e}"));
                None
            }
        }
    }

    /// `retry_count`, at most `MAX_RETRIES`.
    pub(super) fn retry_count(
        &mut self,
        file: usize,
        task: Option<&str>,
        n: &Spanned<u32>,
    ) -> Option<u32> {
        if n.value > MAX_RETRIES {
            self.report(
                file,
                &n.span,
                task,
                format!(
                    "invalid retry_count: {} is more than the most orc accepts, {MAX_RETRIES}",
                    n.value
                ),
            );
            return None;
        }
        Some(n.value)
    }

    /// An optional duration key; with `nonzero`, 0 is an error (`hint` says why).
    pub(super) fn opt_duration(
        &mut self,
        file: usize,
        task: Option<&str>,
        key: &str,
        v: Option<&Spanned<DurationValue>>,
        nonzero: Option<&str>,
    ) -> Option<Duration> {
        let v = v?;
        let d = self.duration(file, task, key, v)?;
        if let (true, Some(hint)) = (d.is_zero(), nonzero) {
            self.report(
                file,
                &v.span,
                task,
                format!("{key} must be longer than 0s{hint}"),
            );
            return None;
        }
        Some(d)
    }

    pub(super) fn secret_ref(&mut self, file: usize, task: Option<&str>, v: &Spanned<EnvValue>) {
        if let EnvValue::Secret { secret } = &v.value
            && let Err(e) = check_name(secret)
        {
            self.report(file, &v.span, task, format!("invalid secret name: {e}"));
        }
    }

    pub(super) fn env(
        &mut self,
        file: usize,
        task: Option<&str>,
        env: &BTreeMap<Spanned<String>, Spanned<EnvValue>>,
    ) -> BTreeMap<String, EnvValue> {
        let mut out = BTreeMap::new();
        for (Spanned { value: name, span }, value) in env {
            let valid = !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                self.report(
                    file,
                    span,
                    task,
                    format!("invalid environment variable name \"{name}\"; use letters, digits and '_', not starting with a digit"),
                );
            }
            self.secret_ref(file, task, value);
            out.insert(name.clone(), value.value.clone());
        }
        out
    }

    /// A folder named in `file`, relative to that file's folder unless it is absolute
    /// where it will be used: a Windows path (`C:\...`, `\\server\share`) or one
    /// that starts with a `%VARIABLE%` (expanded when the task runs, as Task Scheduler
    /// does) is kept as written even on the machine that plans it for a Windows host.
    pub(super) fn dir_in(&self, file: usize, dir: &Path) -> PathBuf {
        let text = dir.to_string_lossy();
        let bytes = text.as_bytes();
        let windows_drive = bytes.len() >= 3
            && bytes[0].is_ascii_alphabetic()
            && bytes[1] == b':'
            && matches!(bytes[2], b'\\' | b'/');
        let kept = dir.is_absolute()
            || windows_drive
            || text.starts_with("\\\\")
            || (text.starts_with('%') && text[1..].contains('%'));
        if kept {
            dir.to_path_buf()
        } else {
            self.base_dir(file).join(dir)
        }
    }

    pub(super) fn base_dir(&self, file: usize) -> PathBuf {
        let dir = self.sources[file].path.parent().unwrap_or(Path::new("."));
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())
    }
}
