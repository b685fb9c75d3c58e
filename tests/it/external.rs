//! Real third-party servers: an `openssl s_server` process and nginx, both configured with
//! `ECDHE-RSA-AES256-SHA:AES128-SHA` at TLS 1.2 only. The scan must report exactly those two suites.

use crate::common;

use std::collections::BTreeSet;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cipher_test::testing::server::{self_signed, KeyKind};

/// Kills the child process when dropped, so a failing test leaves no server behind.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("server exited early with {status}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("nothing listening on {port} after 10 s");
}

fn write_credentials(dir: &Path) {
    let (cert, key) = self_signed(&KeyKind::Rsa2048, "localhost").unwrap();
    std::fs::write(dir.join("cert.pem"), cert.to_pem().unwrap()).unwrap();
    std::fs::write(dir.join("key.pem"), key.private_key_to_pem_pkcs8().unwrap()).unwrap();
}

/// A tool the test needs: present, or (outside CI only) a skip with the install hint.
fn require(tool: &str, package: &str) -> bool {
    let found = Command::new("sh")
        .args([
            "-c",
            &format!("command -v {tool} || test -x /usr/sbin/{tool}"),
        ])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{tool} is required in CI: apt-get install {package}"
        );
        eprintln!("SKIPPED: {tool} not installed (apt-get install {package})");
    }
    found
}

fn accepted_names(port: u16) -> BTreeSet<(String, String)> {
    let report = common::scan_json(port, &[]);
    assert_eq!(report["summary"]["inconclusive"], 0);
    common::accepted(&report)
}

fn expected() -> BTreeSet<(String, String)> {
    [
        ("TLSv1.2", "ECDHE-RSA-AES256-SHA"),
        ("TLSv1.2", "AES128-SHA"),
    ]
    .iter()
    .map(|(p, n)| (p.to_string(), n.to_string()))
    .collect()
}

#[test]
fn openssl_s_server_process() {
    if !require("openssl", "openssl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    write_credentials(dir.path());
    let port = free_port();
    let child = Command::new("openssl")
        .args(["s_server", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(dir.path().join("cert.pem"))
        .arg("-key")
        .arg(dir.path().join("key.pem"))
        .args([
            "-cipher",
            "ECDHE-RSA-AES256-SHA:AES128-SHA",
            "-tls1_2",
            "-quiet",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_server starts");
    let mut guard = Guard(child);
    wait_for_port(port, &mut guard.0);
    assert_eq!(accepted_names(port), expected());
}

#[test]
fn nginx() {
    if !require("nginx", "nginx-light") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    write_credentials(dir.path());
    let port = free_port();
    let d = dir.path().display();
    let conf = format!(
        "worker_processes 1;\n\
         daemon off;\n\
         master_process off;\n\
         pid {d}/nginx.pid;\n\
         error_log {d}/error.log;\n\
         events {{ worker_connections 256; }}\n\
         http {{\n\
           access_log off;\n\
           client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fastcgi;\n\
           uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n\
           server {{\n\
             listen 127.0.0.1:{port} ssl;\n\
             ssl_certificate {d}/cert.pem;\n\
             ssl_certificate_key {d}/key.pem;\n\
             ssl_protocols TLSv1.2;\n\
             ssl_ciphers ECDHE-RSA-AES256-SHA:AES128-SHA;\n\
             location / {{ return 200 'ok'; }}\n\
           }}\n\
         }}\n"
    );
    std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
    let nginx = if Path::new("/usr/sbin/nginx").exists() {
        "/usr/sbin/nginx"
    } else {
        "nginx"
    };
    let child = Command::new(nginx)
        .arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(dir.path().join("nginx.conf"))
        .args(["-e", &format!("{d}/error.log")])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nginx starts");
    let mut guard = Guard(child);
    wait_for_port(port, &mut guard.0);
    assert_eq!(accepted_names(port), expected());
}
