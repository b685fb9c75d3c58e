#!/usr/bin/env python3
"""Proves a refactor changed no behaviour: scans the same local servers with two cipher-test binaries
and diffs their JSON reports, apart from what differs from run to run.

    scripts/report-diff.py BEFORE_BIN AFTER_BIN

Each profile is an `openssl s_server` on 127.0.0.1 (a free port; certificates made once in a temp
directory): TLS 1.2 ECDHE+AEAD, CBC-only, TLS 1.3-only, P-384-only, an ECDSA certificate, TLS 1.0-only,
SNI-required (nginx-style refusal is s_server's -servername_fatal here), plus `demo --format json`.
Both binaries run with `--envoy-bin off` (the real Envoy is judged by the tests, not here).

Ignored: timings (`elapsed_ms`), hello counts (split elimination adapts to free slots), the server's
port, certificate dates and fingerprints of certificates minted per run (demo), and retry passes.
Exit codes: 0 identical, 1 a report differs (the diff is printed), 2 a server or binary failed.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import difflib

PROFILES = [
    ("tls12-aead", ["-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384"], "rsa", []),
    ("cbc-only", ["-tls1_2", "-cipher", "ECDHE-RSA-AES256-SHA:AES128-SHA"], "rsa", []),
    ("tls13-only", ["-tls1_3", "-ciphersuites", "TLS_AES_256_GCM_SHA384"], "rsa", []),
    ("p384-only", ["-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256", "-groups", "P-384"], "rsa", []),
    ("ecdsa", ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES128-GCM-SHA256"], "ec", []),
    ("wide", ["-cipher", "ALL:@SECLEVEL=0"], "rsa", []),
    ("tls10-only", ["-tls1", "-cipher", "ECDHE-RSA-AES128-SHA:AES256-SHA:@SECLEVEL=0"], "rsa", []),
    ("sni-named", ["-tls1_2", "-cipher", "ECDHE-RSA-AES256-SHA"], "rsa", ["--sni", "api.example.test"]),
]

IGNORED_KEYS = {"elapsed_ms", "hellos", "passes", "not_before", "not_after", "sha256", "serial",
                "port", "address", "tool_version"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def normalize(value):
    if isinstance(value, dict):
        return {k: normalize(v) for k, v in value.items() if k not in IGNORED_KEYS}
    if isinstance(value, list):
        return [normalize(v) for v in value]
    if isinstance(value, str):
        # Ports inside prose ("127.0.0.1:40591"), dates in messages, durations.
        import re
        value = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", value)
        value = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "DATE", value)
        value = re.sub(r"in \d+ days", "in N days", value)
        value = re.sub(r"\(\d+ hellos?", "(N hellos", value)
    return value


def run(binary, args):
    p = subprocess.run([binary] + args, capture_output=True, text=True, timeout=120)
    if p.returncode not in (0, 1):
        raise RuntimeError(f"{binary} {' '.join(args)}: exit {p.returncode}: {p.stderr.strip()}")
    return normalize(json.loads(p.stdout))


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    before, after = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp(prefix="report-diff-")
    servers = []
    try:
        for kind, alg in (("rsa", ["-newkey", "rsa:2048"]), ("ec", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"])):
            subprocess.run(["openssl", "req", "-x509", *alg, "-nodes", "-keyout", f"{tmp}/{kind}.key",
                            "-out", f"{tmp}/{kind}.crt", "-days", "365", "-subj", "/CN=api.example.test",
                            "-addext", "subjectAltName=DNS:api.example.test"], check=True, capture_output=True)
        differ = 0
        cases = [("demo", ["demo", "--format", "json"])]
        for name, flags, kind, extra in PROFILES:
            port = free_port()
            proc = subprocess.Popen(["openssl", "s_server", "-quiet", "-accept", f"127.0.0.1:{port}",
                                     "-cert", f"{tmp}/{kind}.crt", "-key", f"{tmp}/{kind}.key", *flags],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            servers.append(proc)
            cases.append((name, [f"127.0.0.1:{port}", "--format", "json", "--envoy-bin", "off", "-q", *extra]))
        time.sleep(0.5)
        for name, args in cases:
            a, b = run(before, args), run(after, args)
            if a == b:
                print(f"{name}: identical")
                continue
            differ += 1
            print(f"{name}: DIFFERS")
            left = json.dumps(a, indent=1, sort_keys=True).splitlines()
            right = json.dumps(b, indent=1, sort_keys=True).splitlines()
            sys.stdout.writelines(l + "\n" for l in difflib.unified_diff(left, right, "before", "after", n=2))
        print(f"{len(cases) - differ} of {len(cases)} reports identical")
        return 1 if differ else 0
    except (RuntimeError, subprocess.CalledProcessError) as e:
        print(f"report-diff: {e}", file=sys.stderr)
        return 2
    finally:
        for p in servers:
            p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
