#!/usr/bin/env bash
# Refresh map_ui/static/vendor from the npm registry, checking each tarball's integrity.
# With package names as arguments, only those are refreshed (the others stay as they are).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$here/vendor.json" "$@" > "$work/list" <<'PY'
import json, sys
packages = json.load(open(sys.argv[1]))["packages"]
chosen = set(sys.argv[2:]) or {p["name"] for p in packages}
if unknown := chosen - {p["name"] for p in packages}:
    sys.exit(f"not in vendor.json: {', '.join(sorted(unknown))}")
for p in packages:
    if p["name"] in chosen:
        print(p["name"], p["version"], p["integrity"], " ".join(p["files"]))
PY
while read -r name version integrity files; do
  (cd "$work" && npm pack --silent "$name@$version" > "$work/tarball")
  tarball="$work/$(cat "$work/tarball")"
  actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
  [ "$actual" = "$integrity" ] || { echo "integrity mismatch for $name@$version" >&2; exit 1; }
  mkdir -p "$work/$name" && tar xzf "$tarball" -C "$work/$name"
  rm -rf "$here/static/vendor/$name" && mkdir -p "$here/static/vendor/$name"
  for file in $files; do cp -r "$work/$name/package/$file" "$here/static/vendor/$name/"; done
  echo "vendored $name@$version"
done < "$work/list"
