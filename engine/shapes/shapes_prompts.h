// Prompt wording for Shapes cases: several templates and synonyms per action over a modest closed
// vocabulary (a sentencepiece tokenizer is trained on prompt_corpus), plus the object-naming words
// that Focal Guidance's keyword tests look for.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace focalscope::shapes {

// The prompt for an annotation (its action, actor, target and params); wording drawn from `seed`.
std::string make_prompt(const nlohmann::json& annotation, uint64_t seed);

// n prompts of random cases (all dimensions, 1-3 objects), for tokenizer training.
std::vector<std::string> prompt_corpus(int n, uint64_t seed);

// Words of `prompt` that name objects: colour names and shape words (including synonyms such as
// "ball" or "box"), lower-cased, in order of first appearance, each once.
std::vector<std::string> object_words(const std::string& prompt);

// Shape synonyms as used in prompts, e.g. "circle" -> {"circle", "ball", "disc"}.
const std::vector<std::string>& shape_synonyms(const std::string& shape);

}  // namespace focalscope::shapes
