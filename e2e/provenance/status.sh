#!/bin/sh
# --workspace_status_command of the stamped builds in tools/test/e2e-provenance.test.ts.
echo "STABLE_GIT_COMMIT 0123456789abcdef0123456789abcdef01234567"
echo "STABLE_VERSION 1.2.3"
echo "STABLE_CHANNEL beta"
