#!/usr/bin/env bash
# Run a command with the local emulators up and the standard AWS environment pointing at
# them. Emulators are shared by every run on the machine: a run starts the ones that are
# not up, and the last run to finish stops the ones that runs started. Ones started by
# hand (make emulators-up) are left running.
#
#   scripts/with-emulators.sh cargo test --workspace
#
# Bookkeeping under $RUN_DIR, under an flock so concurrent runs cannot race:
#   users/<pid>       one file per run in progress (stale ones are pruned)
#   <name>.auto       this emulator was started by a run, not by hand
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUN_DIR=${RUN_DIR:-$ROOT/.run}
MOTO_PORT=${MOTO_PORT:-5055}
DYNAMODB_LOCAL_PORT=${DYNAMODB_LOCAL_PORT:-5056}
export RUN_DIR MOTO_PORT DYNAMODB_LOCAL_PORT

EMULATORS="$ROOT/scripts/emulators.sh"
USERS=$RUN_DIR/users
LOCK=$RUN_DIR/emulators.lock
mkdir -p "$USERS"

prune_users() {
    local file
    for file in "$USERS"/*; do
        [[ -e $file ]] || continue
        kill -0 "${file##*/}" 2>/dev/null || rm -f "$file"
    done
}

start() {
    exec 9>"$LOCK"
    flock 9
    prune_users
    touch "$USERS/$$"
    local line name
    while read -r line; do
        [[ $line == *": stopped" ]] || continue
        name=${line%%:*}
        # 9>&-: the emulator must not inherit the lock's descriptor, or the lock would
        # stay held for as long as the emulator runs.
        "$EMULATORS" up "$name" 9>&-
        touch "$RUN_DIR/$name.auto"
    done < <("$EMULATORS" status 9>&-)
    exec 9>&-
}

finish() {
    exec 9>"$LOCK"
    flock 9
    rm -f "$USERS/$$"
    prune_users
    if [[ -z $(ls -A "$USERS") ]]; then
        local marker name
        for marker in "$RUN_DIR"/*.auto; do
            [[ -e $marker ]] || continue
            name=${marker##*/}
            name=${name%.auto}
            "$EMULATORS" down "$name" 9>&- || true
            rm -f "$marker"
        done
    fi
    exec 9>&-
}

trap finish EXIT
# A signal ends the run through `exit`, so the EXIT trap still deregisters it.
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
start

# The standard AWS environment, as a user's shell would set it for the emulators.
export AWS_REGION=${AWS_REGION:-us-east-1}
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test}
export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$MOTO_PORT
export AWS_ENDPOINT_URL_SNS=http://127.0.0.1:$MOTO_PORT
# Tests that need an emulator read its variable; without it they fail and say how to
# start it.
export BRIDGE_TEST_MOTO_ENDPOINT=http://127.0.0.1:$MOTO_PORT
export BRIDGE_TEST_DYNAMODB_LOCAL_ENDPOINT=http://127.0.0.1:$DYNAMODB_LOCAL_PORT

"$@"
