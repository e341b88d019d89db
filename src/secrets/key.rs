//! The vault key: 32 bytes, from a key file or derived from a passphrase with scrypt,
//! wiped from memory when dropped.

use std::io::Write;
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{OsRng, rand_core::RngCore};
use zeroize::Zeroizing;

use super::error::{Result, VaultError};

pub type Key = Zeroizing<[u8; 32]>;

/// scrypt cost for a passphrase: N = 2^15, r = 8, p = 1 (32 MiB, tens of ms), the
/// parameters RFC 7914 and the scrypt paper give for interactive use. Stored with
/// each vault, so a later orc can raise them for new vaults without breaking old ones.
pub const LOG_N: u8 = 15;
pub const R: u32 = 8;
pub const P: u32 = 1;

/// The highest scrypt cost orc accepts from a stored vault: 2^20 x r 16 x p 4 (about
/// 2 GiB of work memory at most). orc writes 2^15, 8, 1; larger values in the vault
/// table are tampering or damage, and would make orc allocate without bound.
pub(super) const MAX_LOG_N: u8 = 20;
pub(super) const MAX_R: u32 = 16;
pub(super) const MAX_P: u32 = 4;

/// The key scrypt derives from `passphrase` with `salt` and the stored parameters.
pub fn derive(passphrase: &str, salt: &[u8], log_n: u8, r: u32, p: u32) -> Result<Key> {
    if !(10..=MAX_LOG_N).contains(&log_n) || !(1..=MAX_R).contains(&r) || !(1..=MAX_P).contains(&p)
    {
        return Err(VaultError::KdfOutOfRange { log_n, r, p });
    }
    let params = scrypt::Params::new(log_n, r, p, 32).map_err(VaultError::KdfParams)?;
    let mut key = Zeroizing::new([0u8; 32]);
    scrypt::scrypt(passphrase.as_bytes(), salt, &params, key.as_mut()).map_err(VaultError::Kdf)?;
    Ok(key)
}

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    OsRng.fill_bytes(&mut bytes);
    bytes
}

pub fn random_key() -> Key {
    Zeroizing::new(random_bytes())
}

/// `ORC_KEY_FILE`, else `orc.key` beside the state database.
pub fn key_file_path(state: &Path) -> PathBuf {
    match std::env::var_os("ORC_KEY_FILE").filter(|v| !v.is_empty()) {
        Some(path) => PathBuf::from(path),
        None => state.parent().unwrap_or(Path::new(".")).join("orc.key"),
    }
}

/// A key file holds the key as 64 hex digits and a newline, so it can be copied
/// between servers as text.
pub fn read_key_file(path: &Path) -> Result<Key> {
    refuse_readable_by_others(path, "the vault key file")?;
    let text =
        Zeroizing::new(
            std::fs::read_to_string(path).map_err(|source| VaultError::KeyFile {
                action: "read",
                what: "the vault key file",
                path: path.to_path_buf(),
                source,
            })?,
        );
    let hex = text.trim();
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(VaultError::BadKeyFile {
            path: path.to_path_buf(),
        });
    }
    let mut key = Zeroizing::new([0u8; 32]);
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap_or(0);
    }
    Ok(key)
}

/// A file holding a key or passphrase that others may read is refused: the key would
/// be everyone's. (Unix modes; on Windows the folder's ACL decides.)
pub fn refuse_readable_by_others(path: &Path, what: &'static str) -> Result<()> {
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(VaultError::ReadableByOthers {
                what,
                path: path.to_path_buf(),
                mode,
            });
        }
    }
    #[cfg(not(unix))]
    let _ = (path, what);
    Ok(())
}

/// Write `key` to `path`, readable by its owner only, flushed to disk. Refuses to
/// overwrite an existing file.
pub fn write_key_file(path: &Path, key: &Key) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| VaultError::KeyDir {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let key_file = |action, source| VaultError::KeyFile {
        action,
        what: "the key file",
        path: path.to_path_buf(),
        source,
    };
    let mut file = options
        .open(path)
        .map_err(|source| key_file("create", source))?;
    let hex: Zeroizing<String> =
        Zeroizing::new(key.iter().map(|b| format!("{b:02x}")).collect::<String>() + "\n");
    file.write_all(hex.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|source| key_file("write", source))
}
