#!/usr/bin/env python3
"""Shrinks a training checkpoint for transport to a device machine (64 MiB per call): the parameters stay float32,
the optimizer moments and EMA (adam.*, ema.*) become bfloat16 (the top 16 bits of each float32). The trainer's
resume copies every tensor with Tensor::copy_, which converts back to float32, so the slim file resumes as is.
bf16 keeps float32's exponent range (v of Adam cannot underflow as it would in float16); the EMA's rounding
(<0.4% relative) decays by 0.999 per step.
usage: slim_checkpoint.py IN.safetensors OUT.safetensors"""
import json
import struct
import sys

src, dst = sys.argv[1], sys.argv[2]
with open(src, "rb") as f:
    (n,) = struct.unpack("<Q", f.read(8))
    header = json.loads(f.read(n))
    data = f.read()
out_header, chunks, offset = {}, [], 0
for name, e in header.items():
    if name == "__metadata__":
        out_header[name] = e
        continue
    b, end = e["data_offsets"]
    raw = data[b:end]
    dtype = e["dtype"]
    if dtype == "F32" and (name.startswith("adam.") or name.startswith("ema.")):
        half = bytearray(len(raw) // 2)
        half[0::2] = raw[2::4]
        half[1::2] = raw[3::4]
        raw, dtype = bytes(half), "BF16"
    out_header[name] = {"dtype": dtype, "shape": e["shape"], "data_offsets": [offset, offset + len(raw)]}
    chunks.append(raw)
    offset += len(raw)
h = json.dumps(out_header, separators=(",", ":")).encode()
h += b" " * ((8 - len(h) % 8) % 8)
with open(dst, "wb") as f:
    f.write(struct.pack("<Q", len(h)))
    f.write(h)
    for c in chunks:
        f.write(c)
