// Stage "tokenizer": a SentencePiece unigram model (umT5's kind) trained on the Shapes world's prompt
// language. It runs Debian's `spm_train` as a child process: libsentencepiece must never be linked into a
// torch binary (its bundled protobuf clashes with libtorch's; see engine/text/tokenizer.h).
#pragma once
#include <string>

#include "engine/train/train_options.h"

namespace focalscope::train {

struct TokenizerTrainConfig {
  int corpus_size = 20000;  // prompts of random training cases
  int vocab_size = 256;     // soft limit (--hard_vocab_limit=false): the closed vocabulary may need fewer
};

// Writes <out>/tokenizer/corpus.txt and <out>/tokenizer/spiece.model (ids: pad 0, eos 1, unk 2, no BOS, as
// umT5). Returns the model path. Throws Error with spm_train's log tail when it fails.
std::string train_tokenizer(const StageOptions& opt, const TokenizerTrainConfig& cfg = {});

// The spm_train executable: $FOCALSCOPE_SPM_TRAIN, else "spm_train" on PATH.
std::string spm_train_program();

}  // namespace focalscope::train
