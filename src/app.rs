//! Runs a validated `Action`: resolve, scan, render to stdout, and map the outcome to an exit code.
//! Errors reach the user as one line on stderr; stdout only ever carries a complete report.

use std::io::Write;
use std::process::ExitCode;

use crate::cli::{Action, Output};
use crate::color::Painter;
use crate::report::{table, Format};
use crate::scan::{self, ScanConfig, ScanReport};
use crate::target::{effective_sni, resolve, HostPort, SniChoice, Target};

/// Exit code: the scan completed and every probe has an answer.
pub const EXIT_OK: u8 = 0;
/// Exit code: usage error, unreachable or non-TLS target, or an inconclusive probe.
pub const EXIT_ERROR: u8 = 2;

/// Runs `action` to completion.
pub fn run(action: Action) -> ExitCode {
    let action = match action {
        Action::Completions { shell } => return emit_text(completions(shell)),
        Action::Man { command } => return emit_text(man_page(command.as_deref())),
        other => other,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the async runtime: {e}")),
    };
    match action {
        Action::Scan {
            target,
            sni,
            mut config,
            output,
        } => {
            config.progress = output.progress;
            match runtime.block_on(scan_target(&target, &sni, &config)) {
                Ok(report) => emit(&report, output),
                Err(e) => fail(&e),
            }
        }
        Action::Demo { output } => runtime.block_on(crate::demo::run(output)),
        Action::Remediate(req) => runtime.block_on(crate::remediate::run(*req)),
        Action::Check(req) => runtime.block_on(crate::check::execute(*req)),
        Action::Explain { text, format } => explain(&text, format),
        Action::Secret {
            input,
            warn_days,
            format,
        } => secret(&input, warn_days, format),
        Action::Completions { .. } | Action::Man { .. } => unreachable!("handled above"),
    }
}

/// The completion script for `shell`, generated from the clap definitions.
pub fn completions(shell: clap_complete::Shell) -> Result<String, String> {
    let mut cmd = crate::cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "cipher-test", &mut buf);
    String::from_utf8(buf).map_err(|e| format!("completion script is not UTF-8: {e}"))
}

/// The man page (roff) of the tool, or of one of its commands (`cipher-test-check(1)`).
pub fn man_page(command: Option<&str>) -> Result<String, String> {
    let mut cmd = crate::cli::command();
    cmd.build();
    let page = match command {
        None => cmd,
        Some(name) => cmd
            .find_subcommand(name)
            .cloned()
            .ok_or_else(|| format!("no command '{name}'"))?,
    };
    let mut buf = Vec::new();
    clap_mangen::Man::new(page)
        .source(format!("cipher-test {}", env!("CARGO_PKG_VERSION")))
        .render(&mut buf)
        .map_err(|e| format!("cannot render the man page: {e}"))?;
    String::from_utf8(buf).map_err(|e| format!("man page is not UTF-8: {e}"))
}

fn emit_text(text: Result<String, String>) -> ExitCode {
    match text {
        Ok(t) => match print(&t) {
            Ok(()) => ExitCode::from(EXIT_OK),
            Err(code) => code,
        },
        Err(e) => fail(&e),
    }
}

/// Resolves and scans one target.
pub async fn scan_target(
    hp: &HostPort,
    sni: &SniChoice,
    config: &ScanConfig,
) -> Result<ScanReport, String> {
    scan_target_at(hp, sni, config, None).await
}

/// Scans one target, connecting to `address` instead of resolving the host when given (`--resolve`).
pub async fn scan_target_at(
    hp: &HostPort,
    sni: &SniChoice,
    config: &ScanConfig,
    address: Option<std::net::SocketAddr>,
) -> Result<ScanReport, String> {
    let address = match address {
        Some(a) => a,
        None => resolve(hp).await.map_err(|e| e.to_string())?,
    };
    let target = Target {
        host_port: hp.clone(),
        sni: effective_sni(hp, sni),
        address,
    };
    let mut report = scan::scan(&target, config)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(req) = &config.envoy {
        if let Some(bin) = &req.real {
            let mut items = [(&mut report, req)];
            scan::real::confirm(&mut items, bin, config.timeout * 2)
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(report)
}

/// Prints `report` in the chosen format and returns the scan's exit code.
pub fn emit(report: &ScanReport, output: Output) -> ExitCode {
    let printed = match output.format {
        Format::Json => print_json(report),
        Format::Table => print(&table::render_with(
            report,
            output.rows,
            Painter::new(output.color),
        )),
    };
    if let Err(code) = printed {
        return code;
    }
    if report.has_inconclusive() || report.real_disagrees() {
        ExitCode::from(EXIT_ERROR)
    } else {
        ExitCode::from(EXIT_OK)
    }
}

/// Writes the result to stdout. A closed pipe (`| head`) is the reader's choice, not an error.
pub fn print(text: &str) -> Result<(), ExitCode> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|_| stdout.flush())
    {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(fail(&format!("cannot write to stdout: {e}"))),
    }
}

/// Writes `value` to stdout as one pretty-printed JSON document and a newline, streamed rather
/// than built in memory first (a `check` of a hundred targets is tens of megabytes). Serialising
/// the report types cannot fail; a closed pipe is the reader's choice, as for [`print`].
pub fn print_json<T: serde::Serialize>(value: &T) -> Result<(), ExitCode> {
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    let written = serde_json::to_writer_pretty(&mut out, value)
        .map_err(std::io::Error::from)
        .and_then(|_| out.write_all(b"\n"))
        .and_then(|_| out.flush());
    match written {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(fail(&format!("cannot write to stdout: {e}"))),
    }
}

/// Prints one error line on stderr and returns exit code 2.
pub fn fail(message: &str) -> ExitCode {
    eprintln!("cipher-test: error: {message}");
    ExitCode::from(EXIT_ERROR)
}

fn explain(text: &str, format: Format) -> ExitCode {
    match crate::explain::explain(text) {
        Ok(found) => {
            let printed = match format {
                Format::Table => print(&crate::explain::render_text(&found)),
                Format::Json => print_json(&found),
            };
            printed.err().unwrap_or(ExitCode::from(EXIT_OK))
        }
        Err(e) => fail(&e.to_string()),
    }
}

/// Exit code of `secret`: an error finding.
pub const EXIT_FINDINGS: u8 = 1;

fn secret(input: &crate::secret::SecretInput, warn_days: u32, format: Format) -> ExitCode {
    let report = crate::secret::lint(input, crate::util::now_unix(), warn_days);
    let printed = match format {
        Format::Table => print(&crate::secret::render_text(&report)),
        Format::Json => print_json(&report),
    };
    if let Err(code) = printed {
        return code;
    }
    if report.has_errors() {
        ExitCode::from(EXIT_FINDINGS)
    } else {
        ExitCode::from(EXIT_OK)
    }
}
