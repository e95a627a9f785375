//! The Hetzner Cloud OpenAPI description as a judge of recorded HTTP exchanges.
//!
//! The emulator and our client could share a misreading of the API and still agree with each
//! other; this checker holds both to `reference/hcloud-openapi.json` instead (style rule 6).
//! Given one exchange (method, path as requested, query, status, bodies) it finds the
//! operation, validates the response body against the schema for that status, every error
//! body against the Hetzner error envelope, and — when the emulator accepted the request —
//! the query and request body the client sent. An exchange on a path or method the
//! description does not have is a violation: the emulator must not invent endpoints. Only the
//! emulator's own test-control prefix ([`SIM_CONTROL_PREFIX`]) is exempt.
//!
//! The OpenAPI 3.0 dialect is translated to JSON Schema 2020-12 in `convert`; templates and
//! query strings are handled in `route`. Starting the emulator and recording traffic is the
//! emulator's business; this module only judges.

mod convert;
mod deviations;
mod route;

// `Exchange` for the emulator's `RequestRecord` and the owned `RecordedExchange`.
mod records;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Map, Value, json};

pub use convert::{Direction, Stats};
pub use deviations::Deviation;
pub use records::RecordedExchange;
use route::Templates;

/// The base URL of the cloud API in the description; operations served elsewhere (the
/// storage-box API on `api.hetzner.com`) are not part of what the emulator may serve.
const CLOUD_BASE: &str = "https://api.hetzner.cloud/v1";

/// The path prefix under which the emulator serves its own test controls (advance time,
/// inject faults); exchanges there are not part of the Hetzner contract.
pub const SIM_CONTROL_PREFIX: &str = "/__sim/";

/// The Hetzner error envelope every 4xx/5xx body must have, whatever the description says for
/// that status (`reference/hcloud-api.md` §3.1: `details` is an object or null, and present).
fn error_envelope() -> Value {
    json!({
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "details"],
                "properties": {
                    "code": {"type": "string", "minLength": 1},
                    "message": {"type": "string"},
                    "details": {"type": ["object", "null"]},
                },
            },
        },
    })
}

/// Statuses a proxy in front of the API answers on its own (hcloud-python and hcloud-go
/// handle these as status-only errors, `reference/hcloud-api.md` §3.5); their bodies may be
/// empty or not JSON.
const GATEWAY_STATUSES: &[u16] = &[502, 504];

/// One recorded HTTP exchange, as the emulator's request log keeps it.
///
/// A trait rather than the emulator's struct so the checker does not depend on the emulator;
/// `openapi/records.rs` implements it for `talos_hcloud::sim::RequestRecord` and for
/// [`RecordedExchange`], the owned form other logs are read into.
pub trait Exchange {
    /// The HTTP method, e.g. `POST`.
    fn method(&self) -> &str;
    /// The path as requested, including the `/v1` prefix, without the query.
    fn path(&self) -> &str;
    /// The raw query string without `?` (empty when there was none).
    fn query(&self) -> &str;
    /// The response status.
    fn status(&self) -> u16;
    /// The JSON request body, if one was sent.
    fn request_body(&self) -> Option<&Value>;
    /// The JSON response body, if one was returned.
    fn response_body(&self) -> Option<&Value>;
}

/// The loaded description, with a cache of compiled validators.
pub struct OpenApi {
    document: Value,
    templates: Templates,
    /// `{"schemas": …}` converted per direction, placed beside every compiled schema so its
    /// `#/components/...` references resolve.
    components: HashMap<Direction, Value>,
    stats: HashMap<Direction, Stats>,
    deviations: Vec<Deviation>,
    envelope: jsonschema::Validator,
    validators: Mutex<HashMap<(String, Direction), Arc<jsonschema::Validator>>>,
}

impl std::fmt::Debug for OpenApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenApi").finish_non_exhaustive()
    }
}

/// The operation an exchange addressed, found in the description.
#[derive(Debug)]
pub struct Operation<'a> {
    api: &'a OpenApi,
    /// The method as the description keys it (lowercase).
    pub method: String,
    /// The matched path template, e.g. `/servers/{id}/actions/poweron`.
    pub template: &'a str,
    params: Vec<(String, String)>,
    operation: &'a Value,
}

impl OpenApi {
    /// The shared reference description, loaded and converted once per test binary.
    ///
    /// # Panics
    /// If the reference file is missing or is not a usable OpenAPI document: tests must not
    /// silently skip their conformance check.
    pub fn get() -> &'static OpenApi {
        static API: OnceLock<OpenApi> = OnceLock::new();
        API.get_or_init(|| {
            let path = crate::harness::reference_dir().join("hcloud-openapi.json");
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
            let document =
                serde_json::from_str(&text).unwrap_or_else(|error| panic!("{} is not JSON: {error}", path.display()));
            OpenApi::from_document(document)
                .unwrap_or_else(|error| panic!("{} is not a usable OpenAPI document: {error}", path.display()))
        })
    }

    /// Builds a checker from an OpenAPI 3.0 document (the reference one, or a small one in
    /// tests), after patching in the live-API deviations (`deviations`). Only operations
    /// served under [`CLOUD_BASE`] are kept.
    ///
    /// # Errors
    /// When the document has no `paths` object.
    pub fn from_document(mut document: Value) -> Result<OpenApi, String> {
        let deviations = deviations::apply(&mut document);
        let paths = document
            .get("paths")
            .and_then(Value::as_object)
            .ok_or("no `paths` object")?;
        let mut templates = Templates::default();
        for (template, item) in paths {
            if serves_cloud_api(&document, item) {
                templates.add(template);
            }
        }
        let mut components = HashMap::new();
        let mut stats = HashMap::new();
        let schemas = document
            .pointer("/components/schemas")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for direction in [Direction::Response, Direction::Request] {
            let mut counted = Stats::default();
            let converted: Map<String, Value> = schemas
                .iter()
                .map(|(name, schema)| (name.clone(), convert::schema(schema, direction, &mut counted)))
                .collect();
            components.insert(direction, json!({ "schemas": converted }));
            stats.insert(direction, counted);
        }
        let envelope = compile(&error_envelope()).map_err(|error| format!("error envelope: {error}"))?;
        Ok(OpenApi {
            document,
            templates,
            components,
            stats,
            deviations,
            envelope,
            validators: Mutex::new(HashMap::new()),
        })
    }

    /// The raw document, for tests that walk its examples.
    pub fn document(&self) -> &Value {
        &self.document
    }

    /// The live-API deviations patched into the document.
    pub fn deviations(&self) -> &[Deviation] {
        &self.deviations
    }

    /// What converting `#/components/schemas` for `direction` changed.
    pub fn stats(&self, direction: Direction) -> &Stats {
        self.stats
            .get(&direction)
            .expect("stats are computed for both directions")
    }

    /// Finds the operation for `method path` (`path` as requested, with the `/v1` prefix).
    ///
    /// Returns `Ok(None)` for the emulator's test-control paths.
    ///
    /// # Errors
    /// A readable violation when the description has no such path or method.
    pub fn operation(&self, method: &str, path: &str) -> Result<Option<Operation<'_>>, String> {
        if path == SIM_CONTROL_PREFIX.trim_end_matches('/') || path.starts_with(SIM_CONTROL_PREFIX) {
            return Ok(None);
        }
        let relative = path
            .strip_prefix("/v1")
            .filter(|rest| rest.starts_with('/'))
            .ok_or_else(|| format!("{path} is outside the API base /v1"))?;
        let candidates = self.templates.find_all(relative);
        let key = method.to_ascii_lowercase();
        let found = candidates.iter().find_map(|matched| {
            let operation = self.document["paths"][matched.template].get(&key)?;
            is_http_method(&key).then_some((matched, operation))
        });
        let Some((matched, operation)) = found else {
            let Some(closest) = candidates.first() else {
                return Err(format!(
                    "no path in the Hetzner OpenAPI description matches {path} (the emulator must not invent endpoints)"
                ));
            };
            let allowed: Vec<String> = self.document["paths"][closest.template]
                .as_object()
                .into_iter()
                .flat_map(|map| map.keys())
                .filter(|name| is_http_method(name))
                .map(|name| name.to_ascii_uppercase())
                .collect();
            return Err(format!(
                "{} {path} is not in the Hetzner OpenAPI description (closest path {} documents: {})",
                method.to_ascii_uppercase(),
                closest.template,
                allowed.join(", ")
            ));
        };
        Ok(Some(Operation {
            api: self,
            method: key,
            template: matched.template,
            params: matched.params.clone(),
            operation,
        }))
    }

    /// Checks one response: `path` as requested (with `/v1`), `body` the parsed JSON if any.
    ///
    /// # Errors
    /// Every violation found, each a readable sentence.
    pub fn check(&self, method: &str, path: &str, status: u16, body: Option<&Value>) -> Result<(), Vec<String>> {
        let problems = match self.operation(method, path) {
            Ok(None) => Vec::new(),
            Ok(Some(operation)) => operation.check_response(status, body),
            Err(problem) => vec![problem],
        };
        if problems.is_empty() { Ok(()) } else { Err(problems) }
    }

    /// Checks what a client sent: path parameters, the raw `query` (without `?`) and the body.
    ///
    /// # Errors
    /// Every violation found, each a readable sentence.
    pub fn check_request(
        &self,
        method: &str,
        path: &str,
        query: &str,
        body: Option<&Value>,
    ) -> Result<(), Vec<String>> {
        let problems = match self.operation(method, path) {
            Ok(None) => Vec::new(),
            Ok(Some(operation)) => operation.check_request(query, body),
            Err(problem) => vec![problem],
        };
        if problems.is_empty() { Ok(()) } else { Err(problems) }
    }

    /// Validates `instance` against the schema at `pointer` (a JSON pointer into the document,
    /// e.g. `/components/schemas/server`), converted for `direction`.
    ///
    /// # Errors
    /// One message per validation error (`<instance path>: <what is wrong>`), or the reason
    /// the schema could not be found or compiled.
    pub fn validate_at(&self, pointer: &str, direction: Direction, instance: &Value) -> Result<(), Vec<String>> {
        let validator = self.validator(pointer, direction).map_err(|error| vec![error])?;
        let problems: Vec<String> = validator.iter_errors(instance).map(|error| describe(&error)).collect();
        if problems.is_empty() { Ok(()) } else { Err(problems) }
    }

    fn validator(&self, pointer: &str, direction: Direction) -> Result<Arc<jsonschema::Validator>, String> {
        let key = (pointer.to_owned(), direction);
        // A poisoned lock only means another test panicked mid-insert; the map is still valid.
        let mut cache = self
            .validators
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(validator) = cache.get(&key) {
            return Ok(Arc::clone(validator));
        }
        let schema = self
            .document
            .pointer(pointer)
            .ok_or_else(|| format!("the description has no schema at {pointer}"))?;
        let mut unused = Stats::default();
        let converted = convert::schema(schema, direction, &mut unused);
        let mut root = match converted {
            Value::Object(map) => map,
            other => Map::from_iter([("allOf".to_owned(), Value::Array(vec![other]))]),
        };
        let components = self.components.get(&direction).and_then(|c| c.get("schemas"));
        root.insert(
            "components".to_owned(),
            json!({ "schemas": referenced_schemas(&root, components) }),
        );
        let validator = Arc::new(
            compile(&Value::Object(root)).map_err(|error| format!("schema at {pointer} does not compile: {error}"))?,
        );
        cache.insert(key, Arc::clone(&validator));
        Ok(validator)
    }
}

impl Operation<'_> {
    /// The JSON pointer of this operation in the document.
    fn pointer(&self) -> String {
        format!("/paths/{}/{}", escape_pointer(self.template), self.method)
    }

    /// What the operation looks like in messages, e.g. `POST /servers/{id}/actions/poweron`.
    pub fn name(&self) -> String {
        format!("{} {}", self.method.to_ascii_uppercase(), self.template)
    }

    /// Checks the response `status` and `body` against this operation; empty when conforming.
    pub fn check_response(&self, status: u16, body: Option<&Value>) -> Vec<String> {
        let mut problems = Vec::new();
        let responses = self.operation.get("responses").and_then(Value::as_object);
        let exact = status.to_string();
        let range = format!("{}xx", status / 100);
        let range_upper = range.to_ascii_uppercase();
        let key = responses.and_then(|map| {
            [exact.as_str(), range.as_str(), range_upper.as_str(), "default"]
                .into_iter()
                .find_map(|candidate| map.get_key_value(candidate).map(|(key, _)| key.as_str()))
        });
        if status >= 400 {
            match body {
                None if GATEWAY_STATUSES.contains(&status) => return problems,
                None => {
                    problems.push(format!(
                        "error status {status} without a JSON body (expected the Hetzner error envelope)"
                    ));
                    return problems;
                }
                Some(body) => problems.extend(
                    self.api
                        .envelope
                        .iter_errors(body)
                        .map(|error| format!("not a Hetzner error envelope: {}", describe(&error))),
                ),
            }
        }
        let Some(key) = key else {
            if status < 400 {
                let mut documented: Vec<&str> = responses
                    .into_iter()
                    .flat_map(|map| map.keys())
                    .map(String::as_str)
                    .collect();
                documented.sort_unstable();
                problems.push(format!(
                    "status {status} is not documented for {} (documented: {})",
                    self.name(),
                    documented.join(", ")
                ));
            }
            return problems;
        };
        let schema_pointer = format!(
            "{}/responses/{}/content/application~1json/schema",
            self.pointer(),
            escape_pointer(key)
        );
        let has_schema = self.api.document.pointer(&schema_pointer).is_some();
        match (has_schema, body) {
            (true, Some(body)) => {
                if let Err(errors) = self.api.validate_at(&schema_pointer, Direction::Response, body) {
                    problems.extend(
                        errors
                            .into_iter()
                            .map(|error| format!("body does not match the {key} schema: {error}")),
                    );
                }
            }
            (true, None) if status < 400 => {
                problems.push(format!("no JSON body, but the description defines one for {key}"));
            }
            (false, Some(body)) if status < 400 && !is_empty_body(body) => {
                problems.push(format!(
                    "a body was returned, but the description defines none for {key}"
                ));
            }
            _ => {}
        }
        problems
    }

    /// Checks what the client sent (path parameters, raw `query` without `?`, JSON `body`);
    /// empty when conforming.
    pub fn check_request(&self, query: &str, body: Option<&Value>) -> Vec<String> {
        let mut problems = Vec::new();
        let parameters = self.parameters();
        for (name, value) in &self.params {
            match parameters.iter().find(|p| p.location == "path" && &p.name == name) {
                Some(parameter) => problems.extend(self.check_parameter(parameter, &[value.as_str()])),
                None => problems.push(format!("path parameter `{name}` is not declared by {}", self.name())),
            }
        }
        let pairs = route::parse_query(query);
        let mut names: Vec<&str> = Vec::new();
        for (name, _) in &pairs {
            if !names.contains(&name.as_str()) {
                names.push(name);
            }
        }
        for name in names {
            let values: Vec<&str> = pairs
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
                .collect();
            match parameters.iter().find(|p| p.location == "query" && p.name == name) {
                Some(parameter) => problems.extend(self.check_parameter(parameter, &values)),
                None => problems.push(format!("query parameter `{name}` is not accepted by {}", self.name())),
            }
        }
        for parameter in &parameters {
            if parameter.location == "query" && parameter.required && !pairs.iter().any(|(n, _)| *n == parameter.name) {
                problems.push(format!("required query parameter `{}` is missing", parameter.name));
            }
        }
        let body_schema = format!("{}/requestBody/content/application~1json/schema", self.pointer());
        let body_required = self.operation.pointer("/requestBody/required").and_then(Value::as_bool) == Some(true);
        match (self.api.document.pointer(&body_schema).is_some(), body) {
            (true, Some(body)) => {
                if let Err(errors) = self.api.validate_at(&body_schema, Direction::Request, body) {
                    problems.extend(errors.into_iter().map(|error| format!("request body: {error}")));
                }
            }
            (true, None) if body_required => {
                problems.push("request body missing (the description requires one)".to_owned())
            }
            (false, Some(body)) if !is_empty_body(body) => {
                problems.push(format!("request body sent, but {} takes none", self.name()));
            }
            _ => {}
        }
        problems
    }

    /// Path-item and operation parameters, each with the pointer of its schema.
    fn parameters(&self) -> Vec<Parameter> {
        let item_pointer = format!("/paths/{}", escape_pointer(self.template));
        let mut found = Vec::new();
        for owner in [item_pointer, self.pointer()] {
            let Some(list) = self
                .api
                .document
                .pointer(&format!("{owner}/parameters"))
                .and_then(Value::as_array)
            else {
                continue;
            };
            for (index, parameter) in list.iter().enumerate() {
                let (Some(name), Some(location)) = (
                    parameter.get("name").and_then(Value::as_str),
                    parameter.get("in").and_then(Value::as_str),
                ) else {
                    continue;
                };
                // An operation parameter overrides a path-item one of the same name and place.
                found.retain(|p: &Parameter| !(p.name == name && p.location == location));
                found.push(Parameter {
                    name: name.to_owned(),
                    location: location.to_owned(),
                    required: parameter.get("required").and_then(Value::as_bool).unwrap_or(false),
                    schema_pointer: format!("{owner}/parameters/{index}/schema"),
                });
            }
        }
        found
    }

    fn check_parameter(&self, parameter: &Parameter, values: &[&str]) -> Vec<String> {
        let what = format!("{} parameter `{}`", parameter.location, parameter.name);
        let Some(schema) = self.api.document.pointer(&parameter.schema_pointer) else {
            return Vec::new();
        };
        let value = if schema.get("type").and_then(Value::as_str) == Some("array") {
            let items = schema.get("items").unwrap_or(&Value::Null);
            Value::Array(values.iter().map(|value| coerce(value, items)).collect())
        } else if let [single] = values {
            coerce(single, schema)
        } else {
            return vec![format!("{what} given {} times, but it takes one value", values.len())];
        };
        match self
            .api
            .validate_at(&parameter.schema_pointer, Direction::Request, &value)
        {
            Ok(()) => Vec::new(),
            Err(errors) => errors.into_iter().map(|error| format!("{what}: {error}")).collect(),
        }
    }
}

/// A parameter declaration, reduced to what checking needs.
#[derive(Debug)]
struct Parameter {
    name: String,
    location: String,
    required: bool,
    schema_pointer: String,
}

/// Checks every recorded exchange and panics listing all violations at once.
///
/// Responses are always checked. Requests are checked only when the emulator answered 2xx:
/// accepting a request the description forbids is a bug (client or emulator), while tests
/// that send bad input on purpose expect an error status. Exchanges under
/// [`SIM_CONTROL_PREFIX`] are skipped. Tests that probe unknown routes on purpose should leave
/// those records out: any path the description lacks is a violation.
///
/// Returns how many exchanges were validated (so a caller can assert it saw real traffic).
///
/// # Panics
/// When any exchange breaks the contract; the message lists every violation.
pub fn assert_conforms<E: Exchange>(records: &[E]) -> usize {
    let (validated, violations) = conformance(OpenApi::get(), records);
    assert!(
        violations.is_empty(),
        "{} violation(s) of the Hetzner OpenAPI contract in {} recorded exchange(s):\n  {}",
        violations.len(),
        records.len(),
        violations.join("\n  ")
    );
    validated
}

/// Responses validated so far in this test process (emulator traffic only).
static VALIDATED: AtomicUsize = AtomicUsize::new(0);

/// Adds `validated` emulator responses to the process-wide count and prints one line per test
/// on stderr, `openapi-conformance: validated=N test=NAME`. The total over a run is the sum of
/// those lines (`scripts/conformance-count.sh`); a final "summary test" would race with the
/// others. Returns `validated`.
pub fn count_validated(validated: usize) -> usize {
    let total = VALIDATED.fetch_add(validated, Ordering::SeqCst) + validated;
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("unnamed");
    eprintln!("openapi-conformance: validated={validated} test={test} process_total_so_far={total}");
    validated
}

/// The work behind [`assert_conforms`]: `(validated count, violations)`.
pub fn conformance<E: Exchange>(api: &OpenApi, records: &[E]) -> (usize, Vec<String>) {
    let mut validated = 0;
    let mut violations = Vec::new();
    for (index, record) in records.iter().enumerate() {
        let query = if record.query().is_empty() {
            String::new()
        } else {
            format!("?{}", record.query())
        };
        let label = format!(
            "#{index} {} {}{query} → {}",
            record.method(),
            record.path(),
            record.status()
        );
        match api.operation(record.method(), record.path()) {
            Ok(None) => {}
            Err(problem) => violations.push(format!("{label}: {problem}")),
            Ok(Some(operation)) => {
                validated += 1;
                if (200..300).contains(&record.status()) {
                    for problem in operation.check_request(record.query(), record.request_body()) {
                        violations.push(format!("{label}: request: {problem}"));
                    }
                }
                for problem in operation.check_response(record.status(), record.response_body()) {
                    violations.push(format!("{label}: response: {problem}"));
                }
            }
        }
    }
    (validated, violations)
}

/// Compiles a converted schema with the format policy: `date-time` (RFC 3339, which the API
/// always emits) and `decimal` (prices as strings) are enforced; `int32`, `int64`, `double`
/// and unknown formats are annotations (the numeric bounds already say what matters).
fn compile(schema: &Value) -> Result<jsonschema::Validator, String> {
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .should_ignore_unknown_formats(true)
        .with_format("decimal", is_decimal)
        .build(schema)
        .map_err(|error| error.to_string())
}

/// The converted component schemas `schema` reaches through `#/components/schemas/...`
/// references, transitively: only those are placed beside it, which keeps each compiled
/// validator small.
fn referenced_schemas(schema: &Map<String, Value>, components: Option<&Value>) -> Map<String, Value> {
    const PREFIX: &str = "#/components/schemas/";
    fn collect<'v>(value: &'v Value, found: &mut Vec<&'v str>) {
        match value {
            Value::Object(map) => {
                if let Some(name) = map
                    .get("$ref")
                    .and_then(Value::as_str)
                    .and_then(|r| r.strip_prefix(PREFIX))
                {
                    found.push(name);
                }
                map.values().for_each(|v| collect(v, found));
            }
            Value::Array(items) => items.iter().for_each(|v| collect(v, found)),
            _ => {}
        }
    }
    let mut pending = Vec::new();
    if let Some(name) = schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix(PREFIX))
    {
        pending.push(name);
    }
    schema.values().for_each(|v| collect(v, &mut pending));
    let mut out = Map::new();
    while let Some(name) = pending.pop() {
        if out.contains_key(name) {
            continue;
        }
        // A dangling reference stays dangling, and compiling reports it.
        let Some(target) = components.and_then(|c| c.get(name)) else {
            continue;
        };
        collect(target, &mut pending);
        out.insert(name.to_owned(), target.clone());
    }
    out
}

/// `"1.0000000000"`, `"-3"`, `"0.5"`: the decimal strings Hetzner uses for prices.
fn is_decimal(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, "0"));
    !whole.is_empty()
        && !fraction.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit())
}

/// `<instance path>: <message>`, shortened so a huge instance does not drown the report.
fn describe(error: &jsonschema::ValidationError<'_>) -> String {
    const LIMIT: usize = 400;
    let at = error.instance_path().as_str();
    let mut text = format!("{}: {error}", if at.is_empty() { "(root)" } else { at });
    if text.len() > LIMIT {
        let cut = (0..=LIMIT).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
        text.truncate(cut);
        text.push('…');
    }
    text
}

/// Parses a query or path value the way the API would, from the declared type; a value that
/// does not parse stays a string, so validation reports the type mismatch.
fn coerce(raw: &str, schema: &Value) -> Value {
    match schema.get("type").and_then(Value::as_str) {
        Some("integer") => raw
            .parse::<i64>()
            .map_or_else(|_| Value::String(raw.to_owned()), Value::from),
        Some("number") => raw
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or_else(|| Value::String(raw.to_owned()), Value::Number),
        // The live API also reads Python's spelling (`deviations.rs`).
        Some("boolean") => match raw {
            "true" | "True" => Value::Bool(true),
            "false" | "False" => Value::Bool(false),
            other => Value::String(other.to_owned()),
        },
        _ => Value::String(raw.to_owned()),
    }
}

/// A path item serves the cloud API when its effective `servers` (path item, else document)
/// include [`CLOUD_BASE`].
fn serves_cloud_api(document: &Value, item: &Value) -> bool {
    let servers = item.get("servers").or_else(|| document.get("servers"));
    match servers.and_then(Value::as_array) {
        Some(list) => list
            .iter()
            .any(|server| server.get("url").and_then(Value::as_str) == Some(CLOUD_BASE)),
        None => true,
    }
}

fn is_http_method(name: &str) -> bool {
    matches!(
        name,
        "get" | "put" | "post" | "delete" | "options" | "head" | "patch" | "trace"
    )
}

/// `null` or `{}`: what clients send (and servers return) for "no body" in JSON.
fn is_empty_body(body: &Value) -> bool {
    body.is_null() || body.as_object().is_some_and(Map::is_empty)
}

/// Escapes one JSON-pointer token (`~` → `~0`, `/` → `~1`).
fn escape_pointer(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests;
