//! `orc notify test GROUP`: send a test alert to each target and say what failed; `orc notify flush`:
//! send the alerts waiting for a retry now.

use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Subcommand;

use super::{Global, Output};
use crate::config::NotifySettings;
use crate::notify::mail;

#[derive(Debug, Subcommand)]
pub enum NotifyCommand {
    /// Send a test alert to every target of a notification group: its mail (through
    /// [smtp]) and its webhook, teams, slack and ntfy targets
    #[command(
        after_help = "Each target gets a line: what was sent, or which step failed: DNS (the \
server name), connection, TLS, timeout, authentication or a rejected recipient (mail), or \
the HTTP status with the first line of the answer. Secrets the group names come from this \
server's vault and are never printed. Exits 1 when any target failed.\n\nExample: orc \
notify test ops"
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
    // Fleet mode: claims whose host died mid-run, alerted once across the pool (and
    // run again here with on_host_failure = "rerun"). The database away is a warning:
    // the local check above stands.
    let mut fleet_error = None;
    let crate::ops::fleet::Sweep {
        lost,
        pool: swept,
        sent,
    } = crate::ops::fleet::sweep(&state, &host).unwrap_or_else(|e| {
        tracing::warn!("the fleet's claims were not checked: {e}");
        eprintln!("warning: the fleet's claims were not checked: {e}");
        fleet_error = Some(e.to_string());
        Default::default()
    });
    let secrets = crate::workspace::vault_reader(&state_path);
    if let Err(e) = crate::notify::deliver(&state, &secrets, false) {
        tracing::warn!("sending alerts failed: {e:#}");
    }
    if out.json {
        let mut fleet = serde_json::to_value(&swept)?;
        fleet["sent"] = sent.into();
        fleet["error"] = fleet_error.into();
        out.print_json(&serde_json::json!({ "missed": found, "lost": lost, "fleet": fleet }));
        return Ok(ExitCode::SUCCESS);
    }
    for m in &swept.unclaimed {
        println!(
            "{}: no host of the pool claimed {} fire(s), {} to {}",
            m.task, m.count, m.first, m.last
        );
    }
    for h in &swept.silent {
        println!("{h}: silent for over {} s", crate::fleet::LATE_AFTER_SECS);
    }
    for l in &lost {
        println!(
            "{}: {} died running the fire at {}{}",
            l.claim.task,
            l.claim.holder,
            l.claim.scheduled_for,
            if l.rerun {
                "; running it again here"
            } else {
                ""
            }
        );
    }
    if found.is_empty() {
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

/// Send the test mail of `[notify.GROUP]`: what was sent, or which step failed.
fn test_mail(
    config: &crate::config::Config,
    g: &crate::config::NotifyGroup,
    group: &str,
    host: &str,
    secrets: &crate::secrets::SecretReader,
) -> std::result::Result<String, String> {
    let Some(smtp) = &config.smtp else {
        return Err("no [smtp] section: orc does not know which mail server to use".into());
    };
    let settings = NotifySettings {
        smtp: Some(smtp.clone()),
        ..config.notify_settings()
    };
    let login = crate::notify::login(&settings, secrets).map_err(|e| e.to_string())?;
    let text =
        format!("This is a test from orc on {host}: mail to the group \"{group}\" arrives.\n");
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
    mail::send(
        smtp,
        login,
        &mail::Mail {
            to: &g.email,
            subject: &subject,
            text: &text,
            html: &html,
        },
    )?;
    Ok(format!(
        "Sent a test mail to {} through {}:{}.",
        g.email.join(", "),
        smtp.server,
        smtp.port
    ))
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
            if g.email.is_empty() && g.hooks.is_empty() {
                bail!(
                    "[notify.{group}] has no email addresses and no webhook, teams, slack, ntfy or healthchecks target"
                );
            }
            let host = crate::host::host_name();
            // (target, what happened); every target is tried, whatever the others did.
            let mut results: Vec<(String, Result<String, String>)> = Vec::new();
            if !g.email.is_empty() {
                results.push((
                    "email".to_string(),
                    test_mail(&config, g, &group, &host, &secrets),
                ));
            }
            let title = format!("[orc] test alert from {host} to {group}");
            let facts = crate::notify::hooks::Facts {
                event: "test".to_string(),
                host: host.clone(),
                text: format!(
                    "This is a test from orc on {host}: alerts to the group \"{group}\" arrive."
                ),
                reason: Some(format!("a test of [notify.{group}]")),
                title,
                ..Default::default()
            };
            for hook in &g.hooks {
                let result = crate::notify::hooks::send(hook, &facts, &secrets)
                    .map(|d| {
                        if d.first_line.is_empty() {
                            format!("delivered (HTTP {})", d.status)
                        } else {
                            format!("delivered (HTTP {}: {})", d.status, d.first_line)
                        }
                    })
                    .map_err(|e| format!("{}: {}", e.step, e.detail));
                results.push((hook.channel().to_string(), result));
            }
            let failed = results.iter().filter(|(_, r)| r.is_err()).count();
            if out.json {
                out.print_json(&serde_json::json!({
                    "group": group,
                    "targets": results.iter().map(|(target, r)| serde_json::json!({
                        "target": target,
                        "ok": r.is_ok(),
                        "detail": match r { Ok(d) | Err(d) => d },
                    })).collect::<Vec<_>>(),
                }));
            } else {
                for (target, r) in &results {
                    match r {
                        Ok(d) => println!("{target}: {d}"),
                        Err(e) => eprintln!("{target}: FAILED: {e}"),
                    }
                }
            }
            Ok(if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
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
