#!/usr/bin/env bash
# Stops what a `bridge demo` started, when the demo itself could not (it was killed with
# SIGKILL, or its terminal closed): reads the PIDs the demo recorded in
# $RUN_DIR/demo/pids ("name pid" per line) and stops each by PID, last started first: SIGTERM, then
# SIGKILL after 10 s. A PID that no longer runs the named program is left alone (the
# number may have been reused).
#
#   scripts/demo-stop.sh
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUN_DIR=${RUN_DIR:-$ROOT/.run}
PID_FILE=$RUN_DIR/demo/pids

log() { printf 'demo-stop: %s\n' "$*" >&2; }

if [[ ! -f $PID_FILE ]]; then
    log "no $PID_FILE: nothing to stop"
    exit 0
fi

while read -r name pid; do
    [[ -n ${pid:-} ]] || continue
    if ! kill -0 "$pid" 2>/dev/null; then
        log "$name (pid $pid) is not running"
        continue
    fi
    # moto runs as python; the others under their own names.
    program=${name/moto/moto_server}
    if ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$program"; then
        log "pid $pid is not $name any more; left alone"
        continue
    fi
    kill "$pid"
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "$name (pid $pid) ignored SIGTERM; killing"
        kill -9 "$pid"
    fi
    log "stopped $name (pid $pid)"
done < <(tac "$PID_FILE")
rm -f "$PID_FILE"
