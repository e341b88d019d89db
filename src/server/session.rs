//! Browser sessions for the dashboard.
//!
//! The login form takes the server's token once and answers with a random session
//! id in an HttpOnly, SameSite=Strict cookie, so page scripts never hold the token.
//! Each session has its own CSRF token, written into the pages it renders; a
//! request that changes something and comes with the cookie must send that token
//! back in `X-CSRF-Token` (logging out, a plain form, sends it as a `csrf` field),
//! else it is refused with 403.
//! Sessions live in memory: restarting the server logs everyone out.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, header};

pub const COOKIE: &str = "orc_session";
pub const CSRF_HEADER: &str = "x-csrf-token";
/// How long a login lasts.
pub const LIFETIME: Duration = Duration::from_secs(12 * 3600);

#[derive(Default)]
pub struct Sessions {
    live: Mutex<HashMap<String, Session>>,
}

struct Session {
    csrf: String,
    expires: Instant,
}

/// 32 random bytes as hex.
fn random_hex() -> String {
    let bytes: [u8; 32] = crate::secrets::key::random_bytes();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Equal, compared in constant time (for tokens).
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl Sessions {
    /// A new session: its id (the cookie) and its CSRF token.
    pub fn create(&self) -> (String, String) {
        let (id, csrf) = (random_hex(), random_hex());
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        // Expired sessions go whenever someone logs in; the map stays small.
        live.retain(|_, s| s.expires > now);
        live.insert(
            id.clone(),
            Session {
                csrf: csrf.clone(),
                expires: now + LIFETIME,
            },
        );
        (id, csrf)
    }

    /// The CSRF token of a live session.
    pub fn csrf(&self, id: &str) -> Option<String> {
        let live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        live.get(id)
            .filter(|s| s.expires > Instant::now())
            .map(|s| s.csrf.clone())
    }

    pub fn remove(&self, id: &str) {
        self.live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }
}

/// The value of cookie `name` in the request, if sent.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The `Set-Cookie` value that starts a session.
pub fn set_cookie(id: &str) -> String {
    format!(
        "{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
        LIFETIME.as_secs()
    )
}

/// The `Set-Cookie` value that ends one.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_and_cookies() {
        let sessions = Sessions::default();
        let (id, csrf) = sessions.create();
        assert_eq!(sessions.csrf(&id).as_deref(), Some(csrf.as_str()));
        assert_ne!(id, csrf);
        assert_eq!(sessions.csrf("nope"), None);
        sessions.remove(&id);
        assert_eq!(sessions.csrf(&id), None);

        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, "a=1; orc_session=abc; b=2".parse().unwrap());
        assert_eq!(cookie(&headers, COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, "c"), None);
        assert!(set_cookie("x").contains("HttpOnly; SameSite=Strict"));
        assert!(same_secret("abc", "abc") && !same_secret("abc", "abd") && !same_secret("a", "ab"));
    }
}
