//! How orc talks to people and machines: colour only on a terminal and without
//! NO_COLOR, `--json` for scripts, `--quiet` for errors only.

use std::io::IsTerminal;

use super::Global;

#[derive(Debug, Clone)]
pub struct Output {
    pub json: bool,
    pub quiet: bool,
    pub color: bool,
}

impl Output {
    pub fn new(global: &Global) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Output {
            json: global.json,
            quiet: global.quiet,
            color: !no_color && std::io::stdout().is_terminal(),
        }
    }

    /// Colour for stderr, which may be a terminal when stdout is not.
    pub fn color_stderr(&self) -> bool {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        !no_color && std::io::stderr().is_terminal()
    }

    pub fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// A line for people; silent under --quiet and --json.
    pub fn info(&self, text: &str) {
        if !self.quiet && !self.json {
            println!("{text}");
        }
    }

    pub fn error(&self, text: &str) {
        let label = if self.color_stderr() {
            "\x1b[1;31merror\x1b[0m"
        } else {
            "error"
        };
        eprintln!("{label}: {text}");
    }

    pub fn print_json(&self, value: &impl serde::Serialize) {
        println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        );
    }
}

/// A run's duration as the tables show it: seconds with one decimal, or "-".
pub fn run_duration(ms: Option<i64>) -> String {
    ms.map_or("-".to_string(), |ms| format!("{:.1}s", ms as f64 / 1000.0))
}
