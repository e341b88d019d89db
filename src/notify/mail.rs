//! Sending one mail through `[smtp]` with lettre, and saying in words what failed:
//! the name did not resolve, the connection was refused, TLS failed, the credentials
//! were refused, a recipient was rejected.

use std::net::ToSocketAddrs;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};
use zeroize::Zeroizing;

use crate::config::{Smtp, TlsMode};

/// One mail: plain text with a small HTML alternative.
pub struct Mail<'a> {
    pub to: &'a [String],
    pub subject: &'a str,
    pub text: &'a str,
    pub html: &'a str,
}

/// The account to log in with, its password from the vault.
pub struct Login {
    pub username: String,
    pub password: Zeroizing<String>,
}

/// Send `mail` through `smtp`; the error is a sentence an admin can act on.
pub fn send(smtp: &Smtp, login: Option<Login>, mail: &Mail) -> Result<(), String> {
    let from: Mailbox = smtp
        .from
        .parse()
        .map_err(|e| format!("the sender \"{}\" is not an address: {e}", smtp.from))?;
    let mut builder = Message::builder().from(from).subject(mail.subject);
    for to in mail.to {
        let mailbox: Mailbox = to
            .parse()
            .map_err(|e| format!("the recipient \"{to}\" is not an address: {e}"))?;
        builder = builder.to(mailbox);
    }
    let message = builder
        .multipart(MultiPart::alternative_plain_html(
            mail.text.to_string(),
            mail.html.to_string(),
        ))
        .map_err(|e| format!("cannot build the mail: {e}"))?;

    let place = format!("{}:{}", smtp.server, smtp.port);
    transport(smtp, login)?
        .send(&message)
        .map(|_| ())
        .map_err(|e| explain(&place, &e))
}

/// Connect to `smtp`, set up TLS and log in as a mail would, then say goodbye without
/// sending anything (`orc doctor`); the error is the sentence [`send`] would give.
pub fn check(smtp: &Smtp, login: Option<Login>) -> Result<(), String> {
    let place = format!("{}:{}", smtp.server, smtp.port);
    match transport(smtp, login)?.test_connection() {
        Ok(true) => Ok(()),
        Ok(false) => Err(format!(
            "connection: the server closed the connection ({place})"
        )),
        Err(e) => Err(explain(&place, &e)),
    }
}

/// The transport for `smtp`, after checking that its name resolves.
fn transport(smtp: &Smtp, login: Option<Login>) -> Result<SmtpTransport, String> {
    // Resolve first: "no such host" is the most common mistake and lettre's own error
    // for it is vague.
    if let Err(e) = (smtp.server.as_str(), smtp.port).to_socket_addrs() {
        return Err(format!(
            "DNS: the mail server name {} does not resolve ({e})",
            smtp.server
        ));
    }
    let tls = || {
        TlsParameters::new(smtp.server.clone())
            .map_err(|e| format!("TLS: cannot set up TLS for {}: {e}", smtp.server))
    };
    let mut transport = SmtpTransport::builder_dangerous(&smtp.server)
        .port(smtp.port)
        .timeout(Some(smtp.timeout));
    transport = match smtp.tls {
        TlsMode::None => transport.tls(Tls::None),
        TlsMode::Starttls => transport.tls(Tls::Required(tls()?)),
        TlsMode::Tls => transport.tls(Tls::Wrapper(tls()?)),
    };
    if let Some(login) = login {
        transport =
            transport.credentials(Credentials::new(login.username, login.password.to_string()));
    }
    Ok(transport.build())
}

/// lettre's error in the words `orc notify test` promises.
fn explain(place: &str, e: &lettre::transport::smtp::Error) -> String {
    // lettre often repeats its source in its own text ("Connection refused (os error
    // 111): Connection refused (os error 111)"): add the source only when it says more.
    let detail = match std::error::Error::source(e).map(|s| s.to_string()) {
        Some(s) if !e.to_string().contains(&s) => format!("{e}: {s}"),
        _ => e.to_string(),
    };
    let code = e.status().map(|c| c.to_string());
    let lower = detail.to_ascii_lowercase();
    // rustls reports a server that does not speak TLS as a "corrupt message".
    let tls_words = ["tls", "certificate", "handshake", "corrupt message"];
    let what = if e.is_tls() || tls_words.iter().any(|w| lower.contains(w)) {
        "TLS: the secure connection failed"
    } else if code.as_deref().is_some_and(|c| c.starts_with("53"))
        || lower.contains("authentication")
    {
        "authentication: the server refused the username or password"
    } else if code
        .as_deref()
        .is_some_and(|c| matches!(c, "550" | "551" | "553" | "554" | "501"))
        || lower.contains("recipient")
    {
        "rejected: the server refused a recipient or the sender"
    } else if e.is_timeout() {
        "connection: the server did not answer in time"
    } else if lower.contains("connection refused") || lower.contains("connect") {
        "connection: nothing answers there"
    } else {
        "the mail could not be sent"
    };
    format!("{what} ({place}: {detail})")
}
