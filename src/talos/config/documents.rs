//! A machine configuration as Talos holds it: the legacy `v1alpha1` document first, then
//! typed documents identified by `apiVersion`/`kind`/`name` (reference `talos.md` §D.3).
//!
//! This is structure only: which kinds exist and what their fields mean is left to
//! validation. A document with `kind` is typed (and must have `apiVersion`); a document
//! without `kind` that has one of `machine`, `cluster`, `debug`, `persist` is the v1alpha1
//! document (Talos's own rule, §D.1). Empty documents are skipped.

use std::fmt;

use super::emit::emit_stream;
use super::value::{Node, Position};
use crate::yaml::parse::{ParseError, parse_stream};

/// The identity Talos matches documents by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DocumentId {
    /// The legacy `v1alpha1` config (`version: v1alpha1`, `machine`, `cluster`, …).
    V1Alpha1,
    /// A typed document.
    Typed {
        /// `apiVersion`, e.g. `v1alpha1`.
        api_version: String,
        /// `kind`, e.g. `HostnameConfig`.
        kind: String,
        /// `name` for named kinds (`RegistryMirrorConfig`, `VolumeConfig`, …).
        name: Option<String>,
    },
}

impl DocumentId {
    /// A typed document's identity.
    pub fn typed(api_version: impl Into<String>, kind: impl Into<String>, name: Option<&str>) -> Self {
        DocumentId::Typed {
            api_version: api_version.into(),
            kind: kind.into(),
            name: name.map(str::to_string),
        }
    }

    /// The identity of a document node.
    ///
    /// # Errors
    /// [`DocumentError`] when the node is not a mapping, has no `kind` and is not a v1alpha1
    /// document, or has `kind` without `apiVersion`.
    pub fn of(document: &Node) -> Result<Self, DocumentError> {
        let at = document.position;
        let Some(map) = document.as_mapping() else {
            return Err(DocumentError::NotAMapping {
                position: at,
                found: document.kind_name(),
            });
        };
        let kind = map.get("kind").and_then(Node::as_str);
        let Some(kind) = kind else {
            if ["machine", "cluster", "debug", "persist"]
                .iter()
                .any(|k| map.contains_key(k))
            {
                return Ok(DocumentId::V1Alpha1);
            }
            return Err(DocumentError::MissingKind { position: at });
        };
        let Some(api_version) = map.get("apiVersion").and_then(Node::as_str) else {
            return Err(DocumentError::MissingApiVersion {
                kind: kind.to_string(),
                position: at,
            });
        };
        Ok(DocumentId::Typed {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            name: map.get("name").and_then(Node::as_str).map(str::to_string),
        })
    }

    /// The kind: `v1alpha1` for the legacy document.
    pub fn kind(&self) -> &str {
        match self {
            DocumentId::V1Alpha1 => "v1alpha1",
            DocumentId::Typed { kind, .. } => kind,
        }
    }

    /// The name of a named document.
    pub fn name(&self) -> Option<&str> {
        match self {
            DocumentId::V1Alpha1 => None,
            DocumentId::Typed { name, .. } => name.as_deref(),
        }
    }
}

/// `v1alpha1`, `HostnameConfig`, `RegistryMirrorConfig/docker.io` (Talos's message style).
impl fmt::Display for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DocumentId::V1Alpha1 => f.write_str("v1alpha1"),
            DocumentId::Typed { kind, name: None, .. } => f.write_str(kind),
            DocumentId::Typed {
                kind, name: Some(name), ..
            } => write!(f, "{kind}/{name}"),
        }
    }
}

/// A document that does not fit the container.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    /// The text is not YAML.
    #[error("invalid YAML")]
    Parse(#[source] ParseError),
    /// A document that is not a mapping.
    #[error("{}expected a document (a mapping), found a {found}", at(.position))]
    NotAMapping {
        /// Where the document starts.
        position: Option<Position>,
        /// What was found.
        found: &'static str,
    },
    /// A document that is neither v1alpha1 nor has `kind`.
    #[error("{}missing kind (a typed document needs apiVersion and kind; the v1alpha1 document has machine/cluster)", at(.position))]
    MissingKind {
        /// Where the document starts.
        position: Option<Position>,
    },
    /// A typed document without `apiVersion`.
    #[error("{}missing apiVersion in {kind} document", at(.position))]
    MissingApiVersion {
        /// Its kind.
        kind: String,
        /// Where the document starts.
        position: Option<Position>,
    },
    /// The same identity twice.
    #[error("{}duplicate document {id} is not allowed", at(.position))]
    Duplicate {
        /// The repeated identity.
        id: DocumentId,
        /// Where the second one starts.
        position: Option<Position>,
    },
}

fn at(position: &Option<Position>) -> String {
    position.map(|p| format!("line {}: ", p.line)).unwrap_or_default()
}

impl crate::error::Classify for DocumentError {
    fn class(&self) -> crate::error::Class {
        crate::error::Class::InvalidInput
    }
}

/// A machine configuration: at most one v1alpha1 document, then typed documents in order,
/// each identity at most once.
///
/// `Debug` lists the document identities only: a config holds CA keys and API tokens.
#[derive(Clone, Default, PartialEq)]
pub struct ConfigDocuments {
    v1alpha1: Option<Node>,
    documents: Vec<Node>,
}

impl fmt::Debug for ConfigDocuments {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ConfigDocuments")
            .field(&self.ids().iter().map(ToString::to_string).collect::<Vec<_>>())
            .finish()
    }
}

impl ConfigDocuments {
    /// An empty configuration.
    pub fn new() -> Self {
        ConfigDocuments::default()
    }

    /// Parses a (multi-document) config; empty documents are skipped.
    ///
    /// # Errors
    /// [`DocumentError`] for bad YAML, unidentifiable or duplicate documents.
    pub fn parse(text: &str) -> Result<Self, DocumentError> {
        let parsed = parse_stream(text).map_err(DocumentError::Parse)?;
        ConfigDocuments::from_nodes(parsed.into_iter().map(|d| d.root))
    }

    /// Builds the container from document roots; null documents are skipped.
    ///
    /// # Errors
    /// As [`ConfigDocuments::push`].
    pub fn from_nodes(nodes: impl IntoIterator<Item = Node>) -> Result<Self, DocumentError> {
        let mut documents = ConfigDocuments::new();
        for node in nodes {
            if node.is_null() {
                continue;
            }
            documents.push(node)?;
        }
        Ok(documents)
    }

    /// Adds a document: the v1alpha1 document goes first, typed documents after the others.
    ///
    /// # Errors
    /// [`DocumentError`] when the document cannot be identified or its identity is taken.
    pub fn push(&mut self, document: Node) -> Result<(), DocumentError> {
        let id = DocumentId::of(&document)?;
        if self.get(&id).is_some() {
            return Err(DocumentError::Duplicate {
                id,
                position: document.position,
            });
        }
        match id {
            DocumentId::V1Alpha1 => self.v1alpha1 = Some(document),
            DocumentId::Typed { .. } => self.documents.push(document),
        }
        Ok(())
    }

    /// Replaces the document with the same identity in place, or adds it. Returns the
    /// replaced document.
    ///
    /// # Errors
    /// [`DocumentError`] when the document cannot be identified.
    pub fn upsert(&mut self, document: Node) -> Result<Option<Node>, DocumentError> {
        let id = DocumentId::of(&document)?;
        match self.get_mut(&id) {
            Some(slot) => Ok(Some(std::mem::replace(slot, document))),
            None => {
                self.push(document)?;
                Ok(None)
            }
        }
    }

    /// The v1alpha1 document.
    pub fn v1alpha1(&self) -> Option<&Node> {
        self.v1alpha1.as_ref()
    }

    /// The v1alpha1 document, mutable.
    pub fn v1alpha1_mut(&mut self) -> Option<&mut Node> {
        self.v1alpha1.as_mut()
    }

    /// The typed documents in order (without the v1alpha1 document).
    pub fn typed(&self) -> &[Node] {
        &self.documents
    }

    /// The typed documents, mutable. Keep identities unique when changing them.
    pub fn typed_mut(&mut self) -> &mut Vec<Node> {
        &mut self.documents
    }

    /// The document with this identity.
    pub fn get(&self, id: &DocumentId) -> Option<&Node> {
        match id {
            DocumentId::V1Alpha1 => self.v1alpha1.as_ref(),
            DocumentId::Typed { .. } => self.documents.get(self.position(id)?),
        }
    }

    /// The document with this identity, mutable.
    pub fn get_mut(&mut self, id: &DocumentId) -> Option<&mut Node> {
        match id {
            DocumentId::V1Alpha1 => self.v1alpha1.as_mut(),
            DocumentId::Typed { .. } => {
                let index = self.position(id)?;
                self.documents.get_mut(index)
            }
        }
    }

    /// Where the typed document with this identity stands in `documents`.
    fn position(&self, id: &DocumentId) -> Option<usize> {
        self.documents
            .iter()
            .position(|d| DocumentId::of(d).is_ok_and(|other| &other == id))
    }

    /// The first document of `kind` (and `name`, when given), whatever its apiVersion.
    pub fn find(&self, kind: &str, name: Option<&str>) -> Option<&Node> {
        self.documents.iter().find(|d| matches_kind(d, kind, name))
    }

    /// Like [`ConfigDocuments::find`], mutable.
    pub fn find_mut(&mut self, kind: &str, name: Option<&str>) -> Option<&mut Node> {
        self.documents.iter_mut().find(|d| matches_kind(d, kind, name))
    }

    /// Removes the document with this identity and returns it.
    pub fn remove(&mut self, id: &DocumentId) -> Option<Node> {
        match id {
            DocumentId::V1Alpha1 => self.v1alpha1.take(),
            DocumentId::Typed { .. } => {
                let index = self
                    .documents
                    .iter()
                    .position(|d| DocumentId::of(d).is_ok_and(|other| &other == id))?;
                Some(self.documents.remove(index))
            }
        }
    }

    /// Every document, v1alpha1 first.
    pub fn iter(&self) -> impl Iterator<Item = &Node> {
        self.v1alpha1.iter().chain(&self.documents)
    }

    /// Every document with its identity, v1alpha1 first.
    pub fn ids(&self) -> Vec<DocumentId> {
        self.iter().filter_map(|d| DocumentId::of(d).ok()).collect()
    }

    /// Number of documents.
    pub fn len(&self) -> usize {
        usize::from(self.v1alpha1.is_some()) + self.documents.len()
    }

    /// Returns true if and only if there is no document.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The config as YAML, documents joined by `---` (talosctl's layout).
    pub fn to_yaml(&self) -> String {
        emit_stream(self.iter())
    }

    /// Semantic equality: the same identities with YAML-equal documents; document order and
    /// mapping order are ignored.
    pub fn yaml_eq(&self, other: &ConfigDocuments) -> bool {
        self.len() == other.len()
            && self.iter().all(|doc| {
                DocumentId::of(doc)
                    .ok()
                    .and_then(|id| other.get(&id))
                    .is_some_and(|theirs| doc.yaml_eq(theirs))
            })
    }
}

fn matches_kind(document: &Node, kind: &str, name: Option<&str>) -> bool {
    document.get("kind").and_then(Node::as_str) == Some(kind)
        && name.is_none_or(|n| document.get("name").and_then(Node::as_str) == Some(n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::talos::config::value::Mapping;

    #[test]
    fn v1alpha1_goes_first_and_typed_documents_keep_order() {
        let text = "apiVersion: v1alpha1\nkind: HostnameConfig\nauto: stable\n---\nversion: v1alpha1\nmachine: {}\n---\n\
                    apiVersion: v1alpha1\nkind: RegistryMirrorConfig\nname: docker.io\n---\n";
        let docs = ConfigDocuments::parse(text).expect("valid");
        assert_eq!(
            docs.ids().iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["v1alpha1", "HostnameConfig", "RegistryMirrorConfig/docker.io"]
        );
        assert!(docs.find("RegistryMirrorConfig", Some("docker.io")).is_some());
        assert_eq!(
            format!("{docs:?}"),
            r#"ConfigDocuments(["v1alpha1", "HostnameConfig", "RegistryMirrorConfig/docker.io"])"#
        );
        assert!(docs.find("RegistryMirrorConfig", Some("ghcr.io")).is_none());
        assert_eq!(
            docs.to_yaml(),
            "version: v1alpha1\nmachine: {}\n---\napiVersion: v1alpha1\nkind: HostnameConfig\nauto: stable\n---\n\
             apiVersion: v1alpha1\nkind: RegistryMirrorConfig\nname: docker.io\n"
        );
    }

    #[test]
    fn identification_errors_name_the_line() {
        let err = ConfigDocuments::parse("a: 1\n---\n- x\n").expect_err("no kind");
        assert_eq!(
            err.to_string(),
            "line 1: missing kind (a typed document needs apiVersion and kind; the v1alpha1 document has machine/cluster)"
        );
        let err = ConfigDocuments::parse("machine: {}\n---\n- x\n").expect_err("sequence document");
        assert_eq!(
            err.to_string(),
            "line 3: expected a document (a mapping), found a sequence"
        );
        let err = ConfigDocuments::parse("kind: HostnameConfig\n").expect_err("no apiVersion");
        assert_eq!(err.to_string(), "line 1: missing apiVersion in HostnameConfig document");
        let err = ConfigDocuments::parse(
            "apiVersion: v1alpha1\nkind: HostnameConfig\n---\napiVersion: v1alpha1\nkind: HostnameConfig\n",
        )
        .expect_err("duplicate");
        assert_eq!(
            err.to_string(),
            "line 4: duplicate document HostnameConfig is not allowed"
        );
        let err = ConfigDocuments::parse("machine: {\n").expect_err("bad yaml");
        assert!(matches!(err, DocumentError::Parse(_)));
    }

    #[test]
    fn upsert_replaces_in_place_and_remove_deletes() {
        let mut docs = ConfigDocuments::new();
        let hostname = |auto: &str| {
            Node::mapping(
                Mapping::new()
                    .with("apiVersion", "v1alpha1")
                    .with("kind", "HostnameConfig")
                    .with("auto", auto),
            )
        };
        docs.push(hostname("stable")).expect("push");
        docs.push(Node::mapping(
            Mapping::new().with("version", "v1alpha1").with("debug", false),
        ))
        .expect("push v1alpha1");
        assert!(docs.upsert(hostname("off")).expect("upsert").is_some());
        let id = DocumentId::typed("v1alpha1", "HostnameConfig", None);
        assert_eq!(
            docs.get(&id).and_then(|d| d.get("auto")).and_then(Node::as_str),
            Some("off")
        );
        assert!(docs.push(hostname("x")).is_err());
        assert!(docs.remove(&id).is_some());
        assert_eq!(docs.len(), 1);
    }

    #[test]
    fn yaml_eq_ignores_document_order() {
        let a = ConfigDocuments::parse("machine: {a: 1}\n---\napiVersion: v1\nkind: A\n---\napiVersion: v1\nkind: B\n")
            .expect("valid");
        let b =
            ConfigDocuments::parse("apiVersion: v1\nkind: B\n---\nmachine:\n  a: 1\n---\napiVersion: v1\nkind: A\n")
                .expect("valid");
        assert!(a.yaml_eq(&b));
        let c = ConfigDocuments::parse("machine: {a: 2}\n---\napiVersion: v1\nkind: A\n---\napiVersion: v1\nkind: B\n")
            .expect("valid");
        assert!(!a.yaml_eq(&c));
    }
}
