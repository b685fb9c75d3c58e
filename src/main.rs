//! The `cipher-test` binary: parse the command line, run it, exit with its code.

use std::process::ExitCode;

fn main() -> ExitCode {
    // Before anything touches OpenSSL: initialised by any other call first, it registers its
    // atexit cleanup, which costs about half a millisecond at every exit and frees nothing a
    // process that is ending needs freed.
    openssl::init();
    cipher_test::app::run(cipher_test::cli::parse())
}
