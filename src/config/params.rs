//! Parameters: a task's `params`, their `{{ name }}` templates, and the values a run
//! gives them.
//!
//! A template is `{{ name }}` or `{{ name | date }}`, where `name` is a parameter or a
//! built-in (`scheduled_for`, `run_id`, `task`, `host`, `attempt`). Templates are filled
//! in argv elements only, each element staying one argument whatever its value holds
//! (no shell sees it); a `shell` command reads the values from `ORC_PARAM_<NAME>`.

use std::collections::BTreeMap;

/// The values known to a run beside its parameters.
pub const BUILT_INS: [&str; 5] = ["scheduled_for", "run_id", "task", "host", "attempt"];

/// The longest value a run is given (bytes): it goes on a command line and into the
/// environment, which have limits of their own.
pub const MAX_VALUE: usize = 8192;

/// Why a given value cannot be a parameter's, if it cannot.
pub fn check_value(name: &str, value: &str) -> Result<(), String> {
    if value.contains('\0') {
        return Err(format!(
            "parameter \"{name}\": a value cannot hold a NUL character"
        ));
    }
    if value.len() > MAX_VALUE {
        return Err(format!(
            "parameter \"{name}\": the value is {} bytes, more than {MAX_VALUE}",
            value.len()
        ));
    }
    Ok(())
}

/// The filters a template may apply.
const FILTERS: [&str; 2] = ["date", "time"];

/// One `{{ ... }}` of a text: its name, its filter, and where it is (bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholder {
    pub name: String,
    pub filter: Option<String>,
    pub range: std::ops::Range<usize>,
}

/// Every `{{ ... }}` in `text`, or why one does not read.
pub fn placeholders(text: &str) -> Result<Vec<Placeholder>, String> {
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(start) = text[at..].find("{{").map(|i| at + i) {
        // No `}}` after it: the program's text, as written.
        let Some(len) = text[start..].find("}}") else {
            break;
        };
        let inner = &text[start + 2..start + len];
        let (name, filter) = match inner.split_once('|') {
            Some((n, f)) => (n.trim(), Some(f.trim())),
            None => (inner.trim(), None),
        };
        // Only `{{ name }}` is orc's: other braces (docker's `{{.Names}}`, Go
        // templates, `{{{x}}}`) are the program's, and stay as written.
        let ident = |t: &str| {
            !t.is_empty()
                && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !t.starts_with(|c: char| c.is_ascii_digit())
        };
        if !ident(name) || filter.is_some_and(|f| !ident(f)) {
            // One brace on: `{{{x}}}` is a brace, then `{{x}}`.
            at = start + 1;
            continue;
        }
        if let Some(f) = filter
            && !FILTERS.contains(&f)
        {
            return Err(format!(
                "\"{{{{{inner}}}}}\": unknown filter \"{f}\"; the filters are {}",
                FILTERS.join(", ")
            ));
        }
        found.push(Placeholder {
            name: name.to_string(),
            filter: filter.map(str::to_string),
            range: start..start + len + 2,
        });
        at = start + len + 2;
    }
    Ok(found)
}

/// `text` with each placeholder filled from `values`; `zone` is the task's, for the
/// `date` and `time` filters of a timestamp. A name without a value is left as written.
pub fn fill(text: &str, values: &BTreeMap<String, String>, zone: &jiff::tz::TimeZone) -> String {
    let Ok(found) = placeholders(text) else {
        return text.to_string();
    };
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for p in found {
        out.push_str(&text[last..p.range.start]);
        match values.get(&p.name) {
            Some(value) => out.push_str(&filtered(value, p.filter.as_deref(), zone)),
            None => out.push_str(&text[p.range.clone()]),
        }
        last = p.range.end;
    }
    out.push_str(&text[last..]);
    out
}

/// `value` through `filter`: `date` and `time` of a timestamp, in the task's zone
/// (a value that is not a timestamp is left as it is).
fn filtered(value: &str, filter: Option<&str>, zone: &jiff::tz::TimeZone) -> String {
    let Some(filter) = filter else {
        return value.to_string();
    };
    let Ok(at) = value.parse::<jiff::Timestamp>() else {
        return value.to_string();
    };
    let local = at.to_zoned_datetime(zone.clone());
    match filter {
        "date" => local.strftime("%Y-%m-%d").to_string(),
        "time" => local.strftime("%H:%M:%S").to_string(),
        _ => value.to_string(),
    }
}

/// The environment variable a parameter reaches the task in.
pub fn env_name(param: &str) -> String {
    format!("ORC_PARAM_{}", param.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_and_filtered_in_the_tasks_zone() {
        let values: BTreeMap<String, String> = [
            ("region", "eu; rm -rf /"),
            ("scheduled_for", "2026-12-24T23:30:00Z"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let berlin = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
        assert_eq!(
            fill("--day={{ scheduled_for | date }}", &values, &berlin),
            "--day=2026-12-25"
        );
        assert_eq!(
            fill("{{region}}/{{ unknown }}", &values, &berlin),
            "eu; rm -rf //{{ unknown }}"
        );
        assert!(
            placeholders("{{ a | upper }}")
                .unwrap_err()
                .contains("unknown filter")
        );
        assert!(placeholders("x {{ open").unwrap().is_empty());
        // Other programs' braces are theirs.
        for theirs in [
            "{{.Names}}",
            "{{ }}",
            "{{ .Status | json }}",
            "{{range .Items}}",
        ] {
            assert!(placeholders(theirs).unwrap().is_empty(), "{theirs}");
            assert_eq!(fill(theirs, &values, &berlin), theirs);
        }
        assert_eq!(fill("{{{region}}}", &values, &berlin), "{eu; rm -rf /}");
        assert_eq!(env_name("region"), "ORC_PARAM_REGION");
    }
}
