//! `schemas/openapi.json`, the OpenAPI 3.1 document of `orc serve`: its operations are
//! exactly the routes the router registers (read from `src/server/`), it is a valid
//! OpenAPI 3.1 document (`openapi-spec-validator`, from PyPI), and the live server
//! keeps to it under property-based fuzzing (`schemathesis`, from PyPI): no 5xx, no
//! status, content type or body the document does not describe, malformed input
//! rejected. A test whose tool is missing is reported as ignored, naming it, except
//! under CI=true, where it fails.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

mod common;
use common::TestEnv;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn document_path() -> PathBuf {
    root().join("schemas/openapi.json")
}

fn document() -> Value {
    serde_json::from_str(&std::fs::read_to_string(document_path()).unwrap()).unwrap()
}

const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

/// The (METHOD, path) pairs of the document.
fn documented() -> BTreeSet<(String, String)> {
    let doc = document();
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            if item.get(method).is_some() {
                ops.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    ops
}

/// The text from an opening parenthesis to its match (strings taken into account).
fn balanced(text: &str) -> &str {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, c) in text.char_indices() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return &text[..=i];
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced parentheses in {text}");
}

/// The method routers named in a `.route(PATH, …)` call: `get(h).post(h)`, and
/// `routing::put(h)` alike; a word that merely ends in one (`forget(`) is not one.
fn methods_in(expr: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for method in METHODS {
        let call = format!("{method}(");
        for (at, _) in expr.match_indices(&call) {
            let before = expr[..at].chars().next_back();
            if !before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                found.insert(method.to_uppercase());
            }
        }
    }
    found
}

/// The (METHOD, path) pairs that `.route("PATH", …)` calls register in src/server/,
/// for paths under /api/ and /metrics (the dashboard's HTML pages are not the API).
fn routed() -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("src/server"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect();
    files.sort();
    for file in files {
        let source = std::fs::read_to_string(&file).unwrap();
        for (at, _) in source.match_indices(".route(") {
            let call = balanced(&source[at + ".route".len()..]);
            let path = call
                .strip_prefix("(")
                .and_then(|s| s.trim_start().strip_prefix('"'))
                .and_then(|s| s.split('"').next())
                .unwrap_or_else(|| {
                    panic!("{}: a route without a literal path: {call}", file.display())
                });
            if !(path.starts_with("/api/") || path == "/metrics") {
                continue;
            }
            let methods = methods_in(&call[call.find(',').unwrap()..]);
            assert!(
                !methods.is_empty(),
                "{}: no method router found in .route{call}",
                file.display()
            );
            for method in methods {
                assert!(
                    ops.insert((method, path.to_string())),
                    "{path} routed twice"
                );
            }
        }
    }
    ops
}

fn the_document_has_exactly_the_routes_of_the_router() {
    let routed = routed();
    // The reading itself works: the routes the README documents are among them.
    for op in [
        ("GET", "/api/health"),
        ("PUT", "/api/tasks/{name}"),
        ("GET", "/metrics"),
    ] {
        assert!(
            routed.contains(&(op.0.to_string(), op.1.to_string())),
            "{op:?} not found in src/server: {routed:?}"
        );
    }
    let documented = documented();
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty() && unrouted.is_empty(),
        "routed but not in schemas/openapi.json: {undocumented:?}\n\
         in schemas/openapi.json but not routed: {unrouted:?}"
    );
}

fn the_route_reader_sees_method_routers_only() {
    assert_eq!(
        methods_in(r#", get(tasks).post(create))"#),
        BTreeSet::from(["GET".to_string(), "POST".to_string()])
    );
    assert_eq!(
        methods_in(", axum::routing::delete(forget_it))"),
        BTreeSet::from(["DELETE".to_string()])
    );
    assert!(methods_in(", forget(x))").is_empty());
    assert_eq!(balanced(r#"("/a(", get(f)) tail"#), r#"("/a(", get(f))"#);
}

/// Every operation but the health check takes the token or a dashboard session
/// (reads the cookie alone, changes the cookie with its CSRF header); every one can
/// be refused for its Host (421). Every error is `{"error": string}`.
fn operations_need_auth_and_errors_are_json() {
    let doc = document();
    let expected =
        serde_json::json!([{ "bearerAuth": [] }, { "sessionCookie": [], "csrfToken": [] }]);
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearerAuth"]["type"], "http");
    assert_eq!(schemes["bearerAuth"]["scheme"], "bearer");
    assert_eq!(schemes["sessionCookie"]["in"], "cookie");
    assert_eq!(schemes["sessionCookie"]["name"], "orc_session");
    assert_eq!(schemes["csrfToken"]["in"], "header");
    assert_eq!(schemes["csrfToken"]["name"], "X-CSRF-Token");
    assert_eq!(
        doc["security"],
        serde_json::json!([{ "bearerAuth": [] }, { "sessionCookie": [] }]),
        "reads need the token or a session"
    );
    for (method, path) in documented() {
        let op = &doc["paths"][&path][method.to_lowercase()];
        if path == "/api/health" {
            assert_eq!(
                op["security"],
                serde_json::json!([]),
                "the health check is open"
            );
        } else if method == "GET" {
            assert!(op.get("security").is_none(), "{method} {path}");
        } else {
            assert_eq!(op["security"], expected, "{method} {path}");
        }
        if path != "/api/health" {
            assert!(op["responses"].get("401").is_some(), "{method} {path}");
        }
        assert!(op["responses"].get("421").is_some(), "{method} {path}");
        for (status, response) in op["responses"].as_object().unwrap() {
            if status.starts_with('4') || status.starts_with('5') {
                assert_eq!(
                    response["$ref"]
                        .as_str()
                        .map(|r| r.starts_with("#/components/responses/")),
                    Some(true),
                    "{method} {path} {status}"
                );
                let name = response["$ref"]
                    .as_str()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap();
                assert_eq!(
                    doc["components"]["responses"][name]["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/Error",
                    "{method} {path} {status}"
                );
            }
        }
    }
}

fn the_document_is_valid_openapi_3_1() {
    assert!(
        document()["openapi"].as_str().unwrap().starts_with("3.1."),
        "OpenAPI 3.1"
    );
    let o = Command::new("openapi-spec-validator")
        .args(["--schema", "3.1"])
        .arg(document_path())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

struct Served {
    _server: common::Killed,
    base: String,
    token: String,
    _env: TestEnv,
}

/// Three applied tasks (one paused) and runs that succeeded and failed, with logs,
/// served on an ephemeral loopback port.
fn served() -> Served {
    let env = TestEnv::builder()
        .state("state.db")
        .config(
        "[settings]\nbackend = \"embedded\"\n\n[tasks.ok]\nshell = \"echo all good\"\nschedule = \"0 6 * * *\"\n\n\
         [tasks.bad]\nshell = \"echo broken >&2; exit 4\"\n\n\
         [tasks.paused]\ncommand = \"true\"\nschedule = \"MON 08:00\"\nenabled = false\n",
    )
        .build();
    let o = env.orc(&["apply", "--auto-approve"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for task in ["ok", "ok", "bad", "ok"] {
        env.orc(&["run", task]);
    }
    let (server, base, token) = common::serve(env.dir());
    Served {
        _server: server,
        base,
        token,
        _env: env,
    }
}

/// Schemathesis against a live server: every operation, with the token, in all its
/// phases (the document's examples, boundary and malformed values, random
/// requests, and sequences that follow one response into the next request).
/// `ORC_SCHEMATHESIS_SEED` replays another seed, `ORC_SCHEMATHESIS_EXAMPLES` asks
/// for more cases per operation.
fn the_server_keeps_to_the_document_under_fuzzing() {
    let s = served();
    let token = &s.token;
    let seed = std::env::var("ORC_SCHEMATHESIS_SEED").unwrap_or_else(|_| "2026".to_string());
    let examples = std::env::var("ORC_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "40".to_string());
    let work = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let o = Command::new("schemathesis")
        .arg("run")
        .arg(document_path())
        .args(["--url", &s.base])
        .args([
            "--header",
            &format!("Authorization: Bearer {}", token.trim()),
        ])
        .args([
            "--checks",
            "not_a_server_error,response_schema_conformance,status_code_conformance,\
             content_type_conformance,unsupported_method,negative_data_rejection,ignored_auth",
        ])
        .args(["--max-examples", &examples, "--seed", &seed])
        .args(["--workers", "1", "--request-timeout", "30"])
        .args(["--no-color", "--report", "junit", "--report-junit-path"])
        .arg(work.path().join("junit.xml"))
        // Hypothesis keeps its example database in the working directory.
        .current_dir(work.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    let counts = out
        .lines()
        .find(|l| l.contains(" generated, "))
        .unwrap_or("?");
    eprintln!(
        "schemathesis (seed {seed}, {examples} examples at most per operation): {}, in {:.0?}",
        counts.trim(),
        started.elapsed()
    );
    assert!(
        o.status.success(),
        "schemathesis found problems (seed {seed}):\n{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // It really exercised every operation of the document.
    let junit = std::fs::read_to_string(work.path().join("junit.xml")).unwrap();
    let tested: BTreeSet<(String, String)> = junit
        .split("<testcase name=\"")
        .skip(1)
        .filter_map(|t| t.split('"').next()?.split_once(' '))
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .filter(|(m, _)| METHODS.contains(&m.to_lowercase().as_str()))
        .collect();
    assert_eq!(tested, documented(), "{junit}");
}

/// The trials of this suite: a test that needs what is missing here is reported as
/// ignored, saying what (see `common::trial`).
fn main() -> std::process::ExitCode {
    common::run_trials(vec![
        common::trial(
            "the_document_has_exactly_the_routes_of_the_router",
            the_document_has_exactly_the_routes_of_the_router,
            &[],
        ),
        common::trial(
            "the_route_reader_sees_method_routers_only",
            the_route_reader_sees_method_routers_only,
            &[],
        ),
        common::trial(
            "operations_need_auth_and_errors_are_json",
            operations_need_auth_and_errors_are_json,
            &[],
        ),
        common::trial(
            "the_document_is_valid_openapi_3_1",
            the_document_is_valid_openapi_3_1,
            &[common::missing_program(
                "openapi-spec-validator",
                &["--help"],
                "pip install openapi-spec-validator",
            )],
        ),
        common::trial(
            "the_server_keeps_to_the_document_under_fuzzing",
            the_server_keeps_to_the_document_under_fuzzing,
            &[common::missing_program(
                "schemathesis",
                &["--version"],
                "pip install schemathesis",
            )],
        ),
    ])
}
