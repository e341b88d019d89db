//! The JSON Schema in schemas/ is generated from the Rust types and stays current, and
//! every example validates against it and loads.

use std::path::{Path, PathBuf};

const SCHEMA_PATH: &str = "schemas/tasks.schema.json";

#[test]
fn committed_schema_is_current() {
    let fresh = orc::config::json_schema();
    if std::env::var_os("ORC_UPDATE_SCHEMA").is_some() {
        std::fs::write(SCHEMA_PATH, &fresh).unwrap();
    }
    let committed = std::fs::read_to_string(SCHEMA_PATH).unwrap_or_default();
    assert!(
        committed == fresh,
        "{SCHEMA_PATH} is out of date with src/config/raw.rs; regenerate it with \
         `ORC_UPDATE_SCHEMA=1 cargo test --test schema` and commit the result"
    );
}

fn example_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            example_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "toml") {
            out.push(path);
        }
    }
}

fn schema_validator() -> jsonschema::Validator {
    let schema: serde_json::Value = serde_json::from_str(&orc::config::json_schema()).unwrap();
    jsonschema::validator_for(&schema).expect("the generated schema is itself valid")
}

#[test]
fn every_example_validates_against_the_schema_and_loads() {
    let validator = schema_validator();
    let mut files = Vec::new();
    example_files(Path::new("examples"), &mut files);
    assert!(files.len() >= 3, "expected example files, found {files:?}");
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let value: toml::Value = toml::from_str(&text).unwrap();
        let json = serde_json::to_value(&value).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&json)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{} does not match the schema: {errors:#?}",
            file.display()
        );
    }
    // Examples load as a whole (a folder and its includes) without errors or warnings.
    let loaded = orc::config::load(Path::new("examples"))
        .unwrap_or_else(|d| panic!("examples/ does not load:\n{d}"));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert!(loaded.config.tasks.len() >= 5);
}

#[test]
fn schema_rejects_what_the_loader_rejects() {
    // The schema is a first line of defence in editors: it must catch unknown keys,
    // wrong types and wrong enum values.
    let validator = schema_validator();
    let bad = [
        r#"[tasks.a]
command = "x"
scheduel = "0 6 * * *""#,
        r#"[tasks.a]
command = 42"#,
        r#"[tasks.a]
command = "x"
type = "cronjob""#,
        r#"[settings]
backend = "systemd""#,
        r#"[tasks.a]
command = "x"
timeout = "5 minutes""#,
        r#"[tasks.a]
command = "x"
env = { A = { secret = "s", extra = 1 } }"#,
        r#"[bogus]
x = 1"#,
    ];
    for text in bad {
        let value: toml::Value = toml::from_str(text).unwrap();
        let json = serde_json::to_value(&value).unwrap();
        assert!(!validator.is_valid(&json), "schema accepted:\n{text}");
    }
}
