//! The links between operations: what one answer names, the next request
//! takes. Written into the responses by [`add_links`].

use serde_json::{json, Map, Value};

/// The OpenAPI links between operations: what one answer names, the next
/// request takes (a path parameter, or a body field merged into the
/// generated body). Also what a stateful fuzzer follows.
pub(super) fn links() -> Vec<(&'static str, &'static str, &'static str, Value)> {
    let path = |pairs: &[(&str, &str)]| {
        let map: Map<String, Value> = pairs
            .iter()
            .map(|(name, field)| {
                (
                    (*name).to_string(),
                    json!(format!("$response.body#/{field}")),
                )
            })
            .collect();
        json!({ "parameters": map })
    };
    let merchant = path(&[("merchant_id", "merchant_id")]);
    let binding = path(&[("binding_id", "binding_id")]);
    let member = path(&[("merchant_id", "merchant_id"), ("member_id", "member_id")]);
    let mut links = vec![
        (
            "registerDevice",
            "201",
            "getAccount",
            path(&[("account_id", "account_id")]),
        ),
        (
            "createMerchant",
            "201",
            "getAccount",
            path(&[("account_id", "account_id")]),
        ),
        (
            "registerTerminal",
            "201",
            "listReports",
            path(&[("terminal_id", "terminal_id")]),
        ),
        (
            "closeBillingDay",
            "201",
            "billingExport",
            path(&[("export_id", "export_id")]),
        ),
        (
            "storeReconciliation",
            "201",
            "reconciliation",
            path(&[("reconciliation_id", "reconciliation_id")]),
        ),
        (
            "startTopUp",
            "201",
            "getTopUp",
            path(&[("reference", "reference")]),
        ),
        (
            "registerRider",
            "201",
            "revokeRegistration",
            path(&[("registration_id", "registration_id")]),
        ),
        (
            "inviteStaff",
            "201",
            "acceptStaffInvitation",
            json!({ "requestBody": { "code": "$response.body#/code" } }),
        ),
        (
            "createGuardianInvitation",
            "201",
            "acceptGuardianInvitation",
            json!({ "requestBody": { "code": "$response.body#/code" } }),
        ),
    ];
    // A merchant the operator creates: its owner, rate and what anyone may read.
    for target in [
        "setMerchantOwner",
        "setPointsRate",
        "pointsRate",
        "walletPseudonym",
    ] {
        links.push(("createMerchant", "201", target, merchant.clone()));
    }
    // What its owner's device does (the device the operator made the owner).
    for target in [
        "inviteStaff",
        "listStaff",
        "merchantPayments",
        "refundPayment",
        "forwardExternalNotice",
    ] {
        links.push(("setMerchantOwner", "200", target, merchant.clone()));
    }
    for target in [
        "getGuardianBinding",
        "setGuardianLimit",
        "leaveGuardianBinding",
        "revokeGuardianBinding",
    ] {
        links.push(("acceptGuardianInvitation", "201", target, binding.clone()));
    }
    for target in ["setStaffScopes", "revokeStaff"] {
        links.push(("acceptStaffInvitation", "201", target, member.clone()));
    }
    links
}

/// Writes [`links`] into the operations' responses.
pub(super) fn add_links(paths: &mut Map<String, Value>) {
    for (from, status, to, mut link) in links() {
        link["operationId"] = json!(to);
        let operation = paths
            .values_mut()
            .filter_map(Value::as_object_mut)
            .flat_map(|item| item.values_mut())
            .find(|op| op["operationId"] == from);
        if let Some(op) = operation {
            op["responses"][status]["links"][to] = link;
        }
    }
}
