//! The vault check: it opens (with its key file, or ORC_PASSPHRASE), every secret
//! decrypts, the key file is private, and it holds every secret the config names.

use super::*;

pub(super) use crate::secrets::passphrase_from_env;

/// The secrets the config names that `held` lacks, by name.
fn missing_secrets(
    config: Option<&Config>,
    held: &std::collections::BTreeSet<String>,
) -> Vec<crate::config::Diagnostic> {
    match config {
        Some(c) => crate::cli::validate::secret_diagnostics(c, c.tasks.values(), held, false),
        None => Vec::new(),
    }
}

/// The vault check, and whether the vault opened (`None`: there is none to open).
pub(super) fn check_vault(setup: &Setup, state: Option<&State>) -> (Check, Option<bool>) {
    let opens = std::cell::Cell::new(None);
    let check = vault(setup, state, &opens);
    (check, opens.get())
}

fn vault(setup: &Setup, state: Option<&State>, opens: &std::cell::Cell<Option<bool>>) -> Check {
    const NAME: &str = "vault";
    let Some(state) = state else {
        return Check::skip(
            NAME,
            "no state database yet, or it does not open (see state)",
        );
    };
    let initialised = match crate::secrets::initialised(state) {
        Ok(i) => i,
        Err(e) => {
            return Check::fail(
                NAME,
                format!("{:#}", anyhow::Error::from(e)),
                "run `orc apply` to migrate the state",
            );
        }
    };
    opens.set(Some(false));
    if !initialised {
        let wanted = missing_secrets(setup.config.as_ref(), &Default::default());
        return if wanted.is_empty() {
            opens.set(None);
            Check::skip(
                NAME,
                "no secrets vault, and nothing in the config uses a secret",
            )
        } else {
            Check::fail(
                NAME,
                format!(
                    "the config uses {}, but this state has no vault",
                    plural(wanted.len(), "secret")
                ),
                "run `orc secret init`, then `orc secret set NAME` for each",
            )
        };
    }
    let key_file = crate::secrets::key::key_file_path(state.path());
    let asked = std::cell::Cell::new(false);
    let passphrase = |prompt: &str| {
        asked.set(true);
        passphrase_from_env(prompt)
    };
    let vault = match crate::secrets::Vault::open(state, &key_file, &passphrase) {
        Ok(v) => {
            opens.set(Some(true));
            v
        }
        Err(e) if asked.get() && std::env::var_os("ORC_PASSPHRASE").is_none() => {
            let _ = e;
            return Check::warn(
                NAME,
                "the vault is protected by a passphrase and ORC_PASSPHRASE is not set, so it was not checked",
                "set ORC_PASSPHRASE for `orc doctor`, and for the runs the scheduler starts",
            );
        }
        Err(e) => {
            let text = format!("{:#}", anyhow::Error::from(e));
            let fix = if asked.get() {
                "set ORC_PASSPHRASE to the passphrase the vault was made with (`orc secret rekey` changes it)".to_string()
            } else if key_file_mode(&key_file).is_some_and(|m| m & 0o077 != 0) {
                format!("chmod 600 {}", key_file.display())
            } else if !key_file.exists() {
                format!(
                    "copy the key file from the server where `orc secret init` ran to {}, or point ORC_KEY_FILE at it",
                    key_file.display()
                )
            } else {
                "point ORC_KEY_FILE at this vault's key file".to_string()
            };
            return Check::fail(NAME, text, fix);
        }
    };
    let key = if asked.get() {
        "the passphrase in ORC_PASSPHRASE".to_string()
    } else {
        format!("the key file {}", key_file.display())
    };
    let names: Vec<String> = match crate::secrets::list(state) {
        Ok(list) => list.into_iter().map(|s| s.name).collect(),
        Err(e) => {
            return Check::fail(
                NAME,
                format!("{:#}", anyhow::Error::from(e)),
                "restore the state from a backup",
            );
        }
    };
    let broken: Vec<&String> = names.iter().filter(|n| vault.get(n).is_err()).collect();
    if let Some(first) = broken.first() {
        return Check::fail(
            NAME,
            format!(
                "{key} opens the vault, but {} of {} do not decrypt: {}",
                broken.len(),
                plural(names.len(), "secret"),
                broken
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            format!("set each again, e.g. `orc secret set {first}`"),
        );
    }
    let opened = match names.len() {
        0 => format!("{key} opens the vault, which holds no secrets"),
        1 => format!("{key} opens the vault; 1 secret decrypts"),
        n => format!("{key} opens the vault; {n} secrets decrypt"),
    };
    if !asked.get()
        && let Some(mode) = key_file_mode(&key_file).filter(|m| m & 0o077 != 0)
    {
        return Check::fail(
            NAME,
            format!("{opened}, but the key file is mode {mode:04o}: other users can read it"),
            format!("chmod 600 {}", key_file.display()),
        );
    }
    let held = names.into_iter().collect();
    let missing = missing_secrets(setup.config.as_ref(), &held);
    if let Some(first) = missing.first() {
        return Check::warn(
            NAME,
            format!(
                "{opened}, but {} the config uses {} not in it ({})",
                plural(missing.len(), "reference"),
                if missing.len() == 1 { "is" } else { "are" },
                first.message
            ),
            first
                .help
                .clone()
                .unwrap_or_else(|| "`orc secret set NAME`".to_string()),
        );
    }
    Check::ok(NAME, opened)
}

fn key_file_mode(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path)
            .ok()
            .map(|m| m.permissions().mode() & 0o777)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}
