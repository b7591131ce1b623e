"""Average the weights of runs of one recipe (a model soup): checkpoint.average.

    python scripts/soup.py runs/a/best.pt runs/b/best.pt runs/soup.pt

The runs must share their initialisation (one --seed, different --data-seed): the average of
two differently initialised networks is not a network. Score the result before trusting it.
"""

from __future__ import annotations

import sys

from nircolor.models import checkpoint


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__)
        return 2
    *members, target = argv
    try:
        model, card = checkpoint.average(members)
    except ValueError as exc:  # CheckpointError
        raise SystemExit(f"soup: {exc}") from None
    checkpoint.save(target, model, card)
    print(f"{target}: the mean of {len(members)} checkpoints")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
