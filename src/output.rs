//! Writing results to stdout: text, or one JSON document streamed as it is serialised. A reader
//! that closes the pipe early (`| head`) has what it wanted: that is not an error.

use std::io::Write;

use crate::render::table::Rows;
use crate::render::Format;

/// How to render a report.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub format: Format,
    pub rows: Rows,
    pub progress: bool,
    /// Colour the table (`--color`, resolved against the terminal and NO_COLOR). Never used for JSON.
    pub color: bool,
}

fn settle(result: std::io::Result<()>) -> std::io::Result<()> {
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Writes `text` to stdout.
pub fn print(text: &str) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    settle(
        stdout
            .write_all(text.as_bytes())
            .and_then(|_| stdout.flush()),
    )
}

/// Writes `value` to stdout as one pretty-printed JSON document and a newline, streamed rather
/// than built in memory first (a `check` of a hundred targets is tens of megabytes). Serialising
/// the report types cannot fail.
pub fn print_json<T: serde::Serialize>(value: &T) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    settle(
        serde_json::to_writer_pretty(&mut out, value)
            .map_err(std::io::Error::from)
            .and_then(|_| out.write_all(b"\n"))
            .and_then(|_| out.flush()),
    )
}
