#include "app/session/ablation_file.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "engine/core/error.h"
#include "engine/core/json_io.h"

namespace focalscope::session {

namespace fs = std::filesystem;
using nlohmann::json;

const AblationLayer* AblationResult::find(int layer) const {
  auto it = std::lower_bound(layers.begin(), layers.end(), layer,
                             [](const AblationLayer& a, int l) { return a.layer < l; });
  return it != layers.end() && it->layer == layer ? &*it : nullptr;
}

namespace {

// A number, or null (the writer stores non-finite values as null) -> NaN. Anything else is an error.
double number(const json& v, const std::string& where, const std::string& key) {
  if (v.is_null()) return NAN;
  if (!v.is_number()) fail(where, key + " must be a number or null");
  return v.get<double>();
}

// {"mean"|"median": x, "ci95": [lo, hi]}. Absent and optional: NaNs.
void interval(const json& layer, const char* name, const char* centre, bool required, const std::string& where,
              double& est, double& lo, double& hi) {
  auto it = layer.find(name);
  if (it == layer.end()) {
    if (required) fail(where, std::string("missing ") + name);
    return;
  }
  const std::string key = name;
  if (!it->is_object()) fail(where, key + " must be an object with " + centre + " and ci95");
  auto c = it->find(centre);
  if (c == it->end()) fail(where, "missing " + key + "." + centre);
  est = number(*c, where, key + "." + centre);
  auto ci = it->find("ci95");
  if (ci == it->end()) fail(where, "missing " + key + ".ci95");
  if (!ci->is_array() || ci->size() != 2) fail(where, key + ".ci95 must be [lo, hi]");
  lo = number((*ci)[0], where, key + ".ci95[0]");
  hi = number((*ci)[1], where, key + ".ci95[1]");
}

}  // namespace

AblationResult parse_ablation(const json& j, const std::string& where) {
  if (!j.is_object()) fail(where, "not a focalscope ablate result (expected a JSON object)");
  auto f = j.find("format");
  if (f == j.end() || !f->is_string())
    fail(where, "no \"format\": not a focalscope ablate result (expected focalscope.ablate/1)");
  if (f->get<std::string>() != "focalscope.ablate/1")
    fail(where, "format is '" + f->get<std::string>() + "', expected focalscope.ablate/1");
  auto ls = j.find("layers");
  if (ls == j.end()) fail(where, "missing \"layers\"");
  if (!ls->is_array() || ls->empty()) fail(where, "\"layers\" must be a non-empty array");

  AblationResult r;
  for (size_t i = 0; i < ls->size(); ++i) {
    const json& e = (*ls)[i];
    const std::string w = where + ": layers[" + std::to_string(i) + "]";
    if (!e.is_object()) fail(w, "must be an object");
    auto l = e.find("layer");
    if (l == e.end()) fail(w, "missing layer");
    if (!l->is_number_integer() || l->get<long long>() < 0 || l->get<long long>() > 100000)
      fail(w, "layer must be a non-negative integer");
    AblationLayer a;
    a.layer = l->get<int>();
    if (auto n = e.find("n"); n != e.end()) {
      if (!n->is_number_integer()) fail(w, "n must be an integer");
      a.n = n->get<int>();
    }
    interval(e, "latent_effect", "mean", true, w, a.effect, a.effect_lo, a.effect_hi);
    interval(e, "pass_drop", "mean", false, w, a.pass_drop, a.pass_drop_lo, a.pass_drop_hi);
    interval(e, "agreement_drop", "mean", false, w, a.agreement_drop, a.agreement_drop_lo, a.agreement_drop_hi);
    interval(e, "moran_i", "median", false, w, a.moran_median, a.moran_lo, a.moran_hi);
    if (auto p = e.find("pass_rate"); p != e.end()) a.pass_rate = number(*p, w, "pass_rate");
    r.layers.push_back(a);
  }
  std::sort(r.layers.begin(), r.layers.end(), [](const AblationLayer& a, const AblationLayer& b) { return a.layer < b.layer; });
  for (size_t i = 1; i < r.layers.size(); ++i)
    if (r.layers[i].layer == r.layers[i - 1].layer) fail(where, "layer " + std::to_string(r.layers[i].layer) + " appears twice");

  // Context (optional): what the overlay's caption and tooltips mention.
  if (auto u = j.find("units"); u != j.end() && u->is_number_integer()) r.units = u->get<int>();
  if (auto s = j.find("settings"); s != j.end() && s->is_object())
    if (auto m = s->find("model_name"); m != s->end() && m->is_string()) r.model_name = m->get<std::string>();
  if (auto b = j.find("baseline"); b != j.end() && b->is_object())
    if (auto p = b->find("pass_rate"); p != b->end() && p->is_number()) r.base_pass_rate = p->get<double>();
  if (auto s = j.find("spearman"); s != j.end() && s->is_object())
    if (auto p = s->find("moran_i_vs_latent_effect"); p != s->end() && p->is_number()) r.spearman_latent = p->get<double>();
  return r;
}

AblationResult load_ablation(const std::string& path) {
  if (path.empty()) fail("ablation", "no file given: enter the path of an ablate.json (`focalscope ablate --out DIR`)");
  std::error_code ec;
  std::string file = path;
  if (fs::is_directory(path, ec)) file = (fs::path(path) / "ablate.json").string();  // the --out DIR itself
  if (!fs::exists(file, ec)) fail(file, "no such file");
  json j = read_json_file(file);  // size / depth limits, one line naming the file
  AblationResult r = parse_ablation(j, file);
  r.path = file;
  return r;
}

}  // namespace focalscope::session
