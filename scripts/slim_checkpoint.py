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
        raw_header = f.read(n)
        if len(raw_header) != n:
            fail(f"{src}: truncated (header of {n} bytes, file ends after {len(raw_header)})")
        header = json.loads(raw_header)
        data = f.read()
except OSError as e:
    fail(f"{src}: cannot read ({e.strerror})")
except (json.JSONDecodeError, UnicodeDecodeError) as e:
    fail(f"{src}: header is not valid JSON ({e})")
if not isinstance(header, dict):
    fail(f"{src}: header is not a JSON object")


def checked_offsets(name, e):
    """The tensor's [begin, end) in the data section, or a one-line error naming the tensor."""
    if not isinstance(e, dict) or not isinstance(e.get("dtype"), str) or not isinstance(e.get("shape"), list):
        fail(f"{src}: tensor {name}: entry lacks dtype/shape/data_offsets")
    offs = e.get("data_offsets")
    if not (isinstance(offs, list) and len(offs) == 2 and all(type(x) is int for x in offs)):
        fail(f"{src}: tensor {name}: data_offsets {offs!r} is not two integers")
    b, end = offs
    if not 0 <= b <= end <= len(data):
        fail(f"{src}: tensor {name}: data_offsets [{b}, {end}] outside the {len(data)}-byte data section (truncated?)")
    return b, end


# Check every entry before writing anything, so a bad input never leaves a half-written output.
offsets = {name: checked_offsets(name, e) for name, e in header.items() if name != "__metadata__"}
out_header, chunks, offset = {}, [], 0
for name, e in header.items():
    if name == "__metadata__":
        out_header[name] = e
        continue
    b, end = offsets[name]
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
