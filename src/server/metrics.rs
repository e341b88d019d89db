//! `GET /metrics`: Prometheus text format (kept until the state changes, computed one
//! at a time with the other heavy reads). The counters come from the running totals
//! the state keeps as runs finish (`run_totals`), so retention deleting old runs never
//! makes them fall; the last-success gauge from the history.

use std::fmt::Write;
use std::sync::Arc;

use axum::extract::State as Shared;
use axum::http::header;
use axum::response::IntoResponse;

use super::{ApiResult, Server};

/// A label value, escaped as the exposition format wants.
pub(super) fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

pub async fn metrics(Shared(server): Shared<Arc<Server>>) -> ApiResult<impl IntoResponse> {
    let text = server.metrics.get(&server, |s| {
        let conn = s.conn();
        let mut out = String::new();
        let query = |sql: &str| -> rusqlite::Result<Vec<(String, String, f64)>> {
            let mut stmt = conn.prepare(sql)?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect()
        };
        let by_status = query(
            "SELECT task, status, CAST(SUM(runs) AS REAL) FROM run_totals GROUP BY task, status ORDER BY task, status",
        )
        .map_err(crate::state::StateError::from)?;
        let durations = query(
            "SELECT task, 'sum', SUM(duration_ms) / 1000.0 FROM run_totals WHERE status IN ('success', 'warning', 'failed', 'timeout', 'interrupted', 'oom') GROUP BY task
             UNION ALL SELECT task, 'count', CAST(SUM(timed) AS REAL) FROM run_totals WHERE status IN ('success', 'warning', 'failed', 'timeout', 'interrupted', 'oom') GROUP BY task
             ORDER BY 1, 2",
        )
        .map_err(crate::state::StateError::from)?;
        let last_success = query(
            "SELECT task, '', CAST(strftime('%s', MAX(COALESCE(finished_at, started_at))) AS REAL) FROM runs
             WHERE status IN ('success', 'warning') GROUP BY task ORDER BY task",
        )
        .map_err(crate::state::StateError::from)?;
        let missed = query(
            "SELECT task, '', CAST(SUM(runs) AS REAL) FROM run_totals WHERE status = 'missed' GROUP BY task ORDER BY task",
        )
        .map_err(crate::state::StateError::from)?;
        let _ = writeln!(out, "# HELP orc_runs_total Finished runs by task and status.");
        let _ = writeln!(out, "# TYPE orc_runs_total counter");
        for (task, status, n) in &by_status {
            let _ = writeln!(
                out,
                "orc_runs_total{{task=\"{}\",status=\"{}\"}} {n}",
                label(task),
                label(status)
            );
        }
        let _ = writeln!(out, "# HELP orc_run_duration_seconds Durations of the runs that ran (not skipped), by task.");
        let _ = writeln!(out, "# TYPE orc_run_duration_seconds summary");
        for (task, kind, v) in &durations {
            let _ = writeln!(out, "orc_run_duration_seconds_{kind}{{task=\"{}\"}} {v}", label(task));
        }
        let _ = writeln!(
            out,
            "# HELP orc_last_success_timestamp_seconds When each task last succeeded (Unix time; a warning counts)."
        );
        let _ = writeln!(out, "# TYPE orc_last_success_timestamp_seconds gauge");
        for (task, _, v) in &last_success {
            let _ = writeln!(out, "orc_last_success_timestamp_seconds{{task=\"{}\"}} {v}", label(task));
        }
        let _ = writeln!(out, "# HELP orc_missed_runs_total Missed-run records by task.");
        let _ = writeln!(out, "# TYPE orc_missed_runs_total counter");
        for (task, _, v) in &missed {
            let _ = writeln!(out, "orc_missed_runs_total{{task=\"{}\"}} {v}", label(task));
        }
        Ok(out)
    })
    .await?;
    let fleet = {
        let server = server.clone();
        super::blocking(move || Ok(super::fleet::metrics(&server))).await?
    };
    let text = text + &fleet;
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text))
}
