#!/usr/bin/env bash
# Check, in about a second and before anything is built, that this machine has what
# `make test` or `make demo` needs. Every missing tool is listed with why it is needed and
# the command that installs it on Debian/Ubuntu and on macOS; then the script exits 1.
#
#   scripts/prereqs.sh test      what `make test` needs
#   scripts/prereqs.sh demo      what `make demo` needs: make, Rust, Python with venv (the
#                                demo runs moto only: no Java, Node or browser)
#   scripts/prereqs.sh browser   print only the headless browser's path, or exit 1 (the
#                                Makefile exports it to the tests as CHROMIUM)
#
# Before reporting, it installs what is missing where it safely can: rustfmt and clippy
# with `rustup component add` when rustup manages the toolchain, and system packages with
# apt-get when run as root on Debian/Ubuntu. BRIDGE_NO_INSTALL=1 only reports.
#
# The browser is $CHROMIUM, else $CHROME (a path or a command), else the first of
# chromium, chromium-browser, google-chrome and google-chrome-stable on PATH, else (macOS)
# the Chromium or Google Chrome app. A variable that is set must name a browser: it is not
# skipped, since the tests would use it. PYTHON and CARGO name the tools, as in the Makefile.
#
# Written for bash 3.2 too (macOS): no associative arrays, and no "${a[@]}" of an empty
# array, which `set -u` rejects there.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}
CARGO=${CARGO:-cargo}
MIN_PYTHON=3.9
MIN_JAVA=17
MIN_NODE=20
BROWSER_NAMES=(chromium chromium-browser google-chrome google-chrome-stable)
MACOS_BROWSERS=(
    "/Applications/Chromium.app/Contents/MacOS/Chromium"
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome"
)
# What each mode checks, in order (check_<name> below).
DEMO_CHECKS=(make cargo python java node)
TEST_CHECKS=(make cargo rust_components python java node curl browser)

RUSTUP_INSTALL="curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh"
SUDO=
[[ $(id -u) == 0 ]] || SUDO="sudo "

# Results of the last check: FOUND lines; MISSING as flat (what, why, debian, macos)
# quadruples; what apt-get and rustup could install.
FOUND=()
MISSING=()
APT=()
RUSTUP=()

found() { FOUND+=("$*"); }

need() { # what why debian-command macos-command
    MISSING+=("$1" "$2" "$3" "$4")
}

first_line() { printf '%s\n' "${1%%$'\n'*}"; }

# The first dotted version number in $1 ("cargo 1.95.0 (…)" -> 1.95.0, "v20.1.0" -> 20.1.0).
version_in() {
    local re='([0-9]+(\.[0-9]+)+)'
    [[ $1 =~ $re ]] && printf '%s\n' "${BASH_REMATCH[1]}"
}

version_ge() { # have want: is dotted version `have` at least `want`?
    local have want i h w
    IFS=. read -r -a have <<<"$1"
    IFS=. read -r -a want <<<"$2"
    for ((i = 0; i < ${#want[@]}; i++)); do
        h=${have[i]:-0}
        w=${want[i]}
        h=${h%%[!0-9]*}
        w=${w%%[!0-9]*}
        ((10#${h:-0} > 10#${w:-0})) && return 0
        ((10#${h:-0} < 10#${w:-0})) && return 1
    done
    return 0
}

platform() {
    case $(uname -s) in
    Darwin) echo macos ;;
    Linux)
        if [[ -f /etc/os-release ]] && grep -qiE '^(ID|ID_LIKE)=.*ubuntu' /etc/os-release; then
            echo ubuntu
        elif [[ -f /etc/debian_version ]]; then
            echo debian
        else
            echo other
        fi
        ;;
    *) echo other ;;
    esac
}
PLATFORM=$(platform)
if [[ $PLATFORM == ubuntu ]]; then
    CHROMIUM_PACKAGE=chromium-browser
else
    CHROMIUM_PACKAGE=chromium
fi

apt_install() { printf '%sapt-get install %s\n' "$SUDO" "$*"; }

# $1 as an absolute path to an executable file: itself when it has a slash, else its
# match on PATH.
executable() {
    local path
    if [[ $1 == */* ]]; then
        path=$1
        [[ $path == /* ]] || path=$PWD/${path#./}
        [[ -f $path && -x $path ]] || return 1
        printf '%s\n' "$path"
    else
        type -P "$1"
    fi
}

# Sets BROWSER to the headless browser's path; or returns 1, with BROWSER_VAR set to the
# variable that names no executable (if that is why).
resolve_browser() {
    BROWSER=
    BROWSER_VAR=
    local var value name path
    for var in CHROMIUM CHROME; do
        value=${!var:-}
        [[ -n $value ]] || continue
        BROWSER=$(executable "$value") && return 0
        BROWSER_VAR=$var
        return 1
    done
    for name in "${BROWSER_NAMES[@]}"; do
        BROWSER=$(type -P "$name") && return 0
    done
    if [[ $PLATFORM == macos ]]; then
        for path in "${MACOS_BROWSERS[@]}"; do
            if [[ -x $path ]]; then
                BROWSER=$path
                return 0
            fi
        done
    fi
    return 1
}

check_make() {
    local out
    if out=$(make --version 2>/dev/null); then
        found "make $(version_in "$out")"
    else
        need "make" "runs the project's targets (make test, make demo)" \
            "$(apt_install make)" "xcode-select --install"
        APT+=(make)
    fi
}

check_cargo() {
    local out version want
    want=$(sed -n 's/^rust-version = "\([^"]*\)".*/\1/p' "$ROOT/Cargo.toml")
    want=${want%%$'\n'*}
    if ! out=$("$CARGO" --version 2>/dev/null); then
        need "Rust (cargo)" "builds and tests the workspace (rustup installs it)" \
            "$RUSTUP_INSTALL" "$RUSTUP_INSTALL"
        return
    fi
    version=$(version_in "$out") || version=0
    if [[ -n $want ]] && ! version_ge "$version" "$want"; then
        need "Rust $want or newer (found $version)" "the workspace's rust-version (Cargo.toml)" \
            "rustup update stable" "rustup update stable"
    else
        found "cargo $version${want:+ (workspace needs $want+)}"
    fi
}

check_rust_components() {
    "$CARGO" --version >/dev/null 2>&1 || return 0 # reported by check_cargo
    local out versions=()
    if out=$("$CARGO" fmt --version 2>/dev/null); then
        versions+=("rustfmt $(version_in "$out")")
    else
        RUSTUP+=(rustfmt)
    fi
    if out=$("$CARGO" clippy --version 2>/dev/null); then
        versions+=("clippy $(version_in "$out")")
    else
        RUSTUP+=(clippy)
    fi
    if ((${#RUSTUP[@]})); then
        need "${RUSTUP[*]}" "make test starts with cargo fmt --check and cargo clippy" \
            "rustup component add ${RUSTUP[*]}" "rustup component add ${RUSTUP[*]}"
    else
        found "${versions[0]}, ${versions[1]}"
    fi
}

check_python() {
    local out version
    # Debian ships venv without ensurepip (package python3-venv), and then
    # `python3 -m venv` fails; so check for both.
    if ! out=$("$PYTHON" -c '
import sys
print("%d.%d.%d" % sys.version_info[:3])
try:
    import ensurepip, venv
    print("venv")
except ImportError:
    print("no venv")
' 2>/dev/null); then
        need "Python $MIN_PYTHON+ ($PYTHON)" "runs moto, the DynamoDB + SNS emulator, from a venv (.venv)" \
            "$(apt_install python3 python3-venv)" "brew install python"
        APT+=(python3 python3-venv)
        return
    fi
    version=${out%%$'\n'*}
    if ! version_ge "$version" "$MIN_PYTHON"; then
        need "Python $MIN_PYTHON+ (found $version)" "runs moto, the DynamoDB + SNS emulator" \
            "$(apt_install python3) (or a newer Python, e.g. with pyenv)" "brew install python"
    elif [[ $out != *$'\n'venv ]]; then
        need "Python's venv module (for $PYTHON $version)" "make creates .venv for moto and the linters" \
            "$(apt_install python3-venv)" "brew install python"
        APT+=(python3-venv)
    else
        found "python $version with venv ($PYTHON)"
    fi
}

check_java() {
    local out version major re='"([0-9][^"]*)"'
    if ! type -P java >/dev/null; then
        need "Java $MIN_JAVA+" "runs DynamoDB Local, the second engine of the DynamoDB tests" \
            "$(apt_install openjdk-17-jre-headless) (Debian 13: openjdk-21-jre-headless)" \
            "brew install openjdk@17 (then put \"\$(brew --prefix openjdk@17)/bin\" on PATH)"
        APT+=(openjdk-17-jre-headless)
        return
    fi
    # macOS has a java stub that fails when no JDK is installed.
    if ! out=$(java -version 2>&1); then
        need "Java $MIN_JAVA+ (java fails: $(first_line "$out"))" "runs DynamoDB Local" \
            "$(apt_install openjdk-17-jre-headless)" \
            "brew install openjdk@17 (then put \"\$(brew --prefix openjdk@17)/bin\" on PATH)"
        return
    fi
    if [[ $out =~ $re ]]; then
        version=${BASH_REMATCH[1]}
    else
        version=0
    fi
    # Java 8 and older say "1.8.0_292".
    if [[ $version == 1.* ]]; then
        major=${version#1.}
    else
        major=$version
    fi
    major=${major%%[!0-9]*}
    if ((${major:-0} < MIN_JAVA)); then
        need "Java $MIN_JAVA+ (found $version)" "runs DynamoDB Local" \
            "$(apt_install openjdk-17-jre-headless) (Debian 13: openjdk-21-jre-headless)" \
            "brew install openjdk@17 (then put \"\$(brew --prefix openjdk@17)/bin\" on PATH)"
    else
        found "java $version"
    fi
}

check_node() {
    local out version
    if ! out=$(node --version 2>/dev/null); then
        need "Node.js $MIN_NODE+ with npm" "npm installs DynamoDB Local; node runs the chatjs client check" \
            "$(apt_install nodejs npm)" "brew install node"
        APT+=(nodejs npm)
        return
    fi
    version=$(version_in "$out") || version=0
    if ! version_ge "$version" "$MIN_NODE"; then
        need "Node.js $MIN_NODE+ (found $version)" "runs the chatjs client check" \
            "a newer Node.js: https://nodejs.org/en/download (Debian/Ubuntu: NodeSource packages)" \
            "brew install node"
    elif ! type -P npm >/dev/null; then
        need "npm (Node $version has none)" "installs DynamoDB Local and the chatjs client" \
            "$(apt_install npm)" "brew install node"
        APT+=(npm)
    else
        found "node $version with npm"
    fi
}

check_curl() {
    local out
    if out=$(curl --version 2>/dev/null); then
        found "curl $(version_in "$out")"
    else
        need "curl" "scripts/emulators.sh waits for the emulators with it" \
            "$(apt_install curl)" "brew install curl"
        APT+=(curl)
    fi
}

check_browser() {
    local out why debian macos
    why="the web page tests render the phone page and agent console headless"
    debian="$(apt_install chromium) (Ubuntu: chromium-browser, a snap; or Google Chrome's .deb)"
    macos="brew install --cask chromium (or: brew install --cask google-chrome)"
    if ! resolve_browser; then
        if [[ -n $BROWSER_VAR ]]; then
            # The tests would use what the variable names: installing a browser won't help.
            need "Chromium or Chrome (\$$BROWSER_VAR is '${!BROWSER_VAR}', not an executable)" \
                "$why" "point $BROWSER_VAR at the browser, or unset it" \
                "point $BROWSER_VAR at the browser, or unset it"
        else
            need "Chromium or Chrome (none of ${BROWSER_NAMES[*]} found)" "$why" "$debian" "$macos"
            APT+=("$CHROMIUM_PACKAGE")
        fi
        return
    fi
    # Also catches launchers that cannot start it (Ubuntu's chromium-browser without snapd).
    # Only stdout on success: Debian's launcher can print shell noise on stderr.
    if out=$("$BROWSER" --version 2>/dev/null); then
        found "browser $BROWSER ($(first_line "$out"))"
        return
    fi
    out=$("$BROWSER" --version 2>&1) || true
    need "a working Chromium or Chrome ($BROWSER --version fails: $(first_line "$out"))" \
        "$why" "$debian" "$macos"
}

check() { # mode
    FOUND=()
    MISSING=()
    APT=()
    RUSTUP=()
    local name
    if [[ $1 == demo ]]; then
        for name in "${DEMO_CHECKS[@]}"; do "check_$name"; done
    else
        for name in "${TEST_CHECKS[@]}"; do "check_$name"; done
    fi
}

may_install() { [[ ${BRIDGE_NO_INSTALL:-} != 1 ]]; }

may_apt() {
    may_install && [[ $(id -u) == 0 && -f /etc/debian_version ]] && type -P apt-get >/dev/null
}

# Installs what the last check found missing, where allowed; returns 1 when it tried nothing.
install() {
    local tried=1 packages=() package
    if may_install && ((${#RUSTUP[@]})) && type -P rustup >/dev/null; then
        echo "prereqs: rustup component add ${RUSTUP[*]}"
        rustup component add "${RUSTUP[@]}" || echo "prereqs: rustup failed" >&2
        tried=0
    fi
    if ((${#APT[@]})) && may_apt; then
        echo "prereqs: installing with apt-get: ${APT[*]}"
        if ! apt-get update; then
            echo "prereqs: apt-get update failed" >&2
            return 0
        fi
        for package in "${APT[@]}"; do
            # Debian 13 packages Java 21, not 17.
            if [[ $package == openjdk-17-jre-headless ]] &&
                ! apt-cache show "$package" >/dev/null 2>&1; then
                package=openjdk-21-jre-headless
            fi
            packages+=("$package")
        done
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
            "${packages[@]}" || echo "prereqs: apt-get install failed" >&2
        tried=0
    fi
    return $tried
}

report() { # mode
    local line i
    echo "prereqs for make $1:"
    if ((${#FOUND[@]})); then
        for line in "${FOUND[@]}"; do
            printf '  ok       %s\n' "$line"
        done
    fi
    if ((${#MISSING[@]} == 0)); then
        return 0
    fi
    {
        for ((i = 0; i < ${#MISSING[@]}; i += 4)); do
            printf '  MISSING  %s\n' "${MISSING[i]}"
            printf '           why:           %s\n' "${MISSING[i + 1]}"
            printf '           Debian/Ubuntu: %s\n' "${MISSING[i + 2]}"
            printf '           macOS:         %s\n' "${MISSING[i + 3]}"
        done
        echo "prereqs: $((${#MISSING[@]} / 4)) missing for make $1: install them (above), then run it again."
        if ((${#APT[@]})) && [[ $PLATFORM == debian || $PLATFORM == ubuntu ]]; then
            if [[ ${BRIDGE_NO_INSTALL:-} == 1 ]]; then
                echo "prereqs: BRIDGE_NO_INSTALL=1: nothing was installed."
            elif [[ -z $SUDO ]]; then
                echo "prereqs: still missing after apt-get (its output is above)."
            fi
            echo "prereqs: all at once: ${SUDO}apt-get install -y --no-install-recommends ${APT[*]}"
            [[ -z $SUDO ]] || echo "prereqs: (run as root, this script installs them itself)"
        fi
    } >&2
    return 1
}

usage() {
    echo "usage: $0 test | demo | browser" >&2
    exit 2
}

(($# == 1)) || usage
case $1 in
browser)
    if ! resolve_browser; then
        echo "prereqs: no headless browser found (scripts/prereqs.sh test says how to install one)" >&2
        exit 1
    fi
    printf '%s\n' "$BROWSER"
    ;;
test | demo)
    check "$1"
    if ((${#MISSING[@]})) && install; then
        hash -r
        check "$1"
    fi
    report "$1"
    ;;
*) usage ;;
esac
