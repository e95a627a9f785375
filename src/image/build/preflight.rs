//! Step 1: fail fast before spending money. Everything here only reads (the schematic
//! push is idempotent and free): the factory first, so a bad version or extension is
//! refused before the Hetzner API is called at all, then the server types.

use url::Url;

use crate::factory::FactoryClient;
use crate::hcloud::{Availability, Client, ServerTypeInfo};
use crate::spec::Architecture;

use super::error::Error;
use super::request::{BuildRequest, Placement};

/// What the checks found out for one architecture.
#[derive(Debug, Clone)]
pub struct ArchPlan {
    /// The architecture.
    pub arch: Architecture,
    /// The image URL at the factory.
    pub url: Url,
    /// The compressed size the factory announced (`Content-Length` of the HEAD), if any.
    pub compressed_size: Option<u64>,
    /// Where a builder may be created, in the order to try; all sold there now.
    pub placements: Vec<Placement>,
}

/// The factory's side: schematic pushed with our ID, version offered, every extension
/// available for it, and each architecture's image built (HEAD).
///
/// # Errors
/// [`Error::UnknownVersion`], [`Error::Factory`] (unknown extensions, ID mismatch, an image
/// the factory cannot serve).
pub async fn check_factory(
    factory: &FactoryClient,
    request: &BuildRequest,
) -> Result<Vec<(Architecture, Url, Option<u64>)>, Error> {
    let version = request.version.to_string();
    let versions = factory
        .versions()
        .await
        .map_err(Error::factory("listing the factory's Talos versions"))?;
    if !versions.contains(&version) {
        let suggestion = crate::suggest::suggest(&version, versions.iter().map(String::as_str)).map(str::to_string);
        let newest = versions.iter().rev().take(3).cloned().collect();
        return Err(Error::UnknownVersion {
            version,
            suggestion,
            newest,
        });
    }
    factory
        .check_extensions(&request.schematic, &version)
        .await
        .map_err(Error::factory(format!(
            "checking the schematic's extensions for Talos {version}"
        )))?;
    factory
        .push_schematic(&request.schematic)
        .await
        .map_err(Error::factory("pushing the schematic to the factory"))?;
    let mut images = Vec::new();
    for &arch in &request.architectures {
        let url = factory
            .image_url(&request.schematic_id, &version, arch, request.compression)
            .map_err(Error::factory(format!("naming the {arch} image")))?;
        let head = factory
            .head_image(&url)
            .await
            .map_err(Error::factory(format!("checking the {arch} image at the factory")))?;
        images.push((arch, url, head.content_length));
    }
    Ok(images)
}

/// Hetzner's side: which builder placements can be ordered now, per architecture.
///
/// # Errors
/// [`Error::Input`] for a server type Hetzner does not know, [`Error::NoPlacement`] when
/// an architecture has no orderable placement, [`Error::Hcloud`] when the list cannot be read
/// (an invalid token shows here, before anything is created).
pub async fn check_placements(
    client: &Client,
    request: &BuildRequest,
    images: Vec<(Architecture, Url, Option<u64>)>,
) -> Result<Vec<ArchPlan>, Error> {
    let types = client
        .list_server_types()
        .await
        .map_err(Error::hcloud("checking which server types can be ordered"))?;
    for name in &request.server_types {
        if !types.iter().any(|t| t.name == *name) {
            let hint = crate::suggest::suggest(name, types.iter().map(|t| t.name.as_str()))
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            return Err(Error::Input {
                field: "server-type".into(),
                reason: format!("Hetzner has no server type `{name}`{hint}"),
            });
        }
    }
    let arch_of = |name: &str| type_architecture(&types, name);
    let mut plans = Vec::new();
    for (arch, url, compressed_size) in images {
        let candidates = request.placements(arch, arch_of);
        let placements: Vec<Placement> = candidates
            .iter()
            .filter(|p| {
                types
                    .iter()
                    .find(|t| t.name == p.server_type)
                    .is_some_and(|t| t.availability_in(&p.location) == Availability::Available)
            })
            .cloned()
            .collect();
        if placements.is_empty() {
            return Err(Error::NoPlacement {
                arch,
                tried: candidates
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        plans.push(ArchPlan {
            arch,
            url,
            compressed_size,
            placements,
        });
    }
    Ok(plans)
}

/// The architecture of server type `name`, as Hetzner lists it.
fn type_architecture(types: &[ServerTypeInfo], name: &str) -> Option<Architecture> {
    let info = types.iter().find(|t| t.name == name)?;
    Architecture::ALL
        .into_iter()
        .find(|a| a.hcloud_name() == info.architecture)
}
