//! The first ten minutes: help that teaches, `--version`, shell completions, the man page, and the
//! colour rules (never into a pipe unless asked, never with NO_COLOR in auto mode, never in JSON).

use crate::common;

use std::process::Command;

use common::{cipher_test_bin, run, run_command};

const COMMANDS: &[&str] = &[
    "scan",
    "remediate",
    "check",
    "explain",
    "secret",
    "demo",
    "completions",
    "man",
];

/// The lines of the `Examples:` section of a help text.
fn examples(help: &str) -> Vec<&str> {
    help.lines()
        .skip_while(|l| *l != "Examples:")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect()
}

#[test]
fn top_level_help_lists_every_command_with_examples() {
    let out = run(&["--help"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let listed: Vec<&str> = out
        .stdout
        .lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.strip_prefix("  "))
        .filter(|l| !l.starts_with(' '))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for c in COMMANDS {
        assert!(listed.contains(c), "{c} not listed in --help: {listed:?}");
    }
    assert!(examples(&out.stdout).len() >= 5, "{}", out.stdout);
    assert!(out.stdout.contains("NO_COLOR"), "{}", out.stdout);
}

#[test]
fn every_command_has_a_description_and_real_examples() {
    for c in COMMANDS {
        let out = run(&[c, "--help"]);
        assert_eq!(out.code, 0, "{c} --help: {}", out.stderr);
        let help = out.stdout;
        // One summary line, then a paragraph, before the usage.
        let head = help.split("\nUsage:").next().unwrap();
        let paragraphs: Vec<&str> = head
            .split("\n\n")
            .filter(|p| !p.trim().is_empty())
            .collect();
        assert!(
            paragraphs.len() >= 2 && paragraphs[1].len() >= 150,
            "{c} --help has no description paragraph:\n{head}"
        );
        let ex = examples(&help);
        let runs = ex.iter().filter(|l| l.contains("cipher-test ")).count();
        assert!(runs >= 2, "{c} --help has {runs} examples:\n{help}");
        // Each example invokes this very command (the scan examples may use the implicit form).
        assert!(
            ex.iter()
                .any(|l| l.contains(&format!("cipher-test {c}")) || *c == "scan"),
            "{c} --help examples do not run `cipher-test {c}`:\n{help}"
        );
    }
}

#[test]
fn version_names_the_tls_library() {
    let out = run(&["--version"]);
    assert_eq!(out.code, 0);
    assert!(
        out.stdout
            .starts_with(&format!("cipher-test {}", env!("CARGO_PKG_VERSION"))),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("OpenSSL"), "{}", out.stdout);
}

#[test]
fn completions_generate_for_bash_zsh_and_fish() {
    for (shell, marker) in [
        ("bash", "complete -F _cipher__test"),
        ("zsh", "#compdef cipher-test"),
        ("fish", "complete -c cipher-test"),
    ] {
        let out = run(&["completions", shell]);
        assert_eq!(out.code, 0, "{shell}: {}", out.stderr);
        assert!(out.stdout.contains(marker), "{shell}: no {marker:?}");
        assert!(out.stdout.contains("upstreams"), "{shell}: check flags");
    }
    let bash = run(&["completions", "bash"]).stdout;
    for c in COMMANDS {
        assert!(
            bash.contains(&format!("cipher__test,{c})")),
            "bash completion does not know `{c}`"
        );
    }
    let bad = run(&["completions", "tcsh"]);
    assert_eq!(bad.code, 2);
}

#[test]
fn bash_completion_loads_in_bash() {
    let Ok(status) = Command::new("bash").arg("-c").arg("true").status() else {
        eprintln!("skipped: no bash");
        return;
    };
    assert!(status.success());
    let script = run(&["completions", "bash"]).stdout;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cipher-test.bash");
    std::fs::write(&path, script).unwrap();
    // Source it, then ask the completion function what follows `cipher-test ch`.
    let probe = format!(
        "source {}; COMP_WORDS=(cipher-test ch); COMP_CWORD=1; _cipher__test cipher-test ch cipher-test; \
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        path.display()
    );
    let mut cmd = Command::new("bash");
    cmd.arg("--norc").arg("-c").arg(probe);
    let out = run_command(cmd);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.lines().any(|l| l == "check"),
        "`cipher-test ch<TAB>` does not offer check: {:?}",
        out.stdout
    );
}

#[test]
fn man_pages_generate() {
    let out = run(&["man"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains(".TH cipher-test 1"), "{}", out.stdout);
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH OPTIONS", ".SH SUBCOMMANDS"] {
        assert!(out.stdout.contains(section), "no {section}");
    }
    for c in ["scan", "remediate", "check", "explain", "secret", "demo"] {
        assert!(
            out.stdout.contains(&format!("cipher\\-test\\-{c}(1)")),
            "man page does not list {c}"
        );
    }
    let check = run(&["man", "check"]);
    assert_eq!(check.code, 0, "{}", check.stderr);
    assert!(check.stdout.contains(".TH cipher-test-check 1"));
    assert!(check.stdout.contains("\\-\\-upstreams"));
    assert_eq!(run(&["man", "nope"]).code, 2);
}

const ESC: char = '\x1b';

/// `cipher-test demo ARGS` with extra environment.
fn demo(args: &[&str], env: &[(&str, &str)]) -> common::Output {
    let mut cmd = Command::new(cipher_test_bin());
    cmd.arg("demo").args(args).env_remove("NO_COLOR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = run_command(cmd);
    assert_eq!(out.code, 0, "demo {args:?}: {}", out.stderr);
    out
}

/// The demo report with what varies between runs (the port, the timing) blanked.
fn stable(report: &str) -> String {
    let mut out = String::new();
    let mut rest = report;
    while let Some(i) = rest.find("127.0.0.1:") {
        out.push_str(&rest[..i]);
        out.push_str("ADDR");
        rest = rest[i + "127.0.0.1:".len()..].trim_start_matches(|c: char| c.is_ascii_digit());
    }
    out.push_str(rest);
    out.lines()
        .map(|l| match l.rfind(" untestable in ") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn piped_output_has_no_colour() {
    let out = demo(&[], &[]);
    assert!(!out.stdout.contains(ESC), "{}", out.stdout);
    assert!(!out.stderr.contains(ESC), "{}", out.stderr);
    let all = demo(&["--all"], &[]);
    assert!(!all.stdout.contains(ESC));
}

#[test]
fn color_always_colours_statuses_verdict_and_findings() {
    let out = demo(&["--color", "always"], &[]);
    let s = &out.stdout;
    assert!(s.contains("\x1b[32maccepted\x1b[0m"), "{s}");
    assert!(s.contains("\x1b[32msupported\x1b[0m"), "{s}");
    assert!(s.contains("\x1b[33mNEEDS PATCH\x1b[0m"), "{s}");
    assert!(s.contains("\x1b[33mwarning\x1b[0m"), "{s}");
    // `--color` is global: it also works before the command.
    let mut cmd = Command::new(cipher_test_bin());
    cmd.args(["--color", "always", "demo"]);
    let before = run_command(cmd);
    assert_eq!(before.code, 0, "{}", before.stderr);
    assert!(before.stdout.contains(ESC));
}

#[test]
fn colour_is_applied_after_layout() {
    let plain = demo(&["--all", "--color", "never"], &[]).stdout;
    let coloured = demo(&["--all", "--color", "always"], &[]).stdout;
    // With --all the rejected (or untestable) suites are listed too, dimmed.
    assert!(
        coloured.contains("\x1b[2mrejected\x1b[0m")
            || coloured.contains("\x1b[2muntestable\x1b[0m"),
        "{coloured}"
    );
    assert!(!plain.contains(ESC));
    assert_eq!(
        stable(&cipher_test::render::color::strip(&coloured)),
        stable(&plain),
        "stripping the colour does not give the plain table"
    );
}

#[test]
fn no_color_wins_in_auto_mode_only() {
    let auto = demo(&[], &[("NO_COLOR", "1")]);
    assert!(!auto.stdout.contains(ESC));
    let explicit_auto = demo(&["--color", "auto"], &[("NO_COLOR", "1")]);
    assert!(!explicit_auto.stdout.contains(ESC));
    let always = demo(&["--color", "always"], &[("NO_COLOR", "1")]);
    assert!(always.stdout.contains(ESC));
    let never = demo(&["--color", "never"], &[]);
    assert!(!never.stdout.contains(ESC));
}

#[test]
fn json_is_never_coloured() {
    let out = demo(&["--format", "json", "--color", "always"], &[]);
    assert!(!out.stdout.contains(ESC));
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("one JSON document");
    assert_eq!(v["envoy"]["verdict"], "needs_patch");
}
