//! The tasks.toml file as written: serde types that mirror the user contract.
//!
//! These types are the single source of the JSON Schema in `schemas/` and of the
//! loader's structural checks (`deny_unknown_fields` everywhere). Semantic checks
//! (schedules, durations, names, dependencies) happen in `validate.rs`, on values that
//! keep their source span so every error can point at the exact spot.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

/// A value with the byte range it came from. Transparent in the JSON Schema;
/// compared by value only, so it can key a map.
#[derive(Debug, Clone)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Range<usize>,
}

impl<T: PartialEq> PartialEq for Spanned<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}
impl<T: Eq> Eq for Spanned<T> {}
impl<T: Ord> PartialOrd for Spanned<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<T: Ord> Ord for Spanned<T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.value.cmp(&other.value)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Spanned<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = serde_spanned::Spanned::<T>::deserialize(d)?;
        Ok(Spanned {
            span: s.span(),
            value: s.into_inner(),
        })
    }
}

impl<T: JsonSchema> JsonSchema for Spanned<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }
    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }
    fn schema_id() -> Cow<'static, str> {
        T::schema_id()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        T::json_schema(generator)
    }
}

/// One tasks.toml file. Every section is optional; tasks may be spread over files.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[expect(
    dead_code,
    reason = "the loader reads sections one by one; this type feeds the JSON Schema"
)]
#[schemars(
    title = "orc tasks.toml",
    description = "Scheduled tasks as code: see README.md"
)]
pub struct RawFile {
    pub settings: Option<RawSettings>,
    pub defaults: Option<RawDefaults>,
    #[serde(default)]
    pub notify: BTreeMap<String, RawNotify>,
    pub smtp: Option<RawSmtp>,
    pub report: Option<RawReport>,
    pub fleet: Option<RawFleet>,
    #[serde(default)]
    pub calendars: BTreeMap<String, RawCalendar>,
    #[serde(default)]
    pub tasks: BTreeMap<String, RawTask>,
}

/// Names of the top-level sections, for the loader's unknown-key check.
pub const SECTIONS: [&str; 8] = [
    "settings",
    "defaults",
    "notify",
    "smtp",
    "report",
    "fleet",
    "calendars",
    "tasks",
];

/// `[calendars.NAME]`: a set of days that tasks skip (`skip_on`) or keep to
/// (`only_on`): the union of its dates, its ics file's events and its weekdays.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Calendar")]
pub struct RawCalendar {
    /// Days: "2026-12-25", or a range with both ends included, "2026-12-24..2026-12-31".
    pub dates: Option<Vec<Spanned<String>>>,
    /// An iCalendar (RFC 5545) file, relative to this file: every day an event
    /// (VEVENT) covers is in the calendar. Read at apply; recurring events (RRULE)
    /// are refused: export their dates.
    pub ics: Option<Spanned<String>>,
    /// Days of every week: "MON-FRI", "SAT,SUN".
    pub weekdays: Option<Spanned<String>>,
}

/// A `blackout` window: two times of day ("22:00", "06:00": every day, past
/// midnight when `to` is earlier) or two dates with times ("2026-12-24T18:00", once),
/// in the task's time zone; `from` included, `to` not.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawBlackout {
    pub from: Spanned<String>,
    pub to: Spanned<String>,
}

/// `[fleet]`: the PostgreSQL database the servers of a fleet share.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Fleet")]
pub struct RawFleet {
    /// A PostgreSQL connection URL ("postgres://orc@db.example.com/orc"), or
    /// { secret = "name" } (needed when the URL holds a password).
    pub url: Spanned<EnvValue>,
    /// The pool this host's tasks share (`run_on = "one"` runs once across it).
    pub pool: Option<Spanned<String>>,
    /// When the database cannot be reached as a run starts: "run" it here anyway, or
    /// "skip" it (one alert). Default: run for tasks of every host, skip for
    /// `run_on = "one"` (which could otherwise run twice).
    pub on_unavailable: Option<OnUnavailable>,
    /// How long a host's claim of a fire holds without renewal (it renews every third
    /// of it while the run goes): after it, the host counts as dead. Default "30s".
    pub lease: Option<Spanned<DurationValue>>,
    /// The [notify.NAME] groups told, once, when this host loses the database and
    /// when it has it back.
    pub notify: Option<Vec<Spanned<String>>>,
}

/// `[fleet] on_unavailable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnUnavailable {
    Run,
    Skip,
}

/// A task's `run_on`: every host it is applied on runs each fire, or one of its pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RunOn {
    /// Each host runs every fire (as without a fleet).
    #[default]
    All,
    /// One host of `[fleet] pool` runs each fire: the first to claim it.
    One,
}

/// A task's `on_host_failure` (with `run_on = "one"`): what happens to a fire whose
/// host stopped renewing its claim (it died mid-run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnHostFailure {
    /// An alert, once; the fire is not run again.
    #[default]
    Alert,
    /// An alert, and another host of the pool runs the fire once the claim expired.
    Rerun,
}

/// The task `[report]` becomes.
pub const REPORT_TASK: &str = "orc_report";

/// `[report]`: the daily report, mailed to a notification group. It becomes the
/// managed task `orc_report`, which runs `orc report --email GROUP`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Report")]
pub struct RawReport {
    /// When to send it, e.g. "0 7 * * *".
    pub schedule: Spanned<String>,
    /// The [notify.NAME] group to mail it to.
    pub email: Spanned<String>,
    /// The period it covers. Default "24h".
    pub since: Option<Spanned<String>>,
    /// Fleet mode: report on every host's runs, from the fleet database; of the
    /// hosts with this [report], one mails it each period. Default false.
    pub all_hosts: Option<Spanned<bool>>,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// Task Scheduler on Windows, the embedded scheduler elsewhere.
    #[default]
    Auto,
    Windows,
    Cron,
    Embedded,
}

impl BackendKind {
    /// The name in tasks.toml and in `--backend`.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Auto => "auto",
            BackendKind::Windows => "windows",
            BackendKind::Cron => "cron",
            BackendKind::Embedded => "embedded",
        }
    }
}

/// `[settings]`: where and how tasks are applied.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Settings")]
pub struct RawSettings {
    /// auto | windows | cron | embedded
    pub backend: Option<BackendKind>,
    /// Task Scheduler folder (and crontab marker). Default "Orc".
    pub folder: Option<Spanned<String>>,
    /// "local" or an IANA zone name such as "Europe/Berlin".
    pub timezone: Option<Spanned<String>>,
    /// Glob patterns of further task files, relative to this file.
    pub include: Option<Vec<Spanned<String>>>,
    /// Where run logs are written. Default: beside the state database.
    pub log_dir: Option<String>,
    /// How long run history and logs are kept, e.g. "30d". Default "30d".
    pub retention: Option<Spanned<DurationValue>>,
    /// How long run logs are kept. Default: `retention`.
    pub log_retention: Option<Spanned<DurationValue>>,
    /// How long run history rows are kept. Default: `retention`.
    pub history_retention: Option<Spanned<DurationValue>>,
    /// The largest log one run keeps: bytes, or "512KB", "10MB", "1GB" (binary units).
    /// Beyond it the oldest output is dropped and the newest kept. Default "10MB".
    pub max_log_size: Option<Spanned<SizeValue>>,
    /// How many runs the embedded scheduler (`orc daemon`) starts at once. Default 8.
    pub max_concurrent: Option<Spanned<u32>>,
    /// The dashboard's address as people reach it (e.g. "https://orc.example.com"),
    /// for the links in alerts to the run and the task. Default: no links.
    pub dashboard_url: Option<Spanned<String>>,
}

/// `[defaults]`: inherited by every task unless the task sets the key itself.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Defaults")]
pub struct RawDefaults {
    pub timeout: Option<Spanned<DurationValue>>,
    pub retry_count: Option<Spanned<u32>>,
    pub retry_delay: Option<Spanned<DurationValue>>,
    pub notify: Option<Vec<Spanned<String>>>,
    pub working_dir: Option<String>,
    pub env: Option<BTreeMap<Spanned<String>, Spanned<EnvValue>>>,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum NotifyEvent {
    Failure,
    Timeout,
    Skipped,
    Retry,
    Success,
    Recovered,
    Missed,
    /// A run still going after the task's `max_duration`.
    Slow,
    /// A success faster than the task's `min_duration`.
    #[serde(rename = "too_fast")]
    TooFast,
    /// A run that ended with one of the task's `warning_exit_codes`.
    Warning,
}

/// `[notify.NAME]`: a group of recipients and the events they hear about.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "NotifyGroup")]
pub struct RawNotify {
    #[serde(default)]
    pub email: Vec<Spanned<String>>,
    /// Default ["failure", "timeout"].
    pub on: Option<Vec<NotifyEvent>>,
    /// A JSON POST of each event to any HTTP endpoint.
    pub webhook: Option<Spanned<RawWebhook>>,
    /// Microsoft Teams, through a Workflows webhook: an Adaptive Card.
    pub teams: Option<Spanned<RawChat>>,
    /// Slack, through an incoming webhook: Block Kit.
    pub slack: Option<Spanned<RawChat>>,
    /// ntfy (ntfy.sh or your own server): a push notification to a topic.
    pub ntfy: Option<Spanned<RawNtfy>>,
    /// Healthchecks: pinged as each run of the group's tasks starts and ends.
    pub healthchecks: Option<Spanned<RawChat>>,
}

/// `webhook = { url = ..., headers = { ... }, template = ... }`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Webhook")]
pub struct RawWebhook {
    /// http(s) URL, or { secret = "name" } when the URL itself is the credential.
    pub url: Spanned<EnvValue>,
    /// Extra request headers; a value may be { secret = "name" }.
    #[serde(default)]
    pub headers: BTreeMap<String, EnvValue>,
    /// The body instead of orc's JSON: `{{ name }}` is replaced by that field of the
    /// event (task, host, folder, event, status, exit_code, attempts, duration, reason,
    /// log_tail, run_id, title, text), escaped for a JSON string.
    pub template: Option<String>,
}

/// `teams = { url = ... }`, `slack = { url = ... }`, `healthchecks = { url = ... }`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "UrlTarget")]
pub struct RawChat {
    /// The URL, best as { secret = "name" }: whoever has it can post.
    pub url: Spanned<EnvValue>,
}

/// `ntfy = { url = "https://ntfy.sh/TOPIC", token = ... }`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Ntfy")]
pub struct RawNtfy {
    /// The topic's URL.
    pub url: Spanned<EnvValue>,
    /// An access token, sent as a bearer token.
    pub token: Option<EnvValue>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    #[default]
    Starttls,
    Tls,
    None,
}

/// `[smtp]`: the mail server alerts and reports go through.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Smtp")]
pub struct RawSmtp {
    pub server: Spanned<String>,
    /// Default 587.
    pub port: Option<u16>,
    pub tls: Option<TlsMode>,
    pub username: Option<Spanned<EnvValue>>,
    pub password: Option<Spanned<EnvValue>>,
    pub from: Spanned<String>,
    /// How long one connection may take. Default "30s".
    pub timeout: Option<Spanned<DurationValue>>,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema, clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum TaskType {
    #[default]
    DataJob,
    Condition,
    Report,
    Maintenance,
}

impl TaskType {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskType::DataJob => "data_job",
            TaskType::Condition => "condition",
            TaskType::Report => "report",
            TaskType::Maintenance => "maintenance",
        }
    }
}

/// `[tasks.NAME]`: one scheduled task.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Task")]
pub struct RawTask {
    /// data_job | condition | report | maintenance. Default data_job.
    #[serde(rename = "type")]
    pub kind: Option<TaskType>,
    pub description: Option<String>,
    /// A string split into words without a shell, or an argv array.
    pub command: Option<Spanned<CommandValue>>,
    /// A command line run by the platform shell (sh -c, cmd /C), when pipes or
    /// redirection are wanted. Exclusive with `command`.
    pub shell: Option<Spanned<String>>,
    /// Default: the directory of the file that defines the task.
    pub working_dir: Option<String>,
    /// Cron ("0 6 * * 1-5"), a macro (@daily) or a shorthand ("06:00", "MON 08:00",
    /// "15 09:30"). Without a schedule the task runs only on demand or as a dependency.
    pub schedule: Option<Spanned<String>>,
    pub timeout: Option<Spanned<DurationValue>>,
    pub retry_count: Option<Spanned<u32>>,
    pub retry_delay: Option<Spanned<DurationValue>>,
    /// Task names, or "file:PATH", "url:URL", "command:COMMAND LINE".
    pub dependencies: Option<Vec<Spanned<String>>>,
    pub enabled: Option<bool>,
    pub env: Option<BTreeMap<Spanned<String>, Spanned<EnvValue>>>,
    /// Run only on these host names. Default: every host.
    pub hosts: Option<Vec<Spanned<String>>>,
    /// Notification groups ([notify.NAME]). Default: from [defaults].
    pub notify: Option<Vec<Spanned<String>>>,
    /// A Healthchecks check (its ping URL, e.g. "https://hc-ping.com/UUID", or
    /// { secret = "name" }): `/start` as a run starts, the URL on success, `/fail` or
    /// the exit status on failure, so the check sees a server that stopped running it.
    pub healthchecks: Option<Spanned<RawChat>>,
    /// The task's previous name: apply moves its state and run history instead of
    /// deleting one task and creating another.
    pub renamed_from: Option<Spanned<String>>,
    /// A run still going after this long sends one `slow` alert (it goes on running;
    /// `timeout` still stops it).
    pub max_duration: Option<Spanned<DurationValue>>,
    /// A success faster than this sends a `too_fast` alert: a job that did nothing.
    pub min_duration: Option<Spanned<DurationValue>>,
    /// How long a run waits for unmet dependencies before it is skipped. Default 0.
    pub wait: Option<Spanned<DurationValue>>,
    /// How often dependencies are checked again while waiting. Default "30s".
    pub poll: Option<Spanned<DurationValue>>,
    /// How recent a dependency task's last success must be. Default "24h".
    pub max_age: Option<Spanned<DurationValue>>,
    /// fixed (default): every retry waits `retry_delay`; exponential: the delay
    /// doubles after each attempt, up to `retry_max_delay`.
    pub retry_backoff: Option<Backoff>,
    /// The longest exponential retry delay. Default "1h".
    pub retry_max_delay: Option<Spanned<DurationValue>>,
    /// When the task is still running as it fires again: skip (default) records the
    /// new run as skipped, queue waits for the running one, allow runs both.
    pub overlap: Option<Overlap>,
    /// Fleet mode: "all" (default) runs each fire on every host the task is applied
    /// on; "one" on one host of `[fleet] pool`, the first to claim the fire.
    pub run_on: Option<Spanned<RunOn>>,
    /// With `run_on = "one"`: "alert" (default) when the host running a fire dies,
    /// or "rerun" it on another host once its claim expired.
    pub on_host_failure: Option<Spanned<OnHostFailure>>,
    /// Embedded scheduler: when the daemon was not running at a fire time within
    /// this long before it starts, run the task once to catch up (like systemd's
    /// `Persistent=`). Default: no catch-up.
    pub catch_up: Option<Spanned<DurationValue>>,
    /// Embedded scheduler: start each scheduled run after a random delay of up to
    /// this long, so tasks that share a fire time do not all start at once.
    pub jitter: Option<Spanned<DurationValue>>,
    /// Task Scheduler: the account the task runs as. "SYSTEM" (default); "LOCAL
    /// SERVICE" or "NETWORK SERVICE"; "current_user" (whoever runs `orc apply`, only
    /// while logged on); "DOMAIN\\user" (whether logged on or not, without a stored
    /// password, so without network credentials); "DOMAIN\\name$" (a gMSA);
    /// { user = "DOMAIN\\svc", password = { secret = "name" } }; { user = "...",
    /// logon = "interactive" }; or { group = "BUILTIN\\Users" }.
    pub run_as: Option<Spanned<RunAsValue>>,
    /// Task Scheduler: "highest" runs the task elevated; default "limited".
    pub run_level: Option<RunLevel>,
    /// Task Scheduler triggers as XML elements, for what a schedule cannot say (at
    /// boot, at log on, on an event, from a start date); `orc import` writes them.
    /// Only the windows backend runs them. Exclusive with `schedule`.
    pub triggers: Option<Vec<Spanned<String>>>,
    /// Task Scheduler: the priority of the task's processes, 0 (highest) to 10
    /// (idle); 4-6 are normal. Default 5 (normal; Task Scheduler's own default, 7,
    /// is below normal).
    pub priority: Option<Spanned<i64>>,
    /// Task Scheduler: wake the computer from sleep to run the task. Default false.
    pub wake_to_run: Option<bool>,
    /// Task Scheduler: start only while a network connection is available. Default
    /// false.
    pub run_only_if_network: Option<bool>,
    /// Task Scheduler: whether the task starts on battery power, and whether it is
    /// stopped when the computer goes on battery. Default { start = true, stop = false }.
    pub battery: Option<Battery>,
    /// Task Scheduler: hide the task in the Task Scheduler window. Default false.
    pub hidden: Option<bool>,
    /// No scheduled run after this, in the task's time zone: "2027-06-30" (the end
    /// of that day) or "2027-06-30T18:00". Task Scheduler's EndBoundary; the other
    /// backends stop firing it too. Manual runs are not affected.
    pub expires: Option<Spanned<String>>,
    /// Task Scheduler: also run when the computer starts (a BootTrigger), beside
    /// any `schedule`.
    pub at_startup: Option<bool>,
    /// Task Scheduler: also run when a user logs on: `true` for any user, or
    /// { user = "DOMAIN\\name" }.
    pub at_logon: Option<Spanned<AtLogon>>,
    /// Task Scheduler: also run when an event is logged: { log = "System", source =
    /// "Service Control Manager", id = 7036 } (source and id optional).
    pub on_event: Option<Spanned<OnEvent>>,
    /// Task Scheduler: also run when the computer becomes idle.
    pub on_idle: Option<bool>,
    /// More commands, run in order after `command` (or `shell`) succeeded, in the same
    /// run: each a command line, an argv array, or { command = ..., working_dir = ... }
    /// / { shell = "...", working_dir = ... }. The run stops at the first that fails;
    /// a retry starts again at that one.
    pub then: Option<Vec<Spanned<RawStep>>>,
    /// Parameters with their defaults: { region = "eu", day = "{{ scheduled_for | date }}" }.
    /// Each reaches the task as ORC_PARAM_<NAME>, and `{{ name }}` in an argv element
    /// (command or then, not shell) is its value, the element staying one argument.
    /// Defaults may use the built-ins scheduled_for, run_id, task, host and attempt,
    /// with the filters date and time. `orc run --param name=value` overrides one.
    pub params: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
    /// Tasks started when a run of this one succeeds (or ends with a warning), for
    /// the same fire (`scheduled_for`): trigger "chain", the upstream run recorded.
    pub on_success: Option<Vec<Spanned<String>>>,
    /// Tasks started when a run of this one fails (failed, timeout, interrupted).
    pub on_failure: Option<Vec<Spanned<String>>>,
    /// Fan-in: this task starts once every one of these tasks succeeded for the same
    /// fire. The first of them to succeed starts it; it waits for the rest, up to
    /// `after_timeout`. A task with `after` has no schedule of its own.
    pub after: Option<Vec<Spanned<String>>>,
    /// How long a fan-in waits for the rest of `after` before it gives up: the run
    /// fails, and is alerted as a failure. Default "1h".
    pub after_timeout: Option<Spanned<DurationValue>>,
    /// Skip every fire on a day of these calendars (`[calendars.NAME]`): the run is
    /// recorded as skipped with the calendar's name, and not alerted.
    pub skip_on: Option<Vec<Spanned<String>>>,
    /// Run fires only on a day of one of these calendars; the others are skipped
    /// (and not alerted). `skip_on` wins where both hold.
    pub only_on: Option<Vec<Spanned<String>>>,
    /// Windows in which fires do not run: [{ from = "22:00", to = "06:00" }] every
    /// day, or [{ from = "2026-12-24T18:00", to = "2027-01-02T00:00" }] once.
    pub blackout: Option<Vec<Spanned<RawBlackout>>>,
    /// "skip" (default): a fire in a blackout window is recorded as skipped; "defer":
    /// the window's first fire runs when the window ends, the others are skipped.
    pub blackout_policy: Option<Spanned<crate::config::calendar::BlackoutPolicy>>,
    /// The time zone of this task's schedule and `expires`: "local", "UTC" or an IANA
    /// name ("America/New_York"). Default: settings.timezone. The embedded scheduler
    /// fires in any zone; cron only in the system's, Task Scheduler only in the
    /// machine's or UTC (another is refused at this key).
    pub timezone: Option<Spanned<String>>,
    /// The most memory the run's processes may use ("2GB", "512MB"). Linux: the run's
    /// own cgroup v2 memory.max where orc may make one (a run killed for it is
    /// recorded as `oom`), else each process's address space (RLIMIT_AS); Windows: the
    /// run's Job Object memory limit.
    pub memory_max: Option<Spanned<String>>,
    /// The CPU the run may use, as a share of one CPU: "50%", "200%" for two. Linux:
    /// cgroup v2 cpu.max (not enforced without it: orc doctor says); Windows: the
    /// Job Object's CPU rate, as a hard cap.
    pub cpu_max: Option<Spanned<String>>,
    /// The most processes the run may have at once. Linux: cgroup v2 pids.max, else
    /// RLIMIT_NPROC (per user, not enforced for root); Windows: the Job Object's active
    /// process limit.
    pub max_processes: Option<Spanned<i64>>,
    /// Unix: the run's scheduling priority, -20 (first) to 19 (last); raising it above
    /// 0 needs root. Windows tasks take `priority`.
    pub nice: Option<Spanned<i64>>,
    /// The exit codes that count as success. Default [0]. Windows installers, for
    /// one, end with 3010 for "succeeded, restart needed".
    pub success_exit_codes: Option<Spanned<Vec<Spanned<i64>>>>,
    /// Exit codes that succeed with a warning: the run is recorded as `warning` (not
    /// a failure: no retry, dependencies hold), shown amber, and alerts the groups
    /// whose `on` has "warning".
    pub warning_exit_codes: Option<Spanned<Vec<Spanned<i64>>>>,
    /// Retry only a failure with one of these exit codes (say 75, EX_TEMPFAIL); any
    /// other failing code fails at once. Default: every failing code is retried, up to
    /// `retry_count`. Timeouts and commands that cannot start are retried either way.
    pub retry_on_exit_codes: Option<Spanned<Vec<Spanned<i64>>>>,
}

/// `at_logon`: any user, or one.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(
    untagged,
    expecting = "expected true (any user logging on) or { user = \"DOMAIN\\\\name\" }"
)]
pub enum AtLogon {
    Any(bool),
    User {
        /// The account whose log-on starts the task.
        user: String,
    },
}

/// `on_event`: the event log, and optionally the source (provider) and event ID.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OnEvent {
    /// The log, as Event Viewer names it: "System", "Application",
    /// "Microsoft-Windows-TaskScheduler/Operational".
    pub log: String,
    /// The event's source (provider name).
    pub source: Option<String>,
    /// The event ID (Windows event IDs are 16-bit).
    pub id: Option<u16>,
}

/// `battery = { start = ..., stop = ... }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Battery {
    /// Start the task while on battery power. Default true.
    pub start: Option<bool>,
    /// Stop the task when the computer goes on battery power. Default false.
    pub stop: Option<bool>,
}

/// `run_as`: an account name, or a table: a user with a password from the vault, a
/// user and how it logs on, or a group.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(
    untagged,
    expecting = "expected an account name (\"SYSTEM\", \"current_user\", \"DOMAIN\\\\name\") or a table with user, password, logon or group"
)]
pub enum RunAsValue {
    Name(String),
    WithPassword(RunAsUser),
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunAsUser {
    /// The account (`DOMAIN\\name`).
    pub user: Option<String>,
    /// Only as { secret = "name" }: a password never sits in tasks.toml.
    pub password: Option<SecretRef>,
    /// How the user logs on: "password" (with `password`), "s4u" (whether logged
    /// on or not, no password: local resources only), "interactive" (only while the
    /// user is logged on).
    pub logon: Option<String>,
    /// A group instead of a user: the task runs for whoever of it is logged on.
    pub group: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    pub secret: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RunLevel {
    #[default]
    Limited,
    Highest,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Backoff {
    #[default]
    Fixed,
    Exponential,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Overlap {
    /// The new run is recorded as skipped.
    #[default]
    Skip,
    /// The new run waits for the running one.
    Queue,
    /// Both run.
    Allow,
    /// The running one is stopped, then the new one runs (Task Scheduler's
    /// StopExisting).
    Replace,
}

/// Whole seconds or a string like "90s", "5m", "1h30m".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DurationValue {
    Seconds(i64),
    Text(String),
}

impl<'de> Deserialize<'de> for DurationValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = DurationValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a duration: whole seconds (3600) or a string like \"90s\", \"5m\", \"1h\"",
                )
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(DurationValue::Seconds(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(DurationValue::Seconds(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(DurationValue::Text(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for DurationValue {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Whole seconds, or a string with units s, m, h, d: \"90s\", \"5m\", \"1h30m\"",
            "oneOf": [
                { "type": "integer", "minimum": 0 },
                { "type": "string", "pattern": "^([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?$|^[0-9]+$" }
            ]
        })
    }
}

/// Bytes (`1048576`) or a string with a binary unit: "512KB", "10MB", "1GB".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SizeValue {
    Bytes(i64),
    Text(String),
}

impl<'de> Deserialize<'de> for SizeValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = SizeValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a size: bytes (1048576) or a string like \"512KB\", \"10MB\", \"1GB\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(SizeValue::Bytes(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(SizeValue::Bytes(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(SizeValue::Text(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for SizeValue {
    fn schema_name() -> Cow<'static, str> {
        "Size".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Bytes, or a number with a binary unit: \"512KB\", \"10MB\", \"1GB\"",
            "oneOf": [
                { "type": "integer", "minimum": 1 },
                { "type": "string", "pattern": "^[0-9]+ ?([KMG]i?B?)?$" }
            ]
        })
    }
}

/// `command = "prog arg"` or `command = ["prog", "arg"]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandValue {
    Line(String),
    Argv(Vec<String>),
}

impl<'de> Deserialize<'de> for CommandValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CommandValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a command line string or an array of strings (argv)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CommandValue::Line(v.to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut argv = Vec::new();
                while let Some(word) = seq.next_element::<String>()? {
                    argv.push(word);
                }
                Ok(CommandValue::Argv(argv))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for CommandValue {
    fn schema_name() -> Cow<'static, str> {
        "Command".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A command line (split into words without a shell) or an argv array",
            "oneOf": [
                { "type": "string", "minLength": 1 },
                { "type": "array", "items": { "type": "string" }, "minItems": 1 }
            ]
        })
    }
}

/// One step of `then = [...]`: a command line or an argv array (run in the task's
/// working directory), or a table with `command` or `shell` and a `working_dir`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RawStep {
    pub command: Option<CommandValue>,
    pub shell: Option<String>,
    pub working_dir: Option<String>,
}

impl<'de> Deserialize<'de> for RawStep {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawStep;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a command line, an argv array, or { command = ..., working_dir = ... } / { shell = \"...\" }",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(RawStep {
                    command: Some(CommandValue::Line(v.to_string())),
                    ..RawStep::default()
                })
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                let argv = Vec::<String>::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                Ok(RawStep {
                    command: Some(CommandValue::Argv(argv)),
                    ..RawStep::default()
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                const KEYS: &[&str] = &["command", "shell", "working_dir"];
                let mut step = RawStep::default();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "command" => step.command = Some(map.next_value()?),
                        "shell" => step.shell = Some(map.next_value()?),
                        "working_dir" => step.working_dir = Some(map.next_value()?),
                        _ => return Err(de::Error::unknown_field(&key, KEYS)),
                    }
                }
                Ok(step)
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for RawStep {
    fn schema_name() -> Cow<'static, str> {
        "Step".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let command = generator.subschema_for::<CommandValue>();
        json_schema!({
            "description": "A command run after the previous one succeeded: a command line, an argv array, or a table with `command` or `shell` and an optional `working_dir`",
            "oneOf": [
                { "type": "string", "minLength": 1 },
                { "type": "array", "items": { "type": "string" }, "minItems": 1 },
                {
                    "type": "object",
                    "properties": {
                        "command": command,
                        "shell": { "type": "string", "minLength": 1 },
                        "working_dir": { "type": "string" }
                    },
                    "oneOf": [ { "required": ["command"] }, { "required": ["shell"] } ],
                    "additionalProperties": false
                }
            ]
        })
    }
}

/// A plain string, or `{ secret = "name" }` resolved from orc's vault at run time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum EnvValue {
    Plain(String),
    Secret { secret: String },
}

impl<'de> Deserialize<'de> for EnvValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = EnvValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or { secret = \"name\" }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(EnvValue::Plain(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut secret = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key != "secret" {
                        return Err(de::Error::unknown_field(&key, &["secret"]));
                    }
                    secret = Some(map.next_value::<String>()?);
                }
                secret
                    .map(|secret| EnvValue::Secret { secret })
                    .ok_or_else(|| de::Error::missing_field("secret"))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for EnvValue {
    fn schema_name() -> Cow<'static, str> {
        "StringOrSecret".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A plain string, or { secret = \"name\" } from orc's encrypted vault",
            "oneOf": [
                { "type": "string" },
                {
                    "type": "object",
                    "properties": { "secret": { "type": "string", "minLength": 1 } },
                    "required": ["secret"],
                    "additionalProperties": false
                }
            ]
        })
    }
}

/// The JSON Schema of tasks.toml, as committed in `schemas/tasks.schema.json`.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(RawFile);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}
