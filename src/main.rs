use std::process::ExitCode;

fn main() -> ExitCode {
    cipher_test::app::run(cipher_test::cli::parse())
}
