//! Where a key is in the config text, from the spans of the TOML parser, so that each error
//! names the line of the key it is about (not the first place the same word appears).

use toml_edit::{ImDocument, Item, Table, TableLike, Value};

/// One step of a key path: a key of a table, or an element of an array (of tables).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Seg<'a> {
    Key(&'a str),
    Idx(usize),
}

/// The parsed document, kept for finding the line of a key path.
pub(crate) struct Located<'a> {
    text: &'a str,
    doc: Option<ImDocument<&'a str>>,
}

#[derive(Clone, Copy)]
enum Node<'d> {
    Item(&'d Item),
    Table(&'d Table),
    Value(&'d Value),
}

impl<'d> Node<'d> {
    fn table(self) -> Option<&'d dyn TableLike> {
        match self {
            Node::Item(i) => i.as_table_like(),
            Node::Table(t) => Some(t),
            Node::Value(v) => v.as_inline_table().map(|t| t as &dyn TableLike),
        }
    }

    fn index(self, i: usize) -> Option<Node<'d>> {
        match self {
            Node::Item(item) => match item.as_array_of_tables() {
                Some(a) => a.get(i).map(Node::Table),
                None => item.as_array().and_then(|a| a.get(i)).map(Node::Value),
            },
            Node::Table(_) => None,
            Node::Value(v) => v.as_array().and_then(|a| a.get(i)).map(Node::Value),
        }
    }

    fn span(self) -> Option<std::ops::Range<usize>> {
        match self {
            Node::Item(i) => i.span(),
            Node::Table(t) => t.span(),
            Node::Value(v) => v.span(),
        }
    }
}

impl<'a> Located<'a> {
    pub(crate) fn new(text: &'a str) -> Located<'a> {
        Located {
            text,
            doc: ImDocument::parse(text).ok(),
        }
    }

    /// The line of `path` (its key, or its array element). When the file does not hold all of
    /// it (a default), the line of the deepest part it holds (e.g. the `[[facility]]` header);
    /// line 1 when it holds none.
    pub(crate) fn line(&self, path: &[Seg]) -> usize {
        let Some(doc) = &self.doc else { return 1 };
        let mut node = Node::Item(doc.as_item());
        let mut best = None;
        for seg in path {
            let next = match *seg {
                Seg::Key(k) => node
                    .table()
                    .and_then(|t| t.get_key_value(k))
                    .map(|(key, item)| (key.span().or_else(|| item.span()), Node::Item(item))),
                Seg::Idx(i) => node.index(i).map(|n| (n.span(), n)),
            };
            let Some((span, n)) = next else { break };
            if span.is_some() {
                best = span;
            }
            node = n;
        }
        best.map_or(1, |s| self.line_at(s.start))
    }

    /// The line of a byte offset.
    pub(crate) fn line_at(&self, byte: usize) -> usize {
        line_of(self.text, byte)
    }
}

pub(crate) fn line_of(text: &str, byte: usize) -> usize {
    text.as_bytes()[..byte.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}
