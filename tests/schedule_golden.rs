//! Golden tests for orc's cron dialect: accepted and rejected expressions, next fire
//! times across time zones and DST changes, and a few `explain` texts.
//!
//! The expectations live in `tests/golden/schedules.toml` and were worked out by hand
//! from the dialect's rules, not copied from orc's output.

use std::path::Path;

use jiff::Timestamp;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Golden {
    case: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    expr: String,
    tz: String,
    from: String,
    next: Option<Vec<String>>,
    reject: Option<String>,
    explain: Option<String>,
    note: String,
}

fn load() -> Golden {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/schedules.toml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    toml::from_str(&text).unwrap_or_else(|e| panic!("cannot parse {}: {e}", path.display()))
}

/// Checks one case; returns a description of every way it disagrees.
fn check(case: &Case) -> Vec<String> {
    let mut problems = Vec::new();
    let label = format!("{:?} in {} from {}", case.expr, case.tz, case.from);
    let parsed = orc::schedule::parse(&case.expr);

    match (&case.next, &case.reject) {
        (Some(_), Some(_)) | (None, None) => {
            problems.push(format!(
                "{label}: malformed case, needs exactly one of `next` and `reject`"
            ));
            return problems;
        }
        (None, Some(reject)) => {
            match &parsed {
                Ok(_) => problems.push(format!(
                    "{label}\n    expected rejection containing {reject:?}\n    got: accepted"
                )),
                Err(e) if !e.to_string().contains(reject.as_str()) => problems.push(format!(
                    "{label}\n    expected rejection containing {reject:?}\n    got error: {e}"
                )),
                Err(_) => {}
            }
            return problems;
        }
        (Some(_), None) => {}
    }
    let next = case.next.as_ref().expect("checked above");

    let schedule = match parsed {
        Ok(s) => s,
        Err(e) => {
            problems.push(format!(
                "{label}\n    expected fires {next:?}\n    got error: {e}"
            ));
            return problems;
        }
    };
    let tz = match orc::schedule::resolve_zone(&case.tz) {
        Ok(tz) => tz,
        Err(e) => {
            problems.push(format!("{label}: bad zone in golden file: {e}"));
            return problems;
        }
    };
    let from: Timestamp = match case.from.parse() {
        Ok(ts) => ts,
        Err(e) => {
            problems.push(format!("{label}: bad `from` in golden file: {e}"));
            return problems;
        }
    };

    let got: Vec<String> = schedule
        .upcoming(&tz, from, next.len())
        .iter()
        .map(|zdt| {
            zdt.timestamp()
                .display_with_offset(zdt.offset())
                .to_string()
        })
        .collect();
    if &got != next {
        let mut msg = format!("{label}\n    note: {}", case.note);
        let width = next.len().max(got.len());
        for i in 0..width {
            let want = next.get(i).map(String::as_str).unwrap_or("(none)");
            let have = got.get(i).map(String::as_str).unwrap_or("(none)");
            let mark = if want == have { "  " } else { "!!" };
            msg.push_str(&format!("\n    {mark} expected {want:<27} got {have}"));
        }
        problems.push(msg);
    }

    if let Some(explain) = &case.explain {
        let got = schedule.explain();
        if &got != explain {
            problems.push(format!(
                "{label}\n    expected explain {explain:?}\n    got explain      {got:?}"
            ));
        }
    }
    problems
}

#[test]
fn golden_schedules() {
    let golden = load();
    assert!(
        golden.case.len() >= 40,
        "expected at least 40 golden cases, found {}",
        golden.case.len()
    );

    let mut failures = Vec::new();
    for case in &golden.case {
        failures.extend(check(case));
    }
    if !failures.is_empty() {
        panic!(
            "{} of {} golden schedule cases disagree:\n\n{}\n",
            failures.len(),
            golden.case.len(),
            failures.join("\n\n")
        );
    }
}

/// The golden file itself must be sane: every expected time parses, is in order, and
/// every rejection case has a note, so a typo cannot silently weaken a case.
#[test]
fn golden_file_is_well_formed() {
    let golden = load();
    let mut problems = Vec::new();
    let (mut fires, mut rejects) = (0, 0);
    for case in &golden.case {
        if case.note.trim().is_empty() {
            problems.push(format!("{:?}: empty note", case.expr));
        }
        if case.from.parse::<Timestamp>().is_err() {
            problems.push(format!("{:?}: bad from {:?}", case.expr, case.from));
        }
        if let Some(next) = &case.next {
            fires += 1;
            let mut previous: Option<Timestamp> = None;
            for text in next {
                match text.parse::<Timestamp>() {
                    Ok(ts) => {
                        if previous.is_some_and(|p| p >= ts) {
                            problems.push(format!("{:?}: {text} is not increasing", case.expr));
                        }
                        previous = Some(ts);
                    }
                    Err(e) => problems.push(format!("{:?}: bad time {text:?}: {e}", case.expr)),
                }
            }
        }
        if case.reject.is_some() {
            rejects += 1;
        }
    }
    assert!(fires >= 30, "only {fires} fire cases");
    assert!(rejects >= 12, "only {rejects} rejection cases");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
