//! The report's four forms: CSV and JSON for machines, Markdown for e-mail, HTML for print.
//! Every table is described once ([`tables`], on the model of [`table`]) and written by the
//! CSV, Markdown and HTML writers. Every writer walks vectors in order (no map iteration), so
//! output is reproducible.

mod chart;
mod csv;
mod escape;
mod fmt;
mod html;
mod md;
pub mod table;
pub mod tables;

use super::compute::Report;
use super::{Format, Lang};

pub use html::render_html;
pub use md::render_markdown;
pub use tables::CSV_HEADER;

pub fn render(r: &Report, format: Format, lang: Lang) -> String {
    match format {
        Format::Csv => render_csv(r),
        Format::Json => render_json(r),
        Format::Md => render_markdown(r, lang),
        Format::Html => render_html(r, lang),
    }
}

/// Pretty JSON in the struct's field order, with a trailing newline.
pub fn render_json(r: &Report) -> String {
    let mut s = serde_json::to_string_pretty(r)
        .unwrap_or_else(|e| format!("{{\"error\":{:?}}}", e.to_string()));
    s.push('\n');
    s
}

/// One row per facility per calendar month, then one for the period (see [`CSV_HEADER`]).
pub fn render_csv(r: &Report) -> String {
    csv::write(&tables::csv(r))
}
