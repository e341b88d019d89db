//! Alerts to HTTP targets (a webhook, Teams, Slack, ntfy) against a real HTTP receiver
//! on 127.0.0.1 (`tests/common/http.rs`): each payload in its target's shape, the
//! secrets from the vault and in no output, a server error retried, a client error
//! given up, `orc notify test` reporting each target, Healthchecks pings, and the
//! duration alerts.

mod common;
use common::http::{Received, Receiver};
use common::{TestEnv, exit_and_output as text};

const SLACK_PATH: &str = "/services/T000/B000/SLACKSECRET123";
const SECRETS: [&str; 3] = ["SLACKSECRET123", "ntfy-T0ken", "k3y-value"];

/// Fails if any secret value shows in `said`.
fn no_secret_in(said: &str) {
    for secret in SECRETS {
        assert!(!said.contains(secret), "{secret} printed: {said}");
    }
}

/// A world with the group `ops` as `group` says, a task that fails with exit 3, the
/// vault holding the targets' secrets, applied.
fn setup(receiver: &Receiver, group: &str) -> TestEnv {
    setup_with(receiver, "", group)
}

/// [`setup`] with more `[settings]` lines.
fn setup_with(receiver: &Receiver, settings: &str, group: &str) -> TestEnv {
    let env = TestEnv::new();
    env.write(
        "tasks.toml",
        &format!(
            r#"[settings]
backend = "embedded"
{settings}

[notify.ops]
on = ["failure"]
{group}

[tasks.broken]
shell = "echo starting; echo 'disk full' >&2; exit 3"
notify = ["ops"]
"#
        ),
    );
    env.orc_ok_text(&["secret", "init"]);
    env.secret_set("slack_url", &receiver.url(SLACK_PATH));
    env.secret_set("teams_url", &receiver.url("/workflows/teams"));
    env.secret_set("ntfy_token", "ntfy-T0ken");
    env.secret_set("hook_key", "k3y-value");
    env.orc_ok_text(&["apply", "--auto-approve"]);
    env
}

fn all_targets(receiver: &Receiver) -> String {
    format!(
        r#"webhook = {{ url = "{}", headers = {{ "X-Api-Key" = {{ secret = "hook_key" }} }} }}
teams = {{ url = {{ secret = "teams_url" }} }}
slack = {{ url = {{ secret = "slack_url" }} }}
ntfy = {{ url = "{}", token = {{ secret = "ntfy_token" }} }}"#,
        receiver.url("/hook"),
        receiver.url("/orc-alerts")
    )
}

fn by_path<'a>(got: &'a [Received], path: &str) -> &'a Received {
    got.iter()
        .find(|r| r.path == path)
        .unwrap_or_else(|| panic!("nothing posted to {path}: {got:?}"))
}

#[test]
fn a_failure_reaches_each_http_target_in_its_own_shape() {
    let receiver = Receiver::start(&[]);
    let env = setup(&receiver, &all_targets(&receiver));
    let run = env.orc(&["run", "broken"]);
    assert_eq!(run.status.code(), Some(3), "{}", text(&run));
    no_secret_in(&text(&run));
    let got = receiver.wait_for(4);
    assert_eq!(got.len(), 4, "{got:?}");
    assert!(got.iter().all(|r| r.method == "POST"), "{got:?}");

    // The webhook: the event's facts as JSON, with its header from the vault.
    let hook = by_path(&got, "/hook");
    assert_eq!(hook.header("X-Api-Key"), Some("k3y-value"));
    assert_eq!(hook.header("Content-Type"), Some("application/json"));
    let event = hook.json();
    assert_eq!(event["event"], "failure", "{event}");
    assert_eq!(event["task"], "broken");
    assert_eq!(event["host"], "testhost");
    assert_eq!(event["status"], "failed");
    assert_eq!(event["exit_code"], 3);
    assert_eq!(event["attempts"], 1);
    assert!(event["run_id"].as_i64().unwrap() > 0, "{event}");
    assert!(event["duration_secs"].as_f64().is_some(), "{event}");
    assert!(
        event["log_tail"].as_str().unwrap().contains("disk full"),
        "{event}"
    );
    assert!(
        event["title"].as_str().unwrap().contains("broken FAILED"),
        "{event}"
    );

    // Teams: a message holding an Adaptive Card, with the card schema's required
    // fields (type, version) and typed body elements.
    let teams = by_path(&got, "/workflows/teams").json();
    assert_eq!(teams["type"], "message", "{teams}");
    let attachment = &teams["attachments"][0];
    assert_eq!(
        attachment["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let card = &attachment["content"];
    assert_eq!(card["type"], "AdaptiveCard", "{card}");
    assert!(
        card["version"].as_str().unwrap().starts_with("1."),
        "{card}"
    );
    let body = card["body"].as_array().unwrap();
    assert!(body.iter().all(|e| e["type"].is_string()), "{card}");
    let facts = body.iter().find(|e| e["type"] == "FactSet").unwrap();
    assert!(
        facts["facts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["title"] == "Exit code" && f["value"] == "3"),
        "{facts}"
    );

    // Slack: Block Kit, a header then fields, each block typed.
    let slack = by_path(&got, SLACK_PATH).json();
    assert!(
        slack["text"].as_str().unwrap().contains("broken"),
        "{slack}"
    );
    let blocks = slack["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header", "{slack}");
    assert_eq!(blocks[0]["text"]["type"], "plain_text");
    assert!(
        blocks
            .iter()
            .all(|b| ["header", "section", "actions"].contains(&b["type"].as_str().unwrap())),
        "{slack}"
    );
    assert!(
        blocks[1]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["type"] == "mrkdwn"),
        "{slack}"
    );

    // ntfy: the headers it reads, the token as a bearer token.
    let ntfy = by_path(&got, "/orc-alerts");
    assert!(ntfy.header("Title").unwrap().contains("broken"), "{ntfy:?}");
    assert_eq!(ntfy.header("Priority"), Some("high"));
    assert_eq!(ntfy.header("Tags"), Some("rotating_light"));
    assert_eq!(ntfy.header("Authorization"), Some("Bearer ntfy-T0ken"));
    assert!(ntfy.body.contains("Exit code: 3"), "{}", ntfy.body);

    // Nothing orc says or stores shows a secret.
    no_secret_in(&text(&env.orc(&["status"])));
    no_secret_in(&text(&env.orc(&["history", "broken"])));
    no_secret_in(&text(&env.orc(&["plan"])));
    for file in ["state.db", "state.db-wal"] {
        if let Ok(bytes) = std::fs::read(env.state().with_file_name(file)) {
            no_secret_in(&String::from_utf8_lossy(&bytes));
        }
    }
}

#[test]
fn a_server_error_is_retried_and_a_client_error_given_up() {
    let receiver = Receiver::start(&[500, 404]);
    let env = setup(
        &receiver,
        &format!(
            "webhook = {{ url = \"{}\" }}\nslack = {{ url = {{ secret = \"slack_url\" }} }}",
            receiver.url("/hook")
        ),
    );
    // The first answer (500, to whichever came first) is retried, the 404 given up.
    env.orc(&["run", "broken"]);
    let got = receiver.wait_for(2);
    assert_eq!(got.len(), 2, "{got:?}");
    let status = text(&env.orc(&["status"]));
    assert!(
        status.contains("0 sent, 1 waiting to be retried, 1 given up"),
        "{status}"
    );
    no_secret_in(&status);

    let flush = env.orc(&["notify", "flush"]);
    assert!(flush.status.success(), "{}", text(&flush));
    assert!(text(&flush).contains("Sent 1 waiting"), "{}", text(&flush));
    let got = receiver.wait_for(3);
    assert_eq!(got.len(), 3, "{got:?}");
    // The retry carries the same alert.
    assert_eq!(got[2].path, got[0].path);
    assert_eq!(got[2].body, got[0].body);
    let status = text(&env.orc(&["status"]));
    assert!(
        status.contains("1 sent, 0 waiting to be retried, 1 given up"),
        "{status}"
    );
    assert!(status.contains("HTTP 404: no such hook"), "{status}");
    no_secret_in(&status);
    // A given-up alert is not sent again (a flush delivers before it returns).
    env.orc(&["notify", "flush"]);
    assert_eq!(receiver.received().len(), 3);
}

#[test]
fn notify_test_reports_each_target_and_prints_no_secret() {
    let receiver = Receiver::start(&[]);
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let env = setup(
        &receiver,
        &format!(
            "webhook = {{ url = \"{}\" }}\nslack = {{ url = {{ secret = \"slack_url\" }} }}",
            receiver.url("/hook")
        ),
    );
    // The Slack URL now points at a port nobody listens on.
    env.secret_set("slack_url", &format!("http://127.0.0.1:{dead}{SLACK_PATH}"));
    let o = env.orc(&["notify", "test", "ops"]);
    let said = text(&o);
    assert_eq!(o.status.code(), Some(1), "{said}");
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("webhook: delivered (HTTP 200: ok)"),
        "{said}"
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("slack: FAILED: connect:"),
        "{said}"
    );
    no_secret_in(&said);
    let got = receiver.wait_for(1);
    assert_eq!(got[0].json()["event"], "test", "{:?}", got[0]);
    // A name that does not resolve is said to be DNS.
    env.secret_set(
        "slack_url",
        "https://no-such-host.invalid/services/SLACKSECRET123",
    );
    let o = env.orc(&["notify", "test", "ops"]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("slack: FAILED: dns:"),
        "{}",
        text(&o)
    );
    no_secret_in(&text(&o));

    let json = env.orc(&["notify", "test", "ops", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["targets"][0]["target"], "webhook");
    assert_eq!(report["targets"][0]["ok"], true);
    assert_eq!(report["targets"][1]["ok"], false);
}

#[test]
fn a_target_url_that_is_not_http_is_refused_at_its_place() {
    let env = TestEnv::new();
    env.write(
        "tasks.toml",
        "[settings]\nbackend = \"embedded\"\n\n[notify.ops]\nslack = { url = \"ftp://hooks.example/x\" }\n",
    );
    let o = env.orc(&["validate"]);
    let said = text(&o);
    assert_eq!(o.status.code(), Some(1), "{said}");
    assert!(said.contains("tasks.toml:5:17"), "{said}");
    assert!(said.contains("is not an http:// or https:// URL"), "{said}");
}

#[test]
fn alerts_link_to_the_run_and_the_task_on_the_dashboard() {
    let receiver = Receiver::start(&[]);
    let env = setup_with(
        &receiver,
        r#"dashboard_url = "https://orc.example.com/""#,
        &all_targets(&receiver),
    );
    env.orc(&["run", "broken"]);
    let got = receiver.wait_for(4);
    let event = by_path(&got, "/hook").json();
    let run = format!("https://orc.example.com/runs/{}", event["run_id"]);
    assert_eq!(event["run_url"], run.as_str(), "{event}");
    assert_eq!(event["task_url"], "https://orc.example.com/tasks/broken");
    let card = &by_path(&got, "/workflows/teams").json()["attachments"][0]["content"];
    let actions = card["actions"].as_array().unwrap();
    assert_eq!(actions[0]["type"], "Action.OpenUrl", "{card}");
    assert_eq!(actions[0]["url"], run.as_str());
    assert_eq!(actions[1]["url"], "https://orc.example.com/tasks/broken");
    let slack = by_path(&got, SLACK_PATH).json();
    let buttons = slack["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "actions")
        .unwrap_or_else(|| panic!("no buttons: {slack}"));
    assert_eq!(buttons["elements"][0]["url"], run.as_str(), "{slack}");
    assert_eq!(
        by_path(&got, "/orc-alerts").header("Click"),
        Some(run.as_str())
    );

    // Without it, no links (and none made up).
    let receiver = Receiver::start(&[]);
    let env = setup(&receiver, &all_targets(&receiver));
    env.orc(&["run", "broken"]);
    let got = receiver.wait_for(4);
    assert_eq!(
        by_path(&got, "/hook").json()["run_url"],
        serde_json::Value::Null
    );
    assert_eq!(by_path(&got, "/orc-alerts").header("Click"), None);

    env.write(
        "tasks.toml",
        "[settings]\nbackend = \"embedded\"\ndashboard_url = \"orc.example.com\"\n",
    );
    let o = env.orc(&["validate"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("tasks.toml:3:17"), "{}", text(&o));
    assert!(text(&o).contains("dashboard_url"), "{}", text(&o));
}

#[test]
fn a_template_makes_the_webhook_body() {
    let receiver = Receiver::start(&[]);
    let env = setup(
        &receiver,
        &format!(
            r#"webhook = {{ url = "{}", template = '{{"text": "{{{{ task }}}} on {{{{ host }}}}: {{{{ reason }}}}"}}' }}"#,
            receiver.url("/hook")
        ),
    );
    env.orc(&["run", "broken"]);
    let got = receiver.wait_for(1);
    let body = got[0].json();
    let message = body["text"].as_str().unwrap();
    assert!(message.starts_with("broken on testhost: "), "{body}");
}

#[test]
fn healthchecks_hears_each_start_and_end() {
    let receiver = Receiver::start(&[]);
    let env = setup(
        &receiver,
        &format!(
            "healthchecks = {{ url = \"{}\" }}",
            receiver.url("/group-check")
        ),
    );
    // The task's own check, its URL from the vault, beside its group's.
    let config = std::fs::read_to_string(env.config()).unwrap().replace(
        "notify = [\"ops\"]\n",
        "notify = [\"ops\"]\nhealthchecks = { url = { secret = \"check_url\" } }\n\n[tasks.fine]\nshell = \"echo all good\"\nhealthchecks = { url = { secret = \"check_url\" } }\n",
    );
    env.write("tasks.toml", &config);
    env.secret_set("check_url", &receiver.url("/ping/SLACKSECRET123"));
    env.orc_ok_text(&["apply", "--auto-approve"]);

    // A failure: each check gets /start, then the exit status, with the log's end.
    let run = env.orc(&["run", "broken"]);
    assert_eq!(run.status.code(), Some(3), "{}", text(&run));
    no_secret_in(&text(&run));
    let got = receiver.wait_for(4);
    let paths: Vec<&str> = got.iter().map(|r| r.path.as_str()).collect();
    for check in ["/ping/SLACKSECRET123", "/group-check"] {
        let start = paths.iter().position(|p| *p == format!("{check}/start"));
        let end = paths.iter().position(|p| *p == format!("{check}/3"));
        assert!(start.is_some() && start < end, "{paths:?}");
    }
    let end = by_path(&got, "/group-check/3");
    assert!(end.body.contains("disk full"), "{}", end.body);

    // A success pings the URL itself; `on` (failures only) does not limit the pings.
    env.orc_ok_text(&["run", "fine"]);
    let got = receiver.wait_for(6);
    let paths: Vec<&str> = got[4..].iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        ["/ping/SLACKSECRET123/start", "/ping/SLACKSECRET123"],
        "{got:?}"
    );
    no_secret_in(&text(&env.orc(&["status"])));
}

#[test]
fn a_redirect_is_not_followed_but_given_up() {
    let receiver = Receiver::start(&[302]);
    let env = setup(
        &receiver,
        &format!(
            "webhook = {{ url = \"{}\", headers = {{ \"X-Api-Key\" = {{ secret = \"hook_key\" }} }} }}",
            receiver.url("/moved")
        ),
    );
    env.orc(&["run", "broken"]);
    let status = text(&env.orc(&["status"]));
    assert!(
        status.contains("0 sent, 0 waiting to be retried, 1 given up"),
        "{status}"
    );
    assert!(status.contains("HTTP 302: a redirect"), "{status}");
    // Asked once; nothing followed it with the key.
    assert_eq!(receiver.received().len(), 1);
    no_secret_in(&status);
}

/// A world alerting `on` to a webhook at `receiver`, with `tasks`, applied.
fn with_tasks(receiver: &Receiver, on: &str, tasks: &str) -> TestEnv {
    let env = TestEnv::new();
    env.write(
        "tasks.toml",
        &format!(
            "[settings]\nbackend = \"embedded\"\n\n[notify.ops]\non = [{on}]\nwebhook = {{ url = \"{}\" }}\n\n{tasks}",
            receiver.url("/hook")
        ),
    );
    env.orc_ok_text(&["apply", "--auto-approve"]);
    env
}

#[test]
fn a_run_past_max_duration_is_alerted_slow_while_it_goes_on() {
    let receiver = Receiver::start(&[]);
    let env = with_tasks(
        &receiver,
        "\"slow\", \"success\"",
        "[tasks.crawl]\nshell = \"sleep 5\"\nmax_duration = \"1s\"\ntimeout = \"1m\"\nnotify = [\"ops\"]\n",
    );
    let mut run = env.command(&["run", "crawl"]).spawn().unwrap();
    let got = receiver.wait_for(1);
    // The alert came while the run was still going: the run is not stopped.
    assert!(
        run.try_wait().unwrap().is_none(),
        "the run ended before its slow alert"
    );
    let slow = got[0].json();
    assert_eq!(slow["event"], "slow", "{slow}");
    assert_eq!(slow["status"], "running");
    assert_eq!(slow["task"], "crawl");
    assert!(
        slow["title"].as_str().unwrap().contains("crawl is SLOW"),
        "{slow}"
    );
    assert!(run.wait().unwrap().success());
    // Then the success, and one slow alert only.
    let got = receiver.wait_for(2);
    let events: Vec<String> = got.iter().map(|r| r.json()["event"].to_string()).collect();
    assert_eq!(events, ["\"slow\"", "\"success\""]);
    let history: serde_json::Value =
        serde_json::from_str(&env.orc_ok(&["history", "crawl", "--json"])).unwrap();
    assert_eq!(history[0]["duration_flag"], "slow", "{history}");
    assert_eq!(history[0]["status"], "success");
    assert!(
        env.orc_ok(&["history", "crawl"])
            .contains("slow: ran past max_duration")
    );
    let report = env.orc_ok(&["report", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["duration_alerts"][0]["flag"], "slow", "{report}");
}

#[test]
fn a_success_under_min_duration_is_alerted_too_fast() {
    let receiver = Receiver::start(&[]);
    let env = with_tasks(
        &receiver,
        "\"too_fast\"",
        "[tasks.load]\nshell = \"true\"\nmin_duration = \"5s\"\nnotify = [\"ops\"]\n\n\
         [tasks.steady]\nshell = \"sleep 2\"\nmin_duration = \"1s\"\nnotify = [\"ops\"]\n",
    );
    env.orc_ok_text(&["run", "load"]);
    env.orc_ok_text(&["run", "steady"]);
    // Each `orc run` delivers before it exits.
    let got = receiver.received();
    assert_eq!(got.len(), 1, "{got:?}");
    let alert = got[0].json();
    assert_eq!(alert["event"], "too_fast", "{alert}");
    assert_eq!(alert["task"], "load");
    let history: serde_json::Value =
        serde_json::from_str(&env.orc_ok(&["history", "--json"])).unwrap();
    let flag_of = |task: &str| {
        history
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["task"] == task)
            .unwrap()["duration_flag"]
            .clone()
    };
    assert_eq!(flag_of("load"), "too_fast");
    assert_eq!(flag_of("steady"), serde_json::Value::Null);
}

#[test]
fn a_warning_exit_code_is_its_own_alert_and_no_failure() {
    let receiver = Receiver::start(&[]);
    let env = with_tasks(
        &receiver,
        "\"warning\", \"failure\"",
        "[tasks.load]\nshell = \"echo 3 rows rejected; exit 2\"\nwarning_exit_codes = [2]\nnotify = [\"ops\"]\n",
    );
    env.orc_ok_text(&["run", "load"]);
    let got = receiver.received();
    assert_eq!(got.len(), 1, "one warning, no failure: {got:?}");
    let alert = got[0].json();
    assert_eq!(alert["event"], "warning", "{alert}");
    assert_eq!(alert["status"], "warning");
    assert_eq!(alert["exit_code"], 2);
    let title = alert["title"].as_str().unwrap();
    assert!(title.contains("load ended with a WARNING"), "{alert}");
    assert!(title.contains("(exit 2)"), "{alert}");
    assert!(
        alert["log_tail"]
            .as_str()
            .unwrap()
            .contains("3 rows rejected"),
        "{alert}"
    );
}

#[test]
fn duration_limits_that_cannot_both_hold_are_refused() {
    let env = TestEnv::new();
    env.write(
        "tasks.toml",
        "[tasks.x]\nshell = \"true\"\nmin_duration = \"10m\"\nmax_duration = \"5m\"\n",
    );
    let o = env.orc(&["validate"]);
    let said = text(&o);
    assert_eq!(o.status.code(), Some(1), "{said}");
    assert!(said.contains("tasks.toml:3:16"), "{said}");
    assert!(
        said.contains("min_duration must be shorter than max_duration"),
        "{said}"
    );
}
