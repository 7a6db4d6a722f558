#!/usr/bin/env bash
# restore.sh: the specification's restore command, a thin wrapper over `scholaria-backup restore`.
#
#   restore.sh [--component postgres|redis|qdrant[,...]] [--dry-run] [--yes] [--force] [--keep-safety] [--json]
#              <latest | /backup/scholaria_backup_YYYYMMDD_HHMMSS | scholaria_backup_YYYYMMDD_HHMMSS>
#
# Options and the set may come in any order. Confirmation stays the CLI's: on a terminal it asks, and
# without one it refuses unless --yes is given here. The script never adds --yes by itself, so
# `restore.sh latest` run by cron or through `docker-compose exec -T` changes nothing. A dry run never
# needs confirmation.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: restore.sh [--component LIST] [--dry-run] [--yes] [--force] [--keep-safety] [--json] <set>

Restores stores from a backup set through the Temporal worker (scholaria-backup restore): every
checksum and deep check first, a safety snapshot of each store, rollback of every store if one fails.
  <set>             latest, a set path (/backup/scholaria_backup_YYYYMMDD_HHMMSS) or a set name
  --component LIST  postgres, redis, qdrant or a comma-separated list (default: every store of the set)
  --dry-run         check everything and print the plan; change nothing
  --yes             do not ask for confirmation (needed when there is no terminal)
  --force           end sessions connected to the target database when they block the swap
  --keep-safety     keep the safety snapshots after a successful restore
  --json            print the result as JSON
EOF
}


# shellcheck source=lib/cli.sh
source "$(dirname "$(readlink -f "$0")")/lib/cli.sh"

set_reference=""
component=""
flags=()
take_set() {
  [ -z "${set_reference}" ] || fail_usage "one backup set at a time (got ${set_reference} and $1)"
  [ -n "$1" ] || fail_usage "the backup set must not be empty"
  set_reference="$1"
}
while [ $# -gt 0 ]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --component)
      [ $# -ge 2 ] && [ -n "$2" ] && [ "${2#-}" = "$2" ] || fail_usage "--component needs a value"
      component="$2"; shift 2 ;;
    --component=?*) component="${1#--component=}"; shift ;;
    --dry-run | --yes | --force | --keep-safety | --json) flags+=("$1"); shift ;;
    -y) flags+=(--yes); shift ;;
    --) shift; while [ $# -gt 0 ]; do take_set "$1"; shift; done ;;
    -*) fail_usage "unknown option $1" ;;
    *) take_set "$1"; shift ;;
  esac
done

[ -n "${set_reference}" ] || fail_usage "which backup set? give latest, a set path or a set name"

args=(restore "${set_reference}")
[ -z "${component}" ] || args+=(--component "${component}")
cli "${args[@]}" ${flags[@]+"${flags[@]}"}
