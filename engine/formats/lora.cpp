#include "engine/formats/lora.h"

#include <ATen/ATen.h>

#include <cmath>
#include <map>
#include <optional>
#include <set>

#include "engine/core/error.h"
#include "engine/core/safetensors.h"
#include "engine/formats/checkpoint_files.h"
#include "engine/formats/safetensors_decode.h"
#include "engine/formats/wan_names.h"

namespace focalscope::formats {
namespace {

bool ends_with(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}
bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }

enum class Part { Up, Down, Alpha, Diff, DiffB };

// Splits a LoRA key into (module, part); nullopt for an adapter type this loader does not merge.
std::optional<std::pair<std::string, Part>> split_key(const std::string& k) {
  static const std::vector<std::pair<std::string, Part>> suffixes = {
      {".lora_up.weight", Part::Up},   {".lora_down.weight", Part::Down}, {".lora_B.weight", Part::Up},
      {".lora_A.weight", Part::Down},  {"_lora.up.weight", Part::Up},     {"_lora.down.weight", Part::Down},
      {".lora.up.weight", Part::Up},   {".lora.down.weight", Part::Down}, {".lora_B.bias", Part::DiffB},
      {".alpha", Part::Alpha},         {".diff_b", Part::DiffB},          {".diff", Part::Diff}};
  for (const auto& [s, p] : suffixes)
    if (ends_with(k, s) && k.size() > s.size()) return std::make_pair(k.substr(0, k.size() - s.size()), p);
  return std::nullopt;
}

struct Module {
  const DecodedTensor *up = nullptr, *down = nullptr, *alpha = nullptr, *diff = nullptr, *diff_b = nullptr;
};

// LoRA module name -> the official DiT tensor stem (without ".weight"), and which spelling it was.
class Resolver {
 public:
  explicit Resolver(const TensorSet& dit) : dit_(dit) {
    for (const auto& n : dit.names()) {
      std::string stem = ends_with(n, ".weight") ? n.substr(0, n.size() - 7) : n;
      std::string u = stem;
      for (auto& c : u)
        if (c == '.') c = '_';
      kohya_[u] = stem;
    }
  }
  std::optional<std::string> resolve(std::string m, std::string& format) const {
    if (starts_with(m, "lora_unet_")) {
      format = "kohya lora_unet_*";
      auto it = kohya_.find(m.substr(10));
      if (it == kohya_.end()) return std::nullopt;
      return it->second;
    }
    bool prefixed = false;
    for (const char* p : {"model.diffusion_model.", "diffusion_model.", "transformer.", "base_model.model.", "unet."})
      if (starts_with(m, p)) {
        format = std::string(p) + "*";
        m = m.substr(std::string(p).size());
        prefixed = true;
        break;
      }
    if (!prefixed) format = "bare names";
    if (dit_.has(m + ".weight") || dit_.has(m)) return m;
    if (auto w = diffusers_to_wan_name(m + ".weight"); w && dit_.has(*w)) {
      format += " (diffusers names)";
      return w->substr(0, w->size() - 7);
    }
    return std::nullopt;
  }

 private:
  const TensorSet& dit_;
  std::map<std::string, std::string> kohya_;
};

std::string shape_of(const at::Tensor& t) { return shape_str(t.sizes()); }

}  // namespace

std::string LoraReport::summary() const {
  char s[64];
  std::snprintf(s, sizeof s, "%g", strength);
  std::string l = path + ": LoRA (" + formats + "), strength " + s + ", rank " + std::to_string(rank) + ", " + std::to_string(patched) +
                  " DiT tensors merged";
  if (!unmatched.empty()) {
    l += "; " + std::to_string(unmatched.size()) + " key(s) matched no DiT tensor:";
    for (const auto& u : unmatched) l += " " + u;
  }
  return l;
}

std::vector<LoraReport> apply_loras(TensorSet& dit, const std::vector<LoraSpec>& loras) {
  std::vector<LoraReport> reports;
  for (const auto& spec : loras) {
    if (!std::isfinite(spec.strength)) fail(spec.path, "LoRA strength is not finite");
    CheckpointFiles cf = open_safetensors_files(spec.path);
    std::vector<DecodedTensor> items = decode_safetensors(cf.safetensors, "", at::kFloat);
    LoraReport rep;
    rep.path = spec.path;
    rep.strength = spec.strength;
    Resolver res(dit);
    std::map<std::string, Module> mods;  // official stem -> parts
    std::set<std::string> seen_formats;
    for (const auto& d : items) {
      auto sk = split_key(d.name);
      if (!sk) {
        rep.unmatched.push_back(d.stored_name);
        continue;
      }
      std::string fmt;
      auto stem = res.resolve(sk->first, fmt);
      if (!stem) {
        rep.unmatched.push_back(d.stored_name);
        continue;
      }
      seen_formats.insert(fmt);
      Module& m = mods[*stem];
      const DecodedTensor** slot = sk->second == Part::Up ? &m.up : sk->second == Part::Down ? &m.down : sk->second == Part::Alpha ? &m.alpha
                                   : sk->second == Part::Diff ? &m.diff : &m.diff_b;
      if (*slot) fail(d.where(), "is a second spelling of " + (*slot)->stored_name + " (the same LoRA factor twice)");
      *slot = &d;
    }
    if (mods.empty()) {
      std::string eg;
      for (std::size_t i = 0; i < items.size() && i < 3; ++i) eg += (eg.empty() ? "" : ", ") + std::string("'") + items[i].stored_name + "'";
      fail(spec.path, "none of its " + std::to_string(items.size()) + " tensors matches a tensor of this Wan DiT (e.g. " + eg +
                          "): a LoRA for another model?");
    }
    for (const auto& f : seen_formats) rep.formats += (rep.formats.empty() ? "" : ", ") + f;

    std::map<std::string, at::Tensor> patched;  // official name -> new float32 tensor
    auto base = [&](const std::string& name) -> at::Tensor {
      auto it = patched.find(name);
      return it != patched.end() ? it->second : dit.get(name).to(at::kFloat);
    };
    const float sf = static_cast<float>(spec.strength);
    for (const auto& [stem, m] : mods) {
      const std::string wname = dit.has(stem + ".weight") ? stem + ".weight" : stem;
      if (m.up || m.down) {
        if (!m.up || !m.down) {
          const DecodedTensor* have = m.up ? m.up : m.down;
          fail(have->where(), std::string("has no matching ") + (m.up ? "down (lora_down / lora_A)" : "up (lora_up / lora_B)") + " factor");
        }
        at::Tensor w = base(wname);
        const at::Tensor up = m.up->t.to(at::kFloat), down = m.down->t.to(at::kFloat);
        if (up.dim() < 2 || down.dim() < 2) fail(m.up->where(), "LoRA factors must be 2-D or more (up " + shape_of(up) + ", down " + shape_of(down) + ")");
        const int64_t rank = down.size(0);
        if (up.size(1) != rank || up.size(0) != w.size(0) || down.numel() / rank * up.size(0) != w.numel())
          fail(m.down->where(), "up " + shape_of(up) + " x down " + shape_of(down) + " does not fit the DiT weight '" + wname + "' " + shape_of(w) +
                                    " (a LoRA for another model size?)");
        double scale = spec.strength;
        if (m.alpha) {
          if (m.alpha->t.numel() != 1) fail(m.alpha->where(), "alpha has shape " + shape_of(m.alpha->t) + ", expected a scalar");
          scale = spec.strength * m.alpha->t.to(at::kDouble).item<double>() / static_cast<double>(rank);
        }
        rep.rank = std::max(rep.rank, rank);
        const at::Tensor delta = at::mm(up.flatten(1), down.flatten(1)).reshape(w.sizes());
        patched[wname] = w + delta * static_cast<float>(scale);
      } else if (m.alpha && !m.diff && !m.diff_b) {
        fail(m.alpha->where(), "alpha without lora_up / lora_down factors");
      }
      if (m.diff) {
        at::Tensor w = base(wname);
        if (m.diff->t.sizes() != w.sizes())
          fail(m.diff->where(), "diff has shape " + shape_of(m.diff->t) + " but the DiT weight '" + wname + "' is " + shape_of(w));
        patched[wname] = w + m.diff->t.to(at::kFloat) * sf;
      }
      if (m.diff_b) {
        const std::string bname = stem + ".bias";
        if (!dit.has(bname)) fail(m.diff_b->where(), "bias difference for '" + bname + "', which this DiT does not have");
        at::Tensor b = base(bname);
        if (m.diff_b->t.sizes() != b.sizes())
          fail(m.diff_b->where(), "bias difference has shape " + shape_of(m.diff_b->t) + " but '" + bname + "' is " + shape_of(b));
        patched[bname] = b + m.diff_b->t.to(at::kFloat) * sf;
      }
    }
    rep.patched = static_cast<int64_t>(patched.size());
    TensorSet merged;
    merged.origin = dit.origin;
    for (const auto& n : dit.names()) {
      auto it = patched.find(n);
      if (it != patched.end()) merged.add(n, it->second, spec.path);
      else merged.add(n, dit.get(n), dit.source(n));
    }
    dit = std::move(merged);
    reports.push_back(std::move(rep));
  }
  return reports;
}

}  // namespace focalscope::formats
