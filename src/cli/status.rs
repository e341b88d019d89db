//! `orc status`: the tasks orc applied, when they run next, how they last ran.

use std::process::ExitCode;

use serde_json::json;

use super::{Global, Output};
use crate::state::State;

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Every host of the fleet: each host's last contact (late when silent over 2
    /// minutes) and each task's last run there, from the fleet database ([fleet])
    #[arg(long)]
    pub all_hosts: bool,
}

pub fn run(args: &StatusArgs, global: &Global, out: &Output) -> anyhow::Result<ExitCode> {
    if args.all_hosts {
        return fleet_status(global, out);
    }
    let path = global
        .state
        .clone()
        .unwrap_or_else(crate::state::default_path);
    if !path.exists() {
        if out.json {
            out.print_json(&json!([]));
        } else {
            out.info(&format!(
                "No tasks applied yet ({} does not exist). Run `orc apply`.",
                path.display()
            ));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let state = State::open(&path)?;
    // Runs whose orc was killed say so before they are shown.
    crate::exec::recover_abandoned(&state, &crate::host::host_name());
    let rows = crate::ops::status::tasks(&state)?;
    if out.json {
        out.print_json(&json!(rows));
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        out.info("No tasks applied yet. Run `orc apply`.");
        return Ok(ExitCode::SUCCESS);
    }
    let mut headers = vec![
        "NAME",
        "TYPE",
        "SCHEDULE",
        "ENABLED",
        "NEXT RUN",
        "LAST RESULT",
        "LAST DURATION",
    ];
    let yes_no = |b: bool| if b { "yes" } else { "no" }.to_string();
    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_string());
    let mut table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let duration = r
                .last_duration_ms
                .map(|ms| format!("{:.1}s", ms as f64 / 1000.0));
            vec![
                r.name.clone(),
                r.kind.as_str().to_string(),
                or_dash(&r.schedule),
                yes_no(r.enabled),
                or_dash(&r.next_run),
                or_dash(&r.last_result.map(|s| s.to_string())),
                or_dash(&duration),
            ]
        })
        .collect();
    // The folder is a column only where configs of more than one folder share the state.
    let folders = crate::ops::status::folder_count(&state)?;
    if folders > 1 {
        headers.insert(0, "FOLDER");
        for (cells, r) in table.iter_mut().zip(&rows) {
            cells.insert(0, r.folder.clone());
        }
    }
    // And the backend, where one folder is on two backends.
    if state.scopes()?.len() > folders {
        headers.insert(0, "BACKEND");
        for (cells, r) in table.iter_mut().zip(&rows) {
            cells.insert(0, r.backend.clone());
        }
    }
    let widths: Vec<usize> = (0..headers.len())
        .map(|i| {
            table
                .iter()
                .map(|row| row[i].chars().count())
                .chain([headers[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let headers: Vec<String> = headers.into_iter().map(String::from).collect();
    println!("{}", out.paint("1", &line(&headers)));
    for row in &table {
        println!("{}", line(row));
    }
    let mail = state.mail_summary()?;
    // (`orc status --all-hosts` shows the fleet.)
    if mail.waiting + mail.given_up > 0 {
        let mut text = format!(
            "\nAlerts (mail and HTTP targets): {} sent, {} waiting to be retried, {} given up",
            mail.sent, mail.waiting, mail.given_up
        );
        if let Some(e) = &mail.last_error {
            text.push_str(&format!(
                "\n  last error: {e}\n  `orc notify flush` retries now"
            ));
        }
        println!("{}", out.paint("33", &text));
    }
    Ok(ExitCode::SUCCESS)
}

/// `orc status --all-hosts`: the fleet's hosts and every task's last run on each.
fn fleet_status(global: &Global, out: &Output) -> anyhow::Result<ExitCode> {
    let state_path = crate::workspace::state_path(global.state.as_deref());
    let settings = if state_path.exists() {
        State::open(&state_path)?.fleet_settings()?
    } else {
        None
    };
    let Some(settings) = settings else {
        anyhow::bail!(
            "no [fleet] is applied to {}: --all-hosts reads the fleet database (see Fleet mode)",
            state_path.display()
        );
    };
    let mut fleet =
        crate::ops::fleet::connect(&settings, &state_path, std::time::Duration::from_secs(10))?;
    let hosts = fleet.hosts()?;
    let runs = fleet.latest_runs(None)?;
    let late = |silent: i64| silent > crate::fleet::LATE_AFTER_SECS;
    if out.json {
        let hosts: Vec<_> = hosts
            .iter()
            .map(|h| {
                let mut v = json!(h);
                v["late"] = json!(late(h.silent_secs));
                v
            })
            .collect();
        out.print_json(&json!({ "hosts": hosts, "tasks": runs }));
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{}",
        out.paint(
            "1",
            &format!(
                "{:<20}  {:<12}  {:<21}  SILENT",
                "HOST", "POOL", "LAST CONTACT"
            )
        )
    );
    for h in &hosts {
        let silent = crate::config::format_duration(std::time::Duration::from_secs(
            h.silent_secs.max(0) as u64,
        ));
        let silent = if late(h.silent_secs) {
            out.paint("33", &format!("{silent} (late)"))
        } else {
            silent
        };
        println!(
            "{:<20}  {:<12}  {:<21}  {silent}",
            h.host,
            h.pool.as_deref().unwrap_or("-"),
            h.last_contact
        );
    }
    println!();
    println!(
        "{}",
        out.paint(
            "1",
            &format!(
                "{:<20}  {:<24}  {:<11}  {:<24}  {:>9}",
                "HOST", "TASK", "LAST RESULT", "STARTED", "DURATION"
            )
        )
    );
    for r in &runs {
        let duration = crate::cli::output::run_duration(r.duration_ms);
        println!(
            "{:<20}  {:<24}  {:<11}  {:<24}  {:>9}",
            r.host, r.task, r.status, r.started_at, duration
        );
    }
    Ok(ExitCode::SUCCESS)
}
