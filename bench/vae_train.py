#!/usr/bin/env python3
"""The peer of `pegasus train vae`: the same VAE, losses, optimiser, data and held-out split
in PyTorch, trained for the same number of steps; prints the held-out reconstruction PSNR and
SSIM and the training speed.

Architecture (as src/models/vae.rs): encoder of 4x4 stride-2 unpadded convolutions without
bias, widths nf, 2 nf, ... until the map is 4 x 4 or smaller, each followed by BatchNorm and
LeakyReLU(0.2); linear layers to mu and logvar. Decoder: linear to that map, BatchNorm +
LeakyReLU, mirrored 4x4 stride-2 transposed convolutions (output padding 1 where the encoder
dropped a row), BatchNorm + LeakyReLU between, the last with bias and tanh. PyTorch's default
initialisation. Loss: beta KL / (C H W) + (1 - SSIM) + colour (3 x 3 average pools, MSE), SSIM
with an 11 x 11 Gaussian window (sigma 1.5) over the valid area, data range 2. Adam(1e-3, 0.9,
0.999). Held out: every 20th image (indices 19, 39, ...), as pegasus does for sources without a
test split. fp32, TF32 off.

    python3 bench/vae_train.py [--data embedded|cifar10:DIR] [--classes horse,bird]
        [--nf 32] [--nz 32] [--batch 64] [--steps 1200] [--threads 2] [--device cpu|cuda]

Compare with `pegasus train vae` with the same settings on the same machine: its last lines
print the same held-out figures, its metrics.csv the images/s.
"""
import argparse
import gzip
import math
import os
import struct
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
CIFAR10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def load(spec, classes):
    """uint8 images [N, C, H, W] and labels, in file order."""
    if spec == "embedded":
        raw = gzip.open(os.path.join(HERE, "..", "assets", "digits-images-idx3-ubyte.gz")).read()
        n, rows, cols = struct.unpack(">III", raw[4:16])
        images = np.frombuffer(raw[16:], np.uint8).reshape(n, 1, rows, cols)
        labels = np.frombuffer(
            gzip.open(os.path.join(HERE, "..", "assets", "digits-labels-idx1-ubyte.gz")).read()[8:],
            np.uint8,
        )
        names = [str(d) for d in range(10)]
    elif spec.startswith("cifar10:"):
        folder = spec.split(":", 1)[1]
        records = []
        for name in sorted(os.listdir(folder)):
            if name.startswith("data_batch"):
                records.append(np.fromfile(os.path.join(folder, name), np.uint8).reshape(-1, 3073))
        records = np.concatenate(records)
        labels, images = records[:, 0], records[:, 1:].reshape(-1, 3, 32, 32)
        names = CIFAR10
    else:
        raise SystemExit(f"--data {spec}: give embedded or cifar10:DIR")
    if classes:
        wanted = [names.index(c) for c in classes.split(",")]
        keep = np.isin(labels, wanted)
        images, labels = images[keep], labels[keep]
    return images, labels


def sides(size):
    out = [size]
    while out[-1] > 4:
        out.append((out[-1] - 4) // 2 + 1)
    return out


class Vae(nn.Module):
    def __init__(self, size, channels, nz, nf):
        super().__init__()
        s = sides(size)
        widths = [nf << i for i in range(len(s) - 1)]
        layers, cin = [], channels
        for w in widths:
            layers += [nn.Conv2d(cin, w, 4, 2, 0, bias=False), nn.BatchNorm2d(w), nn.LeakyReLU(0.2)]
            cin = w
        self.encoder = nn.Sequential(*layers)
        flat = widths[-1] * s[-1] * s[-1]
        self.fc_mu = nn.Linear(flat, nz)
        self.fc_logvar = nn.Linear(flat, nz)
        self.fc = nn.Linear(nz, flat)
        self.map = (widths[-1], s[-1], s[-1])
        layers = [nn.BatchNorm2d(widths[-1]), nn.LeakyReLU(0.2)]
        for i in reversed(range(len(widths))):
            out = channels if i == 0 else widths[i - 1]
            pad = s[i] - (2 * s[i + 1] + 2)
            layers.append(nn.ConvTranspose2d(widths[i], out, 4, 2, 0, output_padding=pad, bias=i == 0))
            layers += [nn.Tanh()] if i == 0 else [nn.BatchNorm2d(out), nn.LeakyReLU(0.2)]
        self.decoder = nn.Sequential(*layers)

    def encode(self, x):
        h = self.encoder(x).flatten(1)
        return self.fc_mu(h), self.fc_logvar(h)

    def decode(self, z):
        return self.decoder(self.fc(z).view(z.shape[0], *self.map))


def gaussian_window(device):
    x = torch.arange(11, dtype=torch.float32, device=device) - 5
    g = torch.exp(-(x**2) / (2 * 1.5**2))
    return g / g.sum()


def ssim(a, b, window):
    """Mean SSIM over images, channels and the valid area (data range 2)."""
    c = a.shape[1]
    kh = window.view(1, 1, 1, 11).repeat(c, 1, 1, 1)
    kv = window.view(1, 1, 11, 1).repeat(c, 1, 1, 1)

    def filt(x):
        return F.conv2d(F.conv2d(x, kh, groups=c), kv, groups=c)

    mx, my = filt(a), filt(b)
    sxx = filt(a * a) - mx * mx
    syy = filt(b * b) - my * my
    sxy = filt(a * b) - mx * my
    c1, c2 = (0.01 * 2) ** 2, (0.03 * 2) ** 2
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return s.mean()


def colour(a, b):
    return F.mse_loss(F.adaptive_avg_pool2d(a, 3), F.adaptive_avg_pool2d(b, 3))


def spread(n, count):
    count = min(count, n)
    return [i * n // count for i in range(count)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="embedded")
    ap.add_argument("--classes", default="")
    ap.add_argument("--nf", type=int, default=32)
    ap.add_argument("--nz", type=int, default=0, help="0: pegasus's default for the size")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=1200)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--beta", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0: PyTorch's choice)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    dev = torch.device(args.device)

    images, _ = load(args.data, args.classes)
    held = np.arange(len(images)) % 20 == 19
    to_tensor = lambda a: torch.from_numpy(a.astype(np.float32) / 127.5 - 1.0).to(dev)
    train, heldout = to_tensor(images[~held]), to_tensor(images[held])
    _, channels, size, _ = train.shape
    nz = args.nz or (32 if size <= 28 else 128 if size <= 32 else 512 if size <= 64 else 1024)
    model = Vae(size, channels, nz, args.nf).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.999))
    window = gaussian_window(dev)
    values = channels * size * size
    per_epoch = max(len(train) // args.batch, 1)
    print(f"VAE in PyTorch {torch.__version__} on {dev}: {len(train)} training and {len(heldout)} "
          f"held-out images of {channels} x {size} x {size}, latent {nz}, {args.steps} steps of {args.batch}")

    model.train()
    started, order = time.perf_counter(), None
    for step in range(args.steps):
        if step % per_epoch == 0:
            order = torch.randperm(len(train), device=dev)
        x = train[order[(step % per_epoch) * args.batch:(step % per_epoch + 1) * args.batch]]
        mu, logvar = model.encode(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        out = model.decode(z)
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / x.shape[0]
        loss = args.beta * kl / values + (1 - ssim(out, x, window)) + colour(out, x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if (step + 1) % 200 == 0 or step + 1 == args.steps:
            print(f"step {step + 1}: loss {loss.item():.4f}, kl {kl.item():.2f}")
    if dev.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started

    model.eval()
    with torch.no_grad():
        x = heldout[spread(len(heldout), 1000)]
        se, s = 0.0, 0.0
        for i in range(0, len(x), args.batch):
            part = x[i:i + args.batch]
            recon = model.decode(model.encode(part)[0])
            se += F.mse_loss(recon, part).item() * len(part)
            s += ssim(recon, part, window).item() * len(part)
    psnr = 10 * math.log10(4 / max(se / len(x), 1e-12))
    print(f"held-out reconstruction ({len(x)} images, every 20th held back): "
          f"PSNR {psnr:.2f} dB, SSIM {s / len(x):.4f}")
    print(f"{args.steps * args.batch / seconds:.1f} images/s ({seconds:.1f} s of training)")


if __name__ == "__main__":
    main()
