#!/usr/bin/env bash
# `make stop`: stops whatever a `make run` left running (recorded in .local/*.pid).
cd "$(dirname "$0")/../.."
LOCAL=${LOCAL:-.local}
quiet=${1:-}
for pidfile in "$LOCAL"/*.pid; do
  [ -e "$pidfile" ] || continue
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    # The process and its children (cargo lambda watch runs the functions as children).
    pkill -TERM -P "$pid" 2>/dev/null
    kill -TERM "$pid" 2>/dev/null
    [ "$quiet" = "--quiet" ] || echo "stopped $(basename "$pidfile" .pid) ($pid)"
  fi
  rm -f "$pidfile"
done
exit 0
