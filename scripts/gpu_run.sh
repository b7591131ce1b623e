#!/usr/bin/env bash
# The one command to run on a lent GPU machine (see scripts/gpu_run.py and docs/gpu.md):
# benchmark, check and train in 9 minutes, results under $OUT
# (./gpu-results when OUT is unset). Without a CUDA GPU it refuses (exit 2) unless
# NIRCOLOR_GPU_DRY_RUN=1, which rehearses every step on the CPU with a tiny budget.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
# The GPU image runs the checkout as it is, without installing it: the package's folders are
# mapped onto the nircolor.* names by pyproject.toml, so give Python the same mapping.
if ! python3 -c "import nircolor.models" 2>/dev/null; then
    site="${TMPDIR:-/tmp}/nircolor-src"
    rm -rf "$site" && mkdir -p "$site/nircolor"
    cp -r nircolor/. "$site/nircolor/"
    for room in models export runtime; do ln -s "$PWD/$room" "$site/nircolor/$room"; done
    export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
fi
exec python3 scripts/gpu_run.py "$@"
