#!/usr/bin/python3
"""Writes tiny safetensors files the way PyTorch tools write them, for weights' Go tests.

Run with the Python that has PyTorch 1.13:  /usr/bin/python3 weights/testdata/make_torch_files.py

The Python `safetensors` package is not installed beside torch 1.13 here, so this script writes the
format by hand from its definition (8-byte little-endian header length, a JSON header padded with
spaces to a multiple of 8, then the raw little-endian tensor bytes), exactly as
safetensors.torch.save_file lays it out: tensors sorted by dtype size (largest first), then by
name, and "__metadata__": {"format": "pt"}.

Outputs, all holding a torchvision-style state dict of a tiny ResNet stem and head
(conv1.weight, bn1.{weight,bias,running_mean,running_var,num_batches_tracked}, fc.{weight,bias}):
  tiny_f32.safetensors   float32 tensors
  tiny_f16.safetensors   float16 tensors
  tiny_bf16.safetensors  bfloat16 tensors
  (num_batches_tracked is int64 in all three, as in PyTorch)
  tiny_expected.json     each file's tensors as PyTorch reads them back, converted to float32
"""
import json
import os
import struct

import torch

HERE = os.path.dirname(os.path.abspath(__file__))

DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64"}


def state_dict():
    g = torch.Generator().manual_seed(7)
    conv = torch.randn(2, 3, 3, 3, generator=g)
    # Values that exercise half-precision conversion: a subnormal, the largest half, minus zero,
    # a value that must round, and one too small for either 16-bit format's normal range.
    conv.view(-1)[:5] = torch.tensor([1e-6, 65504.0, -0.0, 1.0 / 3.0, -2.5e-8])
    return {
        "conv1.weight": conv,
        "bn1.weight": torch.tensor([1.0, 0.5]),
        "bn1.bias": torch.tensor([-0.25, 0.125]),
        "bn1.running_mean": torch.tensor([0.1, -0.2]),
        "bn1.running_var": torch.tensor([1.5, 0.75]),
        "bn1.num_batches_tracked": torch.tensor(12345, dtype=torch.int64),
        "fc.weight": torch.randn(4, 2, generator=g),
        "fc.bias": torch.randn(4, generator=g),
    }


def raw_bytes(t):
    t = t.contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


def save(tensors, path, metadata):
    order = sorted(tensors, key=lambda k: (-tensors[k].element_size(), k))
    header, blobs, offset = {}, [], 0
    for name in order:
        t = tensors[name]
        b = raw_bytes(t)
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def main():
    assert struct.pack("<f", 1.0) == torch.tensor([1.0]).numpy().tobytes(), "this host is not little-endian"
    sd = state_dict()
    expected = {}
    for suffix, dtype in (("f32", torch.float32), ("f16", torch.float16), ("bf16", torch.bfloat16)):
        conv = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in sd.items()}
        name = "tiny_%s.safetensors" % suffix
        save(conv, os.path.join(HERE, name), {"format": "pt"})
        expected[name] = {
            k: {"shape": list(v.shape), "values": v.float().flatten().tolist()}
            for k, v in conv.items() if v.is_floating_point()
        }
    with open(os.path.join(HERE, "tiny_expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
