//! Splitting a `command = "..."` string into argv, without a shell.
//!
//! POSIX shell-word splitting (the `shell-words` crate) treats `\` as an escape,
//! which silently mangles Windows paths like `C:\Tools\etl.exe`. orc's rule is
//! simpler and the same on every platform: whitespace separates words, `"..."` or
//! `'...'` group a word, and a backslash is an ordinary character. Anything subtler
//! belongs in an argv array (`command = ["a", "b c"]`).

/// A command line whose quote never closes: the one way a line fails to split.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unclosed {quote} quote in command \"{line}\"")]
pub struct UnclosedQuote {
    pub quote: char,
    pub line: String,
}

/// Split `line` into words.
pub fn split_command(line: &str) -> Result<Vec<String>, UnclosedQuote> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => word.push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                in_word = true;
            }
            None if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            None => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if let Some(q) = quote {
        return Err(UnclosedQuote {
            quote: q,
            line: line.to_string(),
        });
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::split_command;

    #[test]
    fn keeps_backslashes_and_groups_quotes() {
        assert_eq!(
            split_command(r#"C:\Python\python.exe "C:\My Scripts\etl.py" --mode 'full run'"#)
                .unwrap(),
            vec![
                r"C:\Python\python.exe",
                r"C:\My Scripts\etl.py",
                "--mode",
                "full run"
            ]
        );
        assert_eq!(split_command(r#"echo """#).unwrap(), vec!["echo", ""]);
        assert_eq!(split_command("  a   b ").unwrap(), vec!["a", "b"]);
    }

    #[test]
    fn rejects_unclosed_quote() {
        assert!(split_command(r#"echo "oops"#).is_err());
    }
}
