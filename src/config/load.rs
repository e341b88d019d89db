//! Reading tasks.toml files: the file or folder given, its includes, TOML syntax, and
//! the structure of each section. Each section and each task is deserialized on its
//! own, so one broken task does not hide the problems of the others.

use std::collections::{BTreeMap, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use toml::de::{DeTable, DeValue};

use super::diag::{Diagnostic, Diagnostics, Source};
use super::raw::{
    CommandValue, REPORT_TASK, RawCalendar, RawDefaults, RawFleet, RawNotify, RawReport,
    RawSettings, RawSmtp, RawTask, SECTIONS, TaskType,
};

/// A section or named entry, with the file it came from and the span of its key.
#[derive(Debug, Clone)]
pub struct Item<T> {
    pub file: usize,
    pub key_span: Range<usize>,
    pub value: T,
    /// Keys removed after a structural error; checks that need them stay quiet.
    pub dropped: Vec<String>,
}

/// All files read, with their sections not yet validated.
#[derive(Debug, Default)]
pub struct Parsed {
    pub sources: Vec<Source>,
    pub settings: Option<Item<RawSettings>>,
    pub defaults: Option<Item<RawDefaults>>,
    pub smtp: Option<Item<RawSmtp>>,
    pub report: Option<Item<RawReport>>,
    pub fleet: Option<Item<RawFleet>>,
    // Boxed: a task's raw table is about a kilobyte, mostly empty options, and maps
    // and vectors of such values waste their spare slots (a third of a B-tree node).
    pub notify: BTreeMap<String, Box<Item<RawNotify>>>,
    pub calendars: BTreeMap<String, Box<Item<RawCalendar>>>,
    pub tasks: BTreeMap<String, Box<Item<RawTask>>>,
    /// Tasks that failed to deserialize: known by name, so dependencies on them are
    /// not also reported as unknown.
    pub broken_tasks: HashSet<String>,
}

/// The files `--config PATH` names: the file itself, or every `*.toml` in a folder.
pub fn config_files(path: &Path) -> Result<Vec<PathBuf>, Box<Diagnostic>> {
    if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| {
                Box::new(Diagnostic::error(format!("cannot read folder: {e}")).in_file(path))
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(Box::new(
                Diagnostic::error("no *.toml files in this folder").in_file(path),
            ));
        }
        Ok(files)
    } else if path.exists() {
        Ok(vec![path.to_path_buf()])
    } else {
        Err(Box::new(
            Diagnostic::error("config file not found")
                .in_file(path)
                .help("pass --config with a tasks.toml file or a folder of *.toml files"),
        ))
    }
}

/// How to fix a file that is not UTF-8.
const SAVE_AS_UTF8: &str = "save the file as UTF-8 (in Notepad: File > Save as, Encoding: UTF-8)";

/// The text of a config file. tasks.toml is UTF-8; a file in another encoding (UTF-16,
/// as Windows tools like to write, or a legacy code page) or a binary file is refused
/// with the file named and, where it helps, the position of the first bad byte.
fn read_text(file: &Path) -> Result<String, Box<Diagnostic>> {
    let bytes = std::fs::read(file)
        .map_err(|e| Box::new(Diagnostic::error(format!("cannot read file: {e}")).in_file(file)))?;
    let refuse =
        |message: &str| Box::new(Diagnostic::error(message).in_file(file).help(SAVE_AS_UTF8));
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Err(refuse(
            "the file is UTF-16 (it starts with a UTF-16 byte-order mark); orc reads UTF-8",
        ));
    }
    if looks_like_utf16(&bytes) {
        return Err(refuse(
            "the file looks like UTF-16 (a NUL byte beside every character); orc reads UTF-8",
        ));
    }
    if let Some(at) = bytes.iter().position(|&b| b == 0) {
        // No snippet: the "line" of a binary file is noise on a terminal.
        return Err(Box::new(
            Diagnostic::error(format!(
                "the file holds a NUL byte (byte {}): it is binary, not a TOML text file",
                at + 1
            ))
            .in_file(file)
            .help("--config names tasks.toml, saved as UTF-8, or a folder of *.toml files"),
        ));
    }
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let bytes = e.into_bytes();
            let byte = bytes[at];
            // The text up to the bad byte is intact, so positions before it hold.
            let source = Source::new(
                file.to_path_buf(),
                String::from_utf8_lossy(&bytes).into_owned(),
            );
            let d = Diagnostic::error(format!(
                "byte 0x{byte:02X} is not UTF-8: the file is in another encoding, or not text"
            ))
            .at(&source, Some(at..at + 1))
            .help(SAVE_AS_UTF8);
            return Err(Box::new(d));
        }
    };
    // Notepad saves UTF-8 with a byte-order mark; it is not part of the text.
    Ok(match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    })
}

/// UTF-16 without a byte-order mark: mostly ASCII text, so in most pairs of bytes one
/// is NUL, always the same one.
fn looks_like_utf16(bytes: &[u8]) -> bool {
    let pairs: Vec<&[u8]> = bytes.chunks_exact(2).take(512).collect();
    if pairs.is_empty() {
        return false;
    }
    let low = pairs.iter().filter(|p| p[0] != 0 && p[1] == 0).count();
    let high = pairs.iter().filter(|p| p[0] == 0 && p[1] != 0).count();
    low.max(high) * 2 >= pairs.len()
}

/// What one file holds, parsed on its own (so files can be parsed in parallel) and
/// merged into [`Parsed`] afterwards in file order.
#[derive(Default)]
struct FileParts {
    settings: Option<Item<RawSettings>>,
    defaults: Option<Item<RawDefaults>>,
    smtp: Option<Item<RawSmtp>>,
    report: Option<Item<RawReport>>,
    fleet: Option<Item<RawFleet>>,
    notify: Vec<(String, Box<Item<RawNotify>>)>,
    calendars: Vec<(String, Box<Item<RawCalendar>>)>,
    tasks: Vec<(String, Box<Item<RawTask>>)>,
    broken_tasks: Vec<String>,
    includes: Vec<PathBuf>,
    diags: Diagnostics,
}

/// Read and parse every file reachable from `path`, recording problems in `diags`.
/// Files are parsed on every core, a wave at a time: the files named so far, then the
/// files their `include`s name.
pub fn parse_all(path: &Path, diags: &mut Diagnostics) -> Parsed {
    let mut parsed = Parsed::default();
    let mut wave = match config_files(path) {
        Ok(files) => files,
        Err(d) => {
            diags.push(*d);
            return parsed;
        }
    };
    let mut seen = HashSet::new();
    while !wave.is_empty() {
        let first = parsed.sources.len();
        for file in std::mem::take(&mut wave) {
            let key = std::fs::canonicalize(&file).unwrap_or_else(|_| file.clone());
            if !seen.insert(key) {
                continue;
            }
            match read_text(&file) {
                Ok(text) => parsed.sources.push(Source::new(file, text)),
                Err(d) => diags.push(*d),
            }
        }
        let sources = &parsed.sources[first..];
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        let chunk = sources.len().div_ceil(workers).max(1);
        let parts: Vec<FileParts> = std::thread::scope(|scope| {
            let handles: Vec<_> = sources
                .chunks(chunk)
                .enumerate()
                .map(|(c, files)| {
                    scope.spawn(move || {
                        let base = first + c * chunk;
                        files
                            .iter()
                            .enumerate()
                            .map(|(i, source)| parse_file(source, base + i))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| {
                    h.join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect()
        });
        for part in parts {
            wave.extend(merge(&mut parsed, part, diags));
        }
    }
    parsed
}

/// Add one file's parts to the whole, reporting what is defined twice.
fn merge(parsed: &mut Parsed, part: FileParts, diags: &mut Diagnostics) -> Vec<PathBuf> {
    diags.0.extend(part.diags.0);
    let sources = &parsed.sources;
    if let Some(item) = part.settings {
        set_once(&mut parsed.settings, item, "settings", sources, diags);
    }
    if let Some(item) = part.defaults {
        set_once(&mut parsed.defaults, item, "defaults", sources, diags);
    }
    if let Some(item) = part.smtp {
        set_once(&mut parsed.smtp, item, "smtp", sources, diags);
    }
    if let Some(item) = part.fleet {
        set_once(&mut parsed.fleet, item, "fleet", sources, diags);
    }
    if let Some(item) = part.report {
        // The report is a task like any other, named orc_report.
        add_named(
            &mut parsed.tasks,
            REPORT_TASK.to_string(),
            Box::new(report_task(&item)),
            "task",
            sources,
            diags,
        );
        set_once(&mut parsed.report, item, "report", sources, diags);
    }
    for (name, item) in part.notify {
        add_named(
            &mut parsed.notify,
            name,
            item,
            "notify group",
            sources,
            diags,
        );
    }
    for (name, item) in part.calendars {
        add_named(
            &mut parsed.calendars,
            name,
            item,
            "calendar",
            sources,
            diags,
        );
    }
    for (name, item) in part.tasks {
        add_named(&mut parsed.tasks, name, item, "task", sources, diags);
    }
    parsed.broken_tasks.extend(part.broken_tasks);
    part.includes
}

/// The task `[report]` stands for: `orc report --since SINCE --email GROUP` on its
/// schedule, run by this orc executable.
fn report_task(item: &Item<RawReport>) -> Item<RawTask> {
    let r = &item.value;
    let orc = std::env::current_exe()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "orc".to_string());
    let since = r
        .since
        .as_ref()
        .map_or_else(|| "24h".to_string(), |s| s.value.clone());
    let mut argv = vec![
        orc,
        "report".to_string(),
        "--since".to_string(),
        since,
        "--email".to_string(),
        r.email.value.clone(),
    ];
    if r.all_hosts.as_ref().is_some_and(|a| a.value) {
        argv.push("--all-hosts".to_string());
    }
    Item {
        file: item.file,
        key_span: item.key_span.clone(),
        value: RawTask {
            kind: Some(TaskType::Report),
            description: Some(format!(
                "orc's report, mailed to {} (from [report])",
                r.email.value
            )),
            command: Some(super::raw::Spanned {
                value: CommandValue::Argv(argv),
                span: r.email.span.clone(),
            }),
            schedule: Some(r.schedule.clone()),
            ..RawTask::default()
        },
        dropped: Vec::new(),
    }
}

/// Parse one file (`id` is its index in the sources).
fn parse_file(source: &Source, id: usize) -> FileParts {
    let mut parts = FileParts::default();
    let diags = &mut parts.diags;
    let (root, errors) = DeTable::parse_recoverable(&source.text);
    if !errors.is_empty() {
        report_syntax_errors(source, &errors, diags);
        // Tasks the parser still recognised are known by name, so that other files'
        // dependencies on them are not reported as unknown as well.
        if let Some(DeValue::Table(tasks)) = root.get_ref().get("tasks").map(|v| v.get_ref()) {
            parts.broken_tasks = tasks.keys().map(|k| k.get_ref().to_string()).collect();
        }
        return parts;
    }
    // Sections are taken by value so the common, error-free case copies nothing.
    for (key, value) in root.into_inner() {
        let name = key.get_ref().as_ref();
        let key_span = key.span();
        match name {
            "settings" => {
                parts.settings =
                    section::<RawSettings>(source, id, &[name], key_span, value, diags);
                if let Some(settings) = &parts.settings {
                    parts.includes = resolve_includes(source, &settings.value, diags);
                }
            }
            "defaults" => parts.defaults = section(source, id, &[name], key_span, value, diags),
            "smtp" => parts.smtp = section(source, id, &[name], key_span, value, diags),
            "fleet" => parts.fleet = section(source, id, &[name], key_span, value, diags),
            "report" => parts.report = section(source, id, &[name], key_span, value, diags),
            "notify" | "tasks" | "calendars" => {
                let span = value.span();
                let entries = match value.into_inner() {
                    DeValue::Table(entries) => entries,
                    other => {
                        not_a_table(source, name, &other, span, diags);
                        continue;
                    }
                };
                for (entry_key, entry) in entries {
                    let entry_name = entry_key.get_ref().to_string();
                    let path = [name, entry_name.as_str()];
                    let span = entry_key.span();
                    if name == "tasks" {
                        match section::<RawTask>(source, id, &path, span, entry, diags) {
                            Some(item) => parts.tasks.push((entry_name, Box::new(item))),
                            None => parts.broken_tasks.push(entry_name),
                        }
                    } else if name == "calendars" {
                        if let Some(item) =
                            section::<RawCalendar>(source, id, &path, span, entry, diags)
                        {
                            parts.calendars.push((entry_name, Box::new(item)));
                        }
                    } else if let Some(item) =
                        section::<RawNotify>(source, id, &path, span, entry, diags)
                    {
                        parts.notify.push((entry_name, Box::new(item)));
                    }
                }
            }
            other => {
                let what = if value.get_ref().is_table() {
                    "section"
                } else {
                    "key"
                };
                diags.push(
                    Diagnostic::error(format!("unknown top-level {what} `{other}`"))
                        .at(source, Some(key_span))
                        .help(format!("top-level sections are {}", SECTIONS.join(", "))),
                );
            }
        }
    }
    parts
}

fn not_a_table(
    source: &Source,
    name: &str,
    value: &DeValue<'_>,
    span: Range<usize>,
    diags: &mut Diagnostics,
) {
    let mut d = Diagnostic::error(format!(
        "`{name}` must be a table, found {}",
        value.type_str()
    ))
    .at(source, Some(span));
    if let Some(task) = name.strip_prefix("tasks.") {
        d = d.task(task);
    }
    diags.push(d);
}

/// Deserialize the table at `path` (["settings"] or ["tasks", NAME]) into `T`.
///
/// The table is consumed, so a valid one is never copied. Only when it has errors is
/// the file parsed again to report them all (see [`section_with_errors`]).
fn section<T: DeserializeOwned>(
    source: &Source,
    id: usize,
    path: &[&str],
    key_span: Range<usize>,
    value: serde_spanned::Spanned<DeValue<'_>>,
    diags: &mut Diagnostics,
) -> Option<Item<T>> {
    let label = path.join(".");
    let span = value.span();
    let table = match value.into_inner() {
        DeValue::Table(table) => table,
        other => {
            not_a_table(source, &label, &other, span, diags);
            return None;
        }
    };
    let de = toml::de::Deserializer::from(serde_spanned::Spanned::new(span, table));
    if let Ok(value) = T::deserialize(de) {
        return Some(Item {
            file: id,
            key_span,
            value,
            dropped: Vec::new(),
        });
    }
    let (root, _) = DeTable::parse_recoverable(&source.text);
    let mut table = root.get_ref();
    let mut spanned = None;
    for key in path {
        let value = table.get(*key)?;
        table = value.get_ref().as_table()?;
        spanned = Some(value);
    }
    section_with_errors(source, id, &label, key_span, spanned?, table, diags)
}

/// Report each structural error (unknown key, wrong type, missing key) of a table at
/// its exact position. After an error the offending key is dropped and
/// deserialization retried, so every bad key is reported and the rest of the table
/// is still checked for meaning.
fn section_with_errors<T: DeserializeOwned>(
    source: &Source,
    id: usize,
    name: &str,
    key_span: Range<usize>,
    value: &serde_spanned::Spanned<DeValue<'_>>,
    original: &DeTable<'_>,
    diags: &mut Diagnostics,
) -> Option<Item<T>> {
    // Copied only once an error needs keys dropped.
    let mut trimmed: Option<DeTable> = None;
    let mut dropped = Vec::new();
    loop {
        let table = trimmed.as_ref().unwrap_or(original);
        let de =
            toml::de::Deserializer::from(serde_spanned::Spanned::new(value.span(), table.clone()));
        let e = match T::deserialize(de) {
            Ok(value) => {
                return Some(Item {
                    file: id,
                    key_span,
                    value,
                    dropped,
                });
            }
            Err(e) => e,
        };
        let mut d = Diagnostic::error(structural_message(e.message()))
            .at(source, e.span().or(Some(value.span())));
        if let Some((unknown, known)) = unknown_key(e.message()) {
            // The list of every key is long: the likely one is what helps.
            if let Some(likely) = super::validate::closest(&unknown, known.iter()) {
                d.message = format!("unknown key `{unknown}`");
                d = d.help(format!("did you mean `{likely}`?"));
            }
        }
        if let Some(task) = name.strip_prefix("tasks.") {
            d = d.task(task);
        } else {
            d.message = format!("in [{name}]: {}", d.message);
        }
        diags.push(d);
        // The key whose name or value the error points into.
        let culprit = e.span().and_then(|at| {
            table
                .iter()
                .find(|(k, v)| contains(&k.span(), &at) || contains(&v.span(), &at))
                .map(|(k, _)| k.clone())
        });
        match culprit {
            Some(key) => {
                dropped.push(key.get_ref().to_string());
                trimmed.get_or_insert_with(|| original.clone()).remove(&key);
            }
            None => return None,
        }
    }
}

/// serde's "unknown field `X`, expected one of `a`, `b`": the key and the known ones.
fn unknown_key(message: &str) -> Option<(String, Vec<String>)> {
    let rest = message.trim().strip_prefix("unknown field `")?;
    let (unknown, rest) = rest.split_once('`')?;
    let list = rest
        .strip_prefix(", expected one of ")
        .or_else(|| rest.strip_prefix(", expected "))?;
    let known = list
        .split(", ")
        .map(|k| k.trim_start_matches("or ").trim_matches('`').to_string())
        .collect();
    Some((unknown.to_string(), known))
}

fn contains(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.end <= outer.end && outer != &(0..0)
}

/// serde's messages are good but terse and speak Rust; say "key" as TOML users do,
/// and number ranges instead of type names.
fn structural_message(message: &str) -> String {
    message
        .trim()
        .replace("unknown field", "unknown key")
        .replace("missing field", "missing key")
        .replace(
            "expected u32",
            "expected a whole number from 0 to 4294967295",
        )
        .replace("expected u16", "expected a whole number from 1 to 65535")
}

/// Report TOML syntax errors. A table pasted twice makes the parser flag every key in
/// the copy as well; only the header is worth reporting, so those echoes are dropped.
fn report_syntax_errors(source: &Source, errors: &[toml::de::Error], diags: &mut Diagnostics) {
    let lines: Vec<&str> = source.text.lines().collect();
    let header_of = |line: usize| -> Option<&str> {
        let text = lines.get(line.checked_sub(1)?)?.trim();
        (text.starts_with('[') && !text.starts_with("[[")).then_some(text)
    };
    // The header line of the duplicated table we are inside, if any.
    let mut duplicate_table: Option<usize> = None;
    for e in errors {
        let message = e.message().trim();
        let line = e.span().map(|s| source.line_col(s.start).0);
        if message.contains("duplicate key")
            && let Some(line) = line
        {
            if let Some(header) = header_of(line) {
                duplicate_table = Some(line);
                let first = (1..line).find(|&l| header_of(l) == Some(header));
                let mut d = Diagnostic::error(format!(
                    "duplicate table {header}{}",
                    first.map_or(String::new(), |l| format!("; first defined at line {l}"))
                ))
                .at(source, e.span());
                if let Some(task) = header
                    .trim_matches(['[', ']'])
                    .trim()
                    .strip_prefix("tasks.")
                {
                    d = d.task(task.trim_matches('"'));
                }
                diags.push(d);
                continue;
            }
            let inside_duplicate = duplicate_table
                .is_some_and(|h| (h + 1..=line).all(|l| l == h || header_of(l).is_none()));
            if inside_duplicate {
                continue;
            }
        }
        // The parser stops at a fixed depth, so a runaway file cannot exhaust the stack;
        // say so in the user's terms.
        let message = if message.contains("recursion limit") || message.contains("recurse further")
        {
            "tables, arrays or dotted keys nest too deeply (a tasks.toml needs a few levels)"
        } else {
            message
        };
        diags.push(Diagnostic::error(format!("invalid TOML: {message}")).at(source, e.span()));
    }
}

fn set_once<T>(
    slot: &mut Option<Item<T>>,
    item: Item<T>,
    what: &str,
    sources: &[Source],
    diags: &mut Diagnostics,
) {
    if let Some(first) = slot {
        let first_at = Diagnostic::error("")
            .at(&sources[first.file], Some(first.key_span.clone()))
            .position();
        diags.push(
            Diagnostic::error(format!(
                "[{what}] is defined more than once; first at {first_at}"
            ))
            .at(&sources[item.file], Some(item.key_span)),
        );
    } else {
        *slot = Some(item);
    }
}

fn add_named<T>(
    map: &mut BTreeMap<String, Box<Item<T>>>,
    name: String,
    item: Box<Item<T>>,
    what: &str,
    sources: &[Source],
    diags: &mut Diagnostics,
) {
    if let Some(first) = map.get(&name) {
        let first_at = Diagnostic::error("")
            .at(&sources[first.file], Some(first.key_span.clone()))
            .position();
        let mut d = Diagnostic::error(format!(
            "duplicate {what} \"{name}\"; first defined at {first_at}"
        ))
        .at(&sources[item.file], Some(item.key_span));
        if what == "task" {
            d = d.task(&name);
        }
        diags.push(d);
    } else {
        map.insert(name, item);
    }
}

/// Why an include pattern names no list of files; said after the pattern.
#[derive(Debug, thiserror::Error)]
enum GlobError {
    #[error("is invalid: {0}")]
    Invalid(&'static str),
    #[error(
        "reaches more than {MAX_INCLUDE_PATHS} paths; narrow it (for example \"tasks.d/*.toml\")"
    )]
    TooManyPaths,
}

/// The most paths one include pattern may reach.
const MAX_INCLUDE_PATHS: usize = 100_000;

/// The files a glob pattern matches. The directories are walked with walkdir, which
/// notices symlink loops, and the walk stops with an error after more paths than any
/// config holds, so a `**` that reaches a loop or all of `/` cannot hang orc.
fn expand(pattern: &Path) -> Result<Vec<PathBuf>, GlobError> {
    let is_glob =
        |c: &std::path::Component| c.as_os_str().to_string_lossy().contains(['*', '?', '[']);
    let components: Vec<_> = pattern.components().collect();
    let literal = components.iter().take_while(|c| !is_glob(c)).count();
    let base: PathBuf = components[..literal].iter().collect();
    if literal == components.len() {
        return Ok(if base.is_file() {
            vec![base]
        } else {
            Vec::new()
        });
    }
    let text = pattern.to_string_lossy();
    let matcher = glob::Pattern::new(&text).map_err(|e| GlobError::Invalid(e.msg))?;
    let options = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: false,
    };
    let rest = &components[literal..];
    let depth = if rest.iter().any(|c| c.as_os_str() == "**") {
        usize::MAX
    } else {
        rest.len()
    };
    let mut files = Vec::new();
    let walk = walkdir::WalkDir::new(&base)
        .follow_links(true)
        .min_depth(1)
        .max_depth(depth);
    // Unreadable entries and loops are skipped, as a shell's glob skips them.
    for (examined, entry) in walk.into_iter().filter_map(Result::ok).enumerate() {
        if examined >= MAX_INCLUDE_PATHS {
            return Err(GlobError::TooManyPaths);
        }
        if entry.file_type().is_file() && matcher.matches_path_with(entry.path(), options) {
            files.push(entry.into_path());
        }
    }
    Ok(files)
}

/// Expand `include` globs relative to the including file.
fn resolve_includes(
    source: &Source,
    settings: &RawSettings,
    diags: &mut Diagnostics,
) -> Vec<PathBuf> {
    let base = source.path.parent().unwrap_or(Path::new("."));
    let mut files = Vec::new();
    for pattern in settings.include.iter().flatten() {
        let full = base.join(&pattern.value);
        let matches = match expand(&full) {
            Ok(paths) => paths,
            Err(message) => {
                diags.push(
                    Diagnostic::error(format!("include pattern \"{}\" {message}", pattern.value))
                        .at(source, Some(pattern.span.clone())),
                );
                continue;
            }
        };
        if matches.is_empty() {
            let is_glob = pattern.value.contains(['*', '?', '[']);
            let d = if is_glob {
                Diagnostic::warning(format!(
                    "include pattern \"{}\" matches no files",
                    pattern.value
                ))
            } else {
                Diagnostic::error(format!("included file \"{}\" not found", pattern.value))
            };
            diags.push(d.at(source, Some(pattern.span.clone())));
        }
        files.extend(matches);
    }
    files.sort();
    files
}
