#!/usr/bin/env bash
# The project's Node.js: .tools/node (Node 24 LTS, installed by scripts/bootstrap.sh when the
# machine's Node is older than 22), else the machine's own.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -x "$here/.tools/node/bin/node" ]; then exec "$here/.tools/node/bin/node" "$@"; fi
exec node "$@"
