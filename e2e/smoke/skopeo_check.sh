#!/bin/sh
# usage: skopeo_check.sh LAYOUT : copies the layout (every platform) with skopeo, which verifies each blob.
set -eu
out="${TEST_TMPDIR:-$(mktemp -d)}/copy"
rm -rf "$out"
skopeo copy --quiet --all "oci:$1:latest" "oci:$out:latest"
echo "skopeo_check: copied $(ls "$out/blobs/sha256" | wc -l) blobs"
