#!/usr/bin/env bash
# Installs the project's development tools into the git-ignored folder .tools/.
#
#   scripts/tools.sh [python] [moto] [zig] [all]     (default: python moto)
#
#   python  a venv in .tools/venv with cargo-lambda, cfn-lint and cfn-lint-serverless.
#   moto    moto's server mode in that venv, served by waitress through our launcher
#           scripts/moto_server.py: the local DynamoDB, SQS and Secrets Manager of the tests,
#           `make run` and the benches (scripts/local-service.sh), with cfn-lint's pins kept.
#   ddb     the local DynamoDB: the same as moto (the name older commands use)
#   zig     ziglang in that venv (only needed for `cargo lambda build` cross-compiling).
#   sam     AWS SAM CLI in its own venv .tools/sam (for `make sam-validate`, `sam build`).
#   all     python + moto + zig (not sam).
#
# Idempotent: every part writes a stamp file (.tools/stamps/NAME) holding exactly what it
# installed; when the stamp matches, the part is skipped without touching the network.
# Change a pin below and the part is reinstalled. Concurrent runs are serialised by flock.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS_DIR=${TOOLS_DIR:-$ROOT/.tools}
STAMPS=$TOOLS_DIR/stamps

# ---- pins -------------------------------------------------------------------------------
# cargo-lambda is installed with --no-deps: its only dependency is ziglang (~600 MB), which
# `cargo lambda watch` does not need. Ask for it with `scripts/tools.sh zig`.
CARGO_LAMBDA_PIN="cargo-lambda==1.9.2"
ZIG_PIN="ziglang==0.17.1"
# moto's server mode: the local DynamoDB, SQS and Secrets Manager (scripts/local-service.sh),
# served by waitress (connections kept open; moto's own werkzeug server closes each one).
# Installed over cfn-lint's pins (they are passed as constraints); moto's other dependencies
# float within its own ranges. scripts/moto_server.py patches moto at import time and refuses
# to start on any other moto version: change both together.
MOTO_PIN="moto[server]==5.2.6"
WAITRESS_PIN="waitress==3.0.2"
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
    local want="$MOTO_PIN $WAITRESS_PIN"
    # scripts/local-service.sh probes the services with curl.
    command -v curl >/dev/null || apt_install curl
    if stamp_ok moto "$want" && [[ -x $VENV/bin/moto_server ]]; then
        return 0
    fi
    log "pip install $MOTO_PIN $WAITRESS_PIN"
    printf '%s\n' "$PY_REQUIREMENTS" >"$TOOLS_DIR/requirements-tools.txt"
    "$VENV/bin/python" -m pip install --quiet --no-input --disable-pip-version-check \
        -c "$TOOLS_DIR/requirements-tools.txt" "$MOTO_PIN" "$WAITRESS_PIN" >&2
    "$VENV/bin/python" "$ROOT/scripts/moto_server.py" --check >/dev/null ||
        die "scripts/moto_server.py --check failed with the installed moto"
    write_stamp moto "$want"
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
    ((${#parts[@]})) || parts=(python moto)
    local want_python='' want_moto='' want_zig='' want_sam='' p
    for p in "${parts[@]}"; do
        case $p in
        python) want_python=1 ;;
        moto | ddb) want_moto=1 ;;
        zig) want_zig=1 ;;
        sam) want_sam=1 ;;
        all) want_python=1 want_moto=1 want_zig=1 ;;
        -h | --help | help)
            sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
            return 0
            ;;
        *) die "unknown part '$p' (expected python, moto, ddb, zig, sam or all)" ;;
        esac
    done

    mkdir -p "$TOOLS_DIR"
    # One installer at a time (two `make test` on a fresh machine must not race).
    exec 9>"$TOOLS_DIR/.lock"
    flock 9
    [[ -n $want_python ]] && install_python
    [[ -n $want_moto ]] && install_moto
    [[ -n $want_zig ]] && install_zig
    [[ -n $want_sam ]] && install_sam
    return 0
}

main "$@"
