//! Robustness: the config loader and the schedule parser never panic, whatever the
//! input. (`cargo fuzz` needs a nightly toolchain; these proptests run on stable in CI.)

use std::path::Path;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Tokens that make up schedules, so random strings are often almost valid.
fn schedule_text() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("*".to_string()),
        Just("/".to_string()),
        Just("-".to_string()),
        Just(",".to_string()),
        Just(" ".to_string()),
        Just("L".to_string()),
        Just("#".to_string()),
        Just("W".to_string()),
        Just("?".to_string()),
        Just(":".to_string()),
        Just("@".to_string()),
        Just("MON".to_string()),
        Just("jan".to_string()),
        (0u32..100).prop_map(|n| n.to_string()),
        Just("4294967296".to_string()),
        "[a-z@]{1,8}",
        any::<char>().prop_map(|c| c.to_string()),
    ];
    prop::collection::vec(token, 0..20).prop_map(|t| t.concat())
}

/// Fragments of TOML, so random documents reach the loader's later stages.
fn toml_text() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        Just("[tasks.a]".to_string()),
        Just("[tasks.b]".to_string()),
        Just("[settings]".to_string()),
        Just("[defaults]".to_string()),
        Just("[notify.ops]".to_string()),
        Just("[smtp]".to_string()),
        Just("command = \"echo hi\"".to_string()),
        Just("shell = \"x | y\"".to_string()),
        Just("command = [\"a\", 1]".to_string()),
        Just(
            "dependencies = [\"a\", \"b\", \"file:x\", \"url:https://h/\", \"command:\"]"
                .to_string()
        ),
        Just("timezone = \"Europe/Berlin\"".to_string()),
        Just("include = [\"*.toml\", \"../**\"]".to_string()),
        Just("env = { A = { secret = \"s\" }, \"B C\" = \"x\" }".to_string()),
        Just("email = [\"a@b\"]".to_string()),
        Just("server = \"s\"\nfrom = \"f@x\"".to_string()),
        schedule_text().prop_map(|s| format!("schedule = {s:?}")),
        "[a-z_]{1,10} = [0-9a-z\"\\[\\]{}, ]{0,12}",
        "\\PC{0,30}",
    ];
    prop::collection::vec(line, 0..16).prop_map(|l| l.join("\n"))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn schedule_parser_never_panics(text in schedule_text()) {
        if let Ok(schedule) = orc::schedule::parse(&text) {
            // Whatever parses must also explain and compute without panicking.
            let _ = schedule.explain();
            let from: Timestamp = "2026-03-29T00:30:00Z".parse().unwrap();
            let tz = TimeZone::get("Europe/Berlin").unwrap();
            let _ = schedule.upcoming(&tz, from, 3);
            let _ = schedule.dst_warnings(&tz, from);
        }
    }

    #[test]
    fn schedule_parser_never_panics_on_arbitrary_strings(text in "\\PC{0,40}") {
        let _ = orc::schedule::parse(&text);
    }

    #[test]
    fn config_loader_never_panics(text in toml_text()) {
        // The config sits one level down, so an include of "../**" walks this test's
        // own folder, not the machine's /tmp.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config/tasks.toml");
        std::fs::create_dir(dir.path().join("config")).unwrap();
        std::fs::write(&file, &text).unwrap();
        match orc::config::load(&file) {
            Ok(_) => {}
            Err(diags) => {
                // Every error is located in a file, and rendering never panics.
                for d in diags.errors() {
                    prop_assert!(d.file.is_some(), "{d:?}");
                    let _ = d.render(true);
                }
            }
        }
    }

    /// Every number has a bound that validate enforces, and a task within the bounds
    /// renders (its Task Scheduler time limit multiplies them) without overflow.
    #[test]
    fn numbers_past_their_bounds_are_refused_and_within_them_render(
        timeout in prop_oneof![0i64..=3_153_600_000, any::<i64>()],
        retries in prop_oneof![0u32..=100, any::<u32>()],
        delay_days in prop_oneof![0u64..=36_500, any::<u64>()],
    ) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tasks.toml");
        std::fs::write(
            &file,
            format!(
                "[tasks.t]\ncommand = \"true\"\nschedule = \"0 3 * * *\"\ntimeout = {timeout}\nretry_count = {retries}\nretry_delay = \"{delay_days}d\"\n"
            ),
        )
        .unwrap();
        let within = (0..=3_153_600_000).contains(&timeout)
            && retries <= 100
            && delay_days <= 36_500;
        match orc::config::load(&file) {
            Ok(loaded) => {
                prop_assert!(within, "accepted {timeout} {retries} {delay_days}d");
                let task = &loaded.config.tasks["t"];
                let _ = orc::backend::windows::task_xml(
                    task,
                    "Orc",
                    Path::new(r"C:\orc\orc.exe"),
                    Path::new(r"C:\orc\state.db"),
                    "UTC",
                );
            }
            Err(diags) => {
                // 0s timeout is refused for its own reason; the rest must be bounds.
                prop_assert!(!within || timeout == 0, "{diags}");
                for d in diags.errors() {
                    prop_assert!(d.location.is_some(), "{d:?}");
                }
            }
        }
    }

    #[test]
    fn config_loader_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tasks.toml");
        std::fs::write(&file, &bytes).unwrap();
        let _ = orc::config::load(&file).map_err(|d| d.to_string());
        let _ = orc::config::load(Path::new(dir.path()));
    }
}
