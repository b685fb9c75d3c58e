//! Writing results to stdout: text, or one JSON document streamed as it is serialised. A reader
//! that closes the pipe early (`| head`) has what it wanted: that is not an error.

use std::io::Write;

use crate::render::table::Rows;
use crate::render::Format;

/// How to render a report.
#[derive(Debug, Clone)]
pub struct Output {
    pub format: Format,
    pub rows: Rows,
    pub progress: bool,
    /// Colour the table (`--color`, resolved against the terminal and NO_COLOR). Never used for JSON.
    pub color: bool,
    /// Also write the JSON report to this file (`--json-out`).
    pub json_out: Option<std::path::PathBuf>,
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

/// Writes `value` as pretty-printed JSON to `path`, whole or not at all: into a temporary file
/// beside it first, renamed over `path` once complete, so a killed run leaves no half a report.
pub fn write_json_file<T: serde::Serialize>(
    path: &std::path::Path,
    value: &T,
) -> std::io::Result<()> {
    write_file_atomically(path, |out| {
        serde_json::to_writer_pretty(&mut *out, value).map_err(std::io::Error::from)?;
        out.write_all(b"\n")
    })
}

/// Writes what `fill` writes to `path` through a temporary file in the same directory and a rename.
pub fn write_file_atomically(
    path: &std::path::Path,
    fill: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    // A link is written through (the file it names is replaced), and an existing file keeps its
    // permissions.
    let resolved;
    let path = match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            resolved = std::fs::canonicalize(path)?;
            resolved.as_path()
        }
        _ => path,
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "report".into());
    let unique = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
    );
    let tmp = path.with_file_name(format!(".{name}.partial-{unique}"));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .and_then(|file| {
            if let Ok(old) = std::fs::metadata(path) {
                file.set_permissions(old.permissions())?;
            }
            let mut out = std::io::BufWriter::new(file);
            fill(&mut out)?;
            out.flush()?;
            out.get_ref().sync_all()
        });
    match written.and_then(|_| std::fs::rename(&tmp, path)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
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
