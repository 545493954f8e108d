//! Compiled filters kept on disk, so that starting the hundredth container
//! with Docker's default profile does not pay libseccomp's BPF generation
//! again (several milliseconds for x86_64 + x86 + x32, against ~10 µs here).
//!
//! An entry stores the exact key it was built from (compiler fingerprint +
//! the profile as JSON) and is used only when that key matches byte for byte:
//! the file name is a fast hash, a collision only costs a recompile.
//!
//! The directory belongs to the runtime (put it under its `--root`). A cached
//! program is installed into containers, so an entry is trusted only if it is
//! a regular file owned by us and writable by no one else, in a directory
//! with the same properties; anything else is ignored and rebuilt.

use std::fs::{self, File, OpenOptions};
use std::hash::{DefaultHasher, Hasher};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use oci_spec::runtime::LinuxSeccomp;

use crate::compile::compile;
use crate::error::Error;
use crate::filter::Filter;

const MAGIC: &[u8; 8] = b"BSECCMP1";
const BPF_MAXINSNS: usize = 4096;

/// Like [`compile`], reusing the program an earlier call built for the same
/// profile with the same `cache_dir`.
///
/// Validation errors are the same as [`compile`]'s (a profile that does not
/// compile is never cached). Failing to read or write the cache is not an
/// error: the filter is compiled and the problem logged at debug level.
pub fn compile_cached(profile: &LinuxSeccomp, cache_dir: &Path) -> Result<Filter, Error> {
    let Ok(profile_json) = serde_json::to_vec(profile) else {
        return compile(profile);
    };
    let mut key = fingerprint();
    key.extend_from_slice(&profile_json);
    let mut hasher = DefaultHasher::new();
    hasher.write(&key);
    let path = cache_dir.join(format!("{:016x}.bpf", hasher.finish()));

    match read_entry(cache_dir, &path, &key) {
        Ok(Some(filter)) => return Ok(filter),
        Ok(None) => {}
        Err(reason) => tracing::debug!(path = %path.display(), %reason, "seccomp cache entry ignored"),
    }
    let filter = compile(profile)?;
    if let Err(reason) = write_entry(cache_dir, &path, &key, &filter) {
        tracing::debug!(path = %path.display(), %reason, "seccomp cache entry not written");
    }
    Ok(filter)
}

/// What else the filter depends on: this compiler's code, libseccomp's version,
/// and the kernel (compile() refuses flags it does not know).
fn fingerprint() -> Vec<u8> {
    let mut h = DefaultHasher::new();
    h.write(include_str!("compile.rs").as_bytes());
    h.write(include_str!("names.rs").as_bytes());
    h.write(include_str!("enosys.rs").as_bytes());
    h.write(env!("CARGO_PKG_VERSION").as_bytes());
    if let Ok(v) = libseccomp::ScmpVersion::current() {
        h.write_u32(v.major);
        h.write_u32(v.minor);
        h.write_u32(v.micro);
    }
    h.write(crate::names::arch_name(crate::profile::native_arch()).as_bytes());
    if let Ok(uts) = nix::sys::utsname::uname() {
        h.write(uts.release().as_encoded_bytes());
        h.write(uts.version().as_encoded_bytes());
    }
    let mut key = MAGIC.to_vec();
    key.extend_from_slice(&h.finish().to_le_bytes());
    key
}

/// Only files we own and nobody else may write are trusted.
fn trusted(meta: &fs::Metadata) -> bool {
    meta.uid() == nix::unistd::geteuid().as_raw() && meta.mode() & 0o022 == 0
}

fn read_entry(dir: &Path, path: &Path, key: &[u8]) -> Result<Option<Filter>, String> {
    match fs::symlink_metadata(dir) {
        Ok(meta) if meta.is_dir() && trusted(&meta) => {}
        Ok(_) => return Err("cache directory is not ours alone".into()),
        Err(_) => return Ok(None),
    }
    let mut file = match OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() || !trusted(&meta) {
        return Err("entry is not a file only we can write".into());
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    Ok(decode(&bytes, key))
}

/// [key len u32][key][flags u64][notify u8][count u32][count × (code u16, jt u8, jf u8, k u32)]
fn encode(key: &[u8], filter: &Filter) -> Vec<u8> {
    let program = filter.program();
    let mut out = Vec::with_capacity(4 + key.len() + 13 + program.len() * 8);
    out.extend_from_slice(&(key.len() as u32).to_le_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(&filter.flags().to_le_bytes());
    out.push(u8::from(filter.needs_notify_fd()));
    out.extend_from_slice(&(program.len() as u32).to_le_bytes());
    for i in program {
        out.extend_from_slice(&i.code.to_le_bytes());
        out.push(i.jt);
        out.push(i.jf);
        out.extend_from_slice(&i.k.to_le_bytes());
    }
    out
}

fn decode(bytes: &[u8], key: &[u8]) -> Option<Filter> {
    let mut rest = bytes;
    let mut take = |n: usize| -> Option<&[u8]> {
        if rest.len() < n {
            return None;
        }
        let (head, tail) = rest.split_at(n);
        rest = tail;
        Some(head)
    };
    let key_len = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
    if take(key_len)? != key {
        return None; // another profile whose name hashed the same, or an old compiler
    }
    let flags = u64::from_le_bytes(take(8)?.try_into().ok()?);
    let notify = match take(1)?[0] {
        0 => false,
        1 => true,
        _ => return None,
    };
    let count = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
    if count == 0 || count > BPF_MAXINSNS {
        return None;
    }
    let insns = take(count * 8)?;
    if !rest.is_empty() {
        return None;
    }
    let program = insns
        .chunks_exact(8)
        .map(|c| libc::sock_filter {
            code: u16::from_le_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect();
    Some(Filter::new(program, libc::c_ulong::try_from(flags).ok()?, notify))
}

fn write_entry(dir: &Path, path: &Path, key: &[u8], filter: &Filter) -> Result<(), String> {
    match fs::DirBuilder::new().mode(0o700).recursive(true).create(dir) {
        Ok(()) => {}
        Err(e) => return Err(e.to_string()),
    }
    let meta = fs::symlink_metadata(dir).map_err(|e| e.to_string())?;
    if !meta.is_dir() || !trusted(&meta) {
        return Err("cache directory is not ours alone".into());
    }
    let tmp = dir.join(format!(".{}.{}.tmp", path.file_name().and_then(|n| n.to_str()).unwrap_or("entry"), std::process::id()));
    let mut file: File = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&tmp)
        .map_err(|e| e.to_string())?;
    let written = file.write_all(&encode(key, filter)).and_then(|()| fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e.to_string());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn profile(errno: u32) -> LinuxSeccomp {
        crate::parse_oci_profile(&serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno}]
        }))
        .expect("profile")
    }

    fn entries(dir: &Path) -> Vec<std::path::PathBuf> {
        fs::read_dir(dir).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default()
    }

    fn same(a: &Filter, b: &Filter) -> bool {
        a.flags() == b.flags()
            && a.needs_notify_fd() == b.needs_notify_fd()
            && a.program().len() == b.program().len()
            && a.program().iter().zip(b.program()).all(|(x, y)| (x.code, x.jt, x.jf, x.k) == (y.code, y.jt, y.jf, y.k))
    }

    #[test]
    fn second_compile_reads_the_entry_back() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("cache");
        let fresh = compile_cached(&profile(5), &dir).expect("compiles");
        let files = entries(&dir);
        assert_eq!(files.len(), 1, "one entry, no temp file left: {files:?}");
        assert_eq!(fs::metadata(&files[0]).expect("entry").permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::metadata(&dir).expect("dir").permissions().mode() & 0o777, 0o700);

        // poison the program in place, keeping the key: the next call must use
        // the entry (proves the hit path is taken)...
        let mut bytes = fs::read(&files[0]).expect("read");
        let last = bytes.len() - 4;
        bytes[last..].copy_from_slice(&(libc::SECCOMP_RET_ERRNO | 77).to_le_bytes());
        fs::write(&files[0], &bytes).expect("write");
        let cached = compile_cached(&profile(5), &dir).expect("cached");
        assert!(!same(&fresh, &cached));
        assert_eq!(cached.program().last().map(|i| i.k), Some(libc::SECCOMP_RET_ERRNO | 77));

        // ...and a different profile gets its own entry
        let other = compile_cached(&profile(6), &dir).expect("compiles");
        assert!(same(&other, &compile(&profile(6)).expect("compiles")));
        assert_eq!(entries(&dir).len(), 2);
    }

    #[test]
    fn entries_others_could_write_are_ignored() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("cache");
        let fresh = compile_cached(&profile(5), &dir).expect("compiles");
        let entry = entries(&dir).remove(0);
        let mut bytes = fs::read(&entry).expect("read");
        let last = bytes.len() - 4;
        bytes[last..].copy_from_slice(&libc::SECCOMP_RET_ALLOW.to_le_bytes());
        fs::write(&entry, &bytes).expect("write");

        fs::set_permissions(&entry, fs::Permissions::from_mode(0o666)).expect("chmod");
        assert!(same(&compile_cached(&profile(5), &dir).expect("compiles"), &fresh), "world-writable entry used");

        // a symlink in place of the entry is not followed
        fs::remove_file(&entry).expect("rm");
        let elsewhere = tmp.path().join("elsewhere");
        fs::write(&elsewhere, &bytes).expect("write");
        fs::set_permissions(&elsewhere, fs::Permissions::from_mode(0o600)).expect("chmod");
        std::os::unix::fs::symlink(&elsewhere, &entry).expect("symlink");
        assert!(same(&compile_cached(&profile(5), &dir).expect("compiles"), &fresh), "symlinked entry used");

        // a group-writable directory is not trusted at all
        fs::remove_file(&entry).expect("rm");
        fs::write(&entry, &bytes).expect("write");
        fs::set_permissions(&entry, fs::Permissions::from_mode(0o600)).expect("chmod");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o770)).expect("chmod");
        assert!(same(&compile_cached(&profile(5), &dir).expect("compiles"), &fresh), "entry in a shared directory used");
    }

    #[test]
    fn truncated_or_foreign_entries_are_rebuilt() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("cache");
        let fresh = compile_cached(&profile(5), &dir).expect("compiles");
        let entry = entries(&dir).remove(0);
        let bytes = fs::read(&entry).expect("read");
        for broken in [&bytes[..bytes.len() - 3], &bytes[..10], &[][..]] {
            fs::write(&entry, broken).expect("write");
            assert!(same(&compile_cached(&profile(5), &dir).expect("compiles"), &fresh));
        }
        // and invalid profiles are still rejected, cache or not
        let bad = crate::parse_oci_profile(&serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 1})).expect("parses");
        assert!(compile_cached(&bad, &dir).is_err());
    }

    #[test]
    fn unwritable_cache_still_compiles() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let file = tmp.path().join("not-a-dir");
        fs::write(&file, b"").expect("write");
        let f = compile_cached(&profile(5), &file).expect("compiles without a cache");
        assert!(same(&f, &compile(&profile(5)).expect("compiles")));
    }
}
