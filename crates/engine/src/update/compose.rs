//! What Compose puts into a container after creating it, so a replacement gets it too.
//!
//! Compose bind-mounts `configs:` and `secrets:` defined with `file:`; those are in the
//! container's `HostConfig.Mounts` and carried over with everything else. Those defined
//! with `content:` or `environment:` it copies into the created container before starting
//! it (`PUT /containers/{id}/archive`), so they exist only in the old container's
//! filesystem. swab reads the service's definitions from the project's compose files (the
//! container's `com.docker.compose.project.config_files` label) to know their paths, and
//! copies each file from the old container into the replacement before starting it.

use serde_json::Value;

/// The label naming the compose files (comma-separated) a container was created from.
pub(super) const CONFIG_FILES_LABEL: &str = "com.docker.compose.project.config_files";
/// The label naming the container's service.
pub(super) const SERVICE_LABEL: &str = "com.docker.compose.service";

/// The paths of the files Compose copies into `service`'s containers, from the project's
/// compose files in the order Compose reads them. A later file overrides a definition; the
/// service's `configs:`/`secrets:` lists of all files are taken together (Compose merges
/// them; a path the old container does not have is skipped when copying). An entry whose
/// name or target holds a `${VARIABLE}` is an error: Compose filled it in from an
/// environment swab does not know, so swab could not tell the path.
pub(super) fn injected_paths(documents: &[Value], service: &str) -> Result<Vec<String>, String> {
    let mut paths = Vec::new();
    for (kind, default_dir) in [("configs", "/"), ("secrets", "/run/secrets/")] {
        let uses = documents
            .iter()
            .filter_map(|d| d["services"][service][kind].as_array())
            .flatten();
        for entry in uses {
            let (source, target) = match entry {
                Value::String(source) => (source.as_str(), None),
                Value::Object(long) => match long.get("source").and_then(Value::as_str) {
                    Some(source) => (source, long.get("target").and_then(Value::as_str)),
                    None => continue,
                },
                _ => continue,
            };
            if let Some(text) = [Some(source), target]
                .into_iter()
                .flatten()
                .find(|t| t.contains('$'))
            {
                return Err(format!(
                    "the compose files name a {} entry of service {service} with a variable \
                     (`{text}`), which swab cannot fill in as Compose did",
                    &kind[..kind.len() - 1]
                ));
            }
            let defined = documents
                .iter()
                .rev()
                .find_map(|d| d[kind][source].as_object());
            let injected =
                defined.is_some_and(|d| d.contains_key("content") || d.contains_key("environment"));
            if !injected {
                continue;
            }
            let path = match target {
                Some(t) if t.starts_with('/') => t.to_owned(),
                Some(t) => format!("{default_dir}{t}"),
                None => format!("{default_dir}{source}"),
            };
            if !paths.contains(&path) {
                paths.push(path);
            }
        }
    }
    Ok(paths)
}

/// Reads and parses the compose files a container's labels name; `None` for a container
/// Compose did not create. A file that cannot be read or parsed is an error: swab could
/// not tell what to carry over.
pub(super) fn documents(labels: &Value) -> Option<Result<(String, Vec<Value>), String>> {
    let service = labels[SERVICE_LABEL].as_str()?;
    let files = labels[CONFIG_FILES_LABEL].as_str()?;
    let mut documents = Vec::new();
    for file in files.split(',').map(str::trim).filter(|f| !f.is_empty()) {
        let parsed = std::fs::read_to_string(file)
            .map_err(|e| format!("cannot read the compose file {file}: {e}"))
            .and_then(|text| {
                serde_saphyr::from_str::<Value>(&text)
                    .map_err(|e| format!("cannot parse the compose file {file}: {e}"))
            });
        match parsed {
            Ok(document) => documents.push(document),
            Err(err) => return Some(Err(err)),
        }
    }
    Some(Ok((service.to_owned(), documents)))
}

/// The directory a file is extracted into, and the file's name.
pub(super) fn parent(path: &str) -> &str {
    match path.rsplit_once('/') {
        Some(("", _)) | None => "/",
        Some((dir, _)) => dir,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn only_content_and_environment_definitions_are_copied_at_compose_paths() {
        let base = json!({
            "services": {"web": {
                "configs": [
                    "inline",
                    {"source": "relative", "target": "etc/app.conf"},
                    {"source": "absolute", "target": "/opt/app.conf"},
                    "from-file",
                ],
                "secrets": ["token", {"source": "env-secret", "target": "api"}, "file-secret"],
            }},
            "configs": {
                "inline": {"content": "x"},
                "relative": {"content": "y"},
                "absolute": {"environment": "APP_CONF"},
                "from-file": {"file": "./cfg"},
            },
            "secrets": {
                "token": {"content": "t"},
                "env-secret": {"environment": "API"},
                "file-secret": {"file": "./s"},
            },
        });
        assert_eq!(
            injected_paths(std::slice::from_ref(&base), "web").unwrap(),
            [
                "/inline",
                "/etc/app.conf",
                "/opt/app.conf",
                "/run/secrets/token",
                "/run/secrets/api"
            ]
        );
        assert!(
            injected_paths(std::slice::from_ref(&base), "worker")
                .unwrap()
                .is_empty()
        );
        // A later file overrides a definition: `inline` now comes from a file; and adds a
        // config of its own to the service's list, which Compose merges with the first.
        let override_file = json!({
            "services": {"web": {"configs": [{"source": "extra", "target": "/extra.conf"}]}},
            "configs": {"inline": {"file": "./inline"}, "extra": {"content": "z"}},
        });
        let paths = injected_paths(&[base, override_file], "web").unwrap();
        assert_eq!(paths[0], "/etc/app.conf");
        assert!(paths.contains(&"/extra.conf".to_owned()), "{paths:?}");
        assert!(!paths.contains(&"/inline".to_owned()), "{paths:?}");

        let variable = json!({
            "services": {"web": {"configs": [{"source": "app", "target": "${CONF_DIR}/app.conf"}]}},
            "configs": {"app": {"content": "x"}},
        });
        assert_eq!(
            injected_paths(&[variable], "web").unwrap_err(),
            "the compose files name a config entry of service web with a variable \
             (`${CONF_DIR}/app.conf`), which swab cannot fill in as Compose did"
        );
    }

    #[test]
    fn parents() {
        assert_eq!(parent("/inline"), "/");
        assert_eq!(parent("/run/secrets/token"), "/run/secrets");
    }
}
