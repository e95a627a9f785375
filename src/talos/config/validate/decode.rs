//! Strict decoding: checking a YAML config (or patch) against Talos's typed structs
//! ([`crate::talos::config::shape`]) the way Talos's decoder does — unknown keys anywhere,
//! values of the wrong type, unregistered kinds, duplicate documents (reference `talos.md`
//! §E.1) — but reporting every problem at once, each with its source, line:column,
//! document and path, and a "did you mean" for misspelt keys.

use crate::excerpt::{MAX_PATH_CHARS, excerpt, excerpt_to};
use std::collections::HashSet;
use std::fmt;

use base64::Engine as _;

use crate::suggest::suggest;
use crate::talos::config::documents::{ConfigDocuments, DocumentError, DocumentId};
use crate::talos::config::path::Path;
use crate::talos::config::shape::{KindLookup, StructShape, Ty, registry};
use crate::talos::config::value::{Mapping, Node, Position, Resolved, Value};
use crate::talos::contract::Contract;
use crate::yaml::parse::{ParseError, parse_stream};
use crate::yaml::resolve::old_bool;

/// The key that carries strategic-merge directives in patches.
pub const PATCH_DIRECTIVE: &str = "$patch";

/// One problem found while decoding.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeError {
    /// Where the text came from: a file name, `cluster.yaml patches[2]`, `<config>`.
    pub source: String,
    /// The document (`v1alpha1`, `HostnameConfig`, `RegistryMirrorConfig/docker.io`), when
    /// it could be identified.
    pub document: Option<String>,
    /// Path of the offending key or value inside the document.
    pub path: Path,
    /// Line and column in the source.
    pub position: Option<Position>,
    /// What is wrong.
    pub problem: DecodeProblem,
}

/// What is wrong with a decoded value.
#[derive(Debug, Clone, PartialEq)]
pub enum DecodeProblem {
    /// The bytes are not UTF-8.
    NotUtf8,
    /// The text is not YAML.
    Yaml(ParseError),
    /// A document that is not a mapping.
    NotAMapping {
        /// What it is.
        found: &'static str,
    },
    /// Neither a v1alpha1 document nor one with `kind`.
    MissingKind,
    /// `kind` without `apiVersion`.
    MissingApiVersion,
    /// A kind/apiVersion Talos does not register (for this line).
    NotRegistered {
        /// `kind`.
        kind: String,
        /// `apiVersion`.
        api_version: String,
        /// Extra explanation ("HostnameConfig needs Talos v1.12 or later").
        note: Option<String>,
    },
    /// A legacy document whose `version` is not `v1alpha1`.
    LegacyVersion {
        /// The version given.
        version: String,
    },
    /// The same document identity twice.
    Duplicate {
        /// The identity.
        id: String,
    },
    /// A key the struct does not have.
    UnknownKey {
        /// The key.
        key: String,
        /// The closest known key.
        suggestion: Option<&'static str>,
        /// Why a key known to another Talos line is not accepted here.
        note: Option<String>,
    },
    /// A value of the wrong YAML kind (a list where a mapping is expected, …).
    WrongType {
        /// The expected type.
        expected: String,
        /// What was found: `mapping`, `sequence`, `scalar`.
        found: &'static str,
    },
    /// A scalar whose text does not parse as the field's type.
    InvalidValue {
        /// The expected type.
        expected: String,
        /// The text, unless the field is secret.
        text: Option<String>,
    },
    /// A `$patch` directive Talos does not support.
    PatchDirective {
        /// What is wrong.
        reason: String,
    },
}

impl fmt::Display for DecodeProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeProblem::NotUtf8 => f.write_str("the config is not UTF-8 text"),
            DecodeProblem::Yaml(e) => write!(f, "invalid YAML: {e}"),
            DecodeProblem::NotAMapping { found } => write!(f, "expected a document (a mapping), found a {found}"),
            DecodeProblem::MissingKind => f.write_str(
                "missing kind (a typed document needs apiVersion and kind; the v1alpha1 document has machine/cluster)",
            ),
            DecodeProblem::MissingApiVersion => f.write_str("missing apiVersion"),
            DecodeProblem::NotRegistered {
                kind,
                api_version,
                note,
            } => {
                write!(f, "{:?} {:?}: not registered", excerpt(kind), excerpt(api_version))?;
                if let Some(note) = note {
                    write!(f, " ({note})")?;
                }
                Ok(())
            }
            DecodeProblem::LegacyVersion { version } => write!(
                f,
                "unsupported config version {:?}: the legacy document must say version: v1alpha1",
                excerpt(version)
            ),
            DecodeProblem::Duplicate { id } => write!(f, "duplicate document {} is not allowed", excerpt(id)),
            DecodeProblem::UnknownKey { key, suggestion, note } => {
                write!(f, "unknown key {:?}", excerpt(key))?;
                if let Some(note) = note {
                    write!(f, " ({note})")?;
                }
                if let Some(suggestion) = suggestion {
                    write!(f, " (did you mean {suggestion:?}?)")?;
                }
                Ok(())
            }
            DecodeProblem::WrongType { expected, found } => write!(f, "expected a {expected}, found a {found}"),
            DecodeProblem::InvalidValue { expected, text } => match text {
                Some(text) => write!(f, "{:?} is not a valid {expected}", excerpt(text)),
                None => write!(f, "the value is not a valid {expected}"),
            },
            DecodeProblem::PatchDirective { reason } => f.write_str(reason),
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)?;
        if let Some(position) = self.position {
            write!(f, ":{}:{}", position.line, position.column)?;
        }
        f.write_str(": ")?;
        if let Some(document) = &self.document {
            write!(f, "{} document", excerpt_to(document, MAX_PATH_CHARS))?;
            if !self.path.is_root() {
                write!(f, ", {}", excerpt_to(&self.path.to_string(), MAX_PATH_CHARS))?;
            }
            f.write_str(": ")?;
        }
        write!(f, "{}", self.problem)
    }
}

/// Every problem of one decode, in source order.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", render_all(.0))]
pub struct DecodeErrors(pub Vec<DecodeError>);

fn render_all(errors: &[DecodeError]) -> String {
    match errors {
        [single] => single.to_string(),
        many => super::bulleted(format!("{} problems found during decoding:", many.len()), many),
    }
}

impl crate::error::Classify for DecodeErrors {
    fn class(&self) -> crate::error::Class {
        crate::error::Class::InvalidInput
    }

    fn hints(&self) -> Vec<String> {
        let mut hints = Vec::new();
        if self
            .0
            .iter()
            .any(|e| matches!(&e.problem, DecodeProblem::UnknownKey { note: Some(_), .. }))
        {
            hints.push("some keys belong to another Talos version; check talos.version in cluster.yaml".into());
        }
        hints
    }
}

/// Whether `$patch` directives are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A machine config: directives are unknown keys.
    Config,
    /// A strategic merge patch: `$patch: delete` is accepted (reference §D.5).
    Patch,
}

/// Decodes a machine config strictly for the Talos line of `contract`.
///
/// # Errors
/// [`DecodeErrors`] listing every problem (source named `<config>`).
pub fn decode_strict(bytes: &[u8], contract: Contract) -> Result<ConfigDocuments, DecodeErrors> {
    decode_strict_named("<config>", bytes, contract)
}

/// Like [`decode_strict`], naming the source (a file name) in every error.
///
/// # Errors
/// [`DecodeErrors`] listing every problem.
pub fn decode_strict_named(source: &str, bytes: &[u8], contract: Contract) -> Result<ConfigDocuments, DecodeErrors> {
    let error = |problem, position| DecodeError {
        source: source.to_string(),
        document: None,
        path: Path::root(),
        position,
        problem,
    };
    let text = std::str::from_utf8(bytes).map_err(|_| DecodeErrors(vec![error(DecodeProblem::NotUtf8, None)]))?;
    let parsed = parse_stream(text).map_err(|e| {
        let at = e.position();
        DecodeErrors(vec![error(DecodeProblem::Yaml(e), Some(at))])
    })?;
    let roots: Vec<Node> = parsed
        .into_iter()
        .map(|d| d.root)
        .filter(|root| !root.is_null())
        .collect();
    let mut errors = Vec::new();
    let mut seen = HashSet::new();
    for root in &roots {
        errors.extend(check_document(source, root, contract, Mode::Config));
        if let Ok(id) = DocumentId::of(root)
            && !seen.insert(id.clone())
        {
            errors.push(DecodeError {
                source: source.to_string(),
                document: Some(id.to_string()),
                path: Path::root(),
                position: root.position,
                problem: DecodeProblem::Duplicate { id: id.to_string() },
            });
        }
    }
    if !errors.is_empty() {
        return Err(DecodeErrors(errors));
    }
    ConfigDocuments::from_nodes(roots).map_err(|e| DecodeErrors(vec![from_document_error(source, e)]))
}

/// Checks every document of an assembled config (e.g. after patching) for `contract`.
pub fn check_documents(source: &str, documents: &ConfigDocuments, contract: Contract) -> Vec<DecodeError> {
    documents
        .iter()
        .flat_map(|doc| check_document(source, doc, contract, Mode::Config))
        .collect()
}

/// Checks one document: identity, registration for the line, then every key and value.
pub fn check_document(source: &str, root: &Node, contract: Contract, mode: Mode) -> Vec<DecodeError> {
    let mut decoder = Decoder {
        source,
        document: None,
        contract,
        mode,
        errors: Vec::new(),
    };
    let id = match DocumentId::of(root) {
        Ok(id) => id,
        Err(e) => return vec![from_document_error(source, e)],
    };
    decoder.document = Some(id.to_string());
    match &id {
        DocumentId::V1Alpha1 => {
            if let Some(version) = root.get("version").filter(|v| !v.is_null())
                && version.as_str() != Some("v1alpha1")
            {
                decoder.push(
                    &Path::root().key("version"),
                    version.position,
                    DecodeProblem::LegacyVersion {
                        version: version.as_str().unwrap_or_default().to_string(),
                    },
                );
            }
            let shape = registry().v1alpha1.clone();
            decoder.structure(root, &shape, &Path::root());
        }
        DocumentId::Typed { api_version, kind, .. } => match registry().kind(kind, api_version, contract) {
            KindLookup::Found(found) => decoder.structure(root, &found.root, &Path::root()),
            KindLookup::TooNew(found) => decoder.push(
                &Path::root(),
                root.position,
                DecodeProblem::NotRegistered {
                    kind: kind.clone(),
                    api_version: api_version.clone(),
                    note: Some(format!(
                        "{} needs Talos v{}.{} or later; this config is for Talos {contract}",
                        found.kind, found.since.0, found.since.1
                    )),
                },
            ),
            KindLookup::NotRegistered => {
                let known: Vec<&'static str> = registry()
                    .kinds
                    .iter()
                    .filter(|k| k.available(contract))
                    .map(|k| k.kind)
                    .collect();
                let note = match suggest(kind, known.iter().copied()) {
                    Some(s) if s != kind => Some(format!("did you mean {s:?}?")),
                    _ if known.contains(&kind.as_str()) => Some("the only apiVersion is \"v1alpha1\"".to_string()),
                    _ => None,
                };
                decoder.push(
                    &Path::root(),
                    root.position,
                    DecodeProblem::NotRegistered {
                        kind: kind.clone(),
                        api_version: api_version.clone(),
                        note,
                    },
                );
            }
        },
    }
    decoder.errors
}

fn from_document_error(source: &str, error: DocumentError) -> DecodeError {
    let (problem, position, document) = match error {
        DocumentError::Parse(e) => {
            let at = e.position();
            (DecodeProblem::Yaml(e), Some(at), None)
        }
        DocumentError::NotAMapping { position, found } => (DecodeProblem::NotAMapping { found }, position, None),
        DocumentError::MissingKind { position } => (DecodeProblem::MissingKind, position, None),
        DocumentError::MissingApiVersion { kind, position } => (DecodeProblem::MissingApiVersion, position, Some(kind)),
        DocumentError::Duplicate { id, position } => (
            DecodeProblem::Duplicate { id: id.to_string() },
            position,
            Some(id.to_string()),
        ),
    };
    DecodeError {
        source: source.to_string(),
        document,
        path: Path::root(),
        position,
        problem,
    }
}

struct Decoder<'a> {
    source: &'a str,
    document: Option<String>,
    contract: Contract,
    mode: Mode,
    errors: Vec<DecodeError>,
}

impl Decoder<'_> {
    fn push(&mut self, path: &Path, position: Option<Position>, problem: DecodeProblem) {
        self.errors.push(DecodeError {
            source: self.source.to_string(),
            document: self.document.clone(),
            path: path.clone(),
            position,
            problem,
        });
    }

    fn wrong_type(&mut self, node: &Node, expected: &Ty, path: &Path) {
        self.push(
            path,
            node.position,
            DecodeProblem::WrongType {
                expected: expected.to_string(),
                found: node.kind_name(),
            },
        );
    }

    /// Handles a `$patch` key in `map`; returns true if and only if the mapping is a
    /// directive (only possible in patch mode).
    fn directive(&mut self, map: &Mapping, path: &Path) -> bool {
        let Some(entry) = map.entry(PATCH_DIRECTIVE) else {
            return false;
        };
        let at = path.key(PATCH_DIRECTIVE);
        if self.mode == Mode::Config {
            self.push(
                &at,
                entry.key_position,
                DecodeProblem::UnknownKey {
                    key: PATCH_DIRECTIVE.to_string(),
                    suggestion: None,
                    note: Some("$patch directives belong in patches, not in machine configs".into()),
                },
            );
            return false;
        }
        if entry.value.as_str() != Some("delete") {
            self.push(
                &at,
                entry.value.position,
                DecodeProblem::PatchDirective {
                    reason: format!(
                        "unsupported $patch value {:?}: Talos supports only `$patch: delete`",
                        entry.value.as_str().unwrap_or_default()
                    ),
                },
            );
        }
        true
    }

    fn structure(&mut self, node: &Node, shape: &StructShape, path: &Path) {
        let Some(map) = node.as_mapping() else {
            self.push(
                path,
                node.position,
                DecodeProblem::WrongType {
                    expected: "mapping".into(),
                    found: node.kind_name(),
                },
            );
            return;
        };
        self.directive(map, path);
        for entry in map.entries() {
            let key = entry.key.text();
            if key == PATCH_DIRECTIVE {
                continue;
            }
            let at = path.key(key);
            match shape.field(key, self.contract) {
                Some(field) => {
                    let secret = field.secret;
                    self.value(&entry.value, &field.ty, &at, secret);
                }
                None => {
                    let names = shape.field_names(self.contract);
                    let note = shape
                        .field_any_line(key)
                        .and_then(|f| f.availability_note(self.contract))
                        .map(|n| format!("{n}; this config is for Talos {}", self.contract));
                    let suggestion = if note.is_some() {
                        None
                    } else {
                        suggest(key, names.iter().copied())
                    };
                    self.push(
                        &at,
                        entry.key_position,
                        DecodeProblem::UnknownKey {
                            key: key.to_string(),
                            suggestion,
                            note,
                        },
                    );
                }
            }
        }
    }

    fn value(&mut self, node: &Node, ty: &Ty, path: &Path, secret: bool) {
        if node.is_null() {
            return;
        }
        if let Some(map) = node.as_mapping()
            && self.mode == Mode::Patch
            && map.contains_key(PATCH_DIRECTIVE)
            && !matches!(ty, Ty::Struct(_))
        {
            self.directive(map, path);
            return;
        }
        match ty {
            Ty::Struct(shape) => self.structure(node, shape, path),
            Ty::List(item, _) => match node.as_sequence() {
                Some(items) => {
                    for (index, element) in items.iter().enumerate() {
                        self.value(element, item, &path.index(index), secret);
                    }
                }
                None => self.wrong_type(node, ty, path),
            },
            Ty::Map(value_ty) => match node.as_mapping() {
                Some(map) => {
                    for entry in map.entries() {
                        self.value(&entry.value, value_ty, &path.key(entry.key.text()), secret);
                    }
                }
                None => self.wrong_type(node, ty, path),
            },
            Ty::Args => match node.as_mapping() {
                Some(map) => {
                    for entry in map.entries() {
                        let at = path.key(entry.key.text());
                        match &entry.value.value {
                            Value::Scalar(_) => {}
                            Value::Sequence(items) => {
                                for (index, item) in items.iter().enumerate() {
                                    if item.as_scalar().is_none() {
                                        self.wrong_type(item, &Ty::String, &at.index(index));
                                    }
                                }
                            }
                            Value::Mapping(map) if self.mode == Mode::Patch && map.contains_key(PATCH_DIRECTIVE) => {
                                self.directive(map, &at);
                            }
                            Value::Mapping(_) => self.push(
                                &at,
                                entry.value.position,
                                DecodeProblem::WrongType {
                                    expected: "string or list of strings".into(),
                                    found: "mapping",
                                },
                            ),
                        }
                    }
                }
                None => self.wrong_type(node, ty, path),
            },
            Ty::Unstructured => {
                if node.as_mapping().is_none() {
                    self.wrong_type(node, ty, path);
                }
            }
            scalar_ty => {
                if node.as_scalar().is_none() {
                    self.wrong_type(node, ty, path);
                    return;
                }
                if !scalar_fits(node, scalar_ty) {
                    self.push(
                        path,
                        node.position,
                        DecodeProblem::InvalidValue {
                            expected: scalar_ty.to_string(),
                            text: (!secret).then(|| node.as_str().unwrap_or_default().to_string()),
                        },
                    );
                }
            }
        }
    }
}

/// Returns true if and only if a non-null scalar decodes into a field of type `ty`.
pub fn scalar_fits(node: &Node, ty: &Ty) -> bool {
    let Some(scalar) = node.as_scalar() else {
        return false;
    };
    let text = scalar.text();
    match ty {
        Ty::String | Ty::IntOrString | Ty::ByteSize => true,
        Ty::Bool => matches!(scalar.resolve(), Resolved::Bool(_)) || old_bool(text).is_some(),
        Ty::Int(kind) => {
            let (min, max) = kind.range();
            match scalar.resolve() {
                Resolved::Int(i) => (min..=max).contains(&i),
                Resolved::Float(f) => f.fract() == 0.0 && f >= min as f64 && f <= max as f64,
                _ => false,
            }
        }
        Ty::FileMode => matches!(scalar.resolve(), Resolved::Int(i) if (0..=0o7777).contains(&i)),
        Ty::Float => matches!(scalar.resolve(), Resolved::Int(_) | Resolved::Float(_)),
        Ty::Duration => match scalar.resolve() {
            Resolved::Int(_) => true,
            Resolved::Str(text) => crate::talos::config::shape::go_values::parse_duration(text).is_some(),
            _ => false,
        },
        Ty::Base64 => base64::engine::general_purpose::STANDARD.decode(text).is_ok(),
        Ty::Enum(values) => values.contains(&text),
        Ty::Struct(_) | Ty::List(..) | Ty::Map(_) | Ty::Args | Ty::Unstructured => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::talos::config::test_support::golden_files;

    fn errors(text: &str, contract: Contract) -> Vec<String> {
        match decode_strict_named("test.yaml", text.as_bytes(), contract) {
            Ok(_) => Vec::new(),
            Err(DecodeErrors(errors)) => errors.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn golden_configs_decode_strictly() {
        for (name, text) in golden_files() {
            let version = name.split('/').next().unwrap_or_default();
            let contract = Contract::parse(version).expect("golden folder is a version");
            let docs = decode_strict_named(&name, text.as_bytes(), contract).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(docs.to_yaml(), text, "{name}");
        }
    }

    #[test]
    fn unknown_keys_name_position_path_and_suggestion() {
        let text = "version: v1alpha1\nmachine:\n  kubelet:\n    extraArgz:\n      a: b\n  type: worker\ncluster:\n  clusterNmae: x\n";
        assert_eq!(
            errors(text, Contract::V1_11),
            [
                "test.yaml:4:5: v1alpha1 document, machine.kubelet.extraArgz: unknown key \"extraArgz\" (did you mean \"extraArgs\"?)",
                "test.yaml:8:3: v1alpha1 document, cluster.clusterNmae: unknown key \"clusterNmae\" (did you mean \"clusterName\"?)",
            ]
        );
    }

    #[test]
    fn keys_of_newer_lines_say_so() {
        let text = "machine:\n  install:\n    grubUseUKICmdline: true\n";
        assert_eq!(
            errors(text, Contract::V1_11),
            [
                "test.yaml:3:5: v1alpha1 document, machine.install.grubUseUKICmdline: unknown key \"grubUseUKICmdline\" (added in Talos v1.12; this config is for Talos v1.11)"
            ]
        );
        assert!(errors(text, Contract::V1_12).is_empty());
    }

    #[test]
    fn type_errors_are_reported() {
        let text = "machine:\n  certSANs: {a: b}\n  sysctls: [a]\n  kubelet:\n    defaultRuntimeSeccompProfileEnabled: maybe\n  \
                    network:\n    interfaces:\n      - mtu: big\n        vlans:\n          - vlanId: 70000\n";
        assert_eq!(
            errors(text, Contract::V1_10),
            [
                "test.yaml:2:13: v1alpha1 document, machine.certSANs: expected a list of strings, found a mapping",
                "test.yaml:3:12: v1alpha1 document, machine.sysctls: expected a mapping of names to strings, found a sequence",
                "test.yaml:5:42: v1alpha1 document, machine.kubelet.defaultRuntimeSeccompProfileEnabled: \"maybe\" is not a valid boolean (true or false)",
                "test.yaml:8:14: v1alpha1 document, machine.network.interfaces[0].mtu: \"big\" is not a valid integer (int)",
                "test.yaml:10:21: v1alpha1 document, machine.network.interfaces[0].vlans[0].vlanId: \"70000\" is not a valid integer (uint16)",
            ]
        );
    }

    #[test]
    fn any_scalar_is_a_string_and_yaml11_booleans_decode() {
        let text = "machine:\n  sysctls:\n    a: 1\n    b: true\n    c: 0.5\n  install:\n    wipe: yes\n";
        assert!(errors(text, Contract::V1_10).is_empty());
    }

    #[test]
    fn kinds_are_checked_against_the_line() {
        assert_eq!(
            errors(
                "apiVersion: v1alpha1\nkind: HostnameConfig\nauto: stable\n",
                Contract::V1_11
            ),
            [
                "test.yaml:1:1: HostnameConfig document: \"HostnameConfig\" \"v1alpha1\": not registered (HostnameConfig needs Talos v1.12 or later; this config is for Talos v1.11)"
            ]
        );
        assert_eq!(
            errors("apiVersion: v1alpha1\nkind: HostnameConfg\n", Contract::V1_12),
            [
                "test.yaml:1:1: HostnameConfg document: \"HostnameConfg\" \"v1alpha1\": not registered (did you mean \"HostnameConfig\"?)"
            ]
        );
        assert_eq!(
            errors("apiVersion: v1\nkind: HostnameConfig\n", Contract::V1_12),
            [
                "test.yaml:1:1: HostnameConfig document: \"HostnameConfig\" \"v1\": not registered (the only apiVersion is \"v1alpha1\")"
            ]
        );
    }

    #[test]
    fn document_level_problems() {
        assert_eq!(
            errors("- a\n", Contract::V1_12),
            ["test.yaml:1:1: expected a document (a mapping), found a sequence"]
        );
        assert_eq!(
            errors("foo: bar\n", Contract::V1_12),
            [
                "test.yaml:1:1: missing kind (a typed document needs apiVersion and kind; the v1alpha1 document has machine/cluster)"
            ]
        );
        assert_eq!(
            errors("kind: HostnameConfig\n", Contract::V1_12),
            ["test.yaml:1:1: HostnameConfig document: missing apiVersion"]
        );
        assert_eq!(
            errors(
                "apiVersion: v1alpha1\nkind: HostnameConfig\nauto: stable\n---\napiVersion: v1alpha1\nkind: HostnameConfig\nauto: stable\n",
                Contract::V1_12
            ),
            ["test.yaml:5:1: HostnameConfig document: duplicate document HostnameConfig is not allowed"]
        );
        assert_eq!(
            errors("version: v1alpha2\nmachine: {}\n", Contract::V1_12),
            [
                "test.yaml:1:10: v1alpha1 document, version: unsupported config version \"v1alpha2\": the legacy document must say version: v1alpha1"
            ]
        );
        assert_eq!(
            errors("machine: {\n", Contract::V1_12).len(),
            1,
            "bad YAML is one error"
        );
        assert_eq!(
            errors("machine:\n  $patch: delete\n", Contract::V1_12),
            [
                "test.yaml:2:3: v1alpha1 document, machine.$patch: unknown key \"$patch\" ($patch directives belong in patches, not in machine configs)"
            ]
        );
    }

    #[test]
    fn secrets_are_not_quoted() {
        let text = "machine:\n  ca:\n    crt: \"not base64!\"\n    key: \"secret value!\"\n";
        let got = errors(text, Contract::V1_10);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(
            got[0].contains("\"not base64!\" is not a valid base64 string"),
            "{}",
            got[0]
        );
        assert!(!got[1].contains("secret value"), "{}", got[1]);
    }
}
