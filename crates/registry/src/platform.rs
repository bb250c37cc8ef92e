//! Platforms and picking the entry of an image index (multi-arch manifest list).
//!
//! Names are normalized the way containerd does, so `x86_64` (what `docker info` reports)
//! and `amd64` (what indexes say) compare equal, `arm64/v8` equals `arm64`, and an `arm/v7`
//! host can run an `arm/v6` image but not the other way round.

use std::fmt;

use serde::Deserialize;

/// An `os/architecture[/variant]` triple as used in OCI image indexes.
///
/// Use the platform of the Docker daemon (its `/info` `OSType` and `Architecture`), not the
/// platform swab itself runs on: they differ when swab manages a remote host.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Platform {
    os: String,
    architecture: String,
    variant: Option<String>,
}

impl Platform {
    /// A platform from its parts; architecture names are normalized (`x86_64` -> `amd64`,
    /// `aarch64` -> `arm64`, `armv7l` -> `arm/v7`), and default variants dropped
    /// (`arm64/v8` -> `arm64`, `amd64/v1` -> `amd64`).
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Self {
        let os = os.trim().to_ascii_lowercase();
        let architecture = architecture.trim().to_ascii_lowercase();
        let variant = variant
            .map(|v| v.trim().to_ascii_lowercase())
            .filter(|v| !v.is_empty());
        let (architecture, variant) = match (architecture.as_str(), variant) {
            ("x86_64" | "x86-64" | "amd64", v) => ("amd64", v.filter(|v| v != "v1")),
            ("aarch64" | "arm64", v) => ("arm64", v.filter(|v| v != "v8" && v != "8")),
            ("armhf" | "armv7l" | "armv7", _) => ("arm", Some("v7".to_owned())),
            ("armel" | "armv6l" | "armv6", _) => ("arm", Some("v6".to_owned())),
            ("armv5l" | "armv5", _) => ("arm", Some("v5".to_owned())),
            // Docker treats a bare `arm` as v7.
            ("arm", v) => (
                "arm",
                Some(v.map_or_else(|| "v7".to_owned(), |v| arm_variant(&v))),
            ),
            ("i386" | "i686" | "386", v) => ("386", v),
            (other, v) => (other, v),
        };
        Self {
            os,
            architecture: architecture.to_owned(),
            variant,
        }
    }

    /// Parses `os/architecture[/variant]`, e.g. `linux/arm64/v8`. Returns `None` for any
    /// other shape.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split('/');
        let os = parts.next().filter(|s| !s.is_empty())?;
        let arch = parts.next().filter(|s| !s.is_empty())?;
        let variant = parts.next();
        if parts.next().is_some() {
            return None;
        }
        Some(Self::new(os, arch, variant))
    }

    /// The platform this process runs on. Only right when the Docker daemon is local;
    /// prefer the daemon's own `OSType`/`Architecture`.
    pub fn current() -> Self {
        Self::new(std::env::consts::OS, std::env::consts::ARCH, None)
    }

    /// `linux`, `windows`, ...
    pub fn os(&self) -> &str {
        &self.os
    }

    /// `amd64`, `arm64`, `arm`, ...
    pub fn architecture(&self) -> &str {
        &self.architecture
    }

    /// `v7`, ...; `None` when the architecture's default.
    pub fn variant(&self) -> Option<&str> {
        self.variant.as_deref()
    }

    /// How well an image for `candidate` runs here: `None` if it does not, higher is
    /// better. An `arm/v7` host runs `arm/v6` and `arm/v5` images, preferring the newest.
    fn compatibility(&self, candidate: &Self) -> Option<u8> {
        if self.os != candidate.os || self.architecture != candidate.architecture {
            return None;
        }
        if self.variant == candidate.variant {
            return Some(u8::MAX);
        }
        if self.architecture == "arm" {
            let host = arm_level(self.variant.as_deref())?;
            let image = arm_level(candidate.variant.as_deref())?;
            return (image <= host).then_some(image);
        }
        // An image without a variant is the baseline build of the architecture.
        candidate.variant.is_none().then_some(0)
    }
}

fn arm_variant(v: &str) -> String {
    if v.starts_with('v') {
        v.to_owned()
    } else {
        format!("v{v}")
    }
}

fn arm_level(variant: Option<&str>) -> Option<u8> {
    variant.unwrap_or("v7").strip_prefix('v')?.parse().ok()
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

/// What [`select_entry`] found in an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Selection {
    /// The digest of the best entry for the platform.
    Found(String),
    /// No entry runs on the platform; these platforms are offered.
    Missing(Vec<String>),
}

#[derive(Deserialize)]
struct RawIndex {
    #[serde(default)]
    manifests: Vec<RawDescriptor>,
}

#[derive(Deserialize)]
struct RawDescriptor {
    digest: String,
    platform: Option<RawPlatform>,
}

#[derive(Deserialize)]
struct RawPlatform {
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
    variant: Option<String>,
}

/// Picks the entry of an OCI image index or Docker manifest list that suits `platform`.
/// Entries without a platform and attestation manifests (`unknown/unknown`) never match.
/// On a tie the first entry wins, as in containerd.
pub(crate) fn select_entry(index: &[u8], platform: &Platform) -> Result<Selection, String> {
    let index: RawIndex =
        serde_json::from_slice(index).map_err(|e| format!("the image index is not valid: {e}"))?;
    let mut best: Option<(u8, &str)> = None;
    let mut offered = Vec::new();
    for entry in &index.manifests {
        let Some(raw) = &entry.platform else { continue };
        let candidate = Platform::new(&raw.os, &raw.architecture, raw.variant.as_deref());
        if candidate.os == "unknown" {
            continue;
        }
        if let Some(score) = platform.compatibility(&candidate)
            && best.is_none_or(|(s, _)| score > s)
        {
            best = Some((score, &entry.digest));
        }
        offered.push(candidate.to_string());
    }
    Ok(match best {
        Some((_, digest)) => Selection::Found(digest.to_owned()),
        None => Selection::Missing(offered),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const INDEX: &str = r#"{
      "schemaVersion": 2,
      "mediaType": "application/vnd.oci.image.index.v1+json",
      "manifests": [
        {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:amd64","size":1,
         "platform":{"architecture":"amd64","os":"linux"}},
        {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:armv6","size":1,
         "platform":{"architecture":"arm","os":"linux","variant":"v6"}},
        {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:armv7","size":1,
         "platform":{"architecture":"arm","os":"linux","variant":"v7"}},
        {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:arm64","size":1,
         "platform":{"architecture":"arm64","os":"linux","variant":"v8"}},
        {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:attest","size":1,
         "platform":{"architecture":"unknown","os":"unknown"}},
        {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:win","size":1,
         "platform":{"architecture":"amd64","os":"windows","os.version":"10.0.17763.1"}}
      ]
    }"#;

    fn select(platform: &str) -> Selection {
        select_entry(INDEX.as_bytes(), &Platform::parse(platform).unwrap()).unwrap()
    }

    #[test]
    fn selects_the_entry_for_the_platform() {
        let cases = [
            ("linux/amd64", "sha256:amd64"),
            ("linux/x86_64", "sha256:amd64"),
            ("linux/arm64", "sha256:arm64"),
            ("linux/aarch64", "sha256:arm64"),
            ("linux/arm64/v8", "sha256:arm64"),
            ("linux/arm/v7", "sha256:armv7"),
            ("linux/arm", "sha256:armv7"),
            ("linux/armv7l", "sha256:armv7"),
            ("linux/arm/v6", "sha256:armv6"),
            ("linux/arm/v8", "sha256:armv7"),
            ("windows/amd64", "sha256:win"),
        ];
        for (platform, digest) in cases {
            assert_eq!(
                select(platform),
                Selection::Found(digest.to_owned()),
                "{platform}"
            );
        }
    }

    #[test]
    fn missing_platform_lists_what_is_offered() {
        assert_eq!(
            select("linux/s390x"),
            Selection::Missing(vec![
                "linux/amd64".into(),
                "linux/arm/v6".into(),
                "linux/arm/v7".into(),
                "linux/arm64".into(),
                "windows/amd64".into(),
            ])
        );
        // arm/v5 cannot run v6 or v7 images.
        assert!(matches!(select("linux/arm/v5"), Selection::Missing(_)));
        // A variant build is not used for a host that needs a different variant.
        let v3_only = r#"{"manifests":[{"digest":"sha256:v3","platform":{"os":"linux","architecture":"amd64","variant":"v3"}}]}"#;
        assert!(matches!(
            select_entry(v3_only.as_bytes(), &Platform::parse("linux/amd64").unwrap()),
            Ok(Selection::Missing(_))
        ));
    }

    #[test]
    fn exact_variant_beats_baseline() {
        let index = r#"{"manifests":[
            {"digest":"sha256:base","platform":{"os":"linux","architecture":"amd64"}},
            {"digest":"sha256:v3","platform":{"os":"linux","architecture":"amd64","variant":"v3"}}]}"#;
        let v3 = Platform::new("linux", "amd64", Some("v3"));
        assert_eq!(
            select_entry(index.as_bytes(), &v3).unwrap(),
            Selection::Found("sha256:v3".into())
        );
        let v2 = Platform::new("linux", "amd64", Some("v2"));
        assert_eq!(
            select_entry(index.as_bytes(), &v2).unwrap(),
            Selection::Found("sha256:base".into())
        );
    }

    #[test]
    fn invalid_index_is_an_error() {
        assert!(select_entry(b"{\"manifests\": 3}", &Platform::current()).is_err());
        assert!(select_entry(b"not json", &Platform::current()).is_err());
    }

    #[test]
    fn normalizes_and_displays() {
        assert_eq!(
            Platform::new("Linux", "x86_64", None).to_string(),
            "linux/amd64"
        );
        assert_eq!(
            Platform::new("linux", "aarch64", Some("v8")).to_string(),
            "linux/arm64"
        );
        assert_eq!(
            Platform::new("linux", "arm", None).to_string(),
            "linux/arm/v7"
        );
        assert_eq!(
            Platform::new("linux", "arm", Some("6")).to_string(),
            "linux/arm/v6"
        );
        assert_eq!(Platform::parse("linux"), None);
        assert_eq!(Platform::parse("linux/amd64/v2/x"), None);
        assert_eq!(
            Platform::parse("linux/arm64/v8"),
            Some(Platform::new("linux", "arm64", None))
        );
    }
}
