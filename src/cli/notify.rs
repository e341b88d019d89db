//! `orc notify test GROUP`: send a test mail and say what failed; `orc notify flush`:
//! send the alerts waiting for a retry now.

use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Subcommand;

use super::{Global, Output};
use crate::config::NotifySettings;
use crate::notify::mail;

#[derive(Debug, Subcommand)]
pub enum NotifyCommand {
    /// Send a test mail to a notification group, through [smtp] of tasks.toml
    #[command(
        after_help = "On failure it says which step failed: DNS (the server name), \
connection, TLS, authentication, or a rejected recipient. Secrets named in [smtp] come \
from this server's vault.\n\nExample: orc notify test ops"
    )]
    Test { group: String },
    /// Send the alerts that wait for a retry now
    Flush,
}

/// `orc check-missed`: fires with no run, recorded and alerted once.
pub fn check_missed(global: &Global, out: &Output) -> Result<ExitCode> {
    let state_path = crate::workspace::state_path(global.state.as_deref());
    if !state_path.exists() {
        out.info("No tasks applied yet.");
        return Ok(ExitCode::SUCCESS);
    }
    let state = crate::state::State::open(&state_path)?;
    let host = crate::host::host_name();
    let found = crate::notify::missed::check(&state, jiff::Timestamp::now(), &host)?;
    let secrets = crate::workspace::vault_reader(&state_path);
    if let Err(e) = crate::notify::deliver(&state, &secrets, false) {
        tracing::warn!("sending alerts failed: {e:#}");
    }
    if out.json {
        out.print_json(&serde_json::json!({ "missed": found }));
    } else if found.is_empty() {
        out.info("No missed runs.");
    } else {
        for m in &found {
            println!(
                "{}: {} missed fire{} ({} to {})",
                m.task,
                m.count,
                if m.count == 1 { "" } else { "s" },
                m.first,
                m.last
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run(cmd: NotifyCommand, global: &Global, out: &Output) -> Result<ExitCode> {
    let state_path = crate::workspace::state_path(global.state.as_deref());
    let secrets = crate::workspace::vault_reader(&state_path);
    match cmd {
        NotifyCommand::Test { group } => {
            let loaded = match crate::config::load(&global.config_path()) {
                Ok(loaded) => loaded,
                Err(diags) => {
                    super::validate::print_diagnostics(&diags.0, out);
                    return Ok(ExitCode::FAILURE);
                }
            };
            let config = loaded.config;
            let Some(g) = config.notify.get(&group) else {
                let known: Vec<&str> = config.notify.keys().map(String::as_str).collect();
                bail!(
                    "no [notify.{group}] in {}; groups: {}",
                    global.config_path().display(),
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                );
            };
            let Some(smtp) = &config.smtp else {
                bail!("no [smtp] section: orc does not know which mail server to use");
            };
            if g.email.is_empty() {
                bail!("[notify.{group}] has no email addresses");
            }
            let settings = NotifySettings {
                smtp: Some(smtp.clone()),
                notify: config.notify.clone(),
            };
            let login = crate::notify::login(&settings, &secrets)?;
            let host = crate::host::host_name();
            let text = format!(
                "This is a test from orc on {host}: mail to the group \"{group}\" arrives.\n"
            );
            let html = maud::html! {
                (maud::DOCTYPE)
                html {
                    body {
                        p { "This is a test from orc on " b { (host) } ": mail to the group " b { (group) } " arrives." }
                    }
                }
            }
            .into_string();
            let subject = format!("[orc] test mail from {host} to {group}");
            match mail::send(
                smtp,
                login,
                &mail::Mail {
                    to: &g.email,
                    subject: &subject,
                    text: &text,
                    html: &html,
                },
            ) {
                Ok(()) => {
                    out.info(&format!(
                        "Sent a test mail to {} through {}:{}.",
                        g.email.join(", "),
                        smtp.server,
                        smtp.port
                    ));
                    Ok(ExitCode::SUCCESS)
                }
                Err(why) => bail!("{why}"),
            }
        }
        NotifyCommand::Flush => {
            let state = crate::state::State::open(&state_path)?;
            let (sent, failed) = crate::notify::deliver(&state, &secrets, true)?;
            out.info(&format!(
                "Sent {sent} waiting mail(s); {failed} failed again."
            ));
            Ok(if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}
