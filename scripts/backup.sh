#!/usr/bin/env bash
# backup.sh: the specification's backup command, a thin wrapper over `scholaria-backup backup`.
#
#   backup.sh [--tier daily|weekly|monthly|manual] [--component postgres,redis,qdrant] [--json] [--no-wait]
#
# Without --tier the set is a `manual` one (scheduled runs come from the Temporal Schedules, not from
# this script). The CLI's exit code is the script's: 0 only for a complete, verified set.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: backup.sh [--tier daily|weekly|monthly|manual] [--component postgres,redis,qdrant] [--json] [--no-wait]

Takes a backup set now through the Temporal worker (scholaria-backup backup) and shows its progress.
  --tier T          daily, weekly, monthly or manual (default: manual)
  --component LIST  comma-separated stores (default: BACKUP_COMPONENTS)
  --json            print the result as JSON
  --no-wait         print the workflow id and return at once
EOF
}


# shellcheck source=lib/cli.sh
source "$(dirname "$(readlink -f "$0")")/lib/cli.sh"

tier=""
component=""
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --tier | --component)
      [ $# -ge 2 ] && [ -n "$2" ] && [ "${2#-}" = "$2" ] || fail_usage "$1 needs a value"
      if [ "$1" = --tier ]; then tier="$2"; else component="$2"; fi
      shift 2 ;;
    --tier=?*) tier="${1#--tier=}"; shift ;;
    --component=?*) component="${1#--component=}"; shift ;;
    --json | --no-wait) extra+=("$1"); shift ;;
    -*) fail_usage "unknown option $1" ;;
    *) fail_usage "unexpected argument $1" ;;
  esac
done

case "${tier:-manual}" in
  daily | weekly | monthly | manual) ;;
  *) fail_usage "--tier must be daily, weekly, monthly or manual, not ${tier}" ;;
esac

args=(backup --tier "${tier:-manual}")
[ -z "${component}" ] || args+=(--component "${component}")
cli "${args[@]}" ${extra[@]+"${extra[@]}"}
