#!/usr/bin/env python3
"""The peer of `pegasus bench train-step`: one DCGAN generator training step in PyTorch
(forward, L1 loss against a fixed target, backward, Adam lr 2e-4 betas (0.5, 0.999)), fp32
with TF32 off, median of timed steps after warm-up.

    python3 bench/dcgan_step.py --batch 16 --ngf 32 [--device cuda|cpu] [--steps 10]
"""
import argparse
import statistics
import time

import torch
import torch.nn as nn


def generator(nz, ngf, nc=3):
    def block(cin, cout, stride, pad):
        return [nn.ConvTranspose2d(cin, cout, 4, stride, pad, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)]

    layers = block(nz, ngf * 8, 1, 0) + block(ngf * 8, ngf * 4, 2, 1) + block(ngf * 4, ngf * 2, 2, 1)
    layers += block(ngf * 2, ngf, 2, 1) + [nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh()]
    return nn.Sequential(*layers)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--ngf", type=int, default=64)
    ap.add_argument("--nz", type=int, default=100)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = torch.device(args.device)
    torch.manual_seed(0)
    net = generator(args.nz, args.ngf).to(dev)
    z = torch.randn(args.batch, args.nz, 1, 1, device=dev)
    target = torch.rand(args.batch, 3, 64, 64, device=dev) * 2 - 1
    opt = torch.optim.Adam(net.parameters(), lr=2e-4, betas=(0.5, 0.999))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = (net(z) - target).abs().mean()
        loss.backward()
        opt.step()

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    for _ in range(3):
        step()
    sync()
    times = []
    for _ in range(args.steps):
        t = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t)
    median = statistics.median(times)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"PyTorch {torch.__version__} on {name}: dcgan64 train step, batch {args.batch}, ngf {args.ngf}, "
          f"nz {args.nz}: median {median * 1e3:.1f} ms ({args.batch / median:.1f} images/s)")


if __name__ == "__main__":
    main()
