#include "engine/capture/similarity_capture.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <map>

#include "engine/core/error.h"

namespace focalscope {

const char* capture_source_name(CaptureSource s) { return s == CaptureSource::NormedInput ? "x_norm" : "x"; }

CaptureSource parse_capture_source(const std::string& name) {
  if (name == "x_norm" || name == "norm3") return CaptureSource::NormedInput;
  if (name == "x" || name == "residual") return CaptureSource::Residual;
  fail("--z", "'" + name + "' is not a visual state (use x_norm, the cross-attention input, or x, the residual stream)");
}

void SimilarityCapture::allocate() {
  const int64_t K = static_cast<int64_t>(keywords_.size());
  if (K < 1) fail("capture", "no keywords");
  if (K != layout_.keywords)
    fail("capture", "layout is for " + std::to_string(layout_.keywords) + " keywords, got " + std::to_string(K));
  if (layout_.steps.empty() || layout_.layers.empty() || layout_.passes.empty() || layout_.map_elems() < 1)
    fail("capture", "empty layout (" + layout_.describe() + ")");
  const int64_t S = static_cast<int64_t>(layout_.steps.size()), P = static_cast<int64_t>(layout_.passes.size()),
                L = static_cast<int64_t>(layout_.layers.size());
  buffer_ = at::zeros({S, P, L, K, layout_.map_elems()}, at::TensorOptions().dtype(at::kHalf));
  filled_.assign(static_cast<size_t>(S * P * L), 0);
  written_.assign(static_cast<size_t>(S), 0);
  last_values_.resize(static_cast<size_t>(L));
  step_of_slot_.assign(static_cast<size_t>(layout_.steps.back() + 1), -1);
  for (int s = 0; s < S; ++s) step_of_slot_[static_cast<size_t>(layout_.steps[s])] = s;
  layer_of_slot_.assign(static_cast<size_t>(layout_.layers.back() + 1), -1);
  for (int l = 0; l < L; ++l) layer_of_slot_[static_cast<size_t>(layout_.layers[l])] = l;
}

SimilarityCapture::SimilarityCapture(RandomDirections dirs, CaptureLayout layout, CaptureSource source)
    : layout_(std::move(layout)), source_(source), random_(dirs) {
  if (dirs.count < 1) fail("capture", "the random-direction baseline needs at least one direction");
  for (int j = 0; j < dirs.count; ++j) keywords_.push_back({"random_" + std::to_string(j), {}});
  allocate();
}

SimilarityCapture::SimilarityCapture(FixedDirections dirs, CaptureLayout layout, CaptureSource source)
    : layout_(std::move(layout)), source_(source), fixed_(std::move(dirs.per_layer)) {
  if (dirs.names.empty()) fail("capture", "given directions: none");
  for (int l : layout_.layers) {
    const at::Tensor* t = l >= 0 && l < static_cast<int>(fixed_.size()) ? &fixed_[static_cast<size_t>(l)] : nullptr;
    if (!t || !t->defined() || t->dim() != 2 || t->size(0) != static_cast<int64_t>(dirs.names.size()))
      fail("capture", "given directions: layer " + std::to_string(l) + " needs a [" + std::to_string(dirs.names.size()) +
                          ", dim] tensor");
  }
  for (auto& n : dirs.names) keywords_.push_back({std::move(n), {}});
  allocate();
}

SimilarityCapture::SimilarityCapture(std::vector<CaptureKeyword> keywords, CaptureLayout layout, CaptureSource source)
    : keywords_(std::move(keywords)), layout_(std::move(layout)), source_(source) {
  allocate();
  const int64_t K = static_cast<int64_t>(keywords_.size());

  // One gather + one [K, T] x [T, dim] product gives every keyword's mean value vector.
  std::map<int64_t, int64_t> col;  // text row -> column in token_index_
  for (const auto& k : keywords_) {
    if (k.tokens.empty()) fail("keyword '" + k.word + "'", "has no tokens");
    for (int64_t t : k.tokens) {
      if (t < 0) fail("keyword '" + k.word + "'", "negative token index");
      col.emplace(t, 0);
    }
  }
  std::vector<int64_t> rows;
  for (auto& [t, c] : col) {
    c = static_cast<int64_t>(rows.size());
    rows.push_back(t);
  }
  token_index_ = at::tensor(rows, at::TensorOptions().dtype(at::kLong));
  max_token_ = rows.back();
  token_mean_ = at::zeros({K, static_cast<int64_t>(rows.size())});
  for (int64_t k = 0; k < K; ++k) {
    const auto& toks = keywords_[static_cast<size_t>(k)].tokens;
    for (int64_t t : toks) token_mean_[k][col[t]] += 1.0 / static_cast<double>(toks.size());
  }
}

bool SimilarityCapture::wants(const ForwardInfo& info, int layer) const {
  if (info.step < 0 || info.step >= static_cast<int>(step_of_slot_.size()) || step_of_slot_[info.step] < 0) return false;
  if (layer < 0 || layer >= static_cast<int>(layer_of_slot_.size()) || layer_of_slot_[layer] < 0) return false;
  // Published steps are immutable; a rerun of the same step index is not captured again.
  if (step_of_slot_[info.step] < ready_.load(std::memory_order_relaxed)) return false;
  const bool uncond_wanted = layout_.pass_slot(PassRole::Uncond) >= 0;
  for (PassRole r : info.roles) {
    if (layout_.pass_slot(r) >= 0) return true;
    // A conditional row is needed for V(k) even when only the unconditional pass is stored (CFG as two forwards).
    if (r == PassRole::Cond && uncond_wanted) return true;
  }
  return false;
}

int64_t SimilarityCapture::offset(int s, int p, int l) const {
  const int64_t P = static_cast<int64_t>(layout_.passes.size()), L = static_cast<int64_t>(layout_.layers.size());
  return (static_cast<int64_t>(s) * P + p) * L + l;
}

void SimilarityCapture::on_cross_attn_values(BlockProbe& p) {
  const int s = step_of_slot_[p.info.step];
  const int l = layer_of_slot_[p.layer];
  if (s < ready_.load(std::memory_order_relaxed)) return;
  // Moving on to a later step closes the earlier ones (even if a pass never came).
  if (s > highest_touched_) {
    if (highest_touched_ >= 0) publish(s);
    highest_touched_ = s;
  }
  const at::Tensor& z_all = source_ == CaptureSource::NormedInput ? p.x_norm : p.x;  // [B, L, dim]
  const auto& roles = p.info.roles;
  if (!z_all.defined() || z_all.dim() != 3 || static_cast<size_t>(z_all.size(0)) != roles.size())
    fail("similarity capture", "layer " + std::to_string(p.layer) + ": visual state does not match the batch roles");
  const int64_t tokens = z_all.size(1);
  if (tokens != layout_.map_elems())
    fail("similarity capture", "layer " + std::to_string(p.layer) + ": " + std::to_string(tokens) +
                                   " visual tokens, but the capture was laid out for a " +
                                   std::to_string(layout_.grid[0]) + "x" + std::to_string(layout_.grid[1]) + "x" +
                                   std::to_string(layout_.grid[2]) + " grid");

  // V(k): from the first conditional row of this forward, else the last one seen at this layer.
  auto cond_it = std::find(roles.begin(), roles.end(), PassRole::Cond);
  if (random_.count > 0) {
    at::Tensor& r = last_values_[static_cast<size_t>(l)];
    if (!r.defined()) {  // drawn once per layer, on the CPU, so a seed gives the same directions on any device
      at::Generator gen = at::detail::createCPUGenerator(random_.seed * 1000003ULL + static_cast<uint64_t>(p.layer));
      r = at::randn({static_cast<int64_t>(random_.count), z_all.size(2)}, gen, at::TensorOptions().dtype(at::kFloat));
      r = (r / at::linalg_vector_norm(r, 2, {1}, true)).to(z_all.device());
    }
  } else if (!fixed_.empty()) {
    at::Tensor& r = last_values_[static_cast<size_t>(l)];
    if (!r.defined()) {
      const at::Tensor& d = fixed_[static_cast<size_t>(p.layer)];
      if (d.size(1) != z_all.size(2))
        fail("similarity capture", "layer " + std::to_string(p.layer) + ": given directions have width " +
                                       std::to_string(d.size(1)) + ", the visual state " + std::to_string(z_all.size(2)));
      at::Tensor v = d.to(z_all.device(), at::kFloat);
      r = v / at::linalg_vector_norm(v, 2, {1}, true).clamp_min(1e-12);
    }
  } else if (cond_it != roles.end()) {
    const int64_t b = cond_it - roles.begin();
    const at::Tensor tv = p.text_v[b];  // [text_len, dim]
    if (max_token_ >= tv.size(0))
      fail("similarity capture", "keyword token index beyond the " + std::to_string(tv.size(0)) + " text rows");
    if (token_index_.device() != tv.device()) {  // first forward on an accelerator: move the small tables once
      token_index_ = token_index_.to(tv.device());
      token_mean_ = token_mean_.to(tv.device());
    }
    at::Tensor rows = tv.index_select(0, token_index_).to(at::kFloat);  // [T, dim]
    at::Tensor v = at::mm(token_mean_, rows);                             // [K, dim]
    last_values_[static_cast<size_t>(l)] = v / at::linalg_vector_norm(v, 2, {1}, true).clamp_min(1e-12);
  }
  const at::Tensor& vn = last_values_[static_cast<size_t>(l)];
  if (!vn.defined())
    fail("similarity capture", "layer " + std::to_string(p.layer) +
                                   ": unconditional pass without a conditional one to take the keyword values from");

  // Rows to store, in one product: cos[b, token, k] = (z_b(token) . V_k) / |z_b(token)|.
  std::vector<int64_t> rows;
  std::vector<int> slots;
  for (size_t b = 0; b < roles.size(); ++b) {
    const int ps = layout_.pass_slot(roles[b]);
    if (ps >= 0 && !filled_[static_cast<size_t>(offset(s, ps, l))]) {
      rows.push_back(static_cast<int64_t>(b));
      slots.push_back(ps);
    }
  }
  if (rows.empty()) return;
  at::Tensor z = static_cast<size_t>(rows.size()) == roles.size()
                     ? z_all
                     : z_all.index_select(0, at::tensor(rows, at::TensorOptions().dtype(at::kLong)).to(z_all.device()));
  z = z.to(at::kFloat);
  at::Tensor dots = at::matmul(z, vn.t());                                           // [b, tokens, K]
  at::Tensor cos = dots / at::linalg_vector_norm(z, 2, {2}, true).clamp_min(1e-12);  // [b, tokens, K]
  for (size_t i = 0; i < rows.size(); ++i) {
    // copy_ transposes to [K, tokens], rounds to fp16 and (on an accelerator) brings the map to the CPU.
    buffer_.select(0, s).select(0, slots[i]).select(0, l).copy_(cos[static_cast<int64_t>(i)].t());
    filled_[static_cast<size_t>(offset(s, slots[i], l))] = 1;
    ++written_[static_cast<size_t>(s)];
  }
  const int per_step = static_cast<int>(layout_.passes.size() * layout_.layers.size());
  if (written_[static_cast<size_t>(s)] == per_step && s + 1 > ready_.load(std::memory_order_relaxed)) publish(s + 1);
}

void SimilarityCapture::publish(int ready) {
  ready = std::min(ready, static_cast<int>(layout_.steps.size()));
  if (ready > ready_.load(std::memory_order_relaxed)) ready_.store(ready, std::memory_order_release);
}

void SimilarityCapture::finish() {
  if (highest_touched_ >= 0) publish(highest_touched_ + 1);
}

void SimilarityCapture::check_slots(int s, int p, int l, int k) const {
  const int ready = ready_steps();
  if (s < 0 || s >= ready)
    fail("similarity capture", "step slot " + std::to_string(s) + " is not ready (" + std::to_string(ready) + " ready)");
  if (p < 0 || p >= static_cast<int>(layout_.passes.size()) || l < 0 || l >= static_cast<int>(layout_.layers.size()) ||
      k < -1 || k >= layout_.keywords)
    fail("similarity capture", "map index out of range");
}

bool SimilarityCapture::filled(int s, int p, int l) const {
  check_slots(s, p, l, -1);
  return filled_[static_cast<size_t>(offset(s, p, l))] != 0;
}

const c10::Half* SimilarityCapture::map_data(int s, int p, int l, int k) const {
  check_slots(s, p, l, k);
  if (k < 0) fail("similarity capture", "keyword index out of range");
  const int64_t n = layout_.map_elems();
  return buffer_.data_ptr<c10::Half>() + (offset(s, p, l) * layout_.keywords + k) * n;
}

void SimilarityCapture::copy_map(int s, int p, int l, int k, float* out) const {
  const c10::Half* src = map_data(s, p, l, k);
  const int64_t n = layout_.map_elems();
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(src[i]);
}

std::vector<float> SimilarityCapture::map(int s, int p, int l, int k) const {
  std::vector<float> out(static_cast<size_t>(layout_.map_elems()));
  copy_map(s, p, l, k, out.data());
  return out;
}

at::Tensor SimilarityCapture::maps() const {
  const auto& g = layout_.grid;
  return buffer_.view({buffer_.size(0), buffer_.size(1), buffer_.size(2), buffer_.size(3), g[0], g[1], g[2]});
}

}  // namespace focalscope
