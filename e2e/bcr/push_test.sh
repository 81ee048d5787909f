#!/usr/bin/env bash
# `bazel run //:push` as a test: starts registry.mjs (the presubmit machines run no registry), pushes
# to it with OCI_PUSH_REPOSITORY, and reads the manifest back by tag. $1: the push executable,
# $2: registry.mjs. Needs node on PATH (--test_env=PATH).
set -euo pipefail
push=$1 registry=$2
port_file="$TEST_TMPDIR/port"
node "$registry" "$port_file" &
pid=$!
trap 'kill $pid' EXIT
for _ in $(seq 100); do [ -s "$port_file" ] && break; sleep 0.1; done
repo="127.0.0.1:$(cat "$port_file")/bcr/app"
OCI_PUSH_REPOSITORY=$repo "$push"
node -e '
fetch(`http://${process.argv[1].replace("/bcr/app", "")}/v2/bcr/app/manifests/latest`, {
  headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
}).then(async (r) => {
  const m = await r.json();
  if (r.status !== 200 || m.layers?.length !== 1) throw new Error(`no pushed manifest: ${r.status}`);
  console.log(`pushed ${r.headers.get("docker-content-digest")}`);
});' "$repo"
