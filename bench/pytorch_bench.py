#!/usr/bin/python3
"""pytorch_bench.py measures PyTorch on the configurations `catmark bench` measures.

Run it with /usr/bin/python3 (Debian's python3-torch). It defines ResNet-18/34/50 in torchvision's
layout (torchvision may be absent), a landmark head (global average pool, Linear(18), sigmoid), and
times one of:

  train  forward + MSE loss against a random target + backward + SGD (momentum 0.9) step
  infer  forward under torch.no_grad() with the model in eval mode

It prints one JSON object with the same keys as `catmark bench --json`: images_per_s (batch divided
by the median step time after warm-up), peak_rss_mib (getrusage ru_maxrss), model, batch, size,
mode, backend, threads, steps, step_ms (all step times).

--freeze conv1,bn1,layer1,layer2 freezes those modules as the seed did: no gradients for their
parameters and their batch norms in eval mode (running statistics), as catmark's frozen layers.

--profile prints torch.autograd.profiler's table (self CPU time per op) to stderr.
"""
import argparse
import json
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class ResNet(nn.Module):
    """ResNet in torchvision's layout (state_dict names match) with a landmark head."""

    def __init__(self, block, layers, outputs=18, width=64):
        super().__init__()
        self.inplanes = width
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(block, width, layers[0])
        self.layer2 = self._make_layer(block, width * 2, layers[1], 2)
        self.layer3 = self._make_layer(block, width * 4, layers[2], 2)
        self.layer4 = self._make_layer(block, width * 8, layers[3], 2)
        self.fc = nn.Linear(width * 8 * block.expansion, outputs)

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes))
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return torch.sigmoid(self.fc(x))


MODELS = {
    "resnet18": (BasicBlock, [2, 2, 2, 2]),
    "resnet34": (BasicBlock, [3, 4, 6, 3]),
    "resnet50": (Bottleneck, [3, 4, 6, 3]),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="resnet50", choices=sorted(MODELS))
    ap.add_argument("--width", type=int, default=64, help="base width (64: torchvision's; the recipe's 32)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--mode", default="train", choices=["train", "infer"])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--freeze", default="", help="comma-separated top-level modules to freeze")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--json", action="store_true", help="accepted for symmetry; output is always JSON")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    block, layers = MODELS[a.model]
    model = ResNet(block, layers, width=a.width)
    frozen = [f for f in a.freeze.split(",") if f]
    for name in frozen:
        for p in getattr(model, name).parameters():
            p.requires_grad_(False)

    def set_modes():
        model.train(a.mode == "train")
        for name in frozen:
            getattr(model, name).eval()

    x = torch.rand(a.batch, 3, a.size, a.size)
    target = torch.rand(a.batch, 18)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-3, momentum=0.9)
    set_modes()

    def step():
        if a.mode == "train":
            opt.zero_grad(set_to_none=True)
            loss = F.mse_loss(model(x), target)
            loss.backward()
            opt.step()
        else:
            with torch.no_grad():
                model(x)

    for _ in range(a.warmup):
        step()
    times = []
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    if a.profile:
        with torch.autograd.profiler.profile() as prof:
            for _ in range(a.steps):
                t0 = time.perf_counter()
                step()
                times.append(time.perf_counter() - t0)
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=30), file=sys.stderr)
    else:
        for _ in range(a.steps):
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    med = statistics.median(times)
    out = {
        "images_per_s": a.batch / med,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "model": a.model,
        "width": a.width,
        "batch": a.batch,
        "size": a.size,
        "mode": a.mode,
        "freeze": a.freeze,
        "backend": "pytorch-%s" % torch.__version__,
        "threads": torch.get_num_threads(),
        "steps": a.steps,
        "step_ms": [round(t * 1000, 2) for t in times],
        "cpu_ms_per_step": cpu * 1000 / a.steps,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
