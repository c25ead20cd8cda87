// PyTorch zip checkpoints (`torch.save(module.state_dict(), path)`, torch >= 1.6 default format), read in C++.
//
// A .pth is a zip archive with `<stem>/data.pkl` (pickle protocol 2), `<stem>/data/<key>` (one raw little-endian
// storage per key), `<stem>/version` and, from newer torch, `<stem>/byteorder` / `<stem>/.data/serialization_id`.
// The stem is whatever folder holds data.pkl (found, never assumed). data.pkl holds
//   collections.OrderedDict() + SETITEMS of name -> torch._utils._rebuild_tensor_v2(
//       persistent_id ('storage', torch.<T>Storage, key, location, numel), offset, size, stride, requires_grad,
//       OrderedDict()) + BUILD {'_metadata': ...}  (accepted and ignored).
//
// libtorch 1.13's own unpickler turns collections.OrderedDict into None and so cannot read a state dict saved from
// Python; this file has its own zip directory reader (zip64-aware, CRC-checked) and a small unpickler for the opcode
// subset that torch.save emits (protocols 2-5), with no recursion and bounds checks on every read, so garbage input
// gives a one-line focalscope::Error instead of a crash.
//
// Storages are memory-mapped (zero-copy when the record is stored uncompressed and aligned, as torch writes it;
// compressed entries are inflated through caffe2's PyTorchStreamReader). Each storage record is read once; tensors
// that share a storage are views of it (as_strided with the pickled size/stride/offset), so a returned tensor may be
// non-contiguous and is read-only memory: copy (WeightLoader::take does) before writing to it.
#pragma once
#include <string>

#include "engine/core/weights.h"

namespace focalscope {

// Every tensor of the state dict, named by its key, with source() == path. Throws focalscope::Error
// "<path>: <problem>" (naming the tensor/record where there is one) for: missing/unreadable file, not a zip,
// legacy (pre-1.6) or TorchScript archives, no */data.pkl, truncated or corrupted zip (CRC mismatch),
// unsupported pickle opcode / global / storage type, missing storage record, record smaller than the tensor
// needs, tensor extent outside its storage, and a top-level object that is not a dict of str -> tensor.
TensorSet load_pth(const std::string& path);
// A checkpoint whose top-level dict holds the state dict under `entry` (HunyuanVideo's {"module": ...}, a
// {"state_dict": ...} wrapper); its other entries are parsed with the same limits and refusals, then ignored. With
// `optional`, a file whose top level is itself the state dict is read as load_pth does. An absent entry is an error
// listing the top-level keys.
TensorSet load_pth_entry(const std::string& path, const std::string& entry, bool optional = false);

}  // namespace focalscope
