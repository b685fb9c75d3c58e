//! The examples in `examples/` are real: every YAML file parses, and every `cipher-test` command in
//! them is accepted by the tool's own command-line parser: in GitHub `run:` steps, GitLab
//! `script:` lists, Kubernetes `command:`/`args:` (exec form or `sh -c` strings), and after a `|` of
//! a shell pipeline.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// Keys whose string (or list of strings) values are shell scripts or argv.
const SCRIPT_KEYS: &[&str] = &[
    "run",
    "script",
    "before_script",
    "after_script",
    "command",
    "args",
];

/// Every `cipher-test …` invocation in an example manifest (all documents), as argv.
fn commands(yaml: &str) -> Vec<Vec<String>> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(yaml).expect("example YAML parses");
    let mut found = Vec::new();
    fn walk(v: &Value, out: &mut Vec<Vec<String>>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    if !SCRIPT_KEYS.contains(&k.as_str()) {
                        walk(v, out);
                        continue;
                    }
                    match v {
                        Value::String(s) => out.extend(shell_commands(s)),
                        Value::Array(items) => {
                            let strings: Vec<&str> =
                                items.iter().filter_map(Value::as_str).collect();
                            if strings.len() == items.len() && is_cipher_test(strings.first()) {
                                // Exec form: ["cipher-test", "check", ...].
                                out.push(strings.iter().map(|s| s.to_string()).collect());
                            } else {
                                // A list of script lines, or ["/bin/sh", "-c", "SCRIPT"].
                                strings.iter().for_each(|s| out.extend(shell_commands(s)));
                                items
                                    .iter()
                                    .filter(|x| !x.is_string())
                                    .for_each(|x| walk(x, out));
                            }
                        }
                        other => walk(other, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    for d in &docs {
        walk(d, &mut found);
    }
    found
}

fn is_cipher_test(word: Option<&&str>) -> bool {
    word.is_some_and(|w| *w == "cipher-test" || w.ends_with("/cipher-test"))
}

/// The simple commands of a POSIX shell script that run cipher-test, as argv: quotes removed,
/// backslash-newlines joined, split at `|`, `||`, `&&`, `;`, `&`, newlines and parentheses,
/// redirections (`> FILE`, `2>&1`) and comments dropped, leading `VAR=value`, `then`, `do`, `exec`
/// and friends skipped. Enough for the examples, not a shell.
fn shell_commands(script: &str) -> Vec<Vec<String>> {
    let script = script.replace("\\\n", " ");
    let mut commands: Vec<Vec<String>> = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut redirect_target = false;
    let mut chars = script.chars().peekable();

    fn end_word(
        word: &mut String,
        in_word: &mut bool,
        redirect_target: &mut bool,
        current: &mut Vec<String>,
    ) {
        if *in_word {
            if *redirect_target {
                *redirect_target = false;
            } else {
                current.push(std::mem::take(word));
            }
        }
        word.clear();
        *in_word = false;
    }

    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for d in chars.by_ref() {
                    if d == '\'' {
                        break;
                    }
                    word.push(d);
                }
            }
            '"' => {
                in_word = true;
                while let Some(d) = chars.next() {
                    match d {
                        '"' => break,
                        '\\' => {
                            if let Some(e) = chars.next() {
                                word.push(e);
                            }
                        }
                        _ => word.push(d),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(d) = chars.next() {
                    word.push(d);
                }
            }
            '#' if !in_word => {
                for d in chars.by_ref() {
                    if d == '\n' {
                        break;
                    }
                }
                end_word(&mut word, &mut in_word, &mut redirect_target, &mut current);
                commands.push(std::mem::take(&mut current));
            }
            ' ' | '\t' => end_word(&mut word, &mut in_word, &mut redirect_target, &mut current),
            '\n' | ';' | '|' | '&' | '(' | ')' => {
                end_word(&mut word, &mut in_word, &mut redirect_target, &mut current);
                commands.push(std::mem::take(&mut current));
            }
            '>' | '<' => {
                // `2>` : the digits were the file descriptor, not a word.
                if in_word && word.chars().all(|d| d.is_ascii_digit()) {
                    word.clear();
                    in_word = false;
                } else {
                    end_word(&mut word, &mut in_word, &mut redirect_target, &mut current);
                }
                if chars.peek() == Some(&'>') {
                    chars.next();
                }
                if chars.peek() == Some(&'&') {
                    // `>&1`: a descriptor, no file name follows.
                    chars.next();
                    while chars
                        .peek()
                        .is_some_and(|d| d.is_ascii_digit() || *d == '-')
                    {
                        chars.next();
                    }
                } else {
                    redirect_target = true;
                }
            }
            _ => {
                in_word = true;
                word.push(c);
            }
        }
    }
    end_word(&mut word, &mut in_word, &mut redirect_target, &mut current);
    commands.push(current);

    commands
        .into_iter()
        .filter_map(|mut argv| {
            let skip = argv
                .iter()
                .take_while(|w| is_assignment(w) || PREFIXES.contains(&w.as_str()))
                .count();
            argv.drain(..skip);
            let first = argv.first().map(String::as_str);
            is_cipher_test(first.as_ref()).then_some(argv)
        })
        .collect()
}

/// Words that may precede a command without being it.
const PREFIXES: &[&str] = &[
    "then", "do", "else", "if", "elif", "while", "until", "!", "exec", "time", "{",
];

/// `NAME=value` before a command.
fn is_assignment(word: &str) -> bool {
    match word.split_once('=') {
        Some((name, _)) => {
            !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
        None => false,
    }
}

fn example_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml")))
        .collect();
    files.sort();
    files
}

fn docs(name: &str) -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    serde_saphyr::from_multiple(&text).expect("example YAML parses")
}

#[test]
fn every_example_command_parses() {
    let mut checked = 0;
    for path in example_files() {
        let text = std::fs::read_to_string(&path).unwrap();
        let found = commands(&text);
        assert!(
            !found.is_empty(),
            "{}: no cipher-test command found",
            path.display()
        );
        for args in found {
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
        checked >= 5,
        "found only {checked} cipher-test commands in examples/"
    );
}

#[test]
fn the_extractor_finds_commands_where_ci_and_kubernetes_put_them() {
    let argv = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    assert_eq!(
        shell_commands(
            "kubectl get upstreams -A -o yaml\n  | cipher-test check --upstreams - --junit '/r/a b.xml' > /r/out.json 2>&1"
        ),
        vec![vec![
            "cipher-test".to_string(),
            "check".into(),
            "--upstreams".into(),
            "-".into(),
            "--junit".into(),
            "/r/a b.xml".into(),
        ]]
    );
    assert_eq!(
        shell_commands(
            "if [ \"$X\" = failed ]; then NO_COLOR=1 cipher-test check a:443 --format yaml; fi"
        ),
        vec![argv("cipher-test check a:443 --format yaml")]
    );
    assert_eq!(
        shell_commands("cipher-test check \\\n  --targets t.txt || true # comment cipher-test x"),
        vec![argv("cipher-test check --targets t.txt")]
    );
    assert!(shell_commands("command -v cipher-test && echo cipher-test").is_empty());

    let yaml = "\
a: {command: [\"/usr/local/bin/cipher-test\", \"check\", \"x:443\"]}
---
b:
  command: [\"/bin/sh\", \"-c\"]
  args: [\"kubectl get upstreams -A -o yaml | cipher-test check --upstreams -\"]
  script:
    - cipher-test demo
";
    assert_eq!(
        commands(yaml),
        vec![
            argv("/usr/local/bin/cipher-test check x:443"),
            argv("cipher-test check --upstreams -"),
            argv("cipher-test demo"),
        ]
    );
}

#[test]
fn gitlab_job_publishes_the_junit_report_it_writes() {
    let docs = docs("gitlab-ci.yml");
    let job = &docs[0]["cipher-test"];
    assert_eq!(job["artifacts"]["reports"]["junit"], "cipher-test.xml");
    assert_eq!(job["artifacts"]["when"], "always");
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/gitlab-ci.yml"),
    )
    .unwrap();
    let gate = commands(&text)
        .into_iter()
        .find(|a| a.iter().any(|w| w == "--junit"))
        .expect("a check with --junit");
    let junit = gate.iter().position(|w| w == "--junit").unwrap();
    assert_eq!(gate[1], "check");
    assert_eq!(gate[junit + 1], "cipher-test.xml");
    assert!(gate
        .windows(2)
        .any(|w| w == ["--upstreams", "upstreams.yaml"]));
}

#[test]
fn kubernetes_audit_has_read_only_rbac_for_upstreams_and_a_cronjob_using_it() {
    let docs = docs("kubernetes-audit.yaml");
    let of_kind =
        |kind: &str| -> Vec<&Value> { docs.iter().filter(|d| d["kind"] == kind).collect() };

    let sa = of_kind("ServiceAccount");
    assert_eq!(sa.len(), 1);
    let (sa_name, sa_ns) = (&sa[0]["metadata"]["name"], &sa[0]["metadata"]["namespace"]);

    let role = of_kind("ClusterRole");
    assert_eq!(role.len(), 1);
    let rules = role[0]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 1, "one rule, nothing more than needed");
    assert_eq!(rules[0]["apiGroups"], serde_json::json!(["gloo.solo.io"]));
    assert_eq!(rules[0]["resources"], serde_json::json!(["upstreams"]));
    assert_eq!(rules[0]["verbs"], serde_json::json!(["get", "list"]));

    let binding = of_kind("ClusterRoleBinding");
    assert_eq!(binding.len(), 1);
    assert_eq!(binding[0]["roleRef"]["kind"], "ClusterRole");
    assert_eq!(binding[0]["roleRef"]["name"], role[0]["metadata"]["name"]);
    let subject = &binding[0]["subjects"][0];
    assert_eq!(subject["kind"], "ServiceAccount");
    assert_eq!((&subject["name"], &subject["namespace"]), (sa_name, sa_ns));

    let cron = of_kind("CronJob");
    assert_eq!(cron.len(), 1);
    assert_eq!(cron[0]["metadata"]["namespace"], *sa_ns);
    let pod = &cron[0]["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], *sa_name);
    let container = &pod["containers"][0];
    let script = container["args"][0].as_str().unwrap();
    assert!(
        script.contains("kubectl get upstreams -A -o yaml | cipher-test check --upstreams -"),
        "{script}"
    );
    let argv = &shell_commands(script)[0];
    for flag in ["--format", "--junit"] {
        assert!(argv.iter().any(|w| w == flag), "{flag} missing: {argv:?}");
    }
    // Every volume mounted is declared.
    let volumes: Vec<&Value> = pod["volumes"].as_array().unwrap().iter().collect();
    for m in container["volumeMounts"].as_array().unwrap() {
        assert!(
            volumes.iter().any(|v| v["name"] == m["name"]),
            "volume {} not declared",
            m["name"]
        );
    }
    // The PersistentVolumeClaim the reports volume names exists.
    let claim = volumes
        .iter()
        .find_map(|v| v["persistentVolumeClaim"]["claimName"].as_str())
        .unwrap();
    assert!(of_kind("PersistentVolumeClaim")
        .iter()
        .any(|p| p["metadata"]["name"] == claim));
}

#[test]
fn every_readme_shell_command_parses() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let mut checked = 0;
    let mut in_sh = false;
    let mut block = String::new();
    for line in readme.lines() {
        if !in_sh {
            in_sh = line.trim() == "```sh";
            continue;
        }
        if line.trim() == "```" {
            for args in shell_commands(&block) {
                cipher_test::cli::command()
                    .try_get_matches_from(&args)
                    .unwrap_or_else(|e| {
                        panic!("README: `{}` is not a valid command: {e}", args.join(" "))
                    });
                checked += 1;
            }
            block.clear();
            in_sh = false;
            continue;
        }
        block.push_str(line);
        block.push('\n');
    }
    assert!(
        checked >= 20,
        "found only {checked} commands in README sh blocks"
    );
}

#[test]
fn the_sharded_audit_is_an_indexed_job_whose_shards_the_merge_reads() {
    let shards = docs("kubernetes-sharded-audit.yaml");
    let job = shards.iter().find(|d| d["kind"] == "Job").expect("a Job");
    assert_eq!(job["spec"]["completionMode"], "Indexed");
    let n = job["spec"]["completions"].as_u64().unwrap();
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/kubernetes-sharded-audit.yaml"),
    )
    .unwrap();
    let check = commands(&text)
        .into_iter()
        .find(|c| c[1] == "check")
        .unwrap();
    let shard = check.iter().position(|a| a == "--shard").unwrap();
    assert_eq!(check[shard + 1], format!("$JOB_COMPLETION_INDEX/{n}"));
    let merge_text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/kubernetes-sharded-merge.yaml"),
    )
    .unwrap();
    let merge = commands(&merge_text)
        .into_iter()
        .find(|c| c[1] == "merge")
        .unwrap();
    let reads: Vec<&String> = merge
        .iter()
        .filter(|a| a.starts_with("/reports/shard-"))
        .collect();
    assert_eq!(
        reads.len() as u64,
        n,
        "the merge reads every shard: {merge:?}"
    );
    // The shards and the merge share the volume the shards write to.
    let claim = |d: &Value| {
        d["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"].clone()
    };
    assert_eq!(claim(job), claim(&docs("kubernetes-sharded-merge.yaml")[0]));
}
