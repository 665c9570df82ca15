#!/usr/bin/env python3
"""The peer of `pegasus train glo`: the same GLO training step in PyTorch, timed.

Same generator as pegasus's for the image size (DCGAN-style transposed convolutions without
bias, BatchNorm + ReLU inside, tanh out, DCGAN initialisation), one latent per image kept on
the unit sphere, Laplacian-pyramid L1 loss (1 4 6 4 1 kernel, reflected borders, per-level
means), Adam (0.5, 0.999) for the generator and SparseAdam for the latent rows of the batch.
The images are random: only the speed is compared. fp32, TF32 off.

    python3 bench/glo_train.py [--size 28] [--ngf 16] [--nz 32] [--batch 64] [--images 10000]
                               [--steps 200] [--threads 2] [--device cpu|cuda]

Compare its images/s with `pegasus train glo` with the same settings on the same machine.
"""
import argparse
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

LAYERS = {
    # (out channels as a multiple of ngf, or 0 for the image channels, kernel, stride, padding)
    28: [(4, 7, 1, 0), (2, 4, 2, 1), (0, 4, 2, 1)],
    32: [(4, 4, 1, 0), (2, 4, 2, 1), (1, 4, 2, 1), (0, 4, 2, 1)],
    64: [(8, 4, 1, 0), (4, 4, 2, 1), (2, 4, 2, 1), (1, 4, 2, 1), (0, 4, 2, 1)],
    96: [(16, 2, 1, 0), (8, 4, 2, 1), (4, 4, 2, 1), (2, 4, 2, 1), (1, 4, 2, 1), (0, 5, 3, 1)],
}


def generator(size, nz, ngf, channels):
    layers, cin = [], nz
    for mult, k, s, p in LAYERS[size]:
        cout = mult * ngf if mult else channels
        conv = nn.ConvTranspose2d(cin, cout, k, s, p, bias=False)
        nn.init.normal_(conv.weight, 0.0, 0.02)
        layers.append(conv)
        if mult:
            bn = nn.BatchNorm2d(cout)
            nn.init.normal_(bn.weight, 1.0, 0.02)
            layers += [bn, nn.ReLU(True)]
        cin = cout
    return nn.Sequential(*layers, nn.Tanh())


def blur(x, kernel):
    c = x.shape[1]
    k = kernel.view(1, 1, 5, 1).repeat(c, 1, 1, 1)
    x = F.conv2d(F.pad(x, (0, 0, 2, 2), mode="reflect"), k, groups=c)
    return F.conv2d(F.pad(x, (2, 2, 0, 0), mode="reflect"), k.transpose(2, 3), groups=c)


def laplacian_l1(pred, target, levels, kernel):
    diff = pred - target
    total = 0.0
    for _ in range(levels - 1):
        smooth = blur(diff, kernel)
        down = smooth[:, :, ::2, ::2]
        up = torch.zeros_like(diff)
        up[:, :, ::2, ::2] = down
        total = total + (diff - 4 * blur(up, kernel)).abs().mean()
        diff = down
    return total + diff.abs().mean()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=28, choices=sorted(LAYERS))
    ap.add_argument("--channels", type=int, default=1)
    ap.add_argument("--ngf", type=int, default=16)
    ap.add_argument("--nz", type=int, default=32)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--images", type=int, default=10000)
    ap.add_argument("--levels", type=int, default=4)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0: PyTorch's choice)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    torch.manual_seed(0)
    net = generator(args.size, args.nz, args.ngf, args.channels).to(dev)
    images = torch.rand(args.images, args.channels, args.size, args.size, device=dev) * 2 - 1
    latents = nn.Embedding(args.images, args.nz, sparse=True).to(dev)
    with torch.no_grad():
        latents.weight.copy_(F.normalize(latents.weight, dim=1))
    opt_g = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.5, 0.999))
    opt_z = torch.optim.SparseAdam(latents.parameters(), lr=3e-2, betas=(0.5, 0.999))
    kernel = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], device=dev) / 16

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    def step(i):
        start = (i * args.batch) % (args.images - args.batch + 1)
        idx = torch.arange(start, start + args.batch, device=dev)
        opt_g.zero_grad(set_to_none=True)
        opt_z.zero_grad(set_to_none=True)
        z = latents(idx)
        out = net(z.view(args.batch, args.nz, 1, 1))
        loss = laplacian_l1(out, images[idx], args.levels, kernel)
        loss.backward()
        opt_g.step()
        opt_z.step()
        with torch.no_grad():
            latents.weight[idx] = F.normalize(latents.weight[idx], dim=1)
        return loss

    for i in range(10):
        step(i)
    sync()
    t = time.perf_counter()
    for i in range(args.steps):
        loss = step(i)
    loss.item()
    sync()
    seconds = time.perf_counter() - t
    print(
        f"PyTorch {torch.__version__} GLO {args.size}x{args.size}, ngf {args.ngf}, nz {args.nz}, "
        f"batch {args.batch} on {dev} ({torch.get_num_threads()} threads): "
        f"{args.steps} steps in {seconds:.2f} s, {args.steps * args.batch / seconds:.1f} images/s"
    )


if __name__ == "__main__":
    main()
