#!/usr/bin/env bash
# backup-scheduler.sh: the specification's scheduling and monitoring command, a thin wrapper over the
# CLI. The schedules themselves are Temporal Schedules (daily, weekly, monthly) that the worker keeps
# in line with the configuration; this script only reports on them and acts on them.
#
#   backup-scheduler.sh status [options]          scholaria-backup status
#   backup-scheduler.sh health-check [options]    scholaria-backup health-check
#   backup-scheduler.sh schedules <subcommand>    scholaria-backup schedules <subcommand>
#   backup-scheduler.sh prune [options]           scholaria-backup prune
#   backup-scheduler.sh run <daily|weekly|monthly|manual> [options]
#                                                 scholaria-backup backup --tier <tier>
#
# Options after the command go to the CLI unchanged; it rejects what it does not know (exit 2).
set -euo pipefail

usage() {
  cat <<'EOF'
usage: backup-scheduler.sh <command> [options]

  status                 the schedules, the last runs and the newest sets (scholaria-backup status)
  health-check           backup folder writable, a recent complete set, free space, tools runnable
                         (scholaria-backup health-check); exit 0 only when healthy
  schedules <sub>        manage the Temporal Schedules (scholaria-backup schedules <sub>)
  prune                  apply the retention policy (scholaria-backup prune)
  run <tier>             take a daily, weekly, monthly or manual backup now (scholaria-backup backup --tier)

Options after the command are passed to the CLI; `scholaria-backup <command> --help` lists them.
EOF
}


# shellcheck source=lib/cli.sh
source "$(dirname "$(readlink -f "$0")")/lib/cli.sh"

[ $# -gt 0 ] || fail_usage "which command? status, health-check, schedules, prune or run"
command="$1"
shift
case "${command}" in
  -h | --help | help) usage; exit 0 ;;
  status | health-check | prune) cli "${command}" "$@" ;;
  schedules)
    [ $# -gt 0 ] || fail_usage "schedules needs a subcommand (see scholaria-backup schedules --help)"
    cli schedules "$@" ;;
  run)
    [ $# -gt 0 ] || fail_usage "run needs a tier: daily, weekly, monthly or manual"
    tier="$1"
    shift
    case "${tier}" in
      daily | weekly | monthly | manual) cli backup --tier "${tier}" "$@" ;;
      *) fail_usage "run needs a tier: daily, weekly, monthly or manual, not ${tier}" ;;
    esac ;;
  *) fail_usage "unknown command ${command}" ;;
esac
