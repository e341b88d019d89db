//! Diagnostics: every problem orc finds in a config, located precisely.
//!
//! A diagnostic carries its file, line, column and task, and the offending source
//! line, so it can be printed like a compiler error or emitted as JSON.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One config file's text, kept so diagnostics can point into it.
#[derive(Debug, Clone)]
pub struct Source {
    pub path: PathBuf,
    pub text: String,
    /// Byte offset where each line starts, so positions are found by binary search
    /// instead of rescanning the file (which made 10,000-task files quadratic).
    line_starts: Vec<usize>,
}

impl Source {
    pub fn new(path: PathBuf, text: String) -> Source {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Source {
            path,
            text,
            line_starts,
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(&self.text, offset.min(self.text.len()));
        let line = self.line_starts.partition_point(|&start| start <= offset);
        let line_start = self.line_starts[line - 1];
        (line, self.text[line_start..offset].chars().count() + 1)
    }

    fn line_text(&self, line: usize) -> &str {
        let start = self
            .line_starts
            .get(line - 1)
            .copied()
            .unwrap_or(self.text.len());
        let end = self
            .line_starts
            .get(line)
            .map_or(self.text.len(), |next| next - 1);
        self.text[start..end.max(start)].trim_end_matches('\r')
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The most characters of a source line a snippet shows.
const SNIPPET_MAX: usize = 160;

/// Where in a file a diagnostic points.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    pub line: usize,
    pub column: usize,
    /// The source line, for the snippet.
    #[serde(skip)]
    pub line_text: String,
    /// How many characters of the line to underline.
    #[serde(skip)]
    pub width: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub message: String,
    pub file: Option<PathBuf>,
    #[serde(flatten)]
    pub location: Option<Location>,
    pub task: Option<String>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            file: None,
            location: None,
            task: None,
            help: None,
        }
    }

    pub fn warning(message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Self::error(message)
        }
    }

    /// Point at `span` (byte range) of `source`.
    pub fn at(mut self, source: &Source, span: Option<Range<usize>>) -> Self {
        self.file = Some(source.path.clone());
        if let Some(span) = span {
            let (line, column) = source.line_col(span.start);
            let line_text = source.line_text(line).to_string();
            let end = floor_char_boundary(&source.text, span.end.min(source.text.len()));
            let start = floor_char_boundary(&source.text, span.start.min(end));
            let spanned = source.text[start..end].lines().next().unwrap_or("");
            let rest = line_text.chars().count().saturating_sub(column - 1);
            let width = spanned.chars().count().clamp(1, rest.max(1));
            self.location = Some(Location {
                line,
                column,
                line_text,
                width,
            });
        }
        self
    }

    pub fn in_file(mut self, path: &Path) -> Self {
        self.file = Some(path.to_path_buf());
        self
    }

    pub fn task(mut self, name: &str) -> Self {
        self.task = Some(name.to_string());
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// "file:line:col", as far as known.
    pub fn position(&self) -> String {
        let file = self
            .file
            .as_deref()
            .map_or_else(|| "<config>".to_string(), |p| p.display().to_string());
        match &self.location {
            Some(l) => format!("{file}:{}:{}", l.line, l.column),
            None => file,
        }
    }

    /// The diagnostic with `secret` masked in the source line it shows (a password
    /// the line holds must not reach the terminal or a CI log).
    pub fn redacted(mut self, secret: &str) -> Self {
        if let Some(l) = self.location.as_mut().filter(|_| !secret.is_empty()) {
            let shorter =
                l.line_text.matches(secret).count() * secret.chars().count().saturating_sub(4);
            l.line_text = l.line_text.replace(secret, "****");
            l.width = l.width.saturating_sub(shorter).max(1);
        }
        self
    }

    /// Render like a compiler error; `color` adds ANSI colours.
    pub fn render(&self, color: bool) -> String {
        let paint = |code: &str, text: &str| {
            if color {
                format!("\x1b[{code}m{text}\x1b[0m")
            } else {
                text.to_string()
            }
        };
        let (label, code) = match self.severity {
            Severity::Error => ("error", "1;31"),
            Severity::Warning => ("warning", "1;33"),
        };
        let mut out = format!("{}: {}\n", paint(code, label), paint("1", &self.message));
        let task = self
            .task
            .as_ref()
            .map(|t| format!(" (task \"{t}\")"))
            .unwrap_or_default();
        let gutter = self
            .location
            .as_ref()
            .map_or(1, |l| l.line.to_string().len());
        let pad = " ".repeat(gutter);
        out.push_str(&format!(
            "{pad}{} {}{task}\n",
            paint("34", "-->"),
            self.position()
        ));
        if let Some(l) = &self.location {
            let bar = paint("34", "|");
            out.push_str(&format!("{pad} {bar}\n"));
            // A very long line (a minified file, a deep nesting on one line) is shown
            // as a window around the column, not whole.
            let chars: Vec<char> = l.line_text.chars().collect();
            let (start, end) = if chars.len() > SNIPPET_MAX {
                let start = (l.column - 1).saturating_sub(SNIPPET_MAX / 2);
                (start, (start + SNIPPET_MAX).min(chars.len()))
            } else {
                (0, chars.len())
            };
            let before = if start > 0 { "…" } else { "" };
            let after = if end < chars.len() { "…" } else { "" };
            let shown: String = chars[start..end].iter().collect();
            out.push_str(&format!(
                "{} {bar} {before}{shown}{after}\n",
                paint("34", &l.line.to_string()),
            ));
            let indent: String = before
                .chars()
                .map(|_| ' ')
                .chain(
                    chars[start..(l.column - 1).clamp(start, end)]
                        .iter()
                        .map(|c| if *c == '\t' { '\t' } else { ' ' }),
                )
                .collect();
            let width = l.width.min(end.saturating_sub(l.column - 1).max(1));
            out.push_str(&format!(
                "{pad} {bar} {indent}{}\n",
                paint(code, &"^".repeat(width))
            ));
        }
        if let Some(help) = &self.help {
            out.push_str(&format!("{pad} = help: {help}\n"));
        }
        out
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(false))
    }
}

/// All diagnostics of one load; errors make the config unusable.
#[derive(Debug, Clone, Default)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }

    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.is_error())
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| !d.is_error())
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}
