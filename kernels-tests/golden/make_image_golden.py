#!/usr/bin/env python3
"""Golden values for the image losses:

- SSIM from scikit-image's structural_similarity (gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False, data_range=L, channel_axis=0), the definition pegasus follows.
- The Laplacian pyramid and its L1 loss from an independent numpy implementation of the
  definitions in shaders/pyramid.wgsl (1 4 6 4 1 / 16 kernel, reflect border, Burt-Adelson
  expand of the zero-inserted image), written from those formulas, not from the WGSL.

    python3 kernels-tests/golden/make_image_golden.py    # needs numpy and scikit-image

Writes kernels-tests/golden/ssim.json and laplacian.json.
"""
import json
import os

import numpy as np
from skimage.metrics import structural_similarity

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(2026)


def values(a):
    return [float(f"{v:.9g}") for v in np.asarray(a, dtype=np.float64).reshape(-1)]


def scene(c, h, w, shift):
    """A structured test image in [-1, 1]: a ramp, a disc and some noise."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.zeros((c, h, w))
    for ch in range(c):
        ramp = (x / max(w - 1, 1)) * (0.5 + 0.2 * ch) - 0.3
        disc = ((y - h * 0.4 - shift) ** 2 + (x - w * 0.6) ** 2 < (min(h, w) * 0.25) ** 2) * 0.8
        img[ch] = np.clip(ramp + disc + 0.1 * rng.standard_normal((h, w)), -1, 1)
    return img


# SSIM: pairs of [C, H, W] images and scikit-image's mean SSIM.
pairs = []
for c, h, w, data_range in [(3, 32, 32, 2.0), (1, 23, 17, 2.0), (2, 11, 11, 2.0)]:
    a = scene(c, h, w, 0)
    b = np.clip(scene(c, h, w, 2) + 0.05 * rng.standard_normal((c, h, w)), -1, 1)
    a32, b32 = a.astype(np.float32).astype(np.float64), b.astype(np.float32).astype(np.float64)
    s = structural_similarity(a32, b32, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                              data_range=data_range, channel_axis=0)
    pairs.append({"shape": [1, c, h, w], "data_range": data_range, "a": values(a32), "b": values(b32), "ssim": float(s)})
with open(os.path.join(HERE, "ssim.json"), "w") as f:
    json.dump({"pairs": pairs}, f, separators=(",", ":"))

# Laplacian pyramid.
TAPS = np.array([1, 4, 6, 4, 1], dtype=np.float64) / 16
R = 2


def mirror(k, n):
    if n == 1:
        return 0
    period = 2 * (n - 1)
    m = k % period
    return period - m if m >= n else m


def down(img):
    h, w = img.shape
    out = np.zeros(((h + 1) // 2, (w + 1) // 2))
    for y in range(out.shape[0]):
        for x in range(out.shape[1]):
            out[y, x] = sum(TAPS[a + R] * TAPS[b + R] * img[mirror(2 * y + a, h), mirror(2 * x + b, w)]
                            for a in range(-R, R + 1) for b in range(-R, R + 1))
    return out


def expand(coarse, h, w):
    out = np.zeros((h, w))
    for y in range(h):
        for x in range(w):
            s = 0.0
            for a in range(-R, R + 1):
                for b in range(-R, R + 1):
                    if (y + a) % 2 == 0 and (x + b) % 2 == 0:
                        s += TAPS[a + R] * TAPS[b + R] * coarse[mirror(y + a, h) // 2, mirror(x + b, w) // 2]
            out[y, x] = 4 * s
    return out


def laplacian(img, levels):
    out, g = [], img
    for _ in range(levels - 1):
        nxt = down(g)
        out.append(g - expand(nxt, *g.shape))
        g = nxt
    out.append(g)
    return out


cases = []
for c, h, w, levels in [(2, 37, 29, 4), (1, 5, 3, 4), (1, 1, 1, 2)]:
    a = scene(c, h, w, 0).astype(np.float32).astype(np.float64)
    b = scene(c, h, w, 1).astype(np.float32).astype(np.float64)
    pyramids = [laplacian(a[ch], levels) for ch in range(c)]
    level_values = [values(np.stack([pyramids[ch][j] for ch in range(c)])) for j in range(levels)]
    level_shapes = [[1, c, *pyramids[0][j].shape] for j in range(levels)]
    diff = [laplacian(a[ch] - b[ch], levels) for ch in range(c)]
    loss = sum(np.mean(np.abs(np.stack([diff[ch][j] for ch in range(c)]))) for j in range(levels))
    cases.append({"shape": [1, c, h, w], "levels": levels, "a": values(a), "b": values(b),
                  "pyramid_a": level_values, "level_shapes": level_shapes, "loss": float(loss)})
with open(os.path.join(HERE, "laplacian.json"), "w") as f:
    json.dump({"cases": cases}, f, separators=(",", ":"))
