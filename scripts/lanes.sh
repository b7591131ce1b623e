#!/usr/bin/env bash
# Training lanes: N workers (one per core) that take commands, one per line, from a queue file
# and run them one after the other, so a long list of folds keeps every core busy across hours
# while the queue can still be edited (under its lock) to put a new run first.
#
#   scripts/lanes.sh runs/queue/queue.txt 2      # start two lanes in the background
#   tail runs/queue/done.log                     # what started and finished, with exit codes
#
# Each command's output goes to runs/queue/HHMMSS-laneN-XXXX.log. A `nircolor train` or `nircolor cv`
# line without --threads is refused: two default-threaded runs on two cores fight over both and
# each step takes 2-4 times as long (seen with the freeze-stride 0 folds).
set -euo pipefail
queue=${1:?usage: scripts/lanes.sh QUEUE_FILE [LANES]}
lanes=${2:-2}
cd "$(dirname "$0")/.."
dir=$(dirname "$queue")
[ -f "$queue" ] || { echo "no queue file $queue: write one command per line there first" >&2; exit 2; }
if grep -E '^nircolor (train|cv) ' "$queue" | grep -vq -- '--threads'; then
    echo "a nircolor train/cv line in $queue has no --threads: give each run its share of the cores (--threads 1 for two lanes)" >&2
    exit 2
fi
# A broken install makes every line fail in a second and the lanes would drain the whole queue.
if grep -q '^nircolor ' "$queue" && ! nircolor --help >/dev/null 2>&1; then
    echo "the queue runs nircolor but \`nircolor --help\` fails here: install it first (pip install -e .)" >&2
    exit 2
fi

lane() {
    while true; do
        cmd=$(flock "$dir/lock" bash -c 'head -n 1 "$1"; sed -i 1d "$1"' _ "$queue")
        [ -z "$cmd" ] && break
        log=$(mktemp "$dir/$(date +%H%M%S)-lane$1-XXXX.log")
        echo "$(date -u +%T) start $cmd" >> "$dir/done.log"
        rc=0; bash -c "$cmd" > "$log" 2>&1 || rc=$?
        echo "$(date -u +%T) rc=$rc $log $cmd" >> "$dir/done.log"
    done
}

for i in $(seq 1 "$lanes"); do
    lane "$i" </dev/null >/dev/null 2>&1 &
    sleep 2  # lanes take different lines
done
echo "$lanes lanes on $queue; progress in $dir/done.log"
