//! One `[tasks.NAME]` table: from its raw keys to a [`Task`].
//!
//! [`build_task`] is the list of a task's parts; each part checks its keys through a
//! [`TaskCtx`] and returns what it builds. The parts run in a fixed order: where two
//! diagnostics share a position, that order is the order they are reported in.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use jiff::Timestamp;

use super::*;
use crate::config::calendar::{Blackout, BlackoutPolicy, Calendar};
use crate::config::diag::{Diagnostic, Diagnostics};
use crate::config::load::Item;
use crate::config::model::{
    Action, Dependency, ExitCodes, NotifyGroup, Origin, RunAs, Step, Task, WindowsSettings,
};
use crate::config::raw::{AtLogon, DurationValue, EnvValue, RawTask, RunAsValue, Spanned};
use crate::schedule::{self, Schedule, Zone};

/// One task being checked: the checker it reports into, where the task is, its raw
/// table, and what it inherits from the sections around it.
struct TaskCtx<'a, 'c> {
    c: &'a mut Checker<'c>,
    name: &'a str,
    file: usize,
    item: &'a Item<RawTask>,
    raw: &'a RawTask,
    defaults: &'a TaskDefaults,
    notify: &'a BTreeMap<String, NotifyGroup>,
    calendars: &'a BTreeMap<String, Calendar>,
    zone: &'a Zone,
    now: Timestamp,
}

/// What every task inherits from the sections around the tasks.
pub(super) struct Around<'a> {
    pub defaults: &'a TaskDefaults,
    pub notify: &'a BTreeMap<String, NotifyGroup>,
    pub calendars: &'a BTreeMap<String, Calendar>,
    /// `settings.timezone`, resolved.
    pub zone: &'a Zone,
}

/// `skip_on`, `only_on`, `blackout` and `blackout_policy`.
struct Days {
    skip_on: Vec<Calendar>,
    only_on: Vec<Calendar>,
    blackout: Vec<Blackout>,
    policy: BlackoutPolicy,
}

/// The retry keys, each from the task or else from `[defaults]`.
struct Retries {
    count: u32,
    delay: Duration,
    max_delay: Option<Duration>,
}

/// How long a run may take, and the waits around it.
struct Timing {
    timeout: Option<Duration>,
    max_duration: Option<Duration>,
    min_duration: Option<Duration>,
    wait: Option<Duration>,
    poll: Option<Duration>,
    max_age: Option<Duration>,
    catch_up: Option<Duration>,
    jitter: Option<Duration>,
    after_timeout: Option<Duration>,
}

/// The task names of a list key, as written (validate's chain check vets them).
fn names(list: Option<&Vec<Spanned<String>>>) -> Vec<String> {
    list.into_iter()
        .flatten()
        .map(|n| n.value.clone())
        .collect()
}

pub(super) fn build_task(
    c: &mut Checker,
    name: &str,
    item: &Item<RawTask>,
    around: &Around,
    now: Timestamp,
) -> Option<Task> {
    let Around {
        defaults,
        notify,
        calendars,
        zone,
    } = *around;
    let (zone, timezone_origin) = match own_zone(c, item, name) {
        Some((own, origin)) => (std::borrow::Cow::Owned(own), Some(origin)),
        None => (std::borrow::Cow::Borrowed(zone), None),
    };
    let zone: &Zone = &zone;
    let mut t = TaskCtx {
        c,
        name,
        file: item.file,
        item,
        raw: &item.value,
        defaults,
        notify,
        calendars,
        zone,
        now,
    };
    let errors_before = t.c.diags.errors().count();
    t.check_task_name();
    let action = t.action();
    let then = t.then();
    let schedule = t.schedule();
    let retries = t.retries();
    let timing = t.timing();
    let run_as = t.run_as();
    let triggers = t.triggers();
    let env = t.env();
    let hosts = t.hosts();
    let notify_groups = t.notify_groups();
    let dependencies = t.dependencies();
    t.renamed_from();
    let working_dir = t.working_dir();
    let windows = t.windows();
    let params = t.params(action.as_ref(), &then);
    let limits = t.limits();
    let exit_codes = t.exit_codes(retries.count);
    let days = t.days();
    let expires = t.expires();
    t.nul_checks();
    if t.c.diags.errors().count() > errors_before {
        return None;
    }
    let raw = t.raw;
    let (line, column) = t.c.sources[t.file].line_col(item.key_span.start);
    let task = Task {
        name: name.to_string(),
        kind: raw.kind.unwrap_or_default(),
        description: raw.description.clone(),
        action: action?,
        then,
        working_dir,
        schedule,
        timeout: timing.timeout,
        max_duration: timing.max_duration,
        min_duration: timing.min_duration,
        retry_count: retries.count,
        retry_delay: retries.delay,
        dependencies,
        wait: timing.wait,
        poll: timing.poll,
        max_age: timing.max_age,
        catch_up: timing.catch_up,
        jitter: timing.jitter,
        run_as,
        run_level: raw.run_level.unwrap_or_default(),
        triggers,
        windows,
        exit_codes,
        limits,
        params,
        on_success: names(raw.on_success.as_ref()),
        on_failure: names(raw.on_failure.as_ref()),
        after: names(raw.after.as_ref()),
        after_timeout: timing.after_timeout,
        skip_on: days.skip_on,
        only_on: days.only_on,
        blackout: days.blackout,
        blackout_policy: days.policy,
        expires,
        retry_backoff: raw.retry_backoff.unwrap_or_default(),
        retry_max_delay: retries.max_delay,
        overlap: raw.overlap.unwrap_or_default(),
        run_on: raw.run_on.as_ref().map(|r| r.value).unwrap_or_default(),
        on_host_failure: raw
            .on_host_failure
            .as_ref()
            .map(|r| r.value)
            .unwrap_or_default(),
        enabled: raw.enabled.unwrap_or(true),
        env,
        hosts,
        notify: notify_groups,
        healthchecks: raw.healthchecks.as_ref().map(|h| {
            if let EnvValue::Plain(url) = &h.value.url.value
                && !super::is_http_url(url)
            {
                t.c.report(
                    t.file,
                    &h.value.url.span,
                    Some(name),
                    format!("healthchecks url \"{url}\" is not an http:// or https:// URL"),
                );
            }
            h.value.url.value.clone()
        }),
        timezone: zone.clone(),
        timezone_origin,
        log_dir: defaults.log_dir.clone(),
        max_log_size: defaults.max_log_size,
        renamed_from: raw.renamed_from.as_ref().map(|r| r.value.clone()),
        origin: Origin {
            file: t.c.sources[t.file].path.clone(),
            line,
            column,
        },
    };
    t.warn_if_never_runs(&task);
    Some(task)
}

/// The task's own `timezone`, resolved, and where it is written; `None` when it has
/// none (or an unknown one, reported here: the settings' zone stands in for it).
fn own_zone(c: &mut Checker, item: &Item<RawTask>, name: &str) -> Option<(Zone, Origin)> {
    let tz = item.value.timezone.as_ref()?;
    if tz.value.trim().is_empty() {
        c.report(
            item.file,
            &tz.span,
            Some(name),
            "timezone is empty; write \"local\", \"UTC\" or an IANA name, or leave it out for settings.timezone",
        );
        return None;
    }
    match Zone::resolve(tz.value.trim()) {
        Ok(zone) => {
            let source = &c.sources[item.file];
            let (line, column) = source.line_col(tz.span.start);
            Some((
                zone,
                Origin {
                    file: source.path.clone(),
                    line,
                    column,
                },
            ))
        }
        Err(e) => {
            c.report(item.file, &tz.span, Some(name), e.to_string());
            None
        }
    }
}

impl TaskCtx<'_, '_> {
    /// An error at `span`, for this task.
    fn report(&mut self, span: &Range<usize>, msg: impl Into<String>) {
        self.c.report(self.file, span, Some(self.name), msg);
    }

    /// A warning at `span`, for this task.
    fn warn(&mut self, span: &Range<usize>, msg: impl Into<String>) {
        let d = Diagnostic::warning(msg)
            .at(&self.c.sources[self.file], Some(span.clone()))
            .task(self.name);
        self.c.diags.push(d);
    }

    /// An optional duration key of the task (see [`Checker::opt_duration`]).
    fn opt_duration(
        &mut self,
        key: &str,
        v: Option<&Spanned<DurationValue>>,
        nonzero: Option<&str>,
    ) -> Option<Duration> {
        let (file, t) = (self.file, Some(self.name));
        self.c.opt_duration(file, t, key, v, nonzero)
    }

    /// The name in `[tasks.NAME]`.
    fn check_task_name(&mut self) {
        if let Err(e) = check_name(self.name) {
            self.report(&self.item.key_span, format!("invalid task name: {e}"));
        }
    }

    /// `command` or `shell`: what the task runs.
    fn action(&mut self) -> Option<Action> {
        let raw = self.raw;
        match (&raw.command, &raw.shell) {
            (Some(_), Some(shell)) => {
                self.report(
                    &shell.span,
                    "a task takes either `command` or `shell`, not both",
                );
                None
            }
            (None, None) => {
                let dropped = &self.item.dropped;
                if !dropped.iter().any(|k| k == "command" || k == "shell") {
                    self.report(
                        &self.item.key_span,
                        "the task has neither `command` nor `shell`",
                    );
                }
                None
            }
            (Some(cmd), None) => command_action(&cmd.value)
                .map_err(|e| self.report(&cmd.span, e.to_string()))
                .ok(),
            (None, Some(shell)) => {
                if shell.value.trim().is_empty() {
                    self.report(&shell.span, "the shell command is empty");
                }
                Some(Action::Shell(shell.value.clone()))
            }
        }
    }

    /// `then = [...]`: the steps after the action.
    fn then(&mut self) -> Vec<Step> {
        let raw = self.raw.then.as_deref().unwrap_or_default();
        steps(self.c, self.file, Some(self.name), raw)
    }

    /// `schedule`, with a warning for each DST change it meets in the next year.
    fn schedule(&mut self) -> Option<Schedule> {
        let s = self.raw.schedule.as_ref()?;
        match schedule::parse(&s.value) {
            Ok(parsed) => {
                for w in parsed.dst_warnings(self.zone.tz(), self.now) {
                    self.warn(&s.span, w);
                }
                Some(parsed)
            }
            Err(e) => {
                self.report(&s.span, format!("invalid schedule: {e}"));
                None
            }
        }
    }

    /// `retry_count`, `retry_delay` and `retry_max_delay`.
    fn retries(&mut self) -> Retries {
        let (raw, defaults) = (self.raw, self.defaults);
        let (file, t) = (self.file, Some(self.name));
        let delay = match &raw.retry_delay {
            Some(v) => self.c.duration(file, t, "retry_delay", v),
            None => defaults.retry_delay,
        }
        .unwrap_or(Duration::from_secs(30));
        let count = match &raw.retry_count {
            Some(n) => self.c.retry_count(file, t, n).unwrap_or(0),
            None => defaults.retry_count.unwrap_or(0),
        };
        let max_delay = self.opt_duration("retry_max_delay", raw.retry_max_delay.as_ref(), None);
        Retries {
            count,
            delay,
            max_delay,
        }
    }

    /// `timeout`, the dependency waits (`wait`, `poll`, `max_age`) and the embedded
    /// scheduler's `catch_up` and `jitter`, which need a schedule to mean anything.
    fn timing(&mut self) -> Timing {
        let raw = self.raw;
        let timeout = match &raw.timeout {
            Some(v) => self.opt_duration("timeout", Some(v), Some("; leave it out for no timeout")),
            None => self.defaults.timeout,
        };
        let wait = self.opt_duration("wait", raw.wait.as_ref(), None);
        let poll = self.opt_duration("poll", raw.poll.as_ref(), Some(""));
        let max_age = self.opt_duration("max_age", raw.max_age.as_ref(), None);
        let catch_up = self.opt_duration("catch_up", raw.catch_up.as_ref(), None);
        let jitter = self.opt_duration("jitter", raw.jitter.as_ref(), None);
        for (key, value) in [("catch_up", &raw.catch_up), ("jitter", &raw.jitter)] {
            if let (Some(v), None, None) = (value, &raw.schedule, &raw.triggers) {
                self.warn(
                    &v.span,
                    format!("{key} has no effect: the task has no schedule"),
                );
            }
        }
        let max_duration = self.opt_duration("max_duration", raw.max_duration.as_ref(), Some(""));
        let min_duration = self.opt_duration("min_duration", raw.min_duration.as_ref(), Some(""));
        if let (Some(min), Some(max), Some(v)) = (min_duration, max_duration, &raw.min_duration)
            && min >= max
        {
            self.report(
                &v.span,
                "min_duration must be shorter than max_duration: every run would be too fast or slow",
            );
        }
        // The timeout is each attempt's, and max_duration counts from the run's start:
        // only a single attempt with no dependency wait is always stopped first.
        let retries = raw.retry_count.as_ref().map(|r| r.value);
        let single_attempt =
            retries.or(self.defaults.retry_count).unwrap_or(0) == 0 && raw.wait.is_none();
        if let (Some(max), Some(limit), Some(v)) = (max_duration, timeout, &raw.max_duration)
            && max >= limit
            && single_attempt
        {
            self.warn(
                &v.span,
                "max_duration has no effect: the timeout stops every run before it",
            );
        }
        let after_timeout =
            self.opt_duration("after_timeout", raw.after_timeout.as_ref(), Some(""));
        Timing {
            after_timeout,
            timeout,
            max_duration,
            min_duration,
            wait,
            poll,
            max_age,
            catch_up,
            jitter,
        }
    }

    /// `run_as`: the account Task Scheduler runs the task as.
    fn run_as(&mut self) -> RunAs {
        let Some(v) = &self.raw.run_as else {
            return RunAs::System;
        };
        match &v.value {
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
                    self.report(
                        &v.span,
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
                        self.report(
                            &v.span,
                            "run_as as a table is { user = \"...\", password = { secret = \"...\" } }, { user = \"...\", logon = \"interactive\" or \"s4u\" }, or { group = \"...\" }",
                        );
                        RunAs::System
                    }
                }
            }
        }
    }

    /// Task Scheduler triggers: raw `triggers` fragments, then the typed ones
    /// (`at_startup`, `at_logon`, `on_event`, `on_idle`).
    fn triggers(&mut self) -> Vec<String> {
        let raw = self.raw;
        let mut triggers = Vec::new();
        for fragment in raw.triggers.iter().flatten() {
            match crate::tasksched::trigger_fragment(&fragment.value) {
                Ok(compact) => triggers.push(compact),
                Err(e) => self.report(&fragment.span, format!("invalid trigger: {e}")),
            }
        }
        // Typed triggers: beside a schedule or raw triggers, as trigger elements.
        if raw.at_startup == Some(true) {
            triggers.push(crate::tasksched::boot_trigger());
        }
        match raw.at_logon.as_ref().map(|a| &a.value) {
            Some(AtLogon::Any(true)) => {
                triggers.push(crate::tasksched::logon_trigger(None));
            }
            Some(AtLogon::User { user }) if user.trim().is_empty() => {
                let span = raw.at_logon.as_ref().map(|a| &a.span);
                self.report(
                    span.unwrap_or(&self.item.key_span),
                    "at_logon = { user = ... } needs an account; for any user write at_logon = true",
                );
            }
            Some(AtLogon::User { user }) => {
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
                self.report(
                    &event.span,
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
            self.report(
                &s.span,
                "schedule and triggers exclude each other; keep one",
            );
        }
        triggers
    }

    /// `env`, over the defaults' environment.
    fn env(&mut self) -> BTreeMap<String, EnvValue> {
        let mut env = self.defaults.env.clone();
        if let Some(task_env) = &self.raw.env {
            env.extend(self.c.env(self.file, Some(self.name), task_env));
        }
        env
    }

    /// `hosts`: the machines the task is for.
    fn hosts(&mut self) -> Vec<String> {
        let mut hosts = Vec::new();
        for h in self.raw.hosts.iter().flatten() {
            if h.value.trim().is_empty() || h.value.chars().any(char::is_whitespace) {
                self.report(&h.span, format!("\"{}\" is not a host name", h.value));
            }
            hosts.push(h.value.clone());
        }
        hosts
    }

    /// `notify`: the groups told of the task's runs, else the defaults'.
    fn notify_groups(&mut self) -> Vec<String> {
        match &self.raw.notify {
            Some(groups) => check_groups(self.c, self.file, Some(self.name), groups, self.notify),
            None => self.defaults.notify.clone(),
        }
    }

    /// `dependencies`: each a task, file, URL or command.
    fn dependencies(&mut self) -> Vec<Dependency> {
        let mut dependencies = Vec::new();
        for dep in self.raw.dependencies.iter().flatten() {
            match parse_dependency(&dep.value) {
                Ok(d) => dependencies.push(d),
                Err(e) => self.report(&dep.span, e.to_string()),
            }
        }
        dependencies
    }

    /// An earlier orc name, or the name of a task made outside orc that this one
    /// adopts (`orc import` of "My Backup"): any name Task Scheduler allows.
    fn renamed_from(&mut self) {
        if let Some(from) = &self.raw.renamed_from
            && let Err(e) = check_renamed_from(&from.value)
        {
            self.report(&from.span, format!("invalid renamed_from: {e}"));
        }
    }

    /// `working_dir`, relative to the task's file; else the defaults', else that
    /// file's folder.
    fn working_dir(&mut self) -> PathBuf {
        match &self.raw.working_dir {
            Some(w) => self.c.dir_in(self.file, w.as_ref()),
            None => self
                .defaults
                .working_dir
                .clone()
                .unwrap_or_else(|| self.c.base_dir(self.file)),
        }
    }

    /// The Task Scheduler settings: `priority`, `wake_to_run`, `battery` and the rest.
    fn windows(&mut self) -> WindowsSettings {
        let raw = self.raw;
        let priority = match &raw.priority {
            None => crate::config::model::NORMAL_PRIORITY,
            Some(p) => match u8::try_from(p.value) {
                Ok(v) if v <= 10 => v,
                _ => {
                    self.report(
                        &p.span,
                        format!(
                            "priority {} is outside Task Scheduler's 0 (highest) to 10 (idle); 4-6 are normal",
                            p.value
                        ),
                    );
                    crate::config::model::NORMAL_PRIORITY
                }
            },
        };
        let battery = raw.battery.unwrap_or_default();
        WindowsSettings {
            priority,
            wake_to_run: raw.wake_to_run.unwrap_or(false),
            run_only_if_network: raw.run_only_if_network.unwrap_or(false),
            start_on_battery: battery.start.unwrap_or(true),
            stop_on_battery: battery.stop.unwrap_or(false),
            hidden: raw.hidden.unwrap_or(false),
        }
    }

    /// `params`: names a variable can carry, defaults whose templates name built-ins;
    /// and every `{{ name }}` of the task's argv names a parameter or a built-in.
    fn params(&mut self, action: Option<&Action>, then: &[Step]) -> BTreeMap<String, String> {
        use crate::config::params::{BUILT_INS, placeholders};
        let raw = self.raw;
        let mut params = BTreeMap::new();
        let mut upper: BTreeMap<String, String> = BTreeMap::new();
        for (name, value) in raw.params.iter().flatten() {
            let n = name.value.as_str();
            let valid = !n.is_empty()
                && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !n.starts_with(|c: char| c.is_ascii_digit());
            if !valid {
                self.report(
                    &name.span,
                    format!(
                        "parameter \"{n}\": a name is ASCII letters, digits and _, not first a digit"
                    ),
                );
                continue;
            }
            if BUILT_INS.contains(&n) {
                self.report(
                    &name.span,
                    format!(
                        "parameter \"{n}\" is a built-in; the built-ins are {}",
                        BUILT_INS.join(", ")
                    ),
                );
                continue;
            }
            if let Some(other) = upper.insert(n.to_ascii_uppercase(), n.to_string()) {
                self.report(
                    &name.span,
                    format!(
                        "parameters \"{other}\" and \"{n}\" would both be ORC_PARAM_{}",
                        n.to_ascii_uppercase()
                    ),
                );
            }
            match placeholders(&value.value) {
                Ok(found) => {
                    for p in found
                        .iter()
                        .filter(|p| !BUILT_INS.contains(&p.name.as_str()))
                    {
                        self.report(
                            &value.span,
                            format!(
                                "parameter \"{n}\": {{{{ {} }}}} is not a built-in; a default may use {}",
                                p.name,
                                BUILT_INS.join(", ")
                            ),
                        );
                    }
                }
                Err(e) => self.report(&value.span, format!("parameter \"{n}\": {e}")),
            }
            params.insert(n.to_string(), value.value.clone());
        }
        // The argv elements of command and then: each placeholder names something.
        let mut argv: Vec<(&Range<usize>, &String)> = Vec::new();
        if let (Some(cmd), Some(Action::Argv(words))) = (&raw.command, action) {
            argv.extend(words.iter().map(|w| (&cmd.span, w)));
        }
        let raw_steps = raw.then.as_deref().unwrap_or_default();
        // A step that did not build was reported already; its neighbours keep their places.
        if raw_steps.len() == then.len() {
            for (step, built) in raw_steps.iter().zip(then) {
                if let Action::Argv(words) = &built.action {
                    argv.extend(words.iter().map(|w| (&step.span, w)));
                }
            }
        }
        for (span, word) in argv {
            match placeholders(word) {
                Ok(found) => {
                    for p in found {
                        if !params.contains_key(&p.name) && !BUILT_INS.contains(&p.name.as_str()) {
                            // At the placeholder itself, where the file writes it as is.
                            let source = &self.c.sources[self.file].text;
                            let written = &word[p.range.clone()];
                            let at = source
                                .get(span.clone())
                                .and_then(|text| text.find(written))
                                .map_or(span.clone(), |i| {
                                    span.start + i..span.start + i + written.len()
                                });
                            let mut d = Diagnostic::error(format!(
                                "{{{{ {} }}}} names no parameter of the task nor a built-in ({})",
                                p.name,
                                BUILT_INS.join(", ")
                            ))
                            .at(&self.c.sources[self.file], Some(at))
                            .task(self.name);
                            if let Some(likely) = super::closest(&p.name, params.keys()) {
                                d = d.help(format!("did you mean {{{{ {likely} }}}}?"));
                            }
                            self.c.diags.push(d);
                        }
                    }
                }
                Err(e) => self.report(span, e),
            }
        }
        let shells = raw
            .shell
            .iter()
            .map(|s| (&s.span, s.value.as_str()))
            .filter(|(_, text)| text.contains("{{"));
        let warnings: Vec<Range<usize>> = shells.map(|(span, _)| span.clone()).collect();
        for span in warnings {
            self.warn(
                &span,
                "{{ ... }} is not filled in a shell command (a value could be read as shell syntax); use \"$ORC_PARAM_NAME\" there",
            );
        }
        params
    }

    /// A schedule whose every fire its calendars and windows skip would be applied and
    /// never run: said at the first of those keys.
    fn warn_if_never_runs(&mut self, task: &Task) {
        let decided =
            !(task.skip_on.is_empty() && task.only_on.is_empty() && task.blackout.is_empty());
        if task.schedule.is_none() || !decided || task.next_run_after(self.now).is_some() {
            return;
        }
        let raw = self.raw;
        let first = |key: Option<&Vec<Spanned<String>>>| {
            key.and_then(|v| v.first()).map(|v| v.span.clone())
        };
        let span = raw
            .blackout
            .as_ref()
            .and_then(|v| v.first())
            .map(|v| v.span.clone())
            .or_else(|| first(raw.only_on.as_ref()))
            .or_else(|| first(raw.skip_on.as_ref()));
        if let Some(span) = span {
            self.warn(
                &span,
                format!(
                    "the task never runs: its calendars and blackout windows skip every fire of its schedule (looked {} fires and skipped days ahead)",
                    crate::config::LOOK_AHEAD
                ),
            );
        }
    }

    /// The calendars and windows that decide which fires run.
    fn days(&mut self) -> Days {
        let raw = self.raw;
        let at = (self.file, self.name);
        let calendars = self.calendars;
        let skip_on = super::calendars::task_calendars(
            self.c,
            (at.0, at.1, "skip_on"),
            raw.skip_on.as_ref(),
            calendars,
        );
        let only_on = super::calendars::task_calendars(
            self.c,
            (at.0, at.1, "only_on"),
            raw.only_on.as_ref(),
            calendars,
        );
        let blackout = super::calendars::blackouts(self.c, at, raw.blackout.as_ref());
        let policy = raw.blackout_policy.as_ref().map(|p| p.value);
        if let (Some(p), None) = (&raw.blackout_policy, &raw.blackout) {
            self.warn(
                &p.span,
                "blackout_policy has no effect: the task has no blackout",
            );
        }
        let scheduled = raw.schedule.is_some() || raw.triggers.is_some();
        // Each key's first value, where the warning points.
        let keys = [
            (
                "skip_on",
                raw.skip_on
                    .as_ref()
                    .and_then(|v| v.first())
                    .map(|v| &v.span),
            ),
            (
                "only_on",
                raw.only_on
                    .as_ref()
                    .and_then(|v| v.first())
                    .map(|v| &v.span),
            ),
            (
                "blackout",
                raw.blackout
                    .as_ref()
                    .and_then(|v| v.first())
                    .map(|v| &v.span),
            ),
        ];
        if !scheduled && let Some((key, Some(span))) = keys.iter().find(|(_, s)| s.is_some()) {
            let span = (*span).clone();
            self.warn(
                &span,
                format!(
                    "{key} has no effect: the task has no schedule (manual runs are never skipped)"
                ),
            );
        }
        Days {
            skip_on,
            only_on,
            blackout,
            policy: policy.unwrap_or_default(),
        }
    }

    /// `memory_max`, `cpu_max`, `max_processes` and `nice`, each in its range.
    fn limits(&mut self) -> crate::config::Limits {
        let raw = self.raw;
        let mut limits = crate::config::Limits::default();
        if let Some(m) = &raw.memory_max {
            match crate::config::parse_size(&m.value) {
                Ok(bytes) if bytes >= 1 << 20 => limits.memory_max = Some(bytes),
                Ok(_) => self.report(
                    &m.span,
                    format!(
                        "memory_max \"{}\" is less than 1 MB: nothing would start",
                        m.value
                    ),
                ),
                Err(e) => self.report(&m.span, format!("memory_max: {e}")),
            }
        }
        if let Some(c) = &raw.cpu_max {
            let percent = c
                .value
                .trim()
                .strip_suffix('%')
                .and_then(|p| p.trim().parse::<u32>().ok());
            match percent {
                Some(p) if (1..=100_000).contains(&p) => limits.cpu_max = Some(p),
                _ => self.report(
                    &c.span,
                    format!(
                        "cpu_max \"{}\" is not a share of one CPU like \"50%\" or \"200%\"",
                        c.value
                    ),
                ),
            }
        }
        if let Some(n) = &raw.max_processes {
            match u32::try_from(n.value) {
                Ok(v) if v >= 1 => limits.max_processes = Some(v),
                _ => self.report(
                    &n.span,
                    format!("max_processes {} is not 1 or more", n.value),
                ),
            }
        }
        if let Some(n) = &raw.nice {
            match i32::try_from(n.value) {
                Ok(v) if (-20..=19).contains(&v) => limits.nice = Some(v),
                _ => self.report(
                    &n.span,
                    format!("nice {} is outside -20 (first) to 19 (last)", n.value),
                ),
            }
        }
        limits
    }

    /// `success_exit_codes`, `warning_exit_codes` and `retry_on_exit_codes`: each code
    /// one a process can end with, and no code in two lists that contradict.
    fn exit_codes(&mut self, retry_count: u32) -> ExitCodes {
        let raw = self.raw;
        let mut warnings = Vec::new();
        let mut read = |key: &str, list: &Option<Spanned<Vec<Spanned<i64>>>>| {
            let mut codes = Vec::new();
            let Some(list) = list else {
                return codes;
            };
            if list.value.is_empty() {
                self.report(
                    &list.span,
                    format!("{key} is empty; leave it out for the default"),
                );
            }
            for code in &list.value {
                match code.value {
                    // Windows shows its codes unsigned; a signed one is the same bits.
                    c @ -0x8000_0000..=0xFFFF_FFFF => {
                        let c = ExitCodes::normal_i64(c);
                        if c > 255 && cfg!(unix) {
                            warnings.push((code.span.clone(), format!("{key}: {c} is a Windows exit code; on Linux and macOS a process ends with 0 to 255 ({c} reads as {})", c % 256)));
                        }
                        if !codes.contains(&c) {
                            codes.push(c);
                        }
                    }
                    c => self.report(
                        &code.span,
                        format!(
                            "{key}: {c} is not an exit code (0 to 255, on Windows up to 4294967295)"
                        ),
                    ),
                }
            }
            codes
        };
        let success = read("success_exit_codes", &raw.success_exit_codes);
        let warning = read("warning_exit_codes", &raw.warning_exit_codes);
        let retry_on = read("retry_on_exit_codes", &raw.retry_on_exit_codes);
        for (span, warning) in warnings {
            self.warn(&span, warning);
        }
        let succeeds =
            |c: &i64| warning.contains(c) || success.contains(c) || (success.is_empty() && *c == 0);
        // Point at the code in the second list, where the contradiction is written.
        let mut clash =
            |list: &Option<Spanned<Vec<Spanned<i64>>>>, bad: &dyn Fn(&i64) -> bool, why: &str| {
                for code in list.iter().flat_map(|l| &l.value) {
                    let c = ExitCodes::normal_i64(code.value);
                    if bad(&c) {
                        self.report(&code.span, format!("exit code {} {why}", code.value));
                    }
                }
            };
        clash(
            &raw.warning_exit_codes,
            &|c| success.contains(c),
            "is in both success_exit_codes and warning_exit_codes; a code either succeeds or warns",
        );
        clash(
            &raw.retry_on_exit_codes,
            &succeeds,
            "succeeds, and a success is never retried; retry_on_exit_codes lists failing codes",
        );
        if let Some(list) = &raw.warning_exit_codes
            && success.is_empty()
            && warning.contains(&0)
        {
            self.warn(
                &list.span,
                "warning_exit_codes has 0: every run that ends well ends `warning`",
            );
        }
        if let (Some(list), 0) = (&raw.retry_on_exit_codes, retry_count) {
            self.warn(
                &list.span,
                "retry_on_exit_codes has no effect: retry_count is 0",
            );
        }
        if let Some(list) = &raw.success_exit_codes
            && !success.is_empty()
            && !success.contains(&0)
        {
            self.warn(
                &list.span,
                "success_exit_codes leaves out 0: a run that ends with 0 fails",
            );
        }
        ExitCodes {
            success,
            warning,
            retry_on,
        }
    }

    /// `expires`, as the wall-clock time it ends at; a warning if that has passed.
    fn expires(&mut self) -> Option<String> {
        let e = self.raw.expires.as_ref()?;
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
            None => self.report(
                &e.span,
                format!(
                    "expires \"{text}\" is not a date (\"2027-06-30\") or a date and time (\"2027-06-30T18:00\")"
                ),
            ),
            Some(end) if self.zone.tz().to_timestamp(end).is_ok_and(|at| at <= self.now) => {
                self.warn(
                    &e.span,
                    format!(
                        "expires \"{text}\" has passed: the task no longer fires on its schedule or triggers (a manual run still works)"
                    ),
                );
            }
            Some(_) => {}
        }
        end.map(|end| end.strftime("%Y-%m-%dT%H:%M:%S").to_string())
    }

    /// NUL characters (and line breaks in account names), which no Task Scheduler
    /// field can carry. Last, after each key's own checks.
    fn nul_checks(&mut self) {
        let raw = self.raw;
        // What has no span of its own is reported at the task.
        let unspanned = [
            ("description", raw.description.as_deref()),
            ("working_dir", raw.working_dir.as_deref()),
        ];
        for (key, text) in unspanned {
            if text.is_some_and(|s| s.contains('\0')) {
                self.report(&self.item.key_span, format!("{key} {NUL}"));
            }
        }
        if let Some(shell) = &raw.shell
            && shell.value.contains('\0')
        {
            self.report(&shell.span, format!("shell {NUL}"));
        }
        for (key, value) in raw.env.iter().flatten() {
            let plain = match &value.value {
                EnvValue::Plain(v) => v.as_str(),
                EnvValue::Secret { secret } => secret.as_str(),
            };
            if key.value.contains('\0') || plain.contains('\0') {
                self.report(&value.span, format!("env {NUL}"));
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
                self.report(
                    &v.span,
                    "run_as holds a NUL or line break, which no account name has",
                );
            }
        }
    }
}

/// Every `[tasks.NAME]`, checked on every core: each task stands alone, and large
/// fleets have thousands of them. The raw tables are consumed: each is freed once its
/// task is built, so the two never all live at once.
pub(super) fn build_all(
    c: &mut Checker,
    raw: BTreeMap<String, Box<Item<RawTask>>>,
    around: &Around,
    now: Timestamp,
) -> BTreeMap<String, Task> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    let chunk = raw.len().div_ceil(workers).max(256);
    let mut parts: Vec<Vec<(String, Box<Item<RawTask>>)>> = Vec::new();
    for (name, item) in raw {
        match parts.last_mut() {
            Some(part) if part.len() < chunk => part.push((name, item)),
            _ => parts.push(vec![(name, item)]),
        }
    }
    let sources = c.sources;
    let results: Vec<(Vec<Task>, Diagnostics)> = std::thread::scope(|scope| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|part| {
                scope.spawn(move || {
                    let mut diags = Diagnostics::default();
                    let mut c = Checker {
                        sources,
                        diags: &mut diags,
                    };
                    let built = part
                        .into_iter()
                        .filter_map(|(name, item)| build_task(&mut c, &name, &item, around, now))
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
    let mut built = Vec::with_capacity(results.iter().map(|(b, _)| b.len()).sum());
    for (tasks, diags) in results {
        c.diags.0.extend(diags.0);
        built.extend(tasks.into_iter().map(|t| (t.name.clone(), t)));
    }
    // Collected at once, the map is built from the sorted run with full nodes;
    // inserted one by one, a third of each node would stay empty.
    BTreeMap::from_iter(built)
}
