//! The sections around the tasks: `[defaults]` and the notify groups a task names.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::*;
use crate::config::duration::{parse_duration, parse_size};
use crate::config::load::{Item, Parsed};
use crate::config::model::{Fleet, Hook, NotifyGroup, Origin, Settings, Smtp};
use crate::config::raw::{
    EnvValue, NotifyEvent, RawDefaults, RawFleet, RawNotify, RawReport, RawSettings, RawSmtp,
    SizeValue, Spanned,
};
use crate::schedule::Zone;

#[derive(Default)]
pub(super) struct TaskDefaults {
    /// From `settings.log_dir`: every task's runs log there.
    pub(super) log_dir: Option<PathBuf>,
    /// From `settings.max_log_size`.
    pub(super) max_log_size: u64,
    pub(super) timeout: Option<Duration>,
    pub(super) retry_count: Option<u32>,
    pub(super) retry_delay: Option<Duration>,
    pub(super) working_dir: Option<PathBuf>,
    pub(super) env: BTreeMap<String, EnvValue>,
    pub(super) notify: Vec<String>,
}

pub(super) fn check_groups(
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

/// `[settings]`: the folder, backend, time zone (resolved once, for every task),
/// retention and log limits.
pub(super) fn settings(c: &mut Checker, item: Option<&Item<RawSettings>>) -> (Settings, Zone) {
    let mut settings = Settings::default();
    let mut zone = None;
    if let Some(Item { file, value: s, .. }) = item {
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
        if let Some(url) = &s.dashboard_url {
            if !is_http_url(&url.value) {
                c.report(
                    *file,
                    &url.span,
                    None,
                    format!(
                        "dashboard_url \"{}\" is not an http:// or https:// URL",
                        url.value
                    ),
                );
            }
            settings.dashboard_url = Some(url.value.trim_end_matches('/').to_string());
        }
    }
    (settings, zone.unwrap_or_default())
}

/// `[notify.NAME]`: each group's addresses and the events it hears.
pub(super) fn notify_groups(c: &mut Checker, parsed: &Parsed) -> BTreeMap<String, NotifyGroup> {
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
        let hooks = hooks(c, item);
        notify.insert(
            name.clone(),
            NotifyGroup {
                email: item.value.email.iter().map(|e| e.value.clone()).collect(),
                on,
                hooks,
            },
        );
    }
    notify
}

/// A group's HTTP targets, each URL written in the file checked to be http(s) (a URL
/// from the vault is checked when it is used).
fn hooks(c: &mut Checker, item: &Item<RawNotify>) -> Vec<Hook> {
    let g = &item.value;
    let mut check_url = |url: &Spanned<EnvValue>, what: &str| {
        if let EnvValue::Plain(text) = &url.value
            && !is_http_url(text)
        {
            c.report(
                item.file,
                &url.span,
                None,
                format!("{what} url \"{text}\" is not an http:// or https:// URL"),
            );
        }
        url.value.clone()
    };
    let mut hooks = Vec::new();
    if let Some(w) = &g.webhook {
        hooks.push(Hook::Webhook {
            url: check_url(&w.value.url, "webhook"),
            headers: w.value.headers.clone(),
            template: w.value.template.clone(),
        });
    }
    if let Some(t) = &g.teams {
        hooks.push(Hook::Teams {
            url: check_url(&t.value.url, "teams"),
        });
    }
    if let Some(s) = &g.slack {
        hooks.push(Hook::Slack {
            url: check_url(&s.value.url, "slack"),
        });
    }
    if let Some(h) = &g.healthchecks {
        hooks.push(Hook::Healthchecks {
            url: check_url(&h.value.url, "healthchecks"),
        });
    }
    if let Some(n) = &g.ntfy {
        hooks.push(Hook::Ntfy {
            url: check_url(&n.value.url, "ntfy"),
            token: n.value.token.clone(),
        });
    }
    hooks
}

/// Whether `text` is an http(s) URL with a host.
pub fn is_http_url(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"));
    rest.is_some_and(|host| {
        !host.is_empty() && !host.starts_with('/') && !text.chars().any(char::is_whitespace)
    })
}

/// `[smtp]`: how mail leaves, its password only ever a secret reference.
/// `[fleet]`: the URL is postgres:// (a password in it only from the vault), the pool
/// a name.
pub(super) fn fleet(
    c: &mut Checker,
    item: Option<&Item<RawFleet>>,
    groups: &BTreeMap<String, NotifyGroup>,
) -> Option<Fleet> {
    item.map(|Item { file, value: f, .. }| {
        c.secret_ref(*file, None, &f.url);
        if let EnvValue::Plain(url) = &f.url.value {
            // user:password@host, or ?password=: the plan, the state and every error
            // would show it.
            let in_userinfo = url
                .split_once("://")
                .and_then(|(_, rest)| rest.split('?').next()?.rsplit_once('@'))
                .and_then(|(user, _)| user.split_once(':'))
                .map(|(_, password)| password);
            let in_query = url.split_once('?').and_then(|(_, query)| {
                query
                    .split('&')
                    .find_map(|pair| pair.strip_prefix("password="))
            });
            let password = in_userinfo.or(in_query).filter(|p| !p.is_empty());
            let is_postgres = url.starts_with("postgres://") || url.starts_with("postgresql://");
            let message = match password {
                Some(_) => Some("the fleet url holds a password: store the URL with `orc secret set NAME` and write url = { secret = \"NAME\" }".to_string()),
                None if !is_postgres => Some(format!("fleet url \"{url}\" is not a postgres:// or postgresql:// URL")),
                None => None,
            };
            if let Some(message) = message {
                let d = c.error(*file, &f.url.span, None, message);
                c.diags.push(d.redacted(password.unwrap_or_default()));
            }
        }
        if let Some(pool) = &f.pool
            && let Err(e) = check_name(&pool.value)
        {
            c.report(*file, &pool.span, None, format!("invalid pool: {e}"));
        }
        let lease = f.lease.as_ref().and_then(|v| c.duration(*file, None, "lease", v));
        if let (Some(lease), Some(v)) = (lease, &f.lease)
            && lease < std::time::Duration::from_secs(3)
        {
            c.report(*file, &v.span, None, "lease must be at least 3s: it is renewed every third of it");
        }
        for group in f.notify.iter().flatten() {
            if !groups.contains_key(&group.value) {
                c.report(
                    *file,
                    &group.span,
                    None,
                    format!("notify group \"{}\" is not defined ([notify.{}])", group.value, group.value),
                );
            }
        }
        Fleet {
            url: f.url.value.clone(),
            pool: f.pool.as_ref().map(|p| p.value.clone()),
            on_unavailable: f.on_unavailable,
            lease,
            notify: f.notify.iter().flatten().map(|g| g.value.clone()).collect(),
        }
    })
}

pub(super) fn smtp(c: &mut Checker, item: Option<&Item<RawSmtp>>) -> Option<Smtp> {
    item.map(|Item { file, value: s, .. }| {
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
    })
}

/// `[report]`: its group must exist and send mail.
pub(super) fn report(
    c: &mut Checker,
    item: Option<&Item<RawReport>>,
    notify: &BTreeMap<String, NotifyGroup>,
    (has_smtp, has_fleet): (bool, bool),
) {
    if let Some(Item { file, value: r, .. }) = item {
        if let Some(all) = r.all_hosts.as_ref().filter(|a| a.value && !has_fleet) {
            c.report(
                *file,
                &all.span,
                None,
                "[report] all_hosts = true reports on the fleet's runs, but there is no [fleet] section",
            );
        }
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
        } else if !has_smtp {
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
}

/// `[defaults]`: what every task has unless it says otherwise.
pub(super) fn defaults(
    c: &mut Checker,
    item: Option<&Item<RawDefaults>>,
    settings: &Settings,
    notify: &BTreeMap<String, NotifyGroup>,
) -> TaskDefaults {
    let mut defaults = TaskDefaults {
        log_dir: settings.log_dir.clone(),
        max_log_size: settings.max_log_size,
        ..TaskDefaults::default()
    };
    if let Some(Item { file, value: d, .. }) = item {
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
            defaults.notify = check_groups(c, file, None, groups, notify);
        }
    }
    defaults
}
