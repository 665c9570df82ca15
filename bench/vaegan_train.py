#!/usr/bin/env python3
"""The peer of `pegasus train vaegan` on CIFAR-10 horses, birds and airplanes: the same
networks (bench/vaegan_step.py), objectives, balance guard, Adam (betas 0.5, 0.999) and
held-out split (every 20th image) in PyTorch, trained for --steps; every --every steps it
prints the losses, D's mean outputs on real / reconstructed / prior images, the held-out
reconstruction PSNR (evaluation mode, first 500 held-out images, from the MSE over all their
values as pegasus computes it; before 2026-12-06 this printed the mean of per-image PSNRs,
which read 1.3 dB higher on a step-6,000 grid of 32 images), the diversity ratio (mean
pairwise distance of 64 samples over that of 64 held-out images) and the guard's skips, and
writes sample and reconstruction grids as PNG into --out. Used to choose settings quickly (it
runs several times faster than pegasus on a software driver); --pixel adds a pixel MSE term
to the encoder and decoder objectives, --plain trains the plain VAE loss.

    python3 bench/vaegan_train.py --data DIR [--gamma 10] [--margin 0.35] [--steps 1500]
                                  [--threads 2] [--out runs-torch/vaegan]

DIR holds CIFAR-10's data_batch_*.bin files (../shared/data/cifar10-horse-bird-airplane).
"""
import argparse, os, sys, time, zlib, struct
import numpy as np, torch, torch.nn as nn, torch.nn.functional as F
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vaegan_step import networks
from vae_train import load, spread

def png(path, arr):  # arr HxWx3 uint8
    h, w, _ = arr.shape
    raw = b"".join(b"\x00" + arr[i].tobytes() for i in range(h))
    def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    open(path, "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))

def grid(t, cols):
    t = ((t.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
    n, h, w, c = t.shape
    rows = (n + cols - 1) // cols
    out = np.zeros((rows * h, cols * w, 3), np.uint8)
    for i in range(n):
        r, q = divmod(i, cols)
        out[r*h:(r+1)*h, q*w:(q+1)*w] = t[i]
    return out

ap = argparse.ArgumentParser()
ap.add_argument("--nf", type=int, default=16); ap.add_argument("--nz", type=int, default=128)
ap.add_argument("--batch", type=int, default=64); ap.add_argument("--steps", type=int, default=1500)
ap.add_argument("--lr", type=float, default=3e-4); ap.add_argument("--gamma", type=float, default=1.0)
ap.add_argument("--beta", type=float, default=1.0); ap.add_argument("--margin", type=float, default=0.35)
ap.add_argument("--eq", type=float, default=0.68); ap.add_argument("--dis-layer", type=int, default=3)
ap.add_argument("--pixel", type=float, default=0.0); ap.add_argument("--plain", action="store_true")
ap.add_argument("--out", default="runs-torch/vaegan"); ap.add_argument("--every", type=int, default=250)
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--data", required=True, help="folder of CIFAR-10 data_batch_*.bin files")
ap.add_argument("--threads", type=int, default=2)
a = ap.parse_args()
torch.manual_seed(a.seed); torch.set_num_threads(a.threads)
imgs, _ = load("cifar10:" + a.data, "horse,bird,airplane")
x_all = torch.tensor(imgs, dtype=torch.float32) / 127.5 - 1
held = torch.arange(19, len(x_all), 20)
mask = torch.ones(len(x_all), dtype=bool); mask[held] = False
train, test = x_all[mask], x_all[held]
enc, heads, dec, disc = networks(32, 3, a.nf, a.nz)
tap = 0 if a.dis_layer == 1 else 2 + 3 * (a.dis_layer - 2)
ep = list(enc.parameters()) + list(heads.parameters())
adam = lambda p: torch.optim.Adam(p, lr=a.lr, betas=(0.5, 0.999))
groups = [ep, list(dec.parameters()), list(disc.parameters())]
opts = [adam(g) for g in groups]
n = a.batch; bce = F.binary_cross_entropy_with_logits
ones, zeros = torch.ones(n, 1), torch.zeros(n, 1)
os.makedirs(a.out, exist_ok=True)
skipd = skipg = 0; t0 = time.time(); zfix = torch.randn(64, a.nz)
def judge(imgs):
    h = imgs
    for i, layer in enumerate(disc):
        h = layer(h)
        if i == tap: feat = h
    return feat, h
for step in range(1, a.steps + 1):
    x = train[torch.randint(len(train), (n,))]
    h = enc(x); mu, logvar = heads[0](h), heads[1](h)
    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    recon = dec(z); prior = dec(torch.randn_like(mu))
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / n
    pix = F.mse_loss(recon, x)
    if a.plain:
        loss = a.beta * kl / (3 * 32 * 32) + pix
        for o in opts[:2]: o.zero_grad()
        loss.backward(); opts[0].step(); opts[1].step()
        llike = gl = dl = pix; dr = dre = dpr = torch.tensor(0.)
    else:
        feat, out = judge(torch.cat([x, recon, prior]))
        values = feat[0].numel()
        llike = F.mse_loss(feat[n:2*n], feat[:n])
        gl = bce(out[n:2*n], ones) + bce(out[2*n:], ones)
        rc = bce(out[:n], ones); fc = 0.5 * (bce(out[n:2*n], zeros) + bce(out[2*n:], zeros))
        dl = rc + 2 * fc
        objs = [a.beta * kl / values + llike + a.pixel * pix, a.gamma * llike + gl + a.pixel * pix, dl]
        upd_g = upd_d = True
        if a.margin > 0:
            r, f = rc.item(), fc.item()
            upd_d = r >= a.eq - a.margin and f >= a.eq - a.margin
            upd_g = r <= a.eq + a.margin and f <= a.eq + a.margin
            if not (upd_d or upd_g): upd_d = upd_g = True
        # The guard decides before the backward passes, as pegasus: a skipped network's
        # gradient is not computed.
        for k, (opt, params, o) in enumerate(zip(opts, groups, objs)):
            if (k == 1 and not upd_g): skipg += 1; continue
            if (k == 2 and not upd_d): skipd += 1; continue
            for p, g in zip(params, torch.autograd.grad(o, params, retain_graph=True)): p.grad = g
            opt.step()
        s = torch.sigmoid(out.detach()); dr, dre, dpr = s[:n].mean(), s[n:2*n].mean(), s[2*n:].mean()
    if step % a.every == 0 or step == a.steps:
        for m in (enc, heads, dec, disc): m.eval()
        with torch.no_grad():
            t = test[:500]; r = dec(heads[0](enc(t)))
            psnr = 10 * torch.log10(4 / ((r - t) ** 2).mean()).item()  # pooled MSE, as pegasus
            smp = dec(zfix)
            flat = smp.flatten(1); real = test[:64].flatten(1)
            div = torch.cdist(flat, flat).sum() / (64 * 63) / (torch.cdist(real, real).sum() / (64 * 63))
        for m in (enc, heads, dec, disc): m.train()
        print(f"{step} {time.time()-t0:.0f}s kl {kl.item():.1f} llike {llike.item():.4f} pix {pix.item():.4f} g {gl.item():.3f} d {dl.item():.3f} D {dr:.2f}/{dre:.2f}/{dpr:.2f} held {psnr:.2f}dB div {div:.2f} skip d{skipd} g{skipg}", flush=True)
        png(f"{a.out}/samples_{step}.png", grid(smp, 8))
        png(f"{a.out}/recon_{step}.png", grid(torch.cat([t[:32], r[:32]]), 8))
