//! The labels talos-hcloud puts on everything it creates, and label selectors to find them
//! again (design.md §3: live state is read by label, there is no state file). The keys
//! themselves are spec::resources' constants, so names and labels come from one table.
//!
//! Keys and values follow the Hetzner label rules (a key is an optional DNS-style prefix
//! and `/` plus a name of at most 63 characters; values at most 63 characters of
//! `[A-Za-z0-9._-]`, starting and ending alphanumeric); [`Labels::insert`] checks them so a
//! bad value is caught before an API call.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use super::error::Error;
use crate::spec::resources;

/// `talos-hcloud/cluster`: on everything of a cluster; the cluster name.
pub const CLUSTER: &str = resources::LABEL_CLUSTER;
/// `talos-hcloud/role`: on servers, placement groups, firewalls (see [`Role`]).
pub const ROLE: &str = resources::LABEL_ROLE;
/// `talos-hcloud/pool`: on servers; the node pool name.
pub const POOL: &str = resources::LABEL_POOL;
/// `talos-hcloud/node`: on servers; the node name.
pub const NODE: &str = resources::LABEL_NODE;
/// `talos-hcloud/temporary`: `true` on builder servers and their SSH keys (swept by later runs).
pub const TEMPORARY: &str = resources::LABEL_TEMPORARY;
/// `os`: `talos` on snapshots.
pub const OS: &str = resources::LABEL_OS;
/// `talos-hcloud/talos-version`: on snapshots; the Talos version (`v1.11.5`).
pub const TALOS_VERSION: &str = resources::LABEL_TALOS_VERSION;
/// `talos-hcloud/arch`: on snapshots; `amd64` or `arm64`.
pub const ARCH: &str = resources::LABEL_ARCH;
/// `talos-hcloud/schematic`: on snapshots; the first 32 hex digits of the schematic ID
/// (label values are capped at 63 characters; the full ID is in the description).
pub const SCHEMATIC: &str = resources::LABEL_SCHEMATIC;

/// The role of a server, placement group or firewall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A Kubernetes control-plane node.
    Controlplane,
    /// A worker node.
    Worker,
    /// A temporary server that writes a Talos image and is snapshotted.
    Builder,
}

impl Role {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Controlplane => "controlplane",
            Role::Worker => "worker",
            Role::Builder => "builder",
        }
    }
}

/// A checked set of labels, ordered by key (so requests and logs are stable).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Labels(BTreeMap<String, String>);

impl Labels {
    /// No labels.
    pub fn new() -> Labels {
        Labels::default()
    }

    /// The labels of every resource of cluster `cluster`.
    ///
    /// # Errors
    /// [`Error::InvalidLabel`] when the name is not a valid label value.
    pub fn cluster(cluster: &str) -> Result<Labels, Error> {
        Labels::new().with(CLUSTER, cluster)
    }

    /// The labels of a cluster's node server.
    ///
    /// # Errors
    /// [`Error::InvalidLabel`] when a name is not a valid label value.
    pub fn node(cluster: &str, role: Role, pool: &str, node: &str) -> Result<Labels, Error> {
        Labels::cluster(cluster)?
            .with(ROLE, role.as_str())?
            .with(POOL, pool)?
            .with(NODE, node)
    }

    /// The labels of a temporary builder server or its SSH key.
    ///
    /// # Errors
    /// [`Error::InvalidLabel`] when the cluster name is not a valid label value.
    pub fn builder(cluster: &str) -> Result<Labels, Error> {
        Labels::cluster(cluster)?
            .with(ROLE, Role::Builder.as_str())?
            .with(TEMPORARY, "true")
    }

    /// The labels of a Talos snapshot: `os=talos`, version, arch and the first 32 hex
    /// digits of the schematic ID.
    ///
    /// # Errors
    /// [`Error::InvalidLabel`] when a value is not a valid label value.
    pub fn snapshot(schematic_id: &str, talos_version: &str, arch: &str) -> Result<Labels, Error> {
        let short: String = schematic_id.chars().take(32).collect();
        Labels::new()
            .with(OS, "talos")?
            .with(TALOS_VERSION, talos_version)?
            .with(ARCH, arch)?
            .with(SCHEMATIC, &short)
    }

    /// These labels plus `key=value`.
    ///
    /// # Errors
    /// [`Error::InvalidLabel`] when key or value break the Hetzner label rules.
    pub fn with(mut self, key: &str, value: &str) -> Result<Labels, Error> {
        self.insert(key, value)?;
        Ok(self)
    }

    /// Adds or replaces `key=value`.
    ///
    /// # Errors
    /// [`Error::InvalidLabel`] when key or value break the Hetzner label rules.
    pub fn insert(&mut self, key: &str, value: &str) -> Result<(), Error> {
        check_key(key)
            .and_then(|()| check_value(value))
            .map_err(|reason| Error::InvalidLabel {
                key: crate::excerpt::excerpt(key).into_owned(),
                value: crate::excerpt::excerpt(value).into_owned(),
                reason,
            })?;
        self.0.insert(key.to_string(), value.to_string());
        Ok(())
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// The selector matching exactly these labels (`k1=v1,k2=v2`).
    pub fn selector(&self) -> Selector {
        let mut selector = Selector::new();
        for (key, value) in &self.0 {
            selector = selector.eq(key, value);
        }
        selector
    }

    /// Returns true if and only if `labels` (as the API returned them) carry every label here.
    pub fn matched_by(&self, labels: &HashMap<String, String>) -> bool {
        self.0.iter().all(|(k, v)| labels.get(k) == Some(v))
    }

    /// The labels as the API's request bodies want them.
    pub fn to_map(&self) -> HashMap<String, String> {
        self.0.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

/// A label selector (`talos-hcloud/cluster=prod,talos-hcloud/temporary`), built from checked
/// parts so it always parses on the API side.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector(Vec<String>);

impl Selector {
    /// The empty selector (matches everything).
    pub fn new() -> Selector {
        Selector::default()
    }

    /// Also require `key=value`.
    #[must_use]
    pub fn eq(mut self, key: &str, value: &str) -> Selector {
        self.0.push(format!("{key}={value}"));
        self
    }

    /// Also require `key!=value`.
    #[must_use]
    pub fn ne(mut self, key: &str, value: &str) -> Selector {
        self.0.push(format!("{key}!={value}"));
        self
    }

    /// Also require that `key` is present (any value).
    #[must_use]
    pub fn has(mut self, key: &str) -> Selector {
        self.0.push(key.to_string());
        self
    }

    /// Also require that `key` is absent.
    #[must_use]
    pub fn lacks(mut self, key: &str) -> Selector {
        self.0.push(format!("!{key}"));
        self
    }

    /// Also require `key` to be one of `values` (`key in (a,b)`).
    #[must_use]
    pub fn one_of(mut self, key: &str, values: &[&str]) -> Selector {
        self.0.push(format!("{key} in ({})", values.join(",")));
        self
    }

    /// Returns true if and only if the selector has no terms.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Returns true if and only if `labels` (as the API returned them) satisfy every term,
    /// as the API would: for filtering one list locally instead of asking twice.
    pub fn matches(&self, labels: &HashMap<String, String>) -> bool {
        self.0.iter().all(|term| {
            if let Some(key) = term.strip_prefix('!') {
                !labels.contains_key(key)
            } else if let Some((key, rest)) = term.split_once(" in (") {
                let values = rest.strip_suffix(')').unwrap_or(rest);
                labels
                    .get(key)
                    .is_some_and(|v| values.split(',').any(|value| value == v))
            } else if let Some((key, value)) = term.split_once("!=") {
                labels.get(key).is_none_or(|v| v != value)
            } else if let Some((key, value)) = term.split_once('=') {
                labels.get(key).is_some_and(|v| v == value)
            } else {
                labels.contains_key(term.as_str())
            }
        })
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(","))
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

fn check_name(name: &str, what: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 63 {
        return Err(format!("the {what} must be 1 to 63 characters long"));
    }
    if !name.chars().all(is_name_char) {
        return Err(format!("the {what} may contain only letters, digits, '-', '_' and '.'"));
    }
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !alnum(name.chars().next()) || !alnum(name.chars().last()) {
        return Err(format!("the {what} must start and end with a letter or digit"));
    }
    Ok(())
}

fn check_key(key: &str) -> Result<(), String> {
    let name = match key.rsplit_once('/') {
        Some((prefix, name)) => {
            if prefix.is_empty() || prefix.len() > 253 {
                return Err("the key prefix must be 1 to 253 characters long".into());
            }
            for part in prefix.split('.') {
                check_name(part, "key prefix part")?;
            }
            name
        }
        None => key,
    };
    check_name(name, "key name")
}

fn check_value(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Ok(());
    }
    check_name(value, "value")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_selector_matches_labels_as_the_api_does() {
        let labels: HashMap<String, String> = [("talos-hcloud/cluster", "prod"), ("role", "worker")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let cluster = |name: &str| Selector::new().eq("talos-hcloud/cluster", name);
        assert!(cluster("prod").matches(&labels));
        assert!(!cluster("staging").matches(&labels));
        assert!(Selector::new().matches(&labels));
        assert!(cluster("prod").has("role").matches(&labels));
        assert!(!cluster("prod").lacks("role").matches(&labels));
        assert!(cluster("prod").lacks("talos-hcloud/temporary").matches(&labels));
        assert!(cluster("prod").ne("role", "controlplane").matches(&labels));
        assert!(!cluster("prod").ne("role", "worker").matches(&labels));
        assert!(Selector::new().ne("absent", "x").matches(&labels));
        assert!(Selector::new().one_of("role", &["builder", "worker"]).matches(&labels));
        assert!(
            !Selector::new()
                .one_of("role", &["builder", "controlplane"])
                .matches(&labels)
        );
        assert!(!Selector::new().one_of("absent", &["x"]).matches(&labels));
    }

    #[test]
    fn node_and_snapshot_labels_follow_the_design() {
        let labels = Labels::node("prod", Role::Controlplane, "cp", "tc-prod-cp-1").unwrap();
        assert_eq!(
            labels.selector().to_string(),
            "talos-hcloud/cluster=prod,talos-hcloud/node=tc-prod-cp-1,talos-hcloud/pool=cp,talos-hcloud/role=controlplane"
        );
        let id = "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba";
        let snapshot = Labels::snapshot(id, "v1.11.5", "arm64").unwrap();
        assert_eq!(snapshot.get(SCHEMATIC), Some("376567988ad370138ad8b2698212367b"));
        assert_eq!(snapshot.get(OS), Some("talos"));
        let builder = Labels::builder("prod").unwrap();
        assert_eq!(builder.get(TEMPORARY), Some("true"));
        assert!(builder.matched_by(&builder.to_map()));
    }

    #[test]
    fn invalid_labels_are_refused_before_any_call() {
        let error = Labels::cluster("Prod Cluster").unwrap_err();
        assert_eq!(
            error.to_string(),
            "label talos-hcloud/cluster=Prod Cluster is invalid: the value may contain only letters, digits, '-', \
             '_' and '.'"
        );
        assert!(Labels::new().with("-bad", "x").is_err());
        assert!(Labels::new().with("a/b", &"x".repeat(64)).is_err());
        assert!(Labels::new().with("example.com/key", "").is_ok());
    }

    #[test]
    fn selectors_combine_terms() {
        let selector = Selector::new()
            .eq(CLUSTER, "prod")
            .has(TEMPORARY)
            .ne(ROLE, "worker")
            .lacks(NODE)
            .one_of(ARCH, &["amd64", "arm64"]);
        assert_eq!(
            selector.to_string(),
            "talos-hcloud/cluster=prod,talos-hcloud/temporary,talos-hcloud/role!=worker,!talos-hcloud/node,\
             talos-hcloud/arch in (amd64,arm64)"
        );
        assert!(Selector::new().is_empty());
    }
}
