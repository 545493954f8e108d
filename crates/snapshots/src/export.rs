//! A flattened tar of a snapshot chain (`docker export`, image squash):
//! the merged view overlayfs would show, computed from the layer
//! directories without mounting.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::Stat;

use crate::sys;
use crate::tarwrite::EntryWriter;
use crate::whiteout::is_overlay_whiteout;
use crate::{Error, path};

/// Writes the merged content of `layers` (opened directories, topmost first).
pub(crate) fn write_export<W: Write>(layers: Vec<OwnedFd>, out: W) -> Result<(), Error> {
    let mut w = EntryWriter::new(out);
    // an opaque root hides the roots below it
    let mut merged = Vec::new();
    for fd in layers {
        let opaque =
            sys::is_opaque(fd.as_fd()).map_err(|e| Error::entry("reading xattrs of", "/", e))?;
        merged.push(fd);
        if opaque {
            break;
        }
    }
    export_dir(&mut w, &merged, b"", 0)?;
    w.finish()
        .map_err(|e| Error::entry("finishing", "export tar", e))
}

fn export_dir<W: Write>(
    w: &mut EntryWriter<W>,
    dirs: &[OwnedFd],
    at: &[u8],
    depth: usize,
) -> Result<(), Error> {
    if depth > sys::MAX_DEPTH {
        return Err(sys::too_deep(at));
    }
    let shown = path::display(at);
    // name -> (index into dirs, stat) of each layer that has it, top first
    let mut entries: BTreeMap<Vec<u8>, Vec<(usize, Stat)>> = BTreeMap::new();
    for (i, d) in dirs.iter().enumerate() {
        for name in sys::list_dir(d.as_fd()).map_err(|e| Error::entry("listing", &shown, e))? {
            let st = sys::lstat_at(d.as_fd(), &name).map_err(|e| {
                Error::entry("inspecting", &path::display(&path::join(at, &name)), e)
            })?;
            entries.entry(name).or_default().push((i, st));
        }
    }
    for (name, occ) in entries {
        let (top, st) = &occ[0];
        if is_overlay_whiteout(st.st_mode, st.st_rdev) {
            continue;
        }
        let p = path::join(at, &name);
        let pshown = path::display(&p);
        w.write(dirs[*top].as_fd(), &name, st, &p)?;
        if !sys::is_dir(st) {
            continue;
        }
        let mut subs = Vec::new();
        for (i, s) in &occ {
            if !sys::is_dir(s) {
                break;
            }
            let sub = sys::open_subdir(dirs[*i].as_fd(), &name)
                .map_err(|e| Error::entry("opening", &pshown, e))?;
            let opaque = sys::is_opaque(sub.as_fd())
                .map_err(|e| Error::entry("reading xattrs of", &pshown, e))?;
            subs.push(sub);
            if opaque {
                break;
            }
        }
        export_dir(w, &subs, &p, depth + 1)?;
    }
    Ok(())
}
