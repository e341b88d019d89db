//! Who may ask what, checked before any route runs.
//!
//! - **Host.** A request whose `Host` is not one of this server's names is refused
//!   with 421: a web page that points its own name at 127.0.0.1 (DNS rebinding) is
//!   same-origin with its own name, never with `localhost`, a loopback address or the
//!   listen address, so its scripts cannot read the answers. Other names the server
//!   is reached by (a reverse proxy's, a LAN name) are given with `--allow-host`.
//! - **Login.** Every route but `/api/health`, the login page (and logout) and the
//!   static assets needs the server's token (`Authorization: Bearer TOKEN`) or a live
//!   dashboard session; loopback is no boundary on a machine several people use.
//!   `--public-read` opens the reads (GET) again; changes always need one of the two.
//!   A page asked for without either is redirected to the login form, anything else
//!   is a 401.
//! - **Origin.** A change made with a session (cookie plus CSRF token) must also come
//!   from a page of this server: its `Origin` (or, lacking one, its `Referer`) must be
//!   `http(s)://` followed by the request's own, already checked, `Host`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{Request, State as Shared};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use super::{ApiError, ApiResult, Server, session};

/// The address a connection came in on (set by the accept loop): a server listening
/// on 0.0.0.0 is reached by the address of one of its interfaces.
#[derive(Clone, Copy, Debug)]
pub struct LocalAddr(pub SocketAddr);

/// Routes anyone who reaches the server may ask for (the Host check still applies).
const OPEN: [&str; 5] = [
    "/api/health",
    "/login",
    "/logout",
    "/static/app.css",
    "/static/app.js",
];

/// The server's names and whether reads are open.
pub struct Access {
    /// The address `--listen` gave.
    listen: IpAddr,
    /// `--allow-host` names (or addresses), lowercased.
    names: Vec<String>,
    pub public_read: bool,
}

/// The host of a `Host` header or an origin's authority: lowercased, without the
/// port, an IPv6 address without its brackets. None when it is not one.
fn host_of(authority: &str) -> Option<String> {
    let authority = authority.trim();
    let host = if let Some(rest) = authority.strip_prefix('[') {
        let (ip, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(is_port)) {
            return None;
        }
        ip
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) if is_port(port) => host,
            Some(_) => return None,
            None => authority,
        }
    };
    let ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'));
    ok.then(|| host.to_ascii_lowercase())
}

fn is_port(s: &str) -> bool {
    !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit())
}

impl Access {
    pub fn new(listen: IpAddr, names: &[String], public_read: bool) -> Access {
        Access {
            listen,
            names: names
                .iter()
                .map(|n| host_of(n).unwrap_or_else(|| n.to_ascii_lowercase()))
                .collect(),
            public_read,
        }
    }

    /// Whether `host` (a `Host` header) names this server: `localhost`, a loopback
    /// address, the listen address, the address the connection came in on, or an
    /// `--allow-host` name.
    pub fn host_allowed(&self, host: &str, local: Option<IpAddr>) -> bool {
        let Some(name) = host_of(host) else {
            return false;
        };
        if name == "localhost" || self.names.contains(&name) {
            return true;
        }
        match name.parse::<IpAddr>() {
            Ok(ip) => {
                let ip = ip.to_canonical();
                ip.is_loopback()
                    || ip == self.listen.to_canonical()
                    || local.is_some_and(|l| l.to_canonical() == ip)
            }
            Err(_) => false,
        }
    }
}

/// The request's `Host` (HTTP/1.1 requires one).
fn host(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::HOST).and_then(|h| h.to_str().ok())
}

/// A refusal as every API error is: a status and `{"error": "..."}`.
fn refuse(status: StatusCode, message: String) -> Response {
    ApiError(status, message).into_response()
}

/// Logged in: the server's token as a bearer token, or a live session's cookie.
pub fn logged_in(server: &Server, headers: &HeaderMap) -> ApiResult<()> {
    let unauthorised = |m: &str| Err(ApiError(StatusCode::UNAUTHORIZED, m.to_string()));
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        return match value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")) {
            Some(t) if session::same_secret(t, &server.token) => Ok(()),
            _ => unauthorised("wrong token"),
        };
    }
    if let Some(id) = session::cookie(headers, session::COOKIE) {
        return match server.sessions.csrf(id) {
            Some(_) => Ok(()),
            None => unauthorised("the session has ended: log in again"),
        };
    }
    unauthorised(
        "this request needs Authorization: Bearer TOKEN (`orc serve --print-token`) or a dashboard login",
    )
}

/// The authority (`host:port`) of an `http://` or `https://` URL.
fn authority_of(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(&rest[..end])
}

/// A session's change comes from a page of this server: its `Origin`, or without
/// one its `Referer`, is this request's own `Host` (which the Host check passed).
/// A request with neither is refused: browsers send `Origin` with every POST, PUT
/// and DELETE.
pub fn same_origin(headers: &HeaderMap) -> ApiResult<()> {
    let forbidden = |m: String| Err(ApiError(StatusCode::FORBIDDEN, m));
    let source = headers
        .get(header::ORIGIN)
        .map(|o| ("Origin", o))
        .or_else(|| headers.get(header::REFERER).map(|r| ("Referer", r)));
    let Some((which, value)) = source else {
        return forbidden(
            "a change made with a dashboard session needs an Origin or Referer header".to_string(),
        );
    };
    let value = value.to_str().unwrap_or_default();
    match (authority_of(value), host(headers)) {
        (Some(from), Some(host)) if from.eq_ignore_ascii_case(host) => Ok(()),
        _ => forbidden(format!(
            "{which} {value:?} is not this server: a dashboard session changes things only from its own pages"
        )),
    }
}

/// The middleware: the Host check on every request, then the login on every route
/// that is not open.
pub async fn guard(Shared(server): Shared<Arc<Server>>, request: Request, next: Next) -> Response {
    let local = request.extensions().get::<LocalAddr>().map(|a| a.0.ip());
    match host(request.headers()) {
        None => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "the request has no Host header".to_string(),
            );
        }
        // An absolute-form target (`GET http://name/ HTTP/1.1`) names a host too.
        Some(h)
            if !server.access.host_allowed(h, local)
                || request
                    .uri()
                    .authority()
                    .is_some_and(|a| !server.access.host_allowed(a.as_str(), local)) =>
        {
            return refuse(
                StatusCode::MISDIRECTED_REQUEST,
                format!(
                    "Host {h:?} is not a name of this server (localhost, a loopback address, the listen address); a name it is reached by can be allowed with --allow-host"
                ),
            );
        }
        Some(_) => {}
    }
    let path = request.uri().path();
    let read = matches!(*request.method(), Method::GET | Method::HEAD);
    if OPEN.contains(&path) || (read && server.access.public_read) {
        return next.run(request).await;
    }
    match logged_in(&server, request.headers()) {
        Ok(()) => next.run(request).await,
        // A page: the login form, which comes back here after.
        Err(_) if read && is_page(path) => {
            let wanted = request
                .uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/");
            Redirect::to(&format!(
                "/login?next={}",
                super::dashboard::url_encode(wanted)
            ))
            .into_response()
        }
        Err(e) => {
            let mut response = e.into_response();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"orc\""),
            );
            response
        }
    }
}

/// A dashboard page (HTML), as opposed to the API, the metrics or the event stream.
fn is_page(path: &str) -> bool {
    !(path.starts_with("/api/") || path == "/metrics" || path == "/events")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_of_this_server_and_others() {
        let access = Access::new(
            "127.0.0.1".parse().unwrap(),
            &["Orc.Example:8443".to_string()],
            false,
        );
        for ok in [
            "127.0.0.1:7878",
            "localhost",
            "LOCALHOST:7878",
            "127.1.2.3",
            "[::1]:7878",
            "orc.example",
            "orc.example:80",
        ] {
            assert!(access.host_allowed(ok, None), "{ok}");
        }
        for bad in [
            "rebind.attacker.example",
            "rebind.attacker.example:7878",
            "localhost.attacker.example",
            "10.0.0.5:7878",
            "",
            "localhost:x",
            "[::1",
            "local host",
            "orc.example@evil",
        ] {
            assert!(!access.host_allowed(bad, None), "{bad}");
        }
        // Listening on every interface: the address the connection came in on.
        let any = Access::new("0.0.0.0".parse().unwrap(), &[], false);
        let lan: IpAddr = "10.0.0.5".parse().unwrap();
        assert!(any.host_allowed("10.0.0.5:7878", Some(lan)));
        assert!(!any.host_allowed("10.0.0.6:7878", Some(lan)));
    }

    #[test]
    fn origins_must_be_the_request_host() {
        let headers = |pairs: &[(header::HeaderName, &str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(k.clone(), v.parse().unwrap());
            }
            h
        };
        let host = (header::HOST, "127.0.0.1:7878");
        assert!(
            same_origin(&headers(&[
                host.clone(),
                (header::ORIGIN, "http://127.0.0.1:7878")
            ]))
            .is_ok()
        );
        assert!(
            same_origin(&headers(&[
                host.clone(),
                (header::REFERER, "http://127.0.0.1:7878/tasks/a?x=1")
            ]))
            .is_ok()
        );
        for (k, v) in [
            (header::ORIGIN, "http://evil.example"),
            (header::ORIGIN, "http://127.0.0.1:7879"),
            (header::ORIGIN, "null"),
            (header::REFERER, "http://127.0.0.1:7878.evil.example/"),
        ] {
            assert_eq!(
                same_origin(&headers(&[host.clone(), (k, v)]))
                    .unwrap_err()
                    .0,
                StatusCode::FORBIDDEN,
                "{v}"
            );
        }
        assert!(same_origin(&headers(&[host])).is_err(), "neither header");
    }
}
