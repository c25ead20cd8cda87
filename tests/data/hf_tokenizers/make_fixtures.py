#!/usr/bin/env python3
"""Writes the tiny tokenizer fixtures of tests/test_hunyuan_text.cpp in the Hugging Face file formats (stdlib only).

llama3_tiny/  tokenizer.json (the layout of Llama-3's: byte-level BPE, ignore_merges, Split with the Llama-3 regex
              + ByteLevel, TemplateProcessing with <|begin_of_text|>, special added tokens) + tokenizer_config.json
clip_tiny/    vocab.json + merges.txt (CLIPTokenizer's layout: byte tokens, byte tokens + "</w>", merges, the two
              special tokens) + special_tokens_map.json
The expected encodings in the test are worked out by hand from these merge lists (see the comments there).
"""
import json, os

def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + list(range(ord("\xae"), ord("\xff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b); cs.append(256 + n); n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}

B = bytes_to_unicode()
here = os.path.dirname(os.path.abspath(__file__))
LLAMA3_REGEX = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"

# ---- llama3_tiny -------------------------------------------------------------------------------------------------
vocab = {B[b]: b for b in range(256)}          # byte b -> id b
merges = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("Ċ", "Ċ"), ("c", "a"), ("ca", "t"), ("Ġ", "cat")]
for a, b in merges:
    vocab[a + b] = len(vocab)                  # 256 Ġt, 257 he, 258 Ġthe, 259 ĊĊ, 260 ca, 261 cat, 262 Ġcat
vocab["dog"] = len(vocab)                      # 263: reachable only through ignore_merges
specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
added = [{"id": 300 + i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
          "normalized": False, "special": True} for i, s in enumerate(specials)]
added.append({"id": 310, "content": "<pad>", "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True})
tok = {
    "version": "1.0",
    "truncation": None,
    "padding": None,
    "added_tokens": added,
    "normalizer": None,
    "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": LLAMA3_REGEX}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
    "post_processor": {"type": "Sequence", "processors": [
        {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        {"type": "TemplateProcessing",
         "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
         "pair": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                  {"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
         "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [300], "tokens": ["<|begin_of_text|>"]}}}]},
    "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
    "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
              "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": True,
              "vocab": vocab, "merges": [a + " " + b for a, b in merges]},
}
d = os.path.join(here, "llama3_tiny"); os.makedirs(d, exist_ok=True)
with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
    json.dump(tok, f, ensure_ascii=False, indent=1)
with open(os.path.join(d, "tokenizer_config.json"), "w", encoding="utf-8") as f:
    json.dump({"bos_token": "<|begin_of_text|>", "eos_token": "<|end_of_text|>", "pad_token": "<pad>",
               "padding_side": "right", "tokenizer_class": "PreTrainedTokenizerFast"}, f, indent=1)

# ---- clip_tiny ------------------------------------------------------------------------------------------------------
cv = {}
for b in range(256): cv[B[b]] = len(cv)            # 0..255
for b in range(256): cv[B[b] + "</w>"] = len(cv)   # 256..511
cmerges = [("t", "h"), ("th", "e</w>"), ("c", "a"), ("ca", "t</w>"), ("r", "e"), ("re", "d</w>"), ("ca", "t")]
for a, b in cmerges:
    if a + b not in cv: cv[a + b] = len(cv)        # 512 th, 513 the</w>, 514 ca, 515 cat</w>, 516 re, 517 red</w>, 518 cat
cv["<|startoftext|>"] = len(cv)                    # 519
cv["<|endoftext|>"] = len(cv)                      # 520
d = os.path.join(here, "clip_tiny"); os.makedirs(d, exist_ok=True)
with open(os.path.join(d, "vocab.json"), "w", encoding="utf-8") as f:
    json.dump(cv, f, ensure_ascii=False)
with open(os.path.join(d, "merges.txt"), "w", encoding="utf-8") as f:
    f.write("#version: 0.2\n" + "".join(a + " " + b + "\n" for a, b in cmerges))
with open(os.path.join(d, "special_tokens_map.json"), "w", encoding="utf-8") as f:
    json.dump({"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>",
               "unk_token": "<|endoftext|>"}, f, indent=1)
