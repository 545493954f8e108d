//! Column alignment as Go's `text/tabwriter` does it with docker's settings
//! (`minwidth 10, tabwidth 1, padding 3, ' '`): tab-terminated cells of
//! contiguous lines form a column whose width is its widest cell plus the
//! padding; the text after a line's last tab is not part of any column.

/// A cell: its text, display width and whether a tab ended it.
#[derive(Debug, Clone)]
struct Cell {
    text: String,
    width: usize,
}

/// Formats `text` with docker's table settings.
pub fn align(text: &str) -> String {
    TabWriter {
        minwidth: 10,
        padding: 3,
    }
    .format(text)
}

#[derive(Debug, Clone, Copy)]
pub struct TabWriter {
    pub minwidth: usize,
    pub padding: usize,
}

impl TabWriter {
    pub fn format(&self, text: &str) -> String {
        let ends_with_newline = text.ends_with('\n');
        let body = text.strip_suffix('\n').unwrap_or(text);
        let lines: Vec<Vec<Cell>> = if text.is_empty() {
            Vec::new()
        } else {
            body.split('\n')
                .map(|l| {
                    l.split('\t')
                        .map(|c| Cell {
                            text: c.to_owned(),
                            width: c.chars().count(),
                        })
                        .collect()
                })
                .collect()
        };
        let mut out = String::with_capacity(text.len() * 2);
        let mut widths = Vec::new();
        self.block(&lines, 0, lines.len(), &mut widths, &mut out);
        if !ends_with_newline && out.ends_with('\n') {
            out.pop();
        }
        out
    }

    /// Go's `format`: finds the column blocks to the right of the columns
    /// whose widths are known, recursively.
    fn block(
        &self,
        lines: &[Vec<Cell>],
        mut line0: usize,
        line1: usize,
        widths: &mut Vec<usize>,
        out: &mut String,
    ) {
        let column = widths.len();
        let mut this = line0;
        while this < line1 {
            if column + 1 >= lines[this].len() {
                this += 1;
                continue;
            }
            self.write_lines(lines, line0, this, widths, out);
            line0 = this;
            let mut width = self.minwidth;
            while this < line1 && column + 1 < lines[this].len() {
                width = width.max(lines[this][column].width + self.padding);
                this += 1;
            }
            widths.push(width);
            self.block(lines, line0, this, widths, out);
            widths.pop();
            line0 = this;
        }
        self.write_lines(lines, line0, line1, widths, out);
    }

    fn write_lines(
        &self,
        lines: &[Vec<Cell>],
        line0: usize,
        line1: usize,
        widths: &[usize],
        out: &mut String,
    ) {
        for line in &lines[line0..line1] {
            for (j, c) in line.iter().enumerate() {
                out.push_str(&c.text);
                if j + 1 < line.len()
                    && let Some(w) = widths.get(j)
                {
                    for _ in c.width..*w {
                        out.push(' ');
                    }
                }
            }
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_ps_shape() {
        let t = "CONTAINER ID\tIMAGE\tNAMES\n0123456789ab\tbusybox\tweb\nfedcba987654\tregistry:5000/x\tdb\n";
        let want = "CONTAINER ID   IMAGE             NAMES\n0123456789ab   busybox           web\nfedcba987654   registry:5000/x   db\n";
        assert_eq!(align(t), want);
    }

    #[test]
    fn minimum_width_and_empty_cells() {
        let t = "A\tB\tC\n\t\tz\n";
        assert_eq!(align(t), "A         B         C\n                    z\n");
    }

    #[test]
    fn lines_without_tabs_break_columns() {
        let t = "aaaaaaaaaaaaaa\tb\nno tabs here\nc\td\n";
        assert_eq!(align(t), "aaaaaaaaaaaaaa   b\nno tabs here\nc         d\n");
    }

    #[test]
    fn header_only() {
        assert_eq!(align("NAME\tDRIVER\n"), "NAME      DRIVER\n");
        assert_eq!(align(""), "");
    }
}
