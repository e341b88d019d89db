//! What can go wrong with the secrets vault, by kind, so that callers (`orc doctor`'s
//! fixes, a run's reason) choose from the kind and never from the text.

use std::path::PathBuf;

use crate::state::StateError;

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    // ---- the vault ----
    /// `orc secret init` has not run for this state.
    #[error(
        "no secrets vault in {}: create one with `orc secret init`",
        state.display()
    )]
    NotInitialised { state: PathBuf },
    /// `orc secret init` ran already for this state.
    #[error(
        "the vault of {} exists already; `orc secret rekey` changes its key",
        state.display()
    )]
    AlreadyInitialised { state: PathBuf },
    /// The vault's header row could not be read from the database.
    #[error("cannot read the vault")]
    Read(#[source] rusqlite::Error),
    /// Any other failure of the database under the vault.
    #[error(transparent)]
    State(#[from] StateError),

    // ---- secrets ----
    /// The vault opened but holds no secret of this name.
    #[error("no secret \"{name}\" in the vault; add it with `orc secret set {name}`")]
    NoSuchSecret { name: String },
    /// A name `{ secret = "..." }` cannot hold.
    #[error("\"{name}\" is not a secret name: use letters, digits, '_', '-' and '.'")]
    BadName { name: String },
    /// The key opens the vault, but this secret's stored bytes do not decrypt.
    #[error(
        "secret \"{name}\" cannot be decrypted: its stored bytes were changed or copied from another secret (the vault key itself is right); set it again with `orc secret set {name}`"
    )]
    Corrupt { name: String },
    /// The secret decrypts, but not to text.
    #[error("secret \"{name}\" is not UTF-8 text")]
    NotUtf8 { name: String },

    // ---- the key ----
    /// The passphrase given does not open the vault.
    #[error("wrong passphrase for the vault of {}", state.display())]
    WrongPassphrase { state: PathBuf },
    /// The key file holds a key, but not this vault's.
    #[error(
        "the key file {} does not open the vault of {} (a key file of another vault?)",
        key_file.display(),
        state.display()
    )]
    WrongKey { key_file: PathBuf, state: PathBuf },
    /// The vault is keyed by a key file, and there is none where orc looks.
    #[error(
        "the vault's key file {} is missing: copy it from the server where `orc secret init` made it, or point ORC_KEY_FILE at it",
        path.display()
    )]
    KeyFileMissing { path: PathBuf },
    /// The key file is there but is not 64 hex digits.
    #[error("the vault key file {} is not a key (64 hex digits)", path.display())]
    BadKeyFile { path: PathBuf },
    /// A key file or passphrase file could not be read, created or written.
    #[error("cannot {action} {what} {}", path.display())]
    KeyFile {
        /// "read", "create" or "write".
        action: &'static str,
        /// "the vault key file", "the key file", "the passphrase file".
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The folder a new key file goes in could not be made.
    #[error("cannot create {}", path.display())]
    KeyDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file holding a key or passphrase that others may read: refused, as the key
    /// would be everyone's.
    #[error(
        "{what} {} can be read by others (mode {mode:04o}); make it readable by its owner only: chmod 600 {}",
        path.display(),
        path.display()
    )]
    ReadableByOthers {
        what: &'static str,
        path: PathBuf,
        mode: u32,
    },

    // ---- the passphrase ----
    /// The vault is keyed by a passphrase and none was at hand where the caller
    /// looks (it says where).
    #[error("{0}")]
    NeedsPassphrase(NoPassphrase),
    /// An init or rekey to a passphrase was not given one.
    #[error("{what} is needed")]
    PassphraseNotGiven {
        /// "a passphrase" or "a new passphrase".
        what: &'static str,
    },
    /// The terminal prompt failed.
    #[error("cannot read the passphrase")]
    Prompt(#[source] std::io::Error),
    /// Windows Credential Manager would not give the credential (other than that
    /// there is none).
    #[error("cannot read the credential {target} from Windows Credential Manager: {message}")]
    Credman { target: String, message: String },
    /// The credential's password has an odd number of bytes.
    #[error(
        "the credential orc_passphrase is not UTF-16 text ({len} bytes); store it with cmdkey /generic:orc_passphrase /user:orc /pass"
    )]
    CredentialOddLength { len: usize },
    /// The credential's password is not valid UTF-16 (a lone surrogate).
    #[error("the credential orc_passphrase is not valid UTF-16 text")]
    CredentialNotUtf16,

    // ---- key derivation and encryption ----
    /// The stored scrypt parameters are beyond what orc writes: damage or tampering.
    #[error(
        "the vault's scrypt parameters (log_n {log_n}, r {r}, p {p}) are outside what orc writes (log_n 10-{max_log_n}, r 1-{max_r}, p 1-{max_p}): the vault table is damaged or was tampered with",
        max_log_n = super::key::MAX_LOG_N,
        max_r = super::key::MAX_R,
        max_p = super::key::MAX_P
    )]
    KdfOutOfRange { log_n: u8, r: u32, p: u32 },
    /// scrypt refused the parameters (its error is no `std::error::Error` here).
    #[error("the vault's scrypt parameters are invalid: {0}")]
    KdfParams(scrypt::errors::InvalidParams),
    /// scrypt refused to derive the key.
    #[error("cannot derive the vault key: {0}")]
    Kdf(scrypt::errors::InvalidOutputLen),
    /// The cipher would not encrypt.
    #[error("encryption failed")]
    Seal,
    /// The vault key would not key the fingerprint HMAC.
    #[error("the vault key cannot key a fingerprint")]
    FingerprintKey,

    // ---- rekey ----
    /// A rekey committed, but its new key file could not be moved over the old one.
    #[error(
        "the vault has its new key in {}; move it to {}",
        staged.display(),
        key_file.display()
    )]
    Rekey {
        staged: PathBuf,
        key_file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An open found an interrupted rekey's new key file and could not move it.
    #[error(
        "cannot move the vault's new key {} to {}",
        staged.display(),
        key_file.display()
    )]
    FinishRekey {
        staged: PathBuf,
        key_file: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl From<rusqlite::Error> for VaultError {
    fn from(e: rusqlite::Error) -> Self {
        VaultError::State(StateError::Sql(e))
    }
}

/// Where a caller looked for a passphrase and found none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NoPassphrase {
    /// No passphrase file, credential or `ORC_PASSPHRASE`, and no terminal to ask on.
    #[error(
        "the vault is protected by a passphrase: give it in a file (ORC_PASSPHRASE_FILE, or a systemd credential named orc_passphrase), or set ORC_PASSPHRASE, or run on a terminal to be asked"
    )]
    NoTerminal,
    /// `ORC_PASSPHRASE` is unset, and the caller (`orc doctor`) looks nowhere else.
    #[error("ORC_PASSPHRASE is not set")]
    NotInEnv,
    /// None where it is found without asking, and the caller (a plan) never asks.
    #[error("no passphrase without asking")]
    NotAsked,
}

pub type Result<T, E = VaultError> = std::result::Result<T, E>;

/// An error and each of its sources after ": ", as the CLI's `{:#}` prints them;
/// for a failure kept or shown as words.
pub struct WithSources<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for WithSources<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}
