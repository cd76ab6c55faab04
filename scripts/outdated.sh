#!/usr/bin/env bash
# List the workspace's crates.io dependencies ([workspace.dependencies] in Cargo.toml): the
# requirement, the version Cargo.lock holds and the latest release, and how to catch up
# when the locked version is behind:
#   update       the latest is within the requirement: `cargo update -p <crate>` takes it
#   Cargo.toml   the latest is outside it (a new major, or a new minor of a 0.x crate): the
#                requirement must change, and the code may have to follow
# A latest release that needs a newer rustc than the workspace's rust-version is noted: the
# MSRV-aware resolver (resolver 3) will not pick it.
#
# "Latest" is the newest release that is neither yanked nor a pre-release, read from the
# crates.io sparse index (what cargo reads), eight crates at a time. Not `cargo info`: it
# reports pre-releases as the latest (rustls 0.24.0-dev.2), downloads each crate, and runs
# one at a time behind cargo's package cache lock. Cargo.toml and Cargo.lock are only read.
#
#   scripts/outdated.sh            the table; exit 0
#   scripts/outdated.sh --check    exit 1 when any dependency is behind
# Either way, exit 2 when a lookup failed. CRATES_INDEX overrides the index URL.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
INDEX=${CRATES_INDEX:-https://index.crates.io}
JOBS=8

usage() {
    echo "usage: $0 [--check]" >&2
    exit 2
}
(($# <= 1)) || usage
case ${1:-} in
"") check=0 ;;
--check) check=1 ;;
*) usage ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/index"

# Version helpers shared by the awk programs below: numeric major.minor.patch comparison.
AWK_VERSIONS='
function cmp(a, b,    x, y, i) {
    split(a, x, "."); split(b, y, ".")
    for (i = 1; i <= 3; i++)
        if (x[i] + 0 != y[i] + 0) return x[i] + 0 < y[i] + 0 ? -1 : 1
    return 0
}
'

# [workspace.dependencies] -> "key<TAB>crate<TAB>requirement", crates.io entries only (no
# path, git or other registry), in file order. Takes both `name = ...` lines and
# [workspace.dependencies.name] tables.
awk '
function quoted(text, name,    re) { # the string value of `name = "..."` in text
    re = "(^|[{, \t])" name "[ \t]*=[ \t]*\"[^\"]*\""
    if (!match(text, re)) return ""
    text = substr(text, RSTART, RLENGTH)
    sub(/^[^"]*"/, "", text)
    sub(/"$/, "", text)
    return text
}
function emit(key, text,    version, crate) {
    # A trailing comment, which could mention path = or version =.
    if (match(text, /[}"\]][ \t]*#.*$/)) text = substr(text, 1, RSTART)
    if (text ~ /^[ \t]*"/) {
        version = text
        sub(/^[ \t]*"/, "", version)
        sub(/".*/, "", version)
        crate = key
    } else {
        if (text ~ /(^|[{, \t])(path|git|registry)[ \t]*=/) return
        version = quoted(text, "version")
        crate = quoted(text, "package")
        if (crate == "") crate = key
    }
    if (version != "") print key "\t" crate "\t" version
}
/^[ \t]*\[/ {
    if (table_key != "") emit(table_key, table_text)
    table_key = ""
    table_text = ""
    in_list = $0 ~ /^[ \t]*\[workspace\.dependencies\][ \t]*(#.*)?$/
    if ($0 ~ /^[ \t]*\[workspace\.dependencies\.[A-Za-z0-9_-]+\]/) {
        table_key = $0
        sub(/^[ \t]*\[workspace\.dependencies\./, "", table_key)
        sub(/\].*/, "", table_key)
    }
    next
}
table_key != "" && !/^[ \t]*#/ {
    line = $0
    if (match(line, /[}"\]][ \t]*#.*$/)) line = substr(line, 1, RSTART)
    table_text = table_text " " line
    next
}
in_list && /^[ \t]*[A-Za-z0-9_-]+[ \t]*=/ {
    key = $0
    sub(/^[ \t]*/, "", key)
    sub(/[ \t]*=.*/, "", key)
    text = $0
    sub(/^[^=]*=/, "", text)
    emit(key, text)
}
END { if (table_key != "") emit(table_key, table_text) }
' "$ROOT/Cargo.toml" >"$work/deps"

if [[ ! -s $work/deps ]]; then
    echo "outdated: no crates.io dependencies in [workspace.dependencies] of $ROOT/Cargo.toml" >&2
    exit 2
fi

# Cargo.lock -> "crate<TAB>version" for every locked crates.io package (a crate can be
# locked at several versions).
awk '
function value(line) { sub(/^[^"]*"/, "", line); sub(/".*/, "", line); return line }
function flush() {
    if (name != "" && (source == "registry+https://github.com/rust-lang/crates.io-index" ||
        source == "sparse+https://index.crates.io/"))
        print name "\t" version
    name = version = source = ""
}
/^\[/ { flush(); in_package = $0 ~ /^\[\[package\]\]/; next }
in_package && /^name = / { name = value($0) }
in_package && /^version = / { version = value($0) }
in_package && /^source = / { source = value($0) }
END { flush() }
' "$ROOT/Cargo.lock" >"$work/locked"

# One crate's index file into $OUTDATED_WORK/index/<crate>; on failure, none, and curl's
# message in <crate>.error. Run by xargs, in bash processes of their own.
# shellcheck disable=SC2329
fetch() {
    local name path
    name=$(printf '%s' "$1" | tr '[:upper:]' '[:lower:]')
    case ${#name} in
    1) path=1/$name ;;
    2) path=2/$name ;;
    3) path=3/${name:0:1}/$name ;;
    *) path=${name:0:2}/${name:2:2}/$name ;;
    esac
    if ! curl -fsS --retry 2 --max-time 30 -o "$OUTDATED_WORK/index/$1" "$OUTDATED_INDEX/$path" \
        2>"$OUTDATED_WORK/$1.error"; then
        rm -f "$OUTDATED_WORK/index/$1"
    fi
}
export -f fetch
export OUTDATED_WORK=$work OUTDATED_INDEX=$INDEX
# shellcheck disable=SC2016 # $1 is the argument xargs passes to that bash
cut -f 2 "$work/deps" | sort -u | xargs -n 1 -P "$JOBS" bash -c 'fetch "$1"' _

# Index files -> "crate<TAB>latest<TAB>its rust-version": the newest version that is
# neither yanked nor a pre-release. One JSON object per line; "vers" is its first key of
# that name (dependencies carry "req", not "vers").
: >"$work/latest"
for file in "$work"/index/*; do
    [[ -e $file ]] || continue
    awk -v crate="${file##*/}" "$AWK_VERSIONS"'
function field(line, name,    re) {
    re = "\"" name "\"[ \t]*:[ \t]*\"[^\"]*\""
    if (!match(line, re)) return ""
    line = substr(line, RSTART, RLENGTH)
    sub(/^"[^"]*"[ \t]*:[ \t]*"/, "", line)
    sub(/"$/, "", line)
    return line
}
/"yanked"[ \t]*:[ \t]*true/ { next }
{
    version = field($0, "vers")
    core = version
    sub(/\+.*/, "", core)
    if (core == "" || core ~ /-/) next
    if (best == "" || cmp(core, best) > 0) {
        best = core
        rust = field($0, "rust_version")
    }
}
END { if (best != "") print crate "\t" best "\t" rust }
' "$file" >>"$work/latest"
done

msrv=$(sed -n 's/^rust-version = "\([^"]*\)".*/\1/p' "$ROOT/Cargo.toml")
msrv=${msrv%%$'\n'*}

# The table, in Cargo.toml's order. Exit status 0, 1 when any is behind, 2 when a lookup
# failed.
status=0
awk -F '\t' -v msrv="$msrv" "$AWK_VERSIONS"'
# Does version v satisfy requirement req? 1 or 0; -1 for forms not handled here (ranges
# with <, >, or several comparators).
function matches(req, v,    op, r, x, n, i) {
    gsub(/[ \t]/, "", req)
    if (req == "*") return 1
    if (req ~ /[<>,]/) return -1
    op = "^"
    if (req ~ /^[\^~=]/) {
        op = substr(req, 1, 1)
        req = substr(req, 2)
    }
    sub(/[-+].*/, "", req)
    n = split(req, r, ".")
    if (r[n] == "*") {
        n--
        op = "="
    }
    split(v, x, ".")
    for (i = 1; i <= 3; i++) {
        r[i] += 0
        x[i] += 0
    }
    if (op == "=") {
        for (i = 1; i <= n; i++) if (x[i] != r[i]) return 0
        return 1
    }
    if (cmp(v, r[1] "." r[2] "." r[3]) < 0) return 0
    if (op == "~") return n == 1 ? x[1] == r[1] : x[1] == r[1] && x[2] == r[2]
    # Caret: the leftmost non-zero component given must stay the same.
    if (r[1] > 0 || n == 1) return x[1] == r[1]
    if (r[2] > 0 || n == 2) return x[1] == r[1] && x[2] == r[2]
    return x[1] == r[1] && x[2] == r[2] && x[3] == r[3]
}
FILENAME == ARGV[1] { latest[$1] = $2; rust[$1] = $3; next }
FILENAME == ARGV[2] { locked_versions[$1] = locked_versions[$1] " " $2; next }
{
    n++
    crate[n] = $2
    req[n] = $3
    label[n] = ($1 == $2) ? $1 : $1 " (" $2 ")"
    # The highest locked version that satisfies the requirement.
    count = split(locked_versions[$2], versions, " ")
    locked[n] = ""
    for (i = 1; i <= count; i++)
        if (matches($3, versions[i]) != 0 && (locked[n] == "" || cmp(versions[i], locked[n]) > 0))
            locked[n] = versions[i]
}
END {
    width = length("crate")
    for (i = 1; i <= n; i++) if (length(label[i]) > width) width = length(label[i])
    format = "%-" width "s  %-11s  %-9s  %-9s  %s\n"
    printf format, "crate", "requirement", "locked", "latest", "behind"
    for (i = 1; i <= n; i++) {
        c = crate[i]
        note = ""
        if (!(c in latest)) {
            note = "? lookup failed"
            failed++
        } else if (locked[i] == "" || cmp(latest[c], locked[i]) > 0) {
            fits = matches(req[i], latest[c])
            if (fits == 1 && locked[i] == "") note = ""
            else if (fits == 1) { note = "update"; updates++ }
            else if (fits == 0) { note = "Cargo.toml"; edits++ }
            else { note = "yes (check the requirement)"; others++ }
            if (note != "" && msrv != "" && rust[c] != "" && cmp(rust[c], msrv) > 0)
                note = note " (needs rustc " rust[c] ")"
            if (locked[i] == "") note = note (note == "" ? "" : " ") "(not in Cargo.lock)"
        }
        printf format, label[i], req[i], (locked[i] == "") ? "-" : locked[i], \
            (c in latest) ? latest[c] : "?", note
    }
    behind = updates + edits + others
    printf "\n%d of %d behind: %d within the requirement (cargo update -p <crate>), %d need a Cargo.toml change", \
        behind, n, updates, edits
    if (others) printf ", %d with a requirement this script does not read", others
    print "."
    if (failed) {
        printf "lookups failed in %s: %d\n", ENVIRON["OUTDATED_INDEX"], failed
        exit 2
    }
    exit (behind > 0) ? 1 : 0
}
' "$work/latest" "$work/locked" "$work/deps" || status=$?

if ((status == 2)); then
    for error in "$work"/*.error; do
        name=${error##*/}
        [[ -s $error ]] && sed "s/^/outdated: ${name%.error}: /" "$error" >&2
    done
    exit 2
fi
if ((status == 1 && check)); then
    exit 1
fi
exit 0
