//! Renderers: one per output format, each turning a finished report into text for stdout.
//! Nothing here probes or decides; a renderer only formats what the scan found.

pub mod color;
pub mod table;

/// Output formats of `scan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A table grouped by protocol, for people.
    Table,
    /// One JSON document, for programs.
    Json,
}
