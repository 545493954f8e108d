//! The few system calls the shim needs that `nix` does not wrap the way the
//! shim uses them.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

/// Closes every descriptor above stderr. The shim runs this first: whatever
/// its spawner leaked (a descriptor without close-on-exec) must not reach the
/// runtime or the container.
pub fn close_inherited_fds() {
    // SAFETY: close_range(2) only closes descriptors; none above 2 is owned by
    // Rust code yet (this runs first in main, before anything is opened).
    let rc = unsafe { libc::close_range(3, u32::MAX, 0) };
    if rc != 0 {
        // Kernels before 5.9: close what /proc lists.
        if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
            let fds: Vec<i32> = entries
                .flatten()
                .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
                .filter(|&fd| fd > 2)
                .collect();
            for fd in fds {
                // SAFETY: see above; the directory's own descriptor is closed
                // too, which is harmless once the list is collected.
                unsafe { libc::close(fd) };
            }
        }
    }
}

/// Makes this process the reaper of its orphaned descendants, so that the
/// container's init (whose parent, the runtime, exits) becomes our child.
pub fn set_child_subreaper() -> std::io::Result<()> {
    // SAFETY: prctl(PR_SET_CHILD_SUBREAPER, 1) takes no pointers.
    let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong, 0, 0, 0) };
    if rc == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

/// Gives free heap memory back to the kernel (glibc keeps it otherwise).
pub fn release_free_memory() {
    // SAFETY: malloc_trim(3) has no preconditions.
    unsafe { libc::malloc_trim(0) };
}

/// Drops this process's page-table entries for the read-only pages of its
/// program and libraries: after start-up most of that code and data
/// (argument parsing, runtime invocation, the C library's start-up) is
/// never used again, and what the event loop needs faults back in from the
/// page cache (where all shims share it). Only read-only private file
/// mappings without a single privately modified page (`Anonymous: 0 kB`)
/// are touched, so `MADV_DONTNEED` loses nothing: the next access maps the
/// same file page again. This lowers RSS, not the private memory.
pub fn release_startup_pages() {
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else { return };
    let mut current: Option<(usize, usize)> = None;
    let mut zap = Vec::new();
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if let Some((a, b)) = first.split_once('-')
            && let (Ok(start), Ok(end)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
        {
            let mut f = line.split_whitespace();
            let perms = f.nth(1).unwrap_or("");
            let path = f.nth(3).unwrap_or("");
            let read_only_file = perms.len() == 4
                && perms.starts_with('r')
                && &perms[1..2] == "-"
                && perms.ends_with('p')
                && path.starts_with('/');
            current = read_only_file.then_some((start, end));
            continue;
        }
        if let (Some(range), Some(rest)) = (current, line.strip_prefix("Anonymous:")) {
            if rest.trim() == "0 kB" {
                zap.push(range);
            }
            current = None;
        }
    }
    for (start, end) in zap {
        // SAFETY: [start, end) is a whole read-only private file mapping of
        // this process with no privately modified page (checked in
        // /proc/self/smaps just now, single-threaded, nothing maps or writes
        // meanwhile); dropping its pages only causes later minor faults that
        // map the same page-cache pages again.
        unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
    }
}

/// Sets or clears `O_NONBLOCK`.
pub fn set_nonblocking(fd: BorrowedFd<'_>, on: bool) -> nix::Result<()> {
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
    let flags = if on { flags | OFlag::O_NONBLOCK } else { flags & !OFlag::O_NONBLOCK };
    fcntl(fd, FcntlArg::F_SETFL(flags)).map(drop)
}

/// `/dev/null`, read-write, close-on-exec.
pub fn dev_null() -> std::io::Result<OwnedFd> {
    std::fs::OpenOptions::new().read(true).write(true).open("/dev/null").map(OwnedFd::from)
}

/// Sets a terminal's window size (`TIOCSWINSZ`); the kernel then sends
/// SIGWINCH to the terminal's foreground process group.
pub fn set_window_size(fd: impl AsFd, rows: u16, cols: u16) -> std::io::Result<()> {
    let ws = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCSWINSZ reads one `winsize`, which lives on this stack frame
    // for the duration of the call.
    let rc = unsafe { libc::ioctl(fd.as_fd().as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    if rc == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

/// The number of a signal given as a number (`9`) or a name with or without
/// `SIG` (`SIGKILL`, `kill`, `SIGRTMIN+3`, `RTMAX-1`), as docker and runc
/// accept them.
pub fn parse_signal(s: &str) -> Option<i32> {
    let max = libc::SIGRTMAX();
    if let Ok(n) = s.parse::<i32>() {
        return (1..=max).contains(&n).then_some(n);
    }
    let up = s.trim().to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    let rt = |base: i32, rest: &str| -> Option<i32> {
        let n = if rest.is_empty() {
            base
        } else if let Some(d) = rest.strip_prefix('+') {
            base + d.parse::<i32>().ok()?
        } else if let Some(d) = rest.strip_prefix('-') {
            base - d.parse::<i32>().ok()?
        } else {
            return None;
        };
        (libc::SIGRTMIN()..=max).contains(&n).then_some(n)
    };
    if let Some(rest) = name.strip_prefix("RTMIN") {
        return rt(libc::SIGRTMIN(), rest);
    }
    if let Some(rest) = name.strip_prefix("RTMAX") {
        return rt(max, rest);
    }
    let sig: nix::sys::signal::Signal = format!("SIG{name}").parse().ok()?;
    Some(sig as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_names_and_numbers() {
        assert_eq!(parse_signal("9"), Some(9));
        assert_eq!(parse_signal("SIGKILL"), Some(9));
        assert_eq!(parse_signal("term"), Some(15));
        assert_eq!(parse_signal("SIGWINCH"), Some(28));
        assert_eq!(parse_signal("SIGRTMIN+3"), Some(libc::SIGRTMIN() + 3));
        assert_eq!(parse_signal("RTMAX-1"), Some(libc::SIGRTMAX() - 1));
        assert_eq!(parse_signal("0"), None);
        assert_eq!(parse_signal("65"), None);
        assert_eq!(parse_signal("SIGNOPE"), None);
        assert_eq!(parse_signal("RTMIN+99"), None);
    }
}
