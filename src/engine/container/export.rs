//! ExportContainer: a tarball of a container's filesystem.

use std::path::Path;

use super::service::Containers;
use crate::engine::error::{Error, Result};

impl Containers {
    /// io.podman.ExportContainer: a tarball of the container's filesystem at `path` on the
    /// server; returns `path`.
    pub fn export_container(&self, name: &str, path: &Path) -> Result<String> {
        let handle = self.find_container(name)?;
        let record = self.lock_container(&handle, name)?;
        let overlay = self.overlay_of(&record);
        self.use_rootfs(&record);
        overlay.mount()?;
        let result = self.frozen(&record, || {
            let file = std::fs::File::create(path).map_err(|e| Error::io("create", path, e))?;
            let mut builder = tar::Builder::new(std::io::BufWriter::new(file));
            builder.follow_symlinks(false);
            let root = std::fs::symlink_metadata(&overlay.merged)
                .map_err(|e| Error::io("stat", &overlay.merged, e))?;
            let mut header = tar::Header::new_gnu();
            header.set_metadata(&root);
            header.set_size(0);
            builder
                .append_data(&mut header, "./", std::io::empty())
                .map_err(|e| Error::io("write", path, e))?;
            // By descriptor and without recursion: the container shaped this tree.
            crate::engine::tree::walk(
                &overlay.merged,
                |entry| {
                    use std::os::unix::fs::MetadataExt;
                    let meta = entry.metadata()?;
                    let data = if meta.is_file() {
                        Some(entry.open_file()?)
                    } else {
                        None
                    };
                    let name = Path::new(".").join(entry.rel);
                    let owner = (meta.uid(), meta.gid());
                    super::diff::append_entry(&mut builder, entry, &meta, &name, owner, data)?;
                    Ok(crate::engine::tree::Next::Descend)
                },
                |_| Ok(()),
            )
            .map_err(|e| Error::io("write", path, e))?;
            builder
                .into_inner()
                .map_err(|e| Error::io("write", path, e))?
                .into_inner()
                .map_err(|e| Error::io("write", path, e.into_error()))?
                .sync_all()
                .map_err(|e| Error::io("write", path, e))
        });
        // Unmounted after the reply, unless the container runs or a client mounted it.
        self.done_with_rootfs(&record);
        result.map(|()| path.display().to_string())
    }
}
