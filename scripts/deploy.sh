#!/usr/bin/env bash
# Build the inbound Lambda (SAM + cargo-lambda, arm64) and deploy infra/template.yaml with
# the settings in infra/samconfig.toml. Extra arguments go to `sam deploy`.
#
#   scripts/deploy.sh                       # make deploy
#   SAM_CONFIG_ENV=staging scripts/deploy.sh --no-confirm-changeset
#
# The relay image is not built here: push it to ECR first and set RelayImageUri (README,
# Deploy). Needs: sam (AWS SAM CLI), cargo-lambda with zig, the aarch64-unknown-linux-gnu
# Rust target, and AWS credentials for the target account.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
INFRA=$ROOT/infra
CONFIG=${SAM_CONFIG:-$INFRA/samconfig.toml}
CONFIG_ENV=${SAM_CONFIG_ENV:-default}
VENV=${VENV:-$ROOT/.venv}

die() {
    echo "deploy: $*" >&2
    exit 2
}

if [[ ! -f $CONFIG ]]; then
    cat >&2 <<EOF
deploy: no SAM configuration at $CONFIG

Create it from the example and fill in every <...> value (Connect instance and flows,
support numbers, relay image, VPC and subnets):

    cp infra/samconfig.example.toml infra/samconfig.toml
    \$EDITOR infra/samconfig.toml

infra/samconfig.toml is git-ignored. Another file or environment:
SAM_CONFIG=/path/to/samconfig.toml SAM_CONFIG_ENV=<env> make deploy
EOF
    exit 2
fi
if grep -q '^[^#]*<[a-z-]*>' "$CONFIG"; then
    grep -n '^[^#]*<[a-z-]*>' "$CONFIG" >&2
    die "$CONFIG still has <placeholders> (above)"
fi

# cargo-lambda and zig may live in the project venv; cargo-lambda runs zig through the
# first python3 on PATH, so the venv goes first.
if [[ -d $VENV/bin ]]; then PATH=$VENV/bin:$PATH; fi
SAM=${SAM:-sam}
command -v "$SAM" >/dev/null ||
    die "AWS SAM CLI not found: install it (https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/install-sam-cli.html, or 'pip install aws-sam-cli' in a venv of its own) or set SAM=/path/to/sam"
command -v cargo-lambda >/dev/null ||
    die "cargo-lambda not found: 'pip install cargo-lambda ziglang' into $VENV, or see https://www.cargo-lambda.info/guide/installation.html"
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
    die "the function is built for arm64: rustup target add aarch64-unknown-linux-gnu"
fi

export SAM_CLI_TELEMETRY=${SAM_CLI_TELEMETRY:-0}
cd "$INFRA"
"$SAM" validate --config-file "$CONFIG" --config-env "$CONFIG_ENV" --lint
"$SAM" build --config-file "$CONFIG" --config-env "$CONFIG_ENV"
"$SAM" deploy --config-file "$CONFIG" --config-env "$CONFIG_ENV" "$@"
