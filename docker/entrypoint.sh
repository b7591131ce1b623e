#!/bin/sh
# Container entry point: every argument goes to `nircolor`. The first run on a machine exports
# the model to ONNX and, where TensorRT and a GPU are present, builds the engine for this GPU;
# both land in $NIRCOLOR_CACHE (mount a volume there) and are reused, or rebuilt if the model,
# TensorRT version or GPU changed.
set -eu
export NIRCOLOR_CACHE="${NIRCOLOR_CACHE:-/cache}"
mkdir -p "$NIRCOLOR_CACHE"
if [ "$#" -eq 0 ]; then
    set -- run /dev/video0 --output display://fullscreen
fi
exec python3 -m nircolor.cli "$@"
