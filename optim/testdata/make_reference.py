#!/usr/bin/python3
"""Writes reference.json: torch.optim.SGD and torch.optim.AdamW run for 5 steps on small fixed
tensors with fixed gradients, for optim's Go tests to match.

Run with the Python that has PyTorch 1.13:  /usr/bin/python3 optim/testdata/make_reference.py

Each case has two parameters: "w" (weight decay applies) and "b" (its own parameter group with
weight_decay 0, as catmark's NoDecay). The learning rate changes every step, as a schedule would
change it. Values are float32 numbers written as decimals that round-trip exactly.
"""
import json
import math
import os

import torch

STEPS = 5
LRS = [0.1, 0.08, 0.05, 0.03, 0.02]

CASES = [
    dict(name="sgd", optimizer="sgd", momentum=0.9, weight_decay=0.01, nesterov=False),
    dict(name="sgd_nesterov", optimizer="sgd", momentum=0.9, weight_decay=0.05, nesterov=True),
    dict(name="sgd_plain", optimizer="sgd", momentum=0.0, weight_decay=0.1, nesterov=False),
    dict(name="adamw", optimizer="adamw", betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01),
    dict(name="adamw_wide", optimizer="adamw", betas=(0.8, 0.95), eps=1e-3, weight_decay=0.3),
]


def init(name):
    if name == "w":
        return torch.tensor([0.5, -1.25, 2.0, 0.0, -0.3, 1.7], dtype=torch.float32)
    return torch.tensor([0.1, -0.2, 0.3], dtype=torch.float32)


def grad(name, step):
    """A fixed gradient for each parameter and step: mixed signs and magnitudes, one zero."""
    n = 6 if name == "w" else 3
    g = [math.sin(1.3 * i + 0.7 * step) * (1 + i % 3) * (0.5 if step % 2 else 1.0) for i in range(n)]
    if name == "w":
        g[3] = 0.0
    return torch.tensor(g, dtype=torch.float32)


def run(case):
    params = {name: init(name).clone().requires_grad_(True) for name in ("w", "b")}
    groups = [
        {"params": [params["w"]], "weight_decay": case["weight_decay"]},
        {"params": [params["b"]], "weight_decay": 0.0},
    ]
    if case["optimizer"] == "sgd":
        opt = torch.optim.SGD(groups, lr=LRS[0], momentum=case["momentum"], nesterov=case["nesterov"])
    else:
        opt = torch.optim.AdamW(groups, lr=LRS[0], betas=case["betas"], eps=case["eps"])
    out = {name: {"init": init(name).tolist(), "grads": [], "after": []} for name in params}
    for step in range(STEPS):
        for g in opt.param_groups:
            g["lr"] = LRS[step]
        for name, p in params.items():
            p.grad = grad(name, step)
            out[name]["grads"].append(p.grad.tolist())
        opt.step()
        for name, p in params.items():
            out[name]["after"].append(p.detach().tolist())
    for name, p in params.items():
        st = opt.state[p]
        out[name]["state"] = {k: v.tolist() for k, v in st.items()
                            if v is not None and k in ("momentum_buffer", "exp_avg", "exp_avg_sq")}
    c = dict(case)
    c["betas"] = list(c.get("betas", ()))
    c["lr"] = LRS
    c["params"] = out
    return c


def main():
    torch.manual_seed(0)
    doc = {"torch": torch.__version__, "steps": STEPS, "cases": [run(c) for c in CASES]}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference.json")
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
