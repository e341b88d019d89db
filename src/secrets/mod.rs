//! The secrets vault: credentials kept in the state database, each encrypted with
//! XChaCha20-Poly1305 under its own random nonce, its name bound as associated data
//! (so a ciphertext copied to another name does not decrypt).
//!
//! The key comes from a key file that `orc secret init` creates (owner-only,
//! `ORC_KEY_FILE` or `orc.key` beside the state), or from a passphrase through scrypt
//! (`ORC_PASSPHRASE`, or a prompt on a terminal). A check value encrypted with the
//! key tells a wrong key from a damaged secret. Keys and plaintexts live in
//! `Zeroizing` buffers, wiped when dropped.

pub mod credman;
pub mod error;
pub mod key;
pub mod mask;

use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rusqlite::{OptionalExtension, params};
use zeroize::Zeroizing;

use crate::state::{State, timestamp};
pub use error::{NoPassphrase, Result, VaultError};
pub use key::Key;

/// What the check value decrypts to.
const CHECK: &[u8] = b"orc vault check";
const CHECK_AAD: &[u8] = b"orc vault check";

/// How the vault's key is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    KeyFile,
    Passphrase,
}

impl KeyKind {
    fn as_str(self) -> &'static str {
        match self {
            KeyKind::KeyFile => "key_file",
            KeyKind::Passphrase => "passphrase",
        }
    }
}

/// A secret's name and dates; never its value.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SecretInfo {
    pub name: String,
    pub created_at: String,
    pub updated_at: String,
}

/// The stored description of the key: its kind and the scrypt parameters.
struct Header {
    kind: KeyKind,
    salt: Option<Vec<u8>>,
    log_n: u8,
    r: u32,
    p: u32,
    check_nonce: Vec<u8>,
    check_value: Vec<u8>,
}

/// Why a secret's value could not be read.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SecretError {
    /// The vault opened but holds no secret of this name.
    #[error("no secret \"{0}\" in the vault")]
    Missing(String),
    /// The vault could not be opened or read: no key, a wrong passphrase, a damaged
    /// row. Cloned into every later answer, so it is shared; its words are the whole
    /// chain of causes (those who print a `SecretError` print it with `{}`).
    #[error("{}", error::WithSources(&**.0))]
    Vault(std::sync::Arc<VaultError>),
    /// A reader that never reads (a check that needs no values).
    #[error("secrets are not read here")]
    NotRead,
}

impl SecretError {
    /// The vault's failure (or the state database's under it).
    pub fn vault(e: impl Into<VaultError>) -> SecretError {
        SecretError::Vault(std::sync::Arc::new(e.into()))
    }
}

/// Reads one secret's value by name (opening the vault when first asked).
pub type SecretReader = Box<dyn Fn(&str) -> std::result::Result<Zeroizing<String>, SecretError>>;

/// Where a passphrase comes from when one is needed (`ORC_PASSPHRASE`, a prompt).
pub type Passphrase<'a> = &'a dyn Fn(&str) -> Result<Zeroizing<String>>;

/// `ORC_PASSPHRASE`, else a hidden prompt on the terminal.
pub fn passphrase_from_env_or_prompt(prompt: &str) -> Result<Zeroizing<String>> {
    if let Some(p) = passphrase_unattended()? {
        return Ok(p);
    }
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return Err(VaultError::NeedsPassphrase(NoPassphrase::NoTerminal));
    }
    Ok(Zeroizing::new(
        rpassword::prompt_password(prompt).map_err(VaultError::Prompt)?,
    ))
}

/// The name of the credential orc reads the passphrase from: the systemd credential
/// (`LoadCredential=orc_passphrase:/etc/orc/pass`, in `$CREDENTIALS_DIRECTORY`) and
/// the generic credential in Windows Credential Manager.
const CREDENTIAL: &str = "orc_passphrase";

/// The passphrase from `ORC_PASSPHRASE` only, never a prompt: for `orc doctor` and
/// for work beside a running task (a prompt there would wait on the terminal).
pub fn passphrase_from_env(_prompt: &str) -> Result<Zeroizing<String>> {
    std::env::var("ORC_PASSPHRASE")
        .map(Zeroizing::new)
        .map_err(|_| VaultError::NeedsPassphrase(NoPassphrase::NotInEnv))
}

/// The passphrase without asking: the file `ORC_PASSPHRASE_FILE` names (owner-only),
/// else the systemd credential `orc_passphrase`, else (on Windows) the account's
/// generic credential `orc_passphrase` in Credential Manager, else `ORC_PASSPHRASE`.
/// A file or a credential store keeps it out of the environment, which every process
/// of the user can read on some systems and which a careless task prints. A file's
/// last line break is not part of it.
pub fn passphrase_unattended() -> Result<Option<Zeroizing<String>>> {
    let from_file = |path: std::path::PathBuf| -> Result<Zeroizing<String>> {
        key::refuse_readable_by_others(&path, "the passphrase file")?;
        let text = Zeroizing::new(std::fs::read_to_string(&path).map_err(|source| {
            VaultError::KeyFile {
                action: "read",
                what: "the passphrase file",
                path: path.clone(),
                source,
            }
        })?);
        Ok(Zeroizing::new(
            text.strip_suffix('\n')
                .map(|t| t.strip_suffix('\r').unwrap_or(t))
                .unwrap_or(&text)
                .to_string(),
        ))
    };
    if let Some(path) = std::env::var_os("ORC_PASSPHRASE_FILE").filter(|p| !p.is_empty()) {
        return from_file(path.into()).map(Some);
    }
    if let Some(dir) = std::env::var_os("CREDENTIALS_DIRECTORY").filter(|p| !p.is_empty()) {
        let path = std::path::Path::new(&dir).join(CREDENTIAL);
        if path.exists() {
            return from_file(path).map(Some);
        }
    }
    #[cfg(windows)]
    if let Some(passphrase) = credman::read_generic(CREDENTIAL)? {
        return Ok(Some(passphrase));
    }
    Ok(std::env::var("ORC_PASSPHRASE").ok().map(Zeroizing::new))
}

/// An open vault: the key, checked against the stored check value.
pub struct Vault<'a> {
    state: &'a State,
    key: Key,
}

fn cipher(key: &Key) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(key.as_ref().into())
}

fn seal(key: &Key, aad: &[u8], plaintext: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    let nonce: [u8; 24] = key::random_bytes();
    let ciphertext = cipher(key)
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| VaultError::Seal)?;
    Ok((nonce.to_vec(), ciphertext))
}

fn open_sealed(
    key: &Key,
    aad: &[u8],
    nonce: &[u8],
    ciphertext: &[u8],
) -> Option<Zeroizing<Vec<u8>>> {
    if nonce.len() != 24 {
        return None;
    }
    cipher(key)
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .ok()
        .map(Zeroizing::new)
}

/// The associated data of secret `name`: the name, so that a ciphertext moved to
/// another name fails to decrypt.
fn aad(name: &str) -> Vec<u8> {
    format!("orc secret {name}").into_bytes()
}

fn header(state: &State) -> Result<Option<Header>> {
    state
        .conn()
        .query_row(
            "SELECT kind, salt, log_n, r, p, check_nonce, check_value FROM vault WHERE id = 1",
            [],
            |r| {
                let kind: String = r.get(0)?;
                Ok(Header {
                    kind: if kind == "passphrase" {
                        KeyKind::Passphrase
                    } else {
                        KeyKind::KeyFile
                    },
                    salt: r.get(1)?,
                    log_n: r.get::<_, Option<u8>>(2)?.unwrap_or(key::LOG_N),
                    r: r.get::<_, Option<u32>>(3)?.unwrap_or(key::R),
                    p: r.get::<_, Option<u32>>(4)?.unwrap_or(key::P),
                    check_nonce: r.get(5)?,
                    check_value: r.get(6)?,
                })
            },
        )
        .optional()
        .map_err(VaultError::Read)
}

/// Whether `orc secret init` has run for this state.
pub fn initialised(state: &State) -> Result<bool> {
    Ok(header(state)?.is_some())
}

/// Every secret's name and dates, sorted; needs no key.
pub fn list(state: &State) -> Result<Vec<SecretInfo>> {
    let mut stmt = state
        .conn()
        .prepare("SELECT name, created_at, updated_at FROM secrets ORDER BY name")?;
    let rows = stmt.query_map([], |r| {
        Ok(SecretInfo {
            name: r.get(0)?,
            created_at: r.get(1)?,
            updated_at: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Remove secret `name`; false when there was none. Needs no key.
pub fn remove(state: &State, name: &str) -> Result<bool> {
    Ok(state
        .conn()
        .execute("DELETE FROM secrets WHERE name = ?1", [name])?
        > 0)
}

/// A secret name: letters, digits, `_`, `-`, `.`; what `{ secret = "..." }` holds.
pub fn check_secret_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 128
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err(VaultError::BadName {
            name: name.to_string(),
        });
    }
    Ok(())
}

impl<'a> Vault<'a> {
    /// Create the vault of `state`: with a new key file at `key_file`, or keyed by
    /// `passphrase`.
    pub fn init(
        state: &'a State,
        kind: KeyKind,
        key_file: &Path,
        passphrase: Option<Zeroizing<String>>,
    ) -> Result<Vault<'a>> {
        if initialised(state)? {
            return Err(VaultError::AlreadyInitialised {
                state: state.path().to_path_buf(),
            });
        }
        let (key, salt) = match kind {
            KeyKind::KeyFile => {
                let key = key::random_key();
                key::write_key_file(key_file, &key)?;
                (key, None)
            }
            KeyKind::Passphrase => {
                let passphrase = passphrase.ok_or(VaultError::PassphraseNotGiven {
                    what: "a passphrase",
                })?;
                let salt: [u8; 16] = key::random_bytes();
                (
                    key::derive(&passphrase, &salt, key::LOG_N, key::R, key::P)?,
                    Some(salt.to_vec()),
                )
            }
        };
        let (check_nonce, check_value) = seal(&key, CHECK_AAD, CHECK)?;
        let now = timestamp(jiff::Timestamp::now());
        state.conn().execute(
            "INSERT INTO vault (id, kind, salt, log_n, r, p, check_nonce, check_value, created_at, updated_at)
             VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
            params![kind.as_str(), salt, key::LOG_N, key::R, key::P, check_nonce, check_value, now],
        )?;
        Ok(Vault { state, key })
    }

    /// Open the vault of `state`, with the key file (see [`key::key_file_path`]) or a
    /// passphrase from `passphrase`. A wrong key is a clear error, never garbage.
    pub fn open(state: &'a State, key_file: &Path, passphrase: Passphrase) -> Result<Vault<'a>> {
        let Some(h) = header(state)? else {
            return Err(VaultError::NotInitialised {
                state: state.path().to_path_buf(),
            });
        };
        let opens =
            |key: &Key| open_sealed(key, CHECK_AAD, &h.check_nonce, &h.check_value).is_some();
        let key = match h.kind {
            KeyKind::KeyFile => {
                finish_interrupted_rekey(key_file, &opens)?;
                if !key_file.exists() {
                    return Err(VaultError::KeyFileMissing {
                        path: key_file.to_path_buf(),
                    });
                }
                let key = key::read_key_file(key_file)?;
                if !opens(&key) {
                    return Err(VaultError::WrongKey {
                        key_file: key_file.to_path_buf(),
                        state: state.path().to_path_buf(),
                    });
                }
                key
            }
            KeyKind::Passphrase => {
                let salt = h.salt.as_deref().unwrap_or_default();
                let passphrase = passphrase("Vault passphrase: ")?;
                let key = key::derive(&passphrase, salt, h.log_n, h.r, h.p)?;
                if !opens(&key) {
                    return Err(VaultError::WrongPassphrase {
                        state: state.path().to_path_buf(),
                    });
                }
                key
            }
        };
        Ok(Vault { state, key })
    }

    /// Store `value` as secret `name` (replacing it), under a fresh nonce.
    pub fn set(&self, name: &str, value: &[u8]) -> Result<()> {
        check_secret_name(name)?;
        let (nonce, ciphertext) = seal(&self.key, &aad(name), value)?;
        let now = timestamp(jiff::Timestamp::now());
        self.state.conn().execute(
            "INSERT INTO secrets (name, nonce, ciphertext, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)
             ON CONFLICT (name) DO UPDATE SET nonce = ?2, ciphertext = ?3, updated_at = ?4",
            params![name, nonce, ciphertext, now],
        )?;
        Ok(())
    }

    /// The value of secret `name`.
    pub fn get(&self, name: &str) -> Result<Zeroizing<String>> {
        let row: Option<(Vec<u8>, Vec<u8>)> = self
            .state
            .conn()
            .query_row(
                "SELECT nonce, ciphertext FROM secrets WHERE name = ?1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((nonce, ciphertext)) = row else {
            return Err(VaultError::NoSuchSecret {
                name: name.to_string(),
            });
        };
        let plain = open_sealed(&self.key, &aad(name), &nonce, &ciphertext).ok_or_else(|| {
            VaultError::Corrupt {
                name: name.to_string(),
            }
        })?;
        let text = String::from_utf8(plain.to_vec()).map_err(|_| VaultError::NotUtf8 {
            name: name.to_string(),
        })?;
        Ok(Zeroizing::new(text))
    }

    /// A keyed fingerprint of secret `name`'s value (HMAC-SHA256 under the vault key,
    /// 128 bits as hex): equal while the value is, different once it changes, and of
    /// no use for guessing the value without the key. Apply records it for a `run_as`
    /// password, which Task Scheduler never gives back, so plan can tell it changed.
    pub fn fingerprint(&self, name: &str) -> Result<String> {
        use hmac::{Hmac, Mac};
        let value = self.get(name)?;
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(self.key.as_ref())
            .map_err(|_| VaultError::FingerprintKey)?;
        mac.update(b"orc secret fingerprint\0");
        mac.update(name.as_bytes());
        mac.update(b"\0");
        mac.update(value.as_bytes());
        let digest = mac.finalize().into_bytes();
        Ok(digest[..16].iter().map(|b| format!("{b:02x}")).collect())
    }

    /// Re-encrypt every secret under a new key, in one transaction: a crash before
    /// the commit leaves the old key working, after it the new one. With a key file,
    /// the new key is written beside the old one (`KEYFILE.new`) before the commit
    /// and renamed over it after; an open finds and finishes an interrupted rename.
    pub fn rekey(
        self,
        kind: KeyKind,
        key_file: &Path,
        passphrase: Option<Zeroizing<String>>,
    ) -> Result<usize> {
        let staged = staged_path(key_file);
        let (key, salt) = match kind {
            KeyKind::KeyFile => {
                let key = key::random_key();
                let _ = std::fs::remove_file(&staged);
                key::write_key_file(&staged, &key)?;
                (key, None)
            }
            KeyKind::Passphrase => {
                let passphrase = passphrase.ok_or(VaultError::PassphraseNotGiven {
                    what: "a new passphrase",
                })?;
                let salt: [u8; 16] = key::random_bytes();
                (
                    key::derive(&passphrase, &salt, key::LOG_N, key::R, key::P)?,
                    Some(salt.to_vec()),
                )
            }
        };
        crate::failpoint::hit("rekey:staged");
        let conn = self.state.conn();
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let result = (|| -> Result<usize> {
            let names: Vec<String> = list(self.state)?.into_iter().map(|s| s.name).collect();
            for (i, name) in names.iter().enumerate() {
                let value = self.get(name)?;
                let (nonce, ciphertext) = seal(&key, &aad(name), value.as_bytes())?;
                conn.execute(
                    "UPDATE secrets SET nonce = ?2, ciphertext = ?3 WHERE name = ?1",
                    params![name, nonce, ciphertext],
                )?;
                if i == 0 {
                    crate::failpoint::hit("rekey:half-way");
                }
            }
            let (check_nonce, check_value) = seal(&key, CHECK_AAD, CHECK)?;
            conn.execute(
                "UPDATE vault SET kind = ?1, salt = ?2, log_n = ?3, r = ?4, p = ?5, check_nonce = ?6,
                 check_value = ?7, updated_at = ?8 WHERE id = 1",
                params![
                    kind.as_str(),
                    salt,
                    key::LOG_N,
                    key::R,
                    key::P,
                    check_nonce,
                    check_value,
                    timestamp(jiff::Timestamp::now())
                ],
            )?;
            Ok(names.len())
        })();
        let count = match result {
            Ok(count) => {
                conn.execute_batch("COMMIT")?;
                count
            }
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                let _ = std::fs::remove_file(&staged);
                return Err(e);
            }
        };
        crate::failpoint::hit("rekey:committed");
        match kind {
            KeyKind::KeyFile => {
                std::fs::rename(&staged, key_file).map_err(|source| VaultError::Rekey {
                    staged: staged.clone(),
                    key_file: key_file.to_path_buf(),
                    source,
                })?
            }
            // The old key file no longer opens anything.
            KeyKind::Passphrase => {
                let _ = std::fs::remove_file(key_file);
            }
        }
        Ok(count)
    }
}

/// Where a rekey stages the new key file.
fn staged_path(key_file: &Path) -> PathBuf {
    let mut name = key_file.file_name().unwrap_or_default().to_os_string();
    name.push(".new");
    key_file.with_file_name(name)
}

/// A rekey that stopped after its commit left the new key as `KEYFILE.new`: when it
/// opens the vault and the key file does not, finish the rename.
fn finish_interrupted_rekey(key_file: &Path, opens: &dyn Fn(&Key) -> bool) -> Result<()> {
    let staged = staged_path(key_file);
    if !staged.exists() {
        return Ok(());
    }
    let current_opens = key::read_key_file(key_file).is_ok_and(|k| opens(&k));
    if current_opens {
        // A rekey that stopped before its commit: the staged key is unused.
        let _ = std::fs::remove_file(&staged);
    } else if key::read_key_file(&staged).is_ok_and(|k| opens(&k)) {
        std::fs::rename(&staged, key_file).map_err(|source| VaultError::FinishRekey {
            staged: staged.clone(),
            key_file: key_file.to_path_buf(),
            source,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> (tempfile::TempDir, State) {
        let dir = tempfile::tempdir().unwrap();
        let state = State::open(&dir.path().join("state.db")).unwrap();
        (dir, state)
    }

    /// `{:#}`, as the CLI prints an error.
    fn printed(e: VaultError) -> String {
        format!("{:#}", anyhow::Error::from(e))
    }

    #[test]
    fn a_wrong_passphrase_is_its_kind_and_the_right_one_opens() {
        let (dir, state) = state();
        let key_file = dir.path().join("orc.key");
        let right = Zeroizing::new("correct horse".to_string());
        drop(Vault::init(&state, KeyKind::Passphrase, &key_file, Some(right)).unwrap());
        let wrong = |_: &str| Ok(Zeroizing::new("battery staple".to_string()));
        let Err(e) = Vault::open(&state, &key_file, &wrong) else {
            panic!("a wrong passphrase opened the vault");
        };
        let VaultError::WrongPassphrase { state: path } = &e else {
            panic!("{e:?}");
        };
        assert_eq!(path, state.path());
        assert_eq!(
            printed(e),
            format!(
                "wrong passphrase for the vault of {}",
                state.path().display()
            )
        );
        let right = |_: &str| Ok(Zeroizing::new("correct horse".to_string()));
        assert!(Vault::open(&state, &key_file, &right).is_ok());
        // No passphrase at hand is another kind, and the caller's own.
        let none = |_: &str| Err(VaultError::NeedsPassphrase(NoPassphrase::NotInEnv));
        let Err(e) = Vault::open(&state, &key_file, &none) else {
            panic!("opened without a passphrase");
        };
        assert!(
            matches!(e, VaultError::NeedsPassphrase(NoPassphrase::NotInEnv)),
            "{e:?}"
        );
    }

    /// A vault with a key file, and one secret `a` in it.
    fn key_file_vault(state: &State, key_file: &Path) {
        let vault = Vault::init(state, KeyKind::KeyFile, key_file, None).unwrap();
        vault.set("a", b"value").unwrap();
    }

    fn no_passphrase(_: &str) -> Result<Zeroizing<String>> {
        panic!("a key file vault asked for a passphrase")
    }

    #[test]
    fn a_missing_secret_is_its_kind_with_its_name_and_hint() {
        let (dir, state) = state();
        let key_file = dir.path().join("orc.key");
        key_file_vault(&state, &key_file);
        let vault = Vault::open(&state, &key_file, &no_passphrase).unwrap();
        assert_eq!(vault.get("a").unwrap().as_str(), "value");
        let Err(e) = vault.get("b") else {
            panic!("a secret never set was found");
        };
        let VaultError::NoSuchSecret { name } = &e else {
            panic!("{e:?}");
        };
        assert_eq!(name, "b");
        assert_eq!(
            printed(e),
            "no secret \"b\" in the vault; add it with `orc secret set b`"
        );
        let e = vault.set("no/slash", b"x").unwrap_err();
        assert!(
            matches!(&e, VaultError::BadName { name } if name == "no/slash"),
            "{e:?}"
        );
    }

    #[cfg(unix)]
    fn chmod(path: &Path, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn an_unreadable_key_file_is_a_key_file_read_error_with_its_cause() {
        let (dir, state) = state();
        let key_file = dir.path().join("orc.key");
        key_file_vault(&state, &key_file);
        // A folder in the key file's place: unreadable as a file, even to root.
        std::fs::remove_file(&key_file).unwrap();
        std::fs::create_dir(&key_file).unwrap();
        #[cfg(unix)]
        chmod(&key_file, 0o700);
        let Err(e) = Vault::open(&state, &key_file, &no_passphrase) else {
            panic!("a folder opened the vault");
        };
        let VaultError::KeyFile {
            action,
            what,
            path,
            source,
        } = &e
        else {
            panic!("{e:?}");
        };
        assert_eq!((*action, *what), ("read", "the vault key file"));
        assert_eq!(path, &key_file);
        let cause = source.to_string();
        // The message says what failed, its source why, each once.
        let message = format!("cannot read the vault key file {}", key_file.display());
        assert_eq!(e.to_string(), message);
        let secret = SecretError::vault(e);
        assert_eq!(secret.to_string(), format!("{message}: {cause}"));
        assert!(matches!(
            &secret,
            SecretError::Vault(v) if matches!(**v, VaultError::KeyFile { .. })
        ));
        // No file at all is its own kind.
        std::fs::remove_dir(&key_file).unwrap();
        let Err(e) = Vault::open(&state, &key_file, &no_passphrase) else {
            panic!("no key file opened the vault");
        };
        assert!(matches!(e, VaultError::KeyFileMissing { .. }), "{e:?}");
    }

    #[cfg(unix)]
    #[test]
    fn a_key_file_others_can_read_is_refused_by_kind() {
        let (dir, state) = state();
        let key_file = dir.path().join("orc.key");
        key_file_vault(&state, &key_file);
        chmod(&key_file, 0o644);
        let Err(e) = Vault::open(&state, &key_file, &no_passphrase) else {
            panic!("a key file others can read opened the vault");
        };
        let VaultError::ReadableByOthers { what, path, mode } = &e else {
            panic!("{e:?}");
        };
        assert_eq!(
            (*what, path, *mode),
            ("the vault key file", &key_file, 0o644)
        );
        let k = key_file.display();
        assert_eq!(
            printed(e),
            format!(
                "the vault key file {k} can be read by others (mode 0644); make it readable by its owner only: chmod 600 {k}"
            )
        );
        chmod(&key_file, 0o600);
        assert!(Vault::open(&state, &key_file, &no_passphrase).is_ok());
    }
}
