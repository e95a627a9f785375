//! Unit tests of patch loading, merging and normalising (the patch table lives in
//! `tests/it/talos_patch.rs`).

use super::*;
use crate::talos::config::test_support::golden_files;

fn contract_of(name: &str) -> Contract {
    Contract::parse(name.split('/').next().unwrap_or_default()).expect("golden folder is a version")
}

#[test]
fn golden_configs_are_already_normalised() {
    for (name, text) in golden_files() {
        let docs = ConfigDocuments::parse(&text).expect("golden parses");
        assert_eq!(normalize_documents(&docs, contract_of(&name)).to_yaml(), text, "{name}");
    }
}

#[test]
fn an_empty_patch_list_changes_nothing() {
    for (name, text) in golden_files() {
        let docs = ConfigDocuments::parse(&text).expect("golden parses");
        let (patched, warnings) = apply(&docs, &[], &contract_of(&name)).expect("no patches apply");
        assert_eq!(patched.to_yaml(), text, "{name}");
        assert!(warnings.is_empty());
    }
}
