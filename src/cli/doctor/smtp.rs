//! The mail check: the `[smtp]` server answers and accepts the login (nothing is sent).

use super::vault::passphrase_from_env;
use super::*;
use crate::config;

pub(super) fn check_smtp(setup: &Setup, state: Option<&State>, vault_opens: Option<bool>) -> Check {
    const NAME: &str = "smtp";
    // The config's [smtp]; without a config that loads, the one last applied.
    let settings = match &setup.config {
        Some(c) => c.notify_settings(),
        None => match state.map(|s| s.notify_settings(None)) {
            Some(Ok(applied)) => applied,
            _ => return Check::skip(NAME, "the config does not load (see config)"),
        },
    };
    let Some(smtp) = settings.smtp.clone() else {
        return Check::skip(NAME, "no [smtp] in the config: alert mail is off");
    };
    let uses_vault = [&smtp.username, &smtp.password]
        .iter()
        .any(|v| matches!(v, Some(config::EnvValue::Secret { .. })));
    if uses_vault && vault_opens == Some(false) {
        return Check::skip(
            NAME,
            "its login is in the vault, which did not open (see vault)",
        );
    }
    let state_path = setup.state_path.clone();
    let reader = crate::workspace::vault_reader_with(&state_path, passphrase_from_env);
    let login = match crate::notify::login(&settings, &reader) {
        Ok(login) => login,
        Err(e) => {
            return Check::fail(
                NAME,
                format!("cannot read the login: {e}"),
                "store it with `orc secret set NAME` (the name [smtp] gives)",
            );
        }
    };
    let place = format!(
        "{}:{} (tls = {})",
        smtp.server,
        smtp.port,
        tls_name(smtp.tls)
    );
    let logs_in = login.is_some();
    match crate::notify::mail::check(&smtp, login) {
        Ok(()) => Check::ok(
            NAME,
            if logs_in {
                format!("{place} answers and accepts the login")
            } else {
                format!("{place} answers (no login configured)")
            },
        ),
        Err(why) => {
            let fix = if why.starts_with("DNS") {
                "check [smtp] server: the name must resolve from this machine"
            } else if why.starts_with("connection") {
                "check that the mail server runs and [smtp] server and port are right (a firewall between?)"
            } else if why.starts_with("TLS") {
                "check [smtp] tls against the port: \"starttls\" for 587, \"tls\" for 465, \"none\" only on a trusted network"
            } else if why.starts_with("authentication") {
                "check the login: `orc secret set NAME` for the username and password [smtp] names"
            } else {
                "try `orc notify test GROUP` for the whole path of a mail"
            };
            Check::fail(NAME, why, fix)
        }
    }
}

fn tls_name(tls: config::TlsMode) -> &'static str {
    match tls {
        config::TlsMode::None => "none",
        config::TlsMode::Starttls => "starttls",
        config::TlsMode::Tls => "tls",
    }
}
