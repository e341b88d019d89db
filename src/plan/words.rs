//! A task definition (and the runtime settings) in tasks.toml's own words, for the
//! human plan: `command = [...]` or `shell = "..."` rather than the internal action,
//! durations as "2h", dependencies as the strings the file holds. The JSON plan keeps
//! the machine form (see `canonical` in the parent module).

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::config::{Dependency, format_duration, format_size};

/// Keys whose JSON value is a number of seconds.
const DURATIONS: &[&str] = &[
    "timeout",
    "max_duration",
    "min_duration",
    "retry_delay",
    "retry_max_delay",
    "wait",
    "poll",
    "max_age",
    "catch_up",
    "jitter",
    "after_timeout",
    "history_retention",
    "log_retention",
];

/// What a task is without the key: the built-in defaults, which a create leaves out.
fn is_default(key: &str, value: &Value) -> bool {
    match key {
        "type" => value == "data_job",
        "enabled" => value == true,
        "retry_count" => value == 0,
        "retry_delay" => value == 30,
        "dependencies" | "hosts" | "notify" | "triggers" => {
            value.as_array().is_some_and(Vec::is_empty)
        }
        "env" => value.as_object().is_some_and(Map::is_empty),
        // Set in [settings], not in the task.
        "timezone" | "log_dir" | "max_log_size" => true,
        _ => value.is_null(),
    }
}

/// What a create leaves out besides the built-in defaults.
#[derive(Debug, Clone, Default)]
pub struct SetOnly {
    /// The folder a relative `working_dir` starts from, which is the default one.
    pub base_dir: Option<PathBuf>,
    /// The task sets its own `timezone` (else it comes from `[settings]`, unshown).
    pub own_timezone: bool,
}

/// `key = value` lines, sorted by key, of a definition's JSON in tasks.toml's words.
/// With `set_only`, only what differs from the built-in defaults (a create: what the
/// file sets).
pub fn task_words(definition: &str, set_only: Option<&SetOnly>) -> String {
    let Ok(Value::Object(mut map)) = serde_json::from_str::<Value>(definition) else {
        return String::new();
    };
    let mut lines: Vec<(String, String)> = Vec::new();
    // Two keys in the definition, one in tasks.toml.
    let start = map.remove("start_on_battery");
    let stop = map.remove("stop_on_battery");
    if start.is_some() || stop.is_some() {
        let battery = serde_json::json!({
            "start": start.unwrap_or(Value::Bool(true)),
            "stop": stop.unwrap_or(Value::Bool(false)),
        });
        lines.push(("battery".into(), toml_text(&battery)));
    }
    for (key, value) in map {
        if key == "name" || value.is_null() {
            continue;
        }
        if let Some(only) = set_only
            && !(key == "timezone" && only.own_timezone)
            && (is_default(&key, &value)
                || (key == "working_dir"
                    && only
                        .base_dir
                        .as_ref()
                        .is_some_and(|b| value.as_str() == Some(&b.to_string_lossy()))))
        {
            continue;
        }
        match key.as_str() {
            "action" => {
                if let Some(argv) = value.get("argv") {
                    lines.push(("command".into(), toml_text(argv)));
                } else if let Some(shell) = value.get("shell") {
                    lines.push(("shell".into(), toml_text(shell)));
                }
            }
            "then" => {
                let steps: Vec<Value> = value.as_array().into_iter().flatten().map(step).collect();
                lines.push((key, toml_text(&Value::Array(steps))));
            }
            "triggers" => {
                let mut raw = Vec::new();
                for fragment in value.as_array().into_iter().flatten() {
                    let text = fragment.as_str().unwrap_or_default();
                    match typed_trigger(text) {
                        Some((key, value)) => lines.push((key.into(), toml_text(&value))),
                        None => raw.push(fragment.clone()),
                    }
                }
                if !raw.is_empty() {
                    lines.push((key, toml_text(&Value::Array(raw))));
                }
            }
            "dependencies" => {
                let deps: Vec<Dependency> =
                    serde_json::from_value(value.clone()).unwrap_or_default();
                let words: Vec<Value> = deps.iter().map(|d| Value::String(dependency(d))).collect();
                lines.push((key, toml_text(&Value::Array(words))));
            }
            "run_as" => lines.push((key, toml_text(&run_as(&value)))),
            "expires" => lines.push((key, toml_text(&expires(&value)))),
            k if DURATIONS.contains(&k) => lines.push((key, duration_text(&value))),
            // Recorded in bytes and in percent of one CPU, written as sizes and percents.
            "memory_max" | "max_log_size" => lines.push((key, size_text(&value))),
            "cpu_max" => lines.push((key, percent_text(&value))),
            _ => lines.push((key, toml_text(&value))),
        }
    }
    lines.sort();
    lines
        .into_iter()
        .map(|(k, v)| format!("{k} = {v}\n"))
        .collect()
}

/// The runtime settings JSON in tasks.toml's words.
pub fn settings_words(json: &str) -> String {
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(json) else {
        return String::new();
    };
    map.iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| {
            let text = if DURATIONS.contains(&k.as_str()) {
                duration_text(v)
            } else if let (true, Some(table)) = (k == "fleet", v.as_object()) {
                // [fleet] lease is recorded in seconds: shown as tasks.toml writes it.
                let mut shown = table.clone();
                if let Some(secs) = table.get("lease").and_then(Value::as_u64) {
                    shown.insert(
                        "lease".into(),
                        Value::String(format_duration(Duration::from_secs(secs))),
                    );
                }
                toml_text(&Value::Object(shown))
            } else {
                toml_text(v)
            };
            format!("{k} = {text}\n")
        })
        .collect()
}

/// `run_as` as tasks.toml writes it: the definition's `{ "interactive": "CORP\\bob" }`
/// is `{ user = "CORP\\bob", logon = "interactive" }`, a service account its name.
fn run_as(value: &Value) -> Value {
    use serde_json::json;
    if value == "system" {
        return json!("SYSTEM");
    }
    let Some((kind, account)) = value.as_object().and_then(|m| m.iter().next()) else {
        return value.clone();
    };
    match kind.as_str() {
        "user" | "service" | "gmsa" => account.clone(),
        "interactive" => json!({ "user": account, "logon": "interactive" }),
        "group" => json!({ "group": account }),
        "password" => json!({
            "user": account["user"],
            "password": { "secret": account["secret"] },
        }),
        _ => value.clone(),
    }
}

/// `expires` as written: the definition holds the moment fires end, and
/// "2027-06-30" (the end of that day) is 2027-07-01T00:00:00 there.
fn expires(value: &Value) -> Value {
    let Some(end) = value
        .as_str()
        .and_then(|t| t.parse::<jiff::civil::DateTime>().ok())
    else {
        return value.clone();
    };
    let text = if end.time() == jiff::civil::Time::midnight() {
        end.date()
            .yesterday()
            .map_or_else(|_| end.to_string(), |d| d.to_string())
    } else {
        end.strftime("%Y-%m-%dT%H:%M").to_string()
    };
    Value::String(text)
}

/// A `then` step as tasks.toml writes it: the argv array, or a table.
fn step(step: &Value) -> Value {
    let action = &step["action"];
    let (key, command) = match (action.get("argv"), action.get("shell")) {
        (Some(argv), _) => ("command", argv.clone()),
        (None, Some(shell)) => ("shell", shell.clone()),
        (None, None) => return step.clone(),
    };
    match step.get("working_dir") {
        Some(dir) => serde_json::json!({ key: command, "working_dir": dir }),
        None if key == "command" => command,
        None => serde_json::json!({ key: command }),
    }
}

/// A trigger orc wrote for a typed key (`at_startup`, `at_logon`, `on_event`,
/// `on_idle`), as that key: it is written again from the key and compared, so a
/// trigger that only looks similar stays a raw trigger.
fn typed_trigger(fragment: &str) -> Option<(&'static str, Value)> {
    use crate::backend::windows::xml;
    if fragment == xml::boot_trigger() {
        return Some(("at_startup", Value::Bool(true)));
    }
    if fragment == xml::idle_trigger() {
        return Some(("on_idle", Value::Bool(true)));
    }
    if fragment == xml::logon_trigger(None) {
        return Some(("at_logon", Value::Bool(true)));
    }
    let inner = |open: &str, close: &str| {
        let escaped = fragment.strip_prefix(open)?.strip_suffix(close)?;
        quick_xml::escape::unescape(escaped)
            .ok()
            .map(|t| t.into_owned())
    };
    if let Some(user) = inner("<LogonTrigger><UserId>", "</UserId></LogonTrigger>")
        && fragment == xml::logon_trigger(Some(&user))
    {
        return Some(("at_logon", serde_json::json!({ "user": user })));
    }
    let query = inner(
        "<EventTrigger><Subscription>",
        "</Subscription></EventTrigger>",
    )?;
    let (_, rest) = query.split_once("<Select Path=\"")?;
    let (log, rest) = rest.split_once("\">")?;
    let (select, _) = rest.split_once("</Select>")?;
    let (mut source, mut id) = (None, None);
    if let Some(conditions) = select
        .strip_prefix("*[System[")
        .and_then(|c| c.strip_suffix("]]"))
    {
        for condition in conditions.split(" and ") {
            if let Some(name) = condition
                .strip_prefix("Provider[@Name='")
                .and_then(|n| n.strip_suffix("']"))
            {
                source = Some(name.to_string());
            } else if let Some(n) = condition.strip_prefix("EventID=") {
                id = Some(n.parse::<u16>().ok()?);
            }
        }
    }
    if fragment != xml::event_trigger(log, source.as_deref(), id) {
        return None;
    }
    let mut event = serde_json::json!({ "log": log });
    if let Some(source) = source {
        event["source"] = Value::String(source);
    }
    if let Some(id) = id {
        event["id"] = Value::from(id);
    }
    Some(("on_event", event))
}

/// A dependency as tasks.toml writes it.
fn dependency(d: &Dependency) -> String {
    match d {
        Dependency::Task(name) => name.clone(),
        Dependency::File(path) => format!("file:{path}"),
        Dependency::Url(url) => format!("url:{url}"),
        Dependency::Command(argv) => format!("command:{}", shell_words::join(argv)),
        Dependency::Vpn(None) => "vpn".to_string(),
        Dependency::Vpn(Some(host)) => format!("vpn:{host}"),
    }
}

fn duration_text(value: &Value) -> String {
    match value.as_u64() {
        Some(secs) => format!("\"{}\"", format_duration(Duration::from_secs(secs))),
        None => toml_text(value),
    }
}

fn size_text(value: &Value) -> String {
    match value.as_u64() {
        Some(bytes) => format!("\"{}\"", format_size(bytes)),
        None => toml_text(value),
    }
}

fn percent_text(value: &Value) -> String {
    match value.as_u64() {
        Some(percent) => format!("\"{percent}%\""),
        None => toml_text(value),
    }
}

/// A JSON value as a TOML value (inline tables and arrays, strings quoted as TOML
/// quotes them).
fn toml_text(value: &Value) -> String {
    match toml::Value::try_from(value) {
        Ok(v) => v.to_string(),
        Err(_) => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fleets_lease_reads_as_a_duration() {
        let json = r#"{"fleet":{"lease":6,"pool":"etl","url":{"secret":"fleet_db"}}}"#;
        let words = settings_words(json);
        assert!(words.contains("lease = \"6s\""), "{words}");
        assert!(words.contains("pool = \"etl\""), "{words}");
    }

    #[test]
    fn a_definition_reads_as_tasks_toml() {
        let definition = serde_json::json!({
            "name": "etl", "type": "data_job", "description": null,
            "action": {"shell": "cd /srv && ./etl.sh"}, "working_dir": "/srv",
            "schedule": "0 2 * * *", "timezone": "UTC", "timeout": 7200,
            "retry_count": 2, "retry_delay": 30, "enabled": true,
            "dependencies": [{"kind": "task", "target": "extract"}, {"kind": "file", "target": "in.csv"}],
            "env": {"DB_PW": {"secret": "db_pw"}}, "hosts": [], "notify": ["ops"]
        })
        .to_string();
        let all = task_words(&definition, None);
        assert!(all.contains("shell = \"cd /srv && ./etl.sh\"\n"), "{all}");
        assert!(all.contains("timeout = \"2h\"\n"), "{all}");
        assert!(
            all.contains("dependencies = [\"extract\", \"file:in.csv\"]\n"),
            "{all}"
        );
        assert!(
            all.contains("env = { DB_PW = { secret = \"db_pw\" } }\n"),
            "{all}"
        );
        assert!(!all.contains("description"), "{all}");
        assert!(!all.contains("name ="), "{all}");
        let set = task_words(
            &definition,
            Some(&SetOnly {
                base_dir: Some(PathBuf::from("/srv")),
                own_timezone: false,
            }),
        );
        assert_eq!(
            set,
            "dependencies = [\"extract\", \"file:in.csv\"]\nenv = { DB_PW = { secret = \"db_pw\" } }\n\
             notify = [\"ops\"]\nretry_count = 2\nschedule = \"0 2 * * *\"\nshell = \"cd /srv && ./etl.sh\"\n\
             timeout = \"2h\"\n"
        );
    }

    #[test]
    fn limits_and_a_tasks_own_zone_read_as_written() {
        let definition = serde_json::json!({
            "name": "etl", "action": {"argv": ["etl"]}, "timezone": "Asia/Tokyo",
            "memory_max": 2u64 << 30, "cpu_max": 150, "max_log_size": 10u64 << 20,
            "after_timeout": 120
        })
        .to_string();
        let own = SetOnly {
            base_dir: None,
            own_timezone: true,
        };
        let created = task_words(&definition, Some(&own));
        assert_eq!(
            created,
            "after_timeout = \"2m\"\ncommand = [\"etl\"]\ncpu_max = \"150%\"\nmemory_max = \"2GB\"\n\
             timezone = \"Asia/Tokyo\"\n"
        );
        // The zone of [settings] is not the task's to show.
        let inherited = task_words(&definition, Some(&SetOnly::default()));
        assert!(!inherited.contains("timezone"), "{inherited}");
        let all = task_words(&definition, None);
        assert!(all.contains("max_log_size = \"10MB\"\n"), "{all}");
    }

    #[test]
    fn steps_battery_and_typed_triggers_read_as_their_keys() {
        use crate::backend::windows::xml;
        let definition = serde_json::json!({
            "name": "etl",
            "action": {"argv": ["extract"]},
            "then": [
                {"action": {"argv": ["load", "--all"]}},
                {"action": {"shell": "gzip *.csv"}},
                {"action": {"argv": ["report"]}, "working_dir": "/srv/out"}
            ],
            "start_on_battery": false,
            "triggers": [
                xml::boot_trigger(),
                xml::logon_trigger(Some("CORP\\o'brien & co")),
                xml::event_trigger("System", Some("Service Control Manager"), Some(7036)),
                xml::event_trigger("Application", None, None),
                "<TimeTrigger><StartBoundary>2027-01-01T00:00:00</StartBoundary></TimeTrigger>"
            ]
        })
        .to_string();
        let words = task_words(&definition, Some(&SetOnly::default()));
        for line in [
            "then = [[\"load\", \"--all\"], { shell = \"gzip *.csv\" }, { command = [\"report\"], working_dir = \"/srv/out\" }]\n",
            "battery = { start = false, stop = false }\n",
            "at_startup = true\n",
            "at_logon = { user = '''CORP\\o'brien & co''' }\n",
            "on_event = { id = 7036, log = \"System\", source = \"Service Control Manager\" }\n",
            "on_event = { log = \"Application\" }\n",
            "triggers = [\"<TimeTrigger><StartBoundary>2027-01-01T00:00:00</StartBoundary></TimeTrigger>\"]\n",
        ] {
            assert!(words.contains(line), "{line} not in\n{words}");
        }
        assert!(!words.contains("start_on_battery"), "{words}");
    }

    #[test]
    fn accounts_and_expiry_read_as_written() {
        let cases = [
            (r#""system""#, r#"run_as = "SYSTEM""#),
            (r#"{"user":"CORP\\etl"}"#, r#"run_as = 'CORP\etl'"#),
            (
                r#"{"service":"NETWORK SERVICE"}"#,
                r#"run_as = "NETWORK SERVICE""#,
            ),
            (
                r#"{"interactive":"CORP\\bob"}"#,
                r#"run_as = { logon = "interactive", user = 'CORP\bob' }"#,
            ),
            (
                r#"{"password":{"user":"CORP\\svc","secret":"svc_pw"}}"#,
                r#"run_as = { password = { secret = "svc_pw" }, user = 'CORP\svc' }"#,
            ),
            (
                r#"{"group":"BUILTIN\\Users"}"#,
                r#"run_as = { group = 'BUILTIN\Users' }"#,
            ),
        ];
        for (json, line) in cases {
            let words = task_words(&format!(r#"{{"run_as":{json}}}"#), None);
            assert_eq!(words, format!("{line}\n"), "{json}");
        }
        // "2027-06-30" ends with that day, which the definition holds as the next midnight.
        let words = task_words(r#"{"expires":"2027-07-01T00:00:00"}"#, None);
        assert_eq!(words, "expires = \"2027-06-30\"\n");
        let words = task_words(r#"{"expires":"2027-06-30T18:00:00"}"#, None);
        assert_eq!(words, "expires = \"2027-06-30T18:00\"\n");
    }

    #[test]
    fn settings_read_as_tasks_toml() {
        let text = settings_words(r#"{"history_retention":2592000,"max_concurrent":3}"#);
        assert_eq!(text, "history_retention = \"30d\"\nmax_concurrent = 3\n");
    }
}
