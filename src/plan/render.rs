//! Plans for people (Terraform-like) and for machines (stable JSON).

use serde::Serialize;
use similar::{ChangeTag, TextDiff};

use super::{Action, Drift, Plan, TaskPlan};
use crate::backend::Change;

/// Colours by name, so the renderer reads as prose.
struct Paint(bool);

/// What [`Paint`] writes where a colour starts or ends; made terminal escapes only
/// after every control character of the plan's values (names, descriptions and
/// commands read from the live scheduler, which anyone with access to it wrote) was
/// made visible, so none of them can colour, move or rewrite what the plan says.
/// Random per process, so no value can spell it.
fn escape_marker() -> &'static str {
    static MARKER: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    MARKER.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        let random = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        format!("\u{E000}{random:016x}\u{E000}")
    })
}

/// `text` with every control character but the line breaks orc writes shown as an
/// escape (`\u{1b}`), and orc's colour markers made real escapes.
fn terminal_safe(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() && c != '\n' {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    out.replace(escape_marker(), "\x1b")
}

impl Paint {
    fn code(&self, code: &str, text: &str) -> String {
        if self.0 {
            let esc = escape_marker();
            format!("{esc}[{code}m{text}{esc}[0m")
        } else {
            text.to_string()
        }
    }
    fn green(&self, t: &str) -> String {
        self.code("32", t)
    }
    fn yellow(&self, t: &str) -> String {
        self.code("33", t)
    }
    fn red(&self, t: &str) -> String {
        self.code("31", t)
    }
    fn bold(&self, t: &str) -> String {
        self.code("1", t)
    }
}

fn symbol(p: &Paint, action: Action) -> String {
    match action {
        Action::Create => p.green("+"),
        Action::Update | Action::Rename | Action::Move => p.yellow("~"),
        Action::Delete => p.red("-"),
    }
}

fn headline(plan: &Plan, c: &TaskPlan) -> String {
    match (c.action, c.renamed_from.as_deref()) {
        (Action::Create, _) => format!("# {} will be created", c.name),
        (Action::Rename, Some(from)) => format!("# {from} will be renamed to {}", c.name),
        (Action::Update, _) | (Action::Rename, None) => {
            if c.scheduler.is_empty() {
                format!(
                    "# {} will be updated in place (state only; the scheduler already matches)",
                    c.name
                )
            } else {
                format!("# {} will be updated in place", c.name)
            }
        }
        (Action::Move, _) => format!(
            "# {} will move from folder \"{}\" to \"{}\" (its state and history with it)",
            c.name,
            plan.moved_from.as_deref().unwrap_or_default(),
            plan.folder
        ),
        (Action::Delete, _) => format!("# {} will be destroyed", c.name),
    }
}

/// The line diff of a change's canonical fields, rendered with `similar`.
fn body(p: &Paint, before: &str, after: &str, show_hidden: bool, out: &mut String) {
    let diff = TextDiff::from_lines(before, after);
    let mut hidden = 0;
    for change in diff.iter_all_changes() {
        let line = change.value().trim_end();
        match change.tag() {
            ChangeTag::Equal => hidden += 1,
            ChangeTag::Delete => out.push_str(&format!("      {} {line}\n", p.red("-"))),
            ChangeTag::Insert => out.push_str(&format!("      {} {line}\n", p.green("+"))),
        }
    }
    if hidden > 0 && show_hidden {
        out.push_str(&format!(
            "        # ({hidden} unchanged field{} hidden)\n",
            if hidden == 1 { "" } else { "s" }
        ));
    }
}

/// A canonical field value in words: strings without their JSON quotes, a missing
/// field as "(none)".
fn plain(value: Option<&str>) -> String {
    match value {
        None => "(none)".to_string(),
        Some(v) => match serde_json::from_str::<serde_json::Value>(v) {
            Ok(serde_json::Value::String(s)) => s,
            _ => v.to_string(),
        },
    }
}

/// Terraform-like plan text.
pub fn render_human(plan: &Plan, color: bool) -> String {
    terminal_safe(&render_painted(plan, color))
}

fn render_painted(plan: &Plan, color: bool) -> String {
    let p = Paint(color);
    let mut out = String::new();
    for w in &plan.warnings {
        out.push_str(&format!("{} {w}\n\n", p.bold(&p.yellow("Warning:"))));
    }
    if let Some(from) = &plan.moved_from {
        out.push_str(&format!(
            "{}\n\n",
            p.bold(&format!(
                "Note: the folder changed from \"{from}\" to \"{}\": every task of this config leaves \"{from}\" ({} entr{} to delete there) and arrives in \"{}\"",
                plan.folder,
                plan.old_folder.len(),
                if plan.old_folder.len() == 1 { "y" } else { "ies" },
                plan.folder
            ))
        ));
    }

    let drifted: Vec<&TaskPlan> = plan.changes.iter().filter(|c| c.drift.is_some()).collect();
    if !drifted.is_empty() {
        out.push_str(&format!(
            "{}\n\n",
            p.bold("Note: Tasks have changed outside orc")
        ));
        for c in drifted {
            match c.drift {
                Some(Drift::DeletedOutside) => {
                    out.push_str(&format!("  # {} was deleted outside orc\n", c.name))
                }
                _ => {
                    // The fields run from what orc applied (`after`, which apply
                    // restores) to what the scheduler holds now (`before`).
                    out.push_str(&format!("  # {} was changed outside orc:\n", c.name));
                    for f in &c.fields {
                        out.push_str(&format!(
                            "      {}: {} -> {}\n",
                            f.field,
                            plain(f.after.as_deref()),
                            plain(f.before.as_deref())
                        ));
                    }
                }
            }
        }
        out.push('\n');
    }

    if !plan.has_changes() {
        out.push_str(&format!(
            "{} The {} scheduler (folder {}) matches the configuration.\n",
            p.bold("No changes."),
            plan.backend,
            plan.folder
        ));
    } else {
        out.push_str("orc will perform the following actions:\n\n");
        for c in &plan.changes {
            out.push_str(&format!("  {}\n", p.bold(&headline(plan, c))));
            out.push_str(&format!(
                "  {} task \"{}\" {{\n",
                symbol(&p, c.action),
                c.name
            ));
            body(
                &p,
                &c.before_text,
                &c.after_text,
                c.action != Action::Create,
                &mut out,
            );
            out.push_str("    }\n\n");
        }
        if let Some(s) = &plan.settings {
            out.push_str(&format!(
                "  {}\n",
                p.bold(
                    "# settings will be updated (recorded in the state for orc run and orc daemon)"
                )
            ));
            out.push_str(&format!("  {} settings {{\n", p.yellow("~")));
            body(&p, &s.before_text, &s.after_text, true, &mut out);
            out.push_str("    }\n\n");
        }
    }

    if !plan.unmanaged.is_empty() {
        out.push_str(&format!(
            "Unmanaged tasks in folder {} (left alone; `orc import NAME` adopts one):\n",
            plan.folder
        ));
        for u in &plan.unmanaged {
            out.push_str(&format!(
                "  ? {} ({})\n",
                u.name,
                u.trigger.as_deref().unwrap_or("no trigger")
            ));
        }
        out.push('\n');
    }
    if !plan.skipped.is_empty() {
        out.push_str(&format!("Skipped on this host ({}):\n", plan.host));
        for s in &plan.skipped {
            out.push_str(&format!("  {} (hosts = {})\n", s.name, s.hosts.join(", ")));
        }
        out.push('\n');
    }
    if plan.has_changes() {
        out.push_str(&format!("{} {}\n", p.bold("Plan:"), plan.summary().line()));
    }
    out
}

fn op_name(c: &Change) -> &'static str {
    match c {
        Change::Create(_) => "create",
        Change::Update(_) => "update",
        Change::Delete { .. } => "delete",
        Change::Enable { .. } => "enable",
        Change::Disable { .. } => "disable",
    }
}

/// The documented, stable JSON plan (see README "JSON plan format"), as a value.
pub fn render_json(plan: &Plan) -> serde_json::Value {
    serde_json::to_value(plan_json(plan)).unwrap_or_default()
}

/// The JSON plan as a serialisable view of `plan`, borrowing its values: written
/// straight to text (the audit row, `--json`) without a tree of values, which for
/// 10,000 new tasks took ten times the memory of the 18 MB text.
pub fn plan_json(plan: &Plan) -> PlanJson<'_> {
    json_view(plan, true)
}

/// The JSON plan as the audit row keeps it: a task orc had no record of is named
/// without its fields, which are its whole definition, the one the `tasks` row
/// written by this apply holds (a later update's audit row has the fields it
/// changed). For 10,000 new tasks that is 0.5 MB instead of 9.4 MB.
pub fn audit_json(plan: &Plan) -> PlanJson<'_> {
    json_view(plan, false)
}

fn json_view(plan: &Plan, new_fields: bool) -> PlanJson<'_> {
    PlanJson {
        backend: &plan.backend,
        changes: plan
            .changes
            .iter()
            .map(|c| ChangeJson {
                action: c.action,
                drift: c.drift,
                fields: (new_fields || !c.unrecorded).then(|| c.fields()),
                name: &c.name,
                renamed_from: c.renamed_from.as_deref(),
                scheduler_ops: c.scheduler.iter().map(op_name).collect(),
            })
            .collect(),
        folder: &plan.folder,
        format_version: "1",
        has_changes: plan.has_changes(),
        host: &plan.host,
        moved_from: plan.moved_from.as_deref(),
        old_folder_ops: plan
            .old_folder
            .iter()
            .map(|c| OldFolderOp {
                name: c.name(),
                op: op_name(c),
            })
            .collect(),
        settings: plan
            .settings
            .as_ref()
            .map(|s| SettingsJson { fields: &s.fields }),
        skipped: &plan.skipped,
        summary: plan.summary(),
        unmanaged: &plan.unmanaged,
        warnings: &plan.warnings,
    }
}

// The fields in the order of their names: the order `render_json`'s value (a sorted
// map) has always given them.

/// See [`plan_json`].
#[derive(Serialize)]
pub struct PlanJson<'a> {
    backend: &'a str,
    changes: Vec<ChangeJson<'a>>,
    folder: &'a str,
    format_version: &'static str,
    has_changes: bool,
    host: &'a str,
    moved_from: Option<&'a str>,
    old_folder_ops: Vec<OldFolderOp<'a>>,
    settings: Option<SettingsJson<'a>>,
    skipped: &'a [super::Skipped],
    summary: super::Summary,
    unmanaged: &'a [super::Unmanaged],
    warnings: &'a [String],
}

#[derive(Serialize)]
struct ChangeJson<'a> {
    action: Action,
    drift: Option<Drift>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fields: Option<std::borrow::Cow<'a, [super::FieldChange]>>,
    name: &'a str,
    renamed_from: Option<&'a str>,
    scheduler_ops: Vec<&'static str>,
}

#[derive(Serialize)]
struct OldFolderOp<'a> {
    name: &'a str,
    op: &'static str,
}

#[derive(Serialize)]
struct SettingsJson<'a> {
    fields: &'a [super::FieldChange],
}
