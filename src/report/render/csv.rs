//! CSV (RFC 4180: CRLF line ends, fields with a comma, quote or line break quoted).

use super::table::{Table, Text};

fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn text(t: &Text) -> &str {
    match t {
        Text::Plain(s) => s,
        Text::Label(l) => l.en,
        Text::Code { main, .. } | Text::Word { main, .. } => main,
    }
}

/// The table with a header line of its columns' (English) headings.
pub fn write(t: &Table) -> String {
    let mut out = String::new();
    let head: Vec<String> = t.columns.iter().map(|c| field(c.head.en)).collect();
    out.push_str(&head.join(","));
    out.push_str("\r\n");
    for row in &t.rows {
        let cells: Vec<String> = row.cells.iter().map(|c| field(text(&c.text))).collect();
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn fields_with_commas_or_quotes_are_quoted() {
        assert_eq!(super::field("a,b \"c\""), "\"a,b \"\"c\"\"\"");
        assert_eq!(super::field("plain"), "plain");
    }
}
