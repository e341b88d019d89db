//! The layers `src/lib.rs` declares hold: every `crate::` path in `src/` names a
//! module its own module's line allows, and the declared lines form no circle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// `src/lib.rs`'s layer lines: `//! - `module`: `a`, `b`` → module → {a, b}.
fn declared(lib: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut layers = BTreeMap::new();
    for line in lib.lines() {
        let Some(rest) = line.strip_prefix("//! - `") else {
            continue;
        };
        let Some((module, allowed)) = rest.split_once("`:") else {
            continue;
        };
        let names = allowed
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect();
        layers.insert(module.to_string(), names);
    }
    layers
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// The code of `text` without its comments (a `crate::x` in a doc comment is no import).
fn code(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            // A `//` inside a string ("https://...") is rare in paths; cut at it anyway.
            Some(i) => &line[..i],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules the `crate::` paths of `code` name, with `use crate::{a,
/// b::c}` groups opened.
fn imports(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        // `orc::crate::` does not occur; `$crate::` in a macro is the crate too.
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.insert(first_ident(&item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                if depth == 0 {
                    item.push(c);
                }
            }
            found.insert(first_ident(&item));
        } else {
            found.insert(first_ident(rest));
        }
    }
    found.remove("");
    found
}

fn first_ident(text: &str) -> String {
    text.trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// The top-level module a file under `src/` belongs to.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

#[test]
fn every_import_is_one_the_layers_allow() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let layers = declared(&lib);
    assert!(layers.len() > 10, "src/lib.rs declares its layers");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut broken = Vec::new();
    for file in &files {
        let module = module_of(&src, file);
        if module == "lib" || module == "main" {
            continue;
        }
        let Some(allowed) = layers.get(&module) else {
            broken.push(format!(
                "{}: module `{module}` has no layer line in src/lib.rs",
                file.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        for import in imports(&code(&text)) {
            if import != module && !allowed.contains(&import) {
                broken.push(format!(
                    "{}: `{module}` imports `{import}`, which its layer line does not allow",
                    file.display()
                ));
            }
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

#[test]
fn the_layers_form_no_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let layers = declared(&std::fs::read_to_string(src.join("lib.rs")).unwrap());
    // Kahn's algorithm: take the modules whose imports are all taken, until none is left.
    let mut left = layers.clone();
    let mut taken = BTreeSet::new();
    while !left.is_empty() {
        let ready: Vec<String> = left
            .iter()
            .filter(|(_, deps)| {
                deps.iter()
                    .all(|d| taken.contains(d) || !layers.contains_key(d))
            })
            .map(|(m, _)| m.clone())
            .collect();
        assert!(
            !ready.is_empty(),
            "the layers form a circle among {:?}",
            left.keys()
        );
        for module in ready {
            left.remove(&module);
            taken.insert(module);
        }
    }
    for (module, deps) in &layers {
        for dep in deps {
            assert!(
                layers.contains_key(dep),
                "`{module}` allows `{dep}`, which has no layer line"
            );
        }
    }
}

#[test]
fn the_reader_sees_grouped_and_nested_imports() {
    let code = code(
        "use crate::{config::{Task, Diagnostic}, state};\nlet x = crate::host::user_name(); // crate::cli::x\n",
    );
    let found: Vec<String> = imports(&code).into_iter().collect();
    assert_eq!(found, ["config", "host", "state"]);
}
