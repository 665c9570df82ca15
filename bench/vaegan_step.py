#!/usr/bin/env python3
"""The peer of a `pegasus train vaegan` step: the same three networks and objectives in
PyTorch, timed. Random images: only the speed is compared.

Networks as src/models/vaegan.rs (Larsen et al.'s table with width unit nf; 5x5 stride-2
convolutions, padding 2, down to 4 x 4): encoder convs nf, 2 nf, 4 nf (capped) + BatchNorm +
ReLU, fc 16 nf + BatchNorm + ReLU, fc to mu and logvar; decoder fc to the 4 x 4 map + BatchNorm
+ ReLU, transposed convs back up (BatchNorm, ReLU), a 5x5 conv to the image, tanh;
discriminator conv nf/2 + ReLU, convs 2 nf, 4 nf, ... + BatchNorm + ReLU, fc 8 nf + BatchNorm +
ReLU, fc 1. One step: encode, reparameterise, decode the batch and a batch of prior samples,
judge real, reconstructed and prior images in one discriminator batch; the encoder's gradient
of KL + L_llike, the decoder's of gamma L_llike + GAN, each with --pixel times the pixel MSE,
the discriminator's of its BCE (three torch.autograd.grad calls on one forward, as pegasus's
backward_each); three Adam steps. fp32, TF32 off.

    python3 bench/vaegan_step.py [--size 32] [--channels 3] [--nf 16] [--nz 128] [--batch 64]
                                 [--gamma 1] [--pixel 0] [--steps 20] [--threads 2]
                                 [--device cpu|cuda]

Compare its images/s with `pegasus bench train-step --model vaegan` (the README's CIFAR-10
recipe: run this with --gamma 10 --pixel 1) on the same machine, or with the
images_per_second column of a `pegasus train vaegan` run with the same settings.
"""
import argparse
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def sides(size):
    out = [size]
    while out[-1] > 4:
        out.append((out[-1] + 1) // 2)
    return out


def block(cin, cout):
    return [nn.Conv2d(cin, cout, 5, 2, 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]


def networks(size, channels, nf, nz):
    s = sides(size)
    stages = len(s) - 1
    enc_w = [min(nf << i, 4 * nf) for i in range(stages)]
    layers, cin = [], channels
    for w in enc_w:
        layers += block(cin, w)
        cin = w
    last = s[-1] * s[-1]
    encoder = nn.Sequential(*layers, nn.Flatten(), nn.Linear(cin * last, 16 * nf, bias=False),
                            nn.BatchNorm1d(16 * nf), nn.ReLU())
    heads = nn.ModuleList([nn.Linear(16 * nf, nz), nn.Linear(16 * nf, nz)])
    top = enc_w[-1]
    layers = [nn.Linear(nz, top * last, bias=False), nn.BatchNorm1d(top * last), nn.ReLU(),
              nn.Unflatten(1, (top, s[-1], s[-1]))]
    half = max(nf // 2, 1)
    for k in reversed(range(stages)):
        cout = half if k == 0 else enc_w[k - 1]
        pad = s[k] - (2 * s[k + 1] - 1)
        layers += [nn.ConvTranspose2d(enc_w[k], cout, 5, 2, 2, output_padding=pad, bias=False),
                   nn.BatchNorm2d(cout), nn.ReLU()]
    decoder = nn.Sequential(*layers, nn.Conv2d(half, channels, 5, 1, 2), nn.Tanh())
    layers, cin = [nn.Conv2d(channels, half, 5, 1, 2), nn.ReLU()], half
    for i in range(stages):
        w = 2 * nf if i == 0 else 4 * nf
        layers += block(cin, w)
        cin = w
    discriminator = nn.Sequential(*layers, nn.Flatten(), nn.Linear(cin * last, 8 * nf, bias=False),
                                  nn.BatchNorm1d(8 * nf), nn.ReLU(), nn.Linear(8 * nf, 1))
    return encoder, heads, decoder, discriminator


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--channels", type=int, default=3)
    ap.add_argument("--nf", type=int, default=16)
    ap.add_argument("--nz", type=int, default=128)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--dis-layer", type=int, default=3)
    ap.add_argument("--gamma", type=float, default=1.0)
    ap.add_argument("--pixel", type=float, default=0.0, help="weight of a pixel MSE term, as train vaegan --pixel")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0: PyTorch's choice)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    encoder, heads, decoder, disc = (m.to(dev) for m in networks(args.size, args.channels, args.nf, args.nz))
    tap = 0 if args.dis_layer == 1 else 2 + 3 * (args.dis_layer - 2)
    enc_params = list(encoder.parameters()) + list(heads.parameters())
    adam = lambda p: torch.optim.Adam(p, lr=3e-4, betas=(0.5, 0.999))
    opts = [adam(enc_params), adam(decoder.parameters()), adam(disc.parameters())]
    groups = [enc_params, list(decoder.parameters()), list(disc.parameters())]
    x = torch.rand(args.batch, args.channels, args.size, args.size, device=dev) * 2 - 1
    n = args.batch
    values = None

    def step():
        nonlocal values
        h = encoder(x)
        mu, logvar = heads[0](h), heads[1](h)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        recon = decoder(z)
        prior = decoder(torch.randn_like(mu))
        h = torch.cat([x, recon, prior])
        for i, layer in enumerate(disc):
            h = layer(h)
            if i == tap:
                feat = h
        out = h
        if values is None:
            values = feat[0].numel()
        llike = F.mse_loss(feat[n:2 * n], feat[:n])
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / n
        bce = F.binary_cross_entropy_with_logits
        ones, zeros = torch.ones(n, 1, device=dev), torch.zeros(n, 1, device=dev)
        g_loss = bce(out[n:2 * n], ones) + bce(out[2 * n:], ones)
        d_loss = bce(out[:n], ones) + bce(out[n:2 * n], zeros) + bce(out[2 * n:], zeros)
        pixel = args.pixel * F.mse_loss(recon, x)
        objectives = [kl / values + llike + pixel, args.gamma * llike + g_loss + pixel, d_loss]
        grads = [torch.autograd.grad(o, g, retain_graph=True) for o, g in zip(objectives, groups)]
        for opt, params, gs in zip(opts, groups, grads):
            for p, g in zip(params, gs):
                p.grad = g
            opt.step()

    for _ in range(3):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    times.sort()
    median = times[len(times) // 2]
    print(f"VAE-GAN step in PyTorch {torch.__version__} on {dev}: {args.channels} x {args.size} x {args.size}, "
          f"nf {args.nf}, nz {args.nz}, batch {n}: median {median * 1000:.1f} ms over {args.steps} steps "
          f"({n / median:.1f} images/s)")


if __name__ == "__main__":
    main()
