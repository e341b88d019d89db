//! The vault passphrase from Windows Credential Manager: a generic credential of the
//! account orc runs as, named `orc_passphrase` (`cmdkey /generic:orc_passphrase
//! /user:orc /pass`, run as that account). Windows keeps it encrypted for that account
//! (DPAPI), out of every file and environment a task can read.

use zeroize::Zeroizing;

use super::error::{Result, VaultError};

/// The passphrase of the generic credential `target`, or `None` when the account has
/// no such credential.
#[cfg(windows)]
pub fn read_generic(target: &str) -> Result<Option<Zeroizing<String>>> {
    use windows::Win32::Foundation::ERROR_NOT_FOUND;
    use windows::Win32::Security::Credentials::{
        CRED_TYPE_GENERIC, CREDENTIALW, CredFree, CredReadW,
    };
    use windows::core::HSTRING;

    let mut credential: *mut CREDENTIALW = std::ptr::null_mut();
    // SAFETY: CredReadW reads the NUL-terminated name and, on success, stores a
    // pointer to a buffer it allocated in `credential`.
    let read = unsafe {
        CredReadW(
            &HSTRING::from(target),
            CRED_TYPE_GENERIC,
            None,
            &mut credential,
        )
    };
    match read {
        Err(e) if e.code() == ERROR_NOT_FOUND.to_hresult() => return Ok(None),
        Err(e) => {
            return Err(VaultError::Credman {
                target: target.to_string(),
                message: e.message(),
            });
        }
        Ok(()) => {}
    }
    // SAFETY: on success `credential` points to a CREDENTIALW whose blob holds
    // CredentialBlobSize bytes (or is null); the blob is copied, wiped, and the
    // whole buffer freed with CredFree, once.
    let blob = unsafe {
        let c = &*credential;
        let len = c.CredentialBlobSize as usize;
        let copy = if c.CredentialBlob.is_null() || len == 0 {
            Zeroizing::new(Vec::new())
        } else {
            let copy = Zeroizing::new(std::slice::from_raw_parts(c.CredentialBlob, len).to_vec());
            std::ptr::write_bytes(c.CredentialBlob, 0, len);
            copy
        };
        CredFree(credential as *const core::ffi::c_void);
        copy
    };
    decode_blob(&blob).map(Some)
}

/// A credential's password as cmdkey, the Credential Manager window and PowerShell
/// store it: UTF-16LE, without a terminating NUL.
#[cfg_attr(not(windows), allow(dead_code))]
pub(crate) fn decode_blob(blob: &[u8]) -> Result<Zeroizing<String>> {
    if !blob.len().is_multiple_of(2) {
        return Err(VaultError::CredentialOddLength { len: blob.len() });
    }
    let units: Zeroizing<Vec<u16>> = Zeroizing::new(
        blob.chunks_exact(2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
            .collect(),
    );
    let text = String::from_utf16(&units).map_err(|_| VaultError::CredentialNotUtf16)?;
    Ok(Zeroizing::new(text))
}

#[cfg(test)]
mod tests {
    use super::decode_blob;

    #[test]
    fn a_utf16_password_decodes_and_an_odd_blob_is_refused() {
        let blob: Vec<u8> = "Pässwort 7"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        assert_eq!(decode_blob(&blob).unwrap().as_str(), "Pässwort 7");
        assert_eq!(decode_blob(&[]).unwrap().as_str(), "");
        let err = decode_blob(b"abc").unwrap_err();
        assert!(
            matches!(err, super::VaultError::CredentialOddLength { len: 3 }),
            "{err:?}"
        );
        let err = err.to_string();
        assert!(err.contains("not UTF-16"), "{err}");
        assert!(
            !err.contains("abc"),
            "the error shows no part of the value: {err}"
        );
        // A lone surrogate is not text.
        assert!(matches!(
            decode_blob(&[0x00, 0xd8]),
            Err(super::VaultError::CredentialNotUtf16)
        ));
    }
}
