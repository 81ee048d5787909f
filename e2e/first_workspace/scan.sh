#!/bin/sh
# usage: scan.sh LAYOUT PATH... : unpacks the root filesystem of LAYOUT:latest with umoci and checks
# that each PATH is in it. `umoci raw unpack` reads layers only: `umoci unpack` would also write a
# runtime config, which it refuses for an image whose config has no os (a base made from scratch).
set -eu
layout=$1
shift
rootfs="${TEST_TMPDIR:-$(mktemp -d)}/rootfs"
rm -rf "$rootfs"
umoci raw unpack --rootless --image "$layout:latest" "$rootfs" >/dev/null
for p in "$@"; do
  [ -e "$rootfs/$p" ] || { echo "scan.sh: $p is not in the image" >&2; exit 1; }
done
echo "scan.sh: $# path(s) found"
