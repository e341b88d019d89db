//! The report as one self-contained HTML file: inline CSS on the elements (Outlook
//! ignores style sheets in many places), tables for layout, inline SVG for the
//! duration trends; no scripts, fonts or images from elsewhere.

use super::{Report, seconds};

use crate::notify::html_escape as esc;

const CELL: &str = "padding:4px 10px;border-bottom:1px solid #d0d7de;text-align:left";
const HEAD: &str =
    "padding:4px 10px;border-bottom:2px solid #8c959f;text-align:left;background:#f6f8fa";

/// A small line chart of durations (oldest first), scaled to its own maximum, drawn
/// in `stroke` (the dashboard passes `currentColor` to follow its theme).
pub(crate) fn sparkline(values: &[i64], stroke: &str) -> String {
    let (w, h) = (160.0, 28.0);
    if values.len() < 2 {
        return String::new();
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
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"durations of the last {} runs\"><polyline fill=\"none\" stroke=\"{stroke}\" stroke-width=\"1.5\" points=\"{}\"/></svg>",
        values.len(),
        points.join(" ")
    )
}

fn table(headers: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut out = String::from("<table style=\"border-collapse:collapse;margin:6px 0 18px\"><tr>");
    for h in headers {
        out.push_str(&format!("<th style=\"{HEAD}\">{h}</th>"));
    }
    out.push_str("</tr>");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            out.push_str(&format!("<td style=\"{CELL}\">{cell}</td>"));
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>");
    out
}

/// The whole HTML document.
pub fn render_html(r: &Report) -> String {
    let rate = r
        .success_rate
        .map_or("-".to_string(), |x| format!("{:.1}%", x * 100.0));
    let healthy = r.problems.is_empty() && r.missed.is_empty();
    let colour = if healthy { "#1a7f37" } else { "#cf222e" };
    let mut body = format!(
        "<h1 style=\"font-size:20px;margin:0 0 4px\">orc report: {}</h1>\
<p style=\"color:#57606a;margin:0 0 16px\">{} to {}</p>\
<table style=\"border-collapse:collapse;margin-bottom:18px\"><tr>\
<td style=\"padding:8px 16px;background:#f6f8fa\"><div style=\"font-size:24px;font-weight:bold\">{}</div><div>runs</div></td>\
<td style=\"padding:8px 16px;background:#f6f8fa\"><div style=\"font-size:24px;font-weight:bold;color:{colour}\">{rate}</div><div>success rate</div></td>\
<td style=\"padding:8px 16px;background:#f6f8fa\"><div style=\"font-size:24px;font-weight:bold\">{}</div><div>failures and timeouts</div></td>\
<td style=\"padding:8px 16px;background:#f6f8fa\"><div style=\"font-size:24px;font-weight:bold\">{}</div><div>missed</div></td>\
</tr></table>",
        esc(&r.host),
        esc(&r.since),
        esc(&r.until),
        r.runs,
        r.problems.len(),
        r.missed.len()
    );
    body.push_str("<h2 style=\"font-size:16px\">Runs by status</h2>");
    body.push_str(&table(
        &["Status", "Runs"],
        r.totals
            .iter()
            .map(|(s, n)| vec![esc(s), n.to_string()])
            .collect(),
    ));
    if !r.problems.is_empty() {
        body.push_str("<h2 style=\"font-size:16px;color:#cf222e\">Failures and timeouts</h2>");
        body.push_str(&table(
            &["When", "Task", "Status", "Exit", "Reason", "Run"],
            r.problems
                .iter()
                .map(|p| {
                    vec![
                        esc(&p.at),
                        esc(&p.task),
                        esc(p.status.as_str()),
                        p.exit_code.map_or("-".to_string(), |c| c.to_string()),
                        esc(p.reason.as_deref().unwrap_or("")),
                        format!("<code>orc logs {} --run {}</code>", esc(&p.task), p.run),
                    ]
                })
                .collect(),
        ));
    }
    if !r.missed.is_empty() {
        body.push_str("<h2 style=\"font-size:16px;color:#cf222e\">Missed runs</h2>");
        body.push_str(&table(
            &["Last missed fire", "Task", "What"],
            r.missed
                .iter()
                .map(|p| {
                    vec![
                        esc(&p.at),
                        esc(&p.task),
                        esc(p.reason.as_deref().unwrap_or("")),
                    ]
                })
                .collect(),
        ));
    }
    if !r.slowest.is_empty() {
        body.push_str("<h2 style=\"font-size:16px\">Slowest tasks</h2>");
        body.push_str(&table(
            &["Task", "Longest", "Mean", "Runs"],
            r.slowest
                .iter()
                .map(|s| {
                    vec![
                        esc(&s.task),
                        seconds(s.max_ms),
                        seconds(s.mean_ms),
                        s.runs.to_string(),
                    ]
                })
                .collect(),
        ));
    }
    if !r.tasks.is_empty() {
        body.push_str("<h2 style=\"font-size:16px\">Tasks</h2>");
        body.push_str(&table(
            &["Task", "Runs", "Failures", "Duration trend"],
            r.tasks
                .iter()
                .map(|t| {
                    vec![
                        esc(&t.task),
                        t.runs.to_string(),
                        t.failures.to_string(),
                        sparkline(&t.durations_ms, "#0969da"),
                    ]
                })
                .collect(),
        ));
    }
    match &r.drift {
        Some(d) if !d.tasks.is_empty() => {
            body.push_str(&format!(
                "<h2 style=\"font-size:16px\">Drift found by the last apply ({})</h2>",
                esc(&d.at)
            ));
            body.push_str(&table(
                &["Task", "Changed outside orc"],
                d.tasks.iter().map(|(t, w)| vec![esc(t), esc(w)]).collect(),
            ));
        }
        _ => body.push_str("<p>The last apply found no drift.</p>"),
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>orc report: {}</title></head>\
<body style=\"font-family:Segoe UI,Helvetica,Arial,sans-serif;font-size:14px;color:#1f2328;margin:24px\">{body}</body></html>\n",
        esc(&r.host)
    )
}
