//! The one table model of the report: columns (heading, alignment, where shown), rows of cells.
//! Each table is described once (see `tables.rs`) and written by the CSV, Markdown and HTML
//! writers, each escaping cell text its own way.

use crate::report::Lang;

/// A bilingual label: "中文 English" in Markdown, the English below the Chinese in HTML, the
/// English alone with `--lang en`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Label {
    pub zh: &'static str,
    pub en: &'static str,
}

impl Label {
    pub const fn new(zh: &'static str, en: &'static str) -> Label {
        Label { zh, en }
    }

    /// The same text in every language (`PUE`, or an empty heading).
    pub const fn same(text: &'static str) -> Label {
        Label { zh: "", en: text }
    }

    /// Plain text: "中文 English" (zh) or "English" (en).
    pub fn text(self, lang: Lang) -> String {
        match lang {
            Lang::Zh if !self.zh.is_empty() => format!("{} {}", self.zh, self.en),
            _ => self.en.to_string(),
        }
    }

    /// HTML: the Chinese with the English below it, smaller (the English alone with en).
    pub fn html(self, lang: Lang) -> String {
        match lang {
            Lang::Zh if !self.zh.is_empty() => {
                format!("{}<span class=\"en\">{}</span>", self.zh, self.en)
            }
            _ => self.en.to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    /// Numbers.
    Right,
}

/// Which writers show a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Show {
    All,
    /// Print only: left out of the Markdown (e-mail) table.
    HtmlOnly,
    /// Its own column in HTML; in Markdown appended to the cell before it, after a space.
    HtmlOwnColumn,
}

#[derive(Debug, Clone)]
pub struct Column {
    pub head: Label,
    /// Markdown's heading, where it differs from the printed one.
    pub md_head: Option<Label>,
    /// HTML only: a note under the heading (plain text, escaped).
    pub note: Option<String>,
    pub align: Align,
    pub show: Show,
}

impl Column {
    pub fn new(head: Label, align: Align) -> Column {
        Column {
            head,
            md_head: None,
            note: None,
            align,
            show: Show::All,
        }
    }

    pub fn left(head: Label) -> Column {
        Column::new(head, Align::Left)
    }

    pub fn right(head: Label) -> Column {
        Column::new(head, Align::Right)
    }

    pub fn md_head(mut self, head: Label) -> Column {
        self.md_head = Some(head);
        self
    }

    pub fn note(mut self, note: String) -> Column {
        self.note = Some(note);
        self
    }

    pub fn show(mut self, show: Show) -> Column {
        self.show = show;
        self
    }
}

/// What a cell says. Text is plain (each writer escapes it); labels are bilingual.
#[derive(Debug, Clone, PartialEq)]
pub enum Text {
    Plain(String),
    Label(Label),
    /// A name with its identifier: "name (`id`)" in Markdown, the id below the name in HTML.
    Code {
        main: String,
        sub: String,
    },
    /// A name with a qualifier: "name qualifier" in Markdown, the qualifier below in HTML.
    Word {
        main: String,
        sub: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub text: Text,
    /// Bold in print (the Markdown table stays plain).
    pub strong: bool,
    /// HTML only: a class besides the alignment's (`breach`, a verdict).
    pub class: Option<&'static str>,
}

impl Cell {
    pub fn strong(mut self) -> Cell {
        self.strong = true;
        self
    }

    pub fn class(mut self, class: &'static str) -> Cell {
        self.class = Some(class);
        self
    }
}

impl From<Text> for Cell {
    fn from(text: Text) -> Cell {
        Cell {
            text,
            strong: false,
            class: None,
        }
    }
}

impl From<String> for Cell {
    fn from(s: String) -> Cell {
        Text::Plain(s).into()
    }
}

impl From<&str> for Cell {
    fn from(s: &str) -> Cell {
        Text::Plain(s.to_string()).into()
    }
}

impl From<Label> for Cell {
    fn from(l: Label) -> Cell {
        Text::Label(l).into()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub cells: Vec<Cell>,
    /// A total: set off in print.
    pub total: bool,
    /// Print only: left out of the Markdown table.
    pub html_only: bool,
}

impl Row {
    pub fn new(cells: Vec<Cell>) -> Row {
        Row {
            cells,
            total: false,
            html_only: false,
        }
    }

    pub fn total(mut self, total: bool) -> Row {
        self.total = total;
        self
    }

    pub fn html_only(mut self) -> Row {
        self.html_only = true;
        self
    }
}

#[derive(Debug, Clone)]
pub struct Table {
    pub columns: Vec<Column>,
    pub rows: Vec<Row>,
}

impl Table {
    pub fn new(columns: Vec<Column>) -> Table {
        Table {
            columns,
            rows: Vec::new(),
        }
    }

    /// Appends a row; it has one cell per column (a table is described once, so a short or
    /// long row is a bug in its description).
    pub fn push(&mut self, row: Row) {
        debug_assert_eq!(row.cells.len(), self.columns.len(), "{row:?}");
        self.rows.push(row);
    }
}
