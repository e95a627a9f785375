//! Where the live Hetzner API has moved on from `reference/hcloud-openapi.json` (5f93a6d,
//! 2026-02-20), and the emulator follows the live API.
//!
//! Each deviation is a patch of the loaded document with its source, applied only when the
//! operation it patches exists (so small test documents are left alone). The `datacenter`
//! removal is the other known deviation; it lives in `convert` because it is a rule over
//! schemas rather than a patch of one operation.

use serde_json::{Value, json};

/// A deviation that was applied, for tests and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deviation {
    /// `DELETE /load_balancers/{id}` returns `200 {"action": …}` instead of `204` since
    /// 2026-10-05 (Hetzner changelog "load balancers can use existing primary IPs"; hcloud-go
    /// v2.52.0 and hcloud-python v2.27.0 read the action, and hcloud-python 2.27.0 fails with
    /// `KeyError: 'action'` on an empty body). The status is assumed to be 200 like
    /// `DELETE /servers/{id}`: the release notes name the action, not the status (unverified).
    LoadBalancerDeleteReturnsAction,
    /// `server_type.locations[]` carries `available` and `recommended` (booleans) since
    /// 2026-04-01 (Hetzner changelog "datacenter deprecations"; hcloud-python v2.18.0 moved
    /// them there, and from then on fails with a `TypeError` when they are missing).
    ServerTypeLocationAvailability,
}

/// Patches `document` with every applicable deviation and returns those applied.
pub fn apply(document: &mut Value) -> Vec<Deviation> {
    let mut applied = Vec::new();
    if let Some(responses) = document
        .pointer_mut("/paths/~1load_balancers~1{id}/delete/responses")
        .and_then(Value::as_object_mut)
    {
        responses.remove("204");
        responses.insert(
            "200".to_owned(),
            json!({
                "description": "Request succeeded (live API since 2026-10-05).",
                "content": {"application/json": {"schema": {
                    "type": "object",
                    "required": ["action"],
                    "properties": {"action": {"$ref": "#/components/schemas/action"}},
                }}},
            }),
        );
        applied.push(Deviation::LoadBalancerDeleteReturnsAction);
    }
    if let Some(location) = document
        .pointer_mut("/components/schemas/server_type_location")
        .and_then(Value::as_object_mut)
    {
        if let Some(properties) = location.get_mut("properties").and_then(Value::as_object_mut) {
            properties.insert(
                "available".to_owned(),
                json!({"type": "boolean", "description": "Whether the Server Type can be ordered in this Location."}),
            );
            properties.insert(
                "recommended".to_owned(),
                json!({"type": "boolean", "description": "Whether the Server Type is recommended in this Location."}),
            );
        }
        if let Some(required) = location.get_mut("required").and_then(Value::as_array_mut) {
            required.extend([json!("available"), json!("recommended")]);
        }
        applied.push(Deviation::ServerTypeLocationAvailability);
    }
    applied
}
