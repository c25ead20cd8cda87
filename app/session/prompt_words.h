// The words of a prompt that can be keywords (the Keywords panel's chips): lower-cased, in order of first
// appearance, each once, without function words ("a", "the", "to", ...) and numbers.
#pragma once
#include <string>
#include <vector>

namespace focalscope::session {

std::vector<std::string> prompt_words(const std::string& prompt);
bool is_stop_word(const std::string& lower_word);

}  // namespace focalscope::session
