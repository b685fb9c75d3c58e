#!/usr/bin/env bash
# Keeps the README's demo output real: regenerates the block between
#   <!-- demo-output:start -->  and  <!-- demo-output:end -->
# in README.md from `cargo run --release -q -- demo --color never`.
#
#   scripts/readme-output.sh           rewrite the block with what the tool prints today
#   scripts/readme-output.sh --check   exit 1 (and show a diff) when the README's block differs
#
# --check ignores what changes from run to run or machine to machine: the demo server's port, the
# scan time ("in 86 ms") and hello count (elimination splits only while connections are free, so
# it varies by one or two), dates (the demo certificate is minted at start-up) and the OpenSSL version
# number. Everything else (counts, verdict, patch, findings, layout) must match; when nothing else
# changed, the default mode leaves README.md untouched. Trailing blanks are dropped.
#
# Exit codes: 0 written or up to date, 1 the README differs (--check), 2 usage error, missing
# markers, or the demo failed.
set -euo pipefail

usage() { sed -n '2,16s/^# \{0,1\}//p' "$0"; }

mode="write"
case "${1:-}" in
  "") ;;
  --check) mode=check ;;
  -h|--help) usage; exit 0 ;;
  *) usage >&2; exit 2 ;;
esac
[ $# -le 1 ] || { usage >&2; exit 2; }

cd "$(dirname "$0")/.."
readme=README.md
start='<!-- demo-output:start -->'
end='<!-- demo-output:end -->'

if [ "$(grep -cxF "$start" "$readme")" != 1 ] || [ "$(grep -cxF "$end" "$readme")" != 1 ]; then
  echo "readme-output: $readme needs exactly one '$start' and one '$end' line" >&2
  exit 2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The report is stdout; stderr carries the server's address (and build errors, shown on failure).
if ! cargo run --release -q -- demo --color never >"$tmp/out" 2>"$tmp/err"; then
  echo "readme-output: cipher-test demo failed:" >&2
  cat "$tmp/err" >&2
  exit 2
fi
if grep -q $'\x1b' "$tmp/out"; then
  echo "readme-output: the demo output holds escape codes despite --color never" >&2
  exit 2
fi

# The new block: a fenced code block of the report, trailing blanks dropped.
{
  echo '```'
  sed -e 's/[[:space:]]*$//' "$tmp/out"
  echo '```'
} >"$tmp/block"

# The README's current block (between the markers, markers excluded).
awk -v s="$start" -v e="$end" '$0 == e {inside = 0} inside {print} $0 == s {inside = 1}' \
  "$readme" >"$tmp/current"

normalise() {
  sed -E \
    -e 's/[[:space:]]+$//' \
    -e 's/127\.0\.0\.1:[0-9]+/127.0.0.1:PORT/g' \
    -e 's/ \([0-9]+ hellos for the suites\)$//' \
    -e 's/ in [0-9]+(\.[0-9]+)? (ms|s)$/ in N ms/' \
    -e 's/ in [0-9]+ m [0-9]+ s$/ in N ms/' \
    -e 's/[0-9]{4}-[0-9]{2}-[0-9]{2}/YYYY-MM-DD/g' \
    -e 's/OpenSSL [0-9]+\.[0-9]+\.[0-9]+[a-z]*/OpenSSL X.Y.Z/g' \
    "$1"
}

if [ "$mode" = check ]; then
  normalise "$tmp/current" >"$tmp/current.n"
  normalise "$tmp/block" >"$tmp/block.n"
  if ! diff -u --label "README.md (demo output)" --label "cipher-test demo (today)" \
    "$tmp/current.n" "$tmp/block.n"; then
    echo "readme-output: README.md's demo output is stale; run scripts/readme-output.sh" >&2
    exit 1
  fi
  echo "readme-output: README.md's demo output matches cipher-test demo"
  exit 0
fi

# Only port, timing and dates changed: keep the README as it is (no churn in git).
if [ -s "$tmp/current" ] && cmp -s <(normalise "$tmp/current") <(normalise "$tmp/block"); then
  echo "readme-output: README.md already up to date"
  exit 0
fi

awk -v s="$start" -v e="$end" -v block="$tmp/block" '
  $0 == s { print; while ((getline line < block) > 0) print line; skipping = 1; next }
  $0 == e { skipping = 0 }
  !skipping { print }
' "$readme" >"$tmp/readme"
cat "$tmp/readme" >"$readme"
echo "readme-output: README.md's demo output regenerated"
