//! `orc secret`: the vault's commands. Values come from stdin or a hidden prompt,
//! never from an argument (which shell history and `ps` would keep), and are printed
//! only by `get --reveal`.

use std::io::{IsTerminal, Read};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;
use zeroize::Zeroizing;

use super::{Global, Output};
use crate::secrets::{self, KeyKind, Vault, key};
use crate::state::State;

#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Create the vault: a new key file (default), or a passphrase
    #[command(
        after_help = "The key file is written owner-only to ORC_KEY_FILE, or orc.key \
beside the state database; keep a copy somewhere safe: without it the secrets are lost. \
With --key passphrase the key is derived (scrypt) at every use from the passphrase: read \
from the owner-only file ORC_PASSPHRASE_FILE names, or the systemd credential \
orc_passphrase, or ORC_PASSPHRASE, or asked for on the terminal.\n\nExamples:\n  \
orc secret init\n  orc secret init --key passphrase"
    )]
    Init(InitArgs),
    /// Store a secret; the value is read from stdin or a hidden prompt
    #[command(
        after_help = "Examples:\n  orc secret set db_password            # asks, hidden\n  \
printf %s \"$DB_PASSWORD\" | orc secret set db_password"
    )]
    Set { name: String },
    /// Print a secret's value (only with --reveal)
    Get {
        name: String,
        /// Print the value; without it, only whether the secret exists and decrypts
        #[arg(long)]
        reveal: bool,
    },
    /// Secret names and dates, never values
    List,
    /// Remove a secret
    Rm { name: String },
    /// Re-encrypt every secret under a new key (a new key file, or a new passphrase)
    #[command(
        after_help = "All secrets are re-encrypted in one transaction: interrupted, the \
vault keeps working with the old key or, once committed, the new one. The new passphrase \
comes from ORC_NEW_PASSPHRASE or the terminal."
    )]
    Rekey(InitArgs),
    /// Copy environment variables into the vault (for CI pipelines)
    #[command(
        after_help = "Example: ORC_SECRET_db_password=... orc secret import --from-env \
ORC_SECRET_\n  stores db_password. The prefix is removed from each name."
    )]
    Import {
        /// Every variable starting with this prefix becomes a secret
        #[arg(long, value_name = "PREFIX")]
        from_env: String,
    },
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where the key comes from
    #[arg(long, value_enum, default_value = "key-file")]
    key: KeySource,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum KeySource {
    KeyFile,
    Passphrase,
}

impl From<KeySource> for KeyKind {
    fn from(k: KeySource) -> KeyKind {
        match k {
            KeySource::KeyFile => KeyKind::KeyFile,
            KeySource::Passphrase => KeyKind::Passphrase,
        }
    }
}

/// A new passphrase: from `env`, else asked twice on the terminal.
pub(super) fn new_passphrase(env: &str) -> Result<Zeroizing<String>> {
    if let Ok(p) = std::env::var(env) {
        if p.is_empty() {
            bail!("{env} is empty");
        }
        return Ok(Zeroizing::new(p));
    }
    if !std::io::stdin().is_terminal() {
        bail!("set {env} to the new passphrase, or run on a terminal to be asked");
    }
    let first = Zeroizing::new(rpassword::prompt_password("New vault passphrase: ")?);
    let again = Zeroizing::new(rpassword::prompt_password("Repeat it: ")?);
    if first != again || first.is_empty() {
        bail!("the passphrases differ (or are empty); nothing was changed");
    }
    Ok(first)
}

/// The value to store: the whole of stdin when it is not a terminal (one trailing
/// newline removed), else a hidden prompt.
fn read_value(name: &str) -> Result<Zeroizing<String>> {
    let value = if std::io::stdin().is_terminal() {
        Zeroizing::new(rpassword::prompt_password(format!("Value of {name}: "))?)
    } else {
        let mut text = Zeroizing::new(String::new());
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the value from stdin")?;
        let trimmed = text
            .strip_suffix("\r\n")
            .or_else(|| text.strip_suffix('\n'))
            .unwrap_or(&text);
        Zeroizing::new(trimmed.to_string())
    };
    if value.is_empty() {
        bail!("the value of {name} is empty; nothing was stored");
    }
    Ok(value)
}

pub fn run(cmd: SecretCommand, global: &Global, out: &Output) -> Result<ExitCode> {
    let state_path = crate::workspace::state_path(global.state.as_deref());
    let state = State::open(&state_path)?;
    let key_file = key::key_file_path(state.path());
    let open = || Vault::open(&state, &key_file, &secrets::passphrase_from_env_or_prompt);
    match cmd {
        SecretCommand::Init(args) => {
            let kind = KeyKind::from(args.key);
            let passphrase = match kind {
                KeyKind::Passphrase => Some(new_passphrase("ORC_PASSPHRASE")?),
                KeyKind::KeyFile => None,
            };
            if kind == KeyKind::KeyFile && key_file.exists() {
                bail!(
                    "{} exists already; remove it or set ORC_KEY_FILE to another path",
                    key_file.display()
                );
            }
            Vault::init(&state, kind, &key_file, passphrase)?;
            out.info(&match kind {
                KeyKind::KeyFile => format!(
                    "Created the vault of {} with the key file {} (owner-only). Keep a copy of it somewhere safe.",
                    state.path().display(),
                    key_file.display()
                ),
                KeyKind::Passphrase => format!(
                    "Created the vault of {}, keyed by a passphrase (give it as ORC_PASSPHRASE to scheduled runs).",
                    state.path().display()
                ),
            });
        }
        SecretCommand::Set { name } => {
            secrets::check_secret_name(&name)?;
            let vault = open()?;
            let value = read_value(&name)?;
            vault.set(&name, value.as_bytes())?;
            out.info(&format!("Stored secret {name}."));
        }
        SecretCommand::Get { name, reveal } => {
            let vault = open()?;
            let value = vault.get(&name)?;
            if reveal {
                println!("{}", value.as_str());
            } else {
                out.info(&format!(
                    "Secret {name} exists and decrypts ({} bytes); add --reveal to print it.",
                    value.len()
                ));
            }
        }
        SecretCommand::List => {
            let list = secrets::list(&state)?;
            if out.json {
                out.print_json(&json!({ "secrets": list }));
            } else if list.is_empty() {
                out.info("No secrets.");
            } else {
                println!("{:<32} {:<24} {:<24}", "NAME", "CREATED", "UPDATED");
                for s in list {
                    println!("{:<32} {:<24} {:<24}", s.name, s.created_at, s.updated_at);
                }
            }
        }
        SecretCommand::Rm { name } => {
            if !secrets::remove(&state, &name)? {
                bail!("no secret \"{name}\" in the vault");
            }
            out.info(&format!("Removed secret {name}."));
        }
        SecretCommand::Rekey(args) => {
            let vault = open()?;
            let kind = KeyKind::from(args.key);
            let passphrase = match kind {
                KeyKind::Passphrase => Some(new_passphrase("ORC_NEW_PASSPHRASE")?),
                KeyKind::KeyFile => None,
            };
            let count = vault.rekey(kind, &key_file, passphrase)?;
            out.info(&format!(
                "Re-encrypted {count} secret{} under the new key.",
                if count == 1 { "" } else { "s" }
            ));
        }
        SecretCommand::Import { from_env } => {
            if from_env.is_empty() {
                bail!("--from-env needs a prefix, such as ORC_SECRET_");
            }
            let vault = open()?;
            let mut names = Vec::new();
            for (var, value) in std::env::vars_os() {
                let Some(name) = var.to_str().and_then(|v| v.strip_prefix(&from_env)) else {
                    continue;
                };
                let Some(value) = value.to_str().map(|v| Zeroizing::new(v.to_string())) else {
                    bail!("{} is not UTF-8 text", var.to_string_lossy());
                };
                secrets::check_secret_name(name)?;
                vault.set(name, value.as_bytes())?;
                names.push(name.to_string());
            }
            if names.is_empty() {
                bail!("no environment variable starts with {from_env}");
            }
            names.sort();
            out.info(&format!("Stored {}.", names.join(", ")));
        }
    }
    Ok(ExitCode::SUCCESS)
}
