// Structural check of a SentencePiece model file (ModelProto) before libsentencepiece sees it.
//
// libsentencepiece trusts parts of the model that it does not validate: the normaliser's precompiled_charsmap is a
// darts-clone double array that it walks without bounds checks (a garbage trie reads outside the blob and
// segfaults), and an unknown trainer_spec.model_type yields a null model that it then dereferences. This checker
// walks the protobuf wire format (bounded, no recursion beyond the two message levels it knows) and every node of
// the trie that a lookup could reach, and refuses what would crash the library. Torch-free (fuzzed alone).
#pragma once
#include <string>
#include <string_view>

namespace focalscope {

// "" when the model is safe to hand to libsentencepiece, else a one-line description of the problem.
std::string check_sentencepiece_model(std::string_view bytes);

}  // namespace focalscope
