//! Opening a file beneath the served root, so that a symbolic link cannot
//! lead out of it.
//!
//! [`path`](super::path) leaves a relative path of plain names; what can
//! still leave the root is a symbolic link inside it (to `/etc`, or to
//! `../../secret`). Unless links out of the root are allowed, files are
//! opened with `openat2(2)` relative to a descriptor of the root with
//! `RESOLVE_BENEATH` (Linux 5.6): the kernel resolves the path itself and
//! fails with `EXDEV` if any step, a link's target included, would leave
//! the root, and with `RESOLVE_NO_MAGICLINKS` refuses `/proc`-style links.
//! A link whose target stays inside (relative, `../shared/a.css` from a
//! subdirectory) is followed. An absolute link is refused even when it
//! points inside, since its resolution starts at `/`. Checked and opened
//! in one call, there is no window between the check and the open for a
//! rename to slip a link in.
//!
//! Where `openat2` is missing (an older kernel, or a sandbox whose seccomp
//! filter answers `ENOSYS` or `EPERM`), the fallback canonicalizes the
//! path (`realpath(3)`), checks that it starts with the canonical root,
//! and opens the canonical path. That leaves a race: someone who can
//! write inside the root can replace a directory of the path with a link
//! between the check and the open. The fallback is taken once and logged.
//!
//! Files are opened with `O_NONBLOCK`, so a FIFO in the root cannot hold
//! the worker in `open` (the caller then refuses anything that is not a
//! regular file or a directory); it changes nothing for regular files.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether `openat2` was found missing; then every open takes the
/// fallback.
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// Tries of an `openat2` that the kernel answers `EAGAIN` (a concurrent
/// rename it could not rule out) before the open fails.
const OPENAT2_TRIES: usize = 8;

/// The served directory.
#[derive(Debug)]
pub(crate) struct Root {
    /// `O_PATH` descriptor of the root, what `openat2` resolves beneath.
    dir: File,
    /// The root, canonical: every link in it resolved.
    path: PathBuf,
}

impl Root {
    /// Opens `root`, which must be a directory.
    pub(crate) fn new(root: &Path) -> io::Result<Root> {
        let path = root.canonicalize()?;
        let dir = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
            .open(&path)?;
        Ok(Root { dir, path })
    }

    /// The canonical root.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Opens `relative` (plain names joined by `/`, empty for the root
    /// itself) for reading. A path that would leave the root through a
    /// link fails with `NotFound`, as a missing file does: to the client
    /// it does not exist. With `follow_links_out`, links may lead
    /// anywhere: the path is opened as it is, unchecked.
    pub(crate) fn open(&self, relative: &str, follow_links_out: bool) -> io::Result<File> {
        if follow_links_out {
            return open_path(&self.path.join(relative));
        }
        if !NO_OPENAT2.load(Ordering::Relaxed) {
            match self.open_beneath(relative) {
                // The call itself refused (no such syscall, or a seccomp
                // filter), not one file: a file's own EPERM (a fanotify
                // denial) is that file's answer, and must not switch every
                // later open to the fallback.
                Err(e)
                    if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM))
                        && self.openat2_refused() =>
                {
                    log::warn!(
                        "openat2 is not available ({e}): files are checked with realpath, \
                         which leaves a race with a concurrent rename (see coro_http::fs)"
                    );
                    NO_OPENAT2.store(true, Ordering::Relaxed);
                }
                Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
                    return Err(outside());
                }
                other => return other,
            }
        }
        self.open_by_realpath(relative)
    }

    /// Whether `openat2` itself is refused here: it cannot open even the
    /// root.
    fn openat2_refused(&self) -> bool {
        matches!(
            self.open_beneath("").err().and_then(|e| e.raw_os_error()),
            Some(libc::ENOSYS | libc::EPERM)
        )
    }

    /// The fallback without `openat2`: canonicalize, check the prefix,
    /// open the canonical path (racy, see the module docs).
    fn open_by_realpath(&self, relative: &str) -> io::Result<File> {
        let canonical = self.path.join(relative).canonicalize()?;
        if !canonical.starts_with(&self.path) {
            return Err(outside());
        }
        open_path(&canonical)
    }

    fn open_beneath(&self, relative: &str) -> io::Result<File> {
        let name = if relative.is_empty() { "." } else { relative };
        // `path` refused NULs already; a NUL here would be a bug there.
        let name = CString::new(name).map_err(|_| io::ErrorKind::InvalidInput)?;
        // SAFETY: `open_how` is plain integers, for which all zeroes is a
        // valid value (no flags, no mode, no resolve rules).
        let mut how: libc::open_how = unsafe { std::mem::zeroed() };
        how.flags = (libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NONBLOCK) as u64;
        how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;
        let mut last = None;
        for _ in 0..OPENAT2_TRIES {
            // SAFETY: the root descriptor is open for as long as `self`,
            // `name` is a NUL-terminated string that lives across the call,
            // and `how` is a valid `open_how` whose size is passed with it.
            let fd = unsafe {
                libc::syscall(
                    libc::SYS_openat2,
                    self.dir.as_raw_fd(),
                    name.as_ptr(),
                    &how as *const libc::open_how,
                    std::mem::size_of::<libc::open_how>(),
                )
            };
            if fd >= 0 {
                // The descriptor fits in an int, as every descriptor does.
                let fd = fd as libc::c_int;
                // SAFETY: `fd` was just opened and is owned by nothing else.
                return Ok(unsafe { File::from_raw_fd(fd) });
            }
            let e = io::Error::last_os_error();
            // EAGAIN: a concurrent rename or mount the kernel could not
            // rule out; EINTR: a signal. Both are worth another try.
            if !matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::EINTR)) {
                return Err(e);
            }
            last = Some(e);
        }
        Err(last.unwrap_or_else(|| io::ErrorKind::Interrupted.into()))
    }
}

fn open_path(path: &Path) -> io::Result<File> {
    debug_assert!(!path.as_os_str().as_bytes().contains(&0));
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

fn outside() -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, "the path leads out of the root")
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::os::unix::fs::symlink;

    use super::*;

    /// `<tmp>/root/{a.txt, sub/in.txt -> ../a.txt, out.txt -> ../secret.txt}`
    /// and `<tmp>/secret.txt`, opened both ways.
    #[test]
    fn both_ways_refuse_links_out_and_follow_links_in() {
        let base = std::env::temp_dir().join(format!("coro-http-open-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let root = base.join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("a.txt"), "in").unwrap();
        std::fs::write(base.join("secret.txt"), "out").unwrap();
        symlink("../a.txt", root.join("sub/in.txt")).unwrap();
        symlink("../secret.txt", root.join("out.txt")).unwrap();
        let r = Root::new(&root).unwrap();
        let read = |f: io::Result<File>| {
            let mut s = String::new();
            f.unwrap().read_to_string(&mut s).unwrap();
            s
        };
        for (way, open) in [
            (
                "openat2",
                &(|p: &str| r.open_beneath(p)) as &dyn Fn(&str) -> io::Result<File>,
            ),
            ("realpath", &|p: &str| r.open_by_realpath(p)),
        ] {
            assert_eq!(read(open("a.txt")), "in", "{way}");
            assert_eq!(read(open("sub/in.txt")), "in", "{way}");
            let refused = open("out.txt").map(drop).unwrap_err();
            assert!(
                matches!(refused.raw_os_error(), Some(libc::EXDEV))
                    || refused.kind() == io::ErrorKind::NotFound,
                "{way}: {refused}"
            );
            assert!(open("").is_ok(), "{way}: the root itself");
        }
        assert_eq!(
            r.open("out.txt", false).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        assert_eq!(read(r.open("out.txt", true)), "out");
        let _ = std::fs::remove_dir_all(&base);
    }
}
