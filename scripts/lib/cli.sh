# Shared by backup.sh, restore.sh and backup-scheduler.sh; sourced, not run. Each script defines
# `usage` before sourcing this file.

script_name=$(basename "$0")

fail_usage() {
  printf '%s: %s\n' "$script_name" "$1" >&2
  usage >&2
  exit 2
}

# The CLI of this tree (bin/ next to scripts/, also through the /scripts link of the image), else the
# one on PATH; SCHOLARIA_BACKUP_CLI names another command.
cli() {
  if [ -n "${SCHOLARIA_BACKUP_CLI:-}" ]; then
    exec "${SCHOLARIA_BACKUP_CLI}" "$@"
  fi
  local here
  here=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
  if [ -f "${here}/../bin/scholaria-backup.js" ]; then
    exec node "${here}/../bin/scholaria-backup.js" "$@"
  fi
  if command -v scholaria-backup >/dev/null 2>&1; then
    exec scholaria-backup "$@"
  fi
  printf '%s: scholaria-backup not found (neither %s nor on PATH)\n' "$script_name" "${here}/../bin/scholaria-backup.js" >&2
  exit 127
}
