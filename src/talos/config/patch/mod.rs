//! Machine-config patches as talosctl's `--config-patch` takes them (reference `talos.md`
//! §D): strategic merge patches (possibly multi-document, with `$patch: delete`) and
//! RFC 6902 JSON patches, loaded from files or inline text and applied in order.
//!
//! Merging follows Talos's reflection over its Go structs, using our declaration of those
//! structs ([`crate::talos::config::shape`]): custom list mergers, `merge:"replace"`
//! fields, zero values that do not override (except behind pointers from v1.12), `null`
//! that does nothing. Patches are strictly decoded for the target Talos line before they
//! are applied, so a patch cannot carry keys that line does not know. The result is
//! written the way Talos writes configs: struct fields in Go order, map keys sorted,
//! string fields as strings (a sysctl `1` becomes `"1"`).
//!
//! One deliberate difference from talosctl: Talos refuses JSON patches on multi-document
//! configs (every v1.12+ config); we apply them to the v1alpha1 document and say so with a
//! [`PatchWarning`]. Reading cluster.yaml and choosing which patches apply to which node
//! is left to the callers.

mod delete;
mod json6902;
mod load;
mod merge;
mod normalize;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use super::documents::{ConfigDocuments, DocumentId};
use super::path::Path;
use super::shape::registry;
use super::validate::decode::{DecodeErrors, Mode, check_document};
use super::value::{Mapping, Node, Position};
use crate::excerpt::{MAX_MESSAGE_CHARS, MAX_PATH_CHARS, excerpt_to};
use crate::talos::contract::Contract;

pub use json6902::{JsonOp, JsonOpKind};
pub use normalize::normalize_documents;

/// Where a patch comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatchSource {
    /// A file, read when loaded; errors name its path.
    File(PathBuf),
    /// Text given directly, with the name errors use for it (`--config-patch #2`,
    /// `cluster.yaml patches.all[0]`).
    Inline {
        /// Display name for errors.
        name: String,
        /// The patch text (YAML or JSON).
        text: String,
    },
}

/// A loaded patch: a strategic merge patch or an RFC 6902 JSON patch.
#[derive(Debug, Clone)]
pub struct Patch {
    name: String,
    body: PatchBody,
}

#[derive(Debug, Clone)]
enum PatchBody {
    /// Documents to merge, with their source positions.
    Strategic(Vec<Node>),
    /// Operations on the v1alpha1 document.
    Json(Vec<JsonOp>),
}

impl Patch {
    /// The name errors and warnings use (the file path or the inline name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Returns true if and only if this is an RFC 6902 JSON patch.
    pub fn is_json(&self) -> bool {
        matches!(self.body, PatchBody::Json(_))
    }

    /// The documents of a strategic merge patch (empty for a JSON patch).
    pub fn documents(&self) -> &[Node] {
        match &self.body {
            PatchBody::Strategic(documents) => documents,
            PatchBody::Json(_) => &[],
        }
    }

    /// The operations of a JSON patch (empty for a strategic patch).
    pub fn operations(&self) -> &[JsonOp] {
        match &self.body {
            PatchBody::Json(ops) => ops,
            PatchBody::Strategic(_) => &[],
        }
    }

    /// A strategic merge patch made of these documents (used for cluster.yaml `sysctls:`).
    pub fn strategic(name: impl Into<String>, documents: Vec<Node>) -> Self {
        Patch {
            name: name.into(),
            body: PatchBody::Strategic(documents),
        }
    }
}

/// Something worth telling the user about a patch that did apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatchWarning {
    /// A JSON patch applied to the v1alpha1 document of a multi-document config, which
    /// talosctl refuses (`JSON6902 patches are not supported for multi-document machine
    /// configuration`).
    JsonPatchOnMultiDocument {
        /// The patch.
        patch: String,
        /// How many documents the config has.
        documents: usize,
    },
    /// A patch interface with a `deviceSelector` that sets `physical`: Talos compares
    /// selectors with Go's `==`, which never matches a set `*bool`, so the device was
    /// appended instead of merged.
    DeviceSelectorNeverMatches {
        /// The patch.
        patch: String,
        /// Path of the interface in the patch.
        path: Path,
    },
}

impl fmt::Display for PatchWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PatchWarning::JsonPatchOnMultiDocument { patch, documents } => write!(
                f,
                "{patch}: JSON patch applied to the v1alpha1 document of a {documents}-document config \
                 (talosctl refuses JSON patches on multi-document configs; use a strategic merge patch to stay compatible)"
            ),
            PatchWarning::DeviceSelectorNeverMatches { patch, path } => write!(
                f,
                "{patch}: {path}: a deviceSelector with `physical` never matches an existing interface in Talos, \
                 so this interface was added rather than merged (match by busPath/hardwareAddr without physical)"
            ),
        }
    }
}

/// A patch that cannot be loaded or applied.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    /// The patch file cannot be read.
    #[error("cannot read patch file {}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The text is neither a strategic merge patch nor a JSON patch.
    #[error("{}: not a valid patch: {}", location(.patch, .position), excerpt_to(.reason, MAX_MESSAGE_CHARS))]
    Load {
        /// The patch name.
        patch: String,
        /// Where in the patch the problem is.
        position: Option<Position>,
        /// What is wrong, with the expected form.
        reason: String,
    },
    /// The patch has keys or values the target Talos line does not accept.
    #[error("patch {patch} does not fit Talos {contract}")]
    Decode {
        /// The patch name.
        patch: String,
        /// The target line.
        contract: Contract,
        /// Every problem, with positions in the patch.
        #[source]
        errors: DecodeErrors,
    },
    /// The patch does not apply to the config. The place reads as in decode errors
    /// (`v1alpha1 document, machine.sysctls`), so both kinds share one wording.
    #[error(
        "{}: {} document{}: {}",
        location(.patch, .position),
        excerpt_to(.document, MAX_PATH_CHARS),
        at_path(.path),
        excerpt_to(.reason, MAX_MESSAGE_CHARS)
    )]
    Apply {
        /// The patch name.
        patch: String,
        /// The target document (`v1alpha1`, `HostnameConfig`, …).
        document: String,
        /// The path in the document.
        path: Path,
        /// Where in the patch.
        position: Option<Position>,
        /// What went wrong.
        reason: String,
    },
}

fn location(patch: &str, position: &Option<Position>) -> String {
    match position {
        Some(p) => format!("{patch}:{}:{}", p.line, p.column),
        None => patch.to_string(),
    }
}

fn at_path(path: &Path) -> String {
    if path.is_root() {
        String::new()
    } else {
        format!(", {}", excerpt_to(&path.to_string(), MAX_PATH_CHARS))
    }
}

impl crate::error::Classify for PatchError {
    fn class(&self) -> crate::error::Class {
        crate::error::Class::InvalidInput
    }

    fn hints(&self) -> Vec<String> {
        match self {
            PatchError::Apply { reason, .. } if reason.contains("lookup failed") => {
                vec!["`$patch: delete` needs the key or list element to exist in the config being patched".into()]
            }
            PatchError::Decode { .. } => {
                vec!["patches are checked against the Talos version the config is generated for: talos.version in cluster.yaml, or --talos-version of talos gen config".into()]
            }
            _ => Vec::new(),
        }
    }
}

/// Loads one patch from a file or inline text (reference §D.1): a (multi-document)
/// strategic merge patch, else a JSON patch (JSON array of operations), else the same
/// operations written as a YAML list.
///
/// # Errors
/// [`PatchError::Read`] for an unreadable file, [`PatchError::Load`] when the text is no
/// patch form (the JSON-patch problem when it starts with `[`, else the strategic one).
pub fn load_patch(source: PatchSource) -> Result<Patch, PatchError> {
    let (name, text) = match source {
        PatchSource::File(path) => {
            let text = crate::input_file::read_to_string(&path).map_err(|source| PatchError::Read {
                path: path.clone(),
                source,
            })?;
            (path.display().to_string(), text)
        }
        PatchSource::Inline { name, text } => (name, text),
    };
    load::parse(name, &text)
}

/// Loads talosctl `--config-patch` arguments: `@file`; a bare file name (no space or
/// newline, not starting with `[` or `{`, as talosctl v1.12+ accepts); otherwise inline
/// text (named `--config-patch #N`). Consecutive JSON patches are joined into one, as
/// talosctl does.
///
/// # Errors
/// As [`load_patch`], for the first argument that fails.
pub fn load_patches(args: &[String]) -> Result<Vec<Patch>, PatchError> {
    load_flag_patches("--config-patch", args)
}

/// As [`load_patches`] for the arguments of another flag (`--config-patch-worker`), which
/// names inline patches (`--config-patch-worker #2`).
///
/// # Errors
/// As [`load_patch`], for the first argument that fails.
pub fn load_flag_patches(flag: &str, args: &[String]) -> Result<Vec<Patch>, PatchError> {
    let mut patches: Vec<Patch> = Vec::new();
    for (index, arg) in args.iter().enumerate() {
        let source = if let Some(file) = arg.strip_prefix('@') {
            PatchSource::File(PathBuf::from(file))
        } else if !arg.is_empty() && !arg.contains([' ', '\n']) && !arg.starts_with(['[', '{']) {
            PatchSource::File(PathBuf::from(arg))
        } else {
            PatchSource::Inline {
                name: format!("{flag} #{}", index + 1),
                text: arg.clone(),
            }
        };
        let patch = load_patch(source)?;
        if let (Some(previous), PatchBody::Json(ops)) = (patches.last_mut(), &patch.body)
            && let PatchBody::Json(previous_ops) = &mut previous.body
        {
            previous_ops.extend(ops.iter().cloned());
            previous.name = format!("{} + {}", previous.name, patch.name);
            continue;
        }
        patches.push(patch);
    }
    Ok(patches)
}

/// Applies `patches` in order to a copy of `docs` for the Talos line of `contract`, and
/// returns the result written as Talos writes configs (see the module documentation) with
/// any warnings.
///
/// # Errors
/// [`PatchError::Decode`] when a patch has keys or values the line does not accept,
/// [`PatchError::Apply`] when a patch does not fit the config (`$patch: delete` of
/// something absent, a JSON patch path that does not exist, mismatched free-form types).
pub fn apply(
    docs: &ConfigDocuments,
    patches: &[Patch],
    contract: &Contract,
) -> Result<(ConfigDocuments, Vec<PatchWarning>), PatchError> {
    let contract = *contract;
    let mut result = docs.clone();
    let mut warnings = Vec::new();
    for patch in patches {
        match &patch.body {
            PatchBody::Strategic(documents) => {
                for document in documents {
                    apply_strategic(&mut result, &patch.name, document, contract, &mut warnings)?;
                }
            }
            PatchBody::Json(ops) => {
                if result.len() > 1 {
                    warnings.push(PatchWarning::JsonPatchOnMultiDocument {
                        patch: patch.name.clone(),
                        documents: result.len(),
                    });
                }
                json6902::apply(&mut result, &patch.name, ops, contract)?;
            }
        }
    }
    Ok((normalize_documents(&result, contract), warnings))
}

/// Merges cluster.yaml's `sysctls:` (applied after the patches): into `machine.sysctls`
/// of the v1alpha1 document before Talos v1.14, into a `SysctlConfig` document (`params`)
/// for v1.14 contracts. Values are strings whatever they look like.
///
/// # Errors
/// As [`apply`] (a config without a v1alpha1 document before v1.14 gets one added).
pub fn apply_sysctls<V: AsRef<str>>(
    docs: &ConfigDocuments,
    sysctls: &BTreeMap<String, V>,
    contract: &Contract,
) -> Result<ConfigDocuments, PatchError> {
    if sysctls.is_empty() {
        return Ok(docs.clone());
    }
    let mut values = Mapping::new();
    for (key, value) in sysctls {
        values.insert(key.as_str(), Node::string(value.as_ref()));
    }
    let document = if contract.at_least(1, 14) {
        Mapping::new()
            .with("apiVersion", "v1alpha1")
            .with("kind", "SysctlConfig")
            .with("params", values)
    } else {
        Mapping::new().with("machine", Mapping::new().with("sysctls", values))
    };
    let patch = Patch::strategic("cluster.yaml sysctls", vec![Node::mapping(document)]);
    apply(docs, &[patch], contract).map(|(docs, _)| docs)
}

/// Checks a patch without a config to apply it to: every document of a strategic merge
/// patch is strictly decoded for the Talos line of `contract`, as [`apply`] does first.
/// Lets `validate` find patches a line does not accept before any secrets exist; what
/// depends on the config (a JSON patch path, `$patch: delete` of something absent) is
/// only known when the patch is applied.
///
/// # Errors
/// [`PatchError::Decode`] for the first document with keys or values the line does not
/// accept.
pub fn check(patch: &Patch, contract: &Contract) -> Result<(), PatchError> {
    if let PatchBody::Strategic(documents) = &patch.body {
        for document in documents {
            decode_strategic(&patch.name, document, *contract)?;
        }
    }
    Ok(())
}

fn decode_strategic(patch: &str, document: &Node, contract: Contract) -> Result<(), PatchError> {
    let problems = check_document(patch, document, contract, Mode::Patch);
    if problems.is_empty() {
        return Ok(());
    }
    Err(PatchError::Decode {
        patch: patch.to_string(),
        contract,
        errors: DecodeErrors(problems),
    })
}

fn apply_strategic(
    config: &mut ConfigDocuments,
    patch: &str,
    document: &Node,
    contract: Contract,
    warnings: &mut Vec<PatchWarning>,
) -> Result<(), PatchError> {
    decode_strategic(patch, document, contract)?;
    let apply_error = |document: &str, path: Path, position, reason: String| PatchError::Apply {
        patch: patch.to_string(),
        document: document.to_string(),
        path,
        position,
        reason,
    };
    let id = DocumentId::of(document).map_err(|e| apply_error("?", Path::root(), document.position, e.to_string()))?;
    let shape = match &id {
        DocumentId::V1Alpha1 => registry().v1alpha1.clone(),
        DocumentId::Typed { api_version, kind, .. } => match registry().kind(kind, api_version, contract) {
            super::shape::KindLookup::Found(found) => found.root.clone(),
            _ => {
                return Err(apply_error(
                    kind,
                    Path::root(),
                    document.position,
                    "not registered".into(),
                ));
            }
        },
    };
    let label = id.to_string();

    if delete::is_document_delete(document) {
        return match config.remove(&id) {
            Some(_) => Ok(()),
            None => Err(apply_error(
                &label,
                Path::root(),
                document.position,
                "$patch: delete of a whole document: lookup failed: the config has no such document".into(),
            )),
        };
    }

    let (content, selectors) =
        delete::extract(document).map_err(|(path, position, reason)| apply_error(&label, path, position, reason))?;
    if !selectors.is_empty() {
        let Some(target) = config.get_mut(&id) else {
            let first = &selectors[0];
            return Err(apply_error(
                &label,
                first.path.clone(),
                first.position,
                "$patch: delete: lookup failed: the config has no such document".into(),
            ));
        };
        for selector in &selectors {
            delete::apply(target, selector, &shape, contract)
                .map_err(|reason| apply_error(&label, selector.path.clone(), selector.position, reason))?;
        }
    }

    match config.get_mut(&id) {
        Some(target) => {
            let mut context = merge::Context {
                contract,
                patch,
                document: &label,
                warnings,
            };
            merge::merge_document(target, &content, &shape, &mut context)
        }
        None => {
            if selectors.is_empty() || merge::has_content(&content) {
                config
                    .push(normalize::strip_positions(content))
                    .map_err(|e| apply_error(&label, Path::root(), document.position, e.to_string()))?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests;
