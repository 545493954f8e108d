//! Changes of an active snapshot against its parent: as a layer tar (OCI
//! whiteouts) for commit/export, and as docker's A/C/D list.
//!
//! Both read the overlay upper directory directly: a character device 0:0
//! is a deletion, `trusted.overlay.opaque=y` replaces a whole directory.
//! Snapshots are mounted without `redirect_dir`/`metacopy`, whose xattrs
//! would make the upper directory alone insufficient (refused if seen).

use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use crate::lower::Layers;
use crate::sys;
use crate::tarwrite::EntryWriter;
use crate::whiteout::{self, is_overlay_whiteout};
use crate::{Change, ChangeKind, Error, path};

fn sorted_names(dir: BorrowedFd<'_>, at: &[u8]) -> Result<Vec<Vec<u8>>, Error> {
    let mut names =
        sys::list_dir(dir).map_err(|e| Error::entry("listing", &path::display(at), e))?;
    names.sort();
    Ok(names)
}

/// Writes the layer tar of `upper` (an opened upper directory).
pub(crate) fn write_diff<W: Write>(upper: OwnedFd, out: W) -> Result<(), Error> {
    let mut w = EntryWriter::new(out);
    let root_opaque =
        sys::is_opaque(upper.as_fd()).map_err(|e| Error::entry("reading xattrs of", "/", e))?;
    if root_opaque {
        w.marker(whiteout::OPAQUE, 0)?;
    }
    diff_dir(&mut w, upper.as_fd(), b"", 0)?;
    w.finish()
        .map_err(|e| Error::entry("finishing", "diff tar", e))
}

fn diff_dir<W: Write>(
    w: &mut EntryWriter<W>,
    dir: BorrowedFd<'_>,
    at: &[u8],
    depth: usize,
) -> Result<(), Error> {
    if depth > sys::MAX_DEPTH {
        return Err(sys::too_deep(at));
    }
    for name in sorted_names(dir, at)? {
        let p = path::join(at, &name);
        let shown = path::display(&p);
        let st = sys::lstat_at(dir, &name).map_err(|e| Error::entry("inspecting", &shown, e))?;
        if is_overlay_whiteout(st.st_mode, st.st_rdev) {
            w.marker(
                &path::join(at, &whiteout::whiteout_name(&name)),
                st.st_mtime,
            )?;
            continue;
        }
        if name.starts_with(whiteout::PREFIX) {
            return Err(Error::NotSupported(format!(
                "file {shown} starts with .wh., which a layer tar cannot carry"
            )));
        }
        w.write(dir, &name, &st, &p)?;
        if sys::is_dir(&st) {
            let sub =
                sys::open_subdir(dir, &name).map_err(|e| Error::entry("opening", &shown, e))?;
            if sys::is_opaque(sub.as_fd())
                .map_err(|e| Error::entry("reading xattrs of", &shown, e))?
            {
                w.marker(&path::join(&p, whiteout::OPAQUE), st.st_mtime)?;
            }
            diff_dir(w, sub.as_fd(), &p, depth + 1)?;
        }
    }
    Ok(())
}

/// The A/C/D list of `upper` against the merged `lowers`, sorted by path.
pub(crate) fn changes(upper: OwnedFd, lowers: &Layers) -> Result<Vec<Change>, Error> {
    let mut out = Vec::new();
    let root_opaque =
        sys::is_opaque(upper.as_fd()).map_err(|e| Error::entry("reading xattrs of", "/", e))?;
    if root_opaque {
        deleted_children(lowers, b"", upper.as_fd(), &mut out)?;
    }
    changes_dir(upper.as_fd(), b"", lowers, false, &mut out, 0)?;
    out.sort();
    Ok(out)
}

fn abs(p: &[u8]) -> String {
    format!("/{}", path::display(p))
}

/// Lower children of an opaque directory that the upper does not have.
fn deleted_children(
    lowers: &Layers,
    at: &[u8],
    dir: BorrowedFd<'_>,
    out: &mut Vec<Change>,
) -> Result<(), Error> {
    let shown = path::display(at);
    for c in lowers
        .children(at)
        .map_err(|e| Error::entry("listing the parent layers at", &shown, e))?
    {
        match sys::lstat_at(dir, &c) {
            Ok(_) => {}
            Err(rustix::io::Errno::NOENT) => out.push(Change {
                path: abs(&path::join(at, &c)),
                kind: ChangeKind::Deleted,
            }),
            Err(e) => return Err(Error::entry("inspecting", &shown, e)),
        }
    }
    Ok(())
}

fn changes_dir(
    dir: BorrowedFd<'_>,
    at: &[u8],
    lowers: &Layers,
    added: bool,
    out: &mut Vec<Change>,
    depth: usize,
) -> Result<(), Error> {
    if depth > sys::MAX_DEPTH {
        return Err(sys::too_deep(at));
    }
    for name in sorted_names(dir, at)? {
        let p = path::join(at, &name);
        let shown = path::display(&p);
        let st = sys::lstat_at(dir, &name).map_err(|e| Error::entry("inspecting", &shown, e))?;
        if is_overlay_whiteout(st.st_mode, st.st_rdev) {
            out.push(Change {
                path: abs(&p),
                kind: ChangeKind::Deleted,
            });
            continue;
        }
        let in_lower = !added
            && lowers
                .lookup(&p)
                .map_err(|e| Error::entry("looking up in the parent layers", &shown, e))?
                .is_some();
        out.push(Change {
            path: abs(&p),
            kind: if in_lower {
                ChangeKind::Modified
            } else {
                ChangeKind::Added
            },
        });
        if sys::is_dir(&st) {
            let sub =
                sys::open_subdir(dir, &name).map_err(|e| Error::entry("opening", &shown, e))?;
            if in_lower
                && sys::is_opaque(sub.as_fd())
                    .map_err(|e| Error::entry("reading xattrs of", &shown, e))?
            {
                deleted_children(lowers, &p, sub.as_fd(), out)?;
            }
            changes_dir(sub.as_fd(), &p, lowers, !in_lower, out, depth + 1)?;
        }
    }
    Ok(())
}
