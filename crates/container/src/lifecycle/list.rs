//! `list`: every container under the root, as runc's table or JSON.

use super::{Runtime, state_json};
use crate::Result;

/// One row of `list`.
#[derive(Debug, Clone)]
pub struct Entry {
    pub json: serde_json::Value,
}

pub fn list(rt: &Runtime) -> Result<Vec<serde_json::Value>> {
    let mut out = Vec::new();
    for id in rt.root.list()? {
        let Ok(dir) = rt.root.open(&id, false) else { continue };
        let st = match dir.load() {
            Ok(Some(st)) => st,
            _ => continue,
        };
        let status = dir.status(Some(&st));
        out.push(state_json(&st, status));
    }
    Ok(out)
}

/// Lays out rows the way Go's tabwriter does with runc's settings
/// (minimum width 12, padding 3): each column as wide as its widest cell.
pub fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(|r| r.len()).max().unwrap_or(0);
    let mut widths = vec![0usize; cols];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max((c.chars().count() + 3).max(12));
        }
    }
    let mut s = String::new();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i + 1 == r.len() {
                s.push_str(c);
            } else {
                s.push_str(c);
                s.extend(std::iter::repeat_n(' ', widths[i] - c.chars().count()));
            }
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn table_pads_like_tabwriter() {
        let t = super::table(&[vec!["ID".into(), "PID".into()], vec!["a-long-container-id".into(), "1".into()]]);
        assert_eq!(t, format!("ID{}PID\na-long-container-id   1\n", " ".repeat(20)));
    }
}
