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

/// Decode errors (a key the line does not know) and apply errors (a merge that does not
/// fit) name the place in one wording, `v1alpha1 document, machine.…`, so operators can
/// grep one form.
#[test]
fn decode_and_apply_errors_name_the_document_in_one_wording() {
    let docs = ConfigDocuments::parse(
        "version: v1alpha1\nmachine:\n  type: worker\n  kubelet:\n    extraConfig:\n      maxPods: 110\n",
    )
    .expect("base parses");
    let contract = Contract::parse("v1.11").expect("v1.11 is a contract");
    let chain_of = |text: &str| {
        let patch = load_patch(PatchSource::Inline {
            name: "p.yaml".into(),
            text: text.into(),
        })
        .expect("the patch loads");
        let error = apply(&docs, &[patch], &contract).expect_err("the patch fails");
        crate::error::chain(&error).join(" / ")
    };
    let decode = chain_of("machine:\n  kubelet:\n    extraArgz: {}\n");
    let apply_error = chain_of("machine:\n  kubelet:\n    extraConfig:\n      maxPods: many\n");
    assert!(
        decode.contains("p.yaml:3:5: v1alpha1 document, machine.kubelet.extraArgz: unknown key"),
        "{decode}"
    );
    assert_eq!(
        apply_error,
        "p.yaml:4:16: v1alpha1 document, machine.kubelet.extraConfig.maxPods: merge type mismatch left int right string"
    );
}
