//! `orc report`: how the runs of a period went, as HTML, text or JSON, to a file, the
//! terminal, or a notification group's mailboxes.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};

use super::{Global, Output};
use crate::notify::mail;
use crate::state::State;

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  orc report                                 # the last 24 hours, as text\n  orc report --format html --output report.html\n  orc report --since 7d --email ops            # mailed to [notify.ops]"
)]
pub struct ReportArgs {
    /// The period: runs started this long ago or later
    #[arg(long, default_value = "24h", value_name = "DURATION", value_parser = crate::config::parse_duration)]
    since: std::time::Duration,
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Write the report to this file instead of the terminal
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Mail the report (HTML with a text part) to this notification group
    #[arg(long, value_name = "GROUP")]
    email: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Html,
    Text,
    Json,
}

pub fn run(args: ReportArgs, global: &Global, out: &Output) -> Result<ExitCode> {
    let since = args.since;
    let state_path = crate::workspace::state_path(global.state.as_deref());
    if !state_path.exists() {
        bail!(
            "no state at {}: nothing has run yet (`orc apply` first)",
            state_path.display()
        );
    }
    let state = State::open(&state_path)?;
    let until = jiff::Timestamp::now();
    let from = until - jiff::SignedDuration::try_from(since)?;
    let host = crate::host::host_name();
    let report = crate::report::build(&state, from, until, &host)?;
    let format = args.format.unwrap_or(if out.json {
        Format::Json
    } else if args.output.as_ref().is_some_and(|p| {
        p.extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("html") || e.eq_ignore_ascii_case("htm"))
    }) {
        Format::Html
    } else {
        Format::Text
    });
    let rendered = match format {
        Format::Html => crate::report::render_html(&report),
        Format::Text => crate::report::render_text(&report),
        Format::Json => serde_json::to_string_pretty(&report)? + "\n",
    };
    if let Some(group) = &args.email {
        let settings = state.notify_settings(None)?;
        let Some(smtp) = &settings.smtp else {
            bail!("no [smtp] has been applied: `orc apply` a config with [smtp] first");
        };
        let Some(g) = settings.notify.get(group) else {
            bail!("no [notify.{group}] has been applied");
        };
        let secrets = crate::workspace::vault_reader(&state_path);
        let login = crate::notify::login(&settings, &secrets)?;
        let subject = format!(
            "[orc] report for {host}: {} runs, {} failed, {} missed",
            report.runs,
            report.problems.len(),
            report.missed.len()
        );
        mail::send(
            smtp,
            login,
            &mail::Mail {
                to: &g.email,
                subject: &subject,
                text: &crate::report::render_text(&report),
                html: &crate::report::render_html(&report),
            },
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        out.info(&format!("Mailed the report to {}.", g.email.join(", ")));
    }
    match &args.output {
        Some(file) => {
            std::fs::write(file, &rendered)
                .with_context(|| format!("cannot write {}", file.display()))?;
            out.info(&format!("Wrote the report to {}.", file.display()));
        }
        None if args.email.is_none() => print!("{rendered}"),
        None => {}
    }
    Ok(ExitCode::SUCCESS)
}
