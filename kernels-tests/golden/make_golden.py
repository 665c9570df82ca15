#!/usr/bin/env python3
"""Golden values from PyTorch for the ops whose conventions leave room (padding and output
sizes of convolutions, BatchNorm's two variances and momentum, Adam's bias correction).

    python3 kernels-tests/golden/make_golden.py     # needs torch (CPU is enough)

Writes kernels-tests/golden/*.json: inputs, PyTorch's outputs and gradients, in float32
values printed to 9 significant digits. kernels-tests reads them; it does not need Python.
Computed in float64 so the fixtures carry PyTorch's conventions, not its float32 rounding.
"""
import json
import os

import torch

torch.manual_seed(2026)
HERE = os.path.dirname(os.path.abspath(__file__))


def values(t):
    return [float(f"{v:.9g}") for v in t.detach().reshape(-1).tolist()]


def save(name, record):
    with open(os.path.join(HERE, name + ".json"), "w") as f:
        json.dump(record, f, separators=(",", ":"))


def rand(*shape):
    return (torch.rand(*shape, dtype=torch.float64) * 2 - 1).requires_grad_(True)


def conv_case(transposed, batch, cin, cout, hw, k, stride, padding, dilation, output_padding=0):
    x = rand(batch, cin, *hw)
    w = rand(*((cin, cout, k, k) if transposed else (cout, cin, k, k)))
    b = rand(cout)
    if transposed:
        y = torch.nn.functional.conv_transpose2d(x, w, b, stride, padding, output_padding, 1, dilation)
    else:
        y = torch.nn.functional.conv2d(x, w, b, stride, padding, dilation)
    dy = torch.rand_like(y) * 2 - 1
    y.backward(dy)
    return {
        "stride": stride, "padding": padding, "dilation": dilation, "output_padding": output_padding,
        "x_shape": list(x.shape), "x": values(x), "w_shape": list(w.shape), "w": values(w), "b": values(b),
        "y_shape": list(y.shape), "y": values(y), "dy": values(dy),
        "dx": values(x.grad), "dw": values(w.grad), "db": values(b.grad),
    }


save("conv", {"cases": [
    conv_case(False, 2, 3, 4, (9, 7), 4, 2, 0, 1),    # seed 002's encoder on odd sizes
    conv_case(False, 1, 2, 3, (8, 11), 3, 3, 1, 2),   # stride 3 with dilation
]})
save("conv_transpose", {"cases": [
    conv_case(True, 2, 4, 3, (4, 4), 4, 2, 1, 1),     # DCGAN's doubling layer
    conv_case(True, 1, 3, 2, (5, 4), 5, 3, 1, 1),     # seed 000's last layer
    conv_case(True, 1, 2, 2, (3, 5), 3, 2, 1, 1, 1),  # output_padding
]})

# BatchNorm2d: two training steps (running estimates move twice), then eval.
bn = torch.nn.BatchNorm2d(5, momentum=0.1, eps=1e-5).double()
with torch.no_grad():
    bn.weight.copy_(torch.rand(5, dtype=torch.float64) + 0.5)
    bn.bias.copy_(torch.rand(5, dtype=torch.float64) - 0.5)
gamma0, beta0 = values(bn.weight), values(bn.bias)
steps = []
for _ in range(2):
    x = (torch.rand(3, 5, 4, 3, dtype=torch.float64) * 4 - 1).requires_grad_(True)
    bn.train()
    y = bn(x)
    dy = torch.rand_like(y) * 2 - 1
    bn.weight.grad = None
    bn.bias.grad = None
    y.backward(dy)
    steps.append({"x": values(x), "y": values(y), "dy": values(dy), "dx": values(x.grad),
                  "dgamma": values(bn.weight.grad), "dbeta": values(bn.bias.grad),
                  "running_mean": values(bn.running_mean), "running_var": values(bn.running_var)})
bn.eval()
x_eval = torch.rand(2, 5, 4, 3, dtype=torch.float64) * 4 - 1
save("batch_norm", {"shape": [3, 5, 4, 3], "gamma": gamma0, "beta": beta0, "steps": steps,
                    "eval_shape": [2, 5, 4, 3], "eval_x": values(x_eval), "eval_y": values(bn(x_eval))})

# Adam and AdamW: five steps with given gradients; parameters after each step.
def optimiser_run(make):
    p = torch.nn.Parameter(torch.rand(2, 7, dtype=torch.float64) * 2 - 1)
    start = values(p)
    opt = make([p])
    grads, after = [], []
    for _ in range(5):
        g = torch.rand(2, 7, dtype=torch.float64) * 2 - 1
        p.grad = g.clone()
        opt.step()
        grads.append(values(g))
        after.append(values(p))
    return {"start": start, "grads": grads, "after": after}


save("optim", {
    "adam": optimiser_run(lambda ps: torch.optim.Adam(ps, lr=0.01, betas=(0.5, 0.999), eps=1e-8, weight_decay=0.1)),
    "adamw": optimiser_run(lambda ps: torch.optim.AdamW(ps, lr=0.01, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.1)),
    "sgd": optimiser_run(lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01, nesterov=False)),
    "sgd_nesterov": optimiser_run(lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=0.0, nesterov=True)),
})
