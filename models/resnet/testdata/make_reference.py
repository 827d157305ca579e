#!/usr/bin/python3
"""Writes reference.json: forward and backward passes of ResNet pieces computed by PyTorch.

Run with the Debian PyTorch (1.13): /usr/bin/python3 make_reference.py (from this folder).

torchvision is not installed here, so the stem and a torchvision Bottleneck (v1.5: stride on the
3x3 convolution) are written out with torch.nn, with torchvision's parameter names. Each case
holds the parameters and buffers by state_dict name, an input x, a random r defining the loss
L = sum(r * y), the output y, the running statistics after the forward pass, and the gradients
of L with respect to x and to every parameter. Sizes are small so the file stays small.
"""

import json

import torch
import torch.nn as nn

torch.manual_seed(20240601)
torch.set_num_threads(1)


class Stem(nn.Module):
    """conv1 7x7/2 pad 3, bn1, ReLU, max pool 3x3/2 pad 1 (torchvision names)."""

    def __init__(self, width):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)

    def forward(self, x):
        return self.maxpool(self.relu(self.bn1(self.conv1(x))))


class Bottleneck(nn.Module):
    """torchvision.models.resnet.Bottleneck (groups 1, base width 64, dilation 1)."""

    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


def randomise(m):
    """Non-trivial weights, BN affine parameters and running statistics."""
    with torch.no_grad():
        for name, t in m.state_dict().items():
            if name.endswith("num_batches_tracked"):
                continue
            if name.endswith("running_var"):
                t.uniform_(0.5, 2.0)
            elif name.endswith("running_mean"):
                t.normal_(0, 0.2)
            elif name.endswith("bias"):
                t.normal_(0, 0.2)
            elif t.dim() == 1:  # BN weight
                t.uniform_(0.5, 1.5)
            else:
                fan_in = t[0].numel()
                t.normal_(0, (2.0 / fan_in) ** 0.5)


def tensor(t):
    t = t.detach().contiguous().float()
    return {"shape": list(t.shape), "data": [float("%.9g" % v) for v in t.flatten().tolist()]}


def case(m, x, train):
    m.train(train)
    state = {k: tensor(v) for k, v in m.state_dict().items() if not k.endswith("num_batches_tracked")}
    x = x.clone().requires_grad_(True)
    y = m(x)
    r = torch.randn_like(y)
    (y * r).sum().backward()
    return {
        "train": train,
        "state": state,
        "x": tensor(x),
        "r": tensor(r),
        "y": tensor(y),
        "state_after": {k: tensor(v) for k, v in m.state_dict().items() if "running" in k},
        "grad_x": tensor(x.grad),
        "grads": {k: tensor(p.grad) for k, p in m.named_parameters()},
    }


def main():
    cases = {}
    stem = Stem(8)
    randomise(stem)
    cases["stem_train"] = case(stem, torch.randn(2, 3, 16, 16), True)

    for train in (True, False):
        down = nn.Sequential(nn.Conv2d(16, 32, 1, stride=2, bias=False), nn.BatchNorm2d(32))
        block = Bottleneck(16, 8, stride=2, downsample=down)
        randomise(block)
        cases["bottleneck_" + ("train" if train else "eval")] = case(block, torch.randn(2, 16, 8, 8), train)

    with open("reference.json", "w") as f:
        json.dump({"torch": torch.__version__, "cases": cases}, f, separators=(",", ":"))


if __name__ == "__main__":
    main()
