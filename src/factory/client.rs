//! The Image Factory HTTP client: schematics, versions, official extensions, image names
//! and a HEAD pre-warm. Image downloads live in [`super::image_stream`].

use std::time::Duration;

use url::Url;

use super::error::Error;
use super::image::{self, Compression};
use super::schematic::{Schematic, SchematicId};
use crate::spec::Architecture;
use crate::suggest::suggest;

/// The public factory, used when neither `--factory-url` nor `TALOS_FACTORY_URL` is set.
pub const DEFAULT_FACTORY_URL: &str = "https://factory.talos.dev";

/// How long to wait, per phase, before calling a request failed.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// TCP + TLS connection establishment.
    pub connect: Duration,
    /// Whole API requests (schematics, versions, extensions).
    pub api: Duration,
    /// Waiting for the response headers of an image request: the factory builds an
    /// uncached image before it answers (image-factory #456), so this is generous.
    pub image_response: Duration,
    /// Longest pause between two pieces of an image body before the download is retried.
    pub read_idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(20),
            api: Duration::from_secs(120),
            image_response: Duration::from_secs(15 * 60),
            read_idle: Duration::from_secs(60),
        }
    }
}

/// Something in a schematic that the chosen factory would refuse, worth a warning before
/// any request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchematicWarning {
    /// `owner` is set but the factory is the community edition, which refuses it.
    #[error(
        "the schematic sets `owner`, which the community Image Factory at {factory} refuses (\"owner field is only supported in Enterprise edition\"); remove it, or use an Enterprise factory"
    )]
    OwnerOnCommunityFactory {
        /// The factory's URL.
        factory: String,
    },
}

/// The factory's answer to `POST /schematics`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedSchematic {
    /// The ID, equal to the locally computed one.
    pub id: SchematicId,
    /// The canonical YAML the factory stored, when it returned it.
    pub canonical: Option<String>,
}

/// One entry of `GET /version/{v}/extensions/official`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OfficialExtension {
    /// The name used in schematics, e.g. `siderolabs/qemu-guest-agent`.
    pub name: String,
    /// The full image reference with tag.
    #[serde(rename = "ref")]
    pub reference: String,
    /// The image digest.
    #[serde(default)]
    pub digest: String,
    /// The author.
    #[serde(default)]
    pub author: String,
    /// A description.
    #[serde(default)]
    pub description: String,
}

/// What a HEAD request says about an image (it also makes the factory build it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageHead {
    /// The URL after redirects.
    pub url: Url,
    /// The compressed size, if announced.
    pub content_length: Option<u64>,
    /// The announced media type.
    pub content_type: Option<String>,
}

/// A client of one Image Factory.
#[derive(Debug, Clone)]
pub struct FactoryClient {
    base: Url,
    http: reqwest::Client,
    timeouts: Timeouts,
}

impl FactoryClient {
    /// A client for the factory at `base_url` (e.g. `https://factory.talos.dev`) with the
    /// default timeouts.
    ///
    /// # Errors
    /// [`Error::InvalidUrl`] unless the URL is `http`/`https` with a host and no query.
    pub fn new(base_url: &str) -> Result<FactoryClient, Error> {
        FactoryClient::with_timeouts(base_url, Timeouts::default())
    }

    /// A client with explicit timeouts (tests use short ones).
    ///
    /// # Errors
    /// As [`FactoryClient::new`], or if the HTTP client cannot be built.
    pub fn with_timeouts(base_url: &str, timeouts: Timeouts) -> Result<FactoryClient, Error> {
        let invalid = |reason: &str| Error::InvalidUrl {
            url: base_url.to_string(),
            reason: reason.to_string(),
        };
        let mut base = Url::parse(base_url).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(invalid("the scheme must be http or https"));
        }
        if base.host_str().is_none_or(str::is_empty) {
            return Err(invalid("a host is required"));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(invalid("a query or fragment is not allowed"));
        }
        if !base.username().is_empty() || base.password().is_some() {
            return Err(invalid("credentials in the URL are not supported"));
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let http = reqwest::Client::builder()
            .connect_timeout(timeouts.connect)
            .read_timeout(timeouts.read_idle)
            .user_agent(concat!("talos-hcloud/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|source| Error::Request {
                url: base.to_string(),
                source,
            })?;
        Ok(FactoryClient { base, http, timeouts })
    }

    /// The factory's base URL (always ending in `/`).
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// The timeouts in use.
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// What this factory would refuse in `schematic`, found offline so the operator hears
    /// it before a push or an image build. The community factory (`factory.talos.dev`)
    /// refuses `owner` ("owner field is only supported in Enterprise edition"); other
    /// factories may be Enterprise ones, so nothing is said for them.
    pub fn schematic_warnings(&self, schematic: &Schematic) -> Vec<SchematicWarning> {
        let mut warnings = Vec::new();
        let public = Url::parse(DEFAULT_FACTORY_URL).ok();
        let is_public = public.is_some_and(|public| self.base.host_str() == public.host_str());
        if is_public && !schematic.owner.is_empty() {
            warnings.push(SchematicWarning::OwnerOnCommunityFactory {
                factory: DEFAULT_FACTORY_URL.to_string(),
            });
        }
        warnings
    }

    /// The underlying HTTP client (shared with image streams).
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// `base` joined with a relative path.
    fn endpoint(&self, path: &str) -> Result<Url, Error> {
        self.base.join(path).map_err(|e| Error::InvalidUrl {
            url: format!("{}{path}", self.base),
            reason: e.to_string(),
        })
    }

    /// Sends an API request and returns the successful response's body text.
    async fn send_api(&self, request: reqwest::RequestBuilder, url: &Url) -> Result<String, Error> {
        let response = request
            .timeout(self.timeouts.api)
            .send()
            .await
            .map_err(|source| transport(url, source))?;
        let status = response.status();
        let body = response.text().await.map_err(|source| transport(url, source))?;
        if !status.is_success() {
            return Err(Error::Status {
                url: url.to_string(),
                status: status.as_u16(),
                body: first_line(&body),
            });
        }
        Ok(body)
    }

    /// `POST /schematics` with the canonical YAML. Idempotent: posting the same schematic
    /// again returns the same ID.
    ///
    /// # Errors
    /// [`Error::IdMismatch`] if the factory's ID differs from ours (a different canonical
    /// form, e.g. an Enterprise factory adding `owner`), status/transport errors otherwise.
    pub async fn push_schematic(&self, schematic: &Schematic) -> Result<PushedSchematic, Error> {
        let canonical = schematic.canonical_yaml()?;
        let ours = schematic.id()?;
        let url = self.endpoint("schematics")?;
        let request = self
            .http
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/yaml")
            .body(canonical);
        let body = self.send_api(request, &url).await?;
        #[derive(serde::Deserialize)]
        struct Created {
            id: String,
            #[serde(default)]
            schematic: Option<String>,
        }
        let created: Created = serde_json::from_str(&body).map_err(|e| Error::BadResponse {
            url: url.to_string(),
            reason: format!("expected {{\"id\": …}}: {e}"),
        })?;
        if created.id != ours.as_str() {
            return Err(Error::IdMismatch {
                url: url.to_string(),
                ours,
                theirs: created.id,
            });
        }
        Ok(PushedSchematic {
            id: ours,
            canonical: created.schematic,
        })
    }

    /// `GET /schematics/{id}`: the canonical YAML the factory stored, or `None` if it does
    /// not know the schematic.
    pub async fn find_schematic(&self, id: &SchematicId) -> Result<Option<String>, Error> {
        let url = self.endpoint(&format!("schematics/{id}"))?;
        match self.send_api(self.http.get(url.clone()), &url).await {
            Ok(body) => Ok(Some(body)),
            Err(Error::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `GET /versions`: the Talos versions the factory builds, in the factory's order
    /// (ascending).
    pub async fn versions(&self) -> Result<Vec<String>, Error> {
        let url = self.endpoint("versions")?;
        let body = self.send_api(self.http.get(url.clone()), &url).await?;
        serde_json::from_str(&body).map_err(|e| Error::BadResponse {
            url: url.to_string(),
            reason: format!("expected a JSON list of version strings: {e}"),
        })
    }

    /// `GET /version/{v}/extensions/official`.
    pub async fn official_extensions(&self, version: &str) -> Result<Vec<OfficialExtension>, Error> {
        image::check_version(version)?;
        let url = self.endpoint(&format!("version/{version}/extensions/official"))?;
        let body = self.send_api(self.http.get(url.clone()), &url).await?;
        serde_json::from_str(&body).map_err(|e| Error::BadResponse {
            url: url.to_string(),
            reason: format!("expected a JSON list of extensions: {e}"),
        })
    }

    /// Fails unless every official extension of `schematic` exists for Talos `version`.
    ///
    /// The factory accepts any extension name in `POST /schematics` and only fails when the
    /// image is built, so this runs before anything is paid for.
    ///
    /// # Errors
    /// [`Error::UnknownExtensions`] (invalid input) naming the missing extensions and the
    /// closest available names.
    pub async fn check_extensions(&self, schematic: &Schematic, version: &str) -> Result<(), Error> {
        if schematic.official_extensions().is_empty() {
            return image::check_version(version);
        }
        let available = self.official_extensions(version).await?;
        check_extensions_against(schematic, version, &available)
    }

    /// The URL of the Hetzner Cloud image of a schematic.
    pub fn image_url(
        &self,
        schematic: &SchematicId,
        version: &str,
        arch: Architecture,
        compression: Compression,
    ) -> Result<Url, Error> {
        image::hcloud_image_url(&self.base, schematic, version, arch, compression)
    }

    /// The installer reference, e.g. `factory.talos.dev/hcloud-installer/<id>:<version>`.
    pub fn installer_ref(&self, schematic: &SchematicId, version: &str) -> Result<String, Error> {
        image::hcloud_installer_ref(&self.base, schematic, version)
    }

    /// HEAD an image: makes the factory build and cache it, and learns its size before a
    /// server is paid for. Blocks until the asset exists (up to the image response timeout).
    pub async fn head_image(&self, url: &Url) -> Result<ImageHead, Error> {
        let response = self
            .http
            .head(url.clone())
            .timeout(self.timeouts.image_response)
            .send()
            .await
            .map_err(|source| transport(url, source))?;
        let status = response.status();
        if !status.is_success() {
            return Err(Error::Status {
                url: url.to_string(),
                status: status.as_u16(),
                body: String::new(),
            });
        }
        let header = |name: reqwest::header::HeaderName| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        Ok(ImageHead {
            url: response.url().clone(),
            content_length: header(reqwest::header::CONTENT_LENGTH).and_then(|v| v.parse().ok()),
            content_type: header(reqwest::header::CONTENT_TYPE),
        })
    }
}

/// The extension check without the request, for callers that already hold the list.
pub fn check_extensions_against(
    schematic: &Schematic,
    version: &str,
    available: &[OfficialExtension],
) -> Result<(), Error> {
    let missing: Vec<String> = schematic
        .official_extensions()
        .iter()
        .filter(|name| !available.iter().any(|e| &e.name == *name))
        .cloned()
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let suggestions = missing
        .iter()
        .filter_map(|name| suggest(name, available.iter().map(|e| e.name.as_str())).map(str::to_owned))
        .collect();
    Err(Error::UnknownExtensions {
        version: version.to_string(),
        missing,
        suggestions,
    })
}

/// Wraps a reqwest error (without its URL, which the variant names already).
pub(crate) fn transport(url: &Url, source: reqwest::Error) -> Error {
    Error::Request {
        url: url.to_string(),
        source: source.without_url(),
    }
}

/// The first line of an error body, shortened: factory errors are one plain-text line.
pub(crate) fn first_line(body: &str) -> String {
    let line = body.lines().next().unwrap_or("").trim();
    if line.chars().count() > 300 {
        let cut: String = line.chars().take(300).collect();
        format!("{cut}…")
    } else {
        line.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_is_warned_about_only_on_the_community_factory() {
        let mut schematic = Schematic::with_official_extensions(["siderolabs/qemu-guest-agent"]);
        let public = FactoryClient::new("https://factory.talos.dev/").expect("valid URL");
        let local = FactoryClient::new("http://127.0.0.1:9").expect("valid URL");
        assert_eq!(public.schematic_warnings(&schematic), []);
        schematic.owner = "ops@example.com".into();
        let warnings: Vec<String> = public
            .schematic_warnings(&schematic)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            warnings,
            [
                "the schematic sets `owner`, which the community Image Factory at https://factory.talos.dev refuses (\"owner field is only supported in Enterprise edition\"); remove it, or use an Enterprise factory"
            ]
        );
        assert_eq!(local.schematic_warnings(&schematic), []);
    }

    #[test]
    fn base_urls_are_checked() {
        assert!(FactoryClient::new("https://factory.talos.dev").is_ok());
        assert_eq!(
            FactoryClient::new("http://127.0.0.1:9/sub")
                .expect("ok")
                .base_url()
                .as_str(),
            "http://127.0.0.1:9/sub/"
        );
        for bad in ["factory.talos.dev", "ftp://x", "https://x/?q=1", "https://u:p@x/"] {
            let err = FactoryClient::new(bad).expect_err(bad);
            assert!(matches!(err, Error::InvalidUrl { .. }), "{bad}: {err}");
        }
    }

    #[test]
    fn missing_extensions_are_named_with_suggestions() {
        let available = vec![OfficialExtension {
            name: "siderolabs/qemu-guest-agent".into(),
            reference: "ghcr.io/siderolabs/qemu-guest-agent:9.2.0".into(),
            digest: String::new(),
            author: String::new(),
            description: String::new(),
        }];
        let ok = Schematic::with_official_extensions(["siderolabs/qemu-guest-agent"]);
        assert!(check_extensions_against(&ok, "v1.11.1", &available).is_ok());
        let typo = Schematic::with_official_extensions(["siderolabs/qemu-guest-agnet", "siderolabs/nope-nope-nope-x"]);
        let err = check_extensions_against(&typo, "v1.11.1", &available).expect_err("missing");
        let Error::UnknownExtensions {
            missing, suggestions, ..
        } = &err
        else {
            panic!("{err}")
        };
        assert_eq!(missing, &["siderolabs/qemu-guest-agnet", "siderolabs/nope-nope-nope-x"]);
        assert_eq!(suggestions, &["siderolabs/qemu-guest-agent"]);
        assert_eq!(
            err.to_string(),
            "Talos v1.11.1 has no official extension siderolabs/qemu-guest-agnet, siderolabs/nope-nope-nope-x"
        );
    }
}
