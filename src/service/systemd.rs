//! The systemd unit (Linux) that keeps `orc service run` going across log-offs and
//! reboots. This module only writes the unit's text.

use super::{MARKER, ServiceSpec};

/// The folders systemd's `ProtectSystem=full` makes read-only.
const READ_ONLY_UNDER_FULL: [&str; 4] = ["/usr", "/boot", "/efi", "/etc"];

/// The systemd unit of `spec`: `orc up` in the foreground, restarted on failure,
/// `systemctl reload` applying the config again.
pub fn unit(spec: &ServiceSpec) -> String {
    let command = |args: Vec<String>| {
        std::iter::once(quote(&spec.orc.display().to_string()))
            .chain(args.iter().map(|a| quote(a)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    // ProtectSystem=full would make the state (and the logs beside it) read-only when
    // they live under /etc or /usr: then it is left out rather than break every run.
    let writable_outside_system = [&spec.state, &spec.config]
        .iter()
        .all(|p| !READ_ONLY_UNDER_FULL.iter().any(|dir| p.starts_with(dir)));
    let mut unit = format!(
        "# {MARKER}; `orc service uninstall` removes it.\n\
         [Unit]\n\
         Description=orc: the scheduled tasks of {config}\n\
         After=network-online.target\n\
         Wants=network-online.target\n\
         \n\
         [Service]\n\
         Type=simple\n\
         ExecStart={start}\n\
         ExecReload={reload}\n\
         WorkingDirectory={dir}\n\
         Restart=on-failure\n\
         RestartSec=10s\n\
         # orc stops its runs within its 30 s grace on SIGTERM; only what is left after\n\
         # that is killed.\n\
         KillMode=mixed\n\
         TimeoutStopSec=60s\n",
        config = escape(&spec.config.display().to_string()),
        start = command(spec.run_args()),
        reload = command(spec.reload_args()),
        // A path setting, not a command line: no quotes (spaces are fine).
        dir = escape(&spec.working_dir().display().to_string()),
    );
    unit.push_str("# Hardening that leaves the tasks working.\n");
    if spec.gains_privileges {
        unit.push_str(
            "# NoNewPrivileges is left out: sudo in a task, or the setgid crontab, gains them.\n",
        );
    } else {
        unit.push_str(
            "# No privileges gained through setuid or setgid programs.\nNoNewPrivileges=yes\n",
        );
    }
    if writable_outside_system {
        unit.push_str("# /usr, /boot, /efi and /etc read-only.\nProtectSystem=full\n");
    } else {
        unit.push_str("# ProtectSystem is left out: the state or the config is under a folder it makes read-only.\n");
    }
    if let Some(account) = spec.account.as_ref().filter(|_| !spec.user) {
        unit.push_str(&format!("User={}\n", escape(account)));
    }
    unit.push_str(&format!(
        "\n[Install]\nWantedBy={}\n",
        if spec.user {
            "default.target"
        } else {
            "multi-user.target"
        }
    ));
    unit
}

/// One word of a systemd command line: as it is when it holds only characters that
/// mean nothing to systemd, else double-quoted with `\`, `"`, `%` and `$` escaped
/// (systemd expands the last two).
fn quote(text: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./:@=+,".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '%' => out.push_str("%%"),
            '$' => out.push_str("$$"),
            // A line break would end the setting: systemd reads C escapes in quotes.
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Text in a unit's value: `%` specifiers escaped, no line breaks.
fn escape(text: &str) -> String {
    text.replace('%', "%%").replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(state: &str) -> ServiceSpec {
        ServiceSpec {
            name: "orc".into(),
            orc: "/usr/local/bin/orc".into(),
            config: "/srv/orc/tasks.toml".into(),
            state: state.into(),
            backend: None,
            up_options: vec!["--no-watch".into()],
            user: false,
            account: Some("etl".into()),
            gains_privileges: false,
        }
    }

    #[test]
    fn a_path_is_one_quoted_word_with_systemds_specials_escaped() {
        assert_eq!(
            quote("/srv/my data/100% \"x\" $HOME"),
            r#""/srv/my data/100%% \"x\" $$HOME""#
        );
        assert_eq!(quote("/srv/a\nb"), r#""/srv/a\nb""#);
        assert_eq!(quote("/srv/orc/tasks.toml"), "/srv/orc/tasks.toml");
    }

    #[test]
    fn protect_system_is_left_out_when_the_state_is_under_etc() {
        let text = unit(&spec("/var/lib/orc/state.db"));
        assert!(text.contains("\nProtectSystem=full\n"), "{text}");
        assert!(text.contains("\nUser=etl\n"), "{text}");
        assert!(text.contains(
            "\nExecStart=/usr/local/bin/orc service run --name orc --config /srv/orc/tasks.toml --state /var/lib/orc/state.db --no-watch\n"
        ));
        let text = unit(&spec("/etc/orc/state.db"));
        assert!(!text.contains("ProtectSystem=full"), "{text}");
    }

    #[test]
    fn no_new_privileges_is_left_out_where_privileges_are_gained() {
        let mut spec = spec("/var/lib/orc/state.db");
        assert!(unit(&spec).contains("\nNoNewPrivileges=yes\n"));
        spec.gains_privileges = true;
        let text = unit(&spec);
        assert!(!text.contains("NoNewPrivileges="), "{text}");
        assert!(text.contains("setgid crontab"), "{text}");
    }
}
