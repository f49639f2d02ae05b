//! OpenAPI operation of the Prometheus metrics (issue 13.3).

use serde_json::json;

use super::{Auth, Op};

pub(super) fn ops() -> Vec<Op> {
    vec![
        Op { method: "get", path: "/metrics", id: "metrics",
             summary: "Prometheus text exposition format (text/plain; version=0.0.4): payments and refunds by outcome, request latency per route template and status class, database transaction retries, open event streams, outbox backlog and oldest age, terminals seen in the last 5 minutes. See docs/api.md, Metrics. Also served without the token on the separate --metrics-listen address when configured.",
             auth: Auth::Admin, request: None,
             success: ("200", json!({ "type": "string" })),
             errors: &["401"] },
    ]
}
