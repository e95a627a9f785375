//! The JSON shapes of the emulated Kubernetes API: objects, lists and `Status` answers, as
//! the real API server writes them (the fields clients read; no managedFields).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::objects::{BudgetRule, BudgetStatus, DisruptionBudget, KubeNode, KubePod, PodOwner, Scaled};

/// A `v1` Node.
pub(super) fn node(node: &KubeNode) -> Value {
    let mut labels = json!({
        "kubernetes.io/hostname": node.name,
        "kubernetes.io/os": "linux",
    });
    let mut taints = Vec::new();
    if node.control_plane {
        labels["node-role.kubernetes.io/control-plane"] = json!("");
        taints.push(json!({"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}));
    }
    if node.unschedulable {
        taints.push(json!({"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}));
    }
    if !node.ready {
        taints.push(json!({"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"}));
    }
    let ready = if node.ready {
        json!({"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status"})
    } else {
        json!({"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown", "message": "Kubelet stopped posting node status."})
    };
    let mut spec = json!({});
    if node.unschedulable {
        spec["unschedulable"] = json!(true);
    }
    if !taints.is_empty() {
        spec["taints"] = json!(taints);
    }
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": node.name, "uid": node.uid, "labels": labels},
        "spec": spec,
        "status": {
            "conditions": [ready],
            "addresses": [
                {"type": "InternalIP", "address": node.internal_ip.to_string()},
                {"type": "Hostname", "address": node.name},
            ],
            "nodeInfo": {"kubeletVersion": node.kubelet_version, "osImage": "Talos (talos-hcloud sim)"},
        },
    })
}

/// A `v1` Pod.
pub(super) fn pod(pod: &KubePod, ready: bool) -> Value {
    let mut metadata = json!({
        "name": pod.name,
        "namespace": pod.namespace,
        "uid": pod.uid,
        "labels": pod.labels,
    });
    let owner = |api_version: &str, kind: &str, name: &str| json!([{"apiVersion": api_version, "kind": kind, "name": name, "controller": true, "blockOwnerDeletion": true}]);
    match &pod.owner {
        PodOwner::Unmanaged => {}
        PodOwner::ReplicaSet(name) => metadata["ownerReferences"] = owner("apps/v1", "ReplicaSet", name),
        PodOwner::DaemonSet(name) => metadata["ownerReferences"] = owner("apps/v1", "DaemonSet", name),
        PodOwner::StatefulSet(name) => metadata["ownerReferences"] = owner("apps/v1", "StatefulSet", name),
        PodOwner::Mirror => {
            let node = pod.node.clone().unwrap_or_default();
            metadata["ownerReferences"] = owner("v1", "Node", &node);
            metadata["annotations"] = json!({"kubernetes.io/config.mirror": pod.uid});
        }
    }
    let mut spec = json!({"containers": [{"name": pod.name, "image": "registry.k8s.io/pause:3.10"}]});
    let status = match &pod.node {
        Some(node) => {
            spec["nodeName"] = json!(node);
            json!({
                "phase": "Running",
                "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
            })
        }
        None => json!({
            "phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}],
        }),
    };
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec, "status": status})
}

/// A `policy/v1` PodDisruptionBudget with its status.
pub(super) fn budget(budget: &DisruptionBudget, status: &BudgetStatus) -> Value {
    let scaled = |s: Scaled| match s {
        Scaled::Count(n) => json!(n),
        Scaled::Percent(p) => json!(format!("{p}%")),
    };
    let mut spec = json!({"selector": {"matchLabels": budget.selector}});
    match budget.rule {
        BudgetRule::MinAvailable(s) => spec["minAvailable"] = scaled(s),
        BudgetRule::MaxUnavailable(s) => spec["maxUnavailable"] = scaled(s),
    }
    json!({
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": budget.name, "namespace": budget.namespace, "generation": 1},
        "spec": spec,
        "status": {
            "observedGeneration": 1,
            "expectedPods": status.expected,
            "currentHealthy": status.current_healthy,
            "desiredHealthy": status.desired_healthy,
            "disruptionsAllowed": status.disruptions_allowed,
        },
    })
}

/// A list of `kind` (`NodeList`) holding `items`.
pub(super) fn list(api_version: &str, kind: &str, revision: u64, items: Vec<Value>) -> Response {
    Json(json!({
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"resourceVersion": revision.to_string()},
        "items": items,
    }))
    .into_response()
}

/// A failure `Status`: `code`, the Kubernetes `reason`, a message and optional details.
pub(super) fn failure(code: StatusCode, reason: &str, message: &str, details: Option<Value>) -> Response {
    let mut body = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code.as_u16(),
    });
    if let Some(details) = details {
        body["details"] = details;
    }
    (code, Json(body)).into_response()
}

/// A success `Status` (what an eviction answers).
pub(super) fn success(code: StatusCode) -> Response {
    (
        code,
        Json(json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": code.as_u16()})),
    )
        .into_response()
}

/// 404 for a named object: `nodes "x" not found`.
pub(super) fn not_found(kind: &str, name: &str) -> Response {
    failure(
        StatusCode::NOT_FOUND,
        "NotFound",
        &format!("{kind} \"{name}\" not found"),
        Some(json!({"name": name, "kind": kind})),
    )
}
