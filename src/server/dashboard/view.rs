//! HTML building blocks of the dashboard: the page frame, times, durations,
//! status badges and charts, as maud templates: every value they interpolate is
//! escaped by the template.

use maud::{DOCTYPE, Markup, html};
use serde_json::Value;

/// Who is looking: logged in (with the session's CSRF token) or not.
pub struct Viewer {
    pub csrf: Option<String>,
    /// `[fleet]` is applied: the navigation has the fleet's page.
    pub fleet: bool,
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
pub fn page(title: &str, active: &str, viewer: &Viewer, body: Markup) -> String {
    html! {
        (DOCTYPE) "\n"
        html lang="en" {
            "\n"
            head {
                "\n"
                meta charset="utf-8"; "\n"
                meta name="viewport" content="width=device-width, initial-scale=1"; "\n"
                meta name="color-scheme" content="light dark"; "\n"
                @if let Some(csrf) = &viewer.csrf {
                    meta name="csrf-token" content=(csrf);
                }
                "\n"
                title { (title) " · orc" } "\n"
                link rel="stylesheet" href="/static/app.css"; "\n"
                script src="/static/app.js" {} "\n"
            }
            "\n"
            body {
                "\n"
                a class="skip" href="#main" { "Skip to content" } "\n"
                header class="top" {
                    "\n"
                    a class="brand" href="/" { "orc" } "\n"
                    nav aria-label="Main" {
                        @for (href, label) in NAV {
                            a href=(href) aria-current=[(href == active).then_some("page")] { (label) }
                            @if href == "/runs" && viewer.fleet {
                                a href="/fleet" aria-current=[("/fleet" == active).then_some("page")] { "Fleet" }
                            }
                        }
                    }
                    "\n"
                    div class="account" {
                        "\n"
                        button type="button" id="theme-toggle" aria-pressed="false" title="Switch between light and dark" { "Dark mode" } "\n"
                        @match &viewer.csrf {
                            Some(csrf) => form method="post" action="/logout" class="inline" {
                                input type="hidden" name="csrf" value=(csrf);
                                button type="submit" class="link" { "Log out" }
                            },
                            None => a href={ "/login?next=" (url_encode(active)) } id="login-link" { "Log in" },
                        }
                        "\n"
                    }
                    "\n"
                }
                "\n"
                div id="flash" role="status" aria-live="polite" {} "\n"
                main id="main" tabindex="-1" { "\n" (body) "\n" } "\n"
            }
            "\n"
        }
        "\n"
    }
    .into_string()
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
pub fn when(ts: Option<&str>) -> Markup {
    let Some(ts) = ts else {
        return html! { span class="muted" { "never" } };
    };
    let Ok(at) = ts.parse::<jiff::Timestamp>() else {
        return html! { (ts) };
    };
    let local = at.to_zoned_datetime(jiff::tz::TimeZone::system());
    html! {
        time datetime=(ts) title=(ts) { (local.strftime("%Y-%m-%d %H:%M:%S")) }
        " "
        span class="muted" { (ago(at)) }
    }
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
        "warning" => ("warning", "warn"),
        "failed" => ("failed", "bad"),
        "timeout" => ("timed out", "bad"),
        "missed" => ("missed", "bad"),
        "interrupted" => ("interrupted", "bad"),
        "oom" => ("out of memory", "bad"),
        // Fleet mode: another host of the pool ran the fire.
        "duplicate" => ("ran elsewhere", "idle"),
        _ => ("unknown", "idle"),
    }
}

/// A coloured badge; the word carries the meaning, the colour only helps.
pub fn badge(label: &str, class: &str) -> Markup {
    html! { span class={ "badge " (class) } { (label) } }
}

/// The grid's trend line of recent durations.
pub fn sparkline(durations: &[i64]) -> Markup {
    crate::report::html::sparkline(durations, "currentColor")
}

/// A bar chart of run durations (oldest first), each bar coloured by its run's
/// status, with the longest duration as the scale.
pub fn duration_chart(runs: &[(i64, i64, &str)]) -> Markup {
    if runs.is_empty() {
        return html! { p class="muted" { "No finished runs yet." } };
    }
    let (w, h) = (600.0, 120.0);
    let max = runs.iter().map(|r| r.1).max().unwrap_or(1).max(1) as f64;
    // At least 30 slots, so a handful of runs draws slim bars rather than slabs.
    let step = w / runs.len().max(30) as f64;
    let bar = (step * 0.8).max(1.0);
    let longest = duration(Some(max as i64));
    html! {
        figure class="chart" {
            svg viewBox={ "0 0 " (w) " " (h) } preserveAspectRatio="none" role="img"
                aria-label={ "Durations of the last " (runs.len()) " runs, longest " (longest) } {
                @for (i, (id, ms, status)) in runs.iter().enumerate() {
                    @let height = ((*ms as f64 / max) * (h - 4.0)).max(1.0);
                    @let (word, class) = run_status(status);
                    rect class={ "bar " (class) }
                        x=(format!("{:.1}", i as f64 * step))
                        y=(format!("{:.1}", h - height))
                        width=(format!("{bar:.1}"))
                        height=(format!("{height:.1}")) {
                        title { "run " (id) ": " (duration(Some(*ms))) " (" (word) ")" }
                    }
                }
            }
            figcaption { "Durations of the last " (runs.len()) " runs (longest " (longest) ")." }
        }
    }
}

/// A definition value as text: strings as they are, the rest as compact JSON.
pub fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "–".to_string(),
        other => other.to_string(),
    }
}

/// A filter's `<select>` in a `<label>`: "" (`any`) first, then `options`, the
/// chosen one selected.
pub fn filter_select<'a>(
    (label, name): (&str, &str),
    any: &str,
    options: impl IntoIterator<Item = &'a str>,
    chosen: &str,
) -> Markup {
    html! {
        label {
            (label) " "
            select name=(name) {
                option value="" selected[chosen.is_empty()] { (any) }
                @for o in options {
                    option value=(o) selected[o == chosen] { (o) }
                }
            }
        }
    }
}

/// The state filter: any, or one of the words runs are stored with.
pub fn status_select(chosen: &str) -> Markup {
    let words = crate::state::RunStatus::ALL.iter().map(|s| s.as_str());
    filter_select(("State", "status"), "Any state", words, chosen)
}

/// The links between pages of a listing at `base` (a URL with a query): to the
/// newest page from a later one, and to the next when there is one (`cursor`).
pub fn pages(base: &str, later_page: bool, cursor: Option<&str>) -> Markup {
    html! {
        nav class="pages" aria-label="Pages" {
            @if later_page {
                a href=(base) { "Newest" }
            }
            @if let Some(cursor) = cursor {
                @if later_page { " " }
                a href={ (base) "&cursor=" (url_encode(cursor)) } rel="next" { "Older runs" }
            }
        }
    }
}

/// A table with a header row of (label, class) columns and rows of cells; the body
/// gets `body_id` and is marked live when one is given. Columns of class `opt` give
/// way on narrow screens.
pub fn table(
    class: &str,
    body_id: Option<&str>,
    headers: &[(Markup, &str)],
    rows: &[Markup],
) -> Markup {
    html! {
        div class="scroll" {
            table class=(class) {
                thead {
                    tr {
                        @for (label, class) in headers {
                            th scope="col" class=(class) { (label) }
                        }
                    }
                }
                tbody id=[body_id] data-live[body_id.is_some()] {
                    @for row in rows { (row) }
                }
            }
        }
    }
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
        // A warning is amber, as a skip is: not a failure, but worth a look.
        assert_eq!(run_status("warning"), ("warning", "warn"));
        let page = page(
            "<x>",
            "/",
            &Viewer {
                csrf: None,
                fleet: false,
            },
            html! {},
        );
        assert!(page.contains("<title>&lt;x&gt; · orc</title>"));
        assert!(page.contains("/login?next=/"));
        assert!(
            duration_chart(&[(1, 10, "success"), (2, 20, "failed")])
                .into_string()
                .contains("bar bad")
        );
    }
}
