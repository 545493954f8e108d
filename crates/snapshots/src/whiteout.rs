//! OCI whiteout names (pure logic) and their overlayfs form.
//!
//! In a layer tar, `dir/.wh.name` deletes `name` of the lower layers and
//! `dir/.wh..wh..opq` hides every lower entry of `dir`. In an overlay upper
//! or lower directory the same facts are a character device 0:0 named
//! `name` and the `trusted.overlay.opaque=y` xattr on `dir`.

/// Prefix of a whiteout file name.
pub const PREFIX: &[u8] = b".wh.";
/// Prefix of whiteout metadata names (AUFS internals and the opaque marker).
pub const META_PREFIX: &[u8] = b".wh..wh.";
/// The opaque-directory marker.
pub const OPAQUE: &[u8] = b".wh..wh..opq";
/// The xattr overlayfs reads to make a directory opaque.
pub const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// What a base name means in a layer tar.
#[derive(Debug, PartialEq, Eq)]
pub enum Name<'a> {
    /// An ordinary entry.
    Normal,
    /// Deletes this name of the lower layers.
    Whiteout(&'a [u8]),
    /// Makes the parent directory opaque.
    Opaque,
    /// AUFS metadata (`.wh..wh.plnk`, `.wh..wh.aufs`): not part of the image
    /// content; docker and containerd skip it too.
    AufsMeta,
}

/// Classifies a base name. Errors for whiteouts that name nothing usable.
pub fn classify(base: &[u8]) -> Result<Name<'_>, &'static str> {
    if base == OPAQUE {
        return Ok(Name::Opaque);
    }
    if base.starts_with(META_PREFIX) {
        return Ok(Name::AufsMeta);
    }
    if let Some(rest) = base.strip_prefix(PREFIX) {
        return match rest {
            b"" | b"." | b".." => Err("whiteout names no file"),
            r => Ok(Name::Whiteout(r)),
        };
    }
    Ok(Name::Normal)
}

/// The tar name of a whiteout for `name`.
pub fn whiteout_name(name: &[u8]) -> Vec<u8> {
    let mut v = PREFIX.to_vec();
    v.extend_from_slice(name);
    v
}

/// True for an overlay whiteout: a character device with device number 0.
pub fn is_overlay_whiteout(st_mode: u32, st_rdev: u64) -> bool {
    st_mode & 0o170000 == 0o020000 && st_rdev == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whiteout_names_the_hidden_file() {
        assert_eq!(classify(b".wh.passwd"), Ok(Name::Whiteout(b"passwd")));
        assert_eq!(classify(b".wh..hidden"), Ok(Name::Whiteout(b".hidden")));
    }

    #[test]
    fn opaque_marker_is_recognised() {
        assert_eq!(classify(b".wh..wh..opq"), Ok(Name::Opaque));
    }

    #[test]
    fn aufs_metadata_is_recognised() {
        assert_eq!(classify(b".wh..wh.plnk"), Ok(Name::AufsMeta));
        assert_eq!(classify(b".wh..wh.aufs"), Ok(Name::AufsMeta));
    }

    #[test]
    fn empty_or_dot_whiteouts_are_rejected() {
        assert!(classify(b".wh.").is_err());
        assert!(classify(b".wh..").is_err());
        assert!(classify(b".wh...").is_err());
    }

    #[test]
    fn ordinary_names_are_normal() {
        assert_eq!(classify(b"passwd"), Ok(Name::Normal));
        assert_eq!(classify(b".whx"), Ok(Name::Normal));
        assert_eq!(classify(b"a.wh.b"), Ok(Name::Normal));
    }

    #[test]
    fn whiteout_name_round_trips() {
        let w = whiteout_name(b"etc");
        assert_eq!(classify(&w), Ok(Name::Whiteout(b"etc")));
    }

    #[test]
    fn only_char_zero_zero_is_an_overlay_whiteout() {
        assert!(is_overlay_whiteout(0o020000, 0));
        assert!(!is_overlay_whiteout(0o020644, 1));
        assert!(!is_overlay_whiteout(0o060000, 0));
        assert!(!is_overlay_whiteout(0o100644, 0));
    }
}
