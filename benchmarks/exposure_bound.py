"""How much of the colour error is one global colour transform per image?

For every pair of ../shared/data/epfl-rgbnir at full resolution: PSNR of NIR copied to grey, and
of that grey after the best per-image transform an oracle that sees the true RGB could pick
(a mean shift per channel; a gain per channel; a gain and offset per channel, least squares).
These oracles know each photograph's exposure and white balance, which the NIR image does not
carry; a colorizer has to guess them. Also the correlation of the NIR's and the RGB's mean
brightness across images, which bounds how well a model can guess the exposure.

    python benchmarks/exposure_bound.py    # writes benchmarks/results/exposure-bound.{json,md}
"""

from __future__ import annotations


import numpy as np

from nircolor.models.metrics import psnr
from nircolor.models.pairs import find_pairs, read_nir, read_rgb

from harness import DATA, RESULTS, write_markdown, write_report



def oracles(nir: np.ndarray, rgb: np.ndarray) -> dict[str, float]:
    grey = np.repeat(nir.astype(np.float64)[..., None], 3, axis=2)
    target = rgb.astype(np.float64)

    def score(img: np.ndarray) -> float:
        return psnr(np.clip(np.rint(img), 0, 255).astype(np.uint8), rgb)

    gain = (grey * target).sum((0, 1)) / np.maximum((grey * grey).sum((0, 1)), 1e-9)
    affine = np.empty_like(target)
    for c in range(3):
        design = np.stack([grey[..., c].ravel(), np.ones(grey[..., c].size)], axis=1)
        coef, *_ = np.linalg.lstsq(design, target[..., c].ravel(), rcond=None)
        affine[..., c] = (design @ coef).reshape(nir.shape)
    return {"grey": score(grey), "oracle_mean_shift": score(grey - grey.mean((0, 1)) + target.mean((0, 1))),
            "oracle_gain": score(grey * gain), "oracle_gain_offset": score(affine)}


def main() -> None:
    rows, brightness = [], []
    for paths in find_pairs(DATA):
        nir, rgb = read_nir(paths.nir), read_rgb(paths.rgb)
        rows.append({"pair": paths.key, **oracles(nir, rgb)})
        brightness.append((float(nir.mean()), float(rgb.mean())))
    keys = [k for k in rows[0] if k != "pair"]
    means = {k: float(np.mean([r[k] for r in rows])) for k in keys}
    b = np.array(brightness)
    report = {"images": len(rows), "mean_psnr": means, "brightness_correlation": float(np.corrcoef(b[:, 0], b[:, 1])[0, 1]),
              "rgb_mean_brightness_std": float(b[:, 1].std()), "rows": rows}
    write_report(RESULTS / "exposure-bound.json", report)
    labels = {"grey": "NIR copied to grey", "oracle_mean_shift": "grey + the true mean of each channel (oracle)",
              "oracle_gain": "grey x the best gain per channel (oracle)", "oracle_gain_offset": "grey x gain + offset per channel, least squares (oracle)"}
    md = ["# The share of one global colour transform per image", "", f"`python benchmarks/exposure_bound.py`, {len(rows)} pairs of "
          "epfl-rgbnir at full resolution.", "", "| picture | mean PSNR dB |", "| --- | --- |"]
    md += [f"| {labels[k]} | {means[k]:.2f} |" for k in keys]
    md += ["", f"Mean brightness of NIR and RGB across images: correlation {report['brightness_correlation']:.2f}; the RGB's mean "
               f"brightness varies with a standard deviation of {report['rgb_mean_brightness_std']:.1f} of 255."]
    write_markdown(RESULTS / "exposure-bound.md", md)
    print("\n".join(md))


if __name__ == "__main__":
    main()
