//! Runs a validated `Action` and is the one place that maps how it ended to an exit code and
//! prints errors: one line on stderr, never a half-written stdout.

use std::process::ExitCode;

use crate::cli::Action;
use crate::cmd::{self, CmdError, Status};
use crate::output::print;

/// Exit code: the command did its job and found nothing against the upstream.
pub const EXIT_OK: u8 = 0;
/// Exit code: a finding (`check` failed a target, `remediate` found the upstream incompatible,
/// `secret` found an error).
pub const EXIT_FINDINGS: u8 = 1;
/// Exit code: usage error, unreachable or non-TLS target, an inconclusive probe, an unusable or
/// contradicting real Envoy.
pub const EXIT_ERROR: u8 = 2;

/// Runs `action` to completion.
pub fn run(action: Action) -> ExitCode {
    let action = match action {
        Action::Completions { shell } => return exit(text(completions(shell))),
        Action::Man { command } => return exit(text(man_page(command.as_deref()))),
        other => other,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the async runtime: {e}")),
    };
    let outcome = match action {
        Action::Scan {
            target,
            sni,
            mut config,
            addresses,
            output,
        } => {
            config.progress = output.progress;
            runtime.block_on(cmd::scan::run(&target, &sni, &config, &addresses, output))
        }
        Action::Demo { output } => runtime.block_on(cmd::demo::run(output)),
        Action::Remediate(req) => runtime.block_on(cmd::remediate::run(*req)),
        Action::Check(req) => runtime.block_on(cmd::check::execute(*req)),
        Action::Merge(req) => cmd::merge::run(*req),
        Action::Explain { text, format } => cmd::explain::run(&text, format),
        Action::Secret {
            input,
            warn_days,
            format,
        } => cmd::secret::run(&input, warn_days, format),
        Action::Completions { .. } | Action::Man { .. } => unreachable!("handled above"),
    };
    exit(outcome)
}

/// The exit code for how a command ended; an error is printed as one line.
fn exit(outcome: Result<Status, CmdError>) -> ExitCode {
    match outcome {
        Ok(Status::Ok) => ExitCode::from(EXIT_OK),
        Ok(Status::Findings) => ExitCode::from(EXIT_FINDINGS),
        Ok(Status::Incomplete) => ExitCode::from(EXIT_ERROR),
        Err(e) => fail(&e.0),
    }
}

fn text(text: Result<String, String>) -> Result<Status, CmdError> {
    print(&text?).map_err(cmd::stdout_error)?;
    Ok(Status::Ok)
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

/// Prints one error line on stderr and returns exit code 2.
fn fail(message: &str) -> ExitCode {
    eprintln!("cipher-test: error: {message}");
    ExitCode::from(EXIT_ERROR)
}
