//! `patches:`: the machine-config patch globs, resolved against cluster.yaml's folder, and
//! each matched file read as YAML.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::Checker;
use crate::excerpt::excerpt;
use crate::spec::diagnostic::{Span, Spanned};
use crate::spec::model::Patches;
use crate::spec::raw::{RawCluster, example};
use crate::spec::reader;

impl Checker<'_, '_> {
    pub(super) fn patches(&mut self, raw: &RawCluster) -> Option<Patches> {
        let mut ok = true;
        let mut resolve_list = |checker: &mut Self, list: &[Spanned<String>], key: &str| -> Vec<PathBuf> {
            let mut files: Vec<PathBuf> = Vec::new();
            for (index, pattern) in list.iter().enumerate() {
                let field = format!("patches.{key}[{index}]");
                match checker.glob(pattern, &field) {
                    Some(found) => {
                        for file in found {
                            if !files.contains(&file) {
                                files.push(file);
                            }
                        }
                    }
                    None => ok = false,
                }
            }
            files
        };
        let all = resolve_list(self, &raw.patches.all, "all");
        let controlplane = resolve_list(self, &raw.patches.controlplane, "controlplane");
        let worker = resolve_list(self, &raw.patches.worker, "worker");
        let mut checked = BTreeSet::new();
        for file in all.iter().chain(&controlplane).chain(&worker) {
            if checked.insert(file.clone()) {
                ok &= self.patch_file(file);
            }
        }
        ok.then_some(Patches {
            all,
            controlplane,
            worker,
        })
    }

    /// Resolves one glob pattern relative to cluster.yaml's folder: the regular files it
    /// matches, sorted; `None` (reported) when it is invalid or matches nothing.
    pub(super) fn glob(&mut self, pattern: &Spanned<String>, field: &str) -> Option<Vec<PathBuf>> {
        let relative = Path::new(&pattern.value);
        let full = if relative.is_absolute() || self.base_dir.as_os_str().is_empty() {
            pattern.value.clone()
        } else {
            let Some(base) = self.base_dir.to_str() else {
                self.error(
                    pattern.span,
                    field,
                    format!(
                        "the folder {} is not UTF-8, so patterns cannot be matched in it",
                        self.base_dir.display()
                    ),
                    "",
                    None,
                );
                return None;
            };
            format!("{}/{}", glob::Pattern::escape(base), pattern.value)
        };
        let options = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: true,
        };
        let paths = match glob::glob_with(&full, options) {
            Ok(paths) => paths,
            Err(e) => {
                self.error(
                    pattern.span,
                    field,
                    format!(
                        "`{}` is not a valid glob pattern: {}",
                        excerpt(&pattern.value).escape_debug(),
                        e.msg
                    ),
                    example::PATCH_LIST,
                    None,
                );
                return None;
            }
        };
        let mut files = Vec::new();
        for entry in paths {
            match entry {
                Ok(path) if path.is_file() => files.push(path),
                Ok(_) => {}
                Err(e) => {
                    self.error(
                        pattern.span,
                        field,
                        format!(
                            "cannot read {} while matching `{}`: {}",
                            excerpt(&e.path().display().to_string()),
                            excerpt(&pattern.value).escape_debug(),
                            e.error()
                        ),
                        "",
                        None,
                    );
                    return None;
                }
            }
        }
        if files.is_empty() {
            self.error(
                pattern.span,
                field,
                format!(
                    "`{}` matches no file (looked for {})",
                    excerpt(&pattern.value).escape_debug(),
                    excerpt(&full)
                ),
                "a pattern relative to cluster.yaml that matches at least one file, e.g. `machine-patches/all/*.yaml`",
                None,
            );
            return None;
        }
        files.sort();
        Some(files)
    }

    /// Checks that a patch file is readable YAML; problems are reported in that file.
    pub(super) fn patch_file(&mut self, file: &Path) -> bool {
        let text = match crate::input_file::read(file).map(String::from_utf8) {
            Ok(Ok(text)) => text,
            Ok(Err(_)) => {
                let diagnostic = crate::spec::diagnostic::Diagnostic::new(
                    file,
                    None,
                    Span::START,
                    None,
                    "the patch file is not UTF-8 text",
                );
                self.reader.push(diagnostic);
                return false;
            }
            Err(e) => {
                let diagnostic = crate::spec::diagnostic::Diagnostic::new(
                    file,
                    None,
                    Span::START,
                    None,
                    format!("cannot read the patch file: {e}"),
                );
                self.reader.push(diagnostic);
                return false;
            }
        };
        match reader::load_documents(&text) {
            Ok(_) => true,
            Err(e) => {
                let mut diagnostic = reader::syntax_diagnostic(file, &text, &e);
                diagnostic.message = format!("the patch file is not valid YAML: {}", e.info());
                self.reader.push(diagnostic);
                false
            }
        }
    }
}
