//! `talos:`: the Talos version, the image architectures (against the server types the
//! groups use) and the schematic, inline or from a file.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::nodes::GroupDraft;
use super::{Checker, resolve};
use crate::excerpt::excerpt;
use crate::spec::catalog::Architecture;
use crate::spec::diagnostic::{Span, suggest};
use crate::spec::model::{Schematic, SchematicSource, Talos};
use crate::spec::raw::{RawSchematic, RawTalos, example};
use crate::spec::version::TalosVersion;
use crate::yaml::Position;

impl Checker<'_, '_> {
    pub(super) fn talos(&mut self, raw: &RawTalos, groups: &[&GroupDraft]) -> Option<Talos> {
        let version = raw
            .version
            .as_ref()
            .and_then(|v| self.version(v, "talos.version", example::TALOS_VERSION, TalosVersion::parse));
        let schematic = raw.schematic.as_ref().and_then(|s| self.schematic(s));
        let used: BTreeSet<Architecture> = groups.iter().map(|g| g.server_type.value.architecture()).collect();
        let (architectures, explicit) = match &raw.architectures {
            None => (Some(used.iter().copied().collect::<Vec<_>>()), false),
            Some(list) => {
                let mut explicit = BTreeSet::new();
                let mut ok = true;
                for (index, item) in list.value.iter().enumerate() {
                    let field = format!("talos.architectures[{index}]");
                    match Architecture::from_name(&item.value) {
                        Some(arch) => {
                            explicit.insert(arch);
                        }
                        None => {
                            let alias = match item.value.as_str() {
                                "x86" | "x86_64" | "x86-64" | "amd" | "intel" => Some("amd64".to_owned()),
                                "arm" | "aarch64" | "arm64v8" => Some("arm64".to_owned()),
                                other => suggest(other, Architecture::ALL.map(|a| a.as_str())),
                            };
                            self.error(
                                item.span,
                                &field,
                                format!("unknown architecture `{}`", excerpt(&item.value).escape_debug()),
                                "`amd64` or `arm64`",
                                alias,
                            );
                            ok = false;
                        }
                    }
                }
                if list.value.is_empty() {
                    self.error(
                        list.span,
                        "talos.architectures",
                        "the list is empty",
                        example::ARCHITECTURES,
                        None,
                    );
                    ok = false;
                }
                if ok {
                    let listed = explicit.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(", ");
                    for group in groups {
                        let arch = group.server_type.value.architecture();
                        if !explicit.contains(&arch) {
                            self.error(
                                group.server_type.span,
                                &group.type_field,
                                format!(
                                    "{} is an {arch} server type, but talos.architectures lists only {listed}",
                                    group.server_type.value
                                ),
                                &format!("a server type of {listed}, or add {arch} to talos.architectures"),
                                None,
                            );
                            ok = false;
                        }
                    }
                }
                (ok.then(|| explicit.into_iter().collect()), true)
            }
        };
        Some(Talos {
            version: version?,
            schematic: schematic?,
            architectures: architectures?,
            architectures_explicit: explicit,
        })
    }

    pub(super) fn schematic(&mut self, raw: &RawSchematic) -> Option<Schematic> {
        match raw {
            RawSchematic::Inline { yaml, span } => {
                let parsed = crate::factory::Schematic::parse(yaml, "the inline schematic");
                self.checked_schematic(SchematicSource::Inline, yaml, parsed, |_| (None, *span))
            }
            RawSchematic::File(file) => {
                let resolved = resolve(self.base_dir, Path::new(&file.value));
                let problem = match crate::input_file::read(&resolved) {
                    Ok(bytes) => match String::from_utf8(bytes) {
                        Ok(text) => {
                            let parsed = crate::factory::Schematic::parse(&text, &resolved.display().to_string());
                            let place = |at: Position| (Some(resolved.clone()), Span::at(at, 1));
                            return self.checked_schematic(
                                SchematicSource::File(resolved.clone()),
                                &text,
                                parsed,
                                place,
                            );
                        }
                        Err(_) => "is not UTF-8 text".to_owned(),
                    },
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => "does not exist".to_owned(),
                    Err(e) => format!("cannot be read: {e}"),
                };
                self.error(
                    file.span,
                    "talos.schematic",
                    format!(
                        "the schematic file {} {problem}",
                        excerpt(&resolved.display().to_string())
                    ),
                    example::SCHEMATIC,
                    None,
                );
                None
            }
        }
    }

    /// Turns the factory's strict parse of a schematic into the checked value, or into a
    /// diagnostic: in the schematic file at the problem's position, or at the inline block.
    pub(super) fn checked_schematic(
        &mut self,
        source: SchematicSource,
        text: &str,
        parsed: Result<crate::factory::Schematic, crate::factory::schematic::Error>,
        place: impl Fn(Position) -> (Option<PathBuf>, Span),
    ) -> Option<Schematic> {
        use crate::factory::schematic::Error as SchematicError;
        let outcome = parsed.and_then(|schematic| schematic.id().map(|id| (schematic, id)));
        match outcome {
            Ok((parsed, id)) => Some(Schematic {
                source,
                yaml: text.to_owned(),
                parsed,
                id,
            }),
            Err(error) => {
                let (file, span, field, message) = match &error {
                    SchematicError::Invalid { at, path, problem, .. } => {
                        let (file, span) = place(*at);
                        // In a schematic file the field is named as in that file; inline, it
                        // continues the cluster.yaml path.
                        let field = match (&file, path.is_empty()) {
                            (Some(_), false) => path.clone(),
                            (_, true) => "talos.schematic".to_owned(),
                            (None, false) => format!("talos.schematic.{path}"),
                        };
                        (file, span, field, problem.to_string())
                    }
                    other => {
                        let (_, span) = place(Position::new(1, 1));
                        (None, span, "talos.schematic".to_owned(), other.to_string())
                    }
                };
                let hint = match &error {
                    SchematicError::Invalid { problem, .. } => problem.suggestion().map(str::to_owned),
                    _ => None,
                };
                match file {
                    Some(file) => {
                        let mut diagnostic =
                            crate::spec::diagnostic::Diagnostic::new(&file, Some(text), span, Some(&field), message)
                                .expected(example::SCHEMATIC_CONTENT);
                        if let Some(hint) = hint {
                            diagnostic = diagnostic.suggestion(Some(hint));
                        }
                        self.reader.push(diagnostic);
                    }
                    None => self.error(span, &field, message, example::SCHEMATIC_CONTENT, hint),
                }
                None
            }
        }
    }
}
