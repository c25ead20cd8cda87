#include "engine/shapes/shapes_prompts.h"

#include <algorithm>
#include <cctype>
#include <map>

#include "engine/core/error.h"
#include "engine/shapes/shapes_rng.h"
#include "engine/shapes/shapes_vocab.h"
#include "engine/shapes/shapes_world.h"

namespace focalscope::shapes {
namespace {

using nlohmann::json;

// Templates: {A}/{B} = "the <colour> <shape word>", {C} = a colour name, {D} = a direction phrase;
// "[x|y|]" picks one alternative (an empty one drops the words).
const std::map<std::string, std::vector<std::string>>& templates() {
  static const std::map<std::string, std::vector<std::string>> t{
      {"change_color",
       {"{A} turns {C}.", "{A} changes [colour|color] to {C}.", "{A} slowly becomes {C}.",
        "The [colour|color] of {A} changes to {C}.", "{A} [gradually|slowly|] turns {C}."}},
      {"grow",
       {"{A} grows [bigger|larger|].", "{A} [gets|becomes] [bigger|larger].", "{A} expands.",
        "{A} slowly grows in size.", "{A} swells up."}},
      {"shrink",
       {"{A} shrinks.", "{A} [gets|becomes] smaller.", "{A} slowly shrinks in size.", "{A} contracts."}},
      {"fade_out",
       {"{A} fades [out|away].", "{A} slowly disappears.", "{A} vanishes.",
        "{A} becomes transparent and disappears."}},
      {"spin",
       {"{A} [spins|rotates|turns] [around|in place|].", "{A} [spins|rotates] {D}.", "{A} starts to [spin|rotate]."}},
      {"move",
       {"{A} [moves|slides|glides|travels] {D}.", "{A} [moves|slides] {D} across the [frame|scene|picture].",
        "{A} [drifts|moves] {D} [slowly|steadily|]."}},
      {"jump",
       {"{A} jumps.", "{A} [jumps|hops|leaps] up and lands again.", "{A} [jumps|leaps] into the air."}},
      {"bounce",
       {"{A} bounces [up and down|twice|in place].", "{A} [bounces|hops] up and down twice."}},
      {"stop",
       {"{A} moves {D} and then stops.", "{A} [slides|moves] {D}, then [stops|halts|comes to rest]."}},
      {"move_to",
       {"{A} [moves|slides|goes] [to|toward|over to] {B}.", "{A} approaches {B}.",
        "{A} [moves|travels] next to {B}."}},
      {"push",
       {"{A} pushes {B}.", "{A} [moves|slides] into {B} and pushes it [away|along].", "{A} shoves {B} away."}},
      {"swap",
       {"{A} and {B} swap places.", "{A} and {B} [switch|trade|exchange] [places|positions].",
        "{A} [swaps|switches] places with {B}."}},
      {"circle",
       {"{A} circles [around|] {B}.", "{A} [moves|travels|goes] in a circle around {B}.", "{A} orbits {B}."}},
      {"hide_behind",
       {"{A} hides behind {B}.", "{A} [moves|slides|goes] behind {B} [and disappears|].",
        "{A} [hides|disappears] behind {B}."}},
  };
  return t;
}

std::string direction_phrase(double dx, double dy, SplitMix64& rng) {
  const int sx = dx > 0.3 ? 1 : dx < -0.3 ? -1 : 0, sy = dy > 0.3 ? 1 : dy < -0.3 ? -1 : 0;
  if (sx && sy) {
    const std::string v = sy < 0 ? "up" : "down", h = sx < 0 ? "left" : "right";
    const std::string corner = std::string(sy < 0 ? "upper" : "lower") + " " + h;
    return rng.pick(std::vector<std::string>{v + " and to the " + h, "toward the " + corner, "diagonally " + v + " and " + h});
  }
  if (sx < 0) return rng.pick(std::vector<std::string>{"left", "to the left", "leftward"});
  if (sx > 0) return rng.pick(std::vector<std::string>{"right", "to the right", "rightward"});
  if (sy < 0) return rng.pick(std::vector<std::string>{"up", "upward", "to the top"});
  return rng.pick(std::vector<std::string>{"down", "downward", "to the bottom"});
}

// Expands "[a|b|]" alternatives.
std::string expand_alternatives(const std::string& s, SplitMix64& rng) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    if (s[i] != '[') {
      out += s[i++];
      continue;
    }
    const size_t close = s.find(']', i);
    std::vector<std::string> opts;
    std::string cur;
    for (size_t k = i + 1; k < close; ++k) {
      if (s[k] == '|') {
        opts.push_back(cur);
        cur.clear();
      } else {
        cur += s[k];
      }
    }
    opts.push_back(cur);
    out += rng.pick(opts);
    i = close + 1;
  }
  return out;
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) s.replace(p, from.size(), to);
}

std::string tidy(std::string s) {
  replace_all(s, "  ", " ");
  replace_all(s, " .", ".");
  replace_all(s, " ,", ",");
  while (!s.empty() && s.front() == ' ') s.erase(s.begin());
  // "The colour of the red circle" keeps its lower-case article; only the first letter is raised.
  if (!s.empty()) s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
  return s;
}

std::string object_ref(const json& obj, SplitMix64& rng) {
  return "the " + obj.at("color").get<std::string>() + " " + rng.pick(shape_synonyms(obj.at("shape").get<std::string>()));
}

}  // namespace

const std::vector<std::string>& shape_synonyms(const std::string& shape) {
  static const std::map<std::string, std::vector<std::string>> syn{
      {"circle", {"circle", "ball", "disc"}},
      {"square", {"square", "box", "block"}},
      {"triangle", {"triangle"}},
      {"diamond", {"diamond", "rhombus"}},
  };
  auto it = syn.find(shape);
  if (it == syn.end()) throw Error("shapes prompt: unknown shape '" + shape + "'");
  return it->second;
}

std::string make_prompt(const json& ann, uint64_t seed) {
  SplitMix64 rng(mix_seed(seed, 0x70));
  const std::string action = ann.at("action").get<std::string>();
  const std::string key = action.rfind("move_", 0) == 0 && action != "move_to" ? "move" : action;
  auto it = templates().find(key);
  if (it == templates().end()) throw Error("shapes prompt: no templates for action '" + action + "'");
  std::string t = rng.pick(it->second);
  const json& objs = ann.at("objects");
  const json& params = ann.at("params");
  replace_all(t, "{A}", object_ref(objs.at(ann.at("actor").get<int>()), rng));
  if (t.find("{B}") != std::string::npos) replace_all(t, "{B}", object_ref(objs.at(ann.at("target").get<int>()), rng));
  if (t.find("{C}") != std::string::npos) replace_all(t, "{C}", params.at("to_color").get<std::string>());
  if (t.find("{D}") != std::string::npos) {
    if (action == "spin") {
      replace_all(t, "{D}", params.at("rotation_deg").get<double>() > 0 ? "clockwise" : "counterclockwise");
    } else {
      const auto& d = params.at("direction");
      replace_all(t, "{D}", direction_phrase(d.at(0).get<double>(), d.at(1).get<double>(), rng));
    }
  }
  return tidy(expand_alternatives(t, rng));
}

std::vector<std::string> prompt_corpus(int n, uint64_t seed) {
  std::vector<std::string> out;
  out.reserve(static_cast<size_t>(std::max(0, n)));
  for (int i = 0; i < n; ++i) out.push_back(sample_case(mix_seed(seed, 0x1000 + static_cast<uint64_t>(i))).prompt);
  return out;
}

std::vector<std::string> object_words(const std::string& prompt) {
  std::vector<std::string> vocab;
  for (const auto& c : named_colors()) vocab.push_back(c.name);
  for (ShapeKind s : all_shapes())
    for (const auto& w : shape_synonyms(shape_name(s))) vocab.push_back(w);
  std::vector<std::string> out;
  std::string word;
  auto flush = [&] {
    if (!word.empty() && std::find(vocab.begin(), vocab.end(), word) != vocab.end() &&
        std::find(out.begin(), out.end(), word) == out.end())
      out.push_back(word);
    word.clear();
  };
  for (char ch : prompt) {
    if (std::isalpha(static_cast<unsigned char>(ch)))
      word += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    else
      flush();
  }
  flush();
  return out;
}

}  // namespace focalscope::shapes
