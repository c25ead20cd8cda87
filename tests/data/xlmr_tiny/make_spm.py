#!/usr/bin/env python3
"""Writes sentencepiece.bpe.model: a tiny UNIGRAM SentencePiece model laid out like XLM-R's (<unk> 0, <s> 1, </s> 2, then
19 pieces), so that with fairseq's offset (+1, <pad> 1, <unk> 3) its ids 0..23 fit the 24-token text tower of the shared
wan_checkpoint_layout CLIP. Identity normaliser (no charsmap), dummy prefix, whitespace escaped as U+2581.
The protobuf is written from sentencepiece_model.proto's field numbers (ModelProto.pieces 1 {piece 1, score 2, type 3},
trainer_spec 2 {model_type 3, vocab_size 4}, normalizer_spec 3 {name 1, add_dummy_prefix 3, remove_extra_whitespaces 4,
escape_whitespaces 5}); types NORMAL 1, UNKNOWN 2, CONTROL 3. Usage: make_spm.py [OUT]"""
import os
import struct
import sys

W = "\u2581"
PIECES = [W + w for w in ["A", "a", "cat", "walks", "on", "the", "grass", "red", "ball", "rolls", "left", "blue", "box",
                          "green", "dog"]] + [W, "s", "e", ","]


def varint(v):
    out = bytearray()
    while True:
        if v < 0x80:
            out.append(v)
            return bytes(out)
        out.append((v & 0x7F) | 0x80)
        v >>= 7


def field(num, wt, payload):
    key = varint((num << 3) | wt)
    if wt == 2:
        return key + varint(len(payload)) + payload
    return key + payload


def piece(p, score, typ):
    return field(1, 2, field(1, 2, p.encode()) + field(2, 5, struct.pack("<f", score)) + field(3, 0, varint(typ)))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "sentencepiece.bpe.model")
    b = piece("<unk>", 0.0, 2) + piece("<s>", 0.0, 3) + piece("</s>", 0.0, 3)
    for i, p in enumerate(PIECES):  # whole words score above the single characters, so words win the Viterbi path
        b += piece(p, -1.0 - 0.01 * i if len(p) > 2 else -8.0, 1)
    b += field(2, 2, field(3, 0, varint(1)) + field(4, 0, varint(3 + len(PIECES))))
    b += field(3, 2, field(1, 2, b"identity") + field(3, 0, varint(1)) + field(4, 0, varint(1)) + field(5, 0, varint(1)))
    with open(out, "wb") as f:
        f.write(b)


if __name__ == "__main__":
    main()
