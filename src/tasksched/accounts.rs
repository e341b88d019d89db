//! The well-known Windows accounts (SYSTEM, LOCAL SERVICE, NETWORK SERVICE, the
//! BUILTIN groups, Everyone...), equal by SID or by any of their names everywhere.

/// A well-known account: its SID, the name orc shows, and the names it goes by.
struct WellKnown {
    sid: &'static str,
    name: &'static str,
    aliases: &'static [&'static str],
}

const WELL_KNOWN: &[WellKnown] = &[
    WellKnown {
        sid: "S-1-5-18",
        name: "SYSTEM",
        aliases: &["SYSTEM", "LocalSystem", "Local System"],
    },
    WellKnown {
        sid: "S-1-5-19",
        name: "LOCAL SERVICE",
        aliases: &["LOCAL SERVICE", "LocalService"],
    },
    WellKnown {
        sid: "S-1-5-20",
        name: "NETWORK SERVICE",
        aliases: &["NETWORK SERVICE", "NetworkService"],
    },
    WellKnown {
        sid: "S-1-1-0",
        name: "Everyone",
        aliases: &["Everyone"],
    },
    WellKnown {
        sid: "S-1-5-4",
        name: "INTERACTIVE",
        aliases: &["INTERACTIVE"],
    },
    WellKnown {
        sid: "S-1-5-6",
        name: "SERVICE",
        aliases: &["SERVICE"],
    },
    WellKnown {
        sid: "S-1-5-11",
        name: "Authenticated Users",
        aliases: &["Authenticated Users"],
    },
    WellKnown {
        sid: "S-1-5-32-544",
        name: "BUILTIN\\Administrators",
        aliases: &["Administrators"],
    },
    WellKnown {
        sid: "S-1-5-32-545",
        name: "BUILTIN\\Users",
        aliases: &["Users"],
    },
    WellKnown {
        sid: "S-1-5-32-546",
        name: "BUILTIN\\Guests",
        aliases: &["Guests"],
    },
    WellKnown {
        sid: "S-1-5-32-547",
        name: "BUILTIN\\Power Users",
        aliases: &["Power Users"],
    },
    WellKnown {
        sid: "S-1-5-32-551",
        name: "BUILTIN\\Backup Operators",
        aliases: &["Backup Operators"],
    },
    WellKnown {
        sid: "S-1-5-32-555",
        name: "BUILTIN\\Remote Desktop Users",
        aliases: &["Remote Desktop Users"],
    },
    WellKnown {
        sid: "S-1-5-32-559",
        name: "BUILTIN\\Performance Log Users",
        aliases: &["Performance Log Users"],
    },
];

/// The domains the well-known accounts are written with.
const WELL_KNOWN_DOMAINS: &[&str] = &["NT AUTHORITY", "BUILTIN", "."];

pub fn is_sid(text: &str) -> bool {
    text.get(..4)
        .is_some_and(|head| head.eq_ignore_ascii_case("S-1-"))
        && text.len() > 4
}

/// The well-known account `account` names (a SID, a bare name, or a name in the
/// domains they are written with), if it is one.
fn well_known(account: &str) -> Option<&'static WellKnown> {
    if is_sid(account) {
        return WELL_KNOWN
            .iter()
            .find(|w| w.sid.eq_ignore_ascii_case(account));
    }
    let bare = match account.rsplit_once('\\') {
        Some((domain, name))
            if WELL_KNOWN_DOMAINS
                .iter()
                .any(|d| d.eq_ignore_ascii_case(domain)) =>
        {
            name
        }
        Some(_) => return None,
        None => account,
    };
    WELL_KNOWN
        .iter()
        .find(|w| w.aliases.iter().any(|a| a.eq_ignore_ascii_case(bare)))
}

/// Whether `account` is LocalSystem, however it is written.
pub fn is_system(account: &str) -> bool {
    well_known(account.trim()).is_some_and(|w| w.sid == "S-1-5-18")
}

/// The service account (SYSTEM, LOCAL SERVICE, NETWORK SERVICE) `account` names, as
/// RegisterTask wants it named, if it is one.
pub fn service_account(account: &str) -> Option<&'static str> {
    well_known(account.trim())
        .filter(|w| matches!(w.sid, "S-1-5-18" | "S-1-5-19" | "S-1-5-20"))
        .map(|w| w.name)
}

/// The name orc shows for the well-known account `account` names, if it is one.
pub fn well_known_name(account: &str) -> Option<&'static str> {
    well_known(account).map(|w| w.name)
}
