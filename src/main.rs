//! The `cipher-test` binary: parse the command line, run it, exit with its code.

use std::process::ExitCode;

fn main() -> ExitCode {
    cipher_test::app::run(cipher_test::cli::parse())
}
