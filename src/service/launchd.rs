//! The launchd property list (macOS) that keeps `orc service run` going: a daemon in
//! /Library/LaunchDaemons, or with `--user` an agent in ~/Library/LaunchAgents. This
//! module only writes the plist's text.

use super::{MARKER, ServiceSpec};

/// The plist of `spec`: started at load and at boot, started again 10 s after it
/// ends with a failure (a clean stop stays stopped), its output in `log`.
pub fn plist(spec: &ServiceSpec, log: &std::path::Path) -> String {
    let program = std::iter::once(spec.orc.display().to_string())
        .chain(spec.run_args())
        .map(|a| format!("\t\t<string>{}</string>\n", escape(&a)))
        .collect::<String>();
    let log = escape(&log.display().to_string());
    let mut plist = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
         <!-- {MARKER}; `orc service uninstall` removes it. -->\n\
         <plist version=\"1.0\">\n\
         <dict>\n\
         \t<key>Label</key>\n\t<string>{label}</string>\n\
         \t<key>ProgramArguments</key>\n\t<array>\n{program}\t</array>\n\
         \t<key>WorkingDirectory</key>\n\t<string>{dir}</string>\n\
         \t<key>RunAtLoad</key>\n\t<true/>\n\
         \t<key>KeepAlive</key>\n\t<dict>\n\t\t<key>SuccessfulExit</key>\n\t\t<false/>\n\t</dict>\n\
         \t<key>ThrottleInterval</key>\n\t<integer>10</integer>\n\
         \t<key>ExitTimeOut</key>\n\t<integer>60</integer>\n\
         \t<key>StandardOutPath</key>\n\t<string>{log}</string>\n\
         \t<key>StandardErrorPath</key>\n\t<string>{log}</string>\n",
        label = escape(&spec.name),
        dir = escape(&spec.working_dir().display().to_string()),
    );
    if let Some(account) = spec.account.as_ref().filter(|_| !spec.user) {
        plist.push_str(&format!(
            "\t<key>UserName</key>\n\t<string>{}</string>\n",
            escape(account)
        ));
    }
    plist.push_str("</dict>\n</plist>\n");
    plist
}

/// Text as XML character data.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_escaped_and_the_account_is_for_daemons_only() {
        let mut spec = ServiceSpec {
            name: "orc".into(),
            orc: "/usr/local/bin/orc".into(),
            config: "/srv/a&b <x>/tasks.toml".into(),
            state: "/var/lib/orc/state.db".into(),
            backend: None,
            up_options: vec![],
            user: false,
            account: Some("etl".into()),
            gains_privileges: false,
        };
        let text = plist(&spec, "/var/lib/orc/service.log".as_ref());
        assert!(
            text.contains("<string>/srv/a&amp;b &lt;x&gt;/tasks.toml</string>"),
            "{text}"
        );
        assert!(text.contains("<key>UserName</key>\n\t<string>etl</string>"));
        spec.user = true;
        assert!(!plist(&spec, "/tmp/x.log".as_ref()).contains("UserName"));
    }
}
