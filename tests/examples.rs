//! The examples in `examples/` are real: every YAML file parses, and every `cipher-test` command in
//! them is accepted by the tool's own command-line parser.

use std::path::Path;

/// Extracts the `cipher-test …` command lines of a workflow's `run:` steps (folded `>` blocks joined).
fn commands(yaml: &str) -> Vec<Vec<String>> {
    let docs: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(yaml).expect("example YAML parses");
    let mut runs = Vec::new();
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    match (k.as_str(), v) {
                        ("run" | "command" | "args", serde_json::Value::String(s)) => {
                            out.push(s.clone())
                        }
                        _ => walk(v, out),
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    for d in &docs {
        walk(d, &mut runs);
    }
    runs.iter()
        .flat_map(|r| r.split("||").next().map(str::to_string))
        .filter(|r| r.trim_start().starts_with("cipher-test"))
        .map(|r| r.split_whitespace().map(str::to_string).collect())
        .collect()
}

#[test]
fn every_example_command_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yml")
            && path.extension().and_then(|e| e.to_str()) != Some("yaml")
        {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for args in commands(&text) {
            cipher_test::cli::command()
                .try_get_matches_from(&args)
                .unwrap_or_else(|e| {
                    panic!(
                        "{}: `{}` is not a valid command: {e}",
                        path.display(),
                        args.join(" ")
                    )
                });
            checked += 1;
        }
    }
    assert!(
        checked >= 2,
        "found only {checked} cipher-test commands in examples/"
    );
}
