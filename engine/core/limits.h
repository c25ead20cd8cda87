// Every limit FocalScope puts on what it reads, in one place (documented in docs/robustness.md).
//
// The readers check these BEFORE they allocate or compute, so a hostile or broken file costs at most a small
// multiple of its own size in memory and a bounded time, and is refused with one line naming the file. Values are
// chosen far above anything a real Wan2.1 / HunyuanVideo checkpoint, config or prompt needs.
// Torch-free (plain constants): the fuzz harnesses and torch-free libraries include it too.
#pragma once
#include <cstdint>

namespace focalscope::limits {

// ---- JSON (configs, manifests, fixture configs, guidance configs, case files, shard indexes, headers) ------
// Nesting depth is checked by a non-recursive SAX pass before the document is built, so neither the parser nor any
// recursive walk afterwards (dump, copy, comparison) can overflow the stack.
constexpr int kJsonMaxDepth = 64;
constexpr uint64_t kJsonMaxBytes = 64ull << 20;          // a JSON file (config, case file, index, ...)
constexpr uint64_t kJsonMaxStringBytes = 16ull << 20;    // one JSON string value / key

// ---- safetensors -------------------------------------------------------------------------------------------
constexpr uint64_t kSafetensorsMaxHeaderBytes = 100ull << 20;  // the format's own reference limit
constexpr int kTensorMaxRank = 16;
constexpr uint64_t kTensorMaxNameBytes = 4096;
constexpr uint64_t kTensorMaxCount = 1u << 20;                 // tensors in one file / state dict

// ---- .pth (zip + pickle) -------------------------------------------------------------------------------------
constexpr uint64_t kZipMaxEntries = 1u << 20;
// A compressed (deflated) member is inflated only when its declared size is at most this multiple of the whole
// archive's size (plus kZipInflateSlackBytes), so a zip bomb is refused from its directory, before inflating.
constexpr uint64_t kZipMaxInflateRatio = 8;
constexpr uint64_t kZipInflateSlackBytes = 64ull << 20;
constexpr uint64_t kPickleMaxBytes = 256ull << 20;             // data.pkl itself
constexpr uint64_t kPickleMaxOps = 64ull << 20;                // opcodes executed
constexpr uint64_t kPickleMaxStack = 1u << 18;                 // values on the stack at once
constexpr uint64_t kPickleMaxMarks = 4096;                     // open MARKs (nesting depth of tuples / lists / dicts)
constexpr uint64_t kPickleMaxMemo = 1u << 20;                  // memo entries
constexpr uint64_t kPickleMaxMemoIndex = 1u << 24;             // largest BINPUT index accepted
// Values built (each costs ~250 bytes; a state dict needs ~15 per tensor): bounds the memory of a pickle that is
// small but builds long lists one 2-byte APPEND at a time.
constexpr uint64_t kPickleMaxObjects = 1u << 21;

// ---- tokenizer (SentencePiece model file) --------------------------------------------------------------------
constexpr uint64_t kTokenizerModelMaxBytes = 256ull << 20;
constexpr uint64_t kTokenizerMaxCharsmapBytes = 4ull << 20;    // the normaliser's trie + strings (nmt_nfkc: 237 KB)

// ---- prompts, scripts, images --------------------------------------------------------------------------------
constexpr uint64_t kPromptMaxBytes = 64u << 10;                // a prompt / negative prompt (umT5 reads 512 tokens)
constexpr uint64_t kScriptMaxBytes = 1u << 20;                 // a GUI script file
constexpr uint64_t kScriptMaxLines = 100000;
constexpr int64_t kImageMaxSide = 16384;                       // pixels per side of an input image
constexpr int64_t kImageMaxPixels = 64ll << 20;                // width x height of an input image
constexpr int64_t kImageMinSide = 16;                          // smaller images carry no usable content
constexpr double kImageMaxAspect = 8.0;                        // longer side / shorter side

// ---- runs ------------------------------------------------------------------------------------------------------
constexpr int64_t kMaxSteps = 1000;                            // sampling steps (the schedulers train on 1000)
constexpr int64_t kMaxFrames = 1 + 4 * 256;                    // pixel frames of one video
constexpr int64_t kMaxArea = 4096ll * 4096;                    // pixels per frame (--max-area)
constexpr int64_t kMaxLayerIndex = 1024;                       // largest layer index a --weak-layers range may name
constexpr int64_t kMaxTrainTimesteps = 100000;                 // num_train_timesteps of a scheduler config

}  // namespace focalscope::limits
