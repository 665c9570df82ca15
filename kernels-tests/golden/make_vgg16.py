"""Fixtures for the VGG16 loader (kernels-tests/tests/vgg16.rs), made with torchvision itself.

Writes vgg16_layout.json, the names and shapes of torchvision's vgg16 state_dict, and
vgg16_features.json, the features torchvision's network gives for two fixed images when every
weight is set by a formula the Rust test repeats (so no 500 MB file is kept in the repo):
    weight t (t-th tensor of `features`), element i: sqrt(4 / fan_in) * sin(1.3 i + 0.7 t)
    bias t, element i: 0.1 * cos(0.9 i + t)
    image value i (flat [2, 3, 32, 32], in [-1, 1] as pegasus holds images): sin(0.37 i)
The features are what pegasus computes: the image scaled to [0, 1], normalised with ImageNet's
means and deviations, through `features`, then the mean over positions of the last map.

    python3 kernels-tests/golden/make_vgg16.py            # the two fixtures
    python3 kernels-tests/golden/make_vgg16.py --save F   # also a randomly initialised vgg16
                                                          # saved as safetensors, to try
                                                          # `pegasus eval --features vgg16:F`
"""

import argparse
import json
import math
import os

import torch
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]


def formula_weights(model):
    tensors = [(k, v) for k, v in model.state_dict().items() if k.startswith("features.")]
    with torch.no_grad():
        for t, (name, value) in enumerate(tensors):
            i = torch.arange(value.numel(), dtype=torch.float64)
            if name.endswith(".weight"):
                fan_in = value.shape[1] * value.shape[2] * value.shape[3]
                v = math.sqrt(4.0 / fan_in) * torch.sin(1.3 * i + 0.7 * t)
            else:
                v = 0.1 * torch.cos(0.9 * i + t)
            value.copy_(v.reshape(value.shape).to(value.dtype))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--save", help="also save a randomly initialised vgg16 here")
    args = parser.parse_args()

    model = torchvision.models.vgg16(weights=None).eval()
    if args.save:
        from safetensors.torch import save_file

        save_file(model.state_dict(), args.save)
    layout = [[k, list(v.shape)] for k, v in model.state_dict().items()]
    with open(os.path.join(HERE, "vgg16_layout.json"), "w") as f:
        json.dump({"torchvision": torchvision.__version__, "tensors": layout}, f, indent=0)

    model = model.double()
    formula_weights(model)
    x = torch.sin(0.37 * torch.arange(2 * 3 * 32 * 32, dtype=torch.float64)).reshape(2, 3, 32, 32)
    mean = torch.tensor(MEAN, dtype=torch.float64).reshape(1, 3, 1, 1)
    std = torch.tensor(STD, dtype=torch.float64).reshape(1, 3, 1, 1)
    with torch.no_grad():
        features = model.features(((x + 1) / 2 - mean) / std).mean(dim=(2, 3))
    with open(os.path.join(HERE, "vgg16_features.json"), "w") as f:
        json.dump({"shape": list(features.shape), "features": features.flatten().tolist()}, f)


if __name__ == "__main__":
    main()
