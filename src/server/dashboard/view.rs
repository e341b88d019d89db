//! HTML building blocks of the dashboard: the page frame, times, durations,
//! status badges and charts. Everything user-supplied goes through `esc`.

use serde_json::Value;

pub use crate::notify::html_escape as esc;

/// Who is looking: logged in (with the session's CSRF token) or not.
pub struct Viewer {
    pub csrf: Option<String>,
}

impl Viewer {
    pub fn logged_in(&self) -> bool {
        self.csrf.is_some()
    }
}

/// The navigation entries, by path and label.
const NAV: [(&str, &str); 4] = [
    ("/", "Tasks"),
    ("/runs", "Runs"),
    ("/plan", "Plan"),
    ("/new", "New task"),
];

/// A whole page: head, navigation, and `body` inside `<main>`.
pub fn page(title: &str, active: &str, viewer: &Viewer, body: &str) -> String {
    let nav: String = NAV
        .iter()
        .map(|(href, label)| {
            let current = if *href == active {
                " aria-current=\"page\""
            } else {
                ""
            };
            format!("<a href=\"{href}\"{current}>{label}</a>")
        })
        .collect();
    let (csrf_meta, account) = match &viewer.csrf {
        Some(csrf) => (
            format!("<meta name=\"csrf-token\" content=\"{}\">", esc(csrf)),
            format!(
                "<form method=\"post\" action=\"/logout\" class=\"inline\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><button type=\"submit\" class=\"link\">Log out</button></form>",
                esc(csrf)
            ),
        ),
        None => (
            String::new(),
            format!(
                "<a href=\"/login?next={}\" id=\"login-link\">Log in</a>",
                esc(&url_encode(active))
            ),
        ),
    };
    format!(
        r##"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
{csrf_meta}
<title>{title} · orc</title>
<link rel="stylesheet" href="/static/app.css">
<script src="/static/app.js"></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
<a class="brand" href="/">orc</a>
<nav aria-label="Main">{nav}</nav>
<div class="account">
<button type="button" id="theme-toggle" aria-pressed="false" title="Switch between light and dark">Dark mode</button>
{account}
</div>
</header>
<div id="flash" role="status" aria-live="polite"></div>
<main id="main" tabindex="-1">
{body}
</main>
</body>
</html>
"##,
        title = esc(title),
    )
}

/// Percent-encode a value for a query string.
pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A state timestamp (RFC 3339) in this machine's zone, with the exact time as a
/// tooltip and how long ago it was.
pub fn when(ts: Option<&str>) -> String {
    let Some(ts) = ts else {
        return "<span class=\"muted\">never</span>".to_string();
    };
    let Ok(at) = ts.parse::<jiff::Timestamp>() else {
        return esc(ts);
    };
    let local = at.to_zoned_datetime(jiff::tz::TimeZone::system());
    format!(
        "<time datetime=\"{}\" title=\"{}\">{}</time> <span class=\"muted\">{}</span>",
        esc(ts),
        esc(ts),
        local.strftime("%Y-%m-%d %H:%M:%S"),
        ago(at)
    )
}

/// "5 min ago", "3 h ago", "2 d ago".
fn ago(at: jiff::Timestamp) -> String {
    let secs = (jiff::Timestamp::now() - at).as_secs();
    match secs {
        s if s < 0 => "in the future".to_string(),
        s if s < 60 => format!("{s} s ago"),
        s if s < 3600 => format!("{} min ago", s / 60),
        s if s < 86_400 => format!("{} h ago", s / 3600),
        s => format!("{} d ago", s / 86_400),
    }
}

/// A duration in milliseconds, as people read it.
pub fn duration(ms: Option<i64>) -> String {
    match ms {
        None => "–".to_string(),
        Some(ms) if ms < 1000 => format!("{ms} ms"),
        Some(ms) => crate::report::seconds(ms),
    }
}

/// How a task's state reads on the grid, and the class that colours it.
pub fn task_status(enabled: bool, last: Option<&str>) -> (&'static str, &'static str) {
    if !enabled {
        return ("paused", "paused");
    }
    match last {
        None => ("never run", "idle"),
        Some(s) => run_status(s),
    }
}

/// A run's status as shown, and its colour class.
pub fn run_status(status: &str) -> (&'static str, &'static str) {
    match status {
        "success" => ("ok", "ok"),
        "running" => ("running", "running"),
        "skipped" => ("skipped", "warn"),
        "failed" => ("failed", "bad"),
        "timeout" => ("timed out", "bad"),
        "missed" => ("missed", "bad"),
        "interrupted" => ("interrupted", "bad"),
        _ => ("unknown", "idle"),
    }
}

/// A coloured badge; the word carries the meaning, the colour only helps.
pub fn badge(label: &str, class: &str) -> String {
    format!("<span class=\"badge {class}\">{}</span>", esc(label))
}

/// The grid's trend line of recent durations.
pub fn sparkline(durations: &[i64]) -> String {
    crate::report::html::sparkline(durations, "currentColor").into_string()
}

/// A bar chart of run durations (oldest first), each bar coloured by its run's
/// status, with the longest duration as the scale.
pub fn duration_chart(runs: &[(i64, i64, &str)]) -> String {
    if runs.is_empty() {
        return "<p class=\"muted\">No finished runs yet.</p>".to_string();
    }
    let (w, h) = (600.0, 120.0);
    let max = runs.iter().map(|r| r.1).max().unwrap_or(1).max(1) as f64;
    // At least 30 slots, so a handful of runs draws slim bars rather than slabs.
    let step = w / runs.len().max(30) as f64;
    let bar = (step * 0.8).max(1.0);
    let bars: String = runs
        .iter()
        .enumerate()
        .map(|(i, (id, ms, status))| {
            let height = ((*ms as f64 / max) * (h - 4.0)).max(1.0);
            let (word, class) = run_status(status);
            format!(
                "<rect class=\"bar {class}\" x=\"{:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{height:.1}\"><title>run {id}: {} ({word})</title></rect>",
                i as f64 * step,
                h - height,
                duration(Some(*ms)),
            )
        })
        .collect();
    format!(
        "<figure class=\"chart\"><svg viewBox=\"0 0 {w} {h}\" preserveAspectRatio=\"none\" role=\"img\" aria-label=\"Durations of the last {} runs, longest {}\">{bars}</svg><figcaption>Durations of the last {} runs (longest {}).</figcaption></figure>",
        runs.len(),
        duration(Some(max as i64)),
        runs.len(),
        duration(Some(max as i64)),
    )
}

/// A definition value as text: strings as they are, the rest as compact JSON.
pub fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "–".to_string(),
        other => other.to_string(),
    }
}

/// A table with a header row of (label, class) columns; cells are HTML already.
/// Columns of class `opt` give way on narrow screens.
pub fn table(class: &str, headers: &[(&str, &str)], rows: &[String]) -> String {
    let head: String = headers
        .iter()
        .map(|(label, class)| format!("<th scope=\"col\" class=\"{class}\">{label}</th>"))
        .collect();
    format!(
        "<div class=\"scroll\"><table class=\"{class}\"><thead><tr>{head}</tr></thead><tbody>{}</tbody></table></div>",
        rows.concat()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_escapes() {
        assert_eq!(duration(Some(850)), "850 ms");
        assert_eq!(duration(Some(61_000)), "1m01s");
        assert_eq!(url_encode("/runs?x=a b"), "/runs%3Fx%3Da%20b");
        assert_eq!(task_status(false, Some("failed")).0, "paused");
        assert_eq!(task_status(true, Some("timeout")).1, "bad");
        let page = page("<x>", "/", &Viewer { csrf: None }, "");
        assert!(page.contains("<title>&lt;x&gt; · orc</title>"));
        assert!(page.contains("/login?next=/"));
        assert!(duration_chart(&[(1, 10, "success"), (2, 20, "failed")]).contains("bar bad"));
    }
}
