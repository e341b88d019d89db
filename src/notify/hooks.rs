//! Alerts to HTTP targets beside mail: a generic JSON webhook, Microsoft Teams (an
//! Adaptive Card through a Workflows webhook), Slack (Block Kit through an incoming
//! webhook) and ntfy.
//!
//! The queue holds each alert's [`Facts`] and its scope (never a URL or token, except
//! a Healthchecks check's URL as the config writes it); the body is made and the
//! target's secrets read from the vault when it is sent, so a rotated secret takes
//! effect for alerts already waiting. A failure says which step failed (DNS, connect,
//! TLS, timeout, the HTTP status with the first line of the answer), with every secret
//! value masked; a 5xx, 408 or 429 is tried again later, any other 4xx is given up.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{EnvValue, Hook};
use crate::secrets::SecretReader;

/// How long one delivery may take, all of it.
const TIMEOUT: Duration = Duration::from_secs(15);

/// What an alert says, in fields a webhook receiver or a template can use.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Facts {
    /// failure, timeout, skipped, retry, success, recovered, missed, slow, too_fast,
    /// config_error, test (and start, to Healthchecks).
    pub event: String,
    pub task: Option<String>,
    pub host: String,
    pub folder: Option<String>,
    pub status: Option<String>,
    pub exit_code: Option<i32>,
    pub attempts: Option<u32>,
    /// Seconds, and the same in words ("2m 5s").
    pub duration_secs: Option<f64>,
    pub duration: Option<String>,
    pub reason: Option<String>,
    pub log_tail: Option<String>,
    pub run_id: Option<i64>,
    /// The one-line summary (the mail's subject).
    pub title: String,
    /// The plain-text message.
    pub text: String,
    /// The run's and the task's pages on the dashboard, when `settings.dashboard_url`
    /// says where it is (set as the alert is sent: [`Facts::link`]).
    #[serde(default)]
    pub run_url: Option<String>,
    #[serde(default)]
    pub task_url: Option<String>,
}

impl Facts {
    /// The links to the run and the task on the dashboard at `dashboard`.
    pub fn link(&mut self, dashboard: Option<&str>) {
        let Some(base) = dashboard else {
            return;
        };
        // Task names are letters, digits, '-' and '_': nothing to escape in a path.
        self.task_url = self.task.as_ref().map(|t| format!("{base}/tasks/{t}"));
        self.run_url = self.run_id.map(|id| format!("{base}/runs/{id}"));
    }

    /// The cards' buttons: the run's page and the task's.
    fn links(&self) -> Vec<(&'static str, &str)> {
        [
            ("Open the run", &self.run_url),
            ("Open the task", &self.task_url),
        ]
        .into_iter()
        .filter_map(|(title, url)| url.as_deref().map(|u| (title, u)))
        .collect()
    }

    /// Whether the event is good news (shown green, sent at normal priority).
    fn good(&self) -> bool {
        matches!(self.event.as_str(), "success" | "recovered" | "test")
    }

    /// Whether the event is a run that succeeded with a warning code (amber).
    fn warning(&self) -> bool {
        self.event == "warning"
    }

    /// The facts a card lists, in order, skipping what is unknown.
    fn listed(&self) -> Vec<(&'static str, String)> {
        let mut facts = Vec::new();
        let mut add = |k: &'static str, v: Option<String>| {
            if let Some(v) = v.filter(|v| !v.is_empty()) {
                facts.push((k, v));
            }
        };
        add("Task", self.task.clone());
        add("Host", Some(self.host.clone()));
        add("Status", self.status.clone());
        add("Exit code", self.exit_code.map(|c| c.to_string()));
        add("Attempts", self.attempts.map(|a| a.to_string()));
        add("Duration", self.duration.clone());
        add("Run", self.run_id.map(|r| r.to_string()));
        add("Reason", self.reason.clone());
        facts
    }

    /// A field by its name, as a template names it.
    fn field(&self, name: &str) -> Option<String> {
        let value = serde_json::to_value(self).ok()?;
        match value.get(name)? {
            serde_json::Value::Null => Some(String::new()),
            serde_json::Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    }
}

/// A queued delivery: the facts, and the target itself when it is not one of the
/// group's (a task's own Healthchecks check). Secrets stay references.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Queued {
    pub facts: Facts,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Hook>,
    /// The scope whose `[notify]` groups the alert was queued for: another folder's
    /// group of the same name is another target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder: Option<String>,
}

/// The request a target gets: its body and its headers.
struct Request {
    body: String,
    content_type: &'static str,
    headers: Vec<(String, String)>,
}

/// Why a delivery failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{channel}: {step}: {detail}")]
pub struct HookError {
    pub channel: &'static str,
    /// dns, connect, tls, timeout, http, secret, url.
    pub step: &'static str,
    pub detail: String,
    /// Worth trying again later (a server error, a timeout, a refused connection).
    pub retry: bool,
}

/// What the target answered to a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub status: u16,
    pub first_line: String,
}

/// Send `facts` to `hook`, its secrets read from `secrets`.
pub fn send(hook: &Hook, facts: &Facts, secrets: &SecretReader) -> Result<Delivered, HookError> {
    let channel = hook.channel();
    let fail = |step, detail: String, retry| HookError {
        channel,
        step,
        detail,
        retry,
    };
    // Every secret value read is masked in whatever is said about this delivery.
    let mut masked: Vec<zeroize::Zeroizing<String>> = Vec::new();
    let mut resolve = |value: &EnvValue| -> Result<String, HookError> {
        match value {
            EnvValue::Plain(p) => Ok(p.clone()),
            EnvValue::Secret { secret } => {
                let v = secrets(secret)
                    .map_err(|e| fail("secret", format!("the secret \"{secret}\": {e}"), false))?;
                masked.push(v.clone());
                Ok(v.to_string())
            }
        }
    };
    let url = resolve(hook.url())?;
    let url = match hook {
        Hook::Healthchecks { .. } => with_path_suffix(&url, &healthchecks_suffix(facts)),
        _ => url,
    };
    let mut request = request_for(hook, facts);
    match hook {
        Hook::Webhook { headers, .. } => {
            for (name, value) in headers {
                request.headers.push((name.clone(), resolve(value)?));
            }
        }
        Hook::Ntfy { token: Some(t), .. } => {
            let token = resolve(t)?;
            request
                .headers
                .push(("Authorization".into(), format!("Bearer {token}")));
        }
        _ => {}
    }
    let mask = |text: &str| -> String {
        let mut text = text.to_string();
        for secret in masked.iter().filter(|s| !s.is_empty()) {
            text = text.replace(secret.as_str(), "***");
        }
        text
    };
    if !crate::config::is_http_url(&url) {
        // Said without the URL: it may be the secret.
        return Err(fail(
            "url",
            "the URL is not an http:// or https:// URL".into(),
            false,
        ));
    }
    post(&url, request)
        .map(|mut d| {
            // An answer may echo the request (ntfy names the topic).
            d.first_line = mask(&d.first_line);
            d
        })
        .map_err(|mut e| {
            e.channel = channel;
            e.detail = mask(&e.detail);
            e
        })
}

/// POST `request` to `url`, classifying what went wrong.
fn post(url: &str, request: Request) -> Result<Delivered, HookError> {
    let fail = |step, detail: String, retry| HookError {
        channel: "",
        step,
        detail,
        retry,
    };
    // Redirects are not followed: ureq would send the target's headers (an API key)
    // on to wherever one points, and turn the POST into a GET.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(TIMEOUT))
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(concat!("orc/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let mut call = agent.post(url).header("Content-Type", request.content_type);
    for (name, value) in &request.headers {
        call = call.header(name.as_str(), value.as_str());
    }
    let mut response = call.send(request.body.as_bytes()).map_err(|e| {
        // What may pass (the network, a name server, a busy server) is retried;
        // what the request itself gets wrong (a header, the URL, TLS) is not.
        let (step, retry) = match &e {
            ureq::Error::HostNotFound => ("dns", true),
            ureq::Error::Timeout(_) => ("timeout", true),
            ureq::Error::Tls(_) | ureq::Error::Rustls(_) => ("tls", false),
            // ureq hands a failed name lookup over as an I/O error.
            ureq::Error::Io(io) if io.to_string().contains("lookup address") => ("dns", true),
            ureq::Error::Io(_) | ureq::Error::ConnectionFailed => ("connect", true),
            ureq::Error::BadUri(_) => ("url", false),
            _ => ("http", false),
        };
        fail(step, e.to_string(), retry)
    })?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(64 * 1024)
        .read_to_string()
        .unwrap_or_default();
    let first_line = body.lines().next().unwrap_or("").trim().to_string();
    let first_line: String = first_line.chars().take(200).collect();
    if (200..300).contains(&status) {
        return Ok(Delivered { status, first_line });
    }
    if (300..400).contains(&status) {
        return Err(fail(
            "http",
            format!(
                "HTTP {status}: a redirect, which orc does not follow (it would send the headers elsewhere); use the URL it points to"
            ),
            false,
        ));
    }
    let retry = status >= 500 || status == 408 || status == 429;
    Err(fail(
        "http",
        if first_line.is_empty() {
            format!("HTTP {status}")
        } else {
            format!("HTTP {status}: {first_line}")
        },
        retry,
    ))
}

/// The body and headers each kind of target expects.
fn request_for(hook: &Hook, facts: &Facts) -> Request {
    let json = |value: serde_json::Value| Request {
        body: value.to_string(),
        content_type: "application/json",
        headers: Vec::new(),
    };
    match hook {
        Hook::Webhook { template, .. } => match template {
            Some(t) => Request {
                body: fill(t, facts),
                content_type: "application/json",
                headers: Vec::new(),
            },
            None => json(serde_json::to_value(facts).unwrap_or_default()),
        },
        Hook::Teams { .. } => json(teams_card(facts)),
        Hook::Slack { .. } => json(slack_blocks(facts)),
        // Healthchecks keeps the body (up to 100 kB) with the ping: the log's end.
        Hook::Healthchecks { .. } => Request {
            body: ntfy_message(facts),
            content_type: "text/plain; charset=utf-8",
            headers: Vec::new(),
        },
        Hook::Ntfy { .. } => Request {
            body: ntfy_message(facts),
            content_type: "text/plain; charset=utf-8",
            // Click: where tapping the notification goes.
            headers: [facts.run_url.as_ref().or(facts.task_url.as_ref())]
                .into_iter()
                .flatten()
                .map(|url| ("Click".to_string(), header_safe(url)))
                .chain([
                    ("Title".into(), header_safe(&facts.title)),
                    (
                        "Priority".into(),
                        if facts.good() || facts.warning() {
                            "default"
                        } else {
                            "high"
                        }
                        .into(),
                    ),
                    (
                        "Tags".into(),
                        if facts.good() {
                            "white_check_mark"
                        } else if facts.warning() {
                            "warning"
                        } else {
                            "rotating_light"
                        }
                        .into(),
                    ),
                ])
                .collect(),
        },
    }
}

/// `url` with `suffix` added to its path, before any query (`...?create=1`).
fn with_path_suffix(url: &str, suffix: &str) -> String {
    let (path, query) = match url.find(['?', '#']) {
        Some(i) => url.split_at(i),
        None => (url, ""),
    };
    format!("{}{suffix}{query}", path.trim_end_matches('/'))
}

/// The Healthchecks endpoint for an event: `/start` as a run starts, none for a
/// success, the exit status (1-255) or `/fail` for anything else that ended a run,
/// and `/log` for `orc notify test` (recorded, the check's state unchanged).
fn healthchecks_suffix(facts: &Facts) -> String {
    match facts.event.as_str() {
        "start" => "/start".to_string(),
        "test" => "/log".to_string(),
        // A warning is no failure: the check stays up, and the card tells the rest.
        "success" | "recovered" | "warning" => String::new(),
        _ => match facts.exit_code {
            Some(code @ 1..=255) => format!("/{code}"),
            _ => "/fail".to_string(),
        },
    }
}

/// `template` with each `{{ name }}` replaced by that field, escaped for a JSON string
/// (the template's quotes around it are its own); unknown names stay as written.
fn fill(template: &str, facts: &Facts) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start..].find("}}") else {
            break;
        };
        let name = rest[start + 2..start + len].trim();
        out.push_str(&rest[..start]);
        match facts.field(name) {
            Some(value) => {
                let quoted = serde_json::Value::String(value).to_string();
                out.push_str(&quoted[1..quoted.len() - 1]);
            }
            None => out.push_str(&rest[start..start + len + 2]),
        }
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    out
}

/// A Teams message holding one Adaptive Card (1.4, what Teams renders), as a Workflows
/// "post to a channel when a webhook request is received" flow and the old Office 365
/// connector URLs both take it.
fn teams_card(facts: &Facts) -> serde_json::Value {
    let mut body = vec![
        serde_json::json!({
            "type": "TextBlock",
            "text": facts.title,
            "weight": "Bolder",
            "size": "Medium",
            "wrap": true,
            "color": match (facts.good(), facts.warning()) {
                (true, _) => "Good",
                (_, true) => "Warning",
                _ => "Attention",
            },
        }),
        serde_json::json!({
            "type": "FactSet",
            "facts": facts.listed().into_iter()
                .map(|(k, v)| serde_json::json!({ "title": k, "value": v }))
                .collect::<Vec<_>>(),
        }),
    ];
    if let Some(tail) = facts.log_tail.as_ref().filter(|t| !t.is_empty()) {
        body.push(serde_json::json!({
            "type": "TextBlock",
            "text": tail,
            "wrap": true,
            "fontType": "Monospace",
            "size": "Small",
        }));
    }
    let mut card = serde_json::json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    });
    let links = facts.links();
    if !links.is_empty() {
        card["actions"] = links
            .into_iter()
            .map(|(title, url)| serde_json::json!({ "type": "Action.OpenUrl", "title": title, "url": url }))
            .collect();
    }
    serde_json::json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card,
        }],
    })
}

/// A Slack message: the title as `text` (what notifications show) and Block Kit blocks.
fn slack_blocks(facts: &Facts) -> serde_json::Value {
    // Slack's mrkdwn: &, < and > are its control characters.
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let mut blocks = vec![
        serde_json::json!({
            "type": "header",
            "text": { "type": "plain_text", "text": clip(&facts.title, 150) },
        }),
        serde_json::json!({
            "type": "section",
            "fields": facts.listed().into_iter().take(10)
                .map(|(k, v)| serde_json::json!({
                    "type": "mrkdwn",
                    "text": format!("*{k}*\n{}", esc(&clip(&v, 1900))),
                }))
                .collect::<Vec<_>>(),
        }),
    ];
    if let Some(tail) = facts.log_tail.as_ref().filter(|t| !t.is_empty()) {
        blocks.push(serde_json::json!({
            "type": "section",
            "text": { "type": "mrkdwn", "text": format!("```{}```", esc(&clip_end(tail, 2900))) },
        }));
    }
    let links = facts.links();
    if !links.is_empty() {
        blocks.push(serde_json::json!({
            "type": "actions",
            "elements": links.into_iter().map(|(title, url)| serde_json::json!({
                "type": "button",
                "text": { "type": "plain_text", "text": title },
                "url": url,
            })).collect::<Vec<_>>(),
        }));
    }
    serde_json::json!({ "text": facts.title, "blocks": blocks })
}

/// ntfy's message: the text, with the last lines of the log when there are some.
fn ntfy_message(facts: &Facts) -> String {
    let mut message = facts
        .listed()
        .into_iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join("\n");
    if let Some(tail) = facts.log_tail.as_ref().filter(|t| !t.is_empty()) {
        message.push_str("\n\n");
        message.push_str(&clip_end(tail, 3000));
    }
    message
}

/// A header value: no line breaks, ASCII (ntfy reads UTF-8 titles from RFC 2047 only).
fn header_safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// The first `max` characters.
fn clip(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// The last `max` characters (a log's end is what matters).
pub(super) fn clip_end(text: &str, max: usize) -> String {
    let count = text.chars().count();
    text.chars().skip(count.saturating_sub(max)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts {
        Facts {
            event: "failure".into(),
            task: Some("nightly".into()),
            host: "srv".into(),
            status: Some("failed".into()),
            exit_code: Some(3),
            reason: Some("exit \"3\"\n<b>".into()),
            title: "[orc] nightly FAILED on srv (exit 3)".into(),
            ..Facts::default()
        }
    }

    #[test]
    fn a_template_gets_each_field_escaped_for_a_json_string() {
        let body = fill(
            r#"{"text": "{{ task }} on {{host}}: {{ reason }} ({{exit_code}}) {{ nope }}"}"#,
            &facts(),
        );
        let value: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            value["text"],
            "nightly on srv: exit \"3\"\n<b> (3) {{ nope }}"
        );
    }

    #[test]
    fn slack_escapes_its_control_characters() {
        let blocks = slack_blocks(&facts());
        let reason = blocks["blocks"][1]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["text"].as_str().unwrap().starts_with("*Reason*"))
            .unwrap();
        assert_eq!(reason["text"], "*Reason*\nexit \"3\"\n&lt;b&gt;");
    }

    #[test]
    fn a_healthchecks_suffix_goes_before_the_query() {
        assert_eq!(
            with_path_suffix("https://hc-ping.com/KEY/slug?create=1", "/fail"),
            "https://hc-ping.com/KEY/slug/fail?create=1"
        );
        assert_eq!(
            with_path_suffix("https://hc-ping.com/UUID/", "/start"),
            "https://hc-ping.com/UUID/start"
        );
        let test = Facts {
            event: "test".into(),
            ..Facts::default()
        };
        assert_eq!(healthchecks_suffix(&test), "/log");
        assert_eq!(healthchecks_suffix(&facts()), "/3");
    }

    #[test]
    fn a_header_value_holds_no_line_break() {
        assert_eq!(header_safe("a\r\nb ü"), "a??b ?");
    }
}
