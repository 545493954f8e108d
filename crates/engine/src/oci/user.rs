//! `-u` resolution against the container's `/etc/passwd` and `/etc/group`,
//! as runc's `user.GetExecUser` does for docker: `name`, `uid`,
//! `name:group`, `uid:gid`; supplementary groups are the groups that list
//! the user, plus `--group-add`.

use crate::error::{Error, Result};

/// A resolved user.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    /// From passwd (for `HOME`), `/` when unknown.
    pub home: String,
}

struct Passwd<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

struct Group<'a> {
    name: &'a str,
    gid: u32,
    members: Vec<&'a str>,
}

fn passwd_entries(text: &str) -> Vec<Passwd<'_>> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 4 {
                return None;
            }
            Some(Passwd { name: f[0], uid: f[2].parse().ok()?, gid: f[3].parse().ok()?, home: f.get(5).copied().unwrap_or("") })
        })
        .collect()
}

fn group_entries(text: &str) -> Vec<Group<'_>> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 3 {
                return None;
            }
            let members = f.get(3).map(|m| m.split(',').map(str::trim).filter(|s| !s.is_empty()).collect()).unwrap_or_default();
            Some(Group { name: f[0], gid: f[2].parse().ok()?, members })
        })
        .collect()
}

/// Resolves `user` (empty = root) and `group_add` with the contents of the
/// container's passwd and group files (`None` when the file is missing).
pub fn resolve(user: &str, group_add: &[String], passwd: Option<&str>, group: Option<&str>) -> Result<ResolvedUser> {
    let pw = passwd.map(passwd_entries).unwrap_or_default();
    let gr = group.map(group_entries).unwrap_or_default();
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let u = if u.is_empty() { "0" } else { u };
    let entry = match u.parse::<u32>() {
        Ok(uid) => pw.iter().find(|p| p.uid == uid),
        Err(_) => Some(
            pw.iter()
                .find(|p| p.name == u)
                .ok_or_else(|| Error::invalid(format!("unable to find user {u}: no matching entries in passwd file")))?,
        ),
    };
    let uid = match u.parse::<u32>() {
        Ok(n) => n,
        Err(_) => entry.map(|e| e.uid).unwrap_or(0),
    };
    let mut gid = entry.map(|e| e.gid).unwrap_or(0);
    let home = entry.map(|e| e.home).filter(|h| !h.is_empty()).unwrap_or("/").to_owned();
    if let Some(g) = g {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => gr
                .iter()
                .find(|e| e.name == g)
                .map(|e| e.gid)
                .ok_or_else(|| Error::invalid(format!("unable to find group {g}: no matching entries in group file")))?,
        };
    }
    let mut additional = Vec::new();
    // supplementary groups only when no group was given explicitly (runc)
    if g.is_none()
        && let Some(e) = entry
    {
        for grp in &gr {
            if grp.members.contains(&e.name) && !additional.contains(&grp.gid) {
                additional.push(grp.gid);
            }
        }
    }
    for a in group_add {
        let g = match a.parse::<u32>() {
            Ok(n) => n,
            Err(_) => gr
                .iter()
                .find(|e| e.name == a.as_str())
                .map(|e| e.gid)
                .ok_or_else(|| Error::invalid(format!("Unable to find group {a}: no matching entries in group file")))?,
        };
        if !additional.contains(&g) {
            additional.push(g);
        }
    }
    Ok(ResolvedUser { uid, gid, additional_gids: additional, home })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PW: &str = "root:x:0:0:root:/root:/bin/sh\n# comment\nwww:x:33:33:www:/var/www:/bin/false\nbob:x:1000:1000::/home/bob:/bin/sh\n";
    const GR: &str = "root:x:0:\nwww:x:33:bob\nstaff:x:50:bob,www\nbob:x:1000:\n";

    #[test]
    fn names_ids_and_groups() {
        let r = resolve("", &[], Some(PW), Some(GR)).unwrap();
        assert_eq!((r.uid, r.gid, r.home.as_str()), (0, 0, "/root"));
        let r = resolve("bob", &[], Some(PW), Some(GR)).unwrap();
        assert_eq!((r.uid, r.gid, r.additional_gids.clone()), (1000, 1000, vec![33, 50]));
        let r = resolve("www:staff", &[], Some(PW), Some(GR)).unwrap();
        assert_eq!((r.uid, r.gid, r.additional_gids.clone()), (33, 50, vec![]));
        let r = resolve("4242:7", &["staff".into(), "9".into()], Some(PW), Some(GR)).unwrap();
        assert_eq!((r.uid, r.gid, r.additional_gids.clone(), r.home.as_str()), (4242, 7, vec![50, 9], "/"));
        let r = resolve("1000", &[], Some(PW), Some(GR)).unwrap();
        assert_eq!((r.uid, r.gid), (1000, 1000));
        let r = resolve("0", &[], None, None).unwrap();
        assert_eq!((r.uid, r.gid), (0, 0));
    }

    #[test]
    fn unknown_user_or_group_is_docker_error() {
        let e = resolve("nobody2", &[], Some(PW), Some(GR)).unwrap_err();
        assert!(e.to_string().contains("unable to find user nobody2: no matching entries in passwd file"), "{e}");
        let e = resolve("bob:wheel", &[], Some(PW), Some(GR)).unwrap_err();
        assert!(e.to_string().contains("unable to find group wheel"), "{e}");
        let e = resolve("", &["wheel".into()], Some(PW), Some(GR)).unwrap_err();
        assert!(e.to_string().contains("Unable to find group wheel"), "{e}");
    }
}
