#!/bin/sh
# usage: umoci_check.sh LAYOUT PATH... : unpacks LAYOUT:latest with umoci, checks each PATH is in its rootfs.
set -eu
layout=$1
shift
bundle="${TEST_TMPDIR:-$(mktemp -d)}/bundle"
rm -rf "$bundle"
umoci unpack --rootless --image "$layout:latest" "$bundle" >/dev/null
for p in "$@"; do
  if [ ! -e "$bundle/rootfs/$p" ]; then
    echo "umoci_check: $p is not in the unpacked image" >&2
    exit 1
  fi
done
echo "umoci_check: $# path(s) found in the unpacked image"
