#!/usr/bin/env bash
# Build the inbound Lambda's deployable zip with cargo-lambda.
#
# cargo-lambda and zig (its cross linker) come from PyPI into the project venv, pinned, and
# the venv's bin goes first on PATH: cargo-lambda finds zig there, or runs `python3 -m
# ziglang` with the first python3 on PATH (docs/local-stack.md §4). The function targets
# Linux arm64 (Graviton) when the aarch64-unknown-linux-gnu Rust target is installed or can
# be added; otherwise it falls back to x86_64 and says why. Each architecture gets its own
# lambda dir, so the two never overwrite each other:
#
#   target/lambda/arm64/bridge-inbound/bootstrap.zip
#   target/lambda/x86-64/bridge-inbound/bootstrap.zip
#
#   scripts/lambda.sh                   # arm64 if possible, else x86-64
#   LAMBDA_ARCH=x86-64 scripts/lambda.sh
#   LAMBDA_ARCH=arm64 scripts/lambda.sh # fail instead of falling back
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
PYTHON=${PYTHON:-python3}
CARGO=${CARGO:-cargo}
LAMBDA_ARCH=${LAMBDA_ARCH:-auto}
PACKAGE=bridge-inbound
# Pinned: 1.9.2 with zig 0.17.1 was verified on this machine (aarch64 cross build).
CARGO_LAMBDA_VERSION=1.9.2
ZIGLANG_VERSION=0.17.1
AARCH64=aarch64-unknown-linux-gnu

log() { printf 'lambda: %s\n' "$*" >&2; }

install_tools() {
    local stamp=$VENV/.cargo-lambda-$CARGO_LAMBDA_VERSION-zig-$ZIGLANG_VERSION
    [[ -f $stamp ]] && return 0
    if [[ ! -x $VENV/bin/python3 ]]; then
        log "creating the venv at $VENV"
        "$PYTHON" -m venv "$VENV"
    fi
    log "installing cargo-lambda $CARGO_LAMBDA_VERSION and ziglang $ZIGLANG_VERSION into $VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check \
        "cargo-lambda==$CARGO_LAMBDA_VERSION" "ziglang==$ZIGLANG_VERSION"
    touch "$stamp"
}

have_aarch64() {
    if command -v rustup >/dev/null 2>&1; then
        rustup target list --installed 2>/dev/null | grep -qx "$AARCH64" && return 0
        log "adding the Rust target $AARCH64"
        rustup target add "$AARCH64" >&2 && return 0
        return 1
    fi
    # No rustup: the target is usable only if its standard library is already there.
    [[ -d $(rustc --print sysroot)/lib/rustlib/$AARCH64/lib ]]
}

choose_arch() {
    case $LAMBDA_ARCH in
    arm64)
        have_aarch64 || {
            log "LAMBDA_ARCH=arm64 but the Rust target $AARCH64 is not available"
            exit 1
        }
        echo arm64
        ;;
    x86-64) echo x86-64 ;;
    auto)
        if have_aarch64; then
            echo arm64
        else
            log "the Rust target $AARCH64 is not installed and could not be added" \
                "(rustup offline?); building for x86-64 instead — deploy with" \
                "Architectures: [x86_64]"
            echo x86-64
        fi
        ;;
    *)
        log "LAMBDA_ARCH must be auto, arm64 or x86-64 (got '$LAMBDA_ARCH')"
        exit 2
        ;;
    esac
}

install_tools
export PATH=$VENV/bin:$PATH
arch=$(choose_arch)
lambda_dir=$ROOT/target/lambda/$arch
log "building $PACKAGE for $arch (release; slow on a cold target dir)"
cd "$ROOT"
"$CARGO" lambda build --release "--$arch" --output-format zip \
    -p "$PACKAGE" --bin "$PACKAGE" --lambda-dir "$lambda_dir"
zip=$lambda_dir/$PACKAGE/bootstrap.zip
if [[ ! -f $zip ]]; then
    log "expected $zip but it is not there"
    exit 1
fi
log "built ${zip#"$ROOT"/} ($(du -h "$zip" | cut -f1), $(stat -c %s "$zip") bytes)"
echo "$zip"
