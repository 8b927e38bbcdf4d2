//! The only module allowed `unsafe`: calls that neither std nor nix wrap safely.
//!
//! Each function keeps its unsafety inside and documents why it holds. Nothing here knows
//! about varlink, images or containers.

use std::os::fd::{FromRawFd, OwnedFd, RawFd};

mod alloc;
mod spawn;
pub use alloc::{release_free_memory, tune_allocator};
pub use spawn::{Spawned, spawn};

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
/// Refused unless the process has a single thread (fork copies only the caller).
pub fn fork_and_exit_parent() -> std::io::Result<()> {
    match fork_single_threaded()? {
        Some(_) => std::process::exit(0),
        None => Ok(()),
    }
}

/// Forks this process, which must have a single thread: checked, and refused otherwise (a
/// child of a multi-threaded process is a copy in which locks other threads held stay
/// held). The child's pid in the parent; `None` in the child.
pub fn fork_single_threaded() -> std::io::Result<Option<i32>> {
    let threads = std::fs::read_dir("/proc/self/task")?.count();
    if threads != 1 {
        return Err(std::io::Error::other(format!(
            "this process has {threads} threads: a fork would copy it incompletely"
        )));
    }
    // SAFETY: the process has one thread (checked just above; only this thread could start
    // another), so the child is a complete copy of it.
    match unsafe { nix::unistd::fork() }? {
        nix::unistd::ForkResult::Parent { child } => Ok(Some(child.as_raw())),
        nix::unistd::ForkResult::Child => Ok(None),
    }
}

/// Writes `argv` (arguments each ended by a NUL byte) over this process's own argument
/// strings, the bytes `/proc/PID/cmdline` shows, and clears what is left of them: the way a
/// process renames itself without privileges. Their room is what the process was started
/// with; a longer `argv` is refused. Nothing may read this process's arguments through std
/// afterwards (they are not what it was started with any more).
pub fn overwrite_cmdline(argv: &[u8]) -> std::io::Result<()> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // Fields after the command's closing parenthesis, from the third (the state) on; the
    // argument strings' bounds are fields 48 and 49 (Linux 3.5).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let field = |n: usize| -> std::io::Result<usize> {
        fields
            .get(n - 3)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| std::io::Error::other("no argument bounds in /proc/self/stat"))
    };
    let (start, end) = (field(48)?, field(49)?);
    if argv.last() != Some(&0) || end <= start || argv.len() > end - start {
        return Err(std::io::Error::other(format!(
            "{} bytes of arguments do not fit in the {} this process has",
            argv.len(),
            end.saturating_sub(start)
        )));
    }
    // SAFETY: [start, end) holds this process's argument strings, which the kernel placed on
    // its initial stack, mapped and writable for the life of the process; the write stays
    // inside it. The only other reader is std's copy of argv, which the caller gives up.
    unsafe {
        let room = std::slice::from_raw_parts_mut(start as *mut u8, end - start);
        room[..argv.len()].copy_from_slice(argv);
        room[argv.len()..].fill(0);
    }
    Ok(())
}

/// Receives one message (at most `max` bytes: a whole one on a `SOCK_SEQPACKET` socket) and
/// the descriptor sent with it (`SCM_RIGHTS`; extra ones are closed); `None` when the peer
/// closed the socket.
pub fn recv_message(
    socket: &impl std::os::fd::AsFd,
    max: usize,
) -> std::io::Result<Option<(Vec<u8>, Option<OwnedFd>)>> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
    use std::os::fd::AsRawFd;
    let mut buf = vec![0u8; max];
    let mut space = nix::cmsg_space!([RawFd; 4]);
    let (len, mut received) = {
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        let msg = recvmsg::<()>(
            socket.as_fd().as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )?;
        let mut received = Vec::new();
        for cmsg in msg.cmsgs()? {
            if let ControlMessageOwned::ScmRights(fds) = cmsg {
                // SAFETY: the kernel installed these descriptors in this process for this
                // message; nothing else knows their numbers, so each is owned once here.
                received.extend(
                    fds.into_iter()
                        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
                );
            }
        }
        (msg.bytes, received)
    };
    if len == 0 && received.is_empty() {
        return Ok(None);
    }
    buf.truncate(len);
    let fd = (!received.is_empty()).then(|| received.swap_remove(0));
    Ok(Some((buf, fd)))
}

/// Whether this process's children are reaped by the kernel as they exit (`SIGCHLD` ignored:
/// no zombies, no status) or left for `wait` (the default disposition). Exec keeps an
/// ignored `SIGCHLD`: a process must set it back before it starts anything that waits.
pub fn reap_children_automatically(on: bool) -> std::io::Result<()> {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
    let handler = if on {
        SigHandler::SigIgn
    } else {
        SigHandler::SigDfl
    };
    let action = SigAction::new(handler, SaFlags::empty(), SigSet::empty());
    // SAFETY: ignoring or defaulting a signal installs no handler code that could run at an
    // unsafe moment.
    unsafe { sigaction(Signal::SIGCHLD, &action) }?;
    Ok(())
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

/// A new descriptor (close-on-exec) for the open file that descriptor number `fd` names.
///
/// For code that knows a descriptor only by number for a while, as the varlink layer knows a
/// connection's while it serves it: the caller must know `fd` is open and stays open during
/// the call. A number that names nothing fails with `EBADF`; no memory is involved either way.
pub fn dup_raw(fd: RawFd) -> std::io::Result<OwnedFd> {
    // libc rather than nix: nix's `dup` takes a borrowed descriptor, which cannot be made
    // from a bare number without `unsafe` at the caller.
    // SAFETY: fcntl(F_DUPFD_CLOEXEC) takes no pointers; a non-negative result is a new
    // descriptor owned by nobody else.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if new < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fcntl just returned this descriptor to us, open and unowned.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// Accepts one connection on the listening socket `listener`. The new socket is
/// close-on-exec (and blocking, whatever the listener is).
pub fn accept(listener: &impl std::os::fd::AsFd) -> std::io::Result<OwnedFd> {
    use std::os::fd::AsRawFd;
    let raw = nix::sys::socket::accept4(
        listener.as_fd().as_raw_fd(),
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
    )?;
    // SAFETY: accept4 just returned this descriptor, open and owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// Receives one file descriptor sent with `SCM_RIGHTS` on `socket`, as an OCI runtime sends
/// the pseudo-terminal master over the console socket. Extra descriptors are closed.
pub fn recv_fd(socket: &impl std::os::fd::AsFd) -> std::io::Result<OwnedFd> {
    match recv_message(socket, 4096)? {
        Some((_, Some(fd))) => Ok(fd),
        _ => Err(std::io::Error::other("no file descriptor in the message")),
    }
}

/// Sets the window size of the terminal `fd` (`TIOCSWINSZ`).
pub fn set_window_size(fd: &impl std::os::fd::AsFd, rows: u16, cols: u16) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // libc rather than nix: nix only offers a macro that generates an unsafe function.
    // SAFETY: TIOCSWINSZ reads one `winsize` from the pointer, which outlives the call.
    let rc = unsafe { libc::ioctl(fd.as_fd().as_raw_fd(), libc::TIOCSWINSZ, &size) };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Whether `path` is the root of a mount, from `statx`'s `STATX_ATTR_MOUNT_ROOT` (Linux 5.8):
/// one system call, whatever the number of mounts on the host. `Ok(None)` when the kernel
/// does not report the attribute. A symbolic link at `path` itself is not followed.
pub fn is_mount_root(path: &std::path::Path) -> std::io::Result<Option<bool>> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())?;
    let mut stx = std::mem::MaybeUninit::<libc::statx>::zeroed();
    // SAFETY: the path is NUL-terminated and outlives the call; statx writes at most one
    // `struct statx` into the buffer, which is large enough and zeroed beforehand.
    let rc = unsafe {
        libc::statx(
            libc::AT_FDCWD,
            c_path.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW | libc::AT_NO_AUTOMOUNT,
            0,
            stx.as_mut_ptr(),
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the call succeeded and filled the structure (it was zeroed before in any case).
    let stx = unsafe { stx.assume_init() };
    let bit = libc::STATX_ATTR_MOUNT_ROOT as u64;
    if stx.stx_attributes_mask & bit == 0 {
        return Ok(None);
    }
    Ok(Some(stx.stx_attributes & bit != 0))
}

/// Makes `cmd` run in a private mount namespace in which `/dev/null` is bind-mounted over
/// `hidden`. crun 1.8 refuses hosts with hybrid cgroups when it finds the v2 hierarchy's
/// `cgroup.controllers` file; hiding that file, in a namespace of its own so the host never
/// sees it, makes crun use the v1 hierarchies as runc does.
pub fn hide_file_from(cmd: &mut std::process::Command, hidden: &std::path::Path) {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::process::CommandExt;
    // Built before the fork: the hook must not allocate.
    let target = std::ffi::CString::new(hidden.as_os_str().as_bytes()).unwrap_or_default();
    let hook = move || hide_in_private_namespace(&target);
    // SAFETY: the hook only makes system calls (see `hide_in_private_namespace`) and touches
    // no lock or allocator.
    unsafe { cmd.pre_exec(hook) };
}

/// Moves the calling process into a private mount namespace of its own, with `/dev/null`
/// bind-mounted over `target` there ([`hide_file_from`]'s hook, and `spawn`'s child). Only
/// system calls, on strings built beforehand: safe between a fork (or vfork) and an exec.
pub(crate) fn hide_in_private_namespace(target: &std::ffi::CStr) -> std::io::Result<()> {
    let none = std::ptr::null::<libc::c_char>();
    // SAFETY: unshare and mount are async-signal-safe system calls; every pointer is a
    // NUL-terminated string that outlives the call, or null where the call allows it.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNS) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let private = libc::MS_REC | libc::MS_PRIVATE;
        if libc::mount(none, c"/".as_ptr(), none, private, std::ptr::null()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let dev_null = c"/dev/null".as_ptr();
        if libc::mount(
            dev_null,
            target.as_ptr(),
            none,
            libc::MS_BIND,
            std::ptr::null(),
        ) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// A detached, read-only copy of the mount of the tree at `path` on which no symbolic link is
/// ever followed: path resolution through it fails with `ELOOP` at the first symlink, in the
/// middle of a path or at its end. Reach it as `/proc/self/fd/N/...`. It is attached nowhere
/// and goes when the descriptor closes, even if this process is killed.
///
/// This is what lets a reader walk a tree a running container is changing: a directory it
/// swaps for a symlink (to `/`, say) between a look and an open makes that open fail instead
/// of leading out of the tree. Needs Linux 5.12 (`mount_setattr`).
pub fn nosymfollow_view(path: &std::path::Path) -> std::io::Result<OwnedFd> {
    use std::os::unix::ffi::OsStrExt;
    // From linux/mount.h; libc does not export them for every target.
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    const MOUNT_ATTR_RDONLY: u64 = 0x1;
    const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x0020_0000;
    /// `struct mount_attr`.
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let flags = OPEN_TREE_CLONE
        | libc::O_CLOEXEC as libc::c_uint
        | libc::AT_SYMLINK_NOFOLLOW as libc::c_uint;
    // SAFETY: c_path is a NUL-terminated string that outlives the call; the kernel returns a
    // new descriptor or -1 and writes no memory of ours.
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, c_path.as_ptr(), flags) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor to us, open and unowned.
    let view = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSYMFOLLOW,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    use std::os::fd::AsRawFd;
    // SAFETY: the path is an empty NUL-terminated string and `attr` a live `struct
    // mount_attr` whose size is passed; the kernel only reads them.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            view.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(view)
}

/// The seccomp program of process `pid` (the most recent filter it installed, index 0), as
/// the kernel holds it: for checking that a container got the program it was meant to get.
/// Needs `CAP_SYS_ADMIN`; the process is stopped for the moment of the read, then let go.
///
/// Only the tests use it (`tests/integration/seccomp.rs`); public for them, not an API.
#[doc(hidden)]
pub fn seccomp_filter(pid: i32) -> std::io::Result<Vec<u8>> {
    // libc rather than nix: nix wraps neither PTRACE_SEIZE/PTRACE_INTERRUPT without its
    // `ptrace` feature nor PTRACE_SECCOMP_GET_FILTER at all.
    const PTRACE_SECCOMP_GET_FILTER: libc::c_uint = 0x420c;
    // ptrace is variadic: unused address and data arguments are passed as pointers, not as
    // the int 0 (whose upper register half the callee would read undefined).
    let none = std::ptr::null_mut::<libc::c_void>;
    let last = std::io::Error::last_os_error;
    // SAFETY: PTRACE_SEIZE reads no pointers (addr and data are null).
    if unsafe { libc::ptrace(libc::PTRACE_SEIZE, pid, none(), none()) } < 0 {
        return Err(last());
    }
    let read = || -> std::io::Result<Vec<u8>> {
        // SAFETY: PTRACE_INTERRUPT reads no pointers.
        if unsafe { libc::ptrace(libc::PTRACE_INTERRUPT, pid, none(), none()) } < 0 {
            return Err(last());
        }
        let mut status = 0;
        // SAFETY: `status` is a valid int to write to; __WALL waits for a tracee that is not
        // our child.
        if unsafe { libc::waitpid(pid, &mut status, libc::__WALL) } < 0 {
            return Err(last());
        }
        // SAFETY: with a null data pointer the call only returns the instruction count.
        let count = unsafe { libc::ptrace(PTRACE_SECCOMP_GET_FILTER, pid, none(), none()) };
        if count < 0 {
            return Err(last());
        }
        let mut program = vec![0u8; count as usize * 8];
        // SAFETY: the buffer holds `count` instructions of 8 bytes, as the kernel writes; the
        // address argument is the filter's index, 0.
        let got = unsafe {
            libc::ptrace(
                PTRACE_SECCOMP_GET_FILTER,
                pid,
                none(),
                program.as_mut_ptr().cast::<libc::c_void>(),
            )
        };
        if got < 0 {
            return Err(last());
        }
        program.truncate(got as usize * 8);
        Ok(program)
    };
    let program = read();
    // SAFETY: PTRACE_DETACH with signal 0 (null data) reads no pointers; it ends the tracing
    // begun above.
    if unsafe { libc::ptrace(libc::PTRACE_DETACH, pid, none(), none()) } < 0 {
        // Still traced (and maybe stopped) by this process: say so rather than go on.
        let detach = last();
        return Err(match program {
            Ok(_) => detach,
            Err(e) => std::io::Error::new(e.kind(), format!("{e}; detaching: {detach}")),
        });
    }
    program
}

#[cfg(test)]
mod nosymfollow_tests {
    use std::os::fd::AsRawFd;

    #[test]
    fn a_view_follows_no_symlink() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("d")).unwrap();
        std::fs::write(dir.path().join("d/f"), "inside").unwrap();
        std::os::unix::fs::symlink("/etc", dir.path().join("out")).unwrap();
        std::os::unix::fs::symlink("d/f", dir.path().join("link")).unwrap();
        let view = super::nosymfollow_view(dir.path()).unwrap();
        let root = std::path::PathBuf::from(format!("/proc/self/fd/{}", view.as_raw_fd()));
        assert_eq!(std::fs::read_to_string(root.join("d/f")).unwrap(), "inside");
        for through_link in ["out/hostname", "out", "link"] {
            let err = std::fs::read_to_string(root.join(through_link)).unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::ELOOP), "{through_link}");
        }
        // The link itself is still read as a link.
        assert_eq!(
            std::fs::read_link(root.join("out")).unwrap(),
            std::path::Path::new("/etc")
        );
        assert!(
            std::fs::write(root.join("d/new"), "x").is_err(),
            "read-only"
        );
    }
}

#[cfg(test)]
mod cmdline_tests {
    #[test]
    fn a_child_can_rename_itself_in_its_argument_room() {
        // In a child of its own, started with room to spare: the test harness's arguments
        // are its own business.
        let exe = std::env::current_exe().unwrap();
        if std::env::var_os("PODLINK_CMDLINE_TEST").is_some() {
            super::overwrite_cmdline(b"podlink\0monitor\0--id\0abc\0").unwrap();
            let line = std::fs::read("/proc/self/cmdline").unwrap();
            assert!(
                line.starts_with(b"podlink\0monitor\0--id\0abc\0"),
                "{line:?}"
            );
            assert!(line[26..].iter().all(|b| *b == 0));
            assert!(super::overwrite_cmdline(&vec![1u8; 100_000]).is_err());
            return;
        }
        let status = std::process::Command::new(exe)
            .args([
                "--exact",
                "sys::cmdline_tests::a_child_can_rename_itself_in_its_argument_room",
            ])
            .arg(" ".repeat(200))
            .env("PODLINK_CMDLINE_TEST", "1")
            .status()
            .unwrap();
        assert!(status.success());
    }
}
