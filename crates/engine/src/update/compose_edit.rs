//! Tag tracking with `compose_file: write`: the compose files of the Compose services that
//! move to a new tag are edited to name it, so that the next `docker compose up -d` agrees
//! with the update instead of going back to the old tag.
//!
//! Before anything is written, for each service, swab computes the config hash Compose
//! gives it ([`swab_compose::service_hash`]) for the image the file names now, and checks it
//! against the container's `com.docker.compose.config-hash` label. Only when they match does
//! it trust the hash it computes for the new image, which the replacements then carry: a
//! file swab cannot reproduce (a key it does not model, an interpolated variable, a Compose
//! version that hashes differently) refuses the update before any container stops, rather
//! than leaving containers Compose would recreate again.
//!
//! Each file is first copied to `<file>.swab-previous` (the backup), then replaced
//! atomically (a temporary file in the same directory, synced, renamed over it, with the
//! file's permissions). The journal records each edit before the write; a rollback, or the
//! next run's recovery, puts the backup back, but only over the text swab wrote (a file
//! someone edited since is left alone, and the problem reported).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;

use sha2::{Digest as _, Sha256};
use swab_compose::{ComposeFile, Project};

use crate::state::ComposeEdit;
use crate::updates::ComposeService;

/// One service to move: its containers' current `Config.Image` (the image as the file
/// spells it) and config-hash label.
#[derive(Debug, Clone)]
pub(super) struct ServiceNow {
    /// The service.
    pub service: ComposeService,
    /// The image its container was created from, as the compose file spelt it.
    pub image: String,
    /// Its container's `com.docker.compose.config-hash` label.
    pub config_hash: String,
}

/// An edit decided, not yet written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Planned {
    /// The journal entry (not yet `written`).
    pub edit: ComposeEdit,
    /// The file's text now.
    pub old_text: String,
    /// Its text after the edit.
    pub new_text: String,
}

/// The edits that move `services` from tag `old_tag` to `new_tag`, with the config hash of
/// each service after them; an error (for the report) when any service cannot be moved
/// exactly. Reads the compose files; writes nothing.
pub(super) fn plan(
    services: &[ServiceNow],
    old_tag: &str,
    new_tag: &str,
) -> Result<Vec<Planned>, String> {
    let mut planned: Vec<Planned> = Vec::new();
    for now in services {
        let ComposeService {
            project,
            service,
            files,
            working_dir,
        } = &now.service;
        let who = format!("Compose service {project}/{service}");
        let texts = files
            .iter()
            .map(|path| {
                // An earlier service of this update may have edited the file already:
                // this one's edit goes on top (its hash does not depend on the other's).
                match planned.iter().find(|p| &p.edit.path == path) {
                    Some(p) => Ok(p.new_text.clone()),
                    None => std::fs::read_to_string(path)
                        .map_err(|e| format!("{who}: cannot read the compose file {path}: {e}")),
                }
            })
            .collect::<Result<Vec<String>, String>>()?;
        let new_image = retagged(&now.image, old_tag, new_tag).ok_or_else(|| {
            format!(
                "{who}: its image `{}` does not end in the tag `{old_tag}`; not edited",
                now.image
            )
        })?;
        let compose_files: Vec<ComposeFile<'_>> = files
            .iter()
            .zip(&texts)
            .map(|(path, text)| ComposeFile { path, text })
            .collect();
        let project_files = Project {
            name: project,
            working_dir,
            files: &compose_files,
        };
        let cannot = |why: String| {
            format!(
                "{who}: swab cannot reproduce Compose's config hash for it ({why}), so `compose \
                 up` would recreate it once more; not updated"
            )
        };
        let current = swab_compose::service_hash(&project_files, service, &now.image)
            .map_err(|e| cannot(e.to_string()))?;
        if current != now.config_hash {
            return Err(cannot(format!(
                "computed {} for the file as it is, the container says {}",
                short(&current),
                short(&now.config_hash)
            )));
        }
        let hash = swab_compose::service_hash(&project_files, service, &new_image)
            .map_err(|e| cannot(e.to_string()))?;
        let (path, new_text) = edited(&who, files, &texts, service, &now.image, &new_image)?;
        match planned.iter_mut().find(|p| p.edit.path == path) {
            Some(p) => {
                p.new_text = new_text;
                p.edit.services.insert(service.clone(), hash);
            }
            None => {
                let old_text = texts[files.iter().position(|f| *f == path).unwrap_or(0)].clone();
                planned.push(Planned {
                    edit: ComposeEdit {
                        backup: backup_path(&path),
                        path,
                        project: project.clone(),
                        services: BTreeMap::from([(service.clone(), hash)]),
                        before: text_digest(&old_text),
                        after: String::new(),
                    },
                    old_text,
                    new_text,
                });
            }
        }
    }
    for p in &mut planned {
        p.edit.after = text_digest(&p.new_text);
    }
    Ok(planned)
}

/// The one file among `files` (with `texts`) whose `image:` for `service` is `old`, edited
/// to `new`. The service must name its image in exactly one of them.
fn edited(
    who: &str,
    files: &[String],
    texts: &[String],
    service: &str,
    old: &str,
    new: &str,
) -> Result<(String, String), String> {
    let mut found = Vec::new();
    for (path, text) in files.iter().zip(texts) {
        match swab_compose::set_image(text, service, old, new) {
            Ok(new_text) => found.push((path.clone(), new_text)),
            Err(
                swab_compose::EditError::ServiceNotFound { .. }
                | swab_compose::EditError::NoImage { .. },
            ) => {}
            Err(e) => return Err(format!("{who}: cannot edit {path}: {e}; not updated")),
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(format!(
            "{who}: no compose file names its image `{old}`; not updated"
        )),
        _ => Err(format!(
            "{who}: more than one compose file names its image; not updated"
        )),
    }
}

/// `image` with its tag `old` replaced by `new` (`reg/app:1.25.1` -> `reg/app:1.25.3`).
fn retagged(image: &str, old: &str, new: &str) -> Option<String> {
    let repo = image.strip_suffix(old)?.strip_suffix(':')?;
    (!repo.is_empty() && !repo.contains('@')).then(|| format!("{repo}:{new}"))
}

/// Where a compose file's backup goes: beside it, `<file>.swab-previous`.
fn backup_path(path: &str) -> String {
    format!("{path}.swab-previous")
}

/// SHA-256 of `text`, hex: what the journal remembers of the text swab wrote.
fn text_digest(text: &str) -> String {
    use std::fmt::Write as _;
    Sha256::digest(text.as_bytes())
        .iter()
        .fold(String::new(), |mut hex, b| {
            let _ = write!(hex, "{b:02x}");
            hex
        })
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}

/// Writes a planned edit (journalled before): the backup first, then the new text in place
/// of the old, if the file still holds the text it was planned from.
pub(super) fn write(planned: &Planned) -> Result<(), String> {
    let path = Path::new(&planned.edit.path);
    let now = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if now != planned.old_text {
        return Err(format!(
            "{} changed while the update ran; not edited",
            path.display()
        ));
    }
    replace(Path::new(&planned.edit.backup), &planned.old_text, path)?;
    replace(path, &planned.new_text, path)
}

/// Undoes a journalled edit: a file holding the text swab wrote gets its backup back; one
/// still holding the text from before (never written, or already restored) is left; one
/// edited since is left too, and that is an error for the report.
pub(crate) fn restore(edit: &ComposeEdit) -> Result<(), String> {
    let path = Path::new(&edit.path);
    let now = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {} to restore it: {e}", path.display()))?;
    let now = text_digest(&now);
    if now == edit.before {
        return Ok(());
    }
    if now != edit.after {
        return Err(format!(
            "{} was edited since swab wrote it: not restored (swab's backup is {})",
            path.display(),
            edit.backup
        ));
    }
    let backup = std::fs::read_to_string(&edit.backup)
        .map_err(|e| format!("cannot read the backup {}: {e}", edit.backup))?;
    if text_digest(&backup) != edit.before {
        return Err(format!(
            "the backup {} is not the file swab edited: {} not restored",
            edit.backup,
            path.display()
        ));
    }
    replace(path, &backup, path)
}

/// Replaces the file at `path` with `text` atomically, with the permissions of `like`.
fn replace(path: &Path, text: &str, like: &Path) -> Result<(), String> {
    let fail = |what: &str, e: std::io::Error| format!("cannot {what} {}: {e}", path.display());
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| fail("write beside", e))?;
    tmp.write_all(text.as_bytes())
        .map_err(|e| fail("write", e))?;
    if let Ok(meta) = std::fs::metadata(like) {
        let _ = std::fs::set_permissions(tmp.path(), meta.permissions());
    }
    tmp.as_file().sync_all().map_err(|e| fail("sync", e))?;
    tmp.persist(path).map_err(|e| fail("replace", e.error))?;
    if let Ok(dir) = std::fs::File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "services:\n  web:\n    # pinned by the team\n    image: reg.example/app:1.25.1  # tracked by swab\n    command: sleep 300\n    network_mode: none\n";

    fn service(dir: &Path, file: &Path) -> ServiceNow {
        ServiceNow {
            service: ComposeService {
                project: "shop".to_owned(),
                service: "web".to_owned(),
                files: vec![file.display().to_string()],
                working_dir: dir.display().to_string(),
            },
            image: "reg.example/app:1.25.1".to_owned(),
            config_hash: String::new(),
        }
    }

    fn hash(dir: &Path, file: &Path, text: &str, image: &str) -> String {
        let path = file.display().to_string();
        let files = [ComposeFile { path: &path, text }];
        let project = Project {
            name: "shop",
            working_dir: &dir.display().to_string(),
            files: &files,
        };
        swab_compose::service_hash(&project, "web", image).unwrap()
    }

    #[test]
    fn an_edit_is_planned_only_over_the_hash_the_container_carries() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("compose.yaml");
        std::fs::write(&file, FILE).unwrap();
        let mut now = service(dir.path(), &file);
        now.config_hash = "0123456789abcdef".to_owned();
        let err = plan(std::slice::from_ref(&now), "1.25.1", "1.25.3").unwrap_err();
        assert!(
            err.contains("cannot reproduce Compose's config hash")
                && err.contains("the container says 0123456789ab"),
            "{err}"
        );

        now.config_hash = hash(dir.path(), &file, FILE, "reg.example/app:1.25.1");
        let [planned] = plan(&[now], "1.25.1", "1.25.3")
            .unwrap()
            .try_into()
            .unwrap();
        assert_eq!(
            planned.new_text,
            FILE.replace("app:1.25.1  #", "app:1.25.3  #"),
            "only the value changes; comments stay"
        );
        assert_eq!(
            planned.edit.services["web"],
            hash(
                dir.path(),
                &file,
                &planned.new_text,
                "reg.example/app:1.25.3"
            )
        );
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            FILE,
            "nothing written"
        );
    }

    #[test]
    fn a_written_edit_keeps_a_backup_and_is_restored_only_over_what_swab_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("compose.yaml");
        std::fs::write(&file, FILE).unwrap();
        let mut now = service(dir.path(), &file);
        now.config_hash = hash(dir.path(), &file, FILE, "reg.example/app:1.25.1");
        let [planned] = plan(&[now], "1.25.1", "1.25.3")
            .unwrap()
            .try_into()
            .unwrap();
        let journalled = planned.edit.clone();
        // Not written yet (a crash before the write): nothing to restore.
        restore(&journalled).unwrap();
        write(&planned).unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), planned.new_text);
        assert_eq!(std::fs::read_to_string(&journalled.backup).unwrap(), FILE);
        restore(&journalled).unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), FILE);
        restore(&journalled).unwrap();

        // Someone edits the file after swab wrote it: the rollback leaves it.
        write(&planned).unwrap();
        std::fs::write(&file, "services: {}\n").unwrap();
        let err = restore(&journalled).unwrap_err();
        assert!(err.contains("was edited since swab wrote it"), "{err}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "services: {}\n");
        // And a file changed between planning and writing is not written.
        let err = write(&planned).unwrap_err();
        assert!(err.contains("changed while the update ran"), "{err}");
    }

    #[test]
    fn retagging_keeps_the_spelling() {
        assert_eq!(
            retagged("app:1.25.1", "1.25.1", "1.25.3").as_deref(),
            Some("app:1.25.3")
        );
        assert_eq!(
            retagged(
                "127.0.0.1:5000/x/app:1.25.1-alpine",
                "1.25.1-alpine",
                "1.25.3-alpine"
            )
            .as_deref(),
            Some("127.0.0.1:5000/x/app:1.25.3-alpine")
        );
        assert_eq!(retagged("app", "latest", "1"), None);
        assert_eq!(retagged("app:1.25.1@sha256:ab", "1.25.1", "2"), None);
    }
}
