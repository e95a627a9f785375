//! What Talos's typed config structs look like, written down as data: every field of the
//! legacy `v1alpha1` document and of the typed documents a user is likely to patch, with
//! the facts strict decoding and strategic merge need (reference `talos.md` §D.4, §E.1).
//!
//! Talos decodes YAML into Go structs and merges those structs by reflection, so the YAML
//! alone cannot say how two configs combine: whether a list appends or is replaced,
//! whether `0` may override a value, which list elements are "the same". The JSON schema
//! carries none of that either. This module is our own declaration of the Go types: per
//! field its YAML name, its [`Ty`], whether the Go field is a pointer, whether it is tagged
//! `merge:"replace"`, custom list mergers ([`ListMerge`]), the Talos lines it exists in and
//! whether the published schema documents it (tests cross-check against the schemas).
//!
//! Decoding ([`crate::talos::config::validate`]) and patching
//! ([`crate::talos::config::patch`]) walk these declarations; nothing here reads YAML.

pub mod go_values;
mod kinds;
mod v1alpha1;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, LazyLock};

use super::path::{Path, Segment};
use crate::talos::contract::Contract;

/// A Talos `major.minor` line used as a gate (`(1, 12)` = Talos v1.12).
pub type Line = (u32, u32);

/// The Go type of a field, as far as decoding and merging can tell the difference.
#[derive(Debug, Clone)]
pub enum Ty {
    /// A Go `string`: any non-null scalar, its text kept (`1`, `true`, `"1"` are all
    /// strings; reference §D.7).
    String,
    /// A Go `bool`: `true`/`false`, and the YAML 1.1 spellings `yes`/`no`/`on`/`off` that
    /// go-yaml accepts when decoding into a typed bool.
    Bool,
    /// A Go integer type.
    Int(IntKind),
    /// A Go `float64`.
    Float,
    /// A Go `time.Duration`: `30s`, `1h0m0s` (an integer counts nanoseconds).
    Duration,
    /// A byte size written `4GB`, `10GiB` or a plain integer; replaced wholesale on merge.
    ByteSize,
    /// A `[]byte` written base64; replaced wholesale on merge (Go merges `[]byte` by
    /// replacement).
    Base64,
    /// A file mode, written back in Go's `0o644` form.
    FileMode,
    /// An integer or a string (port ranges such as `8000-9000`).
    IntOrString,
    /// A string-backed enumeration; the first value is the Go zero value (what a pointer
    /// "overwrite" of zero sets, e.g. `auto: off`).
    Enum(&'static [&'static str]),
    /// A Go struct (or pointer to one).
    Struct(Arc<StructShape>),
    /// A slice of `item`, merged as `merge` says.
    List(Box<Ty>, ListMerge),
    /// A `map[string]T`; merged per key.
    Map(Box<Ty>),
    /// Talos v1.13+ `Args`: map of flag name to a string or a list of strings; merged
    /// per key by replacement.
    Args,
    /// Free-form YAML (`Unstructured`, `map[string]any`): nested maps merge, lists append.
    Unstructured,
}

/// The width and signedness of an integer field, for range checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntKind {
    /// `uint8`.
    U8,
    /// `uint16`.
    U16,
    /// `uint32` / `uint`.
    U32,
    /// `uint64`.
    U64,
    /// `int` / `int64`.
    I64,
}

impl IntKind {
    /// The accepted range.
    pub fn range(self) -> (i128, i128) {
        match self {
            IntKind::U8 => (0, i128::from(u8::MAX)),
            IntKind::U16 => (0, i128::from(u16::MAX)),
            IntKind::U32 => (0, i128::from(u32::MAX)),
            IntKind::U64 => (0, i128::from(u64::MAX)),
            IntKind::I64 => (i128::from(i64::MIN), i128::from(i64::MAX)),
        }
    }

    /// The Go type name, for messages.
    pub fn go_name(self) -> &'static str {
        match self {
            IntKind::U8 => "uint8",
            IntKind::U16 => "uint16",
            IntKind::U32 => "uint32",
            IntKind::U64 => "uint64",
            IntKind::I64 => "int",
        }
    }
}

/// How the elements of two lists combine (Talos's custom `Merge` methods, §D.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListMerge {
    /// Plain Go slice: the patch's elements are appended.
    Append,
    /// An element whose field `key` equals a target element's merges into it; others are
    /// appended (`vlanId`, admission plugin `name`, configFiles `mountPath`).
    ByKey(&'static str),
    /// `NetworkDeviceList`: match by `interface` name, or — when the patch device has no
    /// `interface` — by an exactly equal `deviceSelector`.
    Devices,
}

/// Whether the published JSON schema of a line documents a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaVisibility {
    /// Documented wherever the field exists.
    Documented,
    /// Never documented (`docgen:nodoc`, e.g. `persist`).
    Hidden,
    /// Documented before this line, hidden from it on (deprecated fields).
    HiddenSince(Line),
}

/// One field of a struct.
#[derive(Debug, Clone)]
pub struct Field {
    /// The YAML key.
    pub name: &'static str,
    /// Its type.
    pub ty: Ty,
    /// The Go field is a pointer (`*bool`, `*int`, `*Struct`): from Talos v1.12 a zero
    /// value behind a pointer overrides on merge.
    pub pointer: bool,
    /// Tagged `merge:"replace"`: a patch value replaces the target value.
    pub replace: bool,
    /// Written even when empty (no `omitempty`, e.g. `certSANs: []`).
    pub keep_empty: bool,
    /// Holds a secret (API tokens, passwords, keys): never quoted in messages.
    pub secret: bool,
    /// The Talos lines that have the field.
    pub lines: Lines,
    /// Schema documentation status.
    pub schema: SchemaVisibility,
}

/// A range of Talos lines: from `since` on (if set), before `until` (if set).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lines {
    /// First Talos line in the range.
    pub since: Option<Line>,
    /// First Talos line after the range.
    pub until: Option<Line>,
}

impl Lines {
    /// Returns true if and only if the line of `contract` is in the range.
    pub fn contain(self, contract: Contract) -> bool {
        self.since.is_none_or(|(major, minor)| contract.at_least(major, minor))
            && self.until.is_none_or(|(major, minor)| !contract.at_least(major, minor))
    }

    /// "added in Talos v1.12" / "removed in Talos v1.13" when `contract` is outside the range.
    pub fn note(self, contract: Contract) -> Option<String> {
        match (self.since, self.until) {
            (Some((major, minor)), _) if !contract.at_least(major, minor) => {
                Some(format!("added in Talos v{major}.{minor}"))
            }
            (_, Some((major, minor))) if contract.at_least(major, minor) => {
                Some(format!("removed in Talos v{major}.{minor}"))
            }
            _ => None,
        }
    }
}

impl Field {
    fn new(name: &'static str, ty: Ty, pointer: bool) -> Self {
        Field {
            name,
            ty,
            pointer,
            replace: false,
            keep_empty: false,
            secret: false,
            lines: Lines::default(),
            schema: SchemaVisibility::Documented,
        }
    }

    /// Tags the field `merge:"replace"`.
    fn replace(mut self) -> Self {
        self.replace = true;
        self
    }

    /// Marks the field as written even when empty.
    fn keep_empty(mut self) -> Self {
        self.keep_empty = true;
        self
    }

    /// Marks the field as secret.
    fn secret(mut self) -> Self {
        self.secret = true;
        self
    }

    /// The field exists from Talos `major.minor` on.
    fn since(mut self, major: u32, minor: u32) -> Self {
        self.lines.since = Some((major, minor));
        self
    }

    /// The field exists before Talos `major.minor` only.
    fn until(mut self, major: u32, minor: u32) -> Self {
        self.lines.until = Some((major, minor));
        self
    }

    /// The schema never documents the field.
    fn hidden(mut self) -> Self {
        self.schema = SchemaVisibility::Hidden;
        self
    }

    /// The schema stops documenting the field at Talos `major.minor`.
    fn hidden_since(mut self, major: u32, minor: u32) -> Self {
        self.schema = SchemaVisibility::HiddenSince((major, minor));
        self
    }

    /// Returns true if and only if the field exists in the Talos line of `contract`.
    pub fn available(&self, contract: Contract) -> bool {
        self.lines.contain(contract)
    }

    /// Returns true if and only if the field exists in `contract` and that line's JSON
    /// schema documents it.
    pub fn documented(&self, contract: Contract) -> bool {
        self.available(contract)
            && match self.schema {
                SchemaVisibility::Documented => true,
                SchemaVisibility::Hidden => false,
                SchemaVisibility::HiddenSince((major, minor)) => !contract.at_least(major, minor),
            }
    }

    /// "added in Talos v1.12" / "removed in Talos v1.13" for a field missing from `contract`.
    pub fn availability_note(&self, contract: Contract) -> Option<String> {
        self.lines.note(contract)
    }
}

/// A Go struct: its name (for messages) and fields in declaration order, which is the
/// order Talos writes them in.
#[derive(Debug)]
pub struct StructShape {
    /// The Go type name, e.g. `v1alpha1.InstallConfig`.
    pub name: &'static str,
    /// Fields in Go declaration order. A name may appear twice with disjoint version gates
    /// when its type changed (`extraArgs` became `Args` in v1.13).
    pub fields: Vec<Field>,
    order: Vec<&'static str>,
}

impl StructShape {
    fn new(name: &'static str, fields: Vec<Field>) -> Self {
        let mut order: Vec<&'static str> = Vec::new();
        for field in &fields {
            if !order.contains(&field.name) {
                order.push(field.name);
            }
        }
        StructShape { name, fields, order }
    }

    /// The field called `name` in the line of `contract`.
    pub fn field(&self, name: &str, contract: Contract) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name && f.available(contract))
    }

    /// The field called `name` in any line (for "added in v1.12" messages).
    pub fn field_any_line(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Field names available in `contract`, in declaration order.
    pub fn field_names(&self, contract: Contract) -> Vec<&'static str> {
        let mut names = Vec::new();
        for field in self.fields.iter().filter(|f| f.available(contract)) {
            if !names.contains(&field.name) {
                names.push(field.name);
            }
        }
        names
    }

    /// Every field name of every line, in declaration order (the order Talos writes).
    pub fn order(&self) -> &[&'static str] {
        &self.order
    }
}

/// A typed document kind (`HostnameConfig`, …) and the Talos lines that know it.
#[derive(Debug)]
pub struct DocumentKind {
    /// `kind`.
    pub kind: &'static str,
    /// `apiVersion` (always `v1alpha1` so far).
    pub api_version: &'static str,
    /// The document has a `name` that is part of its identity.
    pub named: bool,
    /// First Talos line registering the kind.
    pub since: Line,
    /// The document's struct, `apiVersion`/`kind`(/`name`) first.
    pub root: Arc<StructShape>,
}

impl DocumentKind {
    /// Returns true if and only if the kind is registered in `contract`'s line.
    pub fn available(&self, contract: Contract) -> bool {
        contract.at_least(self.since.0, self.since.1)
    }
}

/// Why a `kind`/`apiVersion` pair cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KindLookup<'a> {
    /// Known and registered in this line.
    Found(&'a DocumentKind),
    /// Known, but only from a later line.
    TooNew(&'a DocumentKind),
    /// Not a kind Talos registers (or one talos-hcloud does not describe).
    NotRegistered,
}

impl PartialEq for DocumentKind {
    fn eq(&self, other: &DocumentKind) -> bool {
        self.kind == other.kind && self.api_version == other.api_version
    }
}

impl Eq for DocumentKind {}

/// Every declared shape.
#[derive(Debug)]
pub struct Registry {
    /// The legacy `v1alpha1` document (`version`, `debug`, `persist`, `machine`, `cluster`).
    pub v1alpha1: Arc<StructShape>,
    /// Typed document kinds.
    pub kinds: Vec<DocumentKind>,
    by_kind: HashMap<&'static str, usize>,
}

impl Registry {
    /// The declaration order of the v1alpha1 struct at `path` (`["machine", "network"]`;
    /// empty for the root) over every line: the order Talos writes its fields in.
    pub fn v1alpha1_order(&self, path: &[&str]) -> Option<&[&'static str]> {
        let mut shape: &StructShape = &self.v1alpha1;
        for key in path {
            match &shape.field_any_line(key)?.ty {
                Ty::Struct(inner) => shape = inner,
                _ => return None,
            }
        }
        Some(shape.order())
    }

    /// Looks a typed document kind up for `contract`.
    pub fn kind(&self, kind: &str, api_version: &str, contract: Contract) -> KindLookup<'_> {
        let Some(found) = self.by_kind.get(kind).and_then(|&i| self.kinds.get(i)) else {
            return KindLookup::NotRegistered;
        };
        if found.api_version != api_version {
            return KindLookup::NotRegistered;
        }
        if found.available(contract) {
            KindLookup::Found(found)
        } else {
            KindLookup::TooNew(found)
        }
    }
}

static REGISTRY: LazyLock<Registry> = LazyLock::new(|| {
    let kinds = kinds::all();
    let by_kind = kinds.iter().enumerate().map(|(i, k)| (k.kind, i)).collect();
    Registry {
        v1alpha1: v1alpha1::config(),
        kinds,
        by_kind,
    }
});

/// The declared shapes of every document.
pub fn registry() -> &'static Registry {
    &REGISTRY
}

static UNSTRUCTURED: Ty = Ty::Unstructured;

/// The type of the value at `path` below a document root of shape `root` (`None` for the
/// root itself, for unknown keys and for the inside of `Args` values). Inside free-form
/// values everything is free-form.
pub fn ty_at<'a>(root: &'a StructShape, path: &Path, contract: Contract) -> Option<&'a Ty> {
    let mut segments = path.segments().iter();
    let first = match segments.next()? {
        Segment::Key(key) => &root.field(key, contract)?.ty,
        Segment::Index(_) => return None,
    };
    let mut current = first;
    for segment in segments {
        current = match (current, segment) {
            (Ty::Struct(shape), Segment::Key(key)) => &shape.field(key, contract)?.ty,
            (Ty::Map(value), Segment::Key(_)) => value,
            (Ty::List(item, _), Segment::Index(_)) => item,
            (Ty::Unstructured, _) => &UNSTRUCTURED,
            _ => return None,
        };
    }
    Some(current)
}

impl fmt::Display for Ty {
    /// A short type description for messages: `string`, `list of strings`, `mapping`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ty::String => f.write_str("string"),
            Ty::Bool => f.write_str("boolean (true or false)"),
            Ty::Int(kind) => write!(f, "integer ({})", kind.go_name()),
            Ty::Float => f.write_str("number"),
            Ty::Duration => f.write_str("duration (e.g. 30s, 5m, 1h30m)"),
            Ty::ByteSize => f.write_str("size (e.g. 10GiB or a number of bytes)"),
            Ty::Base64 => f.write_str("base64 string"),
            Ty::FileMode => f.write_str("file mode (e.g. 0o644)"),
            Ty::IntOrString => f.write_str("integer or string"),
            Ty::Enum(values) => write!(f, "one of {}", values.join(", ")),
            Ty::Struct(_) => f.write_str("mapping"),
            Ty::List(item, _) => write!(f, "list of {}", plural(item)),
            Ty::Map(value) => write!(f, "mapping of names to {}", plural(value)),
            Ty::Args => f.write_str("mapping of flag names to strings or lists of strings"),
            Ty::Unstructured => f.write_str("mapping"),
        }
    }
}

fn plural(ty: &Ty) -> String {
    match ty {
        Ty::String => "strings".into(),
        Ty::Bool => "booleans".into(),
        Ty::Int(_) | Ty::IntOrString => "integers".into(),
        Ty::Struct(_) | Ty::Unstructured | Ty::Map(_) | Ty::Args => "mappings".into(),
        Ty::List(..) => "lists".into(),
        other => format!("{other} values"),
    }
}

// --- builders used by the declarations -------------------------------------------------

/// A non-pointer field.
fn f(name: &'static str, ty: Ty) -> Field {
    Field::new(name, ty, false)
}

/// A pointer field (`*T`).
fn p(name: &'static str, ty: Ty) -> Field {
    Field::new(name, ty, true)
}

fn string() -> Ty {
    Ty::String
}

fn boolean() -> Ty {
    Ty::Bool
}

fn int(kind: IntKind) -> Ty {
    Ty::Int(kind)
}

fn list(item: Ty) -> Ty {
    Ty::List(Box::new(item), ListMerge::Append)
}

fn list_by(item: Ty, key: &'static str) -> Ty {
    Ty::List(Box::new(item), ListMerge::ByKey(key))
}

fn map(value: Ty) -> Ty {
    Ty::Map(Box::new(value))
}

fn strings() -> Ty {
    list(Ty::String)
}

fn string_map() -> Ty {
    map(Ty::String)
}

fn strukt(name: &'static str, fields: Vec<Field>) -> Ty {
    Ty::Struct(Arc::new(StructShape::new(name, fields)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gates_follow_the_contract() {
        let field = f("grubUseUKICmdline", boolean()).since(1, 12);
        assert!(!field.available(Contract::V1_11));
        assert!(field.available(Contract::V1_12));
        assert_eq!(
            field.availability_note(Contract::V1_10).as_deref(),
            Some("added in Talos v1.12")
        );
        let old = f("x", string()).until(1, 13).hidden_since(1, 12);
        assert!(old.documented(Contract::V1_11));
        assert!(!old.documented(Contract::V1_12));
        assert!(!old.available(Contract::V1_13));
    }

    #[test]
    fn a_field_whose_type_changed_resolves_per_line() {
        let registry = registry();
        let kubelet = match registry.v1alpha1.field("machine", Contract::V1_12).map(|f| &f.ty) {
            Some(Ty::Struct(machine)) => match machine.field("kubelet", Contract::V1_12).map(|f| &f.ty) {
                Some(Ty::Struct(kubelet)) => kubelet.clone(),
                other => panic!("kubelet is a struct, got {other:?}"),
            },
            other => panic!("machine is a struct, got {other:?}"),
        };
        assert!(matches!(
            kubelet.field("extraArgs", Contract::V1_12).map(|f| &f.ty),
            Some(Ty::Map(_))
        ));
        assert!(matches!(
            kubelet.field("extraArgs", Contract::V1_13).map(|f| &f.ty),
            Some(Ty::Args)
        ));
        assert_eq!(kubelet.order().iter().filter(|n| **n == "extraArgs").count(), 1);
    }

    #[test]
    fn struct_order_is_found_by_path() {
        let registry = registry();
        assert_eq!(
            registry.v1alpha1_order(&[]),
            Some(&["version", "debug", "persist", "machine", "cluster"][..])
        );
        let network = registry.v1alpha1_order(&["machine", "network"]).expect("a struct");
        assert_eq!(network.get(..2), Some(&["hostname", "interfaces"][..]));
        assert_eq!(registry.v1alpha1_order(&["machine", "type"]), None);
        assert_eq!(registry.v1alpha1_order(&["machine", "nosuch"]), None);
    }

    #[test]
    fn kinds_are_looked_up_by_line() {
        let registry = registry();
        assert!(matches!(
            registry.kind("HostnameConfig", "v1alpha1", Contract::V1_12),
            KindLookup::Found(k) if !k.named
        ));
        assert!(matches!(
            registry.kind("HostnameConfig", "v1alpha1", Contract::V1_11),
            KindLookup::TooNew(k) if k.since == (1, 12)
        ));
        assert_eq!(
            registry.kind("HostnameConfig", "v1alpha2", Contract::V1_13),
            KindLookup::NotRegistered
        );
        assert_eq!(
            registry.kind("NoSuchConfig", "v1alpha1", Contract::V1_13),
            KindLookup::NotRegistered
        );
    }
}
