#!/usr/bin/env bash
# Run a command with the local emulators up and the standard AWS environment pointing at
# them. Emulators this script started are stopped when the command ends, pass or fail;
# ones that were already running (make emulators-up) are left running.
#
#   scripts/with-emulators.sh cargo test --workspace
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUN_DIR=${RUN_DIR:-$ROOT/.run}
MOTO_PORT=${MOTO_PORT:-5055}
DYNAMODB_LOCAL_PORT=${DYNAMODB_LOCAL_PORT:-5056}
export RUN_DIR MOTO_PORT DYNAMODB_LOCAL_PORT

# Start whatever is not running yet; afterwards stop only what this run started.
to_stop=()
while read -r line; do
    if [[ $line == *": stopped" ]]; then to_stop+=("${line%%:*}"); fi
done < <("$ROOT/scripts/emulators.sh" status)
cleanup() {
    if ((${#to_stop[@]})); then "$ROOT/scripts/emulators.sh" down "${to_stop[@]}"; fi
}
trap cleanup EXIT
if ((${#to_stop[@]})); then "$ROOT/scripts/emulators.sh" up "${to_stop[@]}"; fi

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
