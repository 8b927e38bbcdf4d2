//! The JSON dumps of podlink's own records: ContainerConfig, ContainerStateData and
//! ContainerArtifacts.

use serde_json::Value;

use super::service::Containers;
use crate::engine::error::{Error, Result};

impl Containers {
    /// io.podman.ContainerConfig: the container's record.
    pub fn container_config(&self, name: &str) -> Result<Value> {
        let (_, record) = self.view_container(name)?;
        Ok(serde_json::to_value(&*record).unwrap_or(Value::Null))
    }

    /// io.podman.ContainerArtifacts: one artifact of the container: `create-config` (the
    /// configuration CreateContainer resolved), or a file of its bundle or run directory
    /// (`config.json`, `hosts`, `hostname`, `resolv.conf`).
    pub fn container_artifacts(&self, name: &str, artifact: &str) -> Result<Value> {
        let (_, record) = self.view_container(name)?;
        let id = &record.id;
        let path = match artifact {
            "create-config" => {
                return Ok(serde_json::to_value(&record.config).unwrap_or(Value::Null));
            }
            "config.json" | "spec" => self
                .store()
                .dir(id)
                .join(super::bundle::BUNDLE_DIR)
                .join("config.json"),
            "hosts" | "hostname" | "resolv.conf" => self.store().run_dir(id).join(artifact),
            other => {
                return Err(Error::invalid(
                    "artifact",
                    format!(
                        "no artifact {other:?}: create-config, config.json, hosts, hostname \
                         and resolv.conf exist"
                    ),
                ));
            }
        };
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io("read", &path, e))?;
        Ok(serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }
}
