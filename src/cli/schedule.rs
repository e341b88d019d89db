//! `orc schedule next|explain`: try a schedule before putting it in tasks.toml.

use std::process::ExitCode;

use anyhow::{Context, anyhow};
use clap::{Args, Subcommand};
use jiff::{Timestamp, ZonedDateTime};
use serde_json::json;

use super::{Global, Output};
use crate::config::{Task, Verdict};
use crate::schedule::{self, Schedule, resolve_zone};

#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// Print the next fire times of EXPR (or of a task), strictly after --from
    #[command(
        after_help = "With --task NAME, the task of the config (--config) is read: its schedule in its \
time zone, with its calendars (skip_on, only_on) and blackout windows applied. The fires it \
skips are listed too, each with why, and a fire deferred to a window's end says when it runs; \
--count counts the fires that run.\n\nExamples:\n  orc schedule next \"*/15 9-17 * * MON-FRI\" --count 10\n  orc schedule next \"30 2 * * *\" --from 2027-03-27T12:00:00Z \\\n      --tz Europe/Berlin --json\n  orc schedule next --task nightly_export --from 2026-12-23T00:00:00Z"
    )]
    Next(NextArgs),
    /// Say EXPR (or a task's schedule) in words, with its next 5 fire times
    Explain(ExplainArgs),
}

#[derive(Debug, Args)]
pub struct When {
    /// Start after this instant (RFC 3339, e.g. 2026-03-08T00:00:00-05:00); default now
    #[arg(long, value_name = "RFC3339")]
    pub from: Option<String>,
    /// Time zone: "local" or an IANA name such as Europe/Berlin [default: local, or
    /// the task's]
    #[arg(long, value_name = "TZ")]
    pub tz: Option<String>,
}

#[derive(Debug, Args)]
pub struct NextArgs {
    /// Cron ("0 6 * * 1-5"), a macro ("@daily") or a shorthand ("06:00", "MON 08:00")
    #[arg(required_unless_present = "task")]
    pub expr: Option<String>,
    /// A task of the config instead of EXPR: its zone, calendars and blackouts apply
    #[arg(long, value_name = "NAME", conflicts_with = "expr")]
    pub task: Option<String>,
    /// How many fire times to print (1 to 10000)
    #[arg(long, short = 'n', default_value_t = 5,
          value_parser = clap::value_parser!(u16).range(1..=10_000))]
    pub count: u16,
    #[command(flatten)]
    pub when: When,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    #[arg(required_unless_present = "task")]
    pub expr: Option<String>,
    /// A task of the config instead of EXPR
    #[arg(long, value_name = "NAME", conflicts_with = "expr")]
    pub task: Option<String>,
    #[command(flatten)]
    pub when: When,
}

pub fn run(cmd: ScheduleCommand, global: &Global, out: &Output) -> anyhow::Result<ExitCode> {
    match cmd {
        ScheduleCommand::Next(args) => {
            if let Some(name) = &args.task {
                let task = config_task(global, name)?;
                let fires = task_fires(&task, &args.when, usize::from(args.count))?;
                print_fires(&task, &fires, out);
                return Ok(ExitCode::SUCCESS);
            }
            let expr = args.expr.as_deref().unwrap_or_default();
            let (schedule, times) = compute(expr, &args.when, usize::from(args.count))?;
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
            let task = args
                .task
                .as_deref()
                .map(|name| config_task(global, name))
                .transpose()?;
            let when = When {
                from: args.when.from.clone(),
                tz: args
                    .when
                    .tz
                    .clone()
                    .or_else(|| task.as_ref().map(|t| t.timezone.name().to_string())),
            };
            let expr = match &task {
                Some(t) => t
                    .schedule
                    .as_ref()
                    .map(|s| s.source().to_string())
                    .ok_or_else(|| no_schedule(t))?,
                None => args.expr.clone().unwrap_or_default(),
            };
            let (schedule, times) = compute(&expr, &when, 5)?;
            let zone = zone_label(when.tz.as_deref().unwrap_or("local"));
            let fires = match &task {
                Some(t) => Some(task_fires(t, &when, 5)?),
                None => None,
            };
            let rules = task.as_ref().map(day_rules).unwrap_or_default();
            if out.json {
                let mut doc = json!({
                    "expression": schedule.source(),
                    "description": schedule.explain(),
                    "fixed_time": schedule.cron().is_some_and(|c| c.is_fixed_time()),
                    "time_zone": zone,
                    "next": times.iter().map(rfc3339).collect::<Vec<_>>(),
                });
                if let (Some(t), Some(fires)) = (&task, &fires) {
                    doc["task"] = json!(t.name);
                    doc["rules"] = json!(rules);
                    doc["fires"] = fires_json(fires);
                    // What runs: the next five fires after the calendars had their say.
                    doc["next"] = json!(
                        fires
                            .iter()
                            .filter(|f| f.runs())
                            .map(|f| rfc3339(&f.at))
                            .collect::<Vec<_>>()
                    );
                }
                out.print_json(&doc);
            } else {
                println!("{}", schedule.explain());
                for rule in &rules {
                    println!("{rule}");
                }
                match (&task, &fires) {
                    (Some(t), Some(fires)) => {
                        println!("\nNext fires ({zone}):");
                        print_fires(t, fires, out);
                    }
                    _ if !times.is_empty() => {
                        println!("\nNext {} times ({zone}):", times.len());
                        for t in &times {
                            println!("  {}  {}", rfc3339(t), t.strftime("%a"));
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Task `name` of the config `--config` names, validated (errors are printed).
fn config_task(global: &Global, name: &str) -> anyhow::Result<Task> {
    let path = global.config_path();
    let loaded = match crate::config::load(&path) {
        Ok(loaded) => loaded,
        Err(diagnostics) => {
            for d in &diagnostics.0 {
                eprintln!("{}", d.render(false));
            }
            anyhow::bail!("{} does not validate; fix it first", path.display());
        }
    };
    let mut tasks = loaded.config.tasks;
    let known: Vec<String> = tasks.keys().cloned().collect();
    tasks.remove(name).ok_or_else(|| {
        anyhow!(
            "no task \"{name}\" in {}; its tasks are {}",
            path.display(),
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        )
    })
}

/// What starts a task without a schedule.
fn no_schedule(task: &Task) -> anyhow::Error {
    if task.after.is_empty() {
        anyhow!(
            "task \"{}\" has no schedule: it runs when started (orc run, the API, the dashboard, or another task's on_success or on_failure)",
            task.name
        )
    } else {
        anyhow!(
            "task \"{}\" has no schedule of its own: it runs for a fire once {} succeeded for it (after)",
            task.name,
            task.after.join(", ")
        )
    }
}

/// One fire of a task, and what its calendars make of it.
struct Fire {
    at: ZonedDateTime,
    verdict: Verdict,
}

impl Fire {
    fn runs(&self) -> bool {
        !matches!(self.verdict, Verdict::Skip(_))
    }
}

/// The task's next fires after `--from` until `count` of them run (and at most a
/// few thousand looked at: a calendar that skips every day must not loop for ever).
fn task_fires(task: &Task, when: &When, count: usize) -> anyhow::Result<Vec<Fire>> {
    let Some(schedule) = &task.schedule else {
        return Err(no_schedule(task));
    };
    let zone = match &when.tz {
        Some(tz) => resolve_zone(tz)?,
        None => task.timezone.tz().clone(),
    };
    let tz = task.timezone.tz();
    let mut at = from(when)?;
    let mut fires = Vec::new();
    let mut running = 0;
    for _ in 0..crate::config::LOOK_AHEAD {
        if running == count {
            return Ok(fires);
        }
        let Some(next) = schedule.next_after(tz, at) else {
            return Ok(fires);
        };
        at = next.timestamp();
        let verdict = task.verdict(at);
        // A day the calendars skip is one line, whatever its fires.
        if task.day_skip(tz.to_datetime(at).date()).is_some() {
            at = task.end_of_day(at).unwrap_or(at);
        }
        let fire = Fire {
            at: next.timestamp().to_zoned_datetime(zone.clone()),
            verdict,
        };
        running += usize::from(fire.runs());
        fires.push(fire);
    }
    if running < count {
        eprintln!(
            "Looked {} fires and skipped days ahead and stopped: {} of the {count} fires asked for run in them.",
            crate::config::LOOK_AHEAD,
            running
        );
    }
    Ok(fires)
}

fn print_fires(task: &Task, fires: &[Fire], out: &Output) {
    if out.json {
        out.print_json(&fires_json(fires));
        return;
    }
    if fires.is_empty() {
        println!("{} has no fire to come in what was asked", task.name);
    }
    let mut i = 0;
    while i < fires.len() {
        let f = &fires[i];
        let when = format!("{}  {}", rfc3339(&f.at), f.at.strftime("%a"));
        i += 1;
        match &f.verdict {
            Verdict::Run => println!("  {when}"),
            Verdict::Skip(why) => {
                // Fires skipped one after the other for the same reason (a window's)
                // are one line.
                let same = fires[i..]
                    .iter()
                    .take_while(|g| matches!(&g.verdict, Verdict::Skip(w) if w == why))
                    .count();
                if same == 0 {
                    println!("  {when}  skipped: {why}");
                } else {
                    let last = &fires[i + same - 1];
                    println!(
                        "  {when}  to {}  {} fires skipped: {why}",
                        rfc3339(&last.at),
                        same + 1
                    );
                    i += same;
                }
            }
            Verdict::Defer { until, .. } => println!(
                "  {when}  deferred: runs at {} (the end of its blackout window)",
                rfc3339(&until.to_zoned_datetime(f.at.time_zone().clone()))
            ),
        }
    }
}

fn fires_json(fires: &[Fire]) -> serde_json::Value {
    json!(
        fires
            .iter()
            .map(|f| {
                let mut fire = json!({ "at": rfc3339(&f.at), "runs": f.runs() });
                match &f.verdict {
                    Verdict::Run => {}
                    Verdict::Skip(why) => fire["skipped"] = json!(why),
                    Verdict::Defer { until, reason } => {
                        fire["deferred_to"] =
                            json!(rfc3339(&until.to_zoned_datetime(f.at.time_zone().clone())));
                        fire["reason"] = json!(reason);
                    }
                }
                fire
            })
            .collect::<Vec<_>>()
    )
}

/// The task's calendars and windows, in words.
fn day_rules(task: &Task) -> Vec<String> {
    let names = |cals: &[crate::config::Calendar]| {
        cals.iter()
            .map(|c| format!("\"{}\"", c.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut rules = Vec::new();
    if !task.skip_on.is_empty() {
        rules.push(format!("Skipped on the days of {}", names(&task.skip_on)));
    }
    if !task.only_on.is_empty() {
        rules.push(format!("Only on the days of {}", names(&task.only_on)));
    }
    for b in &task.blackout {
        let what = match task.blackout_policy {
            crate::config::BlackoutPolicy::Skip => "fires there are skipped",
            crate::config::BlackoutPolicy::Defer => {
                "its first fire runs at its end, the others are skipped"
            }
        };
        rules.push(format!("Not from {} to {}: {what}", b.from, b.to));
    }
    let list = |names: &[String]| names.join(", ");
    if !task.on_success.is_empty() {
        rules.push(format!(
            "On success (or a warning) starts {}",
            list(&task.on_success)
        ));
    }
    if !task.on_failure.is_empty() {
        rules.push(format!("On failure starts {}", list(&task.on_failure)));
    }
    if !rules.is_empty() || task.timezone.name() != "local" {
        rules.push(format!("In time zone {}", task.timezone.name()));
    }
    rules
}

fn zone_label(tz: &str) -> String {
    match tz {
        "local" | "" => jiff::tz::TimeZone::system()
            .iana_name()
            .map_or_else(|| "local time".to_string(), |n| format!("local time, {n}")),
        other => other.to_string(),
    }
}

fn from(when: &When) -> anyhow::Result<Timestamp> {
    Ok(match &when.from {
        Some(text) => text.parse::<Timestamp>().with_context(|| {
            format!("--from \"{text}\" is not an RFC 3339 timestamp like 2026-03-08T01:30:00-05:00")
        })?,
        None => Timestamp::now(),
    })
}

fn compute(
    expr: &str,
    when: &When,
    count: usize,
) -> anyhow::Result<(Schedule, Vec<ZonedDateTime>)> {
    let schedule = schedule::parse(expr).map_err(|e| anyhow!("invalid schedule: {e}"))?;
    let tz = resolve_zone(when.tz.as_deref().unwrap_or("local"))?;
    let times = schedule.upcoming(&tz, from(when)?, count);
    Ok((schedule, times))
}

/// RFC 3339 with the local UTC offset, seconds always shown.
pub fn rfc3339(t: &ZonedDateTime) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
}
