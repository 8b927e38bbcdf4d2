//! Starting a program from the daemon without copying the daemon.
//!
//! `std::process::Command` uses posix_spawn, whose child shares the parent's memory until it
//! executes the program (`CLONE_VM | CLONE_VFORK`), unless the command has a `pre_exec` hook:
//! then it forks, copying the page tables of the whole daemon, and every page the daemon
//! writes afterwards faults once to be copied. crun on a host with hybrid cgroups needs such a
//! hook (a private mount namespace that hides one file, see [`super::hide_file_from`]), and
//! the daemon runs crun for every start and every exit: measured, the fork and its page
//! faults were a quarter of the daemon's own time in a container's lifecycle. [`spawn`] makes
//! the posix_spawn kind of child itself, and lets that child enter the namespace first.

use std::ffi::{CString, OsStr, c_char, c_int, c_void};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};

/// A program started by [`spawn`]: its pid (a child of this process, to be reaped) and the
/// read ends of its stdout and stderr pipes. Its stdin is /dev/null.
#[derive(Debug)]
pub struct Spawned {
    /// The child's pid.
    pub pid: i32,
    /// Its stdout.
    pub stdout: OwnedFd,
    /// Its stderr.
    pub stderr: OwnedFd,
}

/// The child's stack: it runs a handful of system calls, then executes the program.
const STACK_SIZE: usize = 64 * 1024;

/// What the child needs, all made before it exists: it must neither allocate nor take a
/// lock, since it shares the memory (and the allocator) of a process whose other threads go
/// on meanwhile.
struct ChildArgs {
    program: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
    /// The file to hide under /dev/null in a private mount namespace, or null.
    hidden: *const c_char,
    /// (source, target) descriptors for stdin, stdout and stderr.
    stdio: [(RawFd, RawFd); 3],
    /// The errno of the step that failed, for the parent to report; 0 when none did.
    failure: AtomicI32,
}

/// Starts `program` with `args` and this process's environment, in a private mount namespace
/// where `/dev/null` is mounted over `hidden` when that is given, with its stdout and stderr
/// piped to the returned descriptors. An error if the program could not be executed (its
/// errno, as `Command::spawn` gives it).
pub fn spawn(
    program: &Path,
    args: &[impl AsRef<OsStr>],
    hidden: Option<&Path>,
) -> std::io::Result<Spawned> {
    let c_string = |bytes: &[u8]| {
        CString::new(bytes).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "an argument holds a NUL byte",
            )
        })
    };
    let program = c_string(program.as_os_str().as_bytes())?;
    let mut argv_strings = vec![program.clone()];
    for arg in args {
        argv_strings.push(c_string(arg.as_ref().as_bytes())?);
    }
    // Variables with a NUL byte cannot be passed (std drops them too).
    let env_strings: Vec<CString> = std::env::vars_os()
        .filter_map(|(key, value)| {
            let mut pair = key.as_bytes().to_vec();
            pair.push(b'=');
            pair.extend_from_slice(value.as_bytes());
            CString::new(pair).ok()
        })
        .collect();
    let argv = null_terminated(&argv_strings);
    let envp = null_terminated(&env_strings);
    let hidden = hidden
        .map(|h| c_string(h.as_os_str().as_bytes()))
        .transpose()?;

    let stdin = above_stdio(std::fs::File::open("/dev/null")?.into())?;
    let (stdout_read, stdout_write) = pipe()?;
    let (stderr_read, stderr_write) = pipe()?;
    let args = ChildArgs {
        program: program.as_ptr(),
        argv: argv.as_ptr(),
        envp: envp.as_ptr(),
        hidden: hidden.as_ref().map_or(std::ptr::null(), |h| h.as_ptr()),
        stdio: [
            (stdin.as_raw_fd(), 0),
            (stdout_write.as_raw_fd(), 1),
            (stderr_write.as_raw_fd(), 2),
        ],
        failure: AtomicI32::new(0),
    };
    let mut stack = vec![0u8; STACK_SIZE];
    // The stack grows down on every architecture Linux runs this on; the top, 16-aligned.
    let top = stack.as_mut_ptr().wrapping_add(STACK_SIZE);
    let top = top.wrapping_sub(top as usize % 16).cast::<c_void>();

    // Every signal blocked while the child shares our memory: a handler of the daemon's must
    // not run in it (it resets them all before unblocking).
    // SAFETY: a sigset_t is plain data, valid when zeroed; sigfillset and pthread_sigmask
    // write only the sets passed, which live here.
    let previous = unsafe {
        let mut all = std::mem::zeroed::<libc::sigset_t>();
        let mut previous = std::mem::zeroed::<libc::sigset_t>();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut previous);
        previous
    };
    // SAFETY: `child` only makes async-signal-safe system calls on data that `args` points to,
    // which lives (with the strings and arrays it points into, and the stack) until clone
    // returns; with CLONE_VFORK that is after the child has executed the program or exited,
    // so nothing of ours is used by it afterwards. SIGCHLD makes it an ordinary child.
    let pid = unsafe {
        libc::clone(
            child,
            top,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            (&args as *const ChildArgs).cast_mut().cast::<c_void>(),
        )
    };
    let clone_error = std::io::Error::last_os_error();
    // SAFETY: restores this thread's mask saved above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &previous, std::ptr::null_mut()) };
    drop(stack);
    if pid < 0 {
        return Err(clone_error);
    }
    // The child's ends are its own now (or it is gone).
    drop((stdin, stdout_write, stderr_write));
    let failure = args.failure.load(Ordering::SeqCst);
    if failure != 0 {
        let mut status = 0;
        // SAFETY: reaps the child that failed before executing; `status` is ours to write.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        return Err(std::io::Error::from_raw_os_error(failure));
    }
    Ok(Spawned {
        pid,
        stdout: stdout_read,
        stderr: stderr_read,
    })
}

/// The child: default signal dispositions, the namespace, stdio, the program. Any failure is
/// recorded in `failure` and ends it.
extern "C" fn child(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the `ChildArgs` the parent keeps alive (and unchanged) until this
    // child has executed the program or exited: the parent is suspended meanwhile.
    let args = unsafe { &*arg.cast::<ChildArgs>() };
    let fail = || -> ! {
        // SAFETY: reads this thread's errno (the suspended parent thread's, which is ours
        // too until exec), then ends the child without running any handler or destructor.
        unsafe {
            let errno = *libc::__errno_location();
            args.failure.store(errno.max(1), Ordering::SeqCst);
            libc::_exit(127)
        }
    };
    // SAFETY: only system calls, on NUL-terminated strings and arrays the parent built, and
    // on descriptors it opened; no allocation, no lock.
    unsafe {
        // Handlers installed by the daemon are the daemon's code: none may run here. Ignored
        // signals would stay ignored across exec; the runtime gets defaults, as from std.
        let mut default: libc::sigaction = std::mem::zeroed();
        default.sa_sigaction = libc::SIG_DFL;
        for signal in 1..65 {
            if signal != libc::SIGKILL && signal != libc::SIGSTOP {
                // glibc refuses its two reserved real-time signals: nothing to reset there.
                libc::sigaction(signal, &default, std::ptr::null_mut());
            }
        }
        if !args.hidden.is_null()
            && super::hide_in_private_namespace(std::ffi::CStr::from_ptr(args.hidden)).is_err()
        {
            fail();
        }
        for (source, target) in args.stdio {
            // The sources are above 2 (`above_stdio`, pipes made while 0-2 are open), so no
            // target is a later source.
            if libc::dup2(source, target) < 0 {
                fail();
            }
        }
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
        libc::execve(args.program, args.argv, args.envp);
    }
    fail()
}

/// The pointers of `strings`, then a null pointer.
fn null_terminated(strings: &[CString]) -> Vec<*const c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// A close-on-exec pipe whose ends are both above 2.
fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    Ok((above_stdio(read)?, above_stdio(write)?))
}

/// `fd`, moved above 2 if it is one of 0-2 (a daemon started with a standard descriptor
/// closed): the child's stdio copies must not overwrite a source not yet copied.
fn above_stdio(fd: OwnedFd) -> std::io::Result<OwnedFd> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    // SAFETY: F_DUPFD_CLOEXEC takes an int and returns a new descriptor we then own.
    let moved = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
    if moved < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `moved` was just returned by fcntl and is owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(moved) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn collect(spawned: Spawned) -> (i32, String, String) {
        let mut out = String::new();
        let mut err = String::new();
        std::fs::File::from(spawned.stdout)
            .read_to_string(&mut out)
            .unwrap();
        std::fs::File::from(spawned.stderr)
            .read_to_string(&mut err)
            .unwrap();
        let mut status = 0;
        // SAFETY: reaps our own child.
        unsafe { libc::waitpid(spawned.pid, &mut status, 0) };
        (libc::WEXITSTATUS(status), out, err)
    }

    #[test]
    fn the_program_gets_its_arguments_stdio_and_environment() {
        let spawned = spawn(
            Path::new("/bin/sh"),
            &[
                "-c",
                "echo out $PATH; echo err >&2; read x || echo no-input; exit 3",
            ],
            None,
        )
        .unwrap();
        let (code, out, err) = collect(spawned);
        assert_eq!(code, 3);
        assert_eq!(
            out,
            format!("out {}\nno-input\n", std::env::var("PATH").unwrap())
        );
        assert_eq!(err, "err\n");
    }

    #[test]
    fn a_program_that_cannot_run_is_an_error() {
        let err = spawn(Path::new("/nonexistent/program"), &[] as &[&str], None).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
    }

    #[test]
    fn the_hidden_file_is_empty_for_the_program_alone() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root (a mount namespace)");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hidden");
        std::fs::write(&file, "visible").unwrap();
        let spawned = spawn(Path::new("/bin/cat"), &[file.as_os_str()], Some(&file)).unwrap();
        let (code, out, _) = collect(spawned);
        assert_eq!((code, out.as_str()), (0, ""));
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "visible");
    }
}
