#!/usr/bin/env python3
"""Small SentencePiece seeds for fuzz_spm_model / fuzz_spm_native.

The shipped tokenizer models carry a 237 KB precompiled charsmap whose every trie node the structural check visits
(256 probes per node), so the harnesses run ~130 inputs/s on them. These seeds keep the same vocabulary but replace
the charsmap by (a) none (the identity normaliser) and (b) a 1 KB darts-clone double array with five rules written
here from the format (sentencepiece normalizer.h / darts-clone: a unit's label in bits 0-7, has_leaf bit 8, offset
in bits 10-30 shifted by bit 9; a leaf unit = value | 1<<31; a child with label c sits at base ^ c, the leaf of a
node at its base ^ 0). Usage: small_spm_seeds.py MODEL OUT_DIR
"""
import os
import struct
import sys


def varint(b, i):
    r = s = 0
    while True:
        c = b[i]
        i += 1
        r |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return r, i


def enc_varint(v):
    out = bytearray()
    while True:
        if v < 0x80:
            out.append(v)
            return bytes(out)
        out.append((v & 0x7F) | 0x80)
        v >>= 7


def fields(b):  # (field, wire type, whole record, payload)
    i, out = 0, []
    while i < len(b):
        key, j = varint(b, i)
        wt = key & 7
        if wt == 0:
            _, k = varint(b, j)
            payload = b[j:k]
        elif wt == 2:
            n, j = varint(b, j)
            k = j + n
            payload = b[j:k]
        elif wt == 5:
            k = j + 4
            payload = b[j:k]
        elif wt == 1:
            k = j + 8
            payload = b[j:k]
        else:
            raise SystemExit("unsupported wire type %d" % wt)
        out.append((key >> 3, wt, b[i:k], payload))
        i = k
    return out


def record(field, payload):
    return enc_varint(field << 3 | 2) + enc_varint(len(payload)) + payload


def tiny_charsmap(rules):
    """A darts-clone double array of 256 units for `rules` (bytes -> bytes), then the NUL-terminated replacements."""
    pool = bytearray()
    trie = {}
    for key, rep in sorted(rules.items()):
        node = trie
        for c in key:
            node = node.setdefault(c, {})
        node[None] = len(pool)
        pool += rep + b"\0"
    units = [0] * 256
    used = {0}
    bases = set()

    def place(node, pos):
        labels = [c for c in node if c is not None]
        slots = labels + ([0] if None in node else [])
        for base in range(1, 256):
            if base in bases or any((base ^ c) in used for c in slots):
                continue
            bases.add(base)
            used.update(base ^ c for c in slots)
            return base
        raise SystemExit("tiny charsmap does not fit in 256 units")

    def build(node, pos, label):
        base = place(node, pos)
        offset = pos ^ base
        units[pos] = label | (offset << 10) | ((1 << 8) if None in node else 0)
        if None in node:
            units[base] = node[None] | (1 << 31)
        for c, child in node.items():
            if c is not None:
                build(child, base ^ c, c)

    build(trie, 0, 0)
    array = struct.pack("<256I", *units)
    return struct.pack("<I", len(array)) + array + bytes(pool)


def with_charsmap(model, blob):
    out = bytearray()
    for field, wt, whole, payload in fields(model):
        if field != 3:
            out += whole
            continue
        norm = bytearray()
        for f2, _, w2, _ in fields(payload):
            if f2 != 2:
                norm += w2
        if blob is not None:
            norm += record(2, blob)
        out += record(3, bytes(norm))
    return bytes(out)


def main():
    model = open(sys.argv[1], "rb").read()
    os.makedirs(sys.argv[2], exist_ok=True)
    rules = {
        "\uff21".encode(): b"A",  # fullwidth A, B (a shared two-byte prefix)
        "\uff22".encode(): b"B",
        "\u2460".encode(): b"1",  # circled one
        "\u3000".encode(): b" ",  # ideographic space
        b"\t": b" ",
    }
    open(os.path.join(sys.argv[2], "small_identity.model"), "wb").write(with_charsmap(model, b""))
    open(os.path.join(sys.argv[2], "small_charsmap.model"), "wb").write(with_charsmap(model, tiny_charsmap(rules)))


if __name__ == "__main__":
    main()
