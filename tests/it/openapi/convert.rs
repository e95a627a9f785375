//! OpenAPI 3.0 schema objects → JSON Schema 2020-12, so the `jsonschema` crate can judge them.
//!
//! OpenAPI 3.0.3 schemas are a dialect: `nullable: true` instead of a `null` type, `readOnly` /
//! `writeOnly` that change what `required` means per direction, boolean `exclusiveMinimum`,
//! and documentation keywords (`example`, `discriminator`, `xml`, `x-*`) that JSON Schema does
//! not know. This module rewrites one schema tree at a time, walking only schema positions
//! (`properties` values, `items`, `allOf` members, …) so a property that happens to be called
//! `nullable` or `type` is never mistaken for a keyword. `$ref`s are left as they are: they
//! point into `#/components/...`, which the caller places beside the converted schema.
//!
//! It also applies the one known deviation of the live API from the description (see
//! `reference/README.md`): since 2026-07-01 servers and primary IPs no longer carry
//! `datacenter`, so wherever `datacenter` is required *and* marked `deprecated`, it is dropped
//! from `required` (its presence stays valid).

use serde_json::{Map, Value};

/// Which side of an exchange a schema judges; `readOnly` / `writeOnly` depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// A body the server sent: `writeOnly` properties are never required.
    Response,
    /// A body or parameter the client sent: `readOnly` properties are never required.
    Request,
}

/// What the conversion changed, so tests can prove each quirk was actually met.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stats {
    /// `nullable: true` on a schema with a `type`: became a type union with `null`.
    pub nullable_typed: usize,
    /// `nullable: true` on a `$ref` / `allOf` / `oneOf` / `anyOf` / typeless `enum` schema:
    /// wrapped so `null` passes and anything else is judged, with precise errors, by the rest.
    pub nullable_wrapped: usize,
    /// Required properties dropped because they are `readOnly` (requests) / `writeOnly`
    /// (responses).
    pub direction_relaxed: usize,
    /// Required `datacenter` keys dropped (the live-API deviation).
    pub datacenter_relaxed: usize,
    /// Boolean `exclusiveMinimum` / `exclusiveMaximum` rewritten to the numeric form.
    pub exclusive_bounds: usize,
    /// Optional request properties that now also accept an explicit `null` (see [`schema`]).
    pub optional_null_accepted: usize,
    /// "ID or name" request strings that now also accept an integer ID (see [`schema`]).
    pub id_or_name_widened: usize,
}

/// Keywords that exist only for documentation or code generation in OpenAPI 3.0; removed so
/// the converted schema is plain JSON Schema (and smaller to compile).
const DOCUMENTATION_KEYWORDS: &[&str] = &[
    "example",
    "discriminator",
    "xml",
    "externalDocs",
    "description",
    "title",
    "deprecated",
    "readOnly",
    "writeOnly",
    "nullable",
];

/// Converts one OpenAPI 3.0 schema object (and everything nested in it) for `direction`.
///
/// Two request-side leniencies of the live API that the official clients rely on:
/// - an optional property also accepts an explicit `null`: the API decodes it as "not given"
///   (hcloud-python's `server.enable_rescue()` sends `"type": null` when no type is chosen);
/// - a string documented as "ID or name" also accepts an integer ID (hcloud-python and
///   hcloud-go send `"image": 42`, `"ssh_keys": [7]` for bound objects;
///   `reference/hcloud-api.md` §1.1).
pub fn schema(input: &Value, direction: Direction, stats: &mut Stats) -> Value {
    let Value::Object(map) = input else {
        // `true` / `false` schemas (e.g. `additionalProperties: false`) mean the same in both.
        return input.clone();
    };
    let mut out = Map::new();
    for (key, value) in map {
        let converted = match key.as_str() {
            "properties" | "patternProperties" => match value {
                Value::Object(members) => Value::Object(
                    members
                        .iter()
                        .map(|(name, member)| (name.clone(), schema(member, direction, stats)))
                        .collect(),
                ),
                other => other.clone(),
            },
            "items" | "additionalProperties" | "not" => schema(value, direction, stats),
            "allOf" | "anyOf" | "oneOf" => match value {
                Value::Array(members) => {
                    Value::Array(members.iter().map(|member| schema(member, direction, stats)).collect())
                }
                other => other.clone(),
            },
            k if DOCUMENTATION_KEYWORDS.contains(&k) || k.starts_with("x-") => continue,
            _ => value.clone(),
        };
        out.insert(key.clone(), converted);
    }
    exclusive_bounds(map, &mut out, stats);
    relax_required(map, &mut out, direction, stats);
    if direction == Direction::Request {
        accept_integer_ids(map, &mut out, stats);
        accept_null_for_optional(&mut out, stats);
    }
    if map.get("nullable") == Some(&Value::Bool(true)) {
        let (converted, kind) = nullable(out);
        match kind {
            Nulled::Typed => stats.nullable_typed += 1,
            Nulled::Wrapped => stats.nullable_wrapped += 1,
            Nulled::Unconstrained => {}
        }
        return converted;
    }
    Value::Object(out)
}

/// OpenAPI 3.0 (like draft 4) writes `minimum: 0, exclusiveMinimum: true`; 2020-12 wants
/// `exclusiveMinimum: 0`.
fn exclusive_bounds(original: &Map<String, Value>, out: &mut Map<String, Value>, stats: &mut Stats) {
    for (exclusive, bound) in [("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")] {
        match original.get(exclusive) {
            Some(Value::Bool(true)) => {
                if let Some(limit) = original.get(bound) {
                    out.insert(exclusive.to_owned(), limit.clone());
                    out.remove(bound);
                } else {
                    out.remove(exclusive);
                }
                stats.exclusive_bounds += 1;
            }
            Some(Value::Bool(false)) => {
                out.remove(exclusive);
            }
            _ => {}
        }
    }
}

/// Drops from `required` what this direction never carries, and the deprecated `datacenter`.
fn relax_required(
    original: &Map<String, Value>,
    out: &mut Map<String, Value>,
    direction: Direction,
    stats: &mut Stats,
) {
    let Some(Value::Array(required)) = original.get("required") else {
        return;
    };
    let properties = original.get("properties").and_then(Value::as_object);
    let flag = |name: &str, keyword: &str| {
        properties
            .and_then(|props| props.get(name))
            .and_then(|prop| prop.get(keyword))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    let hidden = match direction {
        Direction::Response => "writeOnly",
        Direction::Request => "readOnly",
    };
    let mut kept = Vec::with_capacity(required.len());
    for name in required {
        let Some(name_str) = name.as_str() else {
            kept.push(name.clone());
            continue;
        };
        if flag(name_str, hidden) {
            stats.direction_relaxed += 1;
        } else if name_str == "datacenter" && flag(name_str, "deprecated") {
            stats.datacenter_relaxed += 1;
        } else {
            kept.push(name.clone());
        }
    }
    out.insert("required".to_owned(), Value::Array(kept));
}

/// Whether a schema's description says it takes an ID or a name (the wordings in the
/// description: "ID or name of …", "Either the ID or the name …", "SSH key IDs (`integer`) or
/// names (`string`)").
fn describes_id_or_name(original: &Map<String, Value>) -> bool {
    let Some(description) = original.get("description").and_then(Value::as_str) else {
        return false;
    };
    let description = description.to_ascii_lowercase();
    ["id or name", "id or the name", "ids (`integer`) or names"]
        .iter()
        .any(|wording| description.contains(wording))
}

/// Widens an "ID or name" string (or array of them) to accept integers too.
fn accept_integer_ids(original: &Map<String, Value>, out: &mut Map<String, Value>, stats: &mut Stats) {
    if !describes_id_or_name(original) {
        return;
    }
    let target = match out.get("type").and_then(Value::as_str) {
        Some("string") => Some(&mut *out),
        Some("array") => out.get_mut("items").and_then(Value::as_object_mut),
        _ => None,
    };
    if let Some(schema) = target
        && schema.get("type").and_then(Value::as_str) == Some("string")
    {
        schema.insert("type".to_owned(), serde_json::json!(["string", "integer"]));
        stats.id_or_name_widened += 1;
    }
}

/// In a converted request schema, lets every property outside `required` be `null` too.
fn accept_null_for_optional(out: &mut Map<String, Value>, stats: &mut Stats) {
    let required: Vec<Value> = match out.get("required") {
        Some(Value::Array(names)) => names.clone(),
        _ => Vec::new(),
    };
    let Some(Value::Object(properties)) = out.get_mut("properties") else {
        return;
    };
    for (name, property) in properties.iter_mut() {
        let Value::Object(map) = property else { continue };
        let accepts_null = match map.get("type") {
            Some(Value::Array(types)) => types.iter().any(|t| t == "null"),
            _ => map.contains_key("if"),
        };
        if required.contains(&Value::String(name.clone())) || accepts_null {
            continue;
        }
        let (converted, kind) = nullable(std::mem::take(map));
        *property = converted;
        if kind != Nulled::Unconstrained {
            stats.optional_null_accepted += 1;
        }
    }
}

/// How [`nullable`] let `null` in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Nulled {
    /// `null` joined the `type` (and the `enum`).
    Typed,
    /// The schema was wrapped in `if null … else <schema>`.
    Wrapped,
    /// Nothing rejected `null` in the first place.
    Unconstrained,
}

/// Makes an already converted schema accept `null`.
///
/// With a `type`, `null` joins the type (and the `enum`, which would otherwise still reject
/// it). Otherwise (`$ref`, `allOf`, …) the schema becomes `if null then ok else <schema>`:
/// unlike `anyOf: [null, <schema>]`, a wrong non-null value then reports the precise nested
/// error instead of "not valid under any of the schemas".
fn nullable(mut out: Map<String, Value>) -> (Value, Nulled) {
    match out.get_mut("type") {
        Some(Value::String(single)) => {
            let single = std::mem::take(single);
            out.insert(
                "type".to_owned(),
                Value::Array(vec![Value::String(single), Value::String("null".to_owned())]),
            );
        }
        Some(Value::Array(types)) => {
            if !types.iter().any(|t| t == "null") {
                types.push(Value::String("null".to_owned()));
            }
        }
        _ => {
            let constrained = ["$ref", "allOf", "anyOf", "oneOf", "not", "enum", "const"]
                .iter()
                .any(|keyword| out.contains_key(*keyword));
            if !constrained {
                return (Value::Object(out), Nulled::Unconstrained);
            }
            let mut wrapper = Map::new();
            wrapper.insert("if".to_owned(), serde_json::json!({"type": "null"}));
            wrapper.insert("else".to_owned(), Value::Object(out));
            return (Value::Object(wrapper), Nulled::Wrapped);
        }
    }
    if let Some(Value::Array(values)) = out.get_mut("enum")
        && !values.contains(&Value::Null)
    {
        values.push(Value::Null);
    }
    (Value::Object(out), Nulled::Typed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn convert(input: Value, direction: Direction) -> (Value, Stats) {
        let mut stats = Stats::default();
        let out = schema(&input, direction, &mut stats);
        (out, stats)
    }

    #[test]
    fn nullable_type_becomes_union_and_enum_gains_null() {
        let (out, stats) = convert(
            json!({"type": "string", "enum": ["a", "b"], "nullable": true, "example": "a"}),
            Direction::Response,
        );
        assert_eq!(out, json!({"type": ["string", "null"], "enum": ["a", "b", null]}));
        assert_eq!(stats.nullable_typed, 1);
    }

    #[test]
    fn nullable_ref_and_all_of_are_wrapped() {
        let (out, stats) = convert(
            json!({"allOf": [{"$ref": "#/components/schemas/x"}], "nullable": true, "description": "d"}),
            Direction::Response,
        );
        assert_eq!(
            out,
            json!({"if": {"type": "null"}, "else": {"allOf": [{"$ref": "#/components/schemas/x"}]}})
        );
        let (out, _) = convert(
            json!({"$ref": "#/components/schemas/x", "nullable": true}),
            Direction::Response,
        );
        assert_eq!(
            out,
            json!({"if": {"type": "null"}, "else": {"$ref": "#/components/schemas/x"}})
        );
        assert_eq!(stats.nullable_wrapped, 1);
    }

    #[test]
    fn properties_named_like_keywords_are_not_keywords() {
        let (out, stats) = convert(
            json!({"type": "object", "properties": {
                "nullable": {"type": "boolean"},
                "example": {"type": "string", "nullable": true},
            }}),
            Direction::Response,
        );
        assert_eq!(
            out,
            json!({"type": "object", "properties": {
                "nullable": {"type": "boolean"},
                "example": {"type": ["string", "null"]},
            }})
        );
        assert_eq!(stats.nullable_typed, 1);
    }

    #[test]
    fn read_only_and_write_only_relax_required_per_direction() {
        let input = json!({
            "type": "object",
            "required": ["id", "password", "name"],
            "properties": {
                "id": {"type": "integer", "readOnly": true},
                "password": {"type": "string", "writeOnly": true},
                "name": {"type": "string"},
            },
        });
        let (response, stats) = convert(input.clone(), Direction::Response);
        assert_eq!(response["required"], json!(["id", "name"]));
        assert_eq!(stats.direction_relaxed, 1);
        let (request, _) = convert(input, Direction::Request);
        assert_eq!(request["required"], json!(["password", "name"]));
        assert!(request["properties"]["id"].get("readOnly").is_none());
    }

    #[test]
    fn optional_request_properties_accept_null() {
        let input = json!({
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string"},
                "type": {"type": "string", "enum": ["linux64"]},
                "labels": {"$ref": "#/components/schemas/labels"},
                "anything": {},
            },
        });
        let (request, stats) = convert(input.clone(), Direction::Request);
        assert_eq!(request["properties"]["name"], json!({"type": "string"}));
        assert_eq!(
            request["properties"]["type"],
            json!({"type": ["string", "null"], "enum": ["linux64", null]})
        );
        assert_eq!(
            request["properties"]["labels"],
            json!({"if": {"type": "null"}, "else": {"$ref": "#/components/schemas/labels"}})
        );
        assert_eq!(stats.optional_null_accepted, 2);
        let (response, stats) = convert(input, Direction::Response);
        assert_eq!(
            response["properties"]["type"],
            json!({"type": "string", "enum": ["linux64"]})
        );
        assert_eq!(stats.optional_null_accepted, 0);
    }

    #[test]
    fn id_or_name_request_fields_accept_integers() {
        let input = json!({
            "type": "object",
            "required": ["image", "ssh_keys", "name"],
            "properties": {
                "image": {"type": "string", "description": "ID or name of the Image the Server is created from."},
                "ssh_keys": {"type": "array", "items": {"type": "string"},
                    "description": "SSH key IDs (`integer`) or names (`string`) which should be injected."},
                "name": {"type": "string", "description": "Name of the Server."},
            },
        });
        let (request, stats) = convert(input.clone(), Direction::Request);
        assert_eq!(request["properties"]["image"], json!({"type": ["string", "integer"]}));
        assert_eq!(
            request["properties"]["ssh_keys"]["items"],
            json!({"type": ["string", "integer"]})
        );
        assert_eq!(request["properties"]["name"], json!({"type": "string"}));
        assert_eq!(stats.id_or_name_widened, 2);
        let (response, _) = convert(input, Direction::Response);
        assert_eq!(response["properties"]["image"], json!({"type": "string"}));
    }

    #[test]
    fn only_deprecated_datacenter_is_relaxed() {
        let deprecated = json!({
            "required": ["datacenter", "id"],
            "properties": {"datacenter": {"deprecated": true}, "id": {"type": "integer"}},
        });
        let (out, stats) = convert(deprecated, Direction::Response);
        assert_eq!(out["required"], json!(["id"]));
        assert_eq!(stats.datacenter_relaxed, 1);
        // GET /datacenters/{id} still requires its `datacenter`.
        let current = json!({"required": ["datacenter"], "properties": {"datacenter": {"type": "object"}}});
        let (out, stats) = convert(current, Direction::Response);
        assert_eq!(out["required"], json!(["datacenter"]));
        assert_eq!(stats.datacenter_relaxed, 0);
    }

    #[test]
    fn boolean_exclusive_bounds_become_numeric() {
        let (out, stats) = convert(
            json!({"type": "integer", "minimum": 0, "exclusiveMinimum": true, "maximum": 9, "exclusiveMaximum": false}),
            Direction::Request,
        );
        assert_eq!(out, json!({"type": "integer", "exclusiveMinimum": 0, "maximum": 9}));
        assert_eq!(stats.exclusive_bounds, 1);
    }

    #[test]
    fn documentation_keywords_and_extensions_are_dropped() {
        let (out, _) = convert(
            json!({"type": "object", "discriminator": {"propertyName": "type"}, "x-go-name": "X",
                   "xml": {"name": "x"}, "externalDocs": {"url": "u"}, "title": "T",
                   "items": {"type": "string", "example": "e"}}),
            Direction::Response,
        );
        assert_eq!(out, json!({"type": "object", "items": {"type": "string"}}));
    }
}
