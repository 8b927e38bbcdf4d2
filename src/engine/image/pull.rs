//! io.podman.PullImage: an image from a registry into the store.
//!
//! A name with a registry is pulled from it; a short name from each search registry of
//! registries.conf in turn, until one has it (`docker.io/NAME` is `docker.io/library/NAME`).
//! `docker://` is accepted in front of a name; `docker-archive:` and `oci-archive:` sources are
//! imported as ImportImage imports them.
//!
//! The manifest (narrowed to the host's platform when it is a list) and the config are read
//! whole, within limits; layers the store already has (by DiffID) are skipped; the others are
//! fetched a few at a time, each extracted as it streams in and checked against its digest
//! and DiffID. Nothing is listed until every layer is staged and the image is stored in one
//! step, so a failed or killed pull leaves only staging, which the next start removes.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, mpsc};

use oci_spec::image::Descriptor;
use serde_json::Value;

use super::commit::{NewImage, NewLayer};
use super::document::config_diff_ids;
use super::import::ImportOptions;
use super::reference::Reference;
use super::service::Images;
use crate::engine::error::{Error, Result};
use crate::engine::id::digest::Digest;
use crate::engine::registry::conf::RegistriesConf;
use crate::engine::registry::manifest::{self, Manifest, ManifestRef, RawManifest};
use crate::engine::registry::{CallOptions, Client, Kind, RegistryError, policy};
use crate::engine::storage::layers::StagedLayer;
use crate::engine::storage::origins::LayerOrigin;

/// The most bytes an image config may have (as containers/image allows).
pub const CONFIG_LIMIT: u64 = 8 * 1024 * 1024;

/// PullImage's input.
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// The image: a name (`[docker://]REGISTRY/REPO[:TAG|@DIGEST]`, or a short name), or a
    /// `docker-archive:`/`oci-archive:` source.
    pub name: String,
    /// TLS, certificates and credentials for this call.
    pub call: CallOptions,
    /// The signature policy file; `None`: the daemon's.
    pub signature_policy: Option<PathBuf>,
}

/// What a pull reports while it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullEvent {
    /// Trying a reference (a short name tries each search registry in turn).
    Trying(String),
    /// A layer: `done` of `total` bytes fetched; `present`: already in the store, skipped.
    Layer {
        /// The layer blob's digest.
        digest: String,
        /// Bytes fetched so far.
        done: u64,
        /// The blob's size.
        total: u64,
        /// Whether the store had the layer already.
        present: bool,
    },
}

/// Why a reference was not pulled: before its manifest was found (a short name may try the
/// next search registry), or after (the name exists there: that failure is the answer).
enum Failure {
    Before(Error),
    After(Error),
}

/// One layer to fetch.
struct Wanted {
    digest: Digest,
    diff_id: Digest,
    size: u64,
    media_type: String,
}

impl Images {
    /// io.podman.PullImage: pulls `options.name` and returns the image's ID. `progress` is
    /// called on this thread with what happens meanwhile.
    pub fn pull(
        &self,
        options: &PullOptions,
        progress: &mut dyn FnMut(PullEvent),
    ) -> Result<String> {
        let name = options.name.trim();
        let name = name.strip_prefix("docker://").unwrap_or(name);
        if name.starts_with("docker-archive:") || name.starts_with("oci-archive:") {
            return self.import_image(ImportOptions {
                source: name.to_string(),
                ..ImportOptions::default()
            });
        }
        let reference =
            Reference::parse(name).map_err(|e| Error::invalid("name", e.to_string()))?;
        let conf = self.registry.conf()?;
        let candidates = self.candidates(&reference, &conf)?;
        let short = candidates.len() > 1;
        let mut failures: Vec<RegistryError> = Vec::new();
        for candidate in &candidates {
            progress(PullEvent::Trying(candidate.normalized()));
            match self.pull_one(candidate, &conf, options, progress) {
                Ok(id) => return Ok(id),
                // A short name goes on to the next search registry while none has the name
                // (or could be asked); once one has it, its failure is the answer.
                Err(Failure::Before(Error::Registry(e))) if short => {
                    log::info!("{e}; trying the next search registry");
                    failures.push(e);
                }
                Err(Failure::Before(Error::Registry(e))) if e.is_not_found() => {
                    failures.push(e);
                }
                Err(Failure::Before(e) | Failure::After(e)) => return Err(e),
            }
        }
        let reasons: Vec<String> = failures.iter().map(ToString::to_string).collect();
        if failures.iter().all(RegistryError::is_not_found) {
            return Err(Error::ImageNotFound {
                name: options.name.clone(),
                reason: reasons.join("; "),
            });
        }
        Err(Error::invalid(
            "name",
            format!(
                "no search registry gave {:?}: {}",
                options.name,
                reasons.join("; ")
            ),
        ))
    }

    /// The references a name stands for: itself when it names a registry, else one per
    /// search registry.
    fn candidates(&self, reference: &Reference, conf: &RegistriesConf) -> Result<Vec<Reference>> {
        if !reference.is_short() {
            return Ok(vec![reference.clone()]);
        }
        if conf.search.is_empty() {
            return Err(Error::invalid(
                "name",
                format!(
                    "{:?} names no registry and {} lists no search registries",
                    reference.path,
                    self.registry.registries_conf.display()
                ),
            ));
        }
        Ok(conf
            .search
            .iter()
            .map(|registry| Reference {
                domain: Some(registry.clone()),
                ..reference.clone()
            })
            .collect())
    }

    /// Pulls one fully qualified reference.
    fn pull_one(
        &self,
        reference: &Reference,
        conf: &RegistriesConf,
        options: &PullOptions,
        progress: &mut dyn FnMut(PullEvent),
    ) -> std::result::Result<String, Failure> {
        let (client, repo, raw) = self
            .find_manifest(reference, conf, options)
            .map_err(Failure::Before)?;
        // From here the name exists: whatever fails is not "no such image" (a blob missing
        // or refused must not send a short name on to the next search registry).
        self.pull_found(&client, &repo, reference, raw, progress)
            .map_err(|e| match e {
                Error::Registry(e) => Error::Registry(e.kind(Kind::Other)),
                e => e,
            })
            .map_err(Failure::After)
    }

    /// Checks the policy, opens the registry and fetches the manifest `reference` names:
    /// (the session, the repository in it, the manifest).
    fn find_manifest(
        &self,
        reference: &Reference,
        conf: &RegistriesConf,
        options: &PullOptions,
    ) -> Result<(Client, String, RawManifest)> {
        let full = reference.repository();
        // registries.conf may send a name's pulls elsewhere (a mirror, a local copy).
        let source = conf.rewrite(&full);
        let (registry, repo) = source
            .split_once('/')
            .map(|(r, p)| (r.to_string(), p.to_string()))
            .unwrap_or_default();
        let policy = options
            .signature_policy
            .clone()
            .unwrap_or_else(|| self.registry.policy.clone());
        policy::check(&policy, &reference.normalized(), &full)
            .map_err(|e| RegistryError::new(&registry, "check signature policy", e))?;
        let client = Client::open(&self.registry, conf, &registry, &options.call)?;
        let pinned = match &reference.digest {
            Some(d) => Some(Digest::parse(d).map_err(|e| Error::invalid("name", e.to_string()))?),
            None => None,
        };
        let wanted = match (&pinned, reference.effective_tag()) {
            (Some(digest), _) => ManifestRef::Digest(digest),
            (None, tag) => ManifestRef::Tag(tag.unwrap_or(super::reference::DEFAULT_TAG)),
        };
        let raw = client.manifest(&repo, wanted)?;
        Ok((client, repo, raw))
    }

    /// The rest of a pull once its manifest (`raw`) is in.
    fn pull_found(
        &self,
        client: &Client,
        repo: &str,
        reference: &Reference,
        mut raw: RawManifest,
        progress: &mut dyn FnMut(PullEvent),
    ) -> Result<String> {
        let full = reference.repository();
        let step = format!("read manifest of {full}");
        if let Manifest::Index(index) = raw.parse(client, &step)? {
            let chosen = manifest::choose(&index, manifest::host_platform())
                .map_err(|e| client.error(&step, e))?;
            // The entry's digest pins the platform manifest: only sha256 is accepted.
            let digest = descriptor_digest(client, &step, chosen)?;
            raw = client.manifest(repo, ManifestRef::Digest(&digest))?;
        }
        let Manifest::Image(image) = raw.parse(client, &step)? else {
            return Err(client
                .error(&step, "a manifest list points at another manifest list")
                .into());
        };
        let config_digest = descriptor_digest(client, &step, image.config())?;
        // The config's digest is the image's ID: an image the store has is only named.
        if let Some(id) = self.name_if_stored(&config_digest, &reference.normalized())? {
            for layer in image.layers() {
                progress(PullEvent::Layer {
                    digest: layer.digest().to_string(),
                    done: layer.size(),
                    total: layer.size(),
                    present: true,
                });
            }
            return Ok(id);
        }
        let config_size = Some(image.config().size()).filter(|s| *s > 0);
        let config = client.blob_bytes(repo, &config_digest, config_size, CONFIG_LIMIT)?;
        let parsed: Value = serde_json::from_slice(&config).map_err(|e| {
            client.error(
                format!("read config {config_digest}"),
                format!("not JSON: {e}"),
            )
        })?;
        let diff_ids = config_diff_ids(&parsed)?;
        if diff_ids.len() != image.layers().len() {
            return Err(client
                .error(
                    &step,
                    format!(
                        "the manifest lists {} layers but the config {}",
                        image.layers().len(),
                        diff_ids.len()
                    ),
                )
                .into());
        }
        let mut layers: Vec<Option<NewLayer>> = Vec::new();
        let mut todo = Vec::new();
        for (descriptor, diff_id) in image.layers().iter().zip(&diff_ids) {
            let digest = descriptor_digest(client, &step, descriptor)?;
            let size = descriptor.size();
            // A layer listed twice (empty layers often are) is fetched once: the first
            // occurrence is adopted before the second is looked up.
            let listed_before = todo
                .iter()
                .any(|(_, w): &(usize, Wanted)| w.diff_id == *diff_id);
            if listed_before {
                layers.push(Some(NewLayer::Existing(diff_id.clone())));
            } else if self.layers.exists(diff_id) {
                progress(PullEvent::Layer {
                    digest: digest.to_string(),
                    done: size,
                    total: size,
                    present: true,
                });
                layers.push(Some(NewLayer::Existing(diff_id.clone())));
            } else {
                todo.push((
                    layers.len(),
                    Wanted {
                        digest,
                        diff_id: diff_id.clone(),
                        size,
                        media_type: descriptor.media_type().to_string(),
                    },
                ));
                layers.push(None);
            }
        }
        let staged = self.fetch_layers(client, repo, &todo, progress)?;
        for ((slot, wanted), staged) in todo.iter().zip(staged) {
            layers[*slot] = Some(NewLayer::Staged(staged));
            self.note_origin(
                &wanted.diff_id,
                LayerOrigin {
                    registry: client.registry().to_string(),
                    repository: repo.to_string(),
                    digest: wanted.digest.clone(),
                    media_type: wanted.media_type.clone(),
                    size: wanted.size,
                },
            );
        }
        self.store_image(NewImage {
            layers: layers
                .into_iter()
                .map(|l| l.expect("every layer is filled"))
                .collect(),
            config,
            manifest: raw.bytes,
            manifest_type: raw.media_type,
            names: vec![reference.normalized()],
        })
    }

    /// When the store has the image whose config digest is `config_digest`, gives it `name`
    /// and returns its ID.
    fn name_if_stored(&self, config_digest: &Digest, name: &str) -> Result<Option<String>> {
        let id = config_digest.hex();
        if !self.read().by_id.contains_key(id) {
            return Ok(None);
        }
        let mut index = self.write();
        if !index.by_id.contains_key(id) {
            // Removed meanwhile: pull it after all.
            return Ok(None);
        }
        self.move_names(&mut index, id, &[name.to_string()])?;
        Ok(Some(id.to_string()))
    }

    /// Fetches and stages `todo`, a few layers at once (see the module doc). The first
    /// failure stops the others; every staged layer is then dropped (and removed).
    fn fetch_layers(
        &self,
        client: &Client,
        repo: &str,
        todo: &[(usize, Wanted)],
        progress: &mut dyn FnMut(PullEvent),
    ) -> Result<Vec<StagedLayer>> {
        let results: Vec<Mutex<Option<Result<StagedLayer>>>> =
            todo.iter().map(|_| Mutex::new(None)).collect();
        let next = AtomicUsize::new(0);
        let cancel = AtomicBool::new(false);
        let workers = self.registry.parallel_layers.clamp(1, todo.len().max(1));
        std::thread::scope(|scope| {
            let (events, received) = mpsc::channel::<PullEvent>();
            for _ in 0..workers {
                let events = events.clone();
                let (next, cancel, results) = (&next, &cancel, &results);
                scope.spawn(move || {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= todo.len() || cancel.load(Ordering::Relaxed) {
                            break;
                        }
                        let outcome =
                            self.fetch_layer(client, repo, &todo[i].1, cancel, events.clone());
                        if outcome.is_err() {
                            cancel.store(true, Ordering::Relaxed);
                        }
                        *results[i].lock().unwrap() = Some(outcome);
                    }
                });
            }
            drop(events);
            for event in received {
                progress(event);
            }
        });
        let mut staged = Vec::new();
        let mut first_error = None;
        for (result, (_, wanted)) in results.into_iter().zip(todo) {
            match result.into_inner().unwrap() {
                Some(Ok(layer)) => staged.push(layer),
                // Stopped because another layer failed: that failure is the one to report.
                Some(Err(Error::Registry(e))) if e.reason.starts_with("stopped:") => {}
                Some(Err(e)) => {
                    first_error.get_or_insert(e);
                }
                None => log::debug!("layer {} not started: the pull failed", wanted.digest),
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(staged),
        }
    }

    /// Fetches one layer into staging.
    fn fetch_layer(
        &self,
        client: &Client,
        repo: &str,
        wanted: &Wanted,
        cancel: &AtomicBool,
        events: mpsc::Sender<PullEvent>,
    ) -> Result<StagedLayer> {
        let mut stream = client.blob(repo, &wanted.digest, Some(wanted.size), Some(cancel))?;
        let (digest, total) = (wanted.digest.to_string(), wanted.size);
        let _ = events.send(PullEvent::Layer {
            digest: digest.clone(),
            done: 0,
            total,
            present: false,
        });
        stream.on_progress(move |done| {
            let _ = events.send(PullEvent::Layer {
                digest: digest.clone(),
                done,
                total,
                present: false,
            });
        });
        let budget = self.budget();
        let staged = match self.layers.stage(&mut stream, &budget) {
            Ok(staged) => staged,
            // The stream's own failure says more than the extractor's wrapping of it.
            Err(e) => return Err(stream.failure().map_or_else(|| e.into(), Error::from)),
        };
        stream.finish()?;
        if staged.record.diff_id != wanted.diff_id {
            return Err(client
                .error(
                    format!("fetch blob {} of {repo}", wanted.digest),
                    format!(
                        "the layer unpacks to {}, but the config says {}",
                        staged.record.diff_id, wanted.diff_id
                    ),
                )
                .into());
        }
        Ok(staged)
    }
}

/// A descriptor's digest as podlink's `Digest` (only sha256 is supported).
fn descriptor_digest(client: &Client, step: &str, d: &Descriptor) -> Result<Digest> {
    Digest::parse(d.digest().as_ref()).map_err(|e| {
        client
            .error(step, format!("the manifest names blob {e}"))
            .into()
    })
}
