//! Where the live Hetzner API has moved on from `reference/hcloud-openapi.json` (5f93a6d,
//! 2026-02-20), and the emulator follows the live API.
//!
//! Each deviation is a patch of the loaded document with its source, applied only when the
//! operation it patches exists (so small test documents are left alone). Two more deviations
//! are rules rather than patches:
//! - the `datacenter` removal lives in `convert`, because it is a rule over schemas;
//! - query booleans: the live API reads `True`/`False` as well as `true`/`false` (the official
//!   hcloud-python 2.27.0 passes Python booleans to `requests`, which writes `True`, e.g.
//!   `images.get_list(include_deprecated=True)` → `?include_deprecated=True`,
//!   `hcloud/images/client.py`); `coerce` in `openapi.rs` accepts both spellings.

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
    /// `GET /actions` accepts `sort`, `page` and `per_page` besides `id`: hcloud-go's action
    /// waiter sends `GET /actions?id=…&page=1&sort=status&sort=id`, and the live API answers it
    /// (real debug log in packer-plugin-hcloud issue #205; `reference/hcloud-api.md` §5, §18).
    /// The parameters are the ones `GET /servers/actions` declares.
    ActionsListSortAndPage,
    /// Primary IPs: `assignee_type` is optional on create (hcloud-python 2.27.0
    /// `primary_ips/client.py` sends it only with an `assignee_id`), and an unassigned primary
    /// IP reports `assignee_type: "unassigned"` since 2026-08-01 (hcloud-go v2.39.0 CHANGELOG;
    /// `reference/hcloud-api.md` §1.2). The `hcloud` 0.26 crate's closed enum cannot read it
    /// (pinned in `tests/it/sim_crate.rs`).
    PrimaryIpUnassigned,
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
    let borrowed: Option<Vec<Value>> = document
        .pointer("/paths/~1servers~1actions/get/parameters")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter(|p| {
                    matches!(
                        p.get("name").and_then(Value::as_str),
                        Some("sort" | "page" | "per_page")
                    )
                })
                .cloned()
                .collect()
        });
    if let (Some(borrowed), Some(parameters)) = (
        borrowed,
        document
            .pointer_mut("/paths/~1actions/get/parameters")
            .and_then(Value::as_array_mut),
    ) {
        parameters.extend(borrowed);
        applied.push(Deviation::ActionsListSortAndPage);
    }
    if let Some(required) = document
        .pointer_mut("/components/schemas/create_primary_ip_request/required")
        .and_then(Value::as_array_mut)
    {
        required.retain(|name| name != "assignee_type");
        for response in [
            "/components/schemas/create_primary_ip_response/properties/primary_ip",
            "/components/schemas/get_primary_ip_response/properties/primary_ip",
            "/components/schemas/list_primary_ips_response/properties/primary_ips/items",
            "/components/schemas/replace_primary_ip_response/properties/primary_ip",
        ] {
            if let Some(values) = document
                .pointer_mut(&format!("{response}/properties/assignee_type/enum"))
                .and_then(Value::as_array_mut)
            {
                values.push(json!("unassigned"));
            }
        }
        applied.push(Deviation::PrimaryIpUnassigned);
    }
    applied
}
