"""Set architecture options of a trained checkpoint that add no weights (e.g. effnet_unet's
flip_average: colour the frame and its mirror image and average).

    python scripts/set_options.py runs/x/best.pt runs/x/best-flip.pt flip_average=true
    python scripts/set_options.py models/weights/effnet32.pt models/weights/effnet32.pt flip_average=true

Values are JSON (true, 3, "text"). The weights are checked against the new options before the
copy is written; the card's provenance records what changed. Re-export ONNX files afterwards
(scripts/ship_onnx.py): their source changed.
"""

from __future__ import annotations

import sys

from nircolor.models import checkpoint


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__)
        return 2
    source, target, *pairs = argv
    try:
        out = checkpoint.with_options(source, target, **checkpoint.parse_option_pairs(pairs))
    except ValueError as exc:  # CheckpointError, or options the architecture does not know
        raise SystemExit(f"set_options: {exc}") from None
    print(f"{out}: options {checkpoint.card_of(checkpoint.read(out)).options}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
