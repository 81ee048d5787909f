#!/bin/sh
# usage: no_shadowing.sh FILE... : each FILE in runfiles is still the user's source file.
set -eu
for f in "$@"; do
  grep -q "^a source file of the user's: $f\$" "$f" || { echo "no_shadowing: $f in runfiles is not the source file" >&2; exit 1; }
done
echo "no_shadowing: $# source file(s) intact"
