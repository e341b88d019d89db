//! Calendars, blackout windows and a time zone per task: `orc schedule next --task`
//! explains which fires run and why the others do not, `orc run` (what every backend
//! calls) skips or defers them on real processes and the real clock, and each key
//! is validated at its place.

#![cfg(unix)]

mod common;
use common::TestEnv;
use common::http::Receiver;

use serde_json::Value;

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

fn day(t: jiff::Timestamp, offset_days: i64) -> String {
    let d = t.to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
    d.checked_add(jiff::Span::new().days(offset_days))
        .unwrap()
        .to_string()
}

#[test]
fn schedule_next_applies_calendars_and_says_why_a_fire_is_skipped() {
    let env = TestEnv::new();
    // "Tomorrow" of a fixed --from: 2026-12-24, from 2026-12-23.
    std::fs::write(
        env.path("holidays.ics"),
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//orc test//EN\r\n\
BEGIN:VEVENT\r\nUID:boxing@test\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Boxing Day\r\n\
DTSTART;VALUE=DATE:20261226\r\nDTEND;VALUE=DATE:20261227\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
    )
    .unwrap();
    env.write_config(
        r#"
[settings]
backend = "embedded"
timezone = "UTC"

[calendars.holidays]
dates = ["2026-12-24", "2026-12-31..2027-01-01"]
ics = "holidays.ics"

[calendars.weekdays]
weekdays = "MON-FRI"

[tasks.export]
command = "true"
schedule = "06:00"
skip_on = ["holidays"]
only_on = ["weekdays"]
"#,
    );
    let out = env.orc_ok(&[
        "schedule",
        "next",
        "--task",
        "export",
        "--from",
        "2026-12-23T00:00:00Z",
        "--count",
        "3",
        "--json",
    ]);
    let fires = json(&out);
    let fires = fires.as_array().unwrap();
    let line = |i: usize| {
        (
            fires[i]["at"].as_str().unwrap().to_string(),
            fires[i]["runs"].as_bool().unwrap(),
            fires[i]["skipped"].as_str().unwrap_or("").to_string(),
        )
    };
    assert_eq!(
        line(0),
        ("2026-12-23T06:00:00+00:00".into(), true, "".into())
    );
    assert_eq!(
        line(1),
        (
            "2026-12-24T06:00:00+00:00".into(),
            false,
            "2026-12-24 is in calendar \"holidays\" (skip_on)".into()
        )
    );
    assert!(line(2).1, "Friday 25th: {fires:?}");
    // The ics file's all-day event covers the 26th only (DTEND is exclusive), and the
    // weekend is outside only_on.
    assert!(
        line(3).2.contains("2026-12-26 is in calendar \"holidays\""),
        "{fires:?}"
    );
    assert!(
        line(4)
            .2
            .contains("2026-12-27 is in none of only_on's calendars (\"weekdays\")"),
        "{fires:?}"
    );
    assert_eq!(
        line(5),
        ("2026-12-28T06:00:00+00:00".into(), true, "".into())
    );
    assert_eq!(
        fires.len(),
        6,
        "three fires that run, and the three skipped between"
    );

    // In words, for people.
    let text = env.orc_ok(&[
        "schedule",
        "next",
        "--task",
        "export",
        "--from",
        "2026-12-23T00:00:00Z",
        "-n",
        "2",
    ]);
    assert!(
        text.contains("2026-12-24T06:00:00+00:00  Thu  skipped: 2026-12-24 is in calendar \"holidays\" (skip_on)"),
        "{text}"
    );
    let explained = env.orc_ok(&["schedule", "explain", "--task", "export"]);
    assert!(
        explained.contains("Skipped on the days of \"holidays\""),
        "{explained}"
    );
    assert!(
        explained.contains("Only on the days of \"weekdays\""),
        "{explained}"
    );

    // The plan shows the calendar's days in the task; a changed calendar is a change
    // to each task that uses it.
    env.orc_ok_text(&["apply", "--auto-approve"]);
    let config = std::fs::read_to_string(env.config()).unwrap();
    env.write_config(&config.replace("\"2026-12-24\",", "\"2026-12-24\", \"2027-04-02\","));
    let plan = env.orc_ok_text(&["plan"]);
    assert!(plan.contains("~ task \"export\""), "{plan}");
    assert!(plan.contains("2027-04-02"), "{plan}");
}

#[test]
fn a_fire_on_a_skipped_day_is_recorded_skipped_and_not_alerted() {
    let receiver = Receiver::start(&[]);
    let env = TestEnv::new();
    let now = jiff::Timestamp::now();
    let today = day(now, 0);
    env.write_config(&format!(
        r#"
[settings]
backend = "embedded"
timezone = "UTC"

[notify.ops]
on = ["skipped", "success", "failure"]
webhook = {{ url = "{}" }}

[calendars.freeze]
dates = ["{today}"]

[tasks.load]
shell = "echo ran >> ran"
schedule = "* * * * *"
skip_on = ["freeze"]
notify = ["ops"]
"#,
        receiver.url("/hook")
    ));
    env.orc_ok_text(&["apply", "--auto-approve"]);
    let fire = format!("{today}T06:00:00Z");
    let o = env.orc(&[
        "run",
        "load",
        "--trigger",
        "scheduled",
        "--scheduled-for",
        &fire,
        "--json",
    ]);
    let report = json(&String::from_utf8_lossy(&o.stdout));
    assert_eq!(o.status.code(), Some(75), "{report}");
    assert_eq!(report["status"], "skipped");
    assert_eq!(
        report["reason"],
        format!("{today} is in calendar \"freeze\" (skip_on)")
    );
    assert!(!env.path("ran").exists(), "the command must not run");
    let history = json(&env.orc_ok(&["history", "load", "--json"]));
    assert_eq!(history[0]["status"], "skipped");
    assert_eq!(
        history[0]["scheduled_for"],
        format!("{today}T06:00:00.000Z")
    );
    assert!(
        receiver.received().is_empty(),
        "a calendar's skip is not alerted: {:?}",
        receiver.received()
    );

    // A run by hand is never skipped by a calendar.
    env.orc_ok_text(&["run", "load"]);
    assert_eq!(env.read("ran"), "ran\n");
    let got = receiver.wait_for(1);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].json()["event"], "success");
}

#[test]
fn a_fire_in_a_blackout_window_is_deferred_to_its_end() {
    let env = TestEnv::new();
    let now = jiff::Timestamp::now();
    let utc = jiff::tz::TimeZone::UTC;
    // The fire is the minute that began before now; the window started with it and
    // ends a few seconds from now.
    let fire =
        jiff::Timestamp::from_second(now.as_second() - now.as_second().rem_euclid(60)).unwrap();
    // Whole seconds, as the window is written.
    let end = jiff::Timestamp::from_second(now.as_second() + 4).unwrap();
    let civil = |t: jiff::Timestamp| {
        t.to_zoned_datetime(utc.clone())
            .strftime("%Y-%m-%dT%H:%M:%S")
            .to_string()
    };
    env.write_config(&format!(
        r#"
[settings]
backend = "embedded"
timezone = "UTC"

[tasks.publish]
shell = "date +%s > ran"
schedule = "* * * * *"
blackout = [{{ from = "{}", to = "{}" }}]
blackout_policy = "defer"

[tasks.dropped]
shell = "date +%s > dropped"
schedule = "* * * * *"
blackout = [{{ from = "{}", to = "{}" }}]
"#,
        civil(fire),
        civil(end),
        civil(fire),
        civil(end)
    ));
    env.orc_ok_text(&["apply", "--auto-approve"]);
    let fire_text = fire.to_string();
    let o = env.orc(&[
        "run",
        "publish",
        "--trigger",
        "scheduled",
        "--scheduled-for",
        &fire_text,
        "--json",
    ]);
    let report = json(&String::from_utf8_lossy(&o.stdout));
    assert_eq!(report["status"], "success", "{report}");
    let ran: i64 = env.read("ran").trim().parse().unwrap();
    assert!(
        ran >= end.as_second(),
        "the deferred fire ran at {ran}, before its window ended at {}",
        end.as_second()
    );
    let history = json(&env.orc_ok(&["history", "publish", "--json"]));
    let started: jiff::Timestamp = history[0]["started_at"].as_str().unwrap().parse().unwrap();
    assert!(
        started >= end,
        "recorded as started at {started}, before {end}"
    );
    assert_eq!(
        history[0]["scheduled_for"]
            .as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .unwrap(),
        fire,
        "it runs as the fire it was"
    );

    // Without defer, the fire is skipped, saying which window.
    let o = env.orc(&[
        "run",
        "dropped",
        "--trigger",
        "scheduled",
        "--scheduled-for",
        &fire_text,
        "--json",
    ]);
    let report = json(&String::from_utf8_lossy(&o.stdout));
    assert_eq!(report["status"], "skipped", "{report}");
    assert!(
        report["reason"]
            .as_str()
            .unwrap()
            .contains("in the blackout window"),
        "{report}"
    );
    assert!(!env.path("dropped").exists());
}

#[test]
fn a_deferred_windows_later_fires_are_skipped_and_windows_cross_midnight() {
    let env = TestEnv::new();
    env.write_config(
        r#"
[settings]
backend = "embedded"
timezone = "UTC"

[tasks.hourly]
command = "true"
schedule = "0 * * * *"
timezone = "America/New_York"
blackout = [{ from = "22:00", to = "02:30" }]
blackout_policy = "defer"
"#,
    );
    let fires = json(&env.orc_ok(&[
        "schedule",
        "next",
        "--task",
        "hourly",
        "--from",
        "2026-12-23T02:30:00Z",
        "-n",
        "4",
        "--json",
    ]));
    let fires = fires.as_array().unwrap();
    // 21:00 New York time runs; 22:00 is the window's first fire, deferred to 02:30;
    // 23:00 to 02:00 are skipped; 03:00 runs.
    assert_eq!(fires[0]["at"], "2026-12-22T22:00:00-05:00");
    assert_eq!(
        fires[0]["deferred_to"], "2026-12-23T02:30:00-05:00",
        "{fires:?}"
    );
    for f in &fires[1..5] {
        assert_eq!(f["runs"], false, "{f}");
        assert!(
            f["skipped"]
                .as_str()
                .unwrap()
                .contains("its first fire (2026-12-22T22:00:00-05:00) runs at its end"),
            "{f}"
        );
    }
    assert_eq!(fires[5]["at"], "2026-12-23T03:00:00-05:00");
    assert_eq!(fires[5]["runs"], true);
}

#[test]
fn a_task_whose_every_fire_is_blacked_out_is_said_and_listed_in_one_line() {
    let env = TestEnv::new();
    env.write_config(
        r#"
[settings]
backend = "embedded"
timezone = "UTC"

[tasks.nightly]
command = "true"
schedule = "30 2 * * *"
blackout = [{ from = "22:00", to = "06:00" }]
"#,
    );
    let o = env.orc(&["validate"]);
    let said = common::exit_and_output(&o);
    assert!(o.status.success(), "a warning, not an error: {said}");
    assert!(
        said.contains("the task never runs: its calendars and blackout windows skip every fire")
            && said.contains("tasks.toml:9:13"),
        "{said}"
    );
    let o = env.orc(&[
        "schedule",
        "next",
        "--task",
        "nightly",
        "--from",
        "2026-12-08T00:00:00Z",
    ]);
    let listed = String::from_utf8_lossy(&o.stdout);
    assert_eq!(listed.lines().count(), 1, "{listed}");
    assert!(
        listed.contains("2026-12-08T02:30:00+00:00  Tue  to ")
            && listed.contains(" fires skipped: in the blackout window 22:00 to 06:00"),
        "{listed}"
    );
    // The JSON keeps every fire.
    let fires = json(&env.orc_ok(&[
        "schedule",
        "next",
        "--task",
        "nightly",
        "--from",
        "2026-12-08T00:00:00Z",
        "--json",
    ]));
    assert!(fires.as_array().unwrap().len() > 1000);
}

#[test]
fn a_task_zone_a_backend_cannot_fire_in_is_refused_at_its_key() {
    let env = TestEnv::new();
    env.write_config(
        "[settings]\ntimezone = \"local\"\n\n[tasks.nyc]\ncommand = \"true\"\nschedule = \"06:00\"\ntimezone = \"Asia/Kathmandu\"\n",
    );
    // cron fires in the system's zone only: refused at the task's own key.
    let o = env.orc(&["validate", "--backend", "cron", "--json"]);
    let doc = json(&String::from_utf8_lossy(&o.stdout));
    assert_ne!(o.status.code(), Some(0), "{doc}");
    let d = &doc["diagnostics"][0];
    assert!(
        d["message"].as_str().unwrap().contains("Asia/Kathmandu"),
        "{doc}"
    );
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(7), Some(12)),
        "{doc}"
    );
    assert_eq!(d["task"], "nyc");
    // Task Scheduler too (the machine's zone or UTC only).
    let o = env.orc(&["validate", "--backend", "windows", "--json"]);
    let doc = json(&String::from_utf8_lossy(&o.stdout));
    assert_ne!(o.status.code(), Some(0), "{doc}");
    assert_eq!(doc["diagnostics"][0]["line"].as_u64(), Some(7), "{doc}");
    // The embedded scheduler fires in any zone.
    let o = env.orc(&["validate", "--backend", "embedded"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // And its fires are in its zone, whatever the settings say.
    let fires = json(&env.orc_ok(&[
        "schedule",
        "next",
        "--task",
        "nyc",
        "--from",
        "2026-12-23T00:00:00Z",
        "-n",
        "1",
        "--json",
    ]));
    assert_eq!(fires[0]["at"], "2026-12-23T06:00:00+05:45");
}

#[test]
fn the_dashboard_shows_a_tasks_calendars_and_a_warning_in_amber() {
    let env = TestEnv::builder()
        .state("state.db")
        .config(
            r#"
[settings]
backend = "embedded"
timezone = "UTC"

[calendars.holidays]
dates = ["2026-12-25"]

[tasks.export]
shell = "exit 2"
schedule = "06:00"
timezone = "America/New_York"
skip_on = ["holidays"]
blackout = [{ from = "22:00", to = "02:00" }]
blackout_policy = "defer"
warning_exit_codes = [2]
"#,
        )
        .build();
    env.orc_ok_text(&["apply", "--auto-approve"]);
    env.orc_ok_text(&["run", "export"]);
    let (_server, base, token) = common::serve(env.dir());
    let (status, page) = common::http::get_with_token(&base, &token, "/tasks/export");
    assert_eq!(status, 200);
    for said in [
        "(America/New_York)",
        "<dt>Skipped on</dt><dd>holidays</dd>",
        "<dt>Blackout</dt><dd>22:00 to 02:00 (deferred to its end)</dd>",
        "<span class=\"badge warn\">warning</span>",
    ] {
        assert!(page.contains(said), "{said} not in:\n{page}");
    }
}

#[test]
fn fires_the_calendars_skip_are_never_called_missed() {
    let env = TestEnv::new();
    env.write_config(
        r#"
[settings]
backend = "embedded"
timezone = "UTC"

[calendars.someday]
dates = ["2030-01-01"]

[tasks.rare]
command = "true"
schedule = "* * * * *"
only_on = ["someday"]

[tasks.every_minute]
command = "true"
schedule = "* * * * *"
"#,
    );
    env.orc_ok_text(&["apply", "--auto-approve"]);
    // As if applied half an hour ago, with nothing run since.
    let at = jiff::Timestamp::now() - jiff::SignedDuration::from_mins(30);
    env.db()
        .execute(
            "UPDATE tasks SET applied_at = ?1",
            [at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()],
        )
        .unwrap();
    let report = json(&env.orc_ok(&["check-missed", "--json"]));
    let missed: Vec<&str> = report["missed"]
        .as_array()
        .unwrap_or_else(|| panic!("{report}"))
        .iter()
        .map(|m| m["task"].as_str().unwrap())
        .collect();
    assert_eq!(missed, ["every_minute"], "{report}");
}

#[test]
fn a_deferred_window_defers_its_first_fire_the_calendars_let_run_and_meeting_windows_are_one() {
    let env = TestEnv::new();
    env.write_config(
        r#"
[settings]
backend = "embedded"
timezone = "UTC"

[calendars.holidays]
dates = ["2026-12-25"]

[calendars.business_days]
weekdays = "MON-FRI"

# A change freeze whose first fire (Friday the 25th) is a holiday.
[tasks.export]
command = "true"
schedule = "06:00"
skip_on = ["holidays"]
only_on = ["business_days"]
blackout = [{ from = "2026-12-24 18:00", to = "2027-01-02T00:00" }]
blackout_policy = "defer"

# Two windows that meet are one: one run at the end of both.
[tasks.hourly]
command = "true"
schedule = "0 * * * *"
blackout = [{ from = "22:00", to = "23:00" }, { from = "23:00", to = "00:00" }]
blackout_policy = "defer"

# A minute schedule on weekends only: the weekdays between are passed a day at a time.
[calendars.weekend]
weekdays = "SAT,SUN"

[tasks.minutely]
command = "true"
schedule = "* * * * *"
only_on = ["weekend"]
"#,
    );
    let next = |task: &str, from: &str, n: &str| {
        json(&env.orc_ok(&[
            "schedule", "next", "--task", task, "--from", from, "-n", n, "--json",
        ]))
    };
    let fires = next("export", "2026-12-24T12:00:00Z", "1");
    let runs: Vec<&Value> = fires
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["runs"] == true)
        .collect();
    assert_eq!(runs[0]["at"], "2026-12-28T06:00:00+00:00", "{fires:#}");
    assert_eq!(
        runs[0]["deferred_to"], "2027-01-02T00:00:00+00:00",
        "{fires:#}"
    );
    let later = next("export", "2026-12-28T12:00:00Z", "1");
    assert!(
        later[0]["skipped"]
            .as_str()
            .unwrap()
            .contains("its first fire (2026-12-28T06:00:00+00:00)"),
        "{later:#}"
    );

    let fires = next("hourly", "2026-12-23T21:30:00Z", "2");
    assert_eq!(
        fires[0]["deferred_to"], "2026-12-24T00:00:00+00:00",
        "{fires:#}"
    );
    assert_eq!(
        fires[1]["runs"], false,
        "the 23:00 fire is the same blackout's: {fires:#}"
    );
    assert_eq!(fires[2]["at"], "2026-12-24T00:00:00+00:00");

    // Monday 2026-12-21: the first run is Saturday's midnight; each weekday is one line.
    let fires = next("minutely", "2026-12-21T00:00:00Z", "1");
    let fires = fires.as_array().unwrap();
    assert_eq!(fires.len(), 6, "{fires:#?}");
    assert_eq!(fires[5]["at"], "2026-12-26T00:00:00+00:00");
    env.orc_ok_text(&["apply", "--auto-approve"]);
}

#[test]
fn calendars_and_zones_that_cannot_mean_what_was_meant_are_refused() {
    let env = TestEnv::new();
    for (config, said) in [
        (
            "[calendars.c]\nweekdays = \"FRI#3\"\n",
            "days of every week",
        ),
        ("[calendars.c]\ndates = []\n", "calendar \"c\" has no days"),
        (
            "[tasks.t]\ncommand = \"true\"\nschedule = \"06:00\"\ntimezone = \"\"\n",
            "timezone is empty",
        ),
        (
            "[calendars.holidays]\ndates = [\"2026-12-25\"]\n[tasks.t]\ncommand = \"true\"\nschedule = \"06:00\"\nskip_on = [\"HOLIDAYS\"]\n",
            "did you mean \"holidays\"?",
        ),
    ] {
        env.write_config(config);
        let o = env.orc(&["validate"]);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert_ne!(o.status.code(), Some(0), "{config}\n{text}");
        assert!(text.contains(said), "{config}: {said} not in\n{text}");
    }
}
