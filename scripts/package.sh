#!/usr/bin/env bash
# Builds the deployable zip with cargo-lambda: target/lambda/oa-webhook/bootstrap.zip.
#
#   scripts/package.sh            arm64 (Graviton, what template.yaml deploys) through zig;
#                                 when the arm64 standard library cannot be installed here,
#                                 says so and builds x86-64 instead
#   ARCH=x86_64 scripts/package.sh   x86-64 (then set Architectures: [x86_64] in the template)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

scripts/tools.sh python zig
export PATH="$ROOT/.tools/venv/bin:$PATH"

arch=${ARCH:-arm64}
if [[ $arch == arm64 ]]; then
    if ! rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu; then
        if ! rustup target add aarch64-unknown-linux-gnu >&2; then
            echo "package: the arm64 target (aarch64-unknown-linux-gnu) cannot be installed here;" \
                "building x86-64 instead. Deploy it with Architectures: [x86_64]." >&2
            arch=x86_64
        fi
    fi
fi

flags=(--release --output-format zip --bin oa-webhook)
[[ $arch == arm64 ]] && flags+=(--arm64) || flags+=(--x86-64)
cargo lambda build "${flags[@]}"

zip=target/lambda/oa-webhook/bootstrap.zip
[[ -f $zip ]] || { echo "package: $zip was not produced" >&2; exit 1; }
size=$(stat -c %s "$zip")
echo "package: $zip ($arch, $size bytes, $(awk -v s="$size" 'BEGIN{printf "%.2f", s/1048576}') MiB)"
