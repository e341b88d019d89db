//! The fleet check: with `[fleet]`, the database answers and holds this orc's schema.

use super::vault::passphrase_from_env;
use super::*;
use crate::config::EnvValue;
use crate::fleet::{Fleet, FleetError};

/// How long doctor waits for the database.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

pub(super) fn check_fleet(setup: &Setup, vault_opens: Option<bool>) -> Check {
    const NAME: &str = "fleet";
    let Some(config) = &setup.config else {
        return Check::skip(NAME, "the config does not load (see config)");
    };
    let Some(fleet) = &config.fleet else {
        return Check::skip(
            NAME,
            "no [fleet] in the config: orc works alone on this host",
        );
    };
    if matches!(fleet.url, EnvValue::Secret { .. }) && vault_opens == Some(false) {
        return Check::skip(
            NAME,
            "its URL is in the vault, which did not open (see vault)",
        );
    }
    let reader = crate::workspace::vault_reader_with(&setup.state_path, passphrase_from_env);
    let url = match crate::ops::fleet::fleet_url(fleet, &reader) {
        Ok(url) => url,
        Err(e) => {
            return Check::fail(
                NAME,
                format!("{e:#}"),
                "store the URL with `orc secret set NAME` (the name [fleet] url gives)",
            );
        }
    };
    let mut db = match Fleet::connect(&url, CONNECT_TIMEOUT) {
        Ok(db) => db,
        Err(e) => {
            let text = e.to_string();
            let fix = if text.to_lowercase().contains("certificate")
                || text.contains("UnknownIssuer")
            {
                "the server's certificate was not accepted: name its CA with sslrootcert=PATH in the URL (verify-ca, verify-full), or use sslmode=require to encrypt without checking it"
            } else {
                "check the host, port and login in the URL, and that this host may connect (pg_hba.conf)"
            };
            return Check::fail(NAME, text, fix);
        }
    };
    let server = db.server_version().unwrap_or_else(|_| "?".to_string());
    let tls = db.tls();
    match db.check_schema() {
        Ok(()) => {
            let detail = |tls: &str| {
                format!(
                    "PostgreSQL {server} answers, schema version {}, {tls}",
                    crate::fleet::SCHEMA_VERSION
                )
            };
            match tls {
                Ok((mode, Some(version))) if mode.verifies() => Check::ok(
                    NAME,
                    detail(&format!(
                        "{version}, certificate checked (sslmode={})",
                        mode.as_str()
                    )),
                ),
                Ok((mode, Some(version))) => Check::ok(
                    NAME,
                    detail(&format!(
                        "{version}, certificate not checked (sslmode={})",
                        mode.as_str()
                    )),
                ),
                Ok((mode, None)) => Check::warn(
                    NAME,
                    detail(&format!("not encrypted (sslmode={})", mode.as_str())),
                    "turn ssl on in the server and use sslmode=verify-full (with sslrootcert=CA.pem for a company CA) in the URL",
                ),
                Err(e) => Check::warn(
                    NAME,
                    detail(&format!("TLS unknown: {e}")),
                    "the login may read pg_stat_ssl",
                ),
            }
        }
        Err(e @ (FleetError::Uninitialised | FleetError::Older { .. })) => {
            Check::fail(NAME, e.to_string(), "run `orc fleet init`")
        }
        Err(e) => Check::fail(NAME, e.to_string(), "upgrade orc on this host"),
    }
}
