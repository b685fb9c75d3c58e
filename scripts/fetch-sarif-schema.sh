#!/usr/bin/env bash
# scripts/fetch-sarif-schema.sh: puts the SARIF 2.1.0 JSON schema (the OASIS 2.1.0-rtm.5 schema)
# at tests/fixtures/sarif-schema-2.1.0.json, where tests/it/sarif.rs validates `--sarif` output
# against it. The file is not committed (its text is OASIS's, not ours): it is taken from the npm
# package @microsoft/sarif-matcher-utils@1.0.0-beta.0 (MIT), which ships it, and checked against
# a known SHA-256. CI runs this; run it once locally to have the SARIF tests run too.
set -euo pipefail
cd "$(dirname "$0")/.."

dest=tests/fixtures/sarif-schema-2.1.0.json
want=2d99159ae54a3eea97f81781cff48780548657c35949f4b7f25e99a2ba4de4f8
url=https://registry.npmjs.org/@microsoft/sarif-matcher-utils/-/sarif-matcher-utils-1.0.0-beta.0.tgz
member=package/lib/schemas/sarif-2.1.0-rtm.5.json

if [ -f "$dest" ] && echo "$want  $dest" | sha256sum --check --status; then
  exit 0
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
curl --silent --show-error --fail --location --max-time 60 -o "$tmp/pkg.tgz" "$url"
tar -xzf "$tmp/pkg.tgz" -C "$tmp" "$member"
if ! echo "$want  $tmp/$member" | sha256sum --check --status; then
  echo "fetch-sarif-schema: $url does not hold the expected schema (SHA-256 differs)" >&2
  exit 1
fi
mkdir -p "$(dirname "$dest")"
mv "$tmp/$member" "$dest"
echo "fetch-sarif-schema: $dest"
