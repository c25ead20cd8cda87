#include "engine/text/umt5.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <regex>

#include "engine/core/error.h"
#include "engine/core/json_io.h"
#include "engine/core/safetensors.h"

namespace focalscope {

// ---- config ---------------------------------------------------------------------------
UMT5Config UMT5Config::umt5_xxl() {
  UMT5Config c;  // the defaults are umt5-xxl
  return c;
}

UMT5Config UMT5Config::from_json(const nlohmann::json& a, const std::string& where) {
  if (!a.is_object()) fail(where, "umT5 constructor_args is not a JSON object");
  UMT5Config c;
  auto get_int = [&](const char* key) -> int64_t {
    if (!a.contains(key)) fail(where, std::string("umT5 config has no \"") + key + "\"");
    const auto& v = a.at(key);
    if (!v.is_number_integer()) fail(where, std::string("umT5 config \"") + key + "\" is not an integer");
    return v.get<int64_t>();
  };
  c.vocab = get_int("vocab");
  c.dim = get_int("dim");
  c.dim_attn = get_int("dim_attn");
  c.dim_ffn = get_int("dim_ffn");
  c.num_heads = get_int("num_heads");
  c.num_layers = get_int("num_layers");
  c.num_buckets = get_int("num_buckets");
  if (!a.contains("shared_pos") || !a.at("shared_pos").is_boolean())
    fail(where, "umT5 config has no boolean \"shared_pos\"");
  c.shared_pos = a.at("shared_pos").get<bool>();
  c.validate(where);
  return c;
}

nlohmann::json UMT5Config::to_json() const {
  return {{"vocab", vocab},           {"dim", dim},
          {"dim_attn", dim_attn},     {"dim_ffn", dim_ffn},
          {"num_heads", num_heads},   {"num_layers", num_layers},
          {"num_buckets", num_buckets}, {"shared_pos", shared_pos}};
}

void UMT5Config::validate(const std::string& where) const {
  auto pos = [&](int64_t v, const char* n) {
    if (v <= 0) fail(where, std::string("umT5 ") + n + " must be positive, got " + std::to_string(v));
  };
  pos(vocab, "vocab");
  pos(dim, "dim");
  pos(dim_attn, "dim_attn");
  pos(dim_ffn, "dim_ffn");
  pos(num_heads, "num_heads");
  pos(num_layers, "num_layers");
  if (dim_attn % num_heads != 0)
    fail(where, "umT5 dim_attn " + std::to_string(dim_attn) + " is not divisible by num_heads " + std::to_string(num_heads));
  if (num_buckets < 4 || num_buckets % 2 != 0)
    fail(where, "umT5 num_buckets must be even and >= 4, got " + std::to_string(num_buckets));
  if (max_distance <= num_buckets / 4)
    fail(where, "umT5 max_distance " + std::to_string(max_distance) + " must exceed num_buckets/4");
}

UMT5Config UMT5Config::infer(const TensorSet& ws) {
  const std::string& where = ws.origin;
  auto shape = [&](const std::string& n) {
    if (!ws.has(n)) fail(where, "umT5 tensor '" + n + "' is missing (not a umT5 encoder checkpoint?)");
    return ws.get(n).sizes().vec();
  };
  auto want_rank = [&](const std::string& n, size_t r) {
    auto s = shape(n);
    if (s.size() != r) fail(ws.source(n), "umT5 tensor '" + n + "' has shape " + shape_str(s) + ", expected rank " + std::to_string(r));
    return s;
  };
  UMT5Config c;
  auto emb = want_rank("token_embedding.weight", 2);
  c.vocab = emb[0];
  c.dim = emb[1];
  int64_t n = 0;
  while (ws.has("blocks." + std::to_string(n) + ".norm1.weight")) ++n;
  if (n == 0) fail(where, "umT5 checkpoint has no 'blocks.0.norm1.weight' (no encoder blocks)");
  c.num_layers = n;
  c.dim_attn = want_rank("blocks.0.attn.q.weight", 2)[0];
  c.dim_ffn = want_rank("blocks.0.ffn.fc1.weight", 2)[0];
  c.shared_pos = ws.has("pos_embedding.embedding.weight");
  auto pe = want_rank(c.shared_pos ? "pos_embedding.embedding.weight" : "blocks.0.pos_embedding.embedding.weight", 2);
  c.num_buckets = pe[0];
  c.num_heads = pe[1];
  c.validate(where);
  return c;
}

// ---- building blocks ----------------------------------------------------------------------
at::Tensor umt5_relative_buckets(int64_t lq, int64_t lk, int64_t num_buckets, int64_t max_distance) {
  if (lq <= 0 || lk <= 0) fail("umT5", "relative buckets need positive lengths, got " + std::to_string(lq) + "x" + std::to_string(lk));
  // Always on CPU in float32, exactly as upstream evaluates it (bucket edges depend on float rounding).
  auto opts = at::TensorOptions().dtype(at::kLong);
  at::Tensor rel = at::arange(lk, opts).unsqueeze(0) - at::arange(lq, opts).unsqueeze(1);  // key - query
  const int64_t half = num_buckets / 2;
  at::Tensor buckets = rel.gt(0).to(at::kLong) * half;
  at::Tensor r = rel.abs();
  const int64_t max_exact = half / 2;
  at::Tensor rf = r.clamp_min(1).to(at::kFloat);  // r < max_exact takes the exact branch; avoid log(0)
  at::Tensor large = (at::log(rf / static_cast<double>(max_exact)) /
                      std::log(static_cast<double>(max_distance) / static_cast<double>(max_exact)) *
                      static_cast<double>(half - max_exact))
                         .to(at::kLong) +
                     max_exact;
  large = at::clamp_max(large, half - 1);
  return buckets + at::where(r.lt(max_exact), r, large);
}

at::Tensor umt5_position_bias(const at::Tensor& embedding, int64_t lq, int64_t lk, int64_t max_distance) {
  if (!embedding.defined() || embedding.dim() != 2) fail("umT5", "position embedding must be [num_buckets, heads]");
  at::Tensor b = umt5_relative_buckets(lq, lk, embedding.size(0), max_distance).to(embedding.device());
  return at::embedding(embedding, b).permute({2, 0, 1}).unsqueeze(0);  // [1, H, lq, lk]
}

at::Tensor umt5_rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  at::Tensor y = x * at::rsqrt(x.to(at::kFloat).pow(2).mean({-1}, /*keepdim=*/true) + eps);
  if (weight.scalar_type() == at::kHalf || weight.scalar_type() == at::kBFloat16) y = y.to(weight.scalar_type());
  return weight * y;
}

at::Tensor umt5_gelu_tanh(const at::Tensor& x) {
  const double k = std::sqrt(2.0 / 3.14159265358979323846);
  return 0.5 * x * (1.0 + at::tanh(k * (x + 0.044715 * at::pow(x, 3.0))));
}

namespace {

double lowest_of(c10::ScalarType t) {
  switch (t) {
    case at::kDouble: return std::numeric_limits<double>::lowest();
    case at::kFloat: return std::numeric_limits<float>::lowest();
    case at::kHalf: return -65504.0;
    case at::kBFloat16: return -3.3895313892515355e38;
    default: fail("umT5", std::string("unsupported compute dtype ") + c10::toString(t));
  }
}

at::Tensor fp16_clamp(const at::Tensor& x) {
  if (x.scalar_type() != at::kHalf) return x;
  if (!at::isinf(x).any().item<bool>()) return x;
  const double c = 65504.0 - 1000.0;
  return at::clamp(x, -c, c);
}

std::string block_key(size_t i, const std::string& rest) { return "blocks." + std::to_string(i) + "." + rest; }

// The first sum(mask) rows of each prompt (upstream's trimming), checking the mask is right-padded.
std::vector<at::Tensor> trim_rows(const at::Tensor& out, const at::Tensor& mask) {
  at::Tensor m = mask.to(at::kCPU).ne(0);
  std::vector<at::Tensor> res;
  for (int64_t b = 0; b < m.size(0); ++b) {
    const int64_t n = m[b].sum().item<int64_t>();
    if (n < m.size(1) && m[b].slice(0, n).any().item<bool>())
      fail("umT5 input", "mask of prompt " + std::to_string(b) + " is not right-padded (ones then zeros)");
    res.push_back(out[b].slice(0, 0, n));
  }
  return res;
}

}  // namespace

// ---- loading / init ------------------------------------------------------------------------
UMT5Encoder UMT5Encoder::load(const TensorSet& ws, const UMT5Config& cfg, c10::ScalarType dtype, c10::Device device) {
  cfg.validate(ws.origin);
  if (!at::isFloatingType(dtype)) fail(ws.origin, std::string("umT5 compute dtype must be floating, got ") + c10::toString(dtype));
  WeightLoader L(ws, "umT5", dtype, device);
  UMT5Encoder m;
  m.config = cfg;
  const int64_t D = cfg.dim, A = cfg.dim_attn, F = cfg.dim_ffn;
  m.w.token_embedding = L.take("token_embedding.weight", {cfg.vocab, D});
  if (cfg.shared_pos) m.w.pos_embedding = L.take("pos_embedding.embedding.weight", {cfg.num_buckets, cfg.num_heads});
  for (int64_t i = 0; i < cfg.num_layers; ++i) {
    UMT5Block b;
    b.norm1 = L.take(block_key(i, "norm1.weight"), {D});
    b.q = L.take(block_key(i, "attn.q.weight"), {A, D});
    b.k = L.take(block_key(i, "attn.k.weight"), {A, D});
    b.v = L.take(block_key(i, "attn.v.weight"), {A, D});
    b.o = L.take(block_key(i, "attn.o.weight"), {D, A});
    b.norm2 = L.take(block_key(i, "norm2.weight"), {D});
    b.gate = L.take(block_key(i, "ffn.gate.0.weight"), {F, D});
    b.fc1 = L.take(block_key(i, "ffn.fc1.weight"), {F, D});
    b.fc2 = L.take(block_key(i, "ffn.fc2.weight"), {D, F});
    if (!cfg.shared_pos) b.pos_embedding = L.take(block_key(i, "pos_embedding.embedding.weight"), {cfg.num_buckets, cfg.num_heads});
    m.w.blocks.push_back(std::move(b));
  }
  m.w.norm = L.take("norm.weight", {D});
  L.finish();
  return m;
}

UMT5Encoder UMT5Encoder::load(const TensorSet& ws, c10::ScalarType dtype, c10::Device device) {
  return load(ws, UMT5Config::infer(ws), dtype, device);
}

UMT5Encoder UMT5Encoder::load_file(const std::string& path, c10::ScalarType dtype, c10::Device device) {
  TensorSet ws = load_tensor_file(path);
  const std::string ext = std::filesystem::path(path).extension().string();
  if (ext == ".safetensors") {
    auto f = SafetensorsFile::open(path);
    auto it = f->metadata().find("umt5_config");
    if (it != f->metadata().end()) {
      JsonReadOptions jo;
      jo.subject = "metadata 'umt5_config'";
      const nlohmann::json j = parse_json_text(it->second, path, jo);
      return load(ws, naming_file(path, [&] { return UMT5Config::from_json(j, path); }), dtype, device);
    }
  }
  return load(ws, dtype, device);
}

UMT5Encoder UMT5Encoder::random(const UMT5Config& cfg, uint64_t seed, c10::ScalarType dtype, c10::Device device) {
  cfg.validate();
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto opts = at::TensorOptions().dtype(at::kFloat);
  auto normal = [&](std::vector<int64_t> shape, double std) {
    return at::normal(0.0, std, shape, gen, opts).to(device, dtype).contiguous();
  };
  auto ones = [&](int64_t n) { return at::ones({n}, opts).to(device, dtype); };
  const double D = static_cast<double>(cfg.dim), A = static_cast<double>(cfg.dim_attn), F = static_cast<double>(cfg.dim_ffn);
  const double pos_std = 1.0 / std::sqrt(2.0 * cfg.num_buckets * cfg.num_heads);
  UMT5Encoder m;
  m.config = cfg;
  m.w.token_embedding = normal({cfg.vocab, cfg.dim}, 1.0);
  if (cfg.shared_pos) m.w.pos_embedding = normal({cfg.num_buckets, cfg.num_heads}, pos_std);
  for (int64_t i = 0; i < cfg.num_layers; ++i) {
    UMT5Block b;
    b.norm1 = ones(cfg.dim);
    b.q = normal({cfg.dim_attn, cfg.dim}, 1.0 / std::sqrt(D * A));  // no 1/sqrt(d) in attention: small q
    b.k = normal({cfg.dim_attn, cfg.dim}, 1.0 / std::sqrt(D));
    b.v = normal({cfg.dim_attn, cfg.dim}, 1.0 / std::sqrt(D));
    b.o = normal({cfg.dim, cfg.dim_attn}, 1.0 / std::sqrt(static_cast<double>(cfg.num_heads) * A));
    b.norm2 = ones(cfg.dim);
    b.gate = normal({cfg.dim_ffn, cfg.dim}, 1.0 / std::sqrt(D));
    b.fc1 = normal({cfg.dim_ffn, cfg.dim}, 1.0 / std::sqrt(D));
    b.fc2 = normal({cfg.dim, cfg.dim_ffn}, 1.0 / std::sqrt(F));
    if (!cfg.shared_pos) b.pos_embedding = normal({cfg.num_buckets, cfg.num_heads}, pos_std);
    m.w.blocks.push_back(std::move(b));
  }
  m.w.norm = ones(cfg.dim);
  return m;
}

NamedTensors UMT5Encoder::named_parameters() const {
  NamedTensors out;
  out.emplace_back("token_embedding.weight", w.token_embedding);
  if (config.shared_pos) out.emplace_back("pos_embedding.embedding.weight", w.pos_embedding);
  for (size_t i = 0; i < w.blocks.size(); ++i) {
    const auto& b = w.blocks[i];
    out.emplace_back(block_key(i, "norm1.weight"), b.norm1);
    out.emplace_back(block_key(i, "attn.q.weight"), b.q);
    out.emplace_back(block_key(i, "attn.k.weight"), b.k);
    out.emplace_back(block_key(i, "attn.v.weight"), b.v);
    out.emplace_back(block_key(i, "attn.o.weight"), b.o);
    out.emplace_back(block_key(i, "norm2.weight"), b.norm2);
    out.emplace_back(block_key(i, "ffn.gate.0.weight"), b.gate);
    out.emplace_back(block_key(i, "ffn.fc1.weight"), b.fc1);
    out.emplace_back(block_key(i, "ffn.fc2.weight"), b.fc2);
    if (!config.shared_pos) out.emplace_back(block_key(i, "pos_embedding.embedding.weight"), b.pos_embedding);
  }
  out.emplace_back("norm.weight", w.norm);
  return out;
}

void UMT5Encoder::save(const std::string& path) const {
  NamedTensors ps;
  for (auto& [n, t] : named_parameters()) ps.emplace_back(n, t.detach());
  save_safetensors(path, ps, {{"format", "pt"}, {"umt5_config", config.to_json().dump()}});
}

// ---- forward --------------------------------------------------------------------------------
at::Tensor UMT5Encoder::position_bias(int64_t layer, int64_t lq, int64_t lk) const {
  const at::Tensor* emb = nullptr;
  if (config.shared_pos) {
    emb = &w.pos_embedding;
  } else {
    if (layer < 0 || layer >= static_cast<int64_t>(w.blocks.size()))
      fail("umT5", "no block " + std::to_string(layer) + " (the encoder has " + std::to_string(w.blocks.size()) + ")");
    emb = &w.blocks[layer].pos_embedding;
  }
  return umt5_position_bias(*emb, lq, lk, config.max_distance);
}

at::Tensor UMT5Encoder::forward(const at::Tensor& ids_in, const at::Tensor& mask_in, std::vector<at::Tensor>* block_outs) const {
  if (!w.token_embedding.defined()) fail("umT5", "encoder has no weights (load() or random() first)");
  if (!ids_in.defined() || ids_in.dim() != 2)
    fail("umT5 input", "token ids must be [batch, length], got " + (ids_in.defined() ? shape_str(ids_in.sizes()) : std::string("nothing")));
  if (at::isFloatingType(ids_in.scalar_type()) || ids_in.scalar_type() == at::kBool)
    fail("umT5 input", std::string("token ids must be integers, got ") + c10::toString(ids_in.scalar_type()));
  if (!mask_in.defined() || mask_in.sizes() != ids_in.sizes())
    fail("umT5 input", "mask shape " + (mask_in.defined() ? shape_str(mask_in.sizes()) : std::string("(none)")) +
                           " does not match ids " + shape_str(ids_in.sizes()));
  const int64_t B = ids_in.size(0), L = ids_in.size(1);
  if (B == 0 || L == 0) fail("umT5 input", "empty batch " + shape_str(ids_in.sizes()));
  const int64_t lo = ids_in.min().item<int64_t>(), hi = ids_in.max().item<int64_t>();
  if (lo < 0 || hi >= config.vocab)
    fail("umT5 input", "token id " + std::to_string(lo < 0 ? lo : hi) + " is outside the vocabulary (size " +
                           std::to_string(config.vocab) + ")");

  const auto dev = device();
  const auto dt = dtype();
  at::Tensor ids = ids_in.to(dev, at::kLong);
  at::Tensor keep = mask_in.to(dev).ne(0).view({B, 1, 1, L});  // keys to attend to
  const int64_t H = config.num_heads, Dh = config.head_dim();

  at::Tensor x = at::embedding(w.token_embedding, ids);  // [B, L, dim]
  at::Tensor shared_bias;
  if (config.shared_pos) shared_bias = umt5_position_bias(w.pos_embedding, L, L, config.max_distance);
  if (block_outs) block_outs->clear();

  for (const auto& b : w.blocks) {
    // self-attention
    at::Tensor h = umt5_rms_norm(x, b.norm1, config.eps);
    at::Tensor q = at::linear(h, b.q).view({B, L, H, Dh}).transpose(1, 2);  // [B, H, L, Dh]
    at::Tensor k = at::linear(h, b.k).view({B, L, H, Dh}).transpose(1, 2);
    at::Tensor v = at::linear(h, b.v).view({B, L, H, Dh}).transpose(1, 2);
    at::Tensor pos = config.shared_pos ? shared_bias : umt5_position_bias(b.pos_embedding, L, L, config.max_distance);
    at::Tensor bias = pos.expand({B, H, L, L}).masked_fill(keep.logical_not(), lowest_of(dt));
    at::Tensor logits = at::matmul(q, k.transpose(-1, -2)) + bias;  // no 1/sqrt(d)
    at::Tensor attn = at::softmax(logits.to(at::kFloat), -1).to(dt);
    at::Tensor a = at::matmul(attn, v).transpose(1, 2).reshape({B, L, H * Dh});
    x = fp16_clamp(x + at::linear(a, b.o));
    // gated-GELU feed-forward
    h = umt5_rms_norm(x, b.norm2, config.eps);
    at::Tensor f = at::linear(h, b.fc1) * umt5_gelu_tanh(at::linear(h, b.gate));
    x = fp16_clamp(x + at::linear(f, b.fc2));
    if (block_outs) block_outs->push_back(x);
  }
  return umt5_rms_norm(x, w.norm, config.eps);
}

std::vector<at::Tensor> UMT5Encoder::encode_trimmed(const at::Tensor& ids, const at::Tensor& mask) const {
  // Upstream keeps the first sum(mask) rows: only right padding makes those the real tokens (checked).
  return trim_rows(forward(ids, mask), mask);
}

// ---- fixture runner ---------------------------------------------------------------------------
FixtureResult run_umt5_fixture(const Fixture& fx) {
  const std::string cfg_where = fx.dir + "/config.json";
  if (!fx.config.contains("constructor_args")) fail(cfg_where, "no \"constructor_args\"");
  const UMT5Config cfg = UMT5Config::from_json(fx.config.at("constructor_args"), cfg_where);
  if (fx.weights.empty()) fail(fx.dir + "/weights.safetensors", "missing (the umT5 fixture needs weights)");
  const UMT5Encoder enc = UMT5Encoder::load(fx.weights, cfg, fx.target.dtype, fx.target.device);

  FixtureResult r;
  struct Run { at::Tensor out; std::vector<at::Tensor> blocks; std::vector<at::Tensor> trimmed; };
  std::map<std::string, Run> runs;  // by suffix
  for (const auto& name : fx.io.names()) {
    if (name.rfind("ids", 0) == 0) {
      const std::string suffix = name.substr(3);
      if (!fx.io.has("mask" + suffix)) fail(fx.dir + "/io.safetensors", "input '" + name + "' has no 'mask" + suffix + "'");
      r.inputs.insert(name);
      r.inputs.insert("mask" + suffix);
      Run run;
      run.out = enc.forward(fx.in_target(name), fx.in_target("mask" + suffix), &run.blocks);
      run.trimmed = trim_rows(run.out, fx.in_target("mask" + suffix));
      runs[suffix] = std::move(run);
    } else if (name.rfind("mask", 0) == 0) {
      r.inputs.insert(name);
    }
  }
  if (runs.empty()) fail(fx.dir + "/io.safetensors", "no 'ids*' input tensors");

  static const std::regex re_out("out(.*?)(_trimmed)?");
  static const std::regex re_block("block([0-9]+)_out(.*)");
  static const std::regex re_bias("(?:block([0-9]+)_)?pos_bias(.*)");
  static const std::regex re_buckets("rel_buckets(.*)");
  auto run_for = [&](const std::string& name, const std::string& suffix) -> const Run& {
    auto it = runs.find(suffix);
    if (it == runs.end()) fail(fx.dir + "/io.safetensors", "output '" + name + "' has no matching input 'ids" + suffix + "'");
    return it->second;
  };
  for (const auto& name : fx.io.names()) {
    if (r.inputs.count(name)) continue;
    const at::Tensor& ref = fx.in(name);
    std::smatch m;
    if (std::regex_match(name, m, re_out)) {
      const Run& run = run_for(name, m[1].str());
      r.outputs.emplace_back(name, m[2].matched ? at::cat(run.trimmed, 0) : run.out);
    } else if (std::regex_match(name, m, re_block)) {
      const Run& run = run_for(name, m[2].str());
      const size_t i = std::stoul(m[1].str());
      if (i >= run.blocks.size()) fail(fx.dir + "/io.safetensors", "'" + name + "': the encoder has only " + std::to_string(run.blocks.size()) + " blocks");
      r.outputs.emplace_back(name, run.blocks[i]);
    } else if (std::regex_match(name, m, re_bias)) {
      if (ref.dim() != 4) fail(fx.dir + "/io.safetensors", "'" + name + "' is not [1, heads, lq, lk]");
      const int64_t layer = m[1].matched ? std::stoll(m[1].str()) : 0;
      r.outputs.emplace_back(name, enc.position_bias(layer, ref.size(2), ref.size(3)));
    } else if (std::regex_match(name, m, re_buckets)) {
      if (ref.dim() != 2) fail(fx.dir + "/io.safetensors", "'" + name + "' is not [lq, lk]");
      r.outputs.emplace_back(name, umt5_relative_buckets(ref.size(0), ref.size(1), cfg.num_buckets, cfg.max_distance));
    } else {
      fail(fx.dir + "/io.safetensors", "tensor '" + name + "' is neither an input nor an output this umT5 runner knows");
    }
  }
  return r;
}

}  // namespace focalscope
