//! COPY and ADD: sources from the context (or, with `--from`, an earlier stage or an image),
//! written as one tarball and written into the stage's working container (`apply.rs`). Nothing outside the
//! source root is reachable: a source path is resolved, symlinks included, and must stay
//! under the root; symlinks inside copied directories are copied as symlinks, never
//! followed. ADD also extracts a local tar archive and fetches an http(s) URL.

use std::fs::File;
use std::io::{Read, Seek};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use parse_dockerfile::{AddInstruction, CopyInstruction, Flag, Source};

use super::context::{chown, escapes_ok, ignored, resolve};
use super::state::StageState;
use super::state::absolute;
use super::vars;
use super::{Build, step_error};
use crate::engine::error::{Error, Result};

/// What a COPY or ADD takes.
struct Sources<'a, 'b> {
    what: &'static str,
    options: &'b [Flag<'a>],
    src: &'b [Source<'a>],
    dest: &'b str,
    /// ADD: archives extracted, URLs fetched.
    add: bool,
}

/// Runs COPY.
pub(super) fn copy(
    build: &mut Build,
    state: &mut StageState,
    c: &CopyInstruction,
    ins_text: &str,
    line: usize,
) -> Result<()> {
    let s = Sources {
        what: "COPY",
        options: &c.options,
        src: &c.src,
        dest: &c.dest.value,
        add: false,
    };
    transfer(build, state, &s, ins_text, line)
}

/// Runs ADD.
pub(super) fn add(
    build: &mut Build,
    state: &mut StageState,
    a: &AddInstruction,
    ins_text: &str,
    line: usize,
) -> Result<()> {
    let s = Sources {
        what: "ADD",
        options: &a.options,
        src: &a.src,
        dest: &a.dest.value,
        add: true,
    };
    transfer(build, state, &s, ins_text, line)
}

/// A tarball being written for a new layer.
struct LayerTar {
    tar: tar::Builder<File>,
    uid: u64,
    gid: u64,
}

fn transfer(
    build: &mut Build,
    state: &mut StageState,
    s: &Sources,
    ins_text: &str,
    line: usize,
) -> Result<()> {
    let what = s.what;
    let err = |e: String| step_error(what, line, e);
    let vars = state.vars();
    let mut from = None;
    let (mut uid, mut gid) = (0, 0);
    for flag in s.options {
        let value = flag
            .value
            .as_ref()
            .map(|v| v.value.to_string())
            .unwrap_or_default();
        match &*flag.name.value {
            "from" => from = Some(vars::word(&value, &vars).map_err(err)?),
            "chown" => {
                // The stage's files as they are now: its working container's, else its base's.
                let layers: Vec<PathBuf> = match (&state.work, &state.image) {
                    (Some(w), _) => vec![w.root.clone()],
                    (None, Some(i)) => {
                        let store = build.containers.images().layers();
                        i.record
                            .layers
                            .iter()
                            .rev()
                            .map(|l| store.diff_dir(l))
                            .collect()
                    }
                    (None, None) => Vec::new(),
                };
                let value = vars::word(&value, &vars).map_err(err)?;
                (uid, gid) = chown(&value, &layers).map_err(err)?;
            }
            "link" | "chmod" => {}
            other => return Err(err(format!("unknown flag --{other}"))),
        }
    }
    let workdir = state
        .settings
        .get("WorkingDir")
        .and_then(|v| v.as_str())
        .unwrap_or("/")
        .to_string();
    let dest_raw = vars::word(s.dest, &vars).map_err(err)?;
    let dest = absolute(&workdir, &dest_raw);
    let many = s.src.len() > 1;
    let dest_is_dir = dest_raw.ends_with('/') || dest_raw.ends_with("/.") || many;
    let file = temp_file(build)?;
    let mut out = LayerTar {
        tar: tar::Builder::new(file),
        uid,
        gid,
    };
    out.tar.follow_symlinks(false);
    dirs_into(&mut out, &std::mem::take(&mut state.pending_dirs))?;
    // An image or stage given to --from is read through a container's mounted files.
    let mounted = match &from {
        Some(name) => Some(mount_from(build, name).map_err(|e| err(e.to_string()))?),
        None => None,
    };
    let root = match &mounted {
        Some((_, path)) => path.clone(),
        None => build.context.clone(),
    };
    let delimiters = super::heredoc::delimiters(ins_text.lines().next().unwrap_or_default());
    let mut docs = 0;
    let written = (|| -> Result<()> {
        for src in s.src {
            match src {
                Source::HereDoc(doc) => {
                    // Named after its delimiter in a directory (`COPY <<run.sh /app/`).
                    let name = delimiters
                        .get(docs)
                        .cloned()
                        .unwrap_or_else(|| "EOF".into());
                    docs += 1;
                    let target = if dest_is_dir {
                        format!("{dest}/{name}")
                    } else {
                        dest.clone()
                    };
                    file_entry(&mut out, &target, doc.value.as_bytes(), 0o644, 0)?;
                }
                Source::Path(p) => {
                    let src = vars::word(&p.value, &vars).map_err(err)?;
                    if s.add && (src.starts_with("http://") || src.starts_with("https://")) {
                        let spool = temp_file(build)?;
                        fetch(&mut out, spool, &src, &dest, dest_is_dir).map_err(err)?;
                        continue;
                    }
                    let ignore = if from.is_none() {
                        build.ignore.as_slice()
                    } else {
                        &[]
                    };
                    let matches = match &from {
                        Some(name) if !src.contains(['*', '?', '[']) => {
                            from_image(&root, &src, name).map_err(err)?
                        }
                        _ => resolve(&root, &src, ignore).map_err(err)?,
                    };
                    if matches.is_empty() {
                        return Err(err(format!("no source files were specified: {src:?}")));
                    }
                    let several = matches.len() > 1 || dest_is_dir;
                    for (rel, path) in matches {
                        let meta = std::fs::metadata(&path).map_err(|e| err(e.to_string()))?;
                        if meta.is_dir() {
                            tree(&mut out, &path, &rel, &dest, ignore)?;
                        } else if s.add && from.is_none() && is_archive(&path) {
                            extract(&mut out, &path, &dest).map_err(err)?;
                        } else {
                            let name = rel.rsplit('/').next().unwrap_or(&rel);
                            let target = if several {
                                format!("{dest}/{name}")
                            } else {
                                dest.clone()
                            };
                            copy_file(&mut out, &path, &meta, &target)?;
                        }
                    }
                }
                _ => return Err(err("unsupported source".into())),
            }
        }
        Ok(())
    })();
    if let Some((container, _)) = mounted {
        let containers = build.containers;
        let _ = containers.unmount_container(&container, true);
        if let Err(e) = containers.remove_container(&container, true) {
            log::warn!("build: removing {container}: {e}");
        }
    }
    written?;
    let mut file = out.tar.into_inner().map_err(|e| err(e.to_string()))?;
    commit_tar(build, state, &mut file)?;
    state.record(&format!("/bin/sh -c #(nop) {ins_text}"), false);
    Ok(())
}

/// Writes a layer tarball into the stage's working container.
fn commit_tar(build: &mut Build, state: &mut StageState, file: &mut File) -> Result<()> {
    file.rewind().map_err(|e| Error::io("rewind", "layer", e))?;
    let root = super::work::ensure(build, state)?;
    super::apply::apply_tar(&root, file)
}

/// Makes the directories WORKDIR named in the working container, if any is pending.
pub(super) fn flush_dirs(build: &mut Build, state: &mut StageState) -> Result<()> {
    if state.pending_dirs.is_empty() {
        return Ok(());
    }
    let mut out = LayerTar {
        tar: tar::Builder::new(temp_file(build)?),
        uid: 0,
        gid: 0,
    };
    dirs_into(&mut out, &std::mem::take(&mut state.pending_dirs))?;
    let mut file = out
        .tar
        .into_inner()
        .map_err(|e| Error::io("write", "layer", e))?;
    commit_tar(build, state, &mut file)
}

fn temp_file(build: &Build) -> Result<File> {
    let tmp = build
        .containers
        .root()
        .join(crate::engine::storage::TMP_DIR);
    Ok(crate::engine::storage::unlinked_temp_file(&tmp, "build")?)
}

fn dirs_into(out: &mut LayerTar, dirs: &[String]) -> Result<()> {
    for d in dirs {
        if d != "/" {
            dir_entry(out, d, 0o755, 0)?;
        }
    }
    Ok(())
}

fn header(out: &LayerTar, kind: tar::EntryType, mode: u32, mtime: u64, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_mtime(mtime);
    h.set_size(size);
    h.set_uid(out.uid);
    h.set_gid(out.gid);
    h
}

fn tar_err(e: std::io::Error) -> Error {
    Error::io("write", "layer", e)
}

fn dir_entry(out: &mut LayerTar, path: &str, mode: u32, mtime: u64) -> Result<()> {
    let mut h = header(out, tar::EntryType::Directory, mode, mtime, 0);
    out.tar
        .append_data(&mut h, path.trim_start_matches('/'), std::io::empty())
        .map_err(tar_err)
}

fn file_entry(out: &mut LayerTar, path: &str, data: &[u8], mode: u32, mtime: u64) -> Result<()> {
    let mut h = header(out, tar::EntryType::Regular, mode, mtime, data.len() as u64);
    out.tar
        .append_data(&mut h, path.trim_start_matches('/'), data)
        .map_err(tar_err)
}

/// Copies one regular file; a symlink swapped in for it meanwhile is refused.
fn copy_file(
    out: &mut LayerTar,
    path: &Path,
    meta: &std::fs::Metadata,
    target: &str,
) -> Result<()> {
    let file = std::os::unix::fs::OpenOptionsExt::custom_flags(
        File::options().read(true),
        libc::O_NOFOLLOW | libc::O_NONBLOCK,
    )
    .open(path)
    .map_err(|e| Error::io("open", path, e))?;
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return Err(Error::invalid(
            "build",
            format!("{}: not a regular file", path.display()),
        ));
    }
    let mut h = header(
        out,
        tar::EntryType::Regular,
        meta.mode() & 0o7777,
        meta.mtime().max(0) as u64,
        meta.len(),
    );
    out.tar
        .append_data(&mut h, target.trim_start_matches('/'), file)
        .map_err(tar_err)
}

/// A directory's contents (not the directory itself, as Docker does) under `dest`; `rel`:
/// its path in the context, for `.dockerignore`. The walk goes by directory descriptor and
/// follows no symlink (`tree::walk`): the symlinks in it are copied as symlinks, and one
/// swapped in for a file or directory while it is read is refused, never followed.
fn tree(out: &mut LayerTar, dir: &Path, rel: &str, dest: &str, ignore: &[String]) -> Result<()> {
    let meta = std::fs::metadata(dir).map_err(|e| Error::io("stat", dir, e))?;
    let dest = dest.trim_end_matches('/');
    if !dest.is_empty() {
        dir_entry(out, dest, meta.mode() & 0o7777, meta.mtime().max(0) as u64)?;
    }
    let io = |e: Error| std::io::Error::other(e.to_string());
    crate::engine::tree::walk(
        dir,
        |entry| {
            let sub = entry.rel.to_string_lossy();
            let in_context = match rel.trim_matches('/') {
                "" => sub.to_string(),
                base => format!("{base}/{sub}"),
            };
            if ignored(&in_context, ignore) {
                return Ok(crate::engine::tree::Next::Skip);
            }
            let target = format!("{dest}/{sub}");
            let meta = entry.metadata()?;
            let mtime = meta.mtime().max(0) as u64;
            if meta.is_dir() {
                dir_entry(out, &target, meta.mode() & 0o7777, mtime).map_err(io)?;
            } else if meta.file_type().is_symlink() {
                let link = std::fs::read_link(entry.path())?;
                let mut h = header(out, tar::EntryType::Symlink, 0o777, mtime, 0);
                out.tar
                    .append_link(&mut h, target.trim_start_matches('/'), &link)?;
            } else if meta.is_file() {
                let file = entry.open_file()?;
                let mut h = header(
                    out,
                    tar::EntryType::Regular,
                    meta.mode() & 0o7777,
                    mtime,
                    meta.len(),
                );
                out.tar
                    .append_data(&mut h, target.trim_start_matches('/'), file)?;
            }
            Ok(crate::engine::tree::Next::Descend)
        },
        |_| Ok(()),
    )
    .map_err(|e| Error::io("read", dir, e))
}

fn is_archive(path: &Path) -> bool {
    let mut magic = [0u8; 512];
    let Ok(mut f) = File::open(path) else {
        return false;
    };
    let n = f.read(&mut magic).unwrap_or(0);
    magic[..n.min(2)] == [0x1f, 0x8b]
        || magic[..n.min(6)] == [0xfd, b'7', b'z', b'X', b'Z', 0]
        || (n >= 262 && &magic[257..262] == b"ustar")
}

/// ADD of a local archive: its entries under `dest`, paths kept inside.
fn extract(out: &mut LayerTar, path: &Path, dest: &str) -> std::result::Result<(), String> {
    let mut f = File::open(path).map_err(|e| e.to_string())?;
    let mut magic = [0u8; 6];
    let n = f.read(&mut magic).map_err(|e| e.to_string())?;
    f.rewind().map_err(|e| e.to_string())?;
    let reader: Box<dyn Read> = if n >= 2 && magic[..2] == [0x1f, 0x8b] {
        Box::new(flate2::read::MultiGzDecoder::new(f))
    } else if n == 6 && magic[..6] == [0xfd, b'7', b'z', b'X', b'Z', 0] {
        Box::new(xz2::read::XzDecoder::new(f))
    } else {
        Box::new(f)
    };
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        let name = entry
            .path()
            .map_err(|e| e.to_string())?
            .to_string_lossy()
            .to_string();
        if !escapes_ok(&name) {
            return Err(format!(
                "{}: entry {name:?} leaves the archive",
                path.display()
            ));
        }
        let target = absolute(dest, &name);
        let mut h = entry.header().clone();
        if let Some(link) = entry.link_name().map_err(|e| e.to_string())? {
            let link = link.to_path_buf();
            let link = if h.entry_type() == tar::EntryType::Link {
                PathBuf::from(absolute(dest, &link.to_string_lossy()).trim_start_matches('/'))
            } else {
                link
            };
            out.tar
                .append_link(&mut h, target.trim_start_matches('/'), link)
                .map_err(|e| e.to_string())?;
        } else {
            out.tar
                .append_data(&mut h, target.trim_start_matches('/'), &mut entry)
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// The largest body ADD takes from a URL.
const URL_LIMIT: u64 = 1 << 30;

/// ADD of a URL: the body as a file (named after the URL's last segment when `dest` is a
/// directory), streamed through the unlinked temporary file `spool`, never held in memory.
fn fetch(
    out: &mut LayerTar,
    spool: File,
    url: &str,
    dest: &str,
    dest_is_dir: bool,
) -> std::result::Result<(), String> {
    let response = ureq::get(url).call().map_err(|e| format!("{url}: {e}"))?;
    let reader = response.into_body().into_reader();
    let (mut file, size) =
        spool_body(reader, spool, URL_LIMIT).map_err(|e| format!("{url}: {e}"))?;
    let name = url
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or("download");
    let target = if dest_is_dir {
        format!("{dest}/{name}")
    } else {
        dest.to_string()
    };
    let mut h = header(out, tar::EntryType::Regular, 0o600, 0, size);
    out.tar
        .append_data(&mut h, target.trim_start_matches('/'), &mut file)
        .map_err(|e| e.to_string())
}

/// Copies `body` into `spool`, refusing more than `limit` bytes; returns the file, rewound,
/// and the size.
fn spool_body(body: impl Read, mut spool: File, limit: u64) -> std::io::Result<(File, u64)> {
    let size = std::io::copy(&mut body.take(limit + 1), &mut spool)?;
    if size > limit {
        return Err(std::io::Error::other(format!(
            "the body is larger than the limit of {limit} bytes"
        )));
    }
    spool.rewind()?;
    Ok((spool, size))
}

/// A source path in the root filesystem of image or stage `name` (mounted at `root`),
/// every symlink on the way (absolute ones too) resolved inside that root, as chroot would:
/// never on the host. (The image's container never runs, so nothing changes it meanwhile.)
fn from_image(
    root: &Path,
    src: &str,
    name: &str,
) -> std::result::Result<Vec<(String, PathBuf)>, String> {
    let path = crate::engine::volume::resolve_in_root(root, &absolute("/", src))
        .ok_or_else(|| format!("{src:?}: no such file or directory in {name}"))?;
    let base = absolute("/", src);
    let rel = base.rsplit('/').next().unwrap_or_default().to_string();
    Ok(vec![(rel, path)])
}

/// A container on image or stage `name`, mounted: (its ID, its root filesystem).
fn mount_from(build: &mut Build, name: &str) -> Result<(String, PathBuf)> {
    let images = build.containers.images();
    let image = match build.stages.get(&name.to_ascii_lowercase()) {
        Some(id) => images.resolve(id)?,
        None => images.resolve(name)?,
    };
    let options = crate::engine::container::create::options::CreateOptions {
        image: image.record.id.to_string(),
        command: vec!["/".into()],
        entrypoint: Some(Vec::new()),
        net_mode: "none".into(),
        ..Default::default()
    };
    let id = build.containers.create_container(options)?;
    build.journal.container(&id);
    match build.containers.mount_container(&id) {
        Ok(path) => Ok((id, path)),
        Err(e) => {
            let _ = build.containers.remove_container(&id, true);
            Err(e)
        }
    }
}

/// For the cache: a digest of what a COPY or ADD would take (`Some("")` for any other
/// instruction): its context sources' content, or the ID of the image or stage `--from`
/// names. `None`: it cannot be known without running it (ADD of a URL).
pub(super) fn sources_key(
    build: &Build,
    state: &StageState,
    ins: &parse_dockerfile::Instruction,
) -> Result<Option<String>> {
    let (options, src, add) = match ins {
        parse_dockerfile::Instruction::Copy(c) => (&c.options, &c.src, false),
        parse_dockerfile::Instruction::Add(a) => (&a.options, &a.src, true),
        _ => return Ok(Some(String::new())),
    };
    let vars = state.vars();
    let invalid = |e: String| Error::invalid("build", e);
    let mut from = None;
    for flag in options {
        if &*flag.name.value == "from" {
            let value = flag.value.as_ref().map(|v| v.value.to_string());
            from = Some(vars::word(&value.unwrap_or_default(), &vars).map_err(invalid)?);
        }
    }
    if let Some(name) = from {
        let images = build.containers.images();
        let image = match build.stages.get(&name.to_ascii_lowercase()) {
            Some(id) => images.resolve(id)?,
            None => images.resolve(&name)?,
        };
        return Ok(Some(format!("from {}", image.record.id)));
    }
    let mut matches = Vec::new();
    for s in src {
        if let Source::Path(p) = s {
            let path = vars::word(&p.value, &vars).map_err(invalid)?;
            if add && (path.starts_with("http://") || path.starts_with("https://")) {
                return Ok(None);
            }
            // A source that does not resolve fails when the instruction runs, with its line.
            match resolve(&build.context, &path, &build.ignore) {
                Ok(found) => matches.extend(found),
                Err(_) => return Ok(None),
            }
        }
    }
    let digest = super::cache::content(&matches, &build.ignore)
        .map_err(|e| Error::io("read", &build.context, e))?;
    Ok(Some(digest))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_url_body_is_spooled_with_a_limit() {
        let spool = tempfile::tempfile().unwrap();
        let (mut file, size) = super::spool_body(&b"12345"[..], spool, 5).unwrap();
        let mut back = String::new();
        std::io::Read::read_to_string(&mut file, &mut back).unwrap();
        assert_eq!((size, back.as_str()), (5, "12345"));
        let spool = tempfile::tempfile().unwrap();
        let err = super::spool_body(&b"123456"[..], spool, 5).unwrap_err();
        assert!(err.to_string().contains("limit of 5 bytes"), "{err}");
    }
}
