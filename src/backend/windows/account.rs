//! Accounts as Windows compares them, so that a principal Windows returns as a SID,
//! in another case or with another domain prefix is the same account, never a diff
//! (the perpetual diff DSC's ScheduledTask resource is known for).
//!
//! The well-known accounts (SYSTEM, LOCAL SERVICE, NETWORK SERVICE, the BUILTIN
//! groups, Everyone...) are equal by SID or by name everywhere. Other accounts are
//! resolved by Windows (`LookupAccountNameW`, `LookupAccountSidW`) into one spelling,
//! `DOMAIN\name`; elsewhere, and for an account Windows cannot find, they compare
//! without regard to case.

use crate::tasksched::{is_sid, well_known_name};
pub use crate::tasksched::{is_system, service_account};

/// One spelling per account: equal for SID and name, any case, any way of writing a
/// well-known account's domain.
pub fn canonical(account: &str) -> String {
    let account = account.trim();
    if let Some(name) = well_known_name(account) {
        return name.to_string();
    }
    // `.\alice` is the local machine's alice (LookupAccountNameW does not take `.`).
    let account = account.strip_prefix(".\\").unwrap_or(account);
    #[cfg(windows)]
    if let Some((sid, name)) = resolve::lookup(account) {
        if let Some(name) = well_known_name(&sid) {
            return name.to_string();
        }
        return name.to_lowercase();
    }
    if is_sid(account) {
        return account.to_ascii_uppercase();
    }
    account.to_lowercase()
}

/// Whether this process's token is elevated (Run as administrator). Unknown counts
/// as elevated: the check warns, it never blocks on a guess.
#[cfg(windows)]
pub fn elevated() -> bool {
    use windows::Win32::Foundation::{CloseHandle, HANDLE};
    use windows::Win32::Security::{
        GetTokenInformation, TOKEN_ELEVATION, TOKEN_QUERY, TokenElevation,
    };
    use windows::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};
    let mut token = HANDLE::default();
    // SAFETY: the current process's pseudo-handle; the token is closed below.
    if unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) }.is_err() {
        return true;
    }
    let mut elevation = TOKEN_ELEVATION::default();
    let mut len = 0u32;
    // SAFETY: `elevation` is the TOKEN_ELEVATION the class asks for, of that size.
    let read = unsafe {
        GetTokenInformation(
            token,
            TokenElevation,
            Some((&mut elevation as *mut TOKEN_ELEVATION).cast()),
            std::mem::size_of::<TOKEN_ELEVATION>() as u32,
            &mut len,
        )
    };
    // SAFETY: the token opened above, closed once.
    unsafe {
        let _ = CloseHandle(token);
    }
    read.is_err() || elevation.TokenIsElevated != 0
}

/// The account of this process's token as `DOMAIN\\name` (GetUserNameExW).
#[cfg(windows)]
pub fn current() -> Option<String> {
    use windows::Win32::Security::Authentication::Identity::{GetUserNameExW, NameSamCompatible};
    use windows::core::PWSTR;
    let mut len = 0u32;
    // SAFETY: a size query: no buffer, the size is written to `len`.
    let _ = unsafe { GetUserNameExW(NameSamCompatible, None, &mut len) };
    if len == 0 {
        return None;
    }
    let mut name = vec![0u16; len as usize];
    // SAFETY: the buffer has the size the query asked for; on success `len` holds
    // the length without the NUL.
    let ok = unsafe { GetUserNameExW(NameSamCompatible, Some(PWSTR(name.as_mut_ptr())), &mut len) };
    (ok && len > 0).then(|| String::from_utf16_lossy(&name[..len as usize]))
}

/// Windows' own answer: the SID and `DOMAIN\name` of an account given either way,
/// remembered for the process (a domain account's lookup asks a domain controller).
#[cfg(windows)]
mod resolve {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use windows::Win32::Foundation::{HLOCAL, LocalFree};
    use windows::Win32::Security::Authorization::{ConvertSidToStringSidW, ConvertStringSidToSidW};
    use windows::Win32::Security::{LookupAccountNameW, LookupAccountSidW, PSID, SID_NAME_USE};
    use windows::core::{HSTRING, PCWSTR, PWSTR};

    /// An account's SID and `DOMAIN\name`, as Windows resolved them.
    type Resolved = Option<(String, String)>;

    static KNOWN: Mutex<Option<HashMap<String, Resolved>>> = Mutex::new(None);

    pub fn lookup(account: &str) -> Option<(String, String)> {
        let key = account.to_lowercase();
        let mut known = KNOWN.lock().unwrap_or_else(|e| e.into_inner());
        let known = known.get_or_insert_with(HashMap::new);
        if let Some(found) = known.get(&key) {
            return found.clone();
        }
        let found = if super::is_sid(account) {
            by_sid_string(account)
        } else {
            by_name(account)
        };
        known.insert(key, found.clone());
        found
    }

    fn by_sid_string(text: &str) -> Option<(String, String)> {
        let mut sid = PSID::default();
        // SAFETY: reads the NUL-terminated string; on success `sid` is a SID that
        // LocalAlloc made, freed below.
        unsafe { ConvertStringSidToSidW(&HSTRING::from(text), &mut sid) }.ok()?;
        let found = describe(sid);
        // SAFETY: `sid` came from ConvertStringSidToSidW, which says to LocalFree it.
        unsafe { LocalFree(Some(HLOCAL(sid.0))) };
        found
    }

    fn by_name(name: &str) -> Option<(String, String)> {
        let name = HSTRING::from(name);
        let (mut sid_len, mut domain_len) = (0u32, 0u32);
        let mut kind = SID_NAME_USE::default();
        // SAFETY: a size query: no buffers, the sizes are written to the counters.
        let _ = unsafe {
            LookupAccountNameW(
                PCWSTR::null(),
                &name,
                None,
                &mut sid_len,
                None,
                &mut domain_len,
                &mut kind,
            )
        };
        if sid_len == 0 {
            return None;
        }
        let mut sid = vec![0u8; sid_len as usize];
        let mut domain = vec![0u16; domain_len.max(1) as usize];
        // SAFETY: both buffers have the sizes the query asked for.
        unsafe {
            LookupAccountNameW(
                PCWSTR::null(),
                &name,
                Some(PSID(sid.as_mut_ptr().cast())),
                &mut sid_len,
                Some(PWSTR(domain.as_mut_ptr())),
                &mut domain_len,
                &mut kind,
            )
        }
        .ok()?;
        describe(PSID(sid.as_mut_ptr().cast()))
    }

    /// The SID as text and the account's `DOMAIN\name` (the SID again when Windows
    /// knows no name for it).
    fn describe(sid: PSID) -> Option<(String, String)> {
        let mut text = PWSTR::null();
        // SAFETY: `sid` is a valid SID; the string is LocalAlloc'd, freed below.
        unsafe { ConvertSidToStringSidW(sid, &mut text) }.ok()?;
        // SAFETY: a NUL-terminated string Windows just wrote.
        let sid_text = unsafe { text.to_string() }.ok();
        // SAFETY: allocated by ConvertSidToStringSidW, which says to LocalFree it.
        unsafe { LocalFree(Some(HLOCAL(text.0.cast()))) };
        let sid_text = sid_text?;
        let (mut name_len, mut domain_len) = (0u32, 0u32);
        let mut kind = SID_NAME_USE::default();
        // SAFETY: a size query, as above.
        let _ = unsafe {
            LookupAccountSidW(
                PCWSTR::null(),
                sid,
                None,
                &mut name_len,
                None,
                &mut domain_len,
                &mut kind,
            )
        };
        if name_len == 0 {
            return Some((sid_text.clone(), sid_text));
        }
        let mut name = vec![0u16; name_len as usize];
        let mut domain = vec![0u16; domain_len.max(1) as usize];
        // SAFETY: both buffers have the sizes the query asked for; on success the
        // counters hold the lengths without the NUL.
        let named = unsafe {
            LookupAccountSidW(
                PCWSTR::null(),
                sid,
                Some(PWSTR(name.as_mut_ptr())),
                &mut name_len,
                Some(PWSTR(domain.as_mut_ptr())),
                &mut domain_len,
                &mut kind,
            )
        };
        if named.is_err() {
            return Some((sid_text.clone(), sid_text));
        }
        let name = String::from_utf16_lossy(&name[..name_len as usize]);
        let domain = String::from_utf16_lossy(&domain[..domain_len as usize]);
        let full = if domain.is_empty() {
            name
        } else {
            format!("{domain}\\{name}")
        };
        Some((sid_text, full))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_accounts_are_equal_by_sid_and_by_name() {
        for (spellings, name) in [
            (
                &[
                    "S-1-5-18",
                    "SYSTEM",
                    "nt authority\\system",
                    "LocalSystem",
                    "s-1-5-18",
                ][..],
                "SYSTEM",
            ),
            (
                &["S-1-5-19", "NT AUTHORITY\\LOCAL SERVICE", "LocalService"][..],
                "LOCAL SERVICE",
            ),
            (
                &[
                    "S-1-5-20",
                    "NETWORK SERVICE",
                    "NT AUTHORITY\\NetworkService",
                ][..],
                "NETWORK SERVICE",
            ),
            (
                &["S-1-5-32-544", "BUILTIN\\Administrators", "administrators"][..],
                "BUILTIN\\Administrators",
            ),
            (
                &["S-1-5-32-545", "Users", "builtin\\users"][..],
                "BUILTIN\\Users",
            ),
        ] {
            for s in spellings {
                assert_eq!(canonical(s), name, "{s}");
            }
        }
        assert!(is_system("nt authority\\SYSTEM"));
        assert!(
            !is_system("CONTOSO\\SYSTEM"),
            "another domain's SYSTEM is a user"
        );
        assert_eq!(service_account("localservice"), Some("LOCAL SERVICE"));
        assert_eq!(service_account("BUILTIN\\Users"), None);
    }

    #[test]
    fn other_accounts_compare_without_case() {
        assert_eq!(canonical("CONTOSO\\Alice"), canonical("contoso\\ALICE"));
        assert_eq!(canonical(".\\backup"), canonical("Backup"));
        assert_ne!(canonical("CONTOSO\\alice"), canonical("FABRIKAM\\alice"));
        let sid = "s-1-5-21-3623811015-3361044348-30300820-1013";
        assert_eq!(canonical(sid), sid.to_ascii_uppercase());
        // Names in any script (an exported task's `计算机名\用户名`).
        assert_eq!(canonical("计算机名\\用户名"), "计算机名\\用户名");
        assert!(!is_system("算"));
    }
}
