//! The only module allowed `unsafe`: calls that neither std nor nix wrap safely.
//!
//! Each function keeps its unsafety inside and documents why it holds. Nothing here knows
//! about varlink, images or containers.

use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// The first file descriptor systemd passes (`SD_LISTEN_FDS_START`).
const LISTEN_FDS_START: RawFd = 3;
const LISTEN_VARS: [&str; 3] = ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"];

/// One socket passed by systemd socket activation.
#[derive(Debug)]
pub struct ActivatedSocket {
    /// The socket, now owned by this process and close-on-exec.
    pub fd: OwnedFd,
    /// Its name from `LISTEN_FDNAMES` (`FileDescriptorName=`), or "" when none was given.
    pub name: String,
}

/// Takes the sockets systemd passed (`LISTEN_PID`/`LISTEN_FDS`/`LISTEN_FDNAMES`), marks them
/// close-on-exec and unsets the three variables so no child sees them.
///
/// Must be called before the process starts any thread: it changes the environment, and it
/// takes ownership of descriptors that nothing else may have claimed yet. `main` calls it first.
pub fn take_socket_activation() -> Vec<ActivatedSocket> {
    let pid = std::env::var("LISTEN_PID").ok();
    let count = std::env::var("LISTEN_FDS").ok();
    let names = std::env::var("LISTEN_FDNAMES").unwrap_or_default();
    for var in LISTEN_VARS {
        // SAFETY: called from main before any thread exists, so nothing reads the environment
        // concurrently (the edition-2024 reason `remove_var` is unsafe).
        unsafe { std::env::remove_var(var) };
    }
    let ours = pid.and_then(|p| p.parse::<u32>().ok()) == Some(std::process::id());
    let count = count.and_then(|c| c.parse::<RawFd>().ok()).unwrap_or(0);
    if !ours || count <= 0 {
        return Vec::new();
    }
    let mut names = names.split(':');
    (LISTEN_FDS_START..LISTEN_FDS_START + count)
        .filter_map(|raw| {
            let name = names.next().unwrap_or_default().to_string();
            // libc rather than nix: nix's fcntl wants a BorrowedFd, which we cannot have for a
            // number we do not own yet. This also checks the descriptor is open.
            // SAFETY: fcntl(F_SETFD) on a descriptor number touches no memory; on a closed
            // number it fails with EBADF.
            if unsafe { libc::fcntl(raw, libc::F_SETFD, libc::FD_CLOEXEC) } != 0 {
                return None;
            }
            // SAFETY: systemd passed this descriptor to this pid (LISTEN_PID matched), it is
            // open (F_SETFD succeeded), and nothing in this process has claimed it: this runs
            // before any other code opens or adopts descriptors.
            let fd = unsafe { OwnedFd::from_raw_fd(raw) };
            Some(ActivatedSocket { fd, name })
        })
        .collect()
}

/// Marks every descriptor above stderr close-on-exec, so that nothing this process inherited
/// (a jobserver pipe, a leaked descriptor of the caller) reaches the processes it starts.
/// Descriptors stay open: whoever passed them may rely on that until we exec.
pub fn mark_inherited_fds_cloexec() {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<RawFd> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd > 2)
        .collect();
    for fd in fds {
        // libc rather than nix, as above: these numbers are not ours to own. The one that
        // was the directory stream is closed by now and fails with EBADF, harmlessly.
        // SAFETY: F_GETFD/F_SETFD on a descriptor number touch no memory.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags >= 0 {
                libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
            }
        }
    }
}

/// Forks; the parent exits at once with status 0 and the child returns. The monitor calls
/// this first so that it is no child of the service: the service reaps the short-lived
/// parent, and the monitor, reparented, outlives the service.
///
/// Must be called while the process has a single thread (fork copies only the caller).
pub fn fork_and_exit_parent() -> std::io::Result<()> {
    // SAFETY: the monitor calls this at the top of its main, before it starts any thread, so
    // the child is a complete copy of a single-threaded process.
    match unsafe { nix::unistd::fork() }? {
        nix::unistd::ForkResult::Parent { .. } => std::process::exit(0),
        nix::unistd::ForkResult::Child => Ok(()),
    }
}

/// A pidfd for `pid`: readable once the process exits, whoever its parent is.
pub fn pidfd_open(pid: i32) -> std::io::Result<OwnedFd> {
    // libc rather than nix: nix has no pidfd_open. The syscall takes a pid and flags and
    // returns a new descriptor, or -1.
    // SAFETY: no pointers are passed; a non-negative result is a descriptor we now own.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor to us, open and unowned.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}
