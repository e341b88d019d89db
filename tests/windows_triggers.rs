//! Cron schedules as Task Scheduler triggers, checked by simulation: each schedule is
//! converted, rendered to task XML, and the XML (not the converter's structures) is
//! read back by the simulator, whose fire times over two years (2027–2028, a leap
//! year) must equal the cron fire times. Every XML is validated against Microsoft's
//! schema with `xmllint` (`../shared/schemas/task-scheduler.xsd`); without xmllint or
//! the schema those tests are reported as ignored (a failure under CI=true).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use jiff::Timestamp;
use jiff::civil::{Date, date};
use jiff::tz::TimeZone;
use orc::backend::windows::simulate::fire_times;
use orc::backend::windows::triggers::{MAX_TRIGGERS, convert};
use orc::backend::windows::xml::{Principal, TaskXml, render, to_utf16};
use orc::config::Overlap;
use orc::schedule::parse;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::TestRunner;

mod common;
use common::TestEnv;

const SCHEMA: &str = "../shared/schemas/task-scheduler.xsd";
const FIXTURES: &str = "../shared/fixtures/windows-tasks";

/// XML written by the tests, validated in one `xmllint` call at the end of each test.
struct Batch {
    dir: tempfile::TempDir,
    files: Mutex<Vec<PathBuf>>,
}

impl Batch {
    fn new() -> Batch {
        Batch {
            dir: tempfile::tempdir().unwrap(),
            files: Mutex::new(Vec::new()),
        }
    }

    fn add(&self, xml: &str) {
        let mut files = self.files.lock().unwrap();
        let path = self.dir.path().join(format!("{}.xml", files.len()));
        std::fs::write(&path, to_utf16(xml)).unwrap();
        files.push(path);
    }

    /// Every file valid against the schema. The tests that call this need xmllint and
    /// the shared schema (`schema_tools`): without them they are reported as ignored.
    fn validate(&self) {
        let schema = Path::new(SCHEMA);
        let files = self.files.lock().unwrap();
        for chunk in files.chunks(500) {
            let o = Command::new("xmllint")
                .args(["--noout", "--schema"])
                .arg(schema)
                .args(chunk)
                .output()
                .unwrap();
            let first: Vec<u16> = std::fs::read(&chunk[0]).unwrap()[2..]
                .chunks(2)
                .map(|b| u16::from_le_bytes([b[0], b[1]]))
                .collect();
            assert!(
                o.status.success(),
                "XML fails the schema:\n{}\nfirst file:\n{}",
                String::from_utf8_lossy(&o.stderr),
                String::from_utf16_lossy(&first)
            );
        }
    }
}

fn xml_for(expr: &str, utc: bool) -> Result<String, String> {
    let schedule = parse(expr).map_err(|e| e.to_string())?;
    let triggers = convert(schedule.cron().unwrap()).map_err(|e| e.to_string())?;
    assert!(triggers.len() <= MAX_TRIGGERS);
    Ok(render(&TaskXml {
        folder: "Orc",
        name: "t",
        description: Some(&format!("schedule {expr} & <more>")),
        command: r"C:\Program Files\orc\orc.exe",
        arguments: r#"run t --state "C:\ProgramData\orc\state.db" --trigger scheduled"#,
        working_dir: Some(r"C:\ops\tasks & <more>"),
        triggers: &triggers,
        raw_triggers: &[],
        utc,
        enabled: true,
        overlap: Overlap::Skip,
        start_when_available: false,
        random_delay: None,
        time_limit: Some(std::time::Duration::from_secs(7200)),
        principal: Principal::System,
        highest: false,
        settings: orc::config::WindowsSettings::default(),
        end: None,
    }))
}

/// Cron's fire times in `[from, to)` (dates in `tz`), from orc's schedule module.
fn cron_times(expr: &str, tz: &TimeZone, from: Date, to: Date) -> BTreeSet<Timestamp> {
    let schedule = parse(expr).unwrap();
    let start = tz.to_timestamp(from.at(0, 0, 0, 0)).unwrap();
    let end = tz.to_timestamp(to.at(0, 0, 0, 0)).unwrap();
    let mut out = BTreeSet::new();
    let mut at = start - jiff::SignedDuration::from_nanos(1);
    while let Some(next) = schedule.next_after(tz, at) {
        let next = next.timestamp();
        if next >= end {
            break;
        }
        out.insert(next);
        at = next;
    }
    out
}

/// Fires within six hours of a DST transition are left out of the comparison: what
/// Task Scheduler does with skipped or repeated wall-clock times is unspecified.
fn away_from_transitions(times: &BTreeSet<Timestamp>, tz: &TimeZone) -> BTreeSet<Timestamp> {
    let window = jiff::SignedDuration::from_hours(6);
    times
        .iter()
        .copied()
        .filter(|t| {
            let before = tz.preceding(*t + window).next().map(|x| x.timestamp());
            before.is_none_or(|tr| tr < *t - window)
        })
        .collect()
}

/// Days of the comparison: two years for sparse schedules, fewer for dense ones
/// (a range that still holds 29 February 2028).
fn range_for(expr: &str) -> (Date, Date) {
    let per_day = cron_times(expr, &TimeZone::UTC, date(2027, 1, 4), date(2027, 1, 5)).len();
    if per_day > 48 {
        (date(2028, 2, 10), date(2028, 3, 20))
    } else {
        (date(2027, 1, 1), date(2029, 1, 1))
    }
}

fn check_same_fires(expr: &str, batch: &Batch) -> Result<(), String> {
    let (from, to) = range_for(expr);
    for (zone, utc) in [
        ("UTC", true),
        ("Europe/Berlin", false),
        ("America/New_York", false),
    ] {
        let tz = TimeZone::get(zone).unwrap();
        let xml = xml_for(expr, utc)?;
        if zone != "America/New_York" {
            batch.add(&xml);
        }
        let simulated = fire_times(&xml, &tz, from, to).map_err(|e| e.to_string())?;
        let expected = cron_times(expr, &tz, from, to);
        let (simulated, expected) = if utc {
            (simulated, expected)
        } else {
            (
                away_from_transitions(&simulated, &tz),
                away_from_transitions(&expected, &tz),
            )
        };
        if simulated != expected {
            let extra: Vec<_> = simulated.difference(&expected).take(3).collect();
            let missing: Vec<_> = expected.difference(&simulated).take(3).collect();
            return Err(format!(
                "{expr} in {zone}: Task Scheduler would fire at {extra:?} which cron does not, and not at {missing:?}\n{xml}"
            ));
        }
    }
    Ok(())
}

/// Hand-picked expressions and how many triggers each needs.
const EXACT: &[(&str, usize)] = &[
    ("0 6 * * *", 1),
    ("30 2 * * *", 1),
    ("0 9-17 * * 1-5", 1),
    ("0 9-17 * * MON-FRI", 1),
    ("*/15 * * * *", 1),
    ("*/5 8-18 * * *", 1),
    ("0,30 9-17 * * *", 1),
    ("*/7 * * * *", 9),
    ("*/20 7-19 * * 1-5", 1),
    ("0 */2 * * *", 1),
    ("0 */3 * * 6,0", 1),
    ("15 10 * * 1", 1),
    ("0 0 1 * *", 1),
    ("0 0 L * *", 1),
    ("0 0 1,15,L * *", 1),
    ("0 3 */2 * *", 1),
    ("0 3 2-30/7 * *", 1),
    ("0 12 1 1 *", 1),
    ("0 12 29 2 *", 1),
    ("0 12 31 * *", 1),
    ("0 0 * 1-3 *", 1),
    ("0 0 * 6 MON", 1),
    ("0 6 * * FRI#3", 1),
    ("0 6 * * MON#1,MON#3", 1),
    ("0 6 * * MON#1,TUE#2", 2),
    ("0 6 * * 5L", 1),
    ("0 18 * * 5L,1#1", 2),
    ("0 6 1,15 * MON", 2),
    ("0 6 L * FRI", 2),
    ("0 6 13 * 5", 2),
    ("0 8 * 12 SUN#2", 1),
    ("5 4 * * SUN", 1),
    ("0 22 * * 1-5", 1),
    ("23 0-20/2 * * *", 1),
    ("0 0,12 1 */2 *", 1),
    ("10,40 6,18 * * *", 2),
    ("0 1,2,4,8 * * *", 2),
    // Exactly the limit: 8 hourly progressions × 6 day rules.
    (
        "*/7 0,1,3,7,15,16,18,22 1,L * MON#1,TUE#2,WED#3,THU#4,SAT#1,SAT#2",
        48,
    ),
    ("@daily", 1),
    ("@hourly", 1),
    ("@weekly", 1),
    ("@monthly", 1),
    ("@yearly", 1),
    ("06:00", 1),
    ("MON 08:00", 1),
    ("15 09:30", 1),
    ("0 2 * * 7", 1),
    ("* 3 * * *", 1),
    ("* * * * *", 1),
];

/// Hand-picked expressions Task Scheduler cannot express within 48 triggers, and a
/// word of the reason. (The parser already refuses `#5` and `*` steps in a day field
/// when the other is restricted, the other two things a trigger cannot say.)
const REJECTED: &[(&str, &str)] = &[
    (
        "0,1,3,7,15,31,47 0,1,3,7,15 1 * MON#1,TUE#2,WED#3",
        "at most 48",
    ),
    (
        "0,1,3,7,15,31,47,50,52 0,1,3,7,15,16,18,22 1 * MON",
        "at most 48",
    ),
    (
        "*/7 0,1,3,7,15,16,18,22 1,L * MON#1,TUE#2,WED#3,THU#4,SAT#1,SAT#2,SUN#3,SUN#4",
        "needs 56",
    ),
];

fn hand_picked_schedules_convert_exactly_or_say_why_not() {
    let batch = Batch::new();
    let mut failures = Vec::new();
    for (expr, count) in EXACT {
        let schedule = parse(expr).unwrap();
        match convert(schedule.cron().unwrap()) {
            Ok(t) if t.len() == *count => {
                if let Err(e) = check_same_fires(expr, &batch) {
                    failures.push(e);
                }
            }
            Ok(t) => failures.push(format!(
                "{expr}: {} triggers, expected {count}: {t:#?}",
                t.len()
            )),
            Err(e) => failures.push(format!("{expr}: rejected: {e}")),
        }
    }
    for (expr, word) in REJECTED {
        match convert(parse(expr).unwrap().cron().unwrap()) {
            Ok(t) => failures.push(format!(
                "{expr}: converted to {} triggers, expected a rejection",
                t.len()
            )),
            Err(e) if !e.to_string().contains(word) => failures.push(format!(
                "{expr}: the reason \"{e}\" does not mention {word:?}"
            )),
            Err(e) => assert!(e.suggestion.is_some(), "{expr}: no suggestion: {e}"),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(EXACT.len() + REJECTED.len() >= 40);
    batch.validate();
}

fn field(values: &'static [&'static str]) -> impl Strategy<Value = &'static str> {
    select(values)
}

/// Cron expressions across the dialect: steps, ranges, lists, `L`, `#n`, `nL`.
fn expression() -> impl Strategy<Value = String> {
    (
        field(&[
            "0", "5", "30", "*/15", "*/7", "0,20,40", "10-50/20", "59", "1,2,3",
        ]),
        field(&[
            "*", "0", "6", "9-17", "*/3", "0,12", "1,5,9,20", "22-23", "*/5",
        ]),
        field(&[
            "*", "*", "1", "15", "L", "1,15", "*/2", "10-20", "31", "29", "1,L",
        ]),
        field(&["*", "*", "*", "1", "2", "*/3", "6-8", "1,7", "12"]),
        field(&[
            "*",
            "*",
            "*",
            "1-5",
            "MON",
            "0",
            "6,0",
            "FRI#3",
            "5L",
            "MON#1,WED#2",
            "SUN#4",
        ]),
    )
        .prop_map(|(m, h, dom, mon, dow)| format!("{m} {h} {dom} {mon} {dow}"))
}

/// A property test run by hand: the suite has its own harness (libtest-mimic), where
/// `proptest!`'s `#[test]` functions would not be collected.
fn converted_triggers_fire_exactly_when_cron_does() {
    let config = ProptestConfig {
        cases: 120,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let result = TestRunner::new(config).run(&expression(), |expr| {
        let batch = Batch::new();
        let Ok(schedule) = parse(&expr) else {
            return Ok(());
        };
        match convert(schedule.cron().unwrap()) {
            Ok(_) => {
                if let Err(e) = check_same_fires(&expr, &batch) {
                    prop_assert!(false, "{}", e);
                }
            }
            Err(e) => prop_assert!(!e.reason.is_empty()),
        }
        batch.validate();
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// Real task XML exported on Windows by many projects: every file decodes (whatever
/// its encoding) and its triggers read, unmodelled kinds kept by name.
fn every_fixture_reads() {
    let dir = Path::new(FIXTURES);
    let mut read = 0;
    let mut kinds = BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "xml") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let text = orc::backend::windows::xml::decode(&bytes)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let triggers = orc::backend::windows::read::read_triggers(&text)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for t in triggers {
            kinds.insert(
                format!("{:?}", t.schedule)
                    .split([' ', '{', '('])
                    .next()
                    .unwrap()
                    .to_string(),
            );
        }
        read += 1;
    }
    assert!(read >= 50, "only {read} fixtures");
    assert!(
        kinds.contains("Other"),
        "boot/logon/event triggers are kept: {kinds:?}"
    );
}

/// `orc export`: every task of the examples becomes schema-valid XML; a file written
/// with --output is UTF-16 with a BOM; what cannot be exact is refused with its place.
fn export_writes_valid_xml_and_refuses_what_is_not_exact() {
    let batch = Batch::new();
    let env = TestEnv::builder().in_repo().build();
    let loaded = orc::config::load(Path::new("examples")).unwrap();
    for name in loaded.config.tasks.keys() {
        let o = env.orc(&[
            "export",
            name,
            "--config",
            "examples",
            "--state",
            r"C:\ProgramData\orc\state.db",
            "--machine-zone",
            "Europe/Berlin",
            "--orc-path",
            r"C:\Program Files\orc\orc.exe",
        ]);
        assert!(
            o.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        // Printed as UTF-8 and declared so: an XML parser reads it as it comes.
        let mut lint = Command::new("xmllint")
            .args(["--noout", "-"])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        lint.stdin.take().unwrap().write_all(&o.stdout).unwrap();
        let lint = lint.wait_with_output().unwrap();
        assert!(
            lint.status.success(),
            "{name}: xmllint cannot read the printed XML: {}",
            String::from_utf8_lossy(&lint.stderr)
        );
        let xml = String::from_utf8(o.stdout).unwrap();
        assert!(
            xml.starts_with(r#"<?xml version="1.0" encoding="UTF-8"?>"#),
            "{xml}"
        );
        let xml = xml.replacen("UTF-8", "UTF-16", 1);
        assert!(xml.contains(&format!(r"<URI>\Orc\{name}</URI>")), "{xml}");
        assert!(
            xml.contains(&format!(
                "<Arguments>run {name} --folder &quot;Orc&quot; --backend windows --trigger scheduled"
            )),
            "{xml}"
        );
        batch.add(&xml);
    }
    batch.validate();

    let out = env.path("t.xml");
    let o = env.orc(&[
        "export",
        "daily_report",
        "--config",
        "examples",
        "--machine-zone",
        "Europe/Berlin",
        "--output",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(&bytes[..4], &[0xFF, 0xFE, b'<', 0]);

    let config = env.path("tasks.toml");
    std::fs::write(
        &config,
        "[settings]\ntimezone = \"UTC\"\n\n[tasks.odd]\ncommand = \"true\"\n\
         schedule = \"0,1,3,7,15,31,47,50,52 0,1,3,7,15,16,18,22 1 * MON\"\n\n\
         [tasks.tokyo]\ncommand = \"true\"\nschedule = \"0 6 * * *\"\n",
    )
    .unwrap();
    let o = env.orc(&["export", "odd", "--config", config.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("tasks.toml:4:8: task \"odd\""), "{err}");
    assert!(err.contains("needs 64 Task Scheduler triggers"), "{err}");
    assert!(err.contains("at most 48"), "{err}");
    std::fs::write(
        &config,
        "[settings]\ntimezone = \"Asia/Tokyo\"\n\n[tasks.tokyo]\ncommand = \"true\"\nschedule = \"0 6 * * *\"\n",
    )
    .unwrap();
    let o = env.orc(&[
        "export",
        "tokyo",
        "--config",
        config.to_str().unwrap(),
        "--machine-zone",
        "Europe/Berlin",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("timezone \"Asia/Tokyo\": Task Scheduler runs tasks in the machine's local time (Europe/Berlin) or in UTC"), "{err}");
}

/// `orc validate` on the Windows backend refuses what Task Scheduler cannot run
/// exactly, with file, line, column and task; other backends accept it.
fn validate_for_windows_names_what_cannot_be_exact() {
    let env = TestEnv::new();
    let config = env.config();
    std::fs::write(
        &config,
        "[settings]\ntimezone = \"UTC\"\n\n[tasks.fine]\ncommand = \"true\"\nschedule = \"*/7 * * * *\"\n\n\
         [tasks.odd]\ncommand = \"true\"\nschedule = \"0,1,3,7,15,31,47,50,52 0,1,3,7,15,16,18,22 1 * MON\"\n",
    )
    .unwrap();
    let path = config.to_str().unwrap();
    let o = env.orc(&["validate", "--config", path, "--backend", "windows"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("tasks.toml:8:8 (task \"odd\")"), "{err}");
    assert!(
        err.contains("cannot run exactly on Task Scheduler"),
        "{err}"
    );
    assert!(!err.contains("\"fine\""), "{err}");
    let o = env.orc(&[
        "validate",
        "--config",
        path,
        "--backend",
        "windows",
        "--json",
    ]);
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["valid"], false);
    assert_eq!(report["diagnostics"][0]["task"], "odd");
    assert_eq!(report["diagnostics"][0]["line"], 8);
    let o = env.orc(&["validate", "--config", path, "--backend", "embedded"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// What validating against Microsoft's schema needs: xmllint and the shared schema.
fn schema_tools() -> [Option<String>; 2] {
    [
        common::missing_program("xmllint", &["--version"], "apt-get install libxml2-utils"),
        common::missing_shared("schemas/task-scheduler.xsd"),
    ]
}

fn main() -> std::process::ExitCode {
    common::run_trials(vec![
        common::trial(
            "hand_picked_schedules_convert_exactly_or_say_why_not",
            hand_picked_schedules_convert_exactly_or_say_why_not,
            &schema_tools(),
        ),
        common::trial(
            "converted_triggers_fire_exactly_when_cron_does",
            converted_triggers_fire_exactly_when_cron_does,
            &schema_tools(),
        ),
        common::trial(
            "every_fixture_reads",
            every_fixture_reads,
            &[common::missing_shared("fixtures/windows-tasks")],
        ),
        common::trial(
            "export_writes_valid_xml_and_refuses_what_is_not_exact",
            export_writes_valid_xml_and_refuses_what_is_not_exact,
            &schema_tools(),
        ),
        common::trial(
            "validate_for_windows_names_what_cannot_be_exact",
            validate_for_windows_names_what_cannot_be_exact,
            &[],
        ),
    ])
}
