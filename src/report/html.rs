//! The report as one self-contained HTML file: inline CSS on the elements (Outlook
//! ignores style sheets in many places), tables for layout, inline SVG for the
//! duration trends; no scripts, fonts or images from elsewhere. Built with maud,
//! which escapes every value it interpolates.

use maud::{DOCTYPE, Markup, html};

use super::{Report, seconds};

const CELL: &str = "padding:4px 10px;border-bottom:1px solid #d0d7de;text-align:left";
const HEAD: &str =
    "padding:4px 10px;border-bottom:2px solid #8c959f;text-align:left;background:#f6f8fa";
const TILE: &str = "padding:8px 16px;background:#f6f8fa";
const NUMBER: &str = "font-size:24px;font-weight:bold";
const H2: &str = "font-size:16px";
const H2_BAD: &str = "font-size:16px;color:#cf222e";
const H2_WARN: &str = "font-size:16px;color:#9a6700";

/// A small line chart of durations (oldest first), scaled to its own maximum, drawn
/// in `stroke` (the dashboard passes `currentColor` to follow its theme).
pub(crate) fn sparkline(values: &[i64], stroke: &str) -> Markup {
    let (w, h) = (160.0, 28.0);
    if values.len() < 2 {
        return html! {};
    }
    let max = *values.iter().max().unwrap_or(&1).max(&1) as f64;
    let step = w / (values.len() - 1) as f64;
    let points: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            format!(
                "{:.1},{:.1}",
                i as f64 * step,
                h - 2.0 - (*v as f64 / max) * (h - 4.0)
            )
        })
        .collect();
    html! {
        svg xmlns="http://www.w3.org/2000/svg" width=(w) height=(h) viewBox={ "0 0 " (w) " " (h) }
            role="img" aria-label={ "durations of the last " (values.len()) " runs" } {
            polyline fill="none" stroke=(stroke) stroke-width="1.5" points=(points.join(" ")) {}
        }
    }
}

/// A table of `headers` and rows of cells.
fn table(headers: &[&str], rows: Vec<Vec<Markup>>) -> Markup {
    html! {
        table style="border-collapse:collapse;margin:6px 0 18px" {
            tr {
                @for h in headers { th style=(HEAD) { (h) } }
            }
            @for row in rows {
                tr {
                    @for cell in row { td style=(CELL) { (cell) } }
                }
            }
        }
    }
}

/// A cell of text.
fn text(s: impl maud::Render) -> Markup {
    html! { (s) }
}

/// The whole HTML document.
pub fn render_html(r: &Report) -> String {
    let rate = r
        .success_rate
        .map_or("-".to_string(), |x| format!("{:.1}%", x * 100.0));
    let healthy = r.problems.is_empty() && r.missed.is_empty();
    let colour = if healthy { "#1a7f37" } else { "#cf222e" };
    let body = html! {
        h1 style="font-size:20px;margin:0 0 4px" { "orc report: " (r.host) }
        p style="color:#57606a;margin:0 0 16px" { (r.since) " to " (r.until) }
        table style="border-collapse:collapse;margin-bottom:18px" {
            tr {
                td style=(TILE) { div style=(NUMBER) { (r.runs) } div { "runs" } }
                td style=(TILE) { div style={ (NUMBER) ";color:" (colour) } { (rate) } div { "success rate" } }
                td style=(TILE) { div style=(NUMBER) { (r.problems.len()) } div { "failures and timeouts" } }
                td style=(TILE) { div style=(NUMBER) { (r.missed.len()) } div { "missed" } }
            }
        }
        h2 style=(H2) { "Runs by status" }
        (table(
            &["Status", "Runs"],
            r.totals.iter().map(|(s, n)| vec![text(s), text(n)]).collect(),
        ))
        @if !r.problems.is_empty() {
            h2 style=(H2_BAD) { "Failures and timeouts" }
            (table(
                &["When", "Task", "Status", "Exit", "Reason", "Run"],
                r.problems
                    .iter()
                    .map(|p| {
                        vec![
                            text(&p.at),
                            text(&p.task),
                            text(p.status.as_str()),
                            text(p.exit_code.map_or("-".to_string(), |c| c.to_string())),
                            text(p.reason.as_deref().unwrap_or("")),
                            html! { code { "orc logs " (p.task) " --run " (p.run) } },
                        ]
                    })
                    .collect(),
            ))
        }
        @if !r.warnings.is_empty() {
            h2 style=(H2_WARN) { "Warnings" }
            (table(
                &["When", "Task", "Exit", "Reason", "Run"],
                r.warnings
                    .iter()
                    .map(|p| {
                        vec![
                            text(&p.at),
                            text(&p.task),
                            text(p.exit_code.map_or("-".to_string(), |c| c.to_string())),
                            text(p.reason.as_deref().unwrap_or("")),
                            html! { code { "orc logs " (p.task) " --run " (p.run) } },
                        ]
                    })
                    .collect(),
            ))
        }
        @if !r.missed.is_empty() {
            h2 style=(H2_BAD) { "Missed runs" }
            (table(
                &["Last missed fire", "Task", "What"],
                r.missed
                    .iter()
                    .map(|p| {
                        vec![
                            text(&p.at),
                            text(&p.task),
                            text(p.reason.as_deref().unwrap_or("")),
                        ]
                    })
                    .collect(),
            ))
        }
        @if !r.duration_alerts.is_empty() {
            h2 style=(H2) { "Duration alerts" }
            (table(
                &["Started", "Task", "What", "Status", "Duration", "Run"],
                r.duration_alerts
                    .iter()
                    .map(|d| {
                        vec![
                            text(&d.at),
                            text(&d.task),
                            text(super::duration_flag_words(d.flag)),
                            text(d.status.as_str()),
                            text(d.duration_ms.map_or("-".to_string(), super::seconds)),
                            html! { code { "orc logs " (d.task) " --run " (d.run) } },
                        ]
                    })
                    .collect(),
            ))
        }
        @if !r.slowest.is_empty() {
            h2 style=(H2) { "Slowest tasks" }
            (table(
                &["Task", "Longest", "Mean", "Runs"],
                r.slowest
                    .iter()
                    .map(|s| {
                        vec![
                            text(&s.task),
                            text(seconds(s.max_ms)),
                            text(seconds(s.mean_ms)),
                            text(s.runs),
                        ]
                    })
                    .collect(),
            ))
        }
        @if !r.tasks.is_empty() {
            h2 style=(H2) { "Tasks" }
            (table(
                &["Task", "Runs", "Failures", "Duration trend"],
                r.tasks
                    .iter()
                    .map(|t| {
                        vec![
                            text(&t.task),
                            text(t.runs),
                            text(t.failures),
                            sparkline(&t.durations_ms, "#0969da"),
                        ]
                    })
                    .collect(),
            ))
        }
        @match &r.drift {
            Some(d) if !d.tasks.is_empty() => {
                h2 style=(H2) { "Drift found by the last apply (" (d.at) ")" }
                (table(
                    &["Task", "Changed outside orc"],
                    d.tasks.iter().map(|(t, w)| vec![text(t), text(w)]).collect(),
                ))
            }
            _ => p { "The last apply found no drift." },
        }
    };
    html! {
        (DOCTYPE) "\n"
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "orc report: " (r.host) }
            }
            body style="font-family:Segoe UI,Helvetica,Arial,sans-serif;font-size:14px;color:#1f2328;margin:24px" {
                (body)
            }
        }
        "\n"
    }
    .into_string()
}
