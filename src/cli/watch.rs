//! `orc watch`: every saved edit of the config becomes a validated, planned and
//! applied change within seconds; a broken file is reported (and alerted) and never
//! applied. Every `--interval` it plans again, so a task changed or deleted by hand
//! in the scheduler is put back and reported as drift.
//!
//! It watches folders rather than files: editors save by writing a temporary file
//! and renaming it over the old one, and `git checkout` may remove and recreate a
//! whole folder, either of which ends a watch on the file itself.
//!
//! It never destroys tasks because of a save in progress: a file is read only once
//! it has been quiet for [`SETTLE`] (however long it keeps changing), a plan that
//! looks like a half-written file (see [`Watch::held_back`]) is reported and left for
//! a manual `orc apply`, and the plan applied is the one checked: it is applied as a
//! saved plan, refused if the files changed in between.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use notify::{RecursiveMode, Watcher as _};

use super::{Global, Output};
use crate::config::parse_duration;
use crate::workspace::Workspace;

/// How long the files must stay quiet before a cycle: an editor's save (temporary
/// file, rename), a burst of saves, or a `git pull` of many files is one change.
const SETTLE: Duration = Duration::from_millis(400);
/// A stream of edits still not quiet after this long is said to be waited for (once);
/// it is still not read before it has been quiet for [`SETTLE`].
const LONG_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// How often to plan again without an edit, to repair drift in the scheduler
    #[arg(long, default_value = "5m", value_name = "DURATION", value_parser = interval)]
    pub interval: Duration,
}

/// Why a cycle runs.
enum Why {
    Start,
    Edited(Vec<PathBuf>),
    Interval,
}

/// How a cycle's plan ended.
enum Outcome {
    /// Applied, or nothing to apply.
    Done,
    /// Not applied, as it may come from a save in progress: why.
    Held(String),
    /// The files changed between the plan and the apply, which applied nothing; the
    /// change's own cycle follows.
    Moved,
}

/// What a config file held at the last cycle that applied (or found nothing to).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Shape {
    bytes: u64,
    tasks: usize,
}

/// `--interval`: planning takes a moment and reads the scheduler, so more often than
/// every second would only load the machine.
fn interval(text: &str) -> Result<Duration> {
    match parse_duration(text)? {
        d if d < Duration::from_secs(1) => Err(anyhow::anyhow!("at least 1s")),
        d => Ok(d),
    }
}

pub fn run(args: WatchArgs, global: &Global, out: &Output) -> Result<ExitCode> {
    let interval = args.interval;
    // orc's own log: every apply a cycle makes is recorded there (under `orc up` the
    // daemon has opened it already).
    let _log = crate::orclog::init(
        &crate::workspace::state_path(global.state.as_deref()),
        "watch",
    );
    let mut watch = Watch::new(global.clone())?;
    out.info(&format!(
        "Watching {} (plans again every {}; Ctrl-C stops)",
        watch.config.display(),
        crate::config::format_duration(interval)
    ));
    watch.cycle(Why::Start, out);
    watch.run(interval, out)
}

/// A watcher for `orc up`, set up before its apply: edits saved from then on are
/// seen, and the files as they are now count as applied.
pub struct Background(Watch);

pub fn prepare(global: &Global) -> Result<Background> {
    let mut watch = Watch::new(global.clone())?;
    watch.seen = watch.fingerprint();
    if let Ok(loaded) = crate::config::load(&watch.config) {
        watch.shapes = shapes(&loaded.config.files);
    }
    Ok(Background(watch))
}

impl Background {
    /// Go on watching in the background, once `orc up` has applied.
    pub fn start(self, out: &Output) -> Result<()> {
        let mut watch = self.0;
        let out = out.clone();
        std::thread::Builder::new()
            .name("orc-watch".into())
            .spawn(move || {
                if let Err(e) = watch.run(Duration::from_secs(300), &out) {
                    eprintln!("warning: the config watcher stopped: {e:#}");
                }
            })?;
        Ok(())
    }
}

struct Watch {
    global: Global,
    /// The config file or folder, absolute.
    config: PathBuf,
    watcher: notify::RecommendedWatcher,
    events: Receiver<notify::Result<notify::Event>>,
    /// Folders watched now, with how, and which folder it was (its identity).
    watched: BTreeMap<PathBuf, (RecursiveMode, Option<Identity>)>,
    /// Folders whose changes matter: the config's, its includes', their files'.
    scope: BTreeSet<PathBuf>,
    /// The config files' contents at the last cycle that loaded them.
    seen: Option<u64>,
    /// The last errors reported, so a broken file is reported (and alerted) once.
    reported: Option<String>,
    /// Whether `reported` is a plan held back rather than an error.
    held: bool,
    /// The config files at the last cycle that applied (or had nothing to apply).
    shapes: BTreeMap<PathBuf, Shape>,
}

impl Watch {
    fn new(global: Global) -> Result<Watch> {
        let config = std::path::absolute(global.config_path())?;
        let (tx, events) = std::sync::mpsc::channel();
        let watcher = notify::recommended_watcher(move |e| {
            let _ = tx.send(e);
        })
        .context("cannot start watching files")?;
        let mut watch = Watch {
            global,
            config,
            watcher,
            events,
            watched: BTreeMap::new(),
            scope: BTreeSet::new(),
            seen: None,
            reported: None,
            held: false,
            shapes: BTreeMap::new(),
        };
        watch.follow(&[]);
        Ok(watch)
    }

    /// The folder the config lives in (or is).
    fn root(&self) -> PathBuf {
        if self.config.is_dir() || self.config.extension().is_none() {
            self.config.clone()
        } else {
            self.config
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default()
        }
    }

    /// Watch what the config consists of now: its folder (and the folder above it,
    /// to see it removed and created again), the folders its includes name, and the
    /// folder of every file it loaded. A folder that does not exist (yet) is waited
    /// for at its nearest existing parent. Watches whose folder was replaced are
    /// renewed.
    fn follow(&mut self, files: &[PathBuf]) {
        let root = self.root();
        let mut wanted: BTreeMap<PathBuf, RecursiveMode> = BTreeMap::new();
        let mut scope = BTreeSet::from([root.clone()]);
        if let Some(parent) = root.parent() {
            wanted.insert(parent.to_path_buf(), RecursiveMode::NonRecursive);
        }
        wanted.insert(root.clone(), RecursiveMode::NonRecursive);
        for (dir, mode) in include_dirs(files) {
            scope.insert(dir.clone());
            wanted.insert(dir, mode);
        }
        for file in files {
            if let Some(dir) = file.parent() {
                scope.insert(dir.to_path_buf());
                wanted
                    .entry(dir.to_path_buf())
                    .or_insert(RecursiveMode::NonRecursive);
            }
        }
        // A folder that is not there is waited for where it will appear.
        let wanted: BTreeMap<PathBuf, RecursiveMode> = wanted
            .into_iter()
            .map(|(dir, mode)| match existing_ancestor(&dir) {
                Some(found) if found == dir => (dir, mode),
                Some(found) => (found, RecursiveMode::NonRecursive),
                None => (dir, mode),
            })
            .collect();
        for dir in self.watched.keys().cloned().collect::<Vec<_>>() {
            let current = identity(&dir);
            let keep = matches!(
                (wanted.get(&dir), self.watched.get(&dir)),
                (Some(mode), Some((had, id))) if mode == had && *id == current && current.is_some()
            );
            if !keep {
                let _ = self.watcher.unwatch(&dir);
                self.watched.remove(&dir);
            }
        }
        for (dir, mode) in wanted {
            if self.watched.contains_key(&dir) || !dir.is_dir() {
                continue;
            }
            if self.watcher.watch(&dir, mode).is_ok() {
                self.watched.insert(dir.clone(), (mode, identity(&dir)));
            }
        }
        self.scope = scope;
    }

    /// Does a change at `path` concern the config? Files named `*.toml` in its
    /// folders do, and the folders themselves (created, removed, renamed); hidden
    /// files (`.git`, editors' swap files) and other files do not.
    fn concerns(&self, path: &Path) -> bool {
        if self.scope.iter().any(|dir| dir.starts_with(path)) {
            return true;
        }
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        let in_scope = self.scope.iter().any(|dir| path.starts_with(dir));
        let toml = path.extension().is_some_and(|e| e == "toml");
        in_scope && !hidden && (toml || path == self.config)
    }

    /// Wait for edits and the interval, a cycle for each; runs until the watcher
    /// itself fails.
    fn run(&mut self, interval: Duration, out: &Output) -> Result<ExitCode> {
        let mut next_check = Instant::now() + interval;
        loop {
            let wait = next_check.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(wait) {
                Ok(event) => {
                    let mut changed = self.relevant(event);
                    if changed.is_empty() {
                        continue;
                    }
                    // Let the edit settle: more edits keep it open, however long
                    // they go on (a file still being written is never read). Other
                    // files in the same folders (the state, logs) do not.
                    let first = Instant::now();
                    let mut last = first;
                    let mut told = false;
                    loop {
                        let quiet_left = SETTLE.saturating_sub(last.elapsed());
                        if quiet_left.is_zero() {
                            break;
                        }
                        match self.events.recv_timeout(quiet_left) {
                            Ok(event) => {
                                let more = self.relevant(event);
                                if !more.is_empty() {
                                    changed.extend(more);
                                    last = Instant::now();
                                }
                            }
                            Err(RecvTimeoutError::Timeout) => break,
                            Err(RecvTimeoutError::Disconnected) => {
                                anyhow::bail!("the file watcher stopped");
                            }
                        }
                        if !told && first.elapsed() >= LONG_WAIT {
                            told = true;
                            out.info(&format!(
                                "{} {} still changing; waiting until it is quiet for {} ms",
                                jiff::ZonedDateTime::now().strftime("%H:%M:%S"),
                                self.config.display(),
                                SETTLE.as_millis()
                            ));
                        }
                    }
                    self.cycle(Why::Edited(changed.into_iter().collect()), out);
                }
                Err(RecvTimeoutError::Timeout) => {
                    self.cycle(Why::Interval, out);
                    next_check = Instant::now() + interval;
                }
                Err(RecvTimeoutError::Disconnected) => {
                    anyhow::bail!("the file watcher stopped");
                }
            }
        }
    }

    /// The paths of an event that concern the config.
    fn relevant(&self, event: notify::Result<notify::Event>) -> BTreeSet<PathBuf> {
        match event {
            Ok(e) if !e.kind.is_access() => {
                e.paths.into_iter().filter(|p| self.concerns(p)).collect()
            }
            Ok(_) => BTreeSet::new(),
            // The watcher lost events (a queue overflow): look at everything again.
            Err(_) => BTreeSet::from([self.config.clone()]),
        }
    }

    /// The config's own files, for when it does not load: the file, or the folder's
    /// `*.toml` (their includes are found in them if they parse).
    fn readable_files(&self) -> Vec<PathBuf> {
        if !self.config.is_dir() {
            return vec![self.config.clone()];
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.config)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|e| e == "toml"))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
    }

    /// The loaded files' contents, hashed: an edit that changes nothing (a save
    /// without changes, a touch, an editor's probe file) is not a change.
    fn fingerprint(&self) -> Option<u64> {
        let loaded = crate::config::load(&self.config).ok()?;
        Some(fingerprint_of(&loaded.config.files))
    }

    /// Validate, plan and apply once, saying what happened.
    fn cycle(&mut self, why: Why, out: &Output) {
        let stamp = jiff::ZonedDateTime::now().strftime("%H:%M:%S").to_string();
        // The files as the last cycle knew them, hashed before this one loads them: a
        // save that begins while they load is seen below, and waited for.
        let known: Vec<PathBuf> = self.shapes.keys().cloned().collect();
        let before_load = fingerprint_of(&known);
        let global = &self.global;
        // The checks `orc plan` makes, the backend's among them (a task Task Scheduler
        // cannot run is refused here as it is there).
        let checked =
            crate::ops::check::check(&self.config, global.state.as_deref(), global.backend)
                .unwrap_or_else(|e| crate::ops::check::Checked {
                    diagnostics: vec![crate::config::Diagnostic::error(format!("{e:#}"))],
                    workspace: None,
                });
        let ws = match checked.workspace {
            Some(mut ws) => {
                ws.warnings = checked.diagnostics;
                ws
            }
            None => {
                let diagnostics = checked.diagnostics;
                let plain: String = diagnostics.iter().map(|d| format!("{d}\n")).collect();
                // Still follow what can be read of it, so that fixing it is seen.
                let files = self.readable_files();
                self.follow(&files);
                if self.reported.as_deref() != Some(plain.as_str()) {
                    eprintln!(
                        "{stamp} {} does not load; nothing was applied and the last good config stays live:",
                        self.config.display()
                    );
                    super::validate::print_diagnostics(&diagnostics, out);
                    self.alert(&plain, out);
                    self.reported = Some(plain);
                }
                return;
            }
        };
        self.follow(&ws.config.files);
        let fingerprint = fingerprint_of(&ws.config.files);
        // Taken now, with the fingerprint, before the plan: read after the apply, they
        // could be those of a save that began meanwhile, and then hide its shrinking
        // from the next cycle.
        let shapes_planned = shapes(&ws.config.files);
        let mut loaded: Vec<PathBuf> = ws.config.files.clone();
        loaded.sort();
        if !known.is_empty() && loaded == known && before_load != fingerprint {
            out.info(&format!(
                "{stamp} {} changed while being read; waiting for it to settle",
                self.config.display()
            ));
            return;
        }
        if let Why::Edited(_) = &why
            && self.seen == Some(fingerprint)
            && self.reported.is_none()
        {
            return;
        }
        let before = self.reported.take();
        let was_held = std::mem::take(&mut self.held);
        let held_before = before.as_deref().filter(|_| was_held);
        match self.plan_and_apply(&ws, &why, fingerprint, held_before, &stamp, out) {
            Ok(Outcome::Done) => {
                self.seen = Some(fingerprint);
                self.shapes = shapes_planned;
            }
            Ok(Outcome::Held(text)) => {
                if held_before != Some(text.as_str()) {
                    let why = if text.contains("was last applied from") {
                        "not applied, as it takes over another config's folder"
                    } else {
                        "not applied, as it may be a save in progress"
                    };
                    eprintln!(
                        "{stamp} {why}: {text}\n\
                         {stamp} when this is meant, run `orc apply`; the last good config stays live"
                    );
                    self.alert(&text, out);
                }
                self.reported = Some(text);
                self.held = true;
            }
            Ok(Outcome::Moved) => {
                out.info(&format!(
                    "{stamp} {} changed while being applied; nothing was applied, waiting for it to settle",
                    self.config.display()
                ));
                self.reported = before;
                self.held = was_held;
                return;
            }
            Err(e) => {
                let text = format!("{e:#}");
                // A failure that persists (a missing secret) is tried again at every
                // interval, but told and mailed once.
                if before.as_deref() != Some(text.as_str()) {
                    eprintln!("{stamp} apply failed; the last good config stays live: {text}");
                    self.alert(&text, out);
                }
                self.reported = Some(text);
            }
        }
        if before.is_some() && self.reported.is_none() {
            if was_held {
                out.info(&format!(
                    "{stamp} {} and the scheduler agree again; nothing is held back.",
                    self.config.display()
                ));
            } else {
                out.info(&format!("{stamp} {} loads again.", self.config.display()));
            }
        }
    }

    /// Why `plan` may come from a save in progress and is not applied automatically,
    /// if it may: it destroys tasks, and
    /// - it destroys every task the state has, or
    /// - a file that held tasks at the last applied cycle holds none now (it is empty,
    ///   or has no `[tasks.*]`), or
    /// - the files shrank since then and it destroys at least half of the state's
    ///   tasks (two or more): a writer paused mid-file.
    ///
    /// A file removed is not held back (deleting is not a save in progress), but it
    /// counts in the shrinking.
    fn held_back(
        &self,
        plan: &crate::plan::Plan,
        recorded: &[String],
        files: &[PathBuf],
    ) -> Option<String> {
        // Another config applied this folder last: taking it over is for a person to
        // decide with `orc apply`, never for a watcher (two would undo each other).
        if let Some(warning) = plan.warnings.first() {
            return Some(warning.clone());
        }
        let destroyed: BTreeSet<&str> = plan
            .changes
            .iter()
            .filter(|c| c.action == crate::plan::Action::Delete)
            .map(|c| c.name.as_str())
            .collect();
        if destroyed.is_empty() {
            return None;
        }
        let (n, of) = (destroyed.len(), recorded.len());
        let tasks = |n: usize| format!("{n} task{}", if n == 1 { "" } else { "s" });
        if !recorded.is_empty() && recorded.iter().all(|r| destroyed.contains(r.as_str())) {
            return Some(format!("the plan destroys every task ({})", tasks(of)));
        }
        let now = shapes(files);
        if let Some(emptied) = now.iter().find_map(|(file, shape)| {
            let before = self.shapes.get(file)?;
            (before.tasks > 0 && shape.tasks == 0).then_some(file)
        }) {
            return Some(format!(
                "{} has no tasks now, and the plan destroys {} of {}",
                emptied.display(),
                tasks(n),
                of
            ));
        }
        let bytes = |s: &BTreeMap<PathBuf, Shape>| s.values().map(|s| s.bytes).sum::<u64>();
        if !self.shapes.is_empty() && bytes(&now) < bytes(&self.shapes) && n >= 2 && n * 2 >= of {
            return Some(format!(
                "the config shrank from {} to {} bytes, and the plan destroys {} of {}",
                bytes(&self.shapes),
                bytes(&now),
                tasks(n),
                of
            ));
        }
        None
    }

    /// Plan, and apply unless the plan is held back; `fingerprint` is the files' the
    /// plan is made from, `held` what was held back last time (told once).
    fn plan_and_apply(
        &self,
        ws: &Workspace,
        why: &Why,
        fingerprint: u64,
        held: Option<&str>,
        stamp: &str,
        out: &Output,
    ) -> Result<Outcome> {
        // Plan first: an unchanged config and scheduler is one quiet line, not a plan.
        let recorded = ws.recorded(ws.existing_state()?.as_ref())?;
        let backend = ws.backend()?;
        // With fingerprints: the plan is applied as a saved plan (below).
        let plan = ws.plan(&recorded, backend.as_ref(), &[], false, true)?;
        let names: Vec<String> = recorded.tasks.iter().map(|t| t.name.clone()).collect();
        let hold = self.held_back(&plan, &names, &ws.config.files);
        if hold.is_some() && hold.as_deref() == held {
            return Ok(Outcome::Held(hold.unwrap_or_default()));
        }
        let drift = plan.changes.iter().filter(|c| c.drift.is_some()).count();
        match why {
            Why::Start => out.info(&format!("{stamp} checking {}", self.config.display())),
            Why::Edited(paths) => out.info(&format!(
                "{stamp} {} changed",
                paths
                    .iter()
                    .take(3)
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
                    + if paths.len() > 3 { ", ..." } else { "" }
            )),
            Why::Interval if plan.has_changes() => out.info(&format!(
                "{stamp} the scheduler differs from the config{}",
                if drift > 0 {
                    format!(
                        ": drift in {drift} task{}",
                        if drift == 1 { "" } else { "s" }
                    )
                } else {
                    String::new()
                }
            )),
            Why::Interval => return Ok(Outcome::Done),
        }
        if !plan.has_changes() {
            out.info(&format!("{stamp} no changes"));
            return Ok(Outcome::Done);
        }
        if out.json {
            out.print_json(&crate::plan::plan_json(&plan));
        } else if !out.quiet {
            print!("{}", crate::plan::render_human(&plan, out.color));
        }
        if let Some(why) = hold {
            return Ok(Outcome::Held(why));
        }
        // Exactly this plan, or nothing: apply refuses a saved plan whose state or
        // scheduler changed since, and applies nothing when the files changed since
        // they were read (a save begun meanwhile), checked under the lock.
        let saved = crate::plan::SavedPlan::new(&plan, &ws.config_path, &ws.state_path, &[]);
        let options = crate::ops::apply::ApplyOptions {
            targets: &[],
            destroy: false,
            lock_timeout: Duration::from_secs(60),
            saved: Some(&saved),
        };
        let approval = super::apply::Approval {
            ask: false,
            show_plan: false,
            still_wanted: &|| self.fingerprint() == Some(fingerprint),
        };
        super::validate::print_diagnostics(&ws.warnings, out);
        let applied = super::apply::apply_loaded(ws, &options, out, &approval);
        let moved = || self.fingerprint() != Some(fingerprint);
        match applied {
            Ok(code) if code == ExitCode::SUCCESS => Ok(Outcome::Done),
            _ if moved() => Ok(Outcome::Moved),
            Ok(_) => anyhow::bail!("orc apply did not succeed (see above)"),
            Err(e) => Err(e),
        }
    }

    /// Tell the notification groups that want failures, in the background (a slow
    /// mail server must not hold up the next edit).
    fn alert(&self, errors: &str, out: &Output) {
        let state_path = crate::workspace::state_path(self.global.state.as_deref());
        if !state_path.exists() {
            return;
        }
        let (config, errors, quiet) = (self.config.clone(), errors.to_string(), out.quiet);
        std::thread::spawn(move || {
            let send = || -> Result<usize> {
                let state = crate::state::State::open(&state_path)?;
                let settings = state.notify_settings(None)?;
                let host = crate::host::host_name();
                let queued =
                    crate::notify::queue_config_error(&state, &settings, &config, &errors, &host)?;
                if queued > 0 {
                    crate::notify::deliver(
                        &state,
                        &crate::workspace::vault_reader(&state_path),
                        false,
                    )?;
                }
                Ok(queued)
            };
            match send() {
                Ok(n) if n > 0 && !quiet => eprintln!("alerted {n} notification group(s)"),
                Ok(_) => {}
                Err(e) => eprintln!("warning: cannot alert: {e:#}"),
            }
        });
    }
}

/// A folder's identity, to notice one removed and created again under the same name.
type Identity = (u64, u64);

#[cfg(unix)]
fn identity(dir: &Path) -> Option<Identity> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(dir).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn identity(dir: &Path) -> Option<Identity> {
    let created = std::fs::metadata(dir).ok()?.created().ok()?;
    let since = created.duration_since(std::time::UNIX_EPOCH).ok()?;
    Some((since.as_secs(), u64::from(since.subsec_nanos())))
}

fn existing_ancestor(dir: &Path) -> Option<PathBuf> {
    dir.ancestors().find(|d| d.is_dir()).map(Path::to_path_buf)
}

/// The folders the config's `include` patterns read from: the part of each pattern
/// before its first wildcard, watched with its subfolders when the pattern has `**`.
fn include_dirs(files: &[PathBuf]) -> Vec<(PathBuf, RecursiveMode)> {
    let mut dirs = Vec::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        let Ok(doc) = text.parse::<toml::Table>() else {
            continue;
        };
        let patterns = doc
            .get("settings")
            .and_then(|s| s.get("include"))
            .and_then(|i| i.as_array())
            .cloned()
            .unwrap_or_default();
        let base = file.parent().unwrap_or(Path::new("."));
        for pattern in patterns.iter().filter_map(|p| p.as_str()) {
            let fixed: PathBuf = Path::new(pattern)
                .components()
                .take_while(|c| !c.as_os_str().to_string_lossy().contains(['*', '?', '[']))
                .collect();
            let mut dir = base.join(fixed);
            // A pattern without wildcards names a file.
            if !pattern.contains(['*', '?', '[']) {
                dir.pop();
            }
            let mode = if pattern.contains("**") {
                RecursiveMode::Recursive
            } else {
                RecursiveMode::NonRecursive
            };
            dirs.push((normalise(&dir), mode));
        }
    }
    dirs
}

/// `a/b/../c` as `a/c`, without touching the disk (the folder may not exist).
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Each file's size and number of tasks (`[tasks.*]` tables; none when it does not
/// parse).
fn shapes(files: &[PathBuf]) -> BTreeMap<PathBuf, Shape> {
    files
        .iter()
        .filter_map(|f| {
            let text = std::fs::read_to_string(f).ok()?;
            let tasks = text
                .parse::<toml::Table>()
                .ok()
                .and_then(|doc| doc.get("tasks")?.as_table().map(|t| t.len()))
                .unwrap_or(0);
            Some((
                f.clone(),
                Shape {
                    bytes: text.len() as u64,
                    tasks,
                },
            ))
        })
        .collect()
}

fn fingerprint_of(files: &[PathBuf]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    let mut files = files.to_vec();
    files.sort();
    for f in files {
        f.hash(&mut hasher);
        std::fs::read(&f).unwrap_or_default().hash(&mut hasher);
    }
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_patterns_name_folders_to_watch() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("tasks.toml");
        std::fs::write(
            &main,
            "[settings]\ninclude = [\"tasks.d/*.toml\", \"../shared/**/*.toml\", \"one/file.toml\"]\n",
        )
        .unwrap();
        let dirs = include_dirs(&[main]);
        let parent = dir.path().parent().unwrap();
        assert_eq!(
            dirs,
            vec![
                (dir.path().join("tasks.d"), RecursiveMode::NonRecursive),
                (parent.join("shared"), RecursiveMode::Recursive),
                (dir.path().join("one"), RecursiveMode::NonRecursive),
            ]
        );
    }
}
