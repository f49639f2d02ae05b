//! OpenAPI operations of loyalty points: merchants' points rates.

use serde_json::{json, Value};

use super::{int, obj, req, s, Auth, Op};

fn rate() -> Value {
    obj(
        &[
            "merchant_id",
            "currency",
            "accepts_points",
            "minor_per_point",
            "max_share_bps",
        ],
        json!({ "merchant_id": s(), "currency": s(), "accepts_points": { "type": "boolean" },
                "minor_per_point": int(),
                "max_share_bps": { "type": "integer", "minimum": 1, "maximum": 10000 } }),
    )
}

pub(super) fn ops() -> Vec<Op> {
    vec![
        Op { method: "put", path: "/v1/admin/merchants/{merchant_id}/points-rate", id: "setPointsRate",
             summary: "Sets what one loyalty point pays at the merchant (minor units; 0 = the merchant takes no points) and the largest share of a payment points may pay (basis points, default 10000). Payments already made keep their value.",
             auth: Auth::Admin,
             request: Some(req(&["minor_per_point"], json!({ "minor_per_point": { "type": "integer", "minimum": 0, "maximum": 1_000_000_000 },
                 "max_share_bps": { "type": "integer", "minimum": 1, "maximum": 10000 } }))),
             success: ("200", rate()),
             errors: &["400", "401", "404", "422"] },
        Op { method: "get", path: "/v1/merchants/{merchant_id}/points-rate", id: "pointsRate",
             summary: "The merchant's points rate, for the app to show how a payment would split between points and money before the rider confirms. accepts_points is false (minor_per_point 0) when no rate is set.",
             auth: Auth::Device, request: None, success: ("200", rate()),
             errors: &["401", "404"] },
    ]
}
