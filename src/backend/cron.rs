//! The crontab backend: orc's folder is one marked block in the current user's crontab.
//!
//! ```text
//! # BEGIN orc managed block: folder "Orc" -- edit tasks.toml, not these lines
//! 0 6 * * * /usr/local/bin/orc run daily_report --state /var/lib/orc/state.db # orc:daily_report
//! #disabled# */15 * * * * /usr/local/bin/orc run poll --state /var/lib/orc/state.db # orc:poll
//! #on-demand# /usr/local/bin/orc run vpn_check --state /var/lib/orc/state.db # orc:vpn_check
//! # END orc managed block: folder "Orc"
//! ```
//!
//! The crontab is read with `crontab -l` and replaced with `crontab -` (the whole new
//! text on stdin), so orc never leaves a temporary file of its own and cron's own
//! program does the locking and the syntax check. Only the lines between orc's markers
//! are ever rewritten; everything else is written back byte for byte, except a line
//! that `orc import` adopts, which moves into the block in the same write.
//!
//! Every line ends with ` # orc:NAME`, a shell comment that names the task, so `list`
//! can read the block back. Lines cron must not run (disabled tasks, tasks without a
//! schedule) are commented out with a recognisable prefix instead of being dropped, so
//! that plan still sees them.
//!
//! Cron cannot say "last day of the month" (`L`), "third Friday" (`FRI#3`) or "last
//! Friday" (`5L`). For those the line fires on a superset of the times (days 28-31,
//! every Friday) and passes `--if-due`, so `orc run` checks the exact schedule itself
//! and quietly exits when it is not due.

use std::collections::BTreeMap;
use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{Backend, BackendError, Change, Entry, Invocation};
use crate::config::{Task, check_name};
use crate::schedule::{CronSpec, Kind};

/// Prefix of a line whose task is disabled: the rest is the line cron would run.
const DISABLED: &str = "#disabled#";
/// Prefix of a task without a schedule (run on demand or as a dependency).
const ON_DEMAND: &str = "#on-demand#";
/// The comment that ends every line of the block and names its task.
const MARKER: &str = " # orc:";

/// The current user's crontab, through the `crontab` program.
#[derive(Debug, Clone)]
pub struct CronBackend {
    folder: String,
    invocation: Invocation,
    program: PathBuf,
}

impl CronBackend {
    /// A backend for orc's block of `folder`.
    ///
    /// Cron fires in the system time zone, so any other `timezone` setting is refused
    /// here rather than silently running tasks at the wrong hour.
    pub fn new(folder: &str, invocation: Invocation, timezone: &str) -> Result<Self, BackendError> {
        check_name(folder).map_err(|e| {
            BackendError::Setting(format!("invalid folder for the cron backend: {e}"))
        })?;
        check_zone(timezone)?;
        Ok(CronBackend {
            folder: folder.to_string(),
            invocation,
            program: PathBuf::from("crontab"),
        })
    }

    /// Use another `crontab` program (a path, or a name looked up in `PATH`).
    pub fn with_program(mut self, program: PathBuf) -> Self {
        self.program = program;
        self
    }

    pub fn folder(&self) -> &str {
        &self.folder
    }

    pub fn program(&self) -> &Path {
        &self.program
    }

    /// The first line of the block, as orc writes it.
    fn begin_line(&self) -> String {
        format!(
            "{} -- edit tasks.toml, not these lines",
            self.begin_marker()
        )
    }

    /// What identifies the first line of the block (the rest of it is a hint for people).
    fn begin_marker(&self) -> String {
        format!("# BEGIN orc managed block: folder \"{}\"", self.folder)
    }

    fn end_marker(&self) -> String {
        format!("# END orc managed block: folder \"{}\"", self.folder)
    }

    /// The whole crontab; empty when the user has none.
    fn read(&self) -> Result<Vec<u8>, BackendError> {
        let output = Command::new(&self.program)
            .arg("-l")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| {
                BackendError::Unavailable(format!(
                    "cannot run `{} -l` to read the crontab: {e}",
                    self.program.display()
                ))
            })?;
        if output.status.success() {
            return Ok(output.stdout);
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        // "no crontab for root": not an error, just nothing there yet.
        if output.status.code() == Some(1) && stderr.trim_start().starts_with("no crontab for ") {
            return Ok(Vec::new());
        }
        Err(BackendError::Refused(format!(
            "`{} -l` failed ({}): {}",
            self.program.display(),
            output.status,
            stderr.trim()
        )))
    }

    /// Replace the whole crontab with `text`.
    fn write(&self, text: &[u8]) -> Result<(), BackendError> {
        let mut child = Command::new(&self.program)
            .arg("-")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                BackendError::Unavailable(format!(
                    "cannot run `{} -` to write the crontab: {e}",
                    self.program.display()
                ))
            })?;
        let written = match child.stdin.take() {
            Some(mut stdin) => stdin.write_all(text),
            None => Ok(()),
        };
        let output = child.wait_with_output().map_err(|e| {
            BackendError::Unavailable(format!("`{} -` failed: {e}", self.program.display()))
        })?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            return Err(BackendError::Refused(format!(
                "`{} -` refused the new crontab ({}): {}",
                self.program.display(),
                output.status,
                stderr.trim()
            )));
        }
        written.map_err(|e| {
            BackendError::Unavailable(format!(
                "cannot send the new crontab to `{} -`: {e}",
                self.program.display()
            ))
        })
    }

    /// Find orc's block in `text` and read its lines.
    fn parse(&self, text: &[u8]) -> Result<Crontab, BackendError> {
        let begin = self.begin_marker();
        let end = self.end_marker();
        let folder = &self.folder;
        let mut block: Option<Range<usize>> = None;
        let mut open: Option<(usize, usize)> = None; // (byte offset, line number) of BEGIN
        let mut lines: Vec<Line> = Vec::new();
        // Task name -> line number, to catch a task listed twice without a quadratic scan.
        let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        let mut offset = 0;
        for (index, raw) in text.split_inclusive(|&b| b == b'\n').enumerate() {
            let number = index + 1;
            let start = offset;
            offset += raw.len();
            let content = String::from_utf8_lossy(raw);
            let content = content.trim_end();
            let is_begin = is_marker(content, &begin);
            let is_end = is_marker(content, &end);
            match (open, &block) {
                (None, None) if is_begin => open = Some((start, number)),
                (None, None) if is_end => {
                    return Err(BackendError::Damaged(format!(
                        "line {number} of the crontab ends orc's block for folder \"{folder}\", \
                         but no line above begins it; fix the crontab by hand (crontab -e)"
                    )));
                }
                (None, None) => {}
                (Some((from, _)), _) if is_end => {
                    block = Some(from..offset);
                    open = None;
                }
                (Some((_, first)), _) if is_begin => {
                    return Err(BackendError::Damaged(format!(
                        "line {number} of the crontab begins orc's block for folder \
                         \"{folder}\" again, inside the block that begins on line {first}; \
                         fix the crontab by hand (crontab -e)"
                    )));
                }
                (Some(_), _) => {
                    if let Some(line) = parse_line(content, number, folder)? {
                        if let Some(&other) = seen.get(line.name.as_str()) {
                            return Err(BackendError::Damaged(format!(
                                "lines {other} and {number} of the crontab both hold task \"{}\" in \
                                 orc's block for folder \"{folder}\"; remove one (crontab -e)",
                                line.name
                            )));
                        }
                        seen.insert(line.name.clone(), number);
                        lines.push(line);
                    }
                }
                (None, Some(_)) if is_begin || is_end => {
                    return Err(BackendError::Damaged(format!(
                        "line {number} of the crontab holds a second block for folder \
                         \"{folder}\"; merge it into the first or remove it (crontab -e)"
                    )));
                }
                (None, Some(_)) => {}
            }
        }
        if let Some((_, first)) = open {
            return Err(BackendError::Damaged(format!(
                "orc's crontab block for folder \"{folder}\" begins on line {first} but has no \
                 END line (\"{end}\"); fix the crontab by hand (crontab -e)"
            )));
        }
        Ok(Crontab { block, lines })
    }

    /// The block's text for `lines` (name -> (enabled, line without the disabled
    /// prefix)); empty when there are none, so that the markers go too.
    fn render_block(&self, lines: &BTreeMap<String, (bool, String)>) -> String {
        if lines.is_empty() {
            return String::new();
        }
        let mut out = self.begin_line();
        out.push('\n');
        for (enabled, body) in lines.values() {
            if !enabled {
                out.push_str(DISABLED);
                out.push(' ');
            }
            out.push_str(body);
            out.push('\n');
        }
        out.push_str(&self.end_marker());
        out.push('\n');
        out
    }
}

impl Backend for CronBackend {
    fn kind(&self) -> &'static str {
        "cron"
    }

    fn render(&self, task: &Task) -> Result<Entry, BackendError> {
        super::refuse_raw_triggers(task, "cron")?;
        let (trigger, if_due) = match &task.schedule {
            None => (None, false),
            Some(schedule) => match schedule.kind() {
                Kind::Reboot => (Some("@reboot".to_string()), false),
                Kind::Cron(spec) => {
                    let (fields, superset) =
                        cron_fields(spec).map_err(|e| BackendError::Unsupported {
                            task: task.name.clone(),
                            reason: e.to_string(),
                        })?;
                    // cron has no end date: `orc run --if-due` checks `expires`.
                    (Some(fields), superset || task.expires.is_some())
                }
            },
        };
        let entry = Entry {
            name: task.name.clone(),
            trigger,
            command: self
                .invocation
                .argv(&task.name, &self.folder, self.kind(), if_due),
            enabled: task.enabled,
            details: Default::default(),
            credential: None,
        };
        // Refuse now what apply could not write.
        entry_body(&entry)?;
        Ok(entry)
    }

    fn list(&self) -> Result<Vec<Entry>, BackendError> {
        let text = self.read()?;
        Ok(self
            .parse(&text)?
            .lines
            .into_iter()
            .map(|l| l.entry)
            .collect())
    }

    fn apply(&mut self, changes: &[Change]) -> Result<(), BackendError> {
        let text = self.read()?;
        let crontab = self.parse(&text)?;
        let mut lines: BTreeMap<String, (bool, String)> = crontab
            .lines
            .into_iter()
            .map(|l| (l.name, (l.enabled, l.body)))
            .collect();
        for change in changes {
            match change {
                Change::Create(entry) | Change::Update(entry) => {
                    lines.insert(entry.name.clone(), (entry.enabled, entry_body(entry)?));
                }
                Change::Delete { name } => {
                    lines.remove(name);
                }
                Change::Enable { name } | Change::Disable { name } => {
                    let enable = matches!(change, Change::Enable { .. });
                    match lines.get_mut(name) {
                        Some((enabled, _)) => *enabled = enable,
                        None => {
                            return Err(BackendError::Damaged(format!(
                                "cannot {} task \"{name}\": it has no line in orc's crontab \
                                 block for folder \"{}\"",
                                if enable { "enable" } else { "disable" },
                                self.folder
                            )));
                        }
                    }
                }
            }
        }
        let block = self.render_block(&lines);
        let new = splice(&text, crontab.block, block.as_bytes());
        if new == text {
            return Ok(());
        }
        self.write(&new)
    }
}

/// A crontab line that cron runs, as `orc import` reads it.
#[derive(Debug, Clone)]
pub struct CronJob {
    /// Its line number in the crontab.
    pub line: usize,
    /// The task's name, for a line of orc's block; `None` for a line outside it.
    pub name: Option<String>,
    /// The schedule fields or @macro (`None`: a task of orc's block run on demand).
    pub trigger: Option<String>,
    /// The command as `/bin/sh -c` gets it (cron's escapes undone).
    pub command: Option<String>,
    pub enabled: bool,
    /// The names (never the values) of the variables the crontab sets above the
    /// line, which cron gives the command; only for lines outside orc's block.
    pub env: Vec<String>,
    /// Why the line cannot move into orc's block as it is, if it cannot.
    pub problem: Option<String>,
    /// The line as written, without its line break.
    pub text: String,
    range: Range<usize>,
}

/// The crontab as `orc import` reads it: orc's block, and the jobs outside every orc
/// block, with the text they were read from (an adoption writes only over that).
#[derive(Debug, Clone)]
pub struct CronJobs {
    pub block: Vec<CronJob>,
    pub outside: Vec<CronJob>,
    text: Vec<u8>,
}

/// Does the crontab line set a variable (`NAME=value`, `NAME = value`, `"NAME"=v`)?
/// Its name, if so, as cron reads it.
fn env_name(line: &str) -> Option<&str> {
    let line = line.trim_start();
    let (name, rest) = match line.chars().next()? {
        q @ ('"' | '\'') => {
            let end = line[1..].find(q)? + 1;
            (&line[1..end], &line[end + 1..])
        }
        _ => {
            let end = line.find([' ', '\t', '='])?;
            (&line[..end], &line[end..])
        }
    };
    (!name.is_empty() && rest.trim_start_matches([' ', '\t']).starts_with('=')).then_some(name)
}

impl CronBackend {
    /// The jobs of the crontab for `orc import`: orc's block, and every line cron runs
    /// outside any orc block (comments, blank lines and variables are not jobs).
    pub fn jobs(&self) -> Result<CronJobs, BackendError> {
        let text = self.read()?;
        let crontab = self.parse(&text)?;
        let block = crontab
            .lines
            .into_iter()
            .map(|l| CronJob {
                line: l.number,
                name: Some(l.name),
                trigger: l.entry.trigger,
                command: l.text,
                enabled: l.enabled,
                env: Vec::new(),
                problem: None,
                text: l.body,
                range: 0..0,
            })
            .collect();
        let mut outside = Vec::new();
        let mut env: Vec<String> = Vec::new();
        let mut in_block = false;
        let mut offset = 0;
        for (index, raw) in text.split_inclusive(|&b| b == b'\n').enumerate() {
            let range = offset..offset + raw.len();
            offset += raw.len();
            let content = String::from_utf8_lossy(raw);
            let content = content.trim_end_matches(['\n', '\r']);
            let trimmed = content.trim();
            // Any folder's block belongs to orc: its own or another config's.
            if trimmed.starts_with("# BEGIN orc managed block: folder ") {
                in_block = true;
                continue;
            }
            if trimmed.starts_with("# END orc managed block: folder ") {
                in_block = false;
                continue;
            }
            if in_block || trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            if let Some(name) = env_name(trimmed) {
                if !env.iter().any(|e| e == name) {
                    env.push(name.to_string());
                }
                continue;
            }
            let count = if trimmed.starts_with('@') { 1 } else { 5 };
            let Some((fields, command)) = take_fields(trimmed, count) else {
                continue;
            };
            let unescaped = cron_unescape(command);
            let problem = if unescaped.is_none() {
                Some(
                    "its command has a % that is not escaped, so cron feeds what follows it \
                     to the command's input, which a task of orc cannot say"
                        .to_string(),
                )
            } else if command.ends_with('\\') {
                Some("its command ends with a backslash".to_string())
            } else if raw.iter().any(|&b| b == b'\r' || b == 0) {
                Some("it holds a carriage return or NUL".to_string())
            } else {
                None
            };
            outside.push(CronJob {
                line: index + 1,
                name: None,
                trigger: Some(fields.join(" ")),
                command: unescaped,
                enabled: true,
                env: env.clone(),
                problem,
                text: trimmed.to_string(),
                range,
            });
        }
        Ok(CronJobs {
            block,
            outside,
            text,
        })
    }

    /// Move the jobs `moves` (an index into `jobs.outside`, and the task name it gets)
    /// into orc's block, each line as it was with orc's marker added, so that cron
    /// runs the same command at the same times until `orc apply` takes the task over.
    /// One crontab write: the line is never in both places, nor in neither. Refused,
    /// with nothing changed, when the crontab is no longer what `jobs` read.
    pub fn adopt(&self, jobs: &CronJobs, moves: &[(usize, String)]) -> Result<(), BackendError> {
        if moves.is_empty() {
            return Ok(());
        }
        let text = self.read()?;
        if text != jobs.text {
            return Err(BackendError::Locked(
                "the crontab changed while orc import was reading it; nothing was changed, \
                 run orc import again"
                    .to_string(),
            ));
        }
        let mut moved: Vec<(&CronJob, &str)> = Vec::with_capacity(moves.len());
        for (index, name) in moves {
            let job = jobs.outside.get(*index).ok_or_else(|| {
                BackendError::Refused(format!("no job {index} outside orc's crontab block"))
            })?;
            if let Some(problem) = &job.problem {
                return Err(BackendError::Refused(format!(
                    "line {} of the crontab cannot move into orc's block: {problem}",
                    job.line
                )));
            }
            check_name(name).map_err(|e| {
                BackendError::Refused(format!(
                    "invalid task name \"{name}\" for a crontab line: {e}"
                ))
            })?;
            moved.push((job, name));
        }
        let mut without = Vec::with_capacity(text.len());
        let mut at = 0;
        let mut ranges: Vec<&Range<usize>> = moved.iter().map(|(j, _)| &j.range).collect();
        ranges.sort_by_key(|r| r.start);
        for range in ranges {
            without.extend_from_slice(&text[at..range.start]);
            at = range.end;
        }
        without.extend_from_slice(&text[at..]);
        let crontab = self.parse(&without)?;
        let mut lines: BTreeMap<String, (bool, String)> = crontab
            .lines
            .into_iter()
            .map(|l| (l.name, (l.enabled, l.body)))
            .collect();
        for (job, name) in moved {
            if lines.contains_key(name) {
                return Err(BackendError::Refused(format!(
                    "orc's crontab block for folder \"{}\" already has a line for task \"{name}\"; \
                     nothing was changed",
                    self.folder
                )));
            }
            lines.insert(
                name.to_string(),
                (true, format!("{}{MARKER}{name}", job.text)),
            );
        }
        let block = self.render_block(&lines);
        self.write(&splice(&without, crontab.block, block.as_bytes()))
    }
}

/// `text` (a command as `/bin/sh -c` gets it) as an argv, when it is only words: no
/// operator, redirection, expansion, glob, assignment, comment or builtin that needs
/// a shell. `None` when it needs one (then it is a `shell = "..."` task).
pub fn plain_argv(text: &str) -> Option<Vec<String>> {
    const BUILTINS: [&str; 24] = [
        "cd", "export", "exec", ".", "source", "set", "unset", "eval", "alias", "umask", "ulimit",
        "trap", "if", "for", "while", "until", "case", "!", "{", "function", "select", "readonly",
        "local", "wait",
    ];
    let mut quote: Option<char> = None;
    let mut word_start = true;
    let mut first_word = true;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match quote {
            Some('\'') => {
                if c == '\'' {
                    quote = None;
                }
                continue;
            }
            Some(_) => {
                match c {
                    '"' => quote = None,
                    '$' | '`' | '\\' | '!' => return None,
                    _ => {}
                }
                continue;
            }
            None => {}
        }
        match c {
            ' ' | '\t' => {
                if !word_start {
                    first_word = false;
                }
                word_start = true;
                continue;
            }
            '\\' => {
                chars.next()?;
            }
            '\'' | '"' => quote = Some(c),
            '|' | '&' | ';' | '<' | '>' | '(' | ')' | '$' | '`' | '*' | '?' | '[' | '\n' | '\r'
            | '{' | '}' | '!' => return None,
            '#' | '~' if word_start => return None,
            '=' if first_word => return None,
            _ => {}
        }
        word_start = false;
    }
    if quote.is_some() {
        return None;
    }
    let argv = shell_words::split(text).ok()?;
    match argv.first() {
        None => None,
        Some(program) if BUILTINS.contains(&program.as_str()) => None,
        Some(_) => Some(argv),
    }
}

/// What `parse` found: where orc's block is, and its lines.
struct Crontab {
    /// Bytes from the start of the BEGIN line to the end of the END line (newline
    /// included); `None` when there is no block.
    block: Option<Range<usize>>,
    lines: Vec<Line>,
}

/// One task's line in the block.
struct Line {
    /// Its line number in the crontab.
    number: usize,
    name: String,
    enabled: bool,
    /// The line without the disabled prefix, as written (toggling keeps it).
    body: String,
    /// The command as `/bin/sh -c` gets it (cron's escapes undone); `None` when cron
    /// would feed part of it to stdin or the line has no command.
    text: Option<String>,
    entry: Entry,
}

/// Does the (right-trimmed) line `content` start with `marker`, as a whole word?
fn is_marker(content: &str, marker: &str) -> bool {
    match content.trim_start().strip_prefix(marker) {
        Some(rest) => rest.is_empty() || rest.starts_with([' ', '\t']),
        None => false,
    }
}

/// Read one line of the block back into an entry. Blank lines are skipped; a line
/// without orc's marker is an error, because orc would otherwise drop it on the
/// next apply.
fn parse_line(line: &str, number: usize, folder: &str) -> Result<Option<Line>, BackendError> {
    let line = line.trim();
    if line.is_empty() {
        return Ok(None);
    }
    let not_orcs = || {
        BackendError::Damaged(format!(
            "line {number} of the crontab is inside orc's block for folder \"{folder}\" but is \
             not orc's: {line:?}; fix or remove it (crontab -e), or move it outside the block"
        ))
    };
    let (enabled, body) = match line.strip_prefix(DISABLED) {
        Some(rest) => (false, rest.trim_start()),
        None => (true, line),
    };
    let at = body.rfind(MARKER).ok_or_else(not_orcs)?;
    let name = body[at + MARKER.len()..].trim();
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err(not_orcs());
    }
    let front = body[..at].trim_end();
    let (trigger, command) = parse_front(front);
    let text = command_part(front).and_then(cron_unescape);
    Ok(Some(Line {
        number,
        name: name.to_string(),
        enabled,
        body: body.to_string(),
        text,
        entry: Entry {
            name: name.to_string(),
            trigger,
            command,
            enabled,
            details: Default::default(),
            credential: None,
        },
    }))
}

/// The trigger and argv of a line (without its marker). What does not parse comes
/// back as written, with the command as one raw string, so that it can never equal
/// what orc renders and plan reports it as changed.
fn parse_front(front: &str) -> (Option<String>, Vec<String>) {
    if let Some(command) = front.strip_prefix(ON_DEMAND) {
        let command = command.trim_start();
        return (
            None,
            decode_command(command).unwrap_or_else(|| raw(command)),
        );
    }
    let count = if front.starts_with('@') { 1 } else { 5 };
    match take_fields(front, count) {
        Some((fields, command)) if !front.starts_with('#') => {
            let fields = fields.join(" ");
            let command = decode_command(command).unwrap_or_else(|| raw(command));
            (Some(normalize_trigger(&fields)), command)
        }
        _ => (Some(front.to_string()), Vec::new()),
    }
}

/// The command part of a line (without its marker): what follows the on-demand
/// prefix, or the five fields or the @macro.
fn command_part(front: &str) -> Option<&str> {
    if let Some(command) = front.strip_prefix(ON_DEMAND) {
        let command = command.trim_start();
        return (!command.is_empty()).then_some(command);
    }
    if front.starts_with('#') {
        return None;
    }
    let count = if front.starts_with('@') { 1 } else { 5 };
    take_fields(front, count).map(|(_, command)| command)
}

fn raw(text: &str) -> Vec<String> {
    vec![text.to_string()]
}

/// Split `count` blank-separated fields off the front of `text`; the rest (non-empty)
/// is the command.
fn take_fields(text: &str, count: usize) -> Option<(Vec<&str>, &str)> {
    let mut rest = text;
    let mut fields = Vec::with_capacity(count);
    for _ in 0..count {
        rest = rest.trim_start_matches([' ', '\t']);
        let end = rest.find([' ', '\t'])?;
        fields.push(&rest[..end]);
        rest = &rest[end..];
    }
    let command = rest.trim_start_matches([' ', '\t']);
    (!command.is_empty()).then_some((fields, command))
}

/// Fields read back from the crontab, in the form orc renders them when they mean
/// the same thing to cron (so that `0 06 * * MON` is not reported as drift from
/// `0 6 * * 1`); otherwise as written.
fn normalize_trigger(fields: &str) -> String {
    match crate::schedule::parse(fields) {
        Ok(schedule) => match schedule.kind() {
            Kind::Reboot => "@reboot".to_string(),
            Kind::Cron(spec) if !has_extensions(spec) => cron_fields(spec)
                .map(|(f, _)| f)
                .unwrap_or_else(|_| fields.to_string()),
            Kind::Cron(_) => fields.to_string(),
        },
        Err(_) => fields.to_string(),
    }
}

/// The line for `entry`, without the disabled prefix.
fn entry_body(entry: &Entry) -> Result<String, BackendError> {
    let unsupported = |reason: String| BackendError::Unsupported {
        task: entry.name.clone(),
        reason,
    };
    check_name(&entry.name)
        .map_err(|e| unsupported(format!("invalid name for a crontab line: {e}")))?;
    if entry.command.is_empty() {
        return Err(unsupported("the command is empty".to_string()));
    }
    if let Some(arg) = entry
        .command
        .iter()
        .find(|a| a.contains(['\n', '\r', '\0']))
    {
        return Err(unsupported(format!(
            "{arg:?} holds a line break or NUL, which a crontab line cannot carry"
        )));
    }
    let command = encode_command(&entry.command);
    let front = match &entry.trigger {
        None => format!("{ON_DEMAND} {command}"),
        Some(trigger) => {
            let fields: Vec<&str> = trigger.split_whitespace().collect();
            let well_formed = match fields.as_slice() {
                [word] => word.starts_with('@') && word.len() > 1,
                _ => fields.len() == 5 && !fields[0].starts_with('@'),
            };
            if !well_formed || trigger.contains(['#', '%', '\\', '\'', '"']) {
                return Err(unsupported(format!(
                    "{trigger:?} is not a crontab schedule (5 fields or an @macro)"
                )));
            }
            format!("{} {command}", fields.join(" "))
        }
    };
    Ok(format!("{front}{MARKER}{}", entry.name))
}

/// `argv` as the command part of a crontab line.
///
/// Two layers read it. First cron, which ends the command at the first `%` (the rest
/// becomes stdin) and turns `\%` into `%`; Debian's cron also turns `\\` into `\`,
/// while BSD's and macOS's keep both. Then `/bin/sh -c`. So each word is single-quoted
/// where it needs it, every `%` is written `\%` outside the quotes, a `'` is written
/// `\'`, and two backslashes never touch (a quote is closed and reopened between
/// them), so that every cron hands the shell the same text.
fn encode_command(argv: &[String]) -> String {
    argv.iter()
        .map(|a| encode_arg(a))
        .collect::<Vec<_>>()
        .join(" ")
}

fn encode_arg(arg: &str) -> String {
    fn flush(run: &mut String, out: &mut String) {
        if run.is_empty() {
            return;
        }
        if run.chars().all(is_plain) {
            out.push_str(run);
        } else {
            out.push('\'');
            out.push_str(run);
            out.push('\'');
        }
        run.clear();
    }
    if arg.is_empty() {
        return "''".to_string();
    }
    let mut out = String::new();
    let mut run = String::new();
    for c in arg.chars() {
        let special = match c {
            '%' => "\\%",
            '\'' => "\\'",
            '\\' if run.ends_with('\\') => {
                flush(&mut run, &mut out);
                run.push(c);
                continue;
            }
            _ => {
                run.push(c);
                continue;
            }
        };
        flush(&mut run, &mut out);
        out.push_str(special);
    }
    flush(&mut run, &mut out);
    out
}

/// Characters that mean nothing to the shell anywhere in a word.
fn is_plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | ':' | ',' | '+' | '@')
}

/// The argv cron would run for the command part of a line: undo cron's escapes as
/// Debian's cron does (`\%` -> `%`, `\\` -> `\`), then split as `/bin/sh` would.
/// `None` when cron would feed part of it to stdin (an unescaped `%`) or the shell
/// words do not parse.
fn decode_command(command: &str) -> Option<Vec<String>> {
    let text = cron_unescape(command)?;
    let argv = shell_words::split(&text).ok()?;
    (!argv.is_empty()).then_some(argv)
}

/// The text cron hands `/bin/sh -c` for the command part of a line, escapes undone
/// as Debian's cron does (`\%` -> `%`, `\\` -> `\`); `None` when cron would feed part
/// of it to stdin (an unescaped `%`).
fn cron_unescape(command: &str) -> Option<String> {
    let mut text = String::with_capacity(command.len());
    let mut chars = command.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(next @ ('%' | '\\')) => text.push(next),
                Some(next) => {
                    text.push('\\');
                    text.push(next);
                }
                None => text.push('\\'),
            },
            '%' => return None,
            c => text.push(c),
        }
    }
    Some(text)
}

/// Put `block` in place of the old block in `text`, or append it at the end when
/// there was none. Every byte outside the block stays as it was, except for a newline
/// added where the text would otherwise end mid-line (crontab refuses that).
fn splice(text: &[u8], old: Option<Range<usize>>, block: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + block.len() + 1);
    match old {
        Some(range) => {
            out.extend_from_slice(&text[..range.start]);
            out.extend_from_slice(block);
            out.extend_from_slice(&text[range.end..]);
        }
        None => {
            out.extend_from_slice(text);
            if !block.is_empty() {
                if !out.is_empty() && !out.ends_with(b"\n") {
                    out.push(b'\n');
                }
                out.extend_from_slice(block);
            }
        }
    }
    if !out.is_empty() && !out.ends_with(b"\n") && out != text {
        out.push(b'\n');
    }
    out
}

/// Does `spec` use anything cron cannot express exactly?
fn has_extensions(spec: &CronSpec) -> bool {
    spec.last_day || spec.last_weekdays != 0 || spec.nth_weekdays.iter().any(|&n| n != 0)
}

/// A schedule none of whose values fall in a crontab field's range (a day-of-month
/// list that only `L` fills, say): no crontab line can say it.
#[derive(Debug, thiserror::Error)]
#[error("the {0} field matches nothing")]
struct EmptyField(&'static str);

/// The five crontab fields for `spec`, and whether they fire on a superset of its
/// times (then `orc run --if-due` must check the exact schedule).
///
/// A field that was written starting with `*` stays `*` or `*/n`: Vixie cron decides
/// the day rule (both day fields restricted: either matches; otherwise both must) and
/// its DST handling by that first character, so it must survive. The supersets keep
/// the star flags, so the day rule stays the same and the union stays a superset:
/// under OR a bigger field only adds days, under AND the `*` field passes everything.
fn cron_fields(spec: &CronSpec) -> Result<(String, bool), EmptyField> {
    let ext_weekdays = spec
        .nth_weekdays
        .iter()
        .enumerate()
        .filter(|(_, nth)| **nth != 0)
        .fold(spec.last_weekdays, |acc, (day, _)| acc | (1 << day));
    let superset = spec.last_day || ext_weekdays != 0;
    let mut days = spec.days as u64;
    if spec.last_day {
        days |= 0b1111 << 28;
    }
    let months = values(spec.months as u64, 1, 12);
    let month = if months.len() == 12 {
        "*".to_string()
    } else {
        compact(&months, "month")?
    };
    let fields = [
        field(spec.minutes, spec.minute_star, 0, 59, "minute")?,
        field(spec.hours as u64, spec.hour_star, 0, 23, "hour")?,
        field(days, spec.dom_star, 1, 31, "day-of-month")?,
        month,
        field(
            (spec.weekdays | ext_weekdays) as u64,
            spec.dow_star,
            0,
            6,
            "day-of-week",
        )?,
    ];
    Ok((fields.join(" "), superset))
}

fn values(set: u64, lo: u32, hi: u32) -> Vec<u32> {
    (lo..=hi).filter(|v| set & (1 << v) != 0).collect()
}

/// One field: `*` / `*/n` when it started with `*`, else a compact list.
fn field(set: u64, star: bool, lo: u32, hi: u32, name: &'static str) -> Result<String, EmptyField> {
    let list = values(set, lo, hi);
    if star && let Some(step) = star_step(&list, lo, hi) {
        return Ok(if step == 1 {
            "*".to_string()
        } else {
            format!("*/{step}")
        });
    }
    compact(&list, name)
}

/// The step `n` such that `*/n` over `lo..=hi` is exactly `list`, if there is one.
fn star_step(list: &[u32], lo: u32, hi: u32) -> Option<u32> {
    let step = match list {
        [first, second, ..] if *first == lo => second - first,
        // A single value: any step past the end gives just the start.
        [first] if *first == lo => hi - lo + 1,
        _ => return None,
    };
    (lo..=hi)
        .step_by(step as usize)
        .eq(list.iter().copied())
        .then_some(step)
}

/// `1-5,7,9-11`: runs of three or more as ranges, shorter runs as single values.
fn compact(list: &[u32], name: &'static str) -> Result<String, EmptyField> {
    if list.is_empty() {
        return Err(EmptyField(name));
    }
    let mut parts = Vec::new();
    let mut i = 0;
    while i < list.len() {
        let mut j = i;
        while j + 1 < list.len() && list[j + 1] == list[j] + 1 {
            j += 1;
        }
        if j - i >= 2 {
            parts.push(format!("{}-{}", list[i], list[j]));
        } else {
            parts.extend(list[i..=j].iter().map(u32::to_string));
        }
        i = j + 1;
    }
    Ok(parts.join(","))
}

/// Cron runs in the system time zone: accept only a setting that means that zone.
fn check_zone(timezone: &str) -> Result<(), BackendError> {
    zone_refusal(timezone).map_or(Ok(()), |why| Err(BackendError::Setting(why)))
}

/// Why the cron backend cannot honour `timezone` (a `settings.timezone` value), if it
/// cannot: cron fires in the system time zone, so only a setting that means that zone
/// (or "local") is accepted. `orc validate` and `orc init` ask this too.
pub fn zone_refusal(timezone: &str) -> Option<String> {
    if timezone.is_empty() || timezone == "local" {
        return None;
    }
    let system = jiff::tz::TimeZone::system();
    let name = system.iana_name();
    let same = match name {
        Some(name) => name.eq_ignore_ascii_case(timezone) || (is_utc(name) && is_utc(timezone)),
        None => false,
    };
    if same {
        return None;
    }
    Some(format!(
        "timezone = \"{timezone}\": the cron backend runs in the system time zone ({}); set \
         timezone = \"local\" or use the embedded backend",
        name.unwrap_or("which has no IANA name")
    ))
}

/// The IANA names of UTC.
fn is_utc(name: &str) -> bool {
    const UTC: [&str; 16] = [
        "UTC",
        "Etc/UTC",
        "UCT",
        "Etc/UCT",
        "Universal",
        "Etc/Universal",
        "Zulu",
        "Etc/Zulu",
        "GMT",
        "Etc/GMT",
        "GMT0",
        "Etc/GMT0",
        "GMT+0",
        "Etc/GMT+0",
        "GMT-0",
        "Etc/GMT-0",
    ];
    UTC.iter().any(|u| u.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> CronSpec {
        crate::schedule::parse(text)
            .unwrap()
            .cron()
            .unwrap()
            .clone()
    }

    fn fields(text: &str) -> (String, bool) {
        cron_fields(&spec(text)).unwrap()
    }

    #[test]
    fn fields_keep_stars_and_compact_lists() {
        assert_eq!(fields("*/15 * * * *").0, "*/15 * * * *");
        assert_eq!(fields("0-59/20 */6 * * *").0, "0,20,40 */6 * * *");
        assert_eq!(fields("*/60 */24 * * *").0, "*/60 */24 * * *");
        assert_eq!(fields("0 9 1-5,7,9,10,11 * 1-5").0, "0 9 1-5,7,9-11 * 1-5");
        assert_eq!(fields("0 9 * 1,2 MON,TUE").0, "0 9 * 1,2 1,2");
        assert_eq!(fields("0 9 * JAN-DEC 7").0, "0 9 * * 0");
        assert_eq!(fields("0 0 */2 * *").0, "0 0 */2 * *");
        assert_eq!(fields("0 0 * * */2").0, "0 0 * * */2");
        assert_eq!(fields("0 0 * * 0-6").0, "0 0 * * 0-6");
        assert_eq!(fields("0-59 0 * * *").0, "0-59 0 * * *");
    }

    #[test]
    fn extensions_become_supersets() {
        assert_eq!(fields("0 0 L * *"), ("0 0 28-31 * *".into(), true));
        assert_eq!(fields("0 0 1,L * *"), ("0 0 1,28-31 * *".into(), true));
        assert_eq!(fields("0 0 * * FRI#3"), ("0 0 * * 5".into(), true));
        assert_eq!(fields("0 0 * * 5L,1"), ("0 0 * * 1,5".into(), true));
        assert_eq!(fields("0 0 15 * 5L"), ("0 0 15 * 5".into(), true));
        assert!(!fields("0 0 28-31 * 5").1);
    }

    /// Encoding then decoding gives the argv back, and the line never holds a
    /// backslash pair (read differently by Debian's and BSD's cron). The integration
    /// tests run such lines through /bin/sh.
    #[test]
    fn tricky_args_round_trip() {
        let args = [
            "plain",
            "",
            "with space",
            "50%",
            "%%",
            "a\\%b",
            "\\\\server\\share",
            "end\\",
            "it's",
            "'",
            "$HOME `x` \"q\" #c ~t =e",
            "tab\there",
            "ünï",
        ];
        for arg in args {
            let argv = vec!["/opt/my orc/bin/orc".to_string(), arg.to_string()];
            let encoded = encode_command(&argv);
            assert!(!encoded.contains("\\\\"), "{encoded}");
            assert_eq!(decode_command(&encoded), Some(argv), "{encoded}");
        }
    }

    #[test]
    fn only_plain_words_are_an_argv() {
        assert_eq!(
            plain_argv("/usr/bin/true --flag 'a b' \"c d\" e\\ f"),
            Some(vec![
                "/usr/bin/true".into(),
                "--flag".into(),
                "a b".into(),
                "c d".into(),
                "e f".into()
            ])
        );
        // What orc itself writes is words.
        assert!(plain_argv("/opt/orc run x --state '/a b' --trigger scheduled").is_some());
        for shell in [
            "cd /srv && ./backup.sh >> /var/log/b.log 2>&1",
            "a | b",
            "a; b",
            "a > out",
            "echo $HOME",
            "echo \"$HOME\"",
            "ls *.log",
            "rm ~/x",
            "FOO=1 run",
            "run `date`",
            "a # comment",
            "cd /srv",
            "{ a; }",
            "'unclosed",
        ] {
            assert_eq!(plain_argv(shell), None, "{shell}");
        }
        // Quoted, these are plain text.
        assert!(plain_argv("echo 'a && b' '$x' '#c'").is_some());
        assert!(plain_argv("run --opt=1 a#b").is_some());
    }

    #[test]
    fn variable_lines_are_told_from_jobs() {
        assert_eq!(env_name("MAILTO=me"), Some("MAILTO"));
        assert_eq!(env_name("PATH = /bin:/usr/bin"), Some("PATH"));
        assert_eq!(env_name("\"A B\"=1"), Some("A B"));
        assert_eq!(env_name("0 1 * * * FOO=1 run"), None);
        assert_eq!(env_name("@daily run --x=1"), None);
        assert_eq!(env_name("*/5 * * * * a"), None);
    }

    #[test]
    fn unescaped_percent_is_not_decoded() {
        assert_eq!(decode_command("date +%s"), None);
        assert_eq!(
            decode_command("date +\\%s"),
            Some(vec!["date".into(), "+%s".into()])
        );
    }

    #[test]
    fn splice_adds_newlines_only_where_needed() {
        let block = b"# BEGIN\nx\n# END\n";
        assert_eq!(splice(b"", None, block), block.to_vec());
        assert_eq!(
            splice(b"a=1", None, block),
            b"a=1\n# BEGIN\nx\n# END\n".to_vec()
        );
        assert_eq!(splice(b"a=1", None, b""), b"a=1".to_vec());
        assert_eq!(splice(b"a\nB\nE\nb", Some(2..6), b""), b"a\nb\n".to_vec());
        assert_eq!(
            splice(b"a\nB\nE\nb\n", Some(2..6), b"N\n"),
            b"a\nN\nb\n".to_vec()
        );
    }

    #[test]
    fn lines_parse_back() {
        let line = parse_line(
            "#disabled# 0 06 * * MON /bin/orc run x --state '/a b' # orc:x",
            1,
            "Orc",
        )
        .unwrap()
        .unwrap();
        assert_eq!(line.entry.trigger.as_deref(), Some("0 6 * * 1"));
        assert_eq!(
            line.entry.command,
            ["/bin/orc", "run", "x", "--state", "/a b"]
        );
        assert!(!line.entry.enabled);
        let line = parse_line("@daily /bin/orc # orc:d", 1, "Orc")
            .unwrap()
            .unwrap();
        assert_eq!(line.entry.trigger.as_deref(), Some("0 0 * * *"));
        let line = parse_line("#on-demand# /bin/orc run d # orc:d", 1, "Orc")
            .unwrap()
            .unwrap();
        assert_eq!(line.entry.trigger, None);
        assert!(parse_line("MAILTO=x", 3, "Orc").is_err());
        assert!(parse_line("   ", 3, "Orc").unwrap().is_none());
    }
}
