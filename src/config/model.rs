//! The validated configuration: what the rest of orc works with.
//!
//! Everything here has been checked; defaults are applied; paths are resolved.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::raw::{
    BackendKind, Backoff, EnvValue, NotifyEvent, OnHostFailure, OnUnavailable, Overlap, RunLevel,
    RunOn, TaskType, TlsMode,
};
use crate::schedule::Schedule;

#[derive(Debug, Clone)]
pub struct Config {
    pub settings: Settings,
    pub smtp: Option<Smtp>,
    /// `[fleet]`: none, and orc works alone on its SQLite state.
    pub fleet: Option<Fleet>,
    pub notify: BTreeMap<String, NotifyGroup>,
    pub tasks: BTreeMap<String, Task>,
    /// Every file that was read, in load order.
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub backend: BackendKind,
    pub folder: String,
    /// "local" or an IANA name, as written.
    pub timezone: String,
    /// Where `timezone` is written, for checks that refuse it on some backend.
    #[serde(skip)]
    pub timezone_origin: Option<Origin>,
    pub log_dir: Option<PathBuf>,
    pub max_log_size: u64,
    /// Where people reach the dashboard, without a trailing `/`.
    pub dashboard_url: Option<String>,
    #[serde(flatten)]
    pub runtime: RuntimeSettings,
}

/// Default `retention`: 30 days.
const RETENTION: Duration = Duration::from_secs(30 * 86_400);
/// Default `max_log_size`: 10 MiB.
pub const MAX_LOG_SIZE: u64 = 10 << 20;

impl Default for Settings {
    fn default() -> Self {
        Settings {
            backend: BackendKind::Auto,
            folder: "Orc".to_string(),
            timezone: "local".to_string(),
            timezone_origin: None,
            log_dir: None,
            max_log_size: MAX_LOG_SIZE,
            dashboard_url: None,
            runtime: RuntimeSettings::default(),
        }
    }
}

/// Settings that belong to no single task but steer orc at run time: apply records
/// them in the state (a plan shows when they change), and `orc run` and `orc daemon`
/// read them from there, so a server needs no copy of tasks.toml.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeSettings {
    #[serde(with = "secs")]
    pub log_retention: Duration,
    #[serde(with = "secs")]
    pub history_retention: Duration,
    pub max_concurrent: u32,
}

impl Default for RuntimeSettings {
    fn default() -> Self {
        RuntimeSettings {
            log_retention: RETENTION,
            history_retention: RETENTION,
            max_concurrent: 8,
        }
    }
}

impl RuntimeSettings {
    /// The canonical JSON recorded in the state.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl Config {
    /// Where alerts go, as apply records it.
    pub fn notify_settings(&self) -> NotifySettings {
        NotifySettings {
            smtp: self.smtp.clone(),
            notify: self.notify.clone(),
            dashboard_url: self.settings.dashboard_url.clone(),
        }
    }

    /// What apply records for `orc run` and `orc daemon`: the runtime settings and
    /// where alerts go, as one JSON object (keys sorted, so equal means unchanged).
    pub fn recorded_settings_json(&self) -> String {
        let notify = self.notify_settings();
        let mut object = match serde_json::to_value(self.settings.runtime) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        };
        if let Ok(serde_json::Value::Object(extra)) = serde_json::to_value(&notify) {
            object.extend(extra);
        }
        // Only with [fleet], so that the settings recorded before it compare equal.
        if let Some(fleet) = self
            .fleet
            .as_ref()
            .and_then(|f| serde_json::to_value(f).ok())
        {
            object.insert("fleet".to_string(), fleet);
        }
        serde_json::Value::Object(object).to_string()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifyGroup {
    pub email: Vec<String>,
    pub on: Vec<NotifyEvent>,
    /// The HTTP targets beside mail, recorded under their keys as tasks.toml writes
    /// them (`slack = { url = ... }`), so the plan shows them so; none recorded when
    /// empty, so that groups recorded before them compare equal.
    #[serde(default, flatten, with = "hooks_by_channel")]
    pub hooks: Vec<Hook>,
}

/// [`NotifyGroup::hooks`] as keys of the group: each hook's fields under its channel.
mod hooks_by_channel {
    use serde::de::Error as _;
    use serde::ser::SerializeMap;
    use serde::{Deserialize, Deserializer, Serializer};
    use serde_json::{Map, Value};

    use super::Hook;

    pub fn serialize<S: Serializer>(hooks: &[Hook], s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(hooks.len()))?;
        for hook in hooks {
            let mut fields = serde_json::to_value(hook).map_err(serde::ser::Error::custom)?;
            if let Some(object) = fields.as_object_mut() {
                object.remove("kind");
            }
            map.serialize_entry(hook.channel(), &fields)?;
        }
        map.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Hook>, D::Error> {
        let keys = Map::<String, Value>::deserialize(d)?;
        let mut hooks = Vec::new();
        for (channel, fields) in keys {
            // Keys of a later orc's are left to it.
            let known = ["webhook", "teams", "slack", "ntfy", "healthchecks"];
            let Value::Object(mut fields) = fields else {
                continue;
            };
            if !known.contains(&channel.as_str()) {
                continue;
            }
            fields.insert("kind".into(), Value::String(channel));
            hooks.push(serde_json::from_value(Value::Object(fields)).map_err(D::Error::custom)?);
        }
        Ok(hooks)
    }
}

/// An HTTP alert target of a notification group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Hook {
    Webhook {
        url: EnvValue,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        headers: BTreeMap<String, EnvValue>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        template: Option<String>,
    },
    Teams {
        url: EnvValue,
    },
    Slack {
        url: EnvValue,
    },
    Ntfy {
        url: EnvValue,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<EnvValue>,
    },
    /// Healthchecks (healthchecks.io or self-hosted): pinged as each run of the
    /// group's tasks starts and ends, whatever `on` says.
    Healthchecks {
        url: EnvValue,
    },
}

impl Hook {
    /// The channel's name, as `[notify.NAME]` spells the key and the queue records it.
    pub fn channel(&self) -> &'static str {
        match self {
            Hook::Webhook { .. } => "webhook",
            Hook::Teams { .. } => "teams",
            Hook::Slack { .. } => "slack",
            Hook::Ntfy { .. } => "ntfy",
            Hook::Healthchecks { .. } => "healthchecks",
        }
    }

    pub fn url(&self) -> &EnvValue {
        match self {
            Hook::Webhook { url, .. }
            | Hook::Teams { url }
            | Hook::Slack { url }
            | Hook::Ntfy { url, .. }
            | Hook::Healthchecks { url } => url,
        }
    }

    /// Every value of the target that may name a secret.
    pub fn values(&self) -> Vec<&EnvValue> {
        let mut values = vec![self.url()];
        match self {
            Hook::Webhook { headers, .. } => values.extend(headers.values()),
            Hook::Ntfy { token: Some(t), .. } => values.push(t),
            _ => {}
        }
        values
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Smtp {
    pub server: String,
    pub port: u16,
    pub tls: TlsMode,
    pub username: Option<EnvValue>,
    pub password: Option<EnvValue>,
    pub from: String,
    #[serde(with = "secs")]
    pub timeout: Duration,
}

/// `[fleet]`: the PostgreSQL database this host shares with the others of its fleet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fleet {
    /// The connection URL, or the secret holding it.
    pub url: EnvValue,
    pub pool: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_unavailable: Option<OnUnavailable>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_secs")]
    pub lease: Option<Duration>,
    /// The groups told of an outage of the database, once, and of its end.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notify: Vec<String>,
}

/// Where alerts go: `[smtp]` and the `[notify.NAME]` groups. Apply records them with
/// the runtime settings, so `orc run` on a server can alert without tasks.toml.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifySettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp: Option<Smtp>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub notify: BTreeMap<String, NotifyGroup>,
    /// `settings.dashboard_url`, for the alerts' links (none recorded when unset, so
    /// settings recorded before it compare equal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dashboard_url: Option<String>,
}

/// What a task runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Run directly, no shell.
    Argv(Vec<String>),
    /// Run through the platform shell.
    Shell(String),
}

/// A command of `then = [...]`: run after the one before it succeeded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub action: Action,
    /// Where it runs, when not in the task's `working_dir`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<PathBuf>,
}

/// Something that must hold before a task runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "target", rename_all = "snake_case")]
pub enum Dependency {
    /// Another task: its last run must have succeeded (condition tasks are run).
    Task(String),
    /// A file that must exist.
    File(String),
    /// A URL that must answer with a 2xx status.
    Url(String),
    /// A command that must exit 0.
    Command(Vec<String>),
    /// A VPN: with a host, that host name resolves; without, a tunnel interface
    /// (tun, tap, ppp, WireGuard) is up.
    Vpn(Option<String>),
}

/// The account a Task Scheduler task runs as.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunAs {
    /// LocalSystem: no password, full rights on the machine, none on the network.
    #[default]
    System,
    /// The user who runs `orc apply`; the task runs only while that user is logged on.
    CurrentUser,
    /// A user, whether logged on or not, without a stored password (S4U logon).
    User(String),
    /// A user whose password is the vault's secret `secret`.
    Password { user: String, secret: String },
    /// LOCAL SERVICE or NETWORK SERVICE: a service account, no password.
    Service(String),
    /// A named user, only while that user is logged on (InteractiveToken).
    Interactive(String),
    /// A group managed service account (`DOMAIN\\name$`): Windows fetches its
    /// password from the domain, so none is stored.
    Gmsa(String),
    /// Whoever of a group is logged on (GroupId).
    Group(String),
}

/// The Task Scheduler settings a task may set, with orc's defaults; left out of the
/// definition where they are the default, so older records compare equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowsSettings {
    /// 0 (highest) to 10 (idle).
    #[serde(
        default = "normal_priority",
        skip_serializing_if = "is_normal_priority"
    )]
    pub priority: u8,
    #[serde(default, skip_serializing_if = "is_false")]
    pub wake_to_run: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub run_only_if_network: bool,
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub start_on_battery: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub stop_on_battery: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub hidden: bool,
}

/// Normal priority, in the middle of Task Scheduler's normal band (4-6).
pub const NORMAL_PRIORITY: u8 = 5;

fn normal_priority() -> u8 {
    NORMAL_PRIORITY
}

fn is_normal_priority(p: &u8) -> bool {
    *p == NORMAL_PRIORITY
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Default for WindowsSettings {
    fn default() -> Self {
        WindowsSettings {
            priority: NORMAL_PRIORITY,
            wake_to_run: false,
            run_only_if_network: false,
            start_on_battery: true,
            stop_on_battery: false,
            hidden: false,
        }
    }
}

/// What a run's processes may use (`memory_max`, `cpu_max`, `max_processes`,
/// `nice`). Each left out of the definition when not set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Limits {
    /// Bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_max: Option<u64>,
    /// Percent of one CPU (150 = one and a half).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_max: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_processes: Option<u32>,
    /// Unix: -20 (first) to 19 (last).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nice: Option<i32>,
}

impl Limits {
    pub fn any(&self) -> bool {
        *self != Limits::default()
    }
}

/// How a step's exit code is read (`success_exit_codes`, `warning_exit_codes`,
/// `retry_on_exit_codes`). Each list is empty when not written, so that definitions
/// recorded before the keys compare equal. Codes are kept as Windows shows them
/// (0 to 4294967295); [`ExitCodes::meaning`] reads a process's code the same way.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ExitCodes {
    /// The codes a step succeeds with; empty: only 0.
    #[serde(
        default,
        rename = "success_exit_codes",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub success: Vec<i64>,
    /// The codes a step succeeds with that end the run as `warning`.
    #[serde(
        default,
        rename = "warning_exit_codes",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub warning: Vec<i64>,
    /// The failing codes a retry is tried for; empty: every failing code.
    #[serde(
        default,
        rename = "retry_on_exit_codes",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub retry_on: Vec<i64>,
}

/// What a step's exit code means for its run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitMeaning {
    Success,
    /// The step succeeded, and the run ends as `warning`.
    Warning,
    /// The step failed; `retry` when a retry is worth trying for this code.
    Failure {
        retry: bool,
    },
}

impl ExitCodes {
    /// A process's exit code as the lists hold it: Windows' codes are unsigned, and
    /// the standard library hands them over as the same bits in an `i32`.
    pub fn normal(code: i32) -> i64 {
        if code < 0 {
            i64::from(code as u32)
        } else {
            i64::from(code)
        }
    }

    /// A code as written in tasks.toml, as the lists hold it (a negative one is the
    /// same bits unsigned); codes out of range are left as they are.
    pub fn normal_i64(code: i64) -> i64 {
        match i32::try_from(code) {
            Ok(c) => Self::normal(c),
            Err(_) => code,
        }
    }

    pub fn meaning(&self, code: i32) -> ExitMeaning {
        let code = Self::normal(code);
        if self.warning.contains(&code) {
            ExitMeaning::Warning
        } else if self.success.contains(&code) || (self.success.is_empty() && code == 0) {
            ExitMeaning::Success
        } else {
            ExitMeaning::Failure {
                retry: self.retry_on.is_empty() || self.retry_on.contains(&code),
            }
        }
    }
}

/// Where something was defined, for messages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
}

/// A validated task. Its JSON form is what `orc apply` records in the state and what
/// `orc run` executes, so everything that changes how the task runs is in it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Task {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: TaskType,
    pub description: Option<String>,
    pub action: Action,
    /// Commands run after `action` succeeded, in order, in the same run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub then: Vec<Step>,
    pub working_dir: PathBuf,
    #[serde(with = "schedule_text")]
    pub schedule: Option<Schedule>,
    /// The zone the schedule's wall-clock times are in ("local" or IANA), resolved:
    /// the task's own `timezone`, else `settings.timezone`.
    pub timezone: crate::schedule::Zone,
    /// Where the task's own `timezone` is written, for the backends that refuse it;
    /// none when it comes from the settings.
    #[serde(skip)]
    pub timezone_origin: Option<Origin>,
    /// `settings.log_dir`, when set: where `orc run` writes this task's logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_dir: Option<PathBuf>,
    /// `settings.max_log_size`: the newest output beyond it is kept.
    #[serde(
        default = "default_max_log_size",
        skip_serializing_if = "is_default_max_log_size"
    )]
    pub max_log_size: u64,
    #[serde(with = "opt_secs")]
    pub timeout: Option<Duration>,
    pub retry_count: u32,
    #[serde(with = "secs")]
    pub retry_delay: Duration,
    #[serde(default, skip_serializing_if = "is_default")]
    pub retry_backoff: Backoff,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_secs")]
    pub retry_max_delay: Option<Duration>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub overlap: Overlap,
    #[serde(default, skip_serializing_if = "is_default")]
    pub run_on: RunOn,
    #[serde(default, skip_serializing_if = "is_default")]
    pub on_host_failure: OnHostFailure,
    pub dependencies: Vec<Dependency>,
    /// Wait this long for unmet dependencies, checking every `poll`.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_secs")]
    pub wait: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_secs")]
    pub poll: Option<Duration>,
    /// How recent a dependency task's success must be (default 24h).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_secs")]
    pub max_age: Option<Duration>,
    /// A run going longer than this is alerted `slow`, once.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_secs")]
    pub max_duration: Option<Duration>,
    /// A success quicker than this is alerted `too_fast`.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_secs")]
    pub min_duration: Option<Duration>,
    /// Embedded scheduler: run a fire missed within this long once on start.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_secs")]
    pub catch_up: Option<Duration>,
    /// Embedded scheduler: a random delay of up to this long before each fire.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_secs")]
    pub jitter: Option<Duration>,
    /// Task Scheduler: the account the task runs as.
    #[serde(default, skip_serializing_if = "is_default")]
    pub run_as: RunAs,
    #[serde(default, skip_serializing_if = "is_default")]
    pub run_level: RunLevel,
    /// Task Scheduler trigger elements (compact XML), instead of a schedule.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub triggers: Vec<String>,
    /// Task Scheduler's settings of the task (priority, power, network, visibility).
    #[serde(default, flatten)]
    pub windows: WindowsSettings,
    /// Parameters and their defaults (templates of built-ins allowed).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
    /// Tasks started when a run succeeds (or warns), for the same fire.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub on_success: Vec<String>,
    /// Tasks started when a run fails.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub on_failure: Vec<String>,
    /// Fan-in: started once all of these succeeded for the same fire.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_secs")]
    pub after_timeout: Option<Duration>,
    /// Fires on a day of one of these calendars are skipped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skip_on: Vec<super::calendar::Calendar>,
    /// Fires run only on a day of one of these calendars.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub only_on: Vec<super::calendar::Calendar>,
    /// Windows in which fires do not run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blackout: Vec<super::calendar::Blackout>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub blackout_policy: super::calendar::BlackoutPolicy,
    /// What the run's processes may use.
    #[serde(default, flatten)]
    pub limits: Limits,
    /// Which exit codes succeed, warn, or are worth a retry.
    #[serde(default, flatten)]
    pub exit_codes: ExitCodes,
    /// No scheduled fire from this wall-clock time on (in `timezone`), written
    /// `YYYY-MM-DDTHH:MM:SS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    pub enabled: bool,
    pub env: BTreeMap<String, EnvValue>,
    pub hosts: Vec<String>,
    pub notify: Vec<String>,
    /// A Healthchecks check this task pings: `/start` as a run starts, the URL on
    /// success, `/fail` or the exit status otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthchecks: Option<EnvValue>,
    /// Not part of the definition: only tells apply to move state from that name.
    #[serde(skip)]
    pub renamed_from: Option<String>,
    #[serde(skip)]
    pub origin: Origin,
}

fn default_max_log_size() -> u64 {
    MAX_LOG_SIZE
}

fn is_default_max_log_size(size: &u64) -> bool {
    *size == MAX_LOG_SIZE
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

impl Task {
    /// The pause before retry number `retry` (1 for the first retry).
    pub fn retry_pause(&self, retry: u32) -> Duration {
        match self.retry_backoff {
            Backoff::Fixed => self.retry_delay,
            Backoff::Exponential => {
                let factor = 2u32.saturating_pow(retry.saturating_sub(1));
                let cap = self.retry_max_delay.unwrap_or(Duration::from_secs(3600));
                self.retry_delay
                    .saturating_mul(factor)
                    .min(cap.max(self.retry_delay))
            }
        }
    }

    /// What one run executes, in order: `action` and each `then` step, with the
    /// directory each runs in.
    pub fn steps(&self) -> impl Iterator<Item = (&Action, &std::path::Path)> {
        std::iter::once((&self.action, self.working_dir.as_path())).chain(self.then.iter().map(
            |step| {
                (
                    &step.action,
                    step.working_dir.as_deref().unwrap_or(&self.working_dir),
                )
            },
        ))
    }

    /// The canonical JSON recorded in the state; equal JSON means equal behaviour.
    pub fn definition(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// When scheduled fires end (`expires`), as a wall-clock time in `timezone`.
    pub fn expires_at(&self) -> Option<jiff::civil::DateTime> {
        self.expires.as_deref()?.parse().ok()
    }

    /// Whether `at` is past the task's `expires`.
    pub fn expired(&self, at: jiff::Timestamp) -> bool {
        let Some(end) = self.expires_at() else {
            return false;
        };
        self.timezone.tz().to_datetime(at) >= end
    }

    /// Read back a recorded definition.
    pub fn from_definition(json: &str) -> Result<Task, serde_json::Error> {
        serde_json::from_str(json)
    }
}

mod schedule_text {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::schedule::Schedule;

    pub fn serialize<S: Serializer>(s: &Option<Schedule>, ser: S) -> Result<S::Ok, S::Error> {
        match s {
            Some(s) => ser.serialize_some(s.source()),
            None => ser.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Schedule>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| crate::schedule::parse(&text).map_err(serde::de::Error::custom))
            .transpose()
    }
}

mod secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

mod opt_secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Option::<u64>::deserialize(d).map(|v| v.map(Duration::from_secs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_read_as_success_warning_or_a_failure_worth_a_retry() {
        let default = ExitCodes::default();
        assert_eq!(default.meaning(0), ExitMeaning::Success);
        assert_eq!(default.meaning(1), ExitMeaning::Failure { retry: true });
        let rules = ExitCodes {
            success: vec![0, 3010],
            warning: vec![2],
            retry_on: vec![75],
        };
        assert_eq!(rules.meaning(3010), ExitMeaning::Success);
        assert_eq!(rules.meaning(2), ExitMeaning::Warning);
        assert_eq!(rules.meaning(75), ExitMeaning::Failure { retry: true });
        assert_eq!(rules.meaning(1), ExitMeaning::Failure { retry: false });
        // Windows' 0xC0000005 reaches orc as a negative i32: the same bits.
        let crash = ExitCodes {
            success: vec![0xC000_0005],
            ..ExitCodes::default()
        };
        assert_eq!(crash.meaning(0xC000_0005_u32 as i32), ExitMeaning::Success);
        assert_eq!(ExitCodes::normal_i64(-1), 0xFFFF_FFFF);
        // Without the keys, the recorded definition has none of them.
        let json = serde_json::to_value(ExitCodes::default()).unwrap();
        assert_eq!(json, serde_json::json!({}));
    }

    #[test]
    fn a_groups_http_targets_are_recorded_under_their_keys_and_read_back() {
        let group = NotifyGroup {
            email: vec!["ops@example.com".into()],
            on: vec![NotifyEvent::Failure],
            hooks: vec![
                Hook::Slack {
                    url: EnvValue::Secret {
                        secret: "slack_url".into(),
                    },
                },
                Hook::Webhook {
                    url: EnvValue::Plain("https://hooks.example/orc".into()),
                    headers: BTreeMap::new(),
                    template: None,
                },
            ],
        };
        let json = serde_json::to_value(&group).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "email": ["ops@example.com"],
                "on": ["failure"],
                "slack": { "url": { "secret": "slack_url" } },
                "webhook": { "url": "https://hooks.example/orc" },
            })
        );
        let back: NotifyGroup = serde_json::from_value(json).unwrap();
        assert_eq!(back.hooks.len(), 2);
        assert!(back.hooks.contains(&group.hooks[0]) && back.hooks.contains(&group.hooks[1]));
        // A group recorded before the HTTP targets reads back without any, and a key
        // of a later orc's is left alone.
        let old: NotifyGroup =
            serde_json::from_str(r#"{"email": [], "on": ["failure"], "pager": {"x": 1}}"#).unwrap();
        assert!(old.hooks.is_empty());
    }
}
