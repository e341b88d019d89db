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
    /// Fleet mode: the runs of every host, from the fleet database. With --email,
    /// one host of the fleet mails it per period: the others, running the same
    /// scheduled report, find its lease and send nothing
    #[arg(long)]
    all_hosts: bool,
    /// With --all-hosts --email: mail it even though another host did this period
    #[arg(long, requires = "all_hosts")]
    resend: bool,
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
    // The fleet database, for the lease of the fleet report's mail.
    let mut held: Option<(crate::fleet::Fleet, String)> = None;
    let report = if args.all_hosts {
        let Some(settings) = state.fleet_settings()? else {
            bail!(
                "no [fleet] is applied to {}: --all-hosts reads the fleet database (see Fleet mode)",
                state_path.display()
            );
        };
        let mut fleet =
            crate::ops::fleet::connect(&settings, &state_path, std::time::Duration::from_secs(10))?;
        let runs = fleet.runs(&crate::fleet::RunQuery {
            since: Some(crate::state::timestamp(from)),
            limit: i64::MAX,
            ..Default::default()
        })?;
        let hosts = fleet.hosts()?.len();
        let seen = format!("the fleet ({hosts} hosts, seen from {host})");
        let runs = runs
            .iter()
            .filter_map(crate::ops::fleet::run_record)
            .collect();
        if let (Some(group), false) = (&args.email, args.resend) {
            // One lease per group and period: a weekly report is not a daily one.
            held = Some((fleet, format!("report:{group}:{}s", since.as_secs())));
        }
        crate::report::summarise(runs, (from, until), &seen, None)
    } else {
        crate::report::build(&state, from, until, &host)?
    };
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
            "[orc] report for {}: {} runs, {} failed, {} missed",
            report.host,
            report.runs,
            report.problems.len(),
            report.missed.len()
        );
        if let Some((fleet, name)) = held.as_mut() {
            // The fleet-wide singleton: of the hosts mailing this period's report,
            // the first takes the lease; it holds for half the period.
            let lease = std::time::Duration::from_secs((since.as_secs() / 2).max(60));
            if let crate::fleet::Lease::Theirs(holder) = fleet.take_lease(name, &host, lease)? {
                out.info(&format!(
                    "{holder} mails the fleet's report to [notify.{group}] for this period; not sent again from here (--resend sends it)."
                ));
                return Ok(ExitCode::SUCCESS);
            }
        }
        let sent = mail::send(
            smtp,
            login,
            &mail::Mail {
                to: &g.email,
                subject: &subject,
                text: &crate::report::render_text(&report),
                html: &crate::report::render_html(&report),
            },
        );
        if let Err(e) = sent {
            // Given up, so that another host's report goes.
            if let Some((mut fleet, name)) = held.take() {
                let _ = fleet.release_lease(&name, &host);
            }
            bail!("{e}");
        }
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
