//! `berth cp`: files between a container and the local filesystem, as tar
//! archives over the API (`GET`/`PUT`/`HEAD /containers/{id}/archive`),
//! with docker's rules for where things land (a missing destination takes
//! the source's place, `dir/.` copies a directory's contents, a directory
//! never overwrites a file).
//!
//! Archives from a container are extracted here without trusting them:
//! no entry leaves the destination (no `..`, no absolute paths, no writing
//! through a symlink that an earlier entry or the destination itself has),
//! files are created with `O_NOFOLLOW`, and devices are not created.

use std::ffi::OsStr;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use base64::Engine as _;
use berth_docker_types::container::ContainerPathStat;

use crate::app::Ctx;
use crate::client::{Body, ClientError, Query};
use crate::commands::seg;
use crate::error::StatusError;
use crate::flags::{Args, Flag, Matches, Spec, bs};
use crate::format::units::human_size_prec;

static FLAGS: &[Flag] = &[
    bs(
        'a',
        "archive",
        "Archive mode (copy all uid/gid information)",
    ),
    bs('L', "follow-link", "Always follow symbol link in SRC_PATH"),
    bs(
        'q',
        "quiet",
        "Suppress progress output during copy. Progress output is automatically suppressed if no terminal is attached",
    ),
];

pub static SPEC: Spec = Spec::new(
    "cp",
    "[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tberth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
    "Copy files/folders between a container and the local filesystem\n\nUse '-' as the source to read a tar archive from stdin\nand extract it to a directory destination in a container.\nUse '-' as the destination to stream a tar archive of a\ncontainer source to stdout.",
    FLAGS,
    Args::Exact(2),
)
.aliases("berth container cp, berth cp");

const GO_MODE_DIR: u32 = 1 << 31;
const GO_MODE_SYMLINK: u32 = 1 << 27;

/// `CONTAINER:PATH` → (container, path); a local path has no container.
/// A path with a `/` before the first `:` is local (`./a:b`).
pub fn split_cp_arg(arg: &str) -> (Option<&str>, &str) {
    if arg.starts_with('/') || arg.starts_with('.') {
        return (None, arg);
    }
    match arg.split_once(':') {
        Some((c, p)) if !c.contains('/') => (Some(c), p),
        _ => (None, arg),
    }
}

fn stat_header(resp_header: Option<&str>) -> Option<ContainerPathStat> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(resp_header?.trim())
        .ok()?;
    serde_json::from_slice(&raw).ok()
}

/// `HEAD /containers/{id}/archive?path=`: the stat of a path in a container.
fn stat_in_container(
    ctx: &Ctx,
    container: &str,
    path: &str,
) -> Result<ContainerPathStat, ClientError> {
    let client = ctx
        .client()
        .map_err(|e| ClientError::StartDaemon(e.to_string()))?;
    let q = Query::new().add("path", path);
    let resp = client.send(
        "HEAD",
        &format!("/containers/{}/archive{}", seg(container), q.as_str()),
        &[],
        Body::Empty,
    )?;
    let st = stat_header(resp.header("X-Docker-Container-Path-Stat")).unwrap_or_default();
    if let Some(c) = resp.into_reusable() {
        let _ = c;
    }
    Ok(st)
}

/// Does the path (as the user typed it) ask for a directory's contents?
fn asks_for_contents(p: &str) -> bool {
    p.ends_with("/.") || p == "."
}

fn base_name(p: &str) -> String {
    let t = p.trim_end_matches('/');
    let t = t.strip_suffix("/.").unwrap_or(t);
    Path::new(t)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| t.to_owned())
}

fn human(n: u64) -> String {
    human_size_prec(n as f64, 3)
}

pub fn run(ctx: &Ctx, m: &Matches) -> anyhow::Result<()> {
    let (src, dst) = (&m.args[0], &m.args[1]);
    let (sc, sp) = split_cp_arg(src);
    let (dc, dp) = split_cp_arg(dst);
    let quiet = m.bool("quiet") || !crate::term::is_tty(2);
    match (sc, dc) {
        (Some(_), Some(_)) => Err(StatusError::new(
            1,
            "copying between containers is not supported",
        )),
        (None, None) => Err(StatusError::new(
            1,
            "must specify at least one container source",
        )),
        (Some(c), None) => from_container(ctx, c, sp, dp, m.bool("follow-link"), quiet),
        (None, Some(c)) => to_container(
            ctx,
            sp,
            c,
            dp,
            m.bool("archive"),
            m.bool("follow-link"),
            quiet,
        ),
    }
}

fn from_container(
    ctx: &Ctx,
    container: &str,
    src: &str,
    dst: &str,
    follow: bool,
    quiet: bool,
) -> anyhow::Result<()> {
    if src.is_empty() {
        return Err(StatusError::new(1, "source path cannot be empty"));
    }
    let client = ctx.client()?;
    let mut src_path = src.to_owned();
    if follow {
        let st = stat_in_container(ctx, container, src)?;
        if st.mode & GO_MODE_SYMLINK != 0 && !st.link_target.is_empty() {
            src_path = st.link_target.clone();
        }
    }
    let q = Query::new().add("path", &src_path);
    let resp = client.stream(
        "GET",
        &format!("/containers/{}/archive{}", seg(container), q.as_str()),
        &[],
        Body::Empty,
    )?;
    let st = stat_header(resp.header("X-Docker-Container-Path-Stat")).unwrap_or_default();
    if dst == "-" {
        let mut out = io::stdout().lock();
        let mut r = resp;
        io::copy(&mut r, &mut out)?;
        out.flush()?;
        return Ok(());
    }
    let src_is_dir = st.mode & GO_MODE_DIR != 0;
    let dst_path = PathBuf::from(dst);
    let dst_meta = fs::metadata(&dst_path).ok();
    // where entries land: into dst (existing dir) or as dst (renamed root)
    let root_name = if st.name.is_empty() {
        base_name(&src_path)
    } else {
        st.name.clone()
    };
    let (into_dir, rename_root_to): (PathBuf, Option<String>) = match dst_meta {
        Some(md) if md.is_dir() => {
            if src_is_dir && asks_for_contents(src) {
                (dst_path.clone(), Some(String::new()))
            } else {
                (dst_path.clone(), None)
            }
        }
        Some(_) if src_is_dir => {
            return Err(StatusError::new(
                1,
                format!("cannot copy directory to file: {dst}"),
            ));
        }
        Some(_) => {
            let parent = dst_path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .to_path_buf();
            (parent, Some(base_name(dst)))
        }
        None => {
            if dst.ends_with('/') && !src_is_dir {
                return Err(StatusError::new(
                    1,
                    format!("destination directory {dst} must exist"),
                ));
            }
            let parent = dst_path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .to_path_buf();
            if !parent.is_dir() {
                return Err(StatusError::new(
                    1,
                    format!("destination directory {} must exist", parent.display()),
                ));
            }
            (parent, Some(base_name(dst)))
        }
    };
    let copied = extract(
        resp,
        &into_dir,
        &root_name,
        rename_root_to.as_deref(),
        quiet,
    )?;
    if !quiet {
        crate::commands::eprintln(&format!("\rSuccessfully copied {} to {dst}", human(copied)));
    }
    Ok(())
}

/// Why an archive entry was refused.
fn escape_error(name: &str) -> anyhow::Error {
    StatusError::new(
        1,
        format!("invalid archive entry {name:?}: it would leave the destination"),
    )
}

/// The relative path of an entry, with its first component renamed
/// (`Some("")` drops it: a directory's contents).
fn entry_rel(raw: &Path, root: &str, rename: Option<&str>) -> Option<PathBuf> {
    let mut parts: Vec<&OsStr> = Vec::new();
    for c in raw.components() {
        match c {
            Component::Normal(p) => parts.push(p),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    if let Some(new) = rename
        && parts.first().is_some_and(|f| *f == OsStr::new(root))
    {
        let rest: PathBuf = parts[1..].iter().collect();
        return Some(match (new.is_empty(), rest.as_os_str().is_empty()) {
            (true, _) => rest,
            // join("") would add a trailing slash
            (false, true) => PathBuf::from(new),
            (false, false) => Path::new(new).join(rest),
        });
    }
    Some(parts.iter().collect())
}

/// Creates the directories of `rel` under `base`, refusing symlinks on the
/// way; returns the full path of `rel`.
fn safe_parent(base: &Path, rel: &Path) -> anyhow::Result<PathBuf> {
    let mut cur = base.to_path_buf();
    let comps: Vec<_> = rel.components().collect();
    for c in &comps[..comps.len().saturating_sub(1)] {
        cur.push(c);
        match fs::symlink_metadata(&cur) {
            Ok(md) if md.file_type().is_symlink() => {
                return Err(escape_error(&rel.to_string_lossy()));
            }
            Ok(md) if md.is_dir() => {}
            Ok(_) => {
                return Err(StatusError::new(
                    1,
                    format!(
                        "cannot create directory {}: a file is in the way",
                        cur.display()
                    ),
                ));
            }
            Err(_) => fs::create_dir(&cur)?,
        }
    }
    Ok(base.join(rel))
}

/// Extracts a tar stream under `dir`; returns the bytes of file content.
pub fn extract(
    body: impl Read,
    dir: &Path,
    root: &str,
    rename: Option<&str>,
    quiet: bool,
) -> anyhow::Result<u64> {
    let mut ar = tar::Archive::new(body);
    let mut total = 0u64;
    let mut dir_times: Vec<(PathBuf, u64)> = Vec::new();
    for entry in ar.entries()? {
        let mut e = entry?;
        let raw = e.path()?.into_owned();
        let Some(rel) = entry_rel(&raw, root, rename) else {
            return Err(escape_error(&raw.to_string_lossy()));
        };
        let target = if rel.as_os_str().is_empty() {
            dir.to_path_buf()
        } else {
            safe_parent(dir, &rel)?
        };
        let h = e.header();
        let mode = h.mode().unwrap_or(0o644) & 0o7777;
        let mtime = h.mtime().unwrap_or(0);
        let kind = h.entry_type();
        match kind {
            tar::EntryType::Directory => {
                match fs::symlink_metadata(&target) {
                    Ok(md) if md.is_dir() => {}
                    Ok(md) if md.file_type().is_symlink() => {
                        return Err(escape_error(&raw.to_string_lossy()));
                    }
                    Ok(_) => {
                        return Err(StatusError::new(
                            1,
                            format!(
                                "cannot overwrite non-directory {} with directory",
                                target.display()
                            ),
                        ));
                    }
                    Err(_) => fs::create_dir(&target)?,
                }
                fs::set_permissions(&target, fs::Permissions::from_mode(mode))?;
                dir_times.push((target, mtime));
            }
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                if let Ok(md) = fs::symlink_metadata(&target) {
                    if md.is_dir() {
                        return Err(StatusError::new(
                            1,
                            format!(
                                "cannot overwrite directory {} with non-directory",
                                target.display()
                            ),
                        ));
                    }
                    fs::remove_file(&target)?;
                }
                let mut f = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .mode(mode)
                    .open(&target)?;
                let n = io::copy(&mut e, &mut f)?;
                total += n;
                f.set_permissions(fs::Permissions::from_mode(mode))?;
                set_mtime(&target, mtime, false);
                if !quiet {
                    let mut err = io::stderr().lock();
                    let _ = write!(err, "\rPreparing to copy... {}", human(total));
                }
            }
            tar::EntryType::Symlink => {
                let link = e
                    .link_name()?
                    .ok_or_else(|| anyhow::anyhow!("symlink without target in archive"))?
                    .into_owned();
                if fs::symlink_metadata(&target).is_ok() {
                    fs::remove_file(&target)?;
                }
                std::os::unix::fs::symlink(&link, &target)?;
                set_mtime(&target, mtime, true);
            }
            tar::EntryType::Link => {
                let link = e
                    .link_name()?
                    .ok_or_else(|| anyhow::anyhow!("hard link without target in archive"))?
                    .into_owned();
                let Some(lrel) = entry_rel(&link, root, rename) else {
                    return Err(escape_error(&link.to_string_lossy()));
                };
                let from = safe_parent(dir, &lrel)?;
                if fs::symlink_metadata(&from)
                    .map(|m| m.file_type().is_symlink())
                    .unwrap_or(true)
                {
                    return Err(escape_error(&link.to_string_lossy()));
                }
                if fs::symlink_metadata(&target).is_ok() {
                    fs::remove_file(&target)?;
                }
                fs::hard_link(&from, &target)?;
            }
            // devices, fifos: not created outside a container
            _ => {}
        }
    }
    for (d, t) in dir_times.into_iter().rev() {
        set_mtime(&d, t, false);
    }
    Ok(total)
}

fn set_mtime(p: &Path, secs: u64, nofollow: bool) {
    let Ok(c) = std::ffi::CString::new(p.as_os_str().as_bytes()) else {
        return;
    };
    let t = libc::timespec {
        tv_sec: secs as libc::time_t,
        tv_nsec: 0,
    };
    let times = [t, t];
    let flags = if nofollow {
        libc::AT_SYMLINK_NOFOLLOW
    } else {
        0
    };
    // SAFETY: c is a NUL-terminated path, times points to two timespecs.
    unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), times.as_ptr(), flags) };
}

/// Builds a tar of `src` whose root is named `root` (empty: the
/// directory's contents at the top), in a temporary file; returns it and
/// the bytes of file content.
fn build_tar(src: &Path, root: &str, follow_top: bool) -> anyhow::Result<(fs::File, u64)> {
    let tmp = tempfile_in_tmp()?;
    let mut b = tar::Builder::new(tmp.try_clone()?);
    b.follow_symlinks(false);
    let mut total = 0u64;
    let md = if follow_top {
        fs::metadata(src)?
    } else {
        fs::symlink_metadata(src)?
    };
    if md.is_dir() {
        add_dir(&mut b, src, Path::new(root), &mut total)?;
    } else if md.file_type().is_symlink() {
        let mut h = tar::Header::new_gnu();
        h.set_metadata(&md);
        h.set_entry_type(tar::EntryType::Symlink);
        b.append_link(&mut h, root, fs::read_link(src)?)?;
    } else {
        let mut f = fs::File::open(src)?;
        let mut h = tar::Header::new_gnu();
        h.set_metadata(&md);
        b.append_data(&mut h, root, &mut f)?;
        total += md.len();
    }
    b.finish()?;
    drop(b);
    let mut f = tmp;
    use std::io::Seek;
    f.seek(io::SeekFrom::Start(0))?;
    Ok((f, total))
}

fn tempfile_in_tmp() -> io::Result<fs::File> {
    let dir = std::env::temp_dir();
    let path = dir.join(format!(
        ".berth-cp-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    let f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    // unlinked at once: the open file is all we need
    let _ = fs::remove_file(&path);
    Ok(f)
}

fn add_dir(
    b: &mut tar::Builder<fs::File>,
    dir: &Path,
    name: &Path,
    total: &mut u64,
) -> anyhow::Result<()> {
    if !name.as_os_str().is_empty() {
        let md = fs::symlink_metadata(dir)?;
        let mut h = tar::Header::new_gnu();
        h.set_metadata(&md);
        h.set_entry_type(tar::EntryType::Directory);
        h.set_size(0);
        b.append_data(&mut h, name, io::empty())?;
    }
    let mut entries: Vec<_> = fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        let n = name.join(e.file_name());
        let md = fs::symlink_metadata(&p)?;
        let ft = md.file_type();
        if ft.is_dir() {
            add_dir(b, &p, &n, total)?;
        } else if ft.is_symlink() {
            let mut h = tar::Header::new_gnu();
            h.set_metadata(&md);
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            b.append_link(&mut h, &n, fs::read_link(&p)?)?;
        } else if ft.is_file() {
            let mut h = tar::Header::new_gnu();
            h.set_metadata(&md);
            let mut f = fs::File::open(&p)?;
            b.append_data(&mut h, &n, &mut f)?;
            *total += md.len();
        }
        // sockets and devices are skipped, as docker's TarWithOptions does for sockets
    }
    Ok(())
}

fn to_container(
    ctx: &Ctx,
    src: &str,
    container: &str,
    dst: &str,
    archive: bool,
    follow: bool,
    quiet: bool,
) -> anyhow::Result<()> {
    if dst.is_empty() {
        return Err(StatusError::new(1, "destination path cannot be empty"));
    }
    let client = ctx.client()?;
    // where in the container, and what is there now
    let mut dst_path = dst.to_owned();
    let dst_stat = match stat_in_container(ctx, container, dst) {
        Ok(st) => {
            if st.mode & GO_MODE_SYMLINK != 0 && !st.link_target.is_empty() {
                dst_path = st.link_target.clone();
                stat_in_container(ctx, container, &dst_path).ok()
            } else {
                Some(st)
            }
        }
        Err(e) if e.is_not_found() => None,
        Err(e) => return Err(e.into()),
    };
    let dst_is_dir = dst_stat.as_ref().is_some_and(|s| s.mode & GO_MODE_DIR != 0);
    let q = |dir: &str| {
        Query::new()
            .add("copyUIDGID", if archive { "true" } else { "false" })
            .add("noOverwriteDirNonDir", "true")
            .add("path", dir)
            .as_str()
            .to_owned()
    };
    if src == "-" {
        if !dst_is_dir {
            return Err(StatusError::new(
                1,
                format!("destination \"{container}:{dst}\" must be a directory"),
            ));
        }
        let mut stdin = io::stdin().lock();
        client.call(
            "PUT",
            &format!("/containers/{}/archive{}", seg(container), q(&dst_path)),
            Body::Stream(&mut stdin, "application/x-tar"),
        )?;
        return Ok(());
    }
    let src_p = Path::new(src);
    let md = if follow {
        fs::metadata(src_p)
    } else {
        fs::symlink_metadata(src_p)
    };
    let md = md.map_err(|e| {
        StatusError::new(
            1,
            format!(
                "could not find the file {src} in the local filesystem: lstat {src}: {}",
                crate::opts::kv::io_text(&e)
            ),
        )
    })?;
    let src_is_dir = md.is_dir();
    let src_base = base_name(src);
    // docker's PrepareArchiveCopy: into an existing directory, or as the destination
    let (dir, root) = if dst_is_dir {
        if src_is_dir && asks_for_contents(src) {
            (dst_path.clone(), String::new())
        } else {
            (dst_path.clone(), src_base)
        }
    } else if dst_stat.is_some() {
        if src_is_dir {
            return Err(StatusError::new(
                1,
                format!("cannot copy directory to file: {container}:{dst}"),
            ));
        }
        let p = Path::new(&dst_path);
        (
            p.parent()
                .map_or("/".to_owned(), |d| d.to_string_lossy().into_owned()),
            base_name(&dst_path),
        )
    } else {
        if dst_path.ends_with('/') && !src_is_dir {
            return Err(StatusError::new(
                1,
                format!("destination directory {container}:{dst} must exist"),
            ));
        }
        let p = Path::new(dst_path.trim_end_matches('/'));
        (
            p.parent()
                .map_or("/".to_owned(), |d| d.to_string_lossy().into_owned()),
            base_name(&dst_path),
        )
    };
    let (mut tarfile, total) = build_tar(src_p, &root, follow)?;
    client.call(
        "PUT",
        &format!("/containers/{}/archive{}", seg(container), q(&dir)),
        Body::Stream(&mut tarfile, "application/x-tar"),
    )?;
    if !quiet {
        crate::commands::eprintln(&format!(
            "Successfully copied {} to {container}:{dst}",
            human(total)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_arguments() {
        assert_eq!(split_cp_arg("c:/etc/hosts"), (Some("c"), "/etc/hosts"));
        assert_eq!(split_cp_arg("/tmp/x"), (None, "/tmp/x"));
        assert_eq!(split_cp_arg("./a:b"), (None, "./a:b"));
        assert_eq!(split_cp_arg("-"), (None, "-"));
        assert_eq!(split_cp_arg("dir/a:b"), (None, "dir/a:b"));
    }

    #[test]
    fn entry_paths() {
        assert_eq!(
            entry_rel(Path::new("hosts"), "hosts", Some("h2")),
            Some(PathBuf::from("h2"))
        );
        assert_eq!(
            entry_rel(Path::new("hosts"), "hosts", Some("h2"))
                .unwrap()
                .to_str(),
            Some("h2")
        );
        assert_eq!(
            entry_rel(Path::new("etc/a"), "etc", Some("")),
            Some(PathBuf::from("a"))
        );
        assert_eq!(
            entry_rel(Path::new("/etc/a"), "etc", None),
            Some(PathBuf::from("etc/a"))
        );
        assert_eq!(entry_rel(Path::new("etc/../../x"), "etc", None), None);
    }

    fn tar_of(entries: &[(&str, tar::EntryType, &[u8], &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, data, link) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_mode(0o644);
            h.set_size(data.len() as u64);
            match kind {
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    h.set_size(0);
                    b.append_link(&mut h, name, link).unwrap();
                }
                _ => {
                    // set_path refuses "..": write the raw name for hostile archives
                    let bytes = name.as_bytes();
                    h.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
                    h.set_cksum();
                    b.append(&h, *data).unwrap();
                }
            }
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn extracts_and_renames() {
        let d = tempfile::tempdir().unwrap();
        let t = tar_of(&[
            ("etc", tar::EntryType::Directory, b"", ""),
            ("etc/a", tar::EntryType::Regular, b"hello", ""),
        ]);
        let n = extract(&t[..], d.path(), "etc", Some("copy"), true).unwrap();
        assert_eq!(n, 5);
        assert_eq!(
            fs::read_to_string(d.path().join("copy/a")).unwrap(),
            "hello"
        );
    }

    #[test]
    fn refuses_escapes() {
        let d = tempfile::tempdir().unwrap();
        let inside = d.path().join("dst");
        fs::create_dir(&inside).unwrap();
        // ../ in a name
        let t = tar_of(&[("../evil", tar::EntryType::Regular, b"x", "")]);
        assert!(extract(&t[..], &inside, "x", None, true).is_err());
        assert!(!d.path().join("evil").exists());
        // a symlink out, then a write through it
        let t = tar_of(&[
            (
                "l",
                tar::EntryType::Symlink,
                b"",
                d.path().to_str().unwrap(),
            ),
            ("l/evil2", tar::EntryType::Regular, b"x", ""),
        ]);
        assert!(extract(&t[..], &inside, "l", None, true).is_err());
        assert!(!d.path().join("evil2").exists());
        // a file replaced by a symlink is not written through either
        let t = tar_of(&[
            ("f", tar::EntryType::Symlink, b"", "/etc/passwd"),
            ("f", tar::EntryType::Regular, b"x", ""),
        ]);
        extract(&t[..], &inside, "f", None, true).unwrap();
        assert!(
            !fs::symlink_metadata(inside.join("f"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert!(fs::read_to_string("/etc/passwd").unwrap().len() > 1);
        // a hard link to outside
        let t = tar_of(&[("h", tar::EntryType::Link, b"", "../../etc/passwd")]);
        assert!(extract(&t[..], &inside, "h", None, true).is_err());
    }

    #[test]
    fn builds_tars_with_a_root_name() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("src")).unwrap();
        fs::write(d.path().join("src/f"), "abc").unwrap();
        std::os::unix::fs::symlink("f", d.path().join("src/l")).unwrap();
        let (f, total) = build_tar(&d.path().join("src"), "dst", false).unwrap();
        assert_eq!(total, 3);
        let mut names: Vec<String> = tar::Archive::new(f)
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, vec!["dst", "dst/f", "dst/l"]);
        let (f, _) = build_tar(&d.path().join("src"), "", false).unwrap();
        let names: Vec<String> = tar::Archive::new(f)
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["f", "l"]);
    }
}
