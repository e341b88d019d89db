//! Malformed configs: every fixture under `tests/fixtures/invalid/` must make
//! `orc validate` fail and report each expected error at the right file, line,
//! column and task, in both the human and the `--json` output.
//!
//! A fixture is a single `NAME.toml`, or a folder `NAME/` passed whole as `--config`
//! (for multi-file cases), with its expectations in `NAME/expect.txt`. Expectations
//! are comment lines at the top of the `.toml` file (or anywhere in `expect.txt`):
//!
//! ```text
//! # expect-error: unknown key `scheduel`     (substring of the message; starts a block)
//! # expect-at: tasks.toml:7:1                (file relative to the fixture, line, column)
//! # expect-task: daily_report                ("-" when the error belongs to no task)
//! # expect-help: did you mean "vpn_check"?   (optional: substring of the help)
//! ```
//!
//! A fixture may hold several blocks; validation must then report all of them, and
//! exactly as many errors as there are blocks (no cascades, no missing errors).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

mod common;
use common::TestEnv;

const MIN_FIXTURES: usize = 30;

#[derive(Debug, Clone)]
struct Expect {
    message: String,
    file: String,
    line: usize,
    column: usize,
    task: Option<String>,
    /// `None`: not checked; `Some(None)`: there must be no help (`expect-help: -`).
    help: Option<Option<String>>,
}

#[derive(Debug)]
struct Fixture {
    name: String,
    /// What `--config` gets: the `.toml` file or the folder.
    config: PathBuf,
    /// The folder `expect-at` file names are relative to.
    root: PathBuf,
    expects: Vec<Expect>,
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invalid")
}

/// Every fixture, sorted by name; stray files are reported as problems.
fn discover(problems: &mut Vec<String>) -> Vec<Fixture> {
    let dir = fixtures_dir();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    let mut fixtures = Vec::new();
    for path in entries {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let (expect_file, root) = if path.is_dir() {
            (path.join("expect.txt"), path.clone())
        } else if path.extension().is_some_and(|x| x == "toml") {
            (path.clone(), dir.clone())
        } else {
            problems.push(format!(
                "{name}: not a fixture (want NAME.toml or a folder NAME/)"
            ));
            continue;
        };
        let text = match std::fs::read_to_string(&expect_file) {
            Ok(t) => t,
            Err(e) => {
                problems.push(format!(
                    "{name}: cannot read {}: {e}",
                    expect_file.display()
                ));
                continue;
            }
        };
        // In a .toml fixture only the leading comment block counts; expect.txt is all
        // expectations and comments.
        let header = text.lines().take_while(|l| {
            path.is_dir()
                || l.trim_start_matches('\u{feff}')
                    .trim_start()
                    .starts_with('#')
        });
        match parse_expectations(header) {
            Ok(expects) if expects.is_empty() => {
                problems.push(format!("{name}: no `# expect-error:` line"));
            }
            Ok(expects) => {
                let fixture = Fixture {
                    name,
                    config: path.clone(),
                    root,
                    expects,
                };
                match check_fixture_sanity(&fixture) {
                    Ok(()) => fixtures.push(fixture),
                    Err(e) => problems.push(format!("{}: {e}", fixture.name)),
                }
            }
            Err(e) => problems.push(format!("{name}: {e}")),
        }
    }
    fixtures
}

fn parse_expectations<'a>(lines: impl Iterator<Item = &'a str>) -> Result<Vec<Expect>, String> {
    struct Partial {
        message: String,
        at: Option<(String, usize, usize)>,
        task: Option<Option<String>>,
        help: Option<Option<String>>,
    }
    let mut blocks: Vec<Partial> = Vec::new();
    for line in lines {
        let Some(body) = line.trim_start_matches('\u{feff}').trim().strip_prefix('#') else {
            continue;
        };
        let Some((key, value)) = body.trim().split_once(':') else {
            continue;
        };
        let value = value.trim().to_string();
        match key.trim() {
            "expect-error" => blocks.push(Partial {
                message: value,
                at: None,
                task: None,
                help: None,
            }),
            k @ ("expect-at" | "expect-task" | "expect-help") => {
                let block = blocks
                    .last_mut()
                    .ok_or_else(|| format!("`{k}` before any `expect-error`"))?;
                match k {
                    "expect-at" => {
                        let mut parts = value.rsplitn(3, ':');
                        let col = parts.next().and_then(|c| c.parse().ok());
                        let line = parts.next().and_then(|l| l.parse().ok());
                        let file = parts.next().filter(|f| !f.is_empty());
                        match (file, line, col) {
                            (Some(f), Some(l), Some(c)) => block.at = Some((f.to_string(), l, c)),
                            _ => {
                                return Err(format!(
                                    "bad `expect-at: {value}`; want FILE:LINE:COL"
                                ));
                            }
                        }
                    }
                    "expect-task" => {
                        block.task = Some((value != "-").then_some(value));
                    }
                    _ => block.help = Some((value != "-").then_some(value)),
                }
            }
            k if k.starts_with("expect") => return Err(format!("unknown directive `{k}`")),
            _ => {}
        }
    }
    blocks
        .into_iter()
        .map(|b| {
            let (file, line, column) =
                b.at.ok_or_else(|| format!("`expect-error: {}` has no `expect-at`", b.message))?;
            let task = b
                .task
                .ok_or_else(|| format!("`expect-error: {}` has no `expect-task`", b.message))?;
            Ok(Expect {
                message: b.message,
                file,
                line,
                column,
                task,
                help: b.help,
            })
        })
        .collect()
}

/// The expected line must exist and not be a comment: the fixture itself is wrong
/// otherwise, not orc.
fn check_fixture_sanity(f: &Fixture) -> Result<(), String> {
    for e in &f.expects {
        let text = source_line(&f.root.join(&e.file), e.line)
            .ok_or_else(|| format!("{}:{} does not exist", e.file, e.line))?;
        if text.trim_start().starts_with('#') {
            return Err(format!("{}:{} is a comment line", e.file, e.line));
        }
        if e.column == 0 || e.column > text.chars().count() + 1 {
            return Err(format!(
                "{}:{}:{} is outside the line",
                e.file, e.line, e.column
            ));
        }
    }
    Ok(())
}

fn source_line(file: &Path, line: usize) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().nth(line.checked_sub(1)?).map(|l| {
        l.trim_start_matches('\u{feff}')
            .trim_end_matches('\r')
            .to_string()
    })
}

fn run_orc(config: &Path, json: bool) -> Output {
    let env = TestEnv::builder()
        .in_repo()
        .env_remove("CLICOLOR_FORCE")
        .build();
    let mut cmd = env.command(&["validate", "--config"]);
    cmd.arg(config);
    if json {
        cmd.arg("--json");
    }
    cmd.output().expect("run orc")
}

fn normalize(path: &str) -> String {
    path.replace('\\', "/")
}

fn file_matches(actual: &str, expected: &str) -> bool {
    let actual = normalize(actual);
    actual == expected || actual.ends_with(&format!("/{expected}"))
}

fn summarize(d: &Value) -> String {
    format!(
        "{} {}:{}:{} task={} msg={:?} help={}",
        d["severity"].as_str().unwrap_or("?"),
        d["file"].as_str().map(normalize).unwrap_or_default(),
        d["line"],
        d["column"],
        d["task"],
        d["message"].as_str().unwrap_or(""),
        d["help"],
    )
}

fn check_no_panic(out: &Output, what: &str, problems: &mut Vec<String>) {
    for (stream, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        let text = String::from_utf8_lossy(bytes);
        if text.contains("panicked") {
            problems.push(format!("{what}: panic in {stream}:\n{text}"));
        }
    }
}

fn check_json(f: &Fixture, problems: &mut Vec<String>) {
    let out = run_orc(&f.config, true);
    let what = "--json";
    check_no_panic(&out, what, problems);
    if out.status.code() != Some(1) {
        problems.push(format!("{what}: exit code {:?}, want 1", out.status.code()));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json: Value = match serde_json::from_str(&stdout) {
        Ok(v) => v,
        Err(e) => {
            problems.push(format!("{what}: stdout is not JSON ({e}):\n{stdout}"));
            return;
        }
    };
    if json["valid"] != Value::Bool(false) {
        problems.push(format!(
            "{what}: \"valid\" is {}, want false",
            json["valid"]
        ));
    }
    let diags = json["diagnostics"].as_array().cloned().unwrap_or_default();
    let errors: Vec<&Value> = diags.iter().filter(|d| d["severity"] == "error").collect();
    let listing = || {
        diags
            .iter()
            .map(|d| format!("\n        {}", summarize(d)))
            .collect::<String>()
    };
    if json["error_count"].as_u64() != Some(errors.len() as u64) {
        problems.push(format!(
            "{what}: error_count {} but {} error diagnostics",
            json["error_count"],
            errors.len()
        ));
    }
    if errors.len() != f.expects.len() {
        problems.push(format!(
            "{what}: {} errors reported, want exactly {}; got:{}",
            errors.len(),
            f.expects.len(),
            listing()
        ));
    }
    for e in &f.expects {
        let found = errors.iter().any(|d| {
            d["message"]
                .as_str()
                .is_some_and(|m| m.contains(&e.message))
                && d["file"].as_str().is_some_and(|p| file_matches(p, &e.file))
                && d["line"].as_u64() == Some(e.line as u64)
                && d["column"].as_u64() == Some(e.column as u64)
                && d["task"].as_str() == e.task.as_deref()
                && match &e.help {
                    None => true,
                    Some(None) => d["help"].is_null(),
                    Some(Some(h)) => d["help"].as_str().is_some_and(|a| a.contains(h)),
                }
        });
        if !found {
            problems.push(format!(
                "{what}: missing error {:?} at {}:{}:{} task={}{}; got:{}",
                e.message,
                e.file,
                e.line,
                e.column,
                e.task.as_deref().unwrap_or("-"),
                match &e.help {
                    None => String::new(),
                    Some(None) => " help=null".to_string(),
                    Some(Some(h)) => format!(" help~{h:?}"),
                },
                listing()
            ));
        }
    }
}

fn check_human(f: &Fixture, problems: &mut Vec<String>) {
    let out = run_orc(&f.config, false);
    let what = "human";
    check_no_panic(&out, what, problems);
    if out.status.code() != Some(1) {
        problems.push(format!("{what}: exit code {:?}, want 1", out.status.code()));
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains('\x1b') {
        problems.push(format!("{what}: ANSI colour codes despite NO_COLOR=1"));
    }
    let lines: Vec<&str> = stderr.lines().collect();
    let n = f.expects.len();
    let summary = format!("{n} error{} and", if n == 1 { "" } else { "s" });
    if !stderr.contains(&summary) {
        problems.push(format!("{what}: no summary line {summary:?}"));
    }
    for e in &f.expects {
        let position = format!("{}:{}:{}", e.file, e.line, e.column);
        // "--> DIR/FILE:L:C" or "--> DIR/FILE:L:C (task ..)", whole components only
        // (so 8:1 does not match 8:12, nor a.toml match data.toml).
        let points_here = |arrow: &str| {
            let arrow = normalize(arrow);
            let Some(rest) = arrow.trim_start().strip_prefix("--> ") else {
                return false;
            };
            let place = rest.split(" (task ").next().unwrap_or(rest);
            place == position || place.ends_with(&format!("/{position}"))
        };
        if !lines.iter().any(|l| points_here(l)) {
            problems.push(format!(
                "{what}: {position} not in stderr:\n{}",
                indent(&stderr)
            ));
            continue;
        }
        // Find the rendered diagnostic: "error: MESSAGE" then "--> FILE:L:C (task ..)".
        let block = (0..lines.len().saturating_sub(1)).find(|&i| {
            lines[i].starts_with("error: ")
                && lines[i].contains(&e.message)
                && points_here(lines[i + 1])
        });
        let Some(i) = block else {
            problems.push(format!(
                "{what}: no \"error: ..{}..\" followed by \"--> ..{position}\" in stderr:\n{}",
                e.message,
                indent(&stderr)
            ));
            continue;
        };
        let arrow = lines[i + 1];
        match &e.task {
            Some(t) => {
                let want = format!("{position} (task \"{t}\")");
                if !normalize(arrow).ends_with(&want) {
                    problems.push(format!("{what}: {arrow:?} does not end with {want:?}"));
                }
            }
            None => {
                if arrow.contains("(task ") {
                    problems.push(format!("{what}: {arrow:?} names a task, want none"));
                }
            }
        }
        // The snippet: "  |", "L | source line", "  | ^^^" with the caret at the column.
        let source = source_line(&f.root.join(&e.file), e.line).unwrap_or_default();
        let want_src = format!("{} | {source}", e.line);
        let gutter = e.line.to_string().len();
        match (lines.get(i + 3), lines.get(i + 4)) {
            (Some(src), Some(caret)) if *src == want_src => {
                let prefix = format!("{} | ", " ".repeat(gutter));
                let caret_col = caret
                    .strip_prefix(&prefix)
                    .and_then(|rest| rest.find('^').map(|b| rest[..b].chars().count() + 1));
                if caret_col != Some(e.column) {
                    problems.push(format!(
                        "{what}: caret under column {caret_col:?}, want {}:\n{}\n{}",
                        e.column, src, caret
                    ));
                }
            }
            (src, _) => problems.push(format!(
                "{what}: after {arrow:?} want source line {want_src:?}, got {src:?}"
            )),
        }
    }
}

fn indent(text: &str) -> String {
    text.lines().fold(String::new(), |mut s, l| {
        let _ = writeln!(s, "        | {l}");
        s
    })
}

fn check(f: &Fixture) -> Vec<String> {
    let mut problems = Vec::new();
    check_json(f, &mut problems);
    check_human(f, &mut problems);
    problems
}

#[test]
fn invalid_configs_are_rejected_with_located_errors() {
    let mut setup = Vec::new();
    let fixtures = discover(&mut setup);
    let mut failures: Vec<String> = setup.iter().map(|p| format!("setup: {p}")).collect();
    if fixtures.len() < MIN_FIXTURES {
        failures.push(format!(
            "only {} fixtures in {}, want at least {MIN_FIXTURES}",
            fixtures.len(),
            fixtures_dir().display()
        ));
    }

    // Each fixture runs orc twice; spread them over a few threads.
    let threads = std::thread::available_parallelism().map_or(4, |n| n.get().min(8));
    let chunk = fixtures.len().div_ceil(threads).max(1);
    let results: Vec<(String, Vec<String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = fixtures
            .chunks(chunk)
            .map(|group| {
                s.spawn(move || {
                    group
                        .iter()
                        .map(|f| (f.name.clone(), check(f)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("checker thread"))
            .collect()
    });

    for (name, problems) in results {
        for p in problems {
            failures.push(format!("{name}: {p}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} problem(s) in {} fixtures:\n\n{}\n",
        failures.len(),
        fixtures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn expectation_parser_reads_blocks() {
    let text = "# about\n# expect-error: a `b`\n# expect-at: x/y.toml:3:4\n# expect-task: t\n\
                # expect-help: did you mean\n# expect-error: c\n# expect-at: y.toml:1:1\n\
                # expect-task: -\n";
    let e = parse_expectations(text.lines()).unwrap();
    assert_eq!(e.len(), 2);
    assert_eq!(e[0].message, "a `b`");
    assert_eq!(
        (e[0].file.as_str(), e[0].line, e[0].column),
        ("x/y.toml", 3, 4)
    );
    assert_eq!(e[0].task.as_deref(), Some("t"));
    assert_eq!(e[0].help, Some(Some("did you mean".to_string())));
    assert_eq!(e[1].task, None);
    assert_eq!(e[1].help, None);
    let e = parse_expectations(
        "# expect-error: x\n# expect-at: a:1:1\n# expect-task: -\n# expect-help: -".lines(),
    )
    .unwrap();
    assert_eq!(e[0].help, Some(None));
    assert!(parse_expectations("# expect-at: a:1:1".lines()).is_err());
    assert!(parse_expectations("# expect-error: x\n# expect-task: -".lines()).is_err());
}

// What plan refuses, validate reports, at the same place; and files that are not
// UTF-8 text are refused by name. Each runs orc in its own folder, with the system
// time zone fixed (TZ=UTC) so the cron backend's zone rule is deterministic.

/// A folder for running orc in (state at `state/state.db`, host "testhost", TZ=UTC,
/// the config found there).
fn utc_folder() -> TestEnv {
    TestEnv::builder().config_in_cwd().env("TZ", "UTC").build()
}

/// A folder with `tasks.toml` holding `config`, for running orc in.
fn folder(config: &str) -> TestEnv {
    let dir = utc_folder();
    dir.write_config(config);
    dir
}

fn stderr_of(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Exit code 1 (an error, not a crash), and stderr.
fn refused(o: &Output, what: &str) -> String {
    let err = stderr_of(o);
    assert_eq!(o.status.code(), Some(1), "{what}: {err}");
    assert!(!err.contains("panicked"), "{what}: {err}");
    err
}

/// The one error diagnostic of `validate --json` (or `plan --json`) output.
fn only_error(o: &Output) -> Value {
    let v: Value = serde_json::from_slice(&o.stdout).expect("JSON on stdout");
    assert_eq!(v["valid"], false, "{v}");
    let errors: Vec<&Value> = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["severity"] == "error")
        .collect();
    assert_eq!(errors.len(), 1, "{v}");
    errors[0].clone()
}

const CRON_BERLIN: &str = "[settings]\nbackend = \"cron\"\ntimezone = \"Europe/Berlin\"\n\n\
                           [tasks.hello]\nshell = \"echo hi\"\nschedule = \"0 9 * * 1-5\"\n";

#[test]
fn validate_refuses_a_timezone_the_cron_backend_cannot_honour_at_its_position() {
    let dir = folder(CRON_BERLIN);
    let err = refused(&dir.orc(&["validate"]), "validate");
    assert!(
        err.contains("error: timezone = \"Europe/Berlin\": the cron backend runs in the system time zone (UTC)"),
        "{err}"
    );
    assert!(err.contains(" --> tasks.toml:3:12\n"), "{err}");
    let d = only_error(&dir.orc(&["validate", "--json"]));
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(3), Some(12)),
        "{d}"
    );
    // Plan refuses it at the same place (it used to say so without file:line:col).
    let err = refused(&dir.orc(&["plan"]), "plan");
    assert!(err.contains(" --> tasks.toml:3:12\n"), "{err}");
    assert!(err.contains("nothing was changed"), "{err}");
    // --backend cron on a config for orc's own scheduler: the same check.
    let dir = folder("[settings]\ntimezone = \"Europe/Berlin\"\n\n[tasks.t]\ncommand = \"true\"\n");
    assert!(dir.orc(&["validate"]).status.success());
    let err = refused(
        &dir.orc(&["validate", "--backend", "cron"]),
        "--backend cron",
    );
    assert!(err.contains(" --> tasks.toml:2:12\n"), "{err}");
    assert!(!dir.path("state").exists(), "validate created a state");
}

#[test]
fn validate_refuses_triggers_on_the_embedded_backend_at_the_task() {
    let config = "[settings]\nbackend = \"embedded\"\n\n[tasks.boot]\ncommand = \"true\"\n\
                  triggers = [\"<BootTrigger/>\"]\n";
    let dir = folder(config);
    for args in [&["validate"][..], &["plan"][..]] {
        let err = refused(&dir.orc(args), args[0]);
        assert!(
            err.contains("error: triggers = [...], at_startup, at_logon, on_event and on_idle are Task Scheduler triggers, which the embedded backend cannot run"),
            "{args:?}: {err}"
        );
        assert!(
            err.contains(" --> tasks.toml:4:8 (task \"boot\")\n"),
            "{args:?}: {err}"
        );
    }
    let d = only_error(&dir.orc(&["validate", "--json"]));
    assert_eq!(d["task"], "boot");
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(4), Some(8)),
        "{d}"
    );
    // The same task kept for a Windows host is not this host's: validate passes, as
    // plan does.
    let dir = folder(&format!("{config}hosts = [\"win-01\"]\n"));
    let o = dir.orc(&["validate"]);
    assert!(o.status.success(), "{}", stderr_of(&o));
    let o = dir.orc(&["plan"]);
    assert!(o.status.success(), "{}", stderr_of(&o));
}

#[test]
fn validate_warns_of_a_missing_secret_as_plan_does_even_without_a_state() {
    let dir = folder(
        "[settings]\nbackend = \"embedded\"\n\n[tasks.creds]\ncommand = \"true\"\n\
         env = { PW = { secret = \"db_pw\" } }\n",
    );
    let warning = "warning: env PW refers to secret \"db_pw\", which is not in this server's vault\n \
                   --> tasks.toml:4:8 (task \"creds\")\n";
    for args in [&["validate"][..], &["plan"][..]] {
        let o = dir.orc(args);
        assert!(o.status.success(), "{args:?}: {}", stderr_of(&o));
        assert!(
            stderr_of(&o).contains(warning),
            "{args:?}: {}",
            stderr_of(&o)
        );
    }
    let v: Value = serde_json::from_slice(&dir.orc(&["validate", "--json"]).stdout).unwrap();
    assert_eq!(
        (v["valid"].as_bool(), v["warning_count"].as_u64()),
        (Some(true), Some(1)),
        "{v}"
    );
    assert_eq!(v["diagnostics"][0]["task"], "creds");
    assert!(!dir.path("state").exists(), "validate created a state");
}

#[test]
fn tasks_on_disjoint_hosts_may_share_renamed_from() {
    let dir = folder(
        "[tasks.report_a]\ncommand = \"true\"\nhosts = [\"srv-a\"]\nrenamed_from = \"report\"\n\n\
         [tasks.report_b]\ncommand = \"true\"\nhosts = [\"srv-b\"]\nrenamed_from = \"report\"\n",
    );
    let o = dir.orc(&["validate"]);
    assert!(o.status.success(), "{}", stderr_of(&o));
    // A third on every host collides with the first, which the message locates.
    let mut text = std::fs::read_to_string(dir.path("tasks.toml")).unwrap();
    text.push_str("\n[tasks.report_all]\ncommand = \"true\"\nrenamed_from = \"report\"\n");
    std::fs::write(dir.path("tasks.toml"), text).unwrap();
    let err = refused(&dir.orc(&["validate"]), "a third");
    assert!(
        err.contains(
            "error: renamed_from = \"report\" is claimed by task \"report_a\" too (at tasks.toml:4:16); \
             the history of \"report\" can go to one task only\n  --> tasks.toml:13:16 (task \"report_all\")\n"
        ),
        "{err}"
    );
}

#[test]
fn plan_json_on_a_broken_config_prints_what_validate_json_prints() {
    for (what, config) in [
        (
            "an unknown key",
            "[tasks.t]\ncommand = \"true\"\nscheduel = \"@daily\"\n",
        ),
        ("a cron zone", CRON_BERLIN),
        (
            "triggers on the embedded backend",
            "[settings]\nbackend = \"embedded\"\n[tasks.t]\ncommand = \"true\"\ntriggers = [\"<BootTrigger/>\"]\n",
        ),
    ] {
        let dir = folder(config);
        let validate = dir.orc(&["validate", "--json"]);
        let plan = dir.orc(&["plan", "--json"]);
        assert_eq!(validate.status.code(), Some(1), "{what}");
        assert_eq!(plan.status.code(), Some(1), "{what}: {}", stderr_of(&plan));
        let v: Value = serde_json::from_slice(&validate.stdout).unwrap();
        let p: Value = serde_json::from_slice(&plan.stdout).unwrap_or_else(|e| {
            panic!(
                "{what}: plan --json printed no JSON ({e}): {}",
                stderr_of(&plan)
            )
        });
        assert_eq!(p, v, "{what}");
        assert_eq!(p["valid"], false, "{what}");
        assert!(
            p["diagnostics"][0]["line"].as_u64().is_some(),
            "{what}: {p}"
        );
    }
}

#[test]
fn files_that_are_not_utf8_text_are_refused_by_name() {
    let dir = utc_folder();
    let text = "[tasks.t]\ncommand = \"true\"\n";
    let utf16 = |big: bool, bom: bool| -> Vec<u8> {
        let mut units: Vec<u16> = Vec::new();
        if bom {
            units.push(0xFEFF);
        }
        units.extend(text.encode_utf16());
        units
            .iter()
            .flat_map(|u| {
                if big {
                    u.to_be_bytes()
                } else {
                    u.to_le_bytes()
                }
            })
            .collect()
    };
    let mut latin1 = b"[tasks.t]\ncommand = \"caf".to_vec();
    latin1.extend([0xE9, b'"', b'\n']);
    let mut binary = vec![0x7F, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0];
    binary.extend((0..=255u8).cycle().take(2000));
    let save = "help: save the file as UTF-8";
    for (name, bytes, expect) in [
        (
            "latin1.toml",
            latin1,
            vec![
                "error: byte 0xE9 is not UTF-8",
                " --> latin1.toml:2:15\n",
                save,
            ],
        ),
        (
            "utf16le-bom.toml",
            utf16(false, true),
            vec![
                "error: the file is UTF-16 (it starts with a UTF-16 byte-order mark)",
                " --> utf16le-bom.toml\n",
                save,
            ],
        ),
        (
            "utf16be-bom.toml",
            utf16(true, true),
            vec!["the file is UTF-16", " --> utf16be-bom.toml\n", save],
        ),
        (
            "utf16le.toml",
            utf16(false, false),
            vec![
                "error: the file looks like UTF-16",
                " --> utf16le.toml\n",
                save,
            ],
        ),
        (
            "utf16be.toml",
            utf16(true, false),
            vec![
                "error: the file looks like UTF-16",
                " --> utf16be.toml\n",
                save,
            ],
        ),
        (
            "binary.toml",
            binary,
            vec![
                "error: the file holds a NUL byte (byte 8): it is binary",
                " --> binary.toml\n",
            ],
        ),
    ] {
        std::fs::write(dir.path(name), bytes).unwrap();
        for args in [
            &["validate", "--config", name][..],
            &["plan", "--config", name][..],
        ] {
            let err = refused(&dir.orc(args), name);
            for e in &expect {
                assert!(err.contains(e), "{args:?}: want {e:?} in:\n{err}");
            }
            // One error, not a cascade of TOML errors over the NUL bytes.
            assert_eq!(err.matches("error:").count(), 1, "{args:?}: {err}");
        }
    }
}

#[test]
fn a_20000_deep_nesting_is_an_error_naming_the_file_not_a_crash() {
    let dir = utc_folder();
    let n = 20_000;
    let cases = [
        (
            "inline.toml",
            format!(
                "[tasks.t]\ncommand = \"true\"\nenv = {}1{}\n",
                "{a = ".repeat(n),
                "}".repeat(n)
            ),
        ),
        (
            "arrays.toml",
            format!(
                "[tasks.t]\ncommand = \"true\"\nhosts = {}{}\n",
                "[".repeat(n),
                "]".repeat(n)
            ),
        ),
        (
            "header.toml",
            format!("[tasks.{}]\ncommand = \"true\"\n", vec!["a"; n].join(".")),
        ),
        ("dotted.toml", format!("{} = 1\n", vec!["a"; n].join("."))),
    ];
    for (name, text) in cases {
        std::fs::write(dir.path(name), text).unwrap();
        for args in [
            &["validate", "--config", name][..],
            &["plan", "--json", "--config", name][..],
        ] {
            let o = dir.orc(args);
            let err = refused(&o, name);
            if args[1] == "--json" {
                let d = only_error(&o);
                assert!(d["file"].as_str().unwrap().ends_with(name), "{d}");
                assert!(
                    d["message"].as_str().unwrap().contains("nest too deeply"),
                    "{d}"
                );
            } else {
                assert!(
                    err.contains(
                        "error: invalid TOML: tables, arrays or dotted keys nest too deeply"
                    ),
                    "{name}: {}",
                    &err[..err.len().min(500)]
                );
                assert!(
                    err.contains(&format!(" --> {name}")),
                    "{name}: {}",
                    &err[..err.len().min(500)]
                );
            }
        }
    }
}

/// validate reports every problem at once: a secret the vault lacks is a warning even
/// beside an error the backend finds.
#[test]
fn validate_warns_of_missing_secrets_beside_backend_errors() {
    let dir = TestEnv::builder().state("state.db").config_in_cwd().build();
    std::fs::write(
        dir.path("tasks.toml"),
        "[settings]\nbackend = \"embedded\"\n\n[tasks.b]\ncommand = \"true\"\ntriggers = [\"<BootTrigger/>\"]\nenv = { X = { secret = \"nope\" } }\n",
    )
    .unwrap();
    let o = dir.orc(&["validate", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(json["error_count"], 1, "{json}");
    assert_eq!(json["warning_count"], 1, "{json}");
    let warning = json["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["severity"] == "warning")
        .unwrap();
    assert!(
        warning["message"]
            .as_str()
            .unwrap()
            .contains("secret \"nope\""),
        "{json}"
    );
}
