#!/usr/bin/env python3
"""Check ciphers/suites.csv against the local OpenSSL.

Runs `openssl ciphers -V -stdname` (ALL:COMPLEMENTOFALL plus all five TLS 1.3
suites, and again with the legacy provider for SEED if that works), normalises
each line the way the catalogue does, and reports every difference:

  * a suite OpenSSL lists that the CSV lacks,
  * a suite whose code point, OpenSSL name, IANA name, min_version, kx, auth,
    enc or mac differs between OpenSSL and the CSV.

Rows that the local OpenSSL does not list (RC4, 3DES, EXPORT, static DH/ECDH,
...) are expected and only counted. The CSV is also checked for format
(9 fields, unique codes and names, allowed values, ascending code order) and
for the boringssl column rules of ciphers/SOURCES.md §3/§6.

The script never rewrites the CSV. Exit status: 0 = no difference,
1 = differences found, 2 = could not run openssl / read the CSV.

Python 3 standard library only.
"""

import argparse
import os
import re
import subprocess
import sys

TLS13_SUITES = ":".join([
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_AES_128_CCM_SHA256",
    "TLS_AES_128_CCM_8_SHA256",
])
CIPHER_STRING = "ALL:COMPLEMENTOFALL"

COLUMNS = ["code", "openssl_name", "iana_name", "min_version",
           "kx", "auth", "enc", "mac", "boringssl"]

ALLOWED = {
    "min_version": {"SSLv3", "TLSv1.0", "TLSv1.2", "TLSv1.3"},
    "kx": {"RSA", "DHE", "ECDHE", "DH", "ECDH", "PSK", "DHE-PSK",
           "ECDHE-PSK", "RSA-PSK", "SRP", "any"},
    "auth": {"RSA", "ECDSA", "DSS", "None", "PSK", "SRP", "any"},
    "mac": {"AEAD", "SHA1", "SHA256", "SHA384", "MD5"},
    "boringssl": {"yes", "explicit", "recent", "psk", "no"},
}
ENC_RE = re.compile(r"^(None|[A-Za-z0-9/]+\(\d+\))$")
CODE_RE = re.compile(r"^0x[0-9A-F]{4}$")

# ciphers/SOURCES.md §3.2 / §6 (BoringSSL kCiphers at HEAD). Every code not
# listed here must be "no".
BORINGSSL_EXPECTED = {
    "yes": {"0xC02B", "0xC02C", "0xC02F", "0xC030", "0xCCA8", "0xCCA9",
            "0xC009", "0xC00A", "0xC013", "0xC014", "0x009C", "0x009D",
            "0x002F", "0x0035", "0x1301", "0x1302", "0x1303"},
    "explicit": {"0x000A"},
    "recent": {"0xC027", "0xC023"},
    "psk": {"0x008C", "0x008D", "0xC035", "0xC036", "0xCCAC"},
}

# OpenSSL `-v` field values -> catalogue values.
KX_MAP = {"RSA": "RSA", "DH": "DHE", "ECDH": "ECDHE", "PSK": "PSK",
          "DHEPSK": "DHE-PSK", "ECDHEPSK": "ECDHE-PSK", "RSAPSK": "RSA-PSK",
          "SRP": "SRP", "any": "any"}
VERSION_MAP = {"SSLv3": "SSLv3", "TLSv1": "TLSv1.0", "TLSv1.0": "TLSv1.0",
               "TLSv1.2": "TLSv1.2", "TLSv1.3": "TLSv1.3"}


def normalise_code(raw):
    """'0xC0,0x2F' -> '0xC02F'."""
    parts = raw.split(",")
    if len(parts) != 2:
        raise ValueError("unexpected code point %r" % raw)
    return "0x" + "".join("%02X" % int(p, 16) for p in parts)


def parse_openssl_line(line):
    """Parse one line of `openssl ciphers -V -stdname` into a catalogue row
    (all columns except boringssl). Unknown values are passed through as-is
    so that they show up as differences."""
    tok = line.split()
    # code - stdname - name version Kx= Au= Enc= Mac= [export]
    if len(tok) < 9 or tok[1] != "-" or tok[3] != "-":
        raise ValueError("cannot parse openssl line: %r" % line)
    fields = {}
    for t in tok[6:]:
        if "=" in t:
            k, v = t.split("=", 1)
            fields[k] = v
    return {
        "code": normalise_code(tok[0]),
        "openssl_name": tok[4],
        "iana_name": tok[2],
        "min_version": VERSION_MAP.get(tok[5], tok[5]),
        "kx": KX_MAP.get(fields.get("Kx", "?"), fields.get("Kx", "?")),
        "auth": fields.get("Au", "?"),
        "enc": fields.get("Enc", "?"),
        "mac": fields.get("Mac", "?"),
    }


def run_openssl(openssl, extra):
    cmd = [openssl, "ciphers", "-V", "-stdname"] + extra
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True)
    return cmd, proc


def local_suites(openssl, notes):
    """Return {code: row} for everything the local OpenSSL can list."""
    variants = [
        # 1. the documented base command
        ([CIPHER_STRING], True),
        # 2. plus the TLS 1.3 CCM suites (not enabled by default)
        (["-ciphersuites", TLS13_SUITES, CIPHER_STRING], False),
        # 3. plus SEED, which needs the legacy provider on OpenSSL 3
        (["-provider", "legacy", "-provider", "default",
          "-ciphersuites", TLS13_SUITES, CIPHER_STRING], False),
    ]
    suites = {}
    for extra, required in variants:
        cmd, proc = run_openssl(openssl, extra)
        if proc.returncode != 0:
            msg = "`%s` failed: %s" % (" ".join(cmd),
                                       proc.stderr.strip().splitlines()[:1])
            if required:
                raise RuntimeError(msg)
            notes.append("note: " + msg + " (skipped)")
            continue
        for line in proc.stdout.splitlines():
            if not line.strip():
                continue
            row = parse_openssl_line(line)
            prev = suites.get(row["code"])
            if prev is not None and prev != row:
                notes.append("note: openssl printed %s twice with different "
                             "fields: %r / %r" % (row["code"], prev, row))
            suites[row["code"]] = row
    return suites


def read_csv(path):
    """Return (rows, problems). Rows are dicts keyed by COLUMNS."""
    rows, problems = [], []
    header_seen = False
    with open(path, encoding="utf-8") as fh:
        for lineno, raw in enumerate(fh, 1):
            line = raw.rstrip("\n")
            if line.endswith("\r"):
                problems.append("%s:%d: CR line ending" % (path, lineno))
                line = line.rstrip("\r")
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split(",")
            if not header_seen:
                header_seen = True
                if parts != COLUMNS:
                    problems.append("%s:%d: header is %r, expected %r"
                                    % (path, lineno, parts, COLUMNS))
                continue
            if len(parts) != len(COLUMNS):
                problems.append("%s:%d: %d fields, expected %d"
                                % (path, lineno, len(parts), len(COLUMNS)))
                continue
            if any(p != p.strip() or p == "" for p in parts):
                problems.append("%s:%d: empty field or surrounding spaces"
                                % (path, lineno))
            row = dict(zip(COLUMNS, parts))
            row["_line"] = lineno
            rows.append(row)
    if not header_seen:
        problems.append("%s: no header line" % path)
    return rows, problems


def check_format(rows):
    problems = []
    seen = {"code": {}, "openssl_name": {}, "iana_name": {}}
    prev_code = -1
    for r in rows:
        where = "line %d (%s)" % (r["_line"], r["code"])
        if not CODE_RE.match(r["code"]):
            problems.append("%s: bad code format %r" % (where, r["code"]))
        else:
            value = int(r["code"], 16)
            if value <= prev_code:
                problems.append("%s: not in ascending code order" % where)
            prev_code = value
        for col in seen:
            other = seen[col].get(r[col])
            if other is not None:
                problems.append("%s: duplicate %s %r (also line %d)"
                                % (where, col, r[col], other))
            seen[col][r[col]] = r["_line"]
        for col, allowed in ALLOWED.items():
            if r[col] not in allowed:
                problems.append("%s: %s=%r not in %s"
                                % (where, col, r[col], sorted(allowed)))
        if not ENC_RE.match(r["enc"]):
            problems.append("%s: enc=%r not in OpenSSL -v form"
                            % (where, r["enc"]))
        if r["min_version"] == "TLSv1.3":
            if r["openssl_name"] != r["iana_name"]:
                problems.append("%s: TLS 1.3 suite must have openssl_name == "
                                "iana_name" % where)
        expected = "no"
        for value, codes in BORINGSSL_EXPECTED.items():
            if r["code"] in codes:
                expected = value
        if r["boringssl"] != expected:
            problems.append("%s: boringssl=%r, ciphers/SOURCES.md says %r"
                            % (where, r["boringssl"], expected))
    present = {r["code"] for r in rows}
    for value, codes in BORINGSSL_EXPECTED.items():
        for code in sorted(codes - present):
            problems.append("boringssl=%s suite %s missing from the CSV"
                            % (value, code))
    return problems


def compare(local, rows):
    diffs = []
    by_code = {r["code"]: r for r in rows}
    by_name = {r["openssl_name"]: r for r in rows}
    by_iana = {r["iana_name"]: r for r in rows}
    for code in sorted(local, key=lambda c: int(c, 16)):
        loc = local[code]
        row = by_code.get(code)
        if row is None:
            other = by_name.get(loc["openssl_name"]) or \
                by_iana.get(loc["iana_name"])
            if other is not None:
                diffs.append("CODE   %s %s: OpenSSL says %s, CSV line %d says "
                             "%s" % (loc["openssl_name"], loc["iana_name"],
                                     code, other["_line"], other["code"]))
            else:
                diffs.append("MISSING %s %s %s %s Kx=%s Au=%s Enc=%s Mac=%s"
                             % (code, loc["openssl_name"], loc["iana_name"],
                                loc["min_version"], loc["kx"], loc["auth"],
                                loc["enc"], loc["mac"]))
            continue
        for col in COLUMNS[1:-1]:
            if row[col] != loc[col]:
                diffs.append("DIFF   %s %s: OpenSSL %r, CSV line %d %r"
                             % (code, col, loc[col], row["_line"], row[col]))
    return diffs


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--csv", default=os.path.join(here, "..", "ciphers",
                                                  "suites.csv"))
    ap.add_argument("--openssl", default="openssl",
                    help="openssl binary (default: openssl on PATH)")
    args = ap.parse_args()

    notes = []
    try:
        rows, problems = read_csv(args.csv)
    except OSError as exc:
        print("error: cannot read %s: %s" % (args.csv, exc), file=sys.stderr)
        return 2
    try:
        local = local_suites(args.openssl, notes)
        version = subprocess.run([args.openssl, "version"],
                                 stdout=subprocess.PIPE,
                                 universal_newlines=True).stdout.strip()
    except (OSError, RuntimeError, ValueError) as exc:
        print("error: %s" % exc, file=sys.stderr)
        return 2

    problems += check_format(rows)
    diffs = compare(local, rows)
    legacy = len({r["code"] for r in rows} - set(local))

    for n in notes:
        print(n)
    print("local: %s, %d suites listed; CSV: %d rows (%d not offered by this "
          "OpenSSL)" % (version, len(local), len(rows), legacy))
    for p in problems:
        print("FORMAT " + p)
    for d in diffs:
        print(d)
    if problems or diffs:
        print("%d format problem(s), %d difference(s) against local OpenSSL"
              % (len(problems), len(diffs)))
        return 1
    print("OK: every suite the local OpenSSL lists matches the CSV")
    return 0


if __name__ == "__main__":
    sys.exit(main())
