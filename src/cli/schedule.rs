//! `orc schedule next|explain`: try a schedule before putting it in tasks.toml.

use std::process::ExitCode;

use anyhow::{Context, anyhow};
use clap::{Args, Subcommand};
use jiff::{Timestamp, ZonedDateTime};
use serde_json::json;

use super::Output;
use crate::schedule::{self, Schedule, resolve_zone};

#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// Print the next fire times of EXPR, strictly after --from
    #[command(
        after_help = "Examples:\n  orc schedule next \"*/15 9-17 * * MON-FRI\" --count 10\n  orc schedule next \"30 2 * * *\" --from 2027-03-27T12:00:00Z \\\n      --tz Europe/Berlin --json"
    )]
    Next(NextArgs),
    /// Say EXPR in words, with its next 5 fire times
    Explain(ExplainArgs),
}

#[derive(Debug, Args)]
pub struct When {
    /// Start after this instant (RFC 3339, e.g. 2026-03-08T00:00:00-05:00); default now
    #[arg(long, value_name = "RFC3339")]
    pub from: Option<String>,
    /// Time zone: "local" or an IANA name such as Europe/Berlin
    #[arg(long, value_name = "TZ", default_value = "local")]
    pub tz: String,
}

#[derive(Debug, Args)]
pub struct NextArgs {
    /// Cron ("0 6 * * 1-5"), a macro ("@daily") or a shorthand ("06:00", "MON 08:00")
    pub expr: String,
    /// How many fire times to print
    #[arg(long, short = 'n', default_value_t = 5)]
    pub count: usize,
    #[command(flatten)]
    pub when: When,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    pub expr: String,
    #[command(flatten)]
    pub when: When,
}

pub fn run(cmd: ScheduleCommand, out: &Output) -> anyhow::Result<ExitCode> {
    match cmd {
        ScheduleCommand::Next(args) => {
            let (schedule, times) = compute(&args.expr, &args.when, args.count)?;
            if out.json {
                out.print_json(&json!(times.iter().map(rfc3339).collect::<Vec<_>>()));
            } else if schedule.cron().is_none() {
                println!(
                    "{} runs at system startup, never on the clock",
                    schedule.source()
                );
            } else {
                for t in &times {
                    println!("{}  {}", rfc3339(t), t.strftime("%a"));
                }
            }
        }
        ScheduleCommand::Explain(args) => {
            let (schedule, times) = compute(&args.expr, &args.when, 5)?;
            let zone = zone_label(&args.when.tz);
            if out.json {
                out.print_json(&json!({
                    "expression": schedule.source(),
                    "description": schedule.explain(),
                    "fixed_time": schedule.cron().is_some_and(|c| c.is_fixed_time()),
                    "time_zone": zone,
                    "next": times.iter().map(rfc3339).collect::<Vec<_>>(),
                }));
            } else {
                println!("{}", schedule.explain());
                if !times.is_empty() {
                    println!("\nNext {} times ({zone}):", times.len());
                    for t in &times {
                        println!("  {}  {}", rfc3339(t), t.strftime("%a"));
                    }
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn zone_label(tz: &str) -> String {
    match tz {
        "local" | "" => jiff::tz::TimeZone::system()
            .iana_name()
            .map_or_else(|| "local time".to_string(), |n| format!("local time, {n}")),
        other => other.to_string(),
    }
}

fn compute(
    expr: &str,
    when: &When,
    count: usize,
) -> anyhow::Result<(Schedule, Vec<ZonedDateTime>)> {
    let schedule = schedule::parse(expr).map_err(|e| anyhow!("invalid schedule: {e}"))?;
    let tz = resolve_zone(&when.tz)?;
    let from = match &when.from {
        Some(text) => text.parse::<Timestamp>().with_context(|| {
            format!("--from \"{text}\" is not an RFC 3339 timestamp like 2026-03-08T01:30:00-05:00")
        })?,
        None => Timestamp::now(),
    };
    let times = schedule.upcoming(&tz, from, count);
    Ok((schedule, times))
}

/// RFC 3339 with the local UTC offset, seconds always shown.
pub fn rfc3339(t: &ZonedDateTime) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
}
