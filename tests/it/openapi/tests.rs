//! Self-tests of the conformance checker: the description's own examples pass, broken bodies
//! fail with messages that say what is wrong and where.

use serde_json::{Value, json};

use super::{Direction, OpenApi, RecordedExchange, assert_conforms, conformance};

/// The resource kinds talos-hcloud (and the Python scenario) use.
const IN_SCOPE: &[&str] = &[
    "servers",
    "images",
    "ssh_keys",
    "placement_groups",
    "networks",
    "firewalls",
    "floating_ips",
    "primary_ips",
    "load_balancers",
    "server_types",
    "locations",
    "load_balancer_types",
    "actions",
    "pricing",
];

fn api() -> &'static OpenApi {
    OpenApi::get()
}

/// A concrete path for a template: integer parameters become `42`, others `example`.
fn instantiate(template: &str) -> String {
    let replaced: Vec<&str> = template
        .split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                if segment == "{id_or_name}" || segment.starts_with("{rr_") {
                    "example"
                } else {
                    "42"
                }
            } else {
                segment
            }
        })
        .collect();
    format!("/v1{}", replaced.join("/"))
}

/// `(template, method, operation)` for every cloud operation in the description.
fn cloud_operations(api: &OpenApi) -> Vec<(String, String, Value)> {
    let mut found = Vec::new();
    let paths = api.document()["paths"].as_object().expect("the description has paths");
    for (template, item) in paths {
        if !super::serves_cloud_api(api.document(), item) {
            continue;
        }
        for (method, operation) in item.as_object().expect("a path item is an object") {
            if super::is_http_method(method) {
                found.push((template.clone(), method.clone(), operation.clone()));
            }
        }
    }
    found
}

/// Every `examples.*.value` under a media-type object.
fn examples(media: &Value) -> Vec<(String, Value)> {
    let mut found: Vec<(String, Value)> = media
        .get("examples")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(name, example)| example.get("value").map(|value| (name.clone(), value.clone())))
        .collect();
    if let Some(example) = media.get("example") {
        found.push(("example".to_owned(), example.clone()));
    }
    found
}

#[test]
fn every_cloud_path_template_is_found_again_from_a_concrete_path() {
    let api = api();
    let operations = cloud_operations(api);
    assert!(
        operations.len() > 150,
        "only {} cloud operations found",
        operations.len()
    );
    for (template, method, _) in &operations {
        let path = instantiate(template);
        let operation = api
            .operation(method, &path)
            .unwrap_or_else(|error| panic!("{method} {path}: {error}"))
            .expect("not a sim-control path");
        assert_eq!(operation.template, template, "{method} {path}");
    }
}

#[test]
fn every_cloud_schema_compiles() {
    let api = api();
    let mut compiled = 0;
    for (template, method, operation) in cloud_operations(api) {
        let base = format!("/paths/{}/{method}", super::escape_pointer(&template));
        for (status, response) in operation["responses"].as_object().expect("responses is an object") {
            if response.pointer("/content/application~1json/schema").is_some() {
                let pointer = format!("{base}/responses/{status}/content/application~1json/schema");
                // Validating anything forces the compile; the verdict does not matter here.
                if let Err(errors) = api.validate_at(&pointer, Direction::Response, &Value::Null)
                    && errors
                        .iter()
                        .any(|e| e.contains("does not compile") || e.contains("no schema"))
                {
                    panic!("{pointer}: {errors:?}");
                }
                compiled += 1;
            }
        }
        if operation
            .pointer("/requestBody/content/application~1json/schema")
            .is_some()
        {
            let pointer = format!("{base}/requestBody/content/application~1json/schema");
            if let Err(errors) = api.validate_at(&pointer, Direction::Request, &Value::Null)
                && errors
                    .iter()
                    .any(|e| e.contains("does not compile") || e.contains("no schema"))
            {
                panic!("{pointer}: {errors:?}");
            }
            compiled += 1;
        }
    }
    assert!(compiled > 400, "only {compiled} schemas compiled");
}

/// Brings a spec example up to the live shape the deviations require: every
/// `server_type.locations[]` entry gains `available` and `recommended`. Returns how many
/// entries were patched.
fn live_shape(value: &mut Value) -> usize {
    let mut patched = 0;
    match value {
        Value::Object(map) => {
            if let Some(Value::Array(locations)) = map.get_mut("server_type").and_then(|t| t.get_mut("locations")) {
                for location in locations.iter_mut().filter_map(Value::as_object_mut) {
                    location.entry("available").or_insert(Value::Bool(true));
                    location.entry("recommended").or_insert(Value::Bool(true));
                    patched += 1;
                }
            }
            patched += map.values_mut().map(live_shape).sum::<usize>();
        }
        Value::Array(items) => patched += items.iter_mut().map(live_shape).sum::<usize>(),
        _ => {}
    }
    patched
}

/// The core self-test: the description's own response examples conform (after the
/// `datacenter` rule, and brought to the live shape by `live_shape`), through the same entry
/// point recorded traffic uses.
#[test]
fn spec_response_examples_validate() {
    let api = api();
    let mut in_scope = 0;
    let mut other = 0;
    let mut patched = 0;
    let mut failures = Vec::new();
    for (template, method, operation) in cloud_operations(api) {
        let path = instantiate(&template);
        for (status, response) in operation["responses"].as_object().expect("responses is an object") {
            let Ok(code) = status.parse::<u16>() else { continue };
            let Some(media) = response.pointer("/content/application~1json") else {
                continue;
            };
            for (name, mut example) in examples(media) {
                patched += live_shape(&mut example);
                match api.check(&method, &path, code, Some(&example)) {
                    Ok(()) => {
                        if IN_SCOPE.contains(&template.split('/').nth(1).unwrap_or_default()) {
                            in_scope += 1;
                        } else {
                            other += 1;
                        }
                    }
                    Err(errors) => failures.push(format!("{method} {template} {status} {name}: {errors:#?}")),
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} spec examples fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // 79 in-scope response examples in hcloud-openapi.json @ 5f93a6d; a newer copy may add some.
    assert!(in_scope >= 79, "only {in_scope} in-scope examples validated");
    assert!(
        patched > 0,
        "no example carried a server type: the live-shape patch was not exercised"
    );
    eprintln!(
        "validated {in_scope} in-scope and {other} other response examples ({patched} server-type locations patched)"
    );
}

#[test]
fn spec_request_examples_validate() {
    let api = api();
    let mut validated = 0;
    let mut failures = Vec::new();
    for (template, method, operation) in cloud_operations(api) {
        let Some(media) = operation.pointer("/requestBody/content/application~1json") else {
            continue;
        };
        for (name, example) in examples(media) {
            match api.check_request(&method, &instantiate(&template), "", Some(&example)) {
                Ok(()) => validated += 1,
                Err(errors) => failures.push(format!("{method} {template} {name}: {errors:#?}")),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(validated >= 8, "only {validated} request examples validated");
}

#[test]
fn the_error_response_example_is_an_envelope() {
    let example = api().document()["components"]["schemas"]["error_response"]["example"].clone();
    assert_eq!(example["error"]["code"], "unauthorized");
    assert_eq!(api().check("GET", "/v1/servers", 401, Some(&example)), Ok(()));
}

// ---------------------------------------------------------------------------------------------
// The live-API deviation: no `datacenter` on servers and primary IPs.

/// The `server` of the `POST /servers` example, reshaped like the live API (no `datacenter`).
fn live_server() -> Value {
    let mut server = api().document()["paths"]["/servers"]["post"]["responses"]["201"]["content"]["application/json"]
        ["examples"]["default"]["value"]["server"]
        .clone();
    assert!(
        live_shape(&mut server) > 0,
        "the example server has a server type with locations"
    );
    let object = server.as_object_mut().expect("the example server is an object");
    assert!(
        object.remove("datacenter").is_some(),
        "the spec example still carries datacenter"
    );
    server
}

fn get_server(server: Value) -> Result<(), Vec<String>> {
    api().check("GET", "/v1/servers/42", 200, Some(&json!({ "server": server })))
}

fn joined(result: Result<(), Vec<String>>) -> String {
    result.expect_err("a violation is reported").join("\n")
}

#[test]
fn datacenter_is_relaxed_exactly_for_servers_and_primary_ips() {
    // `server` plus the primary IP object inlined in four responses.
    assert_eq!(api().stats(Direction::Response).datacenter_relaxed, 5);
    assert_eq!(get_server(live_server()), Ok(()));
    let primary_ip = json!({"primary_ip": {
        "assignee_id": 17, "assignee_type": "server", "auto_delete": true, "blocked": false,
        "created": "2016-01-30T23:55:00+00:00", "dns_ptr": [{"dns_ptr": "server.example.com", "ip": "131.232.99.1"}],
        "id": 42, "ip": "131.232.99.1", "labels": {}, "name": "my-resource",
        "protection": {"delete": false}, "type": "ipv4",
        "location": {"city": "Falkenstein", "country": "DE", "description": "Falkenstein DC Park 1",
            "id": 1, "latitude": 50.47612, "longitude": 12.370071, "name": "fsn1", "network_zone": "eu-central"},
    }});
    assert_eq!(api().check("GET", "/v1/primary_ips/42", 200, Some(&primary_ip)), Ok(()));
    // A datacenter response still needs its datacenter.
    let message = joined(api().check("GET", "/v1/datacenters/1", 200, Some(&json!({}))));
    assert!(message.contains("\"datacenter\" is a required property"), "{message}");
}

// ---------------------------------------------------------------------------------------------
// Broken bodies fail, saying what and where.

#[test]
fn missing_required_key_is_named_with_its_location() {
    let mut server = live_server();
    server.as_object_mut().expect("object").remove("status");
    let message = joined(get_server(server));
    assert!(
        message.contains("/server: \"status\" is a required property"),
        "{message}"
    );
    assert!(message.contains("200 schema"), "{message}");
}

#[test]
fn unknown_enum_value_is_reported() {
    let mut server = live_server();
    server["status"] = json!("booting");
    let message = joined(get_server(server));
    assert!(
        message.contains("/server/status: \"booting\" is not one of"),
        "{message}"
    );
    assert!(
        message.contains("\"initializing\""),
        "lists the allowed values: {message}"
    );
}

#[test]
fn wrong_type_is_reported() {
    let mut server = live_server();
    server["id"] = json!("42");
    let message = joined(get_server(server));
    assert!(
        message.contains("/server/id: \"42\" is not of type \"integer\""),
        "{message}"
    );
}

#[test]
fn null_is_rejected_where_not_nullable_and_accepted_where_nullable() {
    let mut server = live_server();
    server["name"] = Value::Null;
    let message = joined(get_server(server));
    assert!(
        message.contains("/server/name: null is not of type \"string\""),
        "{message}"
    );

    let mut server = live_server();
    server["image"] = Value::Null; // nullable via allOf + $ref
    server["iso"] = Value::Null;
    server["backup_window"] = Value::Null; // nullable typed string
    server["placement_group"] = Value::Null;
    assert_eq!(get_server(server), Ok(()));
}

#[test]
fn errors_inside_a_nullable_reference_keep_their_precise_location() {
    let mut server = live_server();
    assert!(server["image"].is_object(), "the example server has an image");
    server["image"]["status"] = json!("pending");
    server["image"]["os_flavor"] = json!(7);
    let message = joined(get_server(server));
    assert!(
        message.contains("/server/image/status: \"pending\" is not one of"),
        "{message}"
    );
    assert!(message.contains("/server/image/os_flavor: 7 is not"), "{message}");
}

#[test]
fn bad_date_time_is_reported() {
    let mut server = live_server();
    server["created"] = json!("yesterday");
    let message = joined(get_server(server));
    assert!(
        message.contains("/server/created: \"yesterday\" is not a \"date-time\""),
        "{message}"
    );
}

#[test]
fn every_violation_is_listed_not_only_the_first() {
    let mut server = live_server();
    server["status"] = json!("booting");
    server["locked"] = json!("no");
    server.as_object_mut().expect("object").remove("labels");
    let errors = get_server(server).expect_err("three violations");
    assert_eq!(errors.len(), 3, "{errors:#?}");
}

// ---------------------------------------------------------------------------------------------
// Paths and methods the description does not have.

#[test]
fn invented_paths_and_methods_are_violations() {
    let api = api();
    let message = joined(api.check("POST", "/v1/servers/42/actions/teleport", 201, Some(&json!({}))));
    assert!(
        message.contains("POST /v1/servers/42/actions/teleport is not in the Hetzner OpenAPI description (closest path /servers/{id}/actions/{action_id} documents: GET)"),
        "{message}"
    );

    let message = joined(api.check("PATCH", "/v1/servers/42", 200, Some(&json!({}))));
    assert!(
        message.contains("PATCH /v1/servers/42 is not in the Hetzner OpenAPI description"),
        "{message}"
    );
    assert!(
        message.contains("closest path /servers/{id} documents: DELETE, GET, PUT"),
        "{message}"
    );

    let message = joined(api.check("GET", "/v1/teapots/1", 200, Some(&json!({}))));
    assert!(
        message.contains("no path in the Hetzner OpenAPI description matches /v1/teapots/1"),
        "{message}"
    );

    let message = joined(api.check("GET", "/servers", 200, None));
    assert!(message.contains("outside the API base /v1"), "{message}");

    // The storage-box API lives on api.hetzner.com, not on the cloud API.
    let message = joined(api.check("GET", "/v1/storage_boxes", 200, Some(&json!({}))));
    assert!(message.contains("no path"), "{message}");

    // Even a well-formed 404 for an unknown route is reported: the route itself is the finding.
    let not_found = json!({"error": {"code": "not_found", "message": "nope", "details": null}});
    assert!(api.check("GET", "/v1/teapots", 404, Some(&not_found)).is_err());
}

#[test]
fn sim_control_paths_are_exempt() {
    let api = api();
    assert_eq!(
        api.check("POST", "/__sim/advance", 200, Some(&json!({"anything": true}))),
        Ok(())
    );
    assert_eq!(api.check("GET", "/__sim", 200, None), Ok(()));
    assert!(api.check("GET", "/__simulator", 200, None).is_err());
    assert!(
        api.check("GET", "/v1/__sim/advance", 200, None).is_err(),
        "controls live outside /v1"
    );
}

#[test]
fn statuses_and_bodies_must_match_what_is_documented() {
    let api = api();
    let message = joined(api.check("POST", "/v1/servers", 200, Some(&json!({}))));
    assert!(
        message.contains("status 200 is not documented for POST /servers (documented: 201, 4xx, 5xx)"),
        "{message}"
    );

    assert_eq!(api.check("DELETE", "/v1/ssh_keys/42", 204, None), Ok(()));
    let message = joined(api.check("DELETE", "/v1/ssh_keys/42", 204, Some(&json!({"ssh_key": {}}))));
    assert!(
        message.contains("a body was returned, but the description defines none for 204"),
        "{message}"
    );

    let message = joined(api.check("POST", "/v1/servers/42/actions/poweron", 201, None));
    assert!(message.contains("no JSON body"), "{message}");
}

// ---------------------------------------------------------------------------------------------
// Error bodies.

#[test]
fn error_bodies_must_be_the_hetzner_envelope() {
    let api = api();
    let ok = json!({"error": {"code": "not_found", "message": "server with ID '9' not found", "details": {}}});
    assert_eq!(api.check("GET", "/v1/servers/9", 404, Some(&ok)), Ok(()));
    let invalid = json!({"error": {"code": "invalid_input", "message": "invalid input in field 'name'",
        "details": {"fields": [{"name": "name", "messages": ["is too long"]}]}}});
    assert_eq!(api.check("POST", "/v1/servers", 422, Some(&invalid)), Ok(()));
    let locked = json!({"error": {"code": "locked", "message": "cannot perform operation because server is locked", "details": null}});
    assert_eq!(
        api.check("POST", "/v1/servers/9/actions/enable_rescue", 423, Some(&locked)),
        Ok(())
    );

    let message = joined(api.check("GET", "/v1/servers/9", 404, Some(&json!({"message": "not found"}))));
    assert!(
        message.contains("not a Hetzner error envelope: (root): \"error\" is a required property"),
        "{message}"
    );

    let no_details = json!({"error": {"code": "not_found", "message": "gone"}});
    let message = joined(api.check("GET", "/v1/servers/9", 404, Some(&no_details)));
    assert!(
        message.contains("/error: \"details\" is a required property"),
        "{message}"
    );

    let bad_details = json!({"error": {"code": "not_found", "message": "gone", "details": "none"}});
    let message = joined(api.check("GET", "/v1/servers/9", 404, Some(&bad_details)));
    assert!(message.contains("/error/details: \"none\" is not of type"), "{message}");

    let numeric_code = json!({"error": {"code": 404, "message": "gone", "details": null}});
    let message = joined(api.check("GET", "/v1/servers/9", 404, Some(&numeric_code)));
    assert!(
        message.contains("/error/code: 404 is not of type \"string\""),
        "{message}"
    );

    let message = joined(api.check("GET", "/v1/servers/9", 500, None));
    assert!(message.contains("error status 500 without a JSON body"), "{message}");
    // Gateways answer 502/504 themselves, often without JSON.
    assert_eq!(api.check("GET", "/v1/servers/9", 502, None), Ok(()));
    assert_eq!(api.check("GET", "/v1/servers/9", 504, None), Ok(()));
}

// ---------------------------------------------------------------------------------------------
// What the client sent.

#[test]
fn query_parameters_are_checked_by_name_type_and_enum() {
    let api = api();
    assert_eq!(
        api.check_request(
            "GET",
            "/v1/servers",
            "label_selector=cluster%3Ddemo%2Crole+in+(cp)&status=running&status=off&sort=id:asc&page=2&per_page=50",
            None
        ),
        Ok(())
    );
    assert_eq!(
        api.check_request(
            "GET",
            "/v1/images",
            "type=snapshot&label_selector=a%3Db&page=1&per_page=50",
            None
        ),
        Ok(())
    );
    assert_eq!(api.check_request("GET", "/v1/actions", "id=1&id=2", None), Ok(()));

    let message = joined(api.check_request("GET", "/v1/servers", "status=booting", None));
    assert!(
        message.contains("query parameter `status`: /0: \"booting\" is not one of"),
        "{message}"
    );

    let message = joined(api.check_request("GET", "/v1/servers", "colour=red", None));
    assert!(
        message.contains("query parameter `colour` is not accepted by GET /servers"),
        "{message}"
    );

    let message = joined(api.check_request("GET", "/v1/servers", "page=first", None));
    assert!(
        message.contains("query parameter `page`: (root): \"first\" is not of type \"integer\""),
        "{message}"
    );

    let message = joined(api.check_request("GET", "/v1/servers", "name=a&name=b", None));
    assert!(
        message.contains("query parameter `name` given 2 times, but it takes one value"),
        "{message}"
    );

    let message = joined(api.check_request("GET", "/v1/actions", "", None));
    assert!(
        message.contains("required query parameter `id` is missing"),
        "{message}"
    );
}

#[test]
fn path_parameters_are_checked() {
    let message = joined(api().check_request("GET", "/v1/servers/abc", "", None));
    assert!(
        message.contains("path parameter `id`: (root): \"abc\" is not of type \"integer\""),
        "{message}"
    );
    assert_eq!(api().check_request("GET", "/v1/servers/118030466", "", None), Ok(()));
}

#[test]
fn request_bodies_are_checked() {
    let api = api();
    let good = json!({"name": "tc-demo-cp-1", "server_type": "cax11", "image": "debian-12", "location": "fsn1",
        "labels": {"cluster": "demo"}, "ssh_keys": ["k"], "networks": [7], "firewalls": [{"firewall": 3}],
        "placement_group": 5, "start_after_create": true});
    assert_eq!(api.check_request("POST", "/v1/servers", "", Some(&good)), Ok(()));

    // hcloud-python sends bound objects by ID: `"image": 114690387, "ssh_keys": [7]`.
    let mut by_id = good.clone();
    by_id["image"] = json!(114_690_387);
    by_id["ssh_keys"] = json!([7, "named-key"]);
    by_id["server_type"] = json!(45);
    assert_eq!(api.check_request("POST", "/v1/servers", "", Some(&by_id)), Ok(()));
    let mut bad_id = good.clone();
    bad_id["image"] = json!(1.5);
    let message = joined(api.check_request("POST", "/v1/servers", "", Some(&bad_id)));
    assert!(
        message.contains("request body: /image: 1.5 is not of types"),
        "{message}"
    );
    assert!(api.stats(Direction::Request).id_or_name_widened >= 12);

    let mut missing = good.clone();
    missing.as_object_mut().expect("object").remove("server_type");
    let message = joined(api.check_request("POST", "/v1/servers", "", Some(&missing)));
    assert!(
        message.contains("request body: (root): \"server_type\" is a required property"),
        "{message}"
    );

    let mut bad_label = good.clone();
    bad_label["labels"]["cluster"] = json!("-bad-");
    let message = joined(api.check_request("POST", "/v1/servers", "", Some(&bad_label)));
    assert!(message.contains("request body: /labels/cluster"), "{message}");

    // Optional fields may be null (hcloud-python's enable_rescue() sends `"type": null`);
    // required ones may not.
    assert_eq!(
        api.check_request(
            "POST",
            "/v1/servers/42/actions/enable_rescue",
            "",
            Some(&json!({"type": null}))
        ),
        Ok(())
    );
    let message = joined(api.check_request(
        "POST",
        "/v1/servers/42/actions/enable_rescue",
        "",
        Some(&json!({"type": "linux32"})),
    ));
    assert!(
        message.contains("request body: /type: \"linux32\" is not one of"),
        "{message}"
    );
    let mut null_name = good.clone();
    null_name["name"] = Value::Null;
    let message = joined(api.check_request("POST", "/v1/servers", "", Some(&null_name)));
    assert!(
        message.contains("request body: /name: null is not of type \"string\""),
        "{message}"
    );

    let message = joined(api.check_request("POST", "/v1/servers", "", None));
    assert!(message.contains("request body missing"), "{message}");

    assert_eq!(
        api.check_request("POST", "/v1/servers/42/actions/poweron", "", None),
        Ok(())
    );
    assert_eq!(
        api.check_request("POST", "/v1/servers/42/actions/poweron", "", Some(&json!({}))),
        Ok(())
    );
    let message = joined(api.check_request(
        "POST",
        "/v1/servers/42/actions/poweron",
        "",
        Some(&json!({"force": true})),
    ));
    assert!(
        message.contains("request body sent, but POST /servers/{id}/actions/poweron takes none"),
        "{message}"
    );
}

// ---------------------------------------------------------------------------------------------
// The record-level entry point.

fn record(
    method: &str,
    path: &str,
    query: &str,
    status: u16,
    request: Option<Value>,
    response: Option<Value>,
) -> RecordedExchange {
    RecordedExchange {
        method: method.to_owned(),
        path: path.to_owned(),
        query: query.to_owned(),
        status,
        request_body: request,
        response_body: response,
    }
}

fn good_traffic() -> Vec<RecordedExchange> {
    let action = json!({"id": 1_700_000_001_i64, "command": "start_server", "status": "success", "progress": 100,
        "started": "2026-01-30T23:50:00+00:00", "finished": "2026-01-30T23:50:03+00:00",
        "resources": [{"id": 118_030_466, "type": "server"}], "error": null});
    vec![
        record(
            "GET",
            "/v1/servers/118030466",
            "",
            200,
            None,
            Some(json!({"server": live_server()})),
        ),
        record(
            "POST",
            "/v1/servers/118030466/actions/poweron",
            "",
            201,
            None,
            Some(json!({"action": action})),
        ),
        record(
            "GET",
            "/v1/actions/1700000001",
            "",
            200,
            None,
            Some(json!({"action": action})),
        ),
        record(
            "POST",
            "/__sim/advance",
            "seconds=30",
            200,
            Some(json!({})),
            Some(json!({"now": 30})),
        ),
        record("DELETE", "/v1/ssh_keys/3", "", 204, None, None),
        // A deliberately bad request the emulator rightly refused: the request is not judged.
        record(
            "POST",
            "/v1/servers",
            "",
            422,
            Some(json!({"name": 5})),
            Some(
                json!({"error": {"code": "invalid_input", "message": "invalid input in field 'name'", "details": {"fields": [{"name": "name", "messages": ["must be a string"]}]}}}),
            ),
        ),
    ]
}

#[test]
fn conforming_traffic_counts_every_api_exchange_and_skips_sim_controls() {
    assert_eq!(assert_conforms(&good_traffic()), 5);
}

#[test]
fn nonconforming_traffic_panics_listing_every_violation() {
    let mut traffic = good_traffic();
    let mut server = live_server();
    server["status"] = json!("booting");
    traffic.push(record(
        "GET",
        "/v1/servers/118030466",
        "",
        200,
        None,
        Some(json!({"server": server})),
    ));
    traffic.push(record(
        "POST",
        "/v1/servers/1/actions/teleport",
        "",
        201,
        None,
        Some(json!({})),
    ));
    traffic.push(record("GET", "/v1/servers", "status=booting", 200, None,
        Some(json!({"servers": [], "meta": {"pagination": {"page": 1, "per_page": 25, "previous_page": null, "next_page": null, "last_page": 1, "total_entries": 0}}}))));

    let (validated, violations) = conformance(api(), &traffic);
    assert_eq!(validated, 7);
    assert_eq!(violations.len(), 3, "{violations:#?}");
    assert!(
        violations[0].starts_with("#6 GET /v1/servers/118030466 → 200: response: "),
        "{}",
        violations[0]
    );
    assert!(
        violations[1]
            .starts_with("#7 POST /v1/servers/1/actions/teleport → 201: POST /v1/servers/1/actions/teleport is not in"),
        "{}",
        violations[1]
    );
    assert!(
        violations[2].starts_with("#8 GET /v1/servers?status=booting → 200: request: "),
        "{}",
        violations[2]
    );

    let panic = std::panic::catch_unwind(|| assert_conforms(&traffic)).expect_err("assert_conforms panics");
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        message.starts_with("3 violation(s) of the Hetzner OpenAPI contract in 9 recorded exchange(s):"),
        "{message}"
    );
    for violation in &violations {
        assert!(message.contains(violation.as_str()), "{message}");
    }
}

#[test]
fn the_most_specific_template_with_the_method_is_chosen() {
    let api = api();
    let operation = |method: &str, path: &str| {
        api.operation(method, path)
            .unwrap_or_else(|error| panic!("{error}"))
            .expect("not a sim-control path")
            .name()
    };
    assert_eq!(
        operation("POST", "/v1/servers/42/actions/poweron"),
        "POST /servers/{id}/actions/poweron"
    );
    assert_eq!(
        operation("GET", "/v1/servers/42/actions/77"),
        "GET /servers/{id}/actions/{action_id}"
    );
    assert_eq!(operation("GET", "/v1/servers/actions/77"), "GET /servers/actions/{id}");
    assert_eq!(operation("GET", "/v1/servers/42/actions"), "GET /servers/{id}/actions");
    assert_eq!(
        operation("post", "/v1/firewalls/7/actions/apply_to_resources"),
        "POST /firewalls/{id}/actions/apply_to_resources"
    );
    // Routed like a real router: GET finds the action-by-id template, whose id must be numeric.
    assert_eq!(
        operation("GET", "/v1/servers/42/actions/poweron"),
        "GET /servers/{id}/actions/{action_id}"
    );
    let message = joined(api.check_request("GET", "/v1/servers/42/actions/poweron", "", None));
    assert!(
        message.contains("path parameter `action_id`: (root): \"poweron\" is not of type \"integer\""),
        "{message}"
    );
}

#[test]
fn load_balancer_delete_returns_an_action_like_the_live_api() {
    let api = api();
    assert_eq!(
        api.deviations(),
        [
            super::Deviation::LoadBalancerDeleteReturnsAction,
            super::Deviation::ServerTypeLocationAvailability,
            super::Deviation::ActionsListSortAndPage,
            super::Deviation::PrimaryIpUnassigned,
        ]
    );
    let action = json!({"id": 13, "command": "delete_load_balancer", "status": "running", "progress": 0,
        "started": "2026-10-05T12:00:00+00:00", "finished": null,
        "resources": [{"id": 4711, "type": "load_balancer"}], "error": null});
    assert_eq!(
        api.check(
            "DELETE",
            "/v1/load_balancers/4711",
            200,
            Some(&json!({ "action": action }))
        ),
        Ok(())
    );
    let message = joined(api.check("DELETE", "/v1/load_balancers/4711", 204, None));
    assert!(
        message.contains("status 204 is not documented for DELETE /load_balancers/{id} (documented: 200, 4xx, 5xx)"),
        "{message}"
    );
    let message = joined(api.check("DELETE", "/v1/load_balancers/4711", 200, Some(&json!({}))));
    assert!(
        message.contains("(root): \"action\" is a required property"),
        "{message}"
    );
}

#[test]
fn server_type_locations_must_say_whether_they_are_available() {
    let mut server = live_server();
    let location = server["server_type"]["locations"][0]
        .as_object_mut()
        .expect("a location object");
    location.remove("available");
    let message = joined(get_server(server));
    assert!(
        message.contains("/server/server_type/locations/0: \"available\" is a required property"),
        "{message}"
    );
}
