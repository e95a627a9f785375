//! The official Talos JSON schemas (`reference/talos-schema/vX.Y.config.schema.json`) as a
//! second witness: [`assert_schema_valid`] checks generated configs against them (reused by
//! the emulated node's tests), and the shape cross-check makes sure our own declaration of
//! Talos's config types (`talos::config::shape`) knows every documented field of every
//! line, and documents nothing the schema lacks except fields marked hidden.
//!
//! The schemas are read at test time from the shared reference folder, never copied.

use std::collections::BTreeSet;

use serde_json::{Map, Value as Json};
use talos_hcloud::talos::config::shape::{KindLookup, StructShape, Ty, registry};
use talos_hcloud::talos::config::{Contract, Node, Resolved, Value, parse_stream};

use crate::harness::reference_dir;

/// The parsed official schema of a Talos line (`"v1.11"`).
pub fn schema(version: &str) -> Json {
    let path = reference_dir()
        .join("talos-schema")
        .join(format!("{version}.config.schema.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A YAML node as JSON, the way a YAML→JSON converter resolves scalars.
pub fn to_json(node: &Node) -> Json {
    match &node.value {
        Value::Mapping(map) => Json::Object(
            map.iter()
                .map(|(key, value)| (key.to_string(), to_json(value)))
                .collect::<Map<String, Json>>(),
        ),
        Value::Sequence(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Scalar(scalar) => match scalar.resolve() {
            Resolved::Null => Json::Null,
            Resolved::Bool(b) => Json::Bool(b),
            Resolved::Int(i) => i64::try_from(i)
                .map(Json::from)
                .unwrap_or_else(|_| Json::from(i as f64)),
            Resolved::Float(f) => serde_json::Number::from_f64(f).map(Json::Number).unwrap_or(Json::Null),
            Resolved::Timestamp(text) | Resolved::Str(text) => Json::String(text.to_string()),
        },
    }
}

/// Asserts that every document of `docs_text` (a multi-document machine config) is valid
/// under the official JSON schema of `version` (`"v1.12"`). `persist` is set aside first:
/// Talos accepts and writes it, but the schema omits it (reference §E.5).
///
/// On failure the panic lists each document's errors against its own definition (the
/// root `oneOf` alone only says "matches none").
pub fn assert_schema_valid(version: &str, docs_text: &str) {
    let schema = schema(version);
    let validator = jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("schema {version}: {e}"));
    let documents = parse_stream(docs_text).unwrap_or_else(|e| panic!("config is not YAML: {e}"));
    let mut failures = Vec::new();
    for (index, document) in documents.iter().enumerate() {
        if document.root.is_null() {
            continue;
        }
        let mut json = to_json(&document.root);
        if let Some(object) = json.as_object_mut()
            && !object.contains_key("kind")
        {
            object.remove("persist");
        }
        if validator.is_valid(&json) {
            continue;
        }
        let kind = json
            .get("kind")
            .and_then(Json::as_str)
            .unwrap_or("v1alpha1")
            .to_string();
        let detail = definition_errors(&schema, &kind, &json);
        failures.push(format!("document {index} ({kind}):\n{detail}"));
    }
    assert!(
        failures.is_empty(),
        "config is not valid under the Talos {version} schema:\n{}\n--- config ---\n{docs_text}",
        failures.join("\n")
    );
}

/// The errors of `instance` against the schema definition of `kind` alone.
fn definition_errors(schema: &Json, kind: &str, instance: &Json) -> String {
    let Some(definition) = definition_for_kind(schema, kind) else {
        return format!("  no schema definition has kind {kind}");
    };
    let single = serde_json::json!({
        "$schema": schema["$schema"],
        "$defs": schema["$defs"],
        "$ref": format!("#/$defs/{definition}"),
    });
    let validator = match jsonschema::validator_for(&single) {
        Ok(v) => v,
        Err(e) => return format!("  cannot compile definition {definition}: {e}"),
    };
    validator
        .iter_errors(instance)
        .map(|e| format!("  {}: {e}", e.instance_path()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The `$defs` name of the document definition whose `kind` enum holds `kind` (the legacy
/// document for `v1alpha1`).
fn definition_for_kind(schema: &Json, kind: &str) -> Option<String> {
    if kind == "v1alpha1" {
        return Some("v1alpha1.Config".into());
    }
    schema["oneOf"].as_array()?.iter().find_map(|entry| {
        let name = entry["$ref"].as_str()?.rsplit('/').next()?.to_string();
        let kinds = schema["$defs"][&name]["properties"]["kind"]["enum"].as_array()?;
        kinds.iter().any(|k| k == kind).then_some(name)
    })
}

const VERSIONS: [(&str, Contract); 4] = [
    ("v1.10", Contract::V1_10),
    ("v1.11", Contract::V1_11),
    ("v1.12", Contract::V1_12),
    ("v1.13", Contract::V1_13),
];

/// Follows `$ref` within the schema.
fn resolve<'a>(schema: &'a Json, node: &'a Json) -> &'a Json {
    match node.get("$ref").and_then(Json::as_str) {
        Some(reference) => {
            let name = reference.rsplit('/').next().unwrap_or_default();
            &schema["$defs"][name]
        }
        None => node,
    }
}

/// Known places where the schema's type differs from the Go type on purpose or by bug.
const SCHEMA_TYPE_QUIRKS: &[&str] = &[
    // Go: []*x509.PEMEncodedCertificate; schema: a single object.
    "machine.acceptedCAs",
    "cluster.acceptedCAs",
    // Go: *Endpoint (a URL written as a string); schema: an object without properties.
    "machine.logging.destinations[].endpoint",
];

struct CrossCheck<'a> {
    schema: &'a Json,
    contract: Contract,
    problems: Vec<String>,
}

impl CrossCheck<'_> {
    fn structs(&mut self, definition: &Json, shape: &StructShape, path: &str) {
        let definition = resolve(self.schema, definition);
        let Some(properties) = definition.get("properties").and_then(Json::as_object) else {
            return;
        };
        for (name, property) in properties {
            let at = join(path, name);
            match shape.field(name, self.contract) {
                Some(field) => self.types(property, &field.ty, &at),
                None => self.problems.push(format!("{at}: in the schema, unknown to our shape")),
            }
        }
        for name in shape.field_names(self.contract) {
            let documented = shape
                .field(name, self.contract)
                .is_some_and(|field| field.documented(self.contract));
            if documented && !properties.contains_key(name) {
                self.problems.push(format!(
                    "{}: documented by our shape, missing from the schema (mark it hidden?)",
                    join(path, name)
                ));
            }
        }
    }

    fn types(&mut self, property: &Json, ty: &Ty, path: &str) {
        let property = resolve(self.schema, property);
        let schema_type = property.get("type").and_then(Json::as_str);
        if SCHEMA_TYPE_QUIRKS.contains(&path) {
            return;
        }
        let mismatch = |expected: &str| format!("{path}: schema type {schema_type:?}, our shape says {expected}");
        match ty {
            Ty::Struct(shape) => {
                if schema_type != Some("object") {
                    self.problems.push(mismatch("struct"));
                }
                self.structs(property, shape, path);
            }
            Ty::List(item, _) => {
                // Before v1.13 the schemas describe encryption `options` (a list of
                // strings) by the enum of its values alone.
                let enum_of_items = schema_type.is_none() && property.get("enum").is_some();
                if enum_of_items && matches!(**item, Ty::String) {
                    return;
                }
                if schema_type == Some("array") {
                    self.types(&property["items"], item, &format!("{path}[]"));
                } else {
                    self.problems.push(mismatch("list"));
                }
            }
            Ty::Map(value) => {
                let values = property
                    .get("patternProperties")
                    .and_then(Json::as_object)
                    .and_then(|p| p.values().next())
                    .or_else(|| property.get("additionalProperties").filter(|a| a.is_object()));
                match values {
                    Some(values) if schema_type == Some("object") => {
                        self.types(values, value, &format!("{path}{{}}"));
                    }
                    _ => self.problems.push(mismatch("map")),
                }
            }
            Ty::Args | Ty::Unstructured => {
                if schema_type != Some("object") {
                    self.problems.push(mismatch("mapping"));
                }
            }
            Ty::Bool => {
                if schema_type != Some("boolean") {
                    self.problems.push(mismatch("bool"));
                }
            }
            Ty::Int(_) | Ty::FileMode => {
                if schema_type != Some("integer") {
                    self.problems.push(mismatch("integer"));
                }
            }
            Ty::String | Ty::Duration | Ty::Base64 | Ty::Enum(_) | Ty::ByteSize => {
                let enumerated = property.get("enum").is_some();
                if schema_type != Some("string") && !enumerated {
                    self.problems.push(mismatch("string"));
                }
            }
            Ty::IntOrString => {
                if property.get("oneOf").is_none() {
                    self.problems.push(mismatch("integer or string"));
                }
            }
            Ty::Float => {
                if schema_type != Some("number") {
                    self.problems.push(mismatch("number"));
                }
            }
        }
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

#[test]
fn our_shape_knows_every_documented_field_and_documents_nothing_else() {
    let registry = registry();
    let mut problems = Vec::new();
    for (version, contract) in VERSIONS {
        let schema = schema(version);
        let mut check = CrossCheck {
            schema: &schema,
            contract,
            problems: Vec::new(),
        };
        check.structs(&schema["$defs"]["v1alpha1.Config"], &registry.v1alpha1, "");
        let mut kinds_in_schema = BTreeSet::new();
        for entry in schema["oneOf"].as_array().expect("root oneOf") {
            let name = entry["$ref"].as_str().and_then(|r| r.rsplit('/').next()).expect("ref");
            if name == "v1alpha1.Config" {
                continue;
            }
            let definition = &schema["$defs"][name];
            let kind = definition["properties"]["kind"]["enum"][0].as_str().expect("kind enum");
            // The schema spells this kind without its `Config` suffix; Talos registers
            // `KubeSpanEndpointsConfig` (`network/kubespan_endpoints.go`).
            let kind = if kind == "KubeSpanEndpoints" {
                "KubeSpanEndpointsConfig"
            } else {
                kind
            };
            kinds_in_schema.insert(kind.to_string());
            match registry.kind(kind, "v1alpha1", contract) {
                KindLookup::Found(found) => {
                    let named = definition["properties"].get("name").is_some();
                    if named != found.named {
                        check.problems.push(format!("{kind}: named in schema = {named}"));
                    }
                    check.structs(definition, &found.root, kind);
                }
                other => check
                    .problems
                    .push(format!("{kind}: in the schema, our registry says {other:?}")),
            }
        }
        for kind in &registry.kinds {
            if kind.available(contract) && !kinds_in_schema.contains(kind.kind) {
                check.problems.push(format!(
                    "{}: registered in our shape for {version}, not in the schema",
                    kind.kind
                ));
            }
        }
        problems.extend(check.problems.into_iter().map(|p| format!("{version} {p}")));
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// talos-hcloud's `machine-patches/` style patches for one Talos line: sysctls, time
/// servers (a `TimeSyncConfig` document from v1.12, where `machine.time` left the schema),
/// kubelet extraArgs; on control planes the metrics bind addresses and etcd's metrics URL.
fn machine_patches(contract: Contract, control_plane: bool) -> Vec<String> {
    let mut patches = vec![
        "machine:\n  sysctls:\n    net.core.somaxconn: 65535\n    vm.max_map_count: 262144\n    net.ipv4.ip_forward: 1\n"
            .to_string(),
        "machine:\n  kubelet:\n    extraArgs:\n      rotate-server-certificates: true\n".to_string(),
    ];
    if contract.at_least(1, 12) {
        patches.push(
            "apiVersion: v1alpha1\nkind: TimeSyncConfig\nntp:\n  servers: [ntp1.hetzner.de, ntp2.hetzner.com]\n"
                .to_string(),
        );
    } else {
        patches.push("machine:\n  time:\n    servers: [ntp1.hetzner.de, ntp2.hetzner.com]\n".to_string());
    }
    if control_plane {
        patches.push(
            "cluster:\n  controllerManager:\n    extraArgs:\n      bind-address: 0.0.0.0\n  scheduler:\n    extraArgs:\n      bind-address: 0.0.0.0\n  \
             proxy:\n    extraArgs:\n      metrics-bind-address: 0.0.0.0:10249\n  etcd:\n    extraArgs:\n      listen-metrics-urls: http://0.0.0.0:2381\n"
                .to_string(),
        );
    }
    patches
}

#[test]
fn generated_configs_with_machine_patches_are_valid_under_the_official_schema() {
    use talos_hcloud::talos::config::MachineType;
    use talos_hcloud::talos::config::patch::{PatchSource, apply, load_patch};
    use talos_hcloud::talos::config::validate::{ValidateOptions, validate};

    let secrets = crate::talos_golden::golden_secrets();
    for (release, (version, contract)) in ["v1.10.9", "v1.11.6", "v1.12.11", "v1.13.9"].into_iter().zip(VERSIONS) {
        for (hostname, machine_type, base) in crate::talos_golden::hcloud_node_configs(release, &secrets) {
            let patches: Vec<_> = machine_patches(contract, machine_type == MachineType::ControlPlane)
                .into_iter()
                .enumerate()
                .map(|(i, text)| {
                    load_patch(PatchSource::Inline {
                        name: format!("machine-patch-{i}"),
                        text,
                    })
                    .expect("patch loads")
                })
                .collect();
            let (docs, warnings) = apply(&base, &patches, &contract).expect("patches apply");
            assert!(warnings.is_empty(), "{warnings:?}");
            let text = docs.to_yaml();
            assert!(text.contains("net.ipv4.ip_forward: \"1\""), "{text}");
            assert_schema_valid(version, &text);
            let mut options = ValidateOptions::new(contract);
            options.node = Some(hostname.into());
            let findings = validate(&docs, &options).unwrap_or_else(|e| panic!("{release} {hostname}: {e}"));
            assert!(findings.is_empty(), "{release} {hostname}: {findings:?}");
        }
    }
}

#[test]
fn the_schema_check_fails_on_what_the_schema_forbids() {
    let text = crate::talos_golden::golden("v1.12", "worker");
    assert_schema_valid("v1.12", &text);
    let broken = text.replace(
        "dnsDomain: cluster.local",
        "dnsDomain: cluster.local\n        frobnicate: true",
    );
    let outcome = std::panic::catch_unwind(|| assert_schema_valid("v1.12", &broken));
    let message = outcome
        .expect_err("an unknown key is invalid")
        .downcast::<String>()
        .map(|m| *m)
        .unwrap_or_default();
    assert!(message.contains("frobnicate"), "{message}");
}
