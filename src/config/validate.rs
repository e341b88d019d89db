//! Semantic checks and defaults: from the parsed sections to a [`Config`].
//!
//! Every check reports into the shared [`Diagnostics`] and carries on, so a user sees
//! all problems of a config in one run.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;

use super::command::{UnclosedQuote, split_command};
use super::diag::{Diagnostic, Diagnostics, Source};
use super::duration::{format_duration, parse_duration, parse_size};

/// The longest duration any key accepts (100 years): retention may be long, and no
/// arithmetic on a task's times (every attempt at its timeout, with the pauses) can
/// overflow below it.
pub const MAX_DURATION: Duration = Duration::from_secs(36_500 * 86_400);

/// The most retries a task may ask for.
pub const MAX_RETRIES: u32 = 100;
use super::load::{Item, Parsed};
use super::model::{
    Action, Config, Dependency, NotifyGroup, Origin, RunAs, Settings, Smtp, Step, Task,
};
use super::raw::{
    CommandValue, DurationValue, EnvValue, NotifyEvent, RawStep, RawTask, RunAsValue, SizeValue,
    Spanned,
};
use crate::schedule::{self, Zone};

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
fn check_renamed_from(name: &str) -> Result<(), NameError> {
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
fn closest<'a>(name: &str, known: impl Iterator<Item = &'a String>) -> Option<&'a String> {
    known
        .map(|k| (edit_distance(name, k), k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3))
        .min()
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
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

struct Checker<'a> {
    sources: &'a [Source],
    diags: &'a mut Diagnostics,
}

impl Checker<'_> {
    fn error(
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

    fn report(
        &mut self,
        file: usize,
        span: &std::ops::Range<usize>,
        task: Option<&str>,
        msg: impl Into<String>,
    ) {
        let d = self.error(file, span, task, msg);
        self.diags.push(d);
    }

    fn duration(
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
    fn retry_count(&mut self, file: usize, task: Option<&str>, n: &Spanned<u32>) -> Option<u32> {
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
    fn opt_duration(
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

    fn secret_ref(&mut self, file: usize, task: Option<&str>, v: &Spanned<EnvValue>) {
        if let EnvValue::Secret { secret } = &v.value
            && let Err(e) = check_name(secret)
        {
            self.report(file, &v.span, task, format!("invalid secret name: {e}"));
        }
    }

    fn env(
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
    fn dir_in(&self, file: usize, dir: &Path) -> PathBuf {
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

    fn base_dir(&self, file: usize) -> PathBuf {
        let dir = self.sources[file].path.parent().unwrap_or(Path::new("."));
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())
    }
}

/// Validate everything parsed and build the config; `None` if anything was wrong.
pub fn build(parsed: Parsed, diags: &mut Diagnostics, now: Timestamp) -> Option<Config> {
    let mut c = Checker {
        sources: &parsed.sources,
        diags,
    };

    // [settings]
    let mut settings = Settings::default();
    let mut zone = None;
    if let Some(Item { file, value: s, .. }) = &parsed.settings {
        if let Some(b) = s.backend {
            settings.backend = b;
        }
        if let Some(folder) = &s.folder {
            if let Err(e) = check_name(&folder.value) {
                c.report(*file, &folder.span, None, format!("invalid folder: {e}"));
            }
            settings.folder = folder.value.clone();
        }
        if let Some(tz) = &s.timezone {
            match Zone::resolve(&tz.value) {
                Ok(z) => zone = Some(z),
                Err(e) => c.report(*file, &tz.span, None, e.to_string()),
            }
            settings.timezone = tz.value.clone();
            let source = &c.sources[*file];
            let (line, column) = source.line_col(tz.span.start);
            settings.timezone_origin = Some(Origin {
                file: source.path.clone(),
                line,
                column,
            });
        }
        let retention = s
            .retention
            .as_ref()
            .and_then(|r| c.opt_duration(*file, None, "retention", Some(r), Some("")));
        let runtime = &mut settings.runtime;
        for (key, value, target) in [
            (
                "log_retention",
                &s.log_retention,
                &mut runtime.log_retention,
            ),
            (
                "history_retention",
                &s.history_retention,
                &mut runtime.history_retention,
            ),
        ] {
            let own = c.opt_duration(*file, None, key, value.as_ref(), Some(""));
            if let Some(d) = own.or(retention) {
                *target = d;
            }
        }
        if let Some(n) = &s.max_concurrent {
            if n.value == 0 {
                c.report(*file, &n.span, None, "max_concurrent must be at least 1");
            }
            runtime.max_concurrent = n.value.max(1);
        }
        if let Some(size) = &s.max_log_size {
            let parsed = match &size.value {
                SizeValue::Bytes(n) if *n > 0 => Ok(*n as u64),
                SizeValue::Bytes(n) => Err(format!("{n} is not a positive number of bytes")),
                SizeValue::Text(t) => parse_size(t).map_err(|e| e.to_string()).and_then(|n| {
                    if n == 0 {
                        Err("a log of 0 bytes keeps nothing".to_string())
                    } else {
                        Ok(n)
                    }
                }),
            };
            match parsed {
                Ok(n) => settings.max_log_size = n,
                Err(e) => c.report(
                    *file,
                    &size.span,
                    None,
                    format!("invalid max_log_size: {e}"),
                ),
            }
        }
        settings.log_dir = s.log_dir.as_ref().map(|d| c.dir_in(*file, d.as_ref()));
    }
    let zone = zone.unwrap_or_default();

    // [notify.*]
    let mut notify = BTreeMap::new();
    for (name, item) in &parsed.notify {
        if let Err(e) = check_name(name) {
            c.report(
                item.file,
                &item.key_span,
                None,
                format!("invalid notify group name: {e}"),
            );
        }
        for addr in &item.value.email {
            if !looks_like_email(&addr.value) {
                c.report(
                    item.file,
                    &addr.span,
                    None,
                    format!("\"{}\" is not an email address", addr.value),
                );
            }
        }
        if !item.value.email.is_empty() && parsed.smtp.is_none() {
            c.report(
                item.file,
                &item.key_span,
                None,
                format!("notify group \"{name}\" sends email, but no [smtp] section says how"),
            );
        }
        let on = item
            .value
            .on
            .clone()
            .unwrap_or_else(|| vec![NotifyEvent::Failure, NotifyEvent::Timeout]);
        notify.insert(
            name.clone(),
            NotifyGroup {
                email: item.value.email.iter().map(|e| e.value.clone()).collect(),
                on,
            },
        );
    }

    // [smtp]
    let smtp = parsed.smtp.as_ref().map(|Item { file, value: s, .. }| {
        if s.server.value.trim().is_empty() {
            c.report(*file, &s.server.span, None, "smtp server is empty");
        }
        if !looks_like_email(&s.from.value) {
            c.report(*file, &s.from.span, None, format!("\"{}\" is not an email address", s.from.value));
        }
        for v in [&s.username, &s.password].into_iter().flatten() {
            c.secret_ref(*file, None, v);
        }
        if let Some(Spanned { value: EnvValue::Plain(_), span }) = &s.password {
            // apply records [smtp] in the state and plan shows it: a password in plain
            // text would be printed and stored.
            c.report(*file, span, None, "the smtp password must not be written in tasks.toml; store it with `orc secret set NAME` and write password = { secret = \"NAME\" }");
        }
        let timeout = c
            .opt_duration(*file, None, "timeout", s.timeout.as_ref(), None)
            .unwrap_or(Duration::from_secs(30));
        Smtp {
            timeout,
            server: s.server.value.clone(),
            port: s.port.unwrap_or(587),
            tls: s.tls.unwrap_or_default(),
            username: s.username.as_ref().map(|v| v.value.clone()),
            password: s.password.as_ref().map(|v| v.value.clone()),
            from: s.from.value.clone(),
        }
    });

    // [report]: its group must exist and send mail.
    if let Some(Item { file, value: r, .. }) = &parsed.report {
        if !notify.contains_key(&r.email.value) {
            c.report(
                *file,
                &r.email.span,
                None,
                format!(
                    "[report] mails the group \"{}\", but there is no [notify.{}]",
                    r.email.value, r.email.value
                ),
            );
        } else if smtp.is_none() {
            c.report(
                *file,
                &r.email.span,
                None,
                "[report] sends mail, but no [smtp] section says how",
            );
        }
        if let Some(since) = &r.since
            && let Err(e) = parse_duration(&since.value)
        {
            c.report(*file, &since.span, None, format!("invalid since: {e}"));
        }
    }

    // [defaults]
    let mut defaults = TaskDefaults {
        log_dir: settings.log_dir.clone(),
        max_log_size: settings.max_log_size,
        ..TaskDefaults::default()
    };
    if let Some(Item { file, value: d, .. }) = &parsed.defaults {
        let file = *file;
        defaults.timeout = c.opt_duration(
            file,
            None,
            "timeout",
            d.timeout.as_ref(),
            Some("; leave it out for no timeout"),
        );
        defaults.retry_count = d
            .retry_count
            .as_ref()
            .and_then(|n| c.retry_count(file, None, n));
        defaults.retry_delay = d
            .retry_delay
            .as_ref()
            .and_then(|t| c.duration(file, None, "retry_delay", t));
        defaults.working_dir = d.working_dir.as_ref().map(|w| c.dir_in(file, w.as_ref()));
        if let Some(env) = &d.env {
            defaults.env = c.env(file, None, env);
        }
        if let Some(groups) = &d.notify {
            defaults.notify = check_groups(&mut c, file, None, groups, &notify);
        }
    }

    // [tasks.*], checked on every core: each task stands alone, and large fleets
    // have thousands of them.
    let items: Vec<(&String, &Item<RawTask>)> = parsed.tasks.iter().collect();
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    let chunk = items.len().div_ceil(workers).max(256);
    let sources = c.sources;
    let results: Vec<(Vec<Task>, Diagnostics)> = std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| {
                let (defaults, notify, zone) = (&defaults, &notify, &zone);
                scope.spawn(move || {
                    let mut diags = Diagnostics::default();
                    let mut c = Checker {
                        sources,
                        diags: &mut diags,
                    };
                    let built = part
                        .iter()
                        .filter_map(|(name, item)| {
                            build_task(&mut c, name, item, defaults, notify, zone, now)
                        })
                        .collect();
                    (built, diags)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    let mut tasks = BTreeMap::new();
    for (built, diags) in results {
        c.diags.0.extend(diags.0);
        tasks.extend(built.into_iter().map(|t| (t.name.clone(), t)));
    }
    check_dependencies(&mut c, &parsed);
    check_renames(&mut c, &parsed);

    if c.diags.has_errors() {
        return None;
    }
    Some(Config {
        settings,
        smtp,
        notify,
        tasks,
        files: parsed.sources.iter().map(|s| s.path.clone()).collect(),
    })
}

#[derive(Default)]
struct TaskDefaults {
    /// From `settings.log_dir`: every task's runs log there.
    log_dir: Option<PathBuf>,
    /// From `settings.max_log_size`.
    max_log_size: u64,
    timeout: Option<Duration>,
    retry_count: Option<u32>,
    retry_delay: Option<Duration>,
    working_dir: Option<PathBuf>,
    env: BTreeMap<String, EnvValue>,
    notify: Vec<String>,
}

fn looks_like_email(s: &str) -> bool {
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

fn check_groups(
    c: &mut Checker,
    file: usize,
    task: Option<&str>,
    groups: &[Spanned<String>],
    known: &BTreeMap<String, NotifyGroup>,
) -> Vec<String> {
    for g in groups {
        if !known.contains_key(&g.value) {
            let mut d = c.error(
                file,
                &g.span,
                task,
                format!("unknown notify group \"{}\"", g.value),
            );
            if let Some(s) = closest(&g.value, known.keys()) {
                d = d.help(format!("did you mean \"{s}\"?"));
            }
            c.diags.push(d);
        }
    }
    groups.iter().map(|g| g.value.clone()).collect()
}

#[allow(clippy::too_many_arguments)]
fn build_task(
    c: &mut Checker,
    name: &str,
    item: &Item<RawTask>,
    defaults: &TaskDefaults,
    notify: &BTreeMap<String, NotifyGroup>,
    zone: &Zone,
    now: Timestamp,
) -> Option<Task> {
    let file = item.file;
    let raw = &item.value;
    let errors_before = c.diags.errors().count();
    let t = Some(name);
    if let Err(e) = check_name(name) {
        c.report(file, &item.key_span, t, format!("invalid task name: {e}"));
    }

    let action = match (&raw.command, &raw.shell) {
        (Some(_), Some(shell)) => {
            c.report(
                file,
                &shell.span,
                t,
                "a task takes either `command` or `shell`, not both",
            );
            None
        }
        (None, None) => {
            if !item.dropped.iter().any(|k| k == "command" || k == "shell") {
                c.report(
                    file,
                    &item.key_span,
                    t,
                    "the task has neither `command` nor `shell`",
                );
            }
            None
        }
        (Some(cmd), None) => command_action(&cmd.value)
            .map_err(|e| c.report(file, &cmd.span, t, e.to_string()))
            .ok(),
        (None, Some(shell)) => {
            if shell.value.trim().is_empty() {
                c.report(file, &shell.span, t, "the shell command is empty");
            }
            Some(Action::Shell(shell.value.clone()))
        }
    };
    let then = steps(c, file, t, raw.then.as_deref().unwrap_or_default());

    let schedule = raw
        .schedule
        .as_ref()
        .and_then(|s| match schedule::parse(&s.value) {
            Ok(parsed) => {
                for w in parsed.dst_warnings(zone.tz(), now) {
                    let d = Diagnostic::warning(w)
                        .at(&c.sources[file], Some(s.span.clone()))
                        .task(name);
                    c.diags.push(d);
                }
                Some(parsed)
            }
            Err(e) => {
                c.report(file, &s.span, t, format!("invalid schedule: {e}"));
                None
            }
        });

    let timeout = match &raw.timeout {
        Some(v) => c.opt_duration(
            file,
            t,
            "timeout",
            Some(v),
            Some("; leave it out for no timeout"),
        ),
        None => defaults.timeout,
    };
    let retry_delay = match &raw.retry_delay {
        Some(v) => c.duration(file, t, "retry_delay", v),
        None => defaults.retry_delay,
    }
    .unwrap_or(Duration::from_secs(30));
    let retry_count = match &raw.retry_count {
        Some(n) => c.retry_count(file, t, n).unwrap_or(0),
        None => defaults.retry_count.unwrap_or(0),
    };
    let wait = c.opt_duration(file, t, "wait", raw.wait.as_ref(), None);
    let poll = c.opt_duration(file, t, "poll", raw.poll.as_ref(), Some(""));
    let max_age = c.opt_duration(file, t, "max_age", raw.max_age.as_ref(), None);
    let catch_up = c.opt_duration(file, t, "catch_up", raw.catch_up.as_ref(), None);
    let jitter = c.opt_duration(file, t, "jitter", raw.jitter.as_ref(), None);
    for (key, value) in [("catch_up", &raw.catch_up), ("jitter", &raw.jitter)] {
        if let (Some(v), None, None) = (value, &raw.schedule, &raw.triggers) {
            let d = Diagnostic::warning(format!("{key} has no effect: the task has no schedule"))
                .at(&c.sources[file], Some(v.span.clone()))
                .task(name);
            c.diags.push(d);
        }
    }
    let run_as = match &raw.run_as {
        None => RunAs::System,
        Some(v) => match &v.value {
            RunAsValue::Name(name) => match name.trim() {
                n if n.eq_ignore_ascii_case("SYSTEM")
                    || n.eq_ignore_ascii_case("NT AUTHORITY\\SYSTEM") =>
                {
                    RunAs::System
                }
                "current_user" => RunAs::CurrentUser,
                n if crate::tasksched::is_system(n) => RunAs::System,
                n if crate::tasksched::service_account(n).is_some() => RunAs::Service(
                    crate::tasksched::service_account(n)
                        .unwrap_or_default()
                        .to_string(),
                ),
                n if n.ends_with('$') => RunAs::Gmsa(n.to_string()),
                "" => {
                    c.report(
                        file,
                        &v.span,
                        t,
                        "run_as is empty; use \"SYSTEM\", \"current_user\" or a user name",
                    );
                    RunAs::System
                }
                n => RunAs::User(n.to_string()),
            },
            RunAsValue::WithPassword(u) => {
                let user = u.user.as_deref().map(str::trim).filter(|u| !u.is_empty());
                let group = u.group.as_deref().map(str::trim).filter(|g| !g.is_empty());
                let secret = u
                    .password
                    .as_ref()
                    .map(|p| p.secret.trim())
                    .filter(|s| !s.is_empty());
                let logon = u.logon.as_deref().map(str::trim);
                match (user, group, secret, logon) {
                    (Some(user), None, Some(secret), None | Some("password")) => RunAs::Password {
                        user: user.to_string(),
                        secret: secret.to_string(),
                    },
                    (Some(user), None, None, Some("interactive")) => {
                        RunAs::Interactive(user.to_string())
                    }
                    (Some(user), None, None, Some("s4u")) => RunAs::User(user.to_string()),
                    (None, Some(group), None, None) => RunAs::Group(group.to_string()),
                    _ => {
                        c.report(
                            file,
                            &v.span,
                            t,
                            "run_as as a table is { user = \"...\", password = { secret = \"...\" } }, { user = \"...\", logon = \"interactive\" or \"s4u\" }, or { group = \"...\" }",
                        );
                        RunAs::System
                    }
                }
            }
        },
    };
    let mut triggers = Vec::new();
    for fragment in raw.triggers.iter().flatten() {
        match crate::tasksched::trigger_fragment(&fragment.value) {
            Ok(compact) => triggers.push(compact),
            Err(e) => c.report(file, &fragment.span, t, format!("invalid trigger: {e}")),
        }
    }
    // Typed triggers: beside a schedule or raw triggers, as trigger elements.
    if raw.at_startup == Some(true) {
        triggers.push(crate::tasksched::boot_trigger());
    }
    match raw.at_logon.as_ref().map(|a| &a.value) {
        Some(super::raw::AtLogon::Any(true)) => {
            triggers.push(crate::tasksched::logon_trigger(None));
        }
        Some(super::raw::AtLogon::User { user }) if user.trim().is_empty() => {
            let span = raw.at_logon.as_ref().map(|a| &a.span);
            c.report(
                file,
                span.unwrap_or(&item.key_span),
                t,
                "at_logon = { user = ... } needs an account; for any user write at_logon = true",
            );
        }
        Some(super::raw::AtLogon::User { user }) => {
            triggers.push(crate::tasksched::logon_trigger(Some(user.trim())));
        }
        _ => {}
    }
    if let Some(event) = &raw.on_event {
        let e = &event.value;
        let quoted = [Some(e.log.as_str()), e.source.as_deref()]
            .into_iter()
            .flatten()
            .any(|v| v.contains(['\'', '"', '<', '>', '&']));
        if e.log.trim().is_empty() || quoted {
            c.report(
                file,
                &event.span,
                t,
                "on_event needs a log name (\"System\", \"Application\"), and the log and source may not hold quotes, <, > or &",
            );
        } else {
            triggers.push(crate::tasksched::event_trigger(
                e.log.trim(),
                e.source.as_deref().map(str::trim),
                e.id,
            ));
        }
    }
    if raw.on_idle == Some(true) {
        triggers.push(crate::tasksched::idle_trigger());
    }
    if let (Some(s), Some(_)) = (&raw.schedule, &raw.triggers) {
        c.report(
            file,
            &s.span,
            t,
            "schedule and triggers exclude each other; keep one",
        );
    }
    let retry_max_delay = c.opt_duration(
        file,
        t,
        "retry_max_delay",
        raw.retry_max_delay.as_ref(),
        None,
    );

    let mut env = defaults.env.clone();
    if let Some(task_env) = &raw.env {
        env.extend(c.env(file, t, task_env));
    }

    let mut hosts = Vec::new();
    for h in raw.hosts.iter().flatten() {
        if h.value.trim().is_empty() || h.value.chars().any(char::is_whitespace) {
            c.report(
                file,
                &h.span,
                t,
                format!("\"{}\" is not a host name", h.value),
            );
        }
        hosts.push(h.value.clone());
    }

    let notify_groups = match &raw.notify {
        Some(groups) => check_groups(c, file, t, groups, notify),
        None => defaults.notify.clone(),
    };

    let mut dependencies = Vec::new();
    for dep in raw.dependencies.iter().flatten() {
        match parse_dependency(&dep.value) {
            Ok(d) => dependencies.push(d),
            Err(e) => c.report(file, &dep.span, t, e.to_string()),
        }
    }

    // An earlier orc name, or the name of a task made outside orc that this one
    // adopts (`orc import` of "My Backup"): any name Task Scheduler allows.
    if let Some(from) = &raw.renamed_from
        && let Err(e) = check_renamed_from(&from.value)
    {
        c.report(file, &from.span, t, format!("invalid renamed_from: {e}"));
    }

    let working_dir = match &raw.working_dir {
        Some(w) => c.dir_in(file, w.as_ref()),
        None => defaults
            .working_dir
            .clone()
            .unwrap_or_else(|| c.base_dir(file)),
    };

    let priority = match &raw.priority {
        None => crate::config::model::NORMAL_PRIORITY,
        Some(p) => match u8::try_from(p.value) {
            Ok(v) if v <= 10 => v,
            _ => {
                c.report(
                    file,
                    &p.span,
                    t,
                    format!(
                        "priority {} is outside Task Scheduler's 0 (highest) to 10 (idle); 4-6 are normal",
                        p.value
                    ),
                );
                crate::config::model::NORMAL_PRIORITY
            }
        },
    };
    let expires = raw.expires.as_ref().and_then(|e| {
        let text = e.value.trim();
        // A bare date is the whole of that day (jiff would read it as its midnight).
        let end = if text.contains('T') {
            text.parse::<jiff::civil::DateTime>().ok()
        } else {
            text.parse::<jiff::civil::Date>()
                .ok()
                .and_then(|day| day.tomorrow().ok())
                .map(|d| d.to_datetime(jiff::civil::Time::midnight()))
        };
        match end {
            None => c.report(
                file,
                &e.span,
                t,
                format!(
                    "expires \"{text}\" is not a date (\"2027-06-30\") or a date and time (\"2027-06-30T18:00\")"
                ),
            ),
            Some(end) if zone.tz().to_timestamp(end).is_ok_and(|at| at <= now) => {
                let d = Diagnostic::warning(format!(
                    "expires \"{text}\" has passed: the task no longer fires on its schedule or triggers (a manual run still works)"
                ))
                .at(&c.sources[file], Some(e.span.clone()))
                .task(name);
                c.diags.push(d);
            }
            Some(_) => {}
        }
        end.map(|end| end.strftime("%Y-%m-%dT%H:%M:%S").to_string())
    });
    let battery = raw.battery.unwrap_or_default();
    let windows = crate::config::model::WindowsSettings {
        priority,
        wake_to_run: raw.wake_to_run.unwrap_or(false),
        run_only_if_network: raw.run_only_if_network.unwrap_or(false),
        start_on_battery: battery.start.unwrap_or(true),
        stop_on_battery: battery.stop.unwrap_or(false),
        hidden: raw.hidden.unwrap_or(false),
    };
    // What has no span of its own is reported at the task.
    let unspanned = [
        ("description", raw.description.as_deref()),
        ("working_dir", raw.working_dir.as_deref()),
    ];
    for (key, text) in unspanned {
        if text.is_some_and(|s| s.contains('\0')) {
            c.report(file, &item.key_span, t, format!("{key} {NUL}"));
        }
    }
    if let Some(shell) = &raw.shell
        && shell.value.contains('\0')
    {
        c.report(file, &shell.span, t, format!("shell {NUL}"));
    }
    for (key, value) in raw.env.iter().flatten() {
        let plain = match &value.value {
            EnvValue::Plain(v) => v.as_str(),
            EnvValue::Secret { secret } => secret.as_str(),
        };
        if key.value.contains('\0') || plain.contains('\0') {
            c.report(file, &value.span, t, format!("env {NUL}"));
        }
    }
    if let Some(v) = &raw.run_as {
        let names = match &v.value {
            RunAsValue::Name(n) => vec![n.as_str()],
            RunAsValue::WithPassword(u) => [&u.user, &u.group]
                .into_iter()
                .flatten()
                .map(String::as_str)
                .collect(),
        };
        if names
            .iter()
            .any(|n| n.contains('\0') || n.contains(['\n', '\r']))
        {
            c.report(
                file,
                &v.span,
                t,
                "run_as holds a NUL or line break, which no account name has",
            );
        }
    }
    if c.diags.errors().count() > errors_before {
        return None;
    }
    let (line, column) = c.sources[file].line_col(item.key_span.start);
    Some(Task {
        name: name.to_string(),
        kind: raw.kind.unwrap_or_default(),
        description: raw.description.clone(),
        action: action?,
        then,
        working_dir,
        schedule,
        timeout,
        retry_count,
        retry_delay,
        dependencies,
        wait,
        poll,
        max_age,
        catch_up,
        jitter,
        run_as,
        run_level: raw.run_level.unwrap_or_default(),
        triggers,
        windows,
        expires,
        retry_backoff: raw.retry_backoff.unwrap_or_default(),
        retry_max_delay,
        overlap: raw.overlap.unwrap_or_default(),
        enabled: raw.enabled.unwrap_or(true),
        env,
        hosts,
        notify: notify_groups,
        timezone: zone.clone(),
        log_dir: defaults.log_dir.clone(),
        max_log_size: defaults.max_log_size,
        renamed_from: raw.renamed_from.as_ref().map(|r| r.value.clone()),
        origin: Origin {
            file: c.sources[file].path.clone(),
            line,
            column,
        },
    })
}

/// No program, path, variable or Task Scheduler field can hold one; it would
/// surface only when the task starts (or as XML that is not well-formed).
const NUL: &str =
    "holds a NUL character (\\u0000), which no command, path or Task Scheduler field can carry";

/// Why a `command`, `shell` or `then` step cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Unclosed(#[from] UnclosedQuote),
    #[error("the command is empty")]
    Empty,
    #[error("the shell command is empty")]
    EmptyShell,
    #[error("{NUL}")]
    Nul,
    #[error("working_dir {NUL}")]
    NulInWorkingDir,
    #[error("takes either `command` or `shell`, not both")]
    Both,
    #[error("needs `command` or `shell`")]
    Neither,
}

/// A `command` value as what runs: argv, split without a shell from a line.
fn command_action(value: &CommandValue) -> Result<Action, CommandError> {
    let argv = match value {
        CommandValue::Line(line) => split_command(line)?,
        CommandValue::Argv(argv) => argv.clone(),
    };
    if argv.first().is_none_or(|p| p.trim().is_empty()) {
        return Err(CommandError::Empty);
    }
    if argv.iter().any(|a| a.contains('\0')) {
        return Err(CommandError::Nul);
    }
    Ok(Action::Argv(argv))
}

/// `then = [...]`: each step a command or a shell line, with its own `working_dir`
/// (relative to the file, like the task's).
fn steps(c: &mut Checker<'_>, file: usize, t: Option<&str>, raw: &[Spanned<RawStep>]) -> Vec<Step> {
    let mut steps = Vec::new();
    for (i, step) in raw.iter().enumerate() {
        let n = i + 1;
        let action = match (&step.value.command, &step.value.shell) {
            (Some(command), None) => command_action(command),
            (None, Some(shell)) if shell.trim().is_empty() => Err(CommandError::EmptyShell),
            (None, Some(shell)) if shell.contains('\0') => Err(CommandError::Nul),
            (None, Some(shell)) => Ok(Action::Shell(shell.clone())),
            (Some(_), Some(_)) => Err(CommandError::Both),
            (None, None) => Err(CommandError::Neither),
        };
        let action = action.and_then(|a| match &step.value.working_dir {
            Some(w) if w.contains('\0') => Err(CommandError::NulInWorkingDir),
            _ => Ok(a),
        });
        match action {
            Ok(action) => steps.push(Step {
                action,
                working_dir: step
                    .value
                    .working_dir
                    .as_ref()
                    .map(|w| c.dir_in(file, w.as_ref())),
            }),
            Err(e) => c.report(file, &step.span, t, format!("then step {n}: {e}")),
        }
    }
    steps
}

/// Why a dependency string names nothing orc can check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DependencyError {
    #[error("invalid dependency: {0}")]
    TaskName(#[from] NameError),
    #[error("dependency \"{text}\" names no target after \"{kind}:\"")]
    NoTarget { text: String, kind: String },
    #[error("dependency \"{0}\": the URL must start with http:// or https:// and name a host")]
    Url(String),
    #[error(transparent)]
    Command(#[from] UnclosedQuote),
    #[error("dependency \"{0}\" has an empty command")]
    EmptyCommand(String),
    #[error(
        "unknown dependency kind \"{0}:\"; use a task name, \"file:PATH\", \"url:URL\" or \"command:COMMAND\""
    )]
    UnknownKind(String),
}

/// "name", "file:PATH", "url:URL", "command:LINE".
pub fn parse_dependency(text: &str) -> Result<Dependency, DependencyError> {
    if text == "vpn" {
        return Ok(Dependency::Vpn(None));
    }
    let Some((kind, target)) = text.split_once(':') else {
        check_name(text)?;
        return Ok(Dependency::Task(text.to_string()));
    };
    if target.trim().is_empty() {
        return Err(DependencyError::NoTarget {
            text: text.to_string(),
            kind: kind.to_string(),
        });
    }
    match kind {
        "file" => Ok(Dependency::File(target.to_string())),
        "url" => {
            let lower = target.to_ascii_lowercase();
            let rest = lower
                .strip_prefix("https://")
                .or_else(|| lower.strip_prefix("http://"));
            match rest {
                Some(host) if !host.is_empty() && !host.starts_with('/') => {
                    Ok(Dependency::Url(target.to_string()))
                }
                _ => Err(DependencyError::Url(text.to_string())),
            }
        }
        "vpn" => Ok(Dependency::Vpn(Some(target.trim().to_string()))),
        "command" => {
            let argv = split_command(target)?;
            if argv.is_empty() {
                return Err(DependencyError::EmptyCommand(text.to_string()));
            }
            Ok(Dependency::Command(argv))
        }
        other => Err(DependencyError::UnknownKind(other.to_string())),
    }
}

/// Two tasks renamed from the same old name: apply would move the old task's state
/// and history to one of them and silently start the other afresh. Tasks that never
/// run on the same host (disjoint `hosts`) may share it: each host renames its own.
fn check_renames(c: &mut Checker, parsed: &Parsed) {
    let mut by_old: BTreeMap<&str, Vec<(&String, &Item<RawTask>)>> = BTreeMap::new();
    for (name, item) in &parsed.tasks {
        if let Some(from) = &item.value.renamed_from {
            by_old
                .entry(from.value.as_str())
                .or_default()
                .push((name, item));
        }
    }
    let hosts = |item: &Item<RawTask>| -> Vec<String> {
        item.value
            .hosts
            .iter()
            .flatten()
            .map(|h| h.value.to_ascii_lowercase())
            .collect()
    };
    let share_a_host = |a: &[String], b: &[String]| {
        a.is_empty() || b.is_empty() || a.iter().any(|h| b.contains(h))
    };
    for (old, mut tasks) in by_old {
        // The first claim in file order keeps it; later ones are the errors.
        tasks.sort_by_key(|(_, item)| (item.file, item.key_span.start));
        for (i, (name, item)) in tasks.iter().enumerate() {
            let mine = hosts(item);
            let Some((first, first_item)) = tasks[..i]
                .iter()
                .find(|(_, other)| share_a_host(&mine, &hosts(other)))
            else {
                continue;
            };
            let first_at = Diagnostic::error("")
                .at(
                    &c.sources[first_item.file],
                    first_item
                        .value
                        .renamed_from
                        .as_ref()
                        .map(|r| r.span.clone()),
                )
                .position();
            let span = item
                .value
                .renamed_from
                .as_ref()
                .map_or(item.key_span.clone(), |r| r.span.clone());
            let d = c
                .error(
                    item.file,
                    &span,
                    Some(name),
                    format!(
                        "renamed_from = \"{old}\" is claimed by task \"{first}\" too (at {first_at}); the history of \"{old}\" can go to one task only"
                    ),
                )
                .help(format!(
                    "keep renamed_from on the task that continues \"{old}\" and remove it here, or give the tasks disjoint hosts = [...]"
                ));
            c.diags.push(d);
        }
    }
}

/// A task's dependencies on other tasks, each with the span of its entry.
type Edges = Vec<(String, std::ops::Range<usize>)>;

/// Unknown dependency targets and cycles among tasks. Works on every task that was
/// parsed, even one with other errors, so all problems show at once.
fn check_dependencies(c: &mut Checker, parsed: &Parsed) {
    // Each task's dependencies on other tasks, with the span of each entry.
    let graph: BTreeMap<&String, Edges> = parsed
        .tasks
        .iter()
        .map(|(name, item)| {
            let deps = item
                .value
                .dependencies
                .iter()
                .flatten()
                .filter_map(|d| match parse_dependency(&d.value) {
                    Ok(Dependency::Task(target)) => Some((target, d.span.clone())),
                    _ => None,
                })
                .collect();
            (name, deps)
        })
        .collect();

    for (name, deps) in &graph {
        for (target, span) in deps {
            if !parsed.tasks.contains_key(target) && !parsed.broken_tasks.contains(target) {
                let file = parsed.tasks[*name].file;
                let mut d = c.error(
                    file,
                    span,
                    Some(name),
                    format!("unknown dependency \"{target}\": no task has that name"),
                );
                let others = parsed.tasks.keys().filter(|k| k != name);
                if let Some(s) = closest(target, others) {
                    d = d.help(format!("did you mean \"{s}\"?"));
                }
                c.diags.push(d);
            }
        }
    }

    // Depth-first search; each cycle is reported once, at the edge that closes it.
    let edges = |name: &str| -> Edges {
        graph
            .get(&name.to_string())
            .map(|deps| {
                deps.iter()
                    .filter(|(t, _)| graph.contains_key(t))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut reported: BTreeSet<Vec<String>> = BTreeSet::new();
    for start in graph.keys() {
        let mut path: Vec<(String, Edges)> = vec![((*start).clone(), edges(start))];
        while let Some((node, pending)) = path.last_mut() {
            let node = node.clone();
            let Some((next, span)) = pending.pop() else {
                done.insert(node);
                path.pop();
                continue;
            };
            if done.contains(&next) {
                continue;
            }
            if let Some(pos) = path.iter().position(|(n, _)| *n == next) {
                let mut cycle: Vec<String> = path[pos..].iter().map(|(n, _)| n.clone()).collect();
                let mut key = cycle.clone();
                key.sort();
                if reported.insert(key) {
                    cycle.push(next.clone());
                    let file = parsed.tasks[&node].file;
                    c.report(
                        file,
                        &span,
                        Some(&node),
                        format!("dependency cycle: {}", cycle.join(" -> ")),
                    );
                }
                continue;
            }
            let e = edges(&next);
            path.push((next, e));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["daily_report", "etl-30m", "a", "v1.2", "COM10"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "has space",
            "a/b",
            "a\\b",
            "x:y",
            "con",
            "LPT1.txt",
            "trailing.",
            "_lead",
            "ünï",
            &"x".repeat(65),
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn dependencies() {
        assert_eq!(
            parse_dependency("vpn_check"),
            Ok(Dependency::Task("vpn_check".into()))
        );
        assert_eq!(
            parse_dependency("file:data/in.csv"),
            Ok(Dependency::File("data/in.csv".into()))
        );
        assert!(matches!(
            parse_dependency("url:https://x.example/health"),
            Ok(Dependency::Url(_))
        ));
        assert_eq!(
            parse_dependency("command:ping -c 1 h"),
            Ok(Dependency::Command(vec![
                "ping".into(),
                "-c".into(),
                "1".into(),
                "h".into()
            ]))
        );
        for bad in [
            "url:ftp://x",
            "url:https://",
            "http:x",
            "file:",
            "command:  ",
            "bad name",
        ] {
            assert!(parse_dependency(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn suggestions() {
        let names = ["vpn_check".to_string(), "daily_report".to_string()];
        assert_eq!(closest("vpn_chek", names.iter()), Some(&names[0]));
        assert_eq!(closest("zzz", names.iter()), None);
    }
}
