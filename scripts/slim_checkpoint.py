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



def fail(msg):
    # One line naming the file and the problem, as the C++ loaders do; no traceback.
    sys.exit(f"slim_checkpoint: {msg}")


if len(sys.argv) != 3:
    fail("usage: slim_checkpoint.py IN.safetensors OUT.safetensors")
src, dst = sys.argv[1], sys.argv[2]
try:
    with open(src, "rb") as f:
        raw_n = f.read(8)
        if len(raw_n) != 8:
            fail(f"{src}: truncated (no 8-byte header length)")
        (n,) = struct.unpack("<Q", raw_n)
        if n > 100_000_000:
            fail(f"{src}: header length {n} is not plausible (not a safetensors file?)")
        header = json.loads(f.read(n))
        data = f.read()
except OSError as e:
    fail(f"{src}: cannot read ({e.strerror})")
except (json.JSONDecodeError, UnicodeDecodeError) as e:
    fail(f"{src}: header is not valid JSON ({e})")
if not isinstance(header, dict):
    fail(f"{src}: header is not a JSON object")
for name, e in header.items():
    if name == "__metadata__":
        continue
    b, end = e.get("data_offsets", [0, -1])
    if not (0 <= b <= end <= len(data)):
        fail(f"{src}: tensor {name}: data_offsets [{b}, {end}] outside the {len(data)}-byte data section (truncated?)")
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
try:
    with open(dst, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for c in chunks:
            f.write(c)
except OSError as e:
    fail(f"{dst}: cannot write ({e.strerror})")
