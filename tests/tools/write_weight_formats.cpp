// write_weight_formats FIXTURE_WEIGHTS OUT_DIR: writes a Wan DiT (the tiny reference fixture's float32
// weights.safetensors) in every checkpoint format FocalScope reads, plus, per format, "<name>.expected.safetensors":
// the float32 values each weight must decode to (official Wan names). Also (issue 27, part 2) the sibling fixtures'
// umT5 / CLIP vision / VAE in the Hugging Face / ComfyUI / diffusers layouts, a ComfyUI models folder and a diffusers
// pipeline folder of the whole set, and LoRAs in the kohya / ComfyUI / diffusers-PEFT key formats with the merged
// weights they must give (sources: transformers modeling_t5 / modeling_clip names as ComfyUI's comfy/text_encoders/t5.py
// and comfy/clip_model.py spell them; diffusers scripts/convert_wan_to_diffusers.py convert_vae; comfy/lora.py and
// comfy/weight_adapter/lora.py; diffusers loaders/lora_conversion_utils.py for the Wan LoRA key spellings).
//
// Written from the formats' documents, not from FocalScope's loaders: this file shares no code with engine/
// (its own safetensors / GGUF writers, its own float -> bf16 / fp16 / fp8 rounding and its own ggml quantisers), so a
// loader bug cannot be mirrored here. Sources: safetensors format spec (huggingface/safetensors README); fp8 e4m3fn /
// e5m2 (OCP 8-bit floating point spec: torch.float8_*); ComfyUI's checkpoint conventions (comfy/utils.py
// convert_old_quants, comfy/ops.py, comfy/quant_ops.py QUANT_ALGOS); diffusers' scripts/convert_wan_to_diffusers.py
// (TRANSFORMER_KEYS_RENAME_DICT, applied as that script does: sequential substring replacement); GGUF (ggml
// docs/gguf.md) and ggml's block formats (ggml-common.h block_* structs, ggml-quants.c dequantize_row_*), city96's
// ComfyUI-GGUF conventions (comfy.gguf.orig_shape.* for reshaped tensors; the 5-D patch embedding kept as F32).
//
// The quantisers are simple (min/max per block, round to nearest), not ggml's searches: the loader must decode
// whatever codes a file holds, and the expected values follow the formats' decode formulas.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using Shape = std::vector<int64_t>;
struct T {
  std::string name;
  Shape shape;
  std::vector<float> v;  // float32 values
};

[[noreturn]] void die(const std::string& m) { throw std::runtime_error(m); }
int64_t numel(const Shape& s) {
  int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

// ---- safetensors (u64 LE header length, JSON header, data) ---------------------------------------------------
std::vector<T> read_f32_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) die("cannot open " + path);
  std::vector<char> all((std::istreambuf_iterator<char>(in)), {});
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(all[i]);
  auto h = nlohmann::json::parse(all.begin() + 8, all.begin() + 8 + static_cast<long>(n));
  std::vector<T> out;
  for (auto it = h.begin(); it != h.end(); ++it) {
    if (it.key() == "__metadata__") continue;
    if ((*it)["dtype"] != "F32") die(it.key() + " is not F32");
    T t{it.key(), (*it)["shape"].get<Shape>(), {}};
    const uint64_t b = (*it)["data_offsets"][0], e = (*it)["data_offsets"][1];
    t.v.resize((e - b) / 4);
    std::memcpy(t.v.data(), all.data() + 8 + n + b, e - b);
    out.push_back(std::move(t));
  }
  std::sort(out.begin(), out.end(), [](const T& a, const T& b) { return a.name < b.name; });
  return out;
}

struct Blob {
  std::string name, dtype;
  Shape shape;
  std::vector<uint8_t> bytes;
};

void write_safetensors(const std::string& path, const std::vector<Blob>& blobs, const std::map<std::string, std::string>& meta = {}) {
  nlohmann::ordered_json h;
  if (!meta.empty()) h["__metadata__"] = meta;
  uint64_t off = 0;
  for (const auto& b : blobs) {
    h[b.name] = {{"dtype", b.dtype}, {"shape", b.shape}, {"data_offsets", {off, off + b.bytes.size()}}};
    off += b.bytes.size();
  }
  std::string s = h.dump();
  while (s.size() % 8) s.push_back(' ');
  std::ofstream out(path, std::ios::binary);
  uint64_t n = s.size();
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((n >> (8 * i)) & 0xff));
  out << s;
  for (const auto& b : blobs) out.write(reinterpret_cast<const char*>(b.bytes.data()), static_cast<long>(b.bytes.size()));
  if (!out) die("cannot write " + path);
}

template <class X>
void put(std::vector<uint8_t>& b, X x) {
  const auto* p = reinterpret_cast<const uint8_t*>(&x);
  b.insert(b.end(), p, p + sizeof(X));
}
Blob f32_blob(const std::string& name, const Shape& shape, const std::vector<float>& v) {
  Blob b{name, "F32", shape, {}};
  for (float x : v) put(b.bytes, x);
  return b;
}

// ---- rounding to narrow floats ----------------------------------------------------------------------------------
// A narrow format as the ascending list of its non-negative finite values, code c <-> value vals[c]; encoding picks
// the nearest value, ties to the even code (round-to-nearest-even), beyond the largest value it saturates (the
// fixture's weights stay far inside every range, so saturation never decides a test).
struct Narrow {
  std::vector<double> vals;
  int sign_bit;
  uint32_t encode(float x) const {
    const double a = std::fabs(static_cast<double>(x));
    auto it = std::lower_bound(vals.begin(), vals.end(), a);
    uint32_t c;
    if (it == vals.end()) c = static_cast<uint32_t>(vals.size() - 1);
    else if (it == vals.begin()) c = 0;
    else {
      const uint32_t hi = static_cast<uint32_t>(it - vals.begin()), lo = hi - 1;
      const double dlo = a - vals[lo], dhi = vals[hi] - a;
      c = dlo < dhi ? lo : dhi < dlo ? hi : (lo % 2 == 0 ? lo : hi);
    }
    return std::signbit(x) ? (c | (1u << sign_bit)) : c;
  }
  double value(uint32_t c) const { return (c >> sign_bit) & 1 ? -vals[c & ((1u << sign_bit) - 1)] : vals[c]; }
};
// e exponent bits, m mantissa bits, bias; `top` the number of non-negative finite codes.
Narrow make_narrow(int e, int m, int bias, uint32_t top) {
  Narrow n;
  n.sign_bit = e + m;
  for (uint32_t c = 0; c < top; ++c) {
    const uint32_t ex = c >> m, man = c & ((1u << m) - 1);
    n.vals.push_back(ex == 0 ? std::ldexp(double(man), 1 - bias - m) : std::ldexp(double((1u << m) + man), int(ex) - bias - m));
  }
  return n;
}
const Narrow& fp16() { static Narrow n = make_narrow(5, 10, 15, 0x7C00); return n; }   // IEEE half: 0x7C00 is Inf
const Narrow& e4m3() { static Narrow n = make_narrow(4, 3, 7, 0x7F); return n; }       // 0x7F is NaN in e4m3fn
const Narrow& e5m2() { static Narrow n = make_narrow(5, 2, 15, 0x7C); return n; }      // 0x7C is Inf in e5m2
uint16_t to_bf16(float x) {  // round-to-nearest-even on the upper 16 bits of the float32
  uint32_t u;
  std::memcpy(&u, &x, 4);
  return static_cast<uint16_t>((u + 0x7FFF + ((u >> 16) & 1)) >> 16);
}
float bf16_value(uint16_t b) {
  uint32_t u = uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
float f16r(float x) { return static_cast<float>(fp16().value(fp16().encode(x))); }  // x rounded through fp16

// ---- names ----------------------------------------------------------------------------------------------------
const std::string kComfyPrefix = "model.diffusion_model.";

// diffusers' TRANSFORMER_KEYS_RENAME_DICT, applied in its order by substring replacement, as the script does.
std::string to_diffusers(std::string k) {
  static const std::vector<std::pair<std::string, std::string>> rename = {
      {"time_embedding.0", "condition_embedder.time_embedder.linear_1"},
      {"time_embedding.2", "condition_embedder.time_embedder.linear_2"},
      {"text_embedding.0", "condition_embedder.text_embedder.linear_1"},
      {"text_embedding.2", "condition_embedder.text_embedder.linear_2"},
      {"time_projection.1", "condition_embedder.time_proj"},
      {"head.modulation", "scale_shift_table"},
      {"head.head", "proj_out"},
      {"modulation", "scale_shift_table"},
      {"ffn.0", "ffn.net.0.proj"},
      {"ffn.2", "ffn.net.2"},
      {"norm2", "norm__placeholder"},
      {"norm3", "norm2"},
      {"norm__placeholder", "norm3"},
      {"img_emb.proj.0", "condition_embedder.image_embedder.norm1"},
      {"img_emb.proj.1", "condition_embedder.image_embedder.ff.net.0.proj"},
      {"img_emb.proj.3", "condition_embedder.image_embedder.ff.net.2"},
      {"img_emb.proj.4", "condition_embedder.image_embedder.norm2"},
      {"img_emb.emb_pos", "condition_embedder.image_embedder.pos_embed"},
      {"self_attn.q", "attn1.to_q"},
      {"self_attn.k", "attn1.to_k"},
      {"self_attn.v", "attn1.to_v"},
      {"self_attn.o", "attn1.to_out.0"},
      {"self_attn.norm_q", "attn1.norm_q"},
      {"self_attn.norm_k", "attn1.norm_k"},
      {"cross_attn.q", "attn2.to_q"},
      {"cross_attn.k", "attn2.to_k"},
      {"cross_attn.v", "attn2.to_v"},
      {"cross_attn.o", "attn2.to_out.0"},
      {"cross_attn.norm_q", "attn2.norm_q"},
      {"cross_attn.norm_k", "attn2.norm_k"},
      {"attn2.to_k_img", "attn2.add_k_proj"},
      {"attn2.to_v_img", "attn2.add_v_proj"},
      {"attn2.norm_k_img", "attn2.norm_added_k"},
  };
  for (const auto& [from, to] : rename) {
    std::size_t p = 0;
    while ((p = k.find(from, p)) != std::string::npos) {
      k.replace(p, from.size(), to);
      p += to.size();
    }
  }
  return k;
}

// The Linear weights: what ComfyUI's fp8 files store in fp8 (its ops replace nn.Linear; the Conv3d patch embedding,
// norms, biases and modulation tables stay in higher precision).
bool is_linear_weight(const T& t) {
  return t.shape.size() == 2 && t.name.size() > 7 && t.name.compare(t.name.size() - 7, 7, ".weight") == 0 &&
         t.name != "token_embedding.weight";  // an nn.Embedding, kept in higher precision
}

// ---- ComfyUI single files -----------------------------------------------------------------------------------------
void write_plain(const std::string& dir, const std::string& name, const std::vector<T>& w, const std::string& dtype, const std::string& prefix) {
  std::vector<Blob> blobs, expected;
  for (const auto& t : w) {
    Blob b{prefix + t.name, dtype, t.shape, {}};
    std::vector<float> back;
    for (float x : t.v) {
      if (dtype == "F32") { put(b.bytes, x); back.push_back(x); }
      else if (dtype == "BF16") { uint16_t c = to_bf16(x); put(b.bytes, c); back.push_back(bf16_value(c)); }
      else { uint16_t c = static_cast<uint16_t>(fp16().encode(x)); put(b.bytes, c); back.push_back(static_cast<float>(fp16().value(c))); }
    }
    blobs.push_back(std::move(b));
    expected.push_back(f32_blob(t.name, t.shape, back));
  }
  // A full ComfyUI checkpoint also carries other components beside the DiT prefix: the loader must skip them.
  if (!prefix.empty()) blobs.push_back(f32_blob("text_encoders.umt5xxl.dummy.weight", {2}, {1.f, 2.f}));
  write_safetensors(dir + "/" + name + ".safetensors", blobs);
  write_safetensors(dir + "/" + name + ".expected.safetensors", expected);
}

enum class Scaling { None, Legacy, Metadata, ComfyQuantTensors };

// fp8 file: Linear weights as fp8 (e4m3fn or e5m2), the rest F32. Scaled variants store w / s with the per-tensor
// scale s = amax / fp8_max (float32) and decode as fp8 * s (one float32 rounding), per ComfyUI.
using Rename = std::string (*)(const std::string&);
std::string same_name(const std::string& n) { return n; }

// `stored` gives the name a tensor is written under (the expected file keeps Wan's names).
void write_fp8(const std::string& dir, const std::string& name, const std::vector<T>& w, bool e5, Scaling sc, const std::string& prefix,
               Rename stored = same_name) {
  const Narrow& nf = e5 ? e5m2() : e4m3();
  const float fmax = static_cast<float>(nf.vals.back());
  const std::string dt = e5 ? "F8_E5M2" : "F8_E4M3", fmt = e5 ? "float8_e5m2" : "float8_e4m3fn";
  std::vector<Blob> blobs, expected;
  nlohmann::ordered_json layers = nlohmann::ordered_json::object();
  if (sc == Scaling::Legacy) blobs.push_back({prefix + "scaled_fp8", dt, {0}, {}});  // the marker: empty, its dtype is the format
  for (const auto& t : w) {
    if (!is_linear_weight(t)) {
      blobs.push_back(f32_blob(prefix + stored(t.name), t.shape, t.v));
      expected.push_back(f32_blob(t.name, t.shape, t.v));
      continue;
    }
    float s = 1.0f;
    if (sc != Scaling::None) {
      float amax = 0;
      for (float x : t.v) amax = std::max(amax, std::fabs(x));
      s = amax / fmax;
    }
    Blob b{prefix + stored(t.name), dt, t.shape, {}};
    std::vector<float> back;
    for (float x : t.v) {
      const float q = sc == Scaling::None ? x : x / s;
      const uint32_t c = nf.encode(q);
      b.bytes.push_back(static_cast<uint8_t>(c));
      back.push_back(static_cast<float>(nf.value(c)) * s);  // exact fp8 value times the float32 scale: one rounding
    }
    blobs.push_back(std::move(b));
    expected.push_back(f32_blob(t.name, t.shape, back));
    const std::string sn = stored(t.name), layer = sn.substr(0, sn.size() - 7);
    if (sc == Scaling::Legacy) {
      blobs.push_back(f32_blob(prefix + layer + ".scale_weight", {}, {s}));
      blobs.push_back(f32_blob(prefix + layer + ".scale_input", {}, {1.0f}));
    } else if (sc == Scaling::Metadata || sc == Scaling::ComfyQuantTensors) {
      blobs.push_back(f32_blob(prefix + layer + ".weight_scale", {}, {s}));
      if (t.name.find("self_attn") != std::string::npos) blobs.push_back(f32_blob(prefix + layer + ".input_scale", {}, {0.5f}));
      if (sc == Scaling::Metadata) {
        layers[prefix + layer] = {{"format", fmt}};
      } else {
        const std::string j = nlohmann::json{{"format", fmt}}.dump();
        blobs.push_back({prefix + layer + ".comfy_quant", "U8", {static_cast<int64_t>(j.size())}, std::vector<uint8_t>(j.begin(), j.end())});
      }
    }
  }
  std::map<std::string, std::string> meta;
  if (sc == Scaling::Metadata) meta["_quantization_metadata"] = nlohmann::ordered_json{{"format_version", "1.0"}, {"layers", layers}}.dump();
  write_safetensors(dir + "/" + name + ".safetensors", blobs, meta);
  write_safetensors(dir + "/" + name + ".expected.safetensors", expected);
}

// diffusers pipeline folder: transformer/ with config.json, two shards and the index, float32.
void write_diffusers(const std::string& dir, const std::vector<T>& w) {
  namespace fs = std::filesystem;
  const std::string root = dir + "/diffusers", tr = root + "/transformer";
  fs::create_directories(tr);
  std::vector<Blob> a, b, expected;
  nlohmann::ordered_json wm = nlohmann::ordered_json::object();
  for (std::size_t i = 0; i < w.size(); ++i) {
    const std::string dn = to_diffusers(w[i].name);
    (i % 2 ? b : a).push_back(f32_blob(dn, w[i].shape, w[i].v));
    wm[dn] = i % 2 ? "diffusion_pytorch_model-00002-of-00002.safetensors" : "diffusion_pytorch_model-00001-of-00002.safetensors";
    expected.push_back(f32_blob(w[i].name, w[i].shape, w[i].v));
  }
  write_safetensors(tr + "/diffusion_pytorch_model-00001-of-00002.safetensors", a);
  write_safetensors(tr + "/diffusion_pytorch_model-00002-of-00002.safetensors", b);
  std::ofstream(tr + "/diffusion_pytorch_model.safetensors.index.json") << nlohmann::ordered_json{{"metadata", {{"total_size", 0}}}, {"weight_map", wm}}.dump(1);
  std::ofstream(tr + "/config.json") << R"({"_class_name": "WanTransformer3DModel", "added_kv_proj_dim": 96, "attention_head_dim": 32,
 "cross_attn_norm": true, "eps": 1e-06, "ffn_dim": 128, "freq_dim": 256, "image_dim": 1280, "in_channels": 36,
 "num_attention_heads": 3, "num_layers": 3, "out_channels": 16, "patch_size": [1, 2, 2], "qk_norm": "rms_norm_across_heads", "text_dim": 32})";
  std::ofstream(root + "/model_index.json") << R"({"_class_name": "WanImageToVideoPipeline", "transformer": ["diffusers", "WanTransformer3DModel"]})";
  write_safetensors(dir + "/diffusers.expected.safetensors", expected);
}

// ---- GGUF -------------------------------------------------------------------------------------------------------
// ggml types (ggml.h enum ggml_type) and block sizes (ggml-common.h).
enum : uint32_t { F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, BF16 = 30 };
int block_of(uint32_t t) { return t == F32 || t == F16 || t == BF16 ? 1 : t >= Q2_K && t <= Q6_K ? 256 : 32; }

void put_f16(std::vector<uint8_t>& b, float x) { put(b, static_cast<uint16_t>(fp16().encode(x))); }
int nearest(float x) { return static_cast<int>(std::lround(x)); }

// Each quantiser appends one block's bytes for x[0..block) and writes the values the format decodes them to.
void quant_q8_0(const float* x, std::vector<uint8_t>& b, float* y) {
  float amax = 0;
  for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[i]));
  const float d = f16r(amax / 127);
  put_f16(b, d);
  for (int i = 0; i < 32; ++i) {
    const int q = d ? std::clamp(nearest(x[i] / d), -127, 127) : 0;
    b.push_back(static_cast<uint8_t>(static_cast<int8_t>(q)));
    y[i] = static_cast<float>(q) * d;
  }
}
// Q4_0 / Q5_0: symmetric, x = d * (q - 2^(bits-1)); Q4_1 / Q5_1: x = d * q + m. Weight j of the block lives in
// the low nibble of byte j (j < 16) or the high nibble of byte j - 16; Q5's fifth bits in a u32, bit j for weight j.
void quant_legacy(const float* x, std::vector<uint8_t>& b, float* y, int bits, bool with_min) {
  const int top = (1 << bits) - 1, mid = 1 << (bits - 1);
  float mn = x[0], mx = x[0];
  for (int i = 0; i < 32; ++i) mn = std::min(mn, x[i]), mx = std::max(mx, x[i]);
  float d, m = 0;
  if (with_min) {
    d = f16r((mx - mn) / top);
    m = f16r(mn);
  } else {
    const float amax = std::max(std::fabs(mn), std::fabs(mx));
    d = f16r(amax / (mid - 1));
  }
  int q[32];
  for (int i = 0; i < 32; ++i) {
    if (with_min) q[i] = d ? std::clamp(nearest((x[i] - m) / d), 0, top) : 0;
    else q[i] = d ? std::clamp(nearest(x[i] / d) + mid, 0, top) : mid;
    y[i] = with_min ? static_cast<float>(q[i]) * d + m : static_cast<float>(q[i] - mid) * d;
  }
  put_f16(b, d);
  if (with_min) put_f16(b, m);
  if (bits == 5) {
    uint32_t qh = 0;
    for (int i = 0; i < 32; ++i) qh |= static_cast<uint32_t>((q[i] >> 4) & 1) << i;
    put(b, qh);
  }
  for (int j = 0; j < 16; ++j) b.push_back(static_cast<uint8_t>((q[j] & 0xF) | ((q[j + 16] & 0xF) << 4)));
}

// K-quants over a 256-weight super-block.
// Q2_K: 16 groups of 16; per group scale s and min m as 4-bit codes times the super-block d / dmin (fp16);
// x = (d * sc) * q - (dmin * mc), q in 0..3. Layout: scales[16] (sc | mc << 4), qs[64], d, dmin; the 2-bit codes of
// weights n*128 + j*32 + l (j = 0..3, l = 0..31) sit at bits 2j of qs[n*32 + l].
void quant_q2_k(const float* x, std::vector<uint8_t>& b, float* y) {
  float gs[16], gm[16];
  for (int g = 0; g < 16; ++g) {
    float mn = 0, mx = 0;
    for (int l = 0; l < 16; ++l) mn = std::min(mn, x[16 * g + l]), mx = std::max(mx, x[16 * g + l]);
    gs[g] = (mx - mn) / 3;
    gm[g] = -mn;
  }
  const float d = f16r(*std::max_element(gs, gs + 16) / 15), dmin = f16r(*std::max_element(gm, gm + 16) / 15);
  uint8_t scales[16], L[256];
  for (int g = 0; g < 16; ++g) {
    const int sc = d ? std::clamp(nearest(gs[g] / d), 0, 15) : 0, mc = dmin ? std::clamp(nearest(gm[g] / dmin), 0, 15) : 0;
    scales[g] = static_cast<uint8_t>(sc | (mc << 4));
    const float dl = d * static_cast<float>(sc), ml = dmin * static_cast<float>(mc);
    for (int l = 0; l < 16; ++l) {
      const int q = dl ? std::clamp(nearest((x[16 * g + l] + ml) / dl), 0, 3) : 0;
      L[16 * g + l] = static_cast<uint8_t>(q);
      y[16 * g + l] = dl * static_cast<float>(q) - ml;
    }
  }
  b.insert(b.end(), scales, scales + 16);
  for (int n = 0; n < 2; ++n)
    for (int l = 0; l < 32; ++l)
      b.push_back(static_cast<uint8_t>(L[n * 128 + l] | (L[n * 128 + 32 + l] << 2) | (L[n * 128 + 64 + l] << 4) | (L[n * 128 + 96 + l] << 6)));
  put_f16(b, d);
  put_f16(b, dmin);
}
// Q3_K: 16 groups of 16, signed 6-bit group scales sc (stored sc + 32; low 4 bits in bytes 0..7 — groups 0..7 low
// nibble, 8..15 high nibble — high 2 bits in byte 8 + g%4 at bits 2*(g/4)); x = (d * sc) * q, q in -4..3 stored as
// q + 4: low 2 bits in qs (same places as Q2_K), bit 2 in hmask[l] bit (g*16 + l) / 32 ... i.e. weight i's high bit is
// bit i/32 of hmask[i%32].
void quant_q3_k(const float* x, std::vector<uint8_t>& b, float* y) {
  float gs[16];
  float amax = 0;
  for (int g = 0; g < 16; ++g) {
    float a = 0;
    for (int l = 0; l < 16; ++l) a = std::max(a, std::fabs(x[16 * g + l]));
    gs[g] = a / 4;
    amax = std::max(amax, gs[g]);
  }
  const float d = f16r(amax / 31);
  uint8_t scales[12] = {0}, hmask[32] = {0}, L[256];
  for (int g = 0; g < 16; ++g) {
    const int sc = d ? std::clamp(nearest(gs[g] / d), -32, 31) : 0;
    const int u = sc + 32;
    if (g < 8) scales[g] |= static_cast<uint8_t>(u & 0xF);
    else scales[g - 8] |= static_cast<uint8_t>((u & 0xF) << 4);
    scales[8 + g % 4] |= static_cast<uint8_t>(((u >> 4) & 3) << (2 * (g / 4)));
    const float dl = d * static_cast<float>(sc);
    for (int l = 0; l < 16; ++l) {
      const int i = 16 * g + l;
      const int q = dl ? std::clamp(nearest(x[i] / dl), -4, 3) : 0;
      const int v = q + 4;
      if (v > 3) hmask[i % 32] |= static_cast<uint8_t>(1 << (i / 32));
      L[i] = static_cast<uint8_t>(v & 3);
      y[i] = dl * static_cast<float>(q);
    }
  }
  b.insert(b.end(), hmask, hmask + 32);
  for (int n = 0; n < 2; ++n)
    for (int l = 0; l < 32; ++l)
      b.push_back(static_cast<uint8_t>(L[n * 128 + l] | (L[n * 128 + 32 + l] << 2) | (L[n * 128 + 64 + l] << 4) | (L[n * 128 + 96 + l] << 6)));
  b.insert(b.end(), scales, scales + 12);
  put_f16(b, d);
}
// Q4_K / Q5_K: 8 groups of 32, 6-bit scale and min codes packed in 12 bytes (groups 0..3: bytes g and g+4, low 6
// bits; groups 4..7: low 4 bits in byte g+4 (scale low nibble, min high nibble), high 2 bits in bits 6..7 of bytes
// g-4 (scale) and g (min)); x = (d * sc) * q - (dmin * mc). Q4_K: qs[128], weight 64k + l in the low nibble of
// qs[32k + l], weight 64k + 32 + l in its high nibble. Q5_K adds qh[32]: the fifth bit of weight 64k + l is bit 2k of
// qh[l], of weight 64k + 32 + l bit 2k + 1.
void quant_q45_k(const float* x, std::vector<uint8_t>& b, float* y, int bits) {
  const int top = (1 << bits) - 1;
  float gs[8], gm[8];
  for (int g = 0; g < 8; ++g) {
    float mn = 0, mx = 0;
    for (int l = 0; l < 32; ++l) mn = std::min(mn, x[32 * g + l]), mx = std::max(mx, x[32 * g + l]);
    gs[g] = (mx - mn) / top;
    gm[g] = -mn;
  }
  const float d = f16r(*std::max_element(gs, gs + 8) / 63), dmin = f16r(*std::max_element(gm, gm + 8) / 63);
  uint8_t scales[12] = {0};
  int L[256];
  for (int g = 0; g < 8; ++g) {
    const int sc = d ? std::clamp(nearest(gs[g] / d), 0, 63) : 0, mc = dmin ? std::clamp(nearest(gm[g] / dmin), 0, 63) : 0;
    if (g < 4) {
      scales[g] |= static_cast<uint8_t>(sc);
      scales[g + 4] |= static_cast<uint8_t>(mc);
    } else {
      scales[g + 4] |= static_cast<uint8_t>((sc & 0xF) | ((mc & 0xF) << 4));
      scales[g - 4] |= static_cast<uint8_t>((sc >> 4) << 6);
      scales[g] |= static_cast<uint8_t>((mc >> 4) << 6);
    }
    const float dl = d * static_cast<float>(sc), ml = dmin * static_cast<float>(mc);
    for (int l = 0; l < 32; ++l) {
      const int q = dl ? std::clamp(nearest((x[32 * g + l] + ml) / dl), 0, top) : 0;
      L[32 * g + l] = q;
      y[32 * g + l] = dl * static_cast<float>(q) - ml;
    }
  }
  put_f16(b, d);
  put_f16(b, dmin);
  b.insert(b.end(), scales, scales + 12);
  if (bits == 5) {
    uint8_t qh[32] = {0};
    for (int k = 0; k < 4; ++k)
      for (int l = 0; l < 32; ++l) {
        qh[l] |= static_cast<uint8_t>(((L[64 * k + l] >> 4) & 1) << (2 * k));
        qh[l] |= static_cast<uint8_t>(((L[64 * k + 32 + l] >> 4) & 1) << (2 * k + 1));
      }
    b.insert(b.end(), qh, qh + 32);
  }
  for (int k = 0; k < 4; ++k)
    for (int l = 0; l < 32; ++l) b.push_back(static_cast<uint8_t>((L[64 * k + l] & 0xF) | ((L[64 * k + 32 + l] & 0xF) << 4)));
}
// Q6_K: 16 groups of 16 with int8 scales; x = (d * sc) * q, q in -32..31 stored as q + 32: low 4 bits in ql, high 2
// in qh. For half n (128 weights) and l = 0..31: weights n*128 + l, +32, +64, +96 have low nibbles ql[64n + l] low,
// ql[64n + 32 + l] low, ql[64n + l] high, ql[64n + 32 + l] high, and high bits at qh[32n + l] bits 0-1, 2-3, 4-5, 6-7.
void quant_q6_k(const float* x, std::vector<uint8_t>& b, float* y) {
  float gs[16], amax = 0;
  for (int g = 0; g < 16; ++g) {
    float a = 0;
    for (int l = 0; l < 16; ++l) a = std::max(a, std::fabs(x[16 * g + l]));
    gs[g] = a / 31;
    amax = std::max(amax, gs[g]);
  }
  const float d = f16r(amax / 127);
  int8_t sc[16];
  int L[256];
  for (int g = 0; g < 16; ++g) {
    sc[g] = static_cast<int8_t>(d ? std::clamp(nearest(gs[g] / d), -128, 127) : 0);
    const float dl = d * static_cast<float>(sc[g]);
    for (int l = 0; l < 16; ++l) {
      const int q = dl ? std::clamp(nearest(x[16 * g + l] / dl), -32, 31) : 0;
      L[16 * g + l] = q + 32;
      y[16 * g + l] = dl * static_cast<float>(q);
    }
  }
  uint8_t ql[128] = {0}, qh[64] = {0};
  for (int n = 0; n < 2; ++n)
    for (int l = 0; l < 32; ++l) {
      const int* q = L + 128 * n;
      ql[64 * n + l] = static_cast<uint8_t>((q[l] & 0xF) | ((q[l + 64] & 0xF) << 4));
      ql[64 * n + 32 + l] = static_cast<uint8_t>((q[l + 32] & 0xF) | ((q[l + 96] & 0xF) << 4));
      qh[32 * n + l] = static_cast<uint8_t>((q[l] >> 4) | ((q[l + 32] >> 4) << 2) | ((q[l + 64] >> 4) << 4) | ((q[l + 96] >> 4) << 6));
    }
  b.insert(b.end(), ql, ql + 128);
  b.insert(b.end(), qh, qh + 64);
  for (int g = 0; g < 16; ++g) b.push_back(static_cast<uint8_t>(sc[g]));
  put_f16(b, d);
}

struct GTensor {
  std::string name;
  Shape ne;  // ggml order
  uint32_t type;
  std::vector<uint8_t> data;
};

void gguf_str(std::vector<uint8_t>& b, const std::string& s) {
  put(b, static_cast<uint64_t>(s.size()));
  b.insert(b.end(), s.begin(), s.end());
}

// type_for(tensor index, tensor) picks the ggml type of each 2-D+ tensor (F32 for the rest, as city96's convert.py
// keeps 1-D tensors and the modulation tables in F32 and the 5-D patch embedding is added back in F32).
template <class Pick>
void write_gguf(const std::string& dir, const std::string& name, const std::vector<T>& w, Pick type_for) {
  std::vector<GTensor> ts;
  std::vector<Blob> expected;
  std::map<std::string, Shape> orig;
  int idx = 0;
  for (const auto& t : w) {
    uint32_t type = F32;
    const bool hiprec = t.name.find("modulation") != std::string::npos;
    if (t.shape.size() >= 2 && t.shape.size() <= 4 && !hiprec) type = type_for(idx++, t);
    const int be = block_of(type);
    Shape shape = t.shape;
    if (t.shape.back() % be != 0) {  // city96: reshape to rows of 256 (or of the block), keep the torch shape aside
      if (numel(t.shape) % be != 0) type = F32;
      else {
        shape = {numel(t.shape) / be, be};
        orig[t.name] = t.shape;
      }
    }
    GTensor g{t.name, Shape(shape.rbegin(), shape.rend()), type, {}};
    std::vector<float> back(t.v.size());
    const int n = static_cast<int>(t.v.size());
    for (int i = 0; i < n; i += block_of(type)) {
      const float* x = t.v.data() + i;
      float* y = back.data() + i;
      switch (type) {
        case F32: put(g.data, x[0]); y[0] = x[0]; break;
        case F16: { uint16_t c = static_cast<uint16_t>(fp16().encode(x[0])); put(g.data, c); y[0] = static_cast<float>(fp16().value(c)); break; }
        case BF16: { uint16_t c = to_bf16(x[0]); put(g.data, c); y[0] = bf16_value(c); break; }
        case Q8_0: quant_q8_0(x, g.data, y); break;
        case Q4_0: quant_legacy(x, g.data, y, 4, false); break;
        case Q4_1: quant_legacy(x, g.data, y, 4, true); break;
        case Q5_0: quant_legacy(x, g.data, y, 5, false); break;
        case Q5_1: quant_legacy(x, g.data, y, 5, true); break;
        case Q2_K: quant_q2_k(x, g.data, y); break;
        case Q3_K: quant_q3_k(x, g.data, y); break;
        case Q4_K: quant_q45_k(x, g.data, y, 4); break;
        case Q5_K: quant_q45_k(x, g.data, y, 5); break;
        case Q6_K: quant_q6_k(x, g.data, y); break;
        default: die("type");
      }
    }
    ts.push_back(std::move(g));
    expected.push_back(f32_blob(t.name, t.shape, back));
  }
  // Header: magic, version 3, counts; key/values; tensor infos; data aligned to 32.
  std::vector<uint8_t> h;
  h.insert(h.end(), {'G', 'G', 'U', 'F'});
  put(h, static_cast<uint32_t>(3));
  put(h, static_cast<uint64_t>(ts.size()));
  put(h, static_cast<uint64_t>(2 + orig.size()));
  gguf_str(h, "general.architecture");
  put(h, static_cast<uint32_t>(8));
  gguf_str(h, "wan");
  gguf_str(h, "general.quantization_version");
  put(h, static_cast<uint32_t>(4));
  put(h, static_cast<uint32_t>(2));
  for (const auto& [n, s] : orig) {
    gguf_str(h, "comfy.gguf.orig_shape." + n);
    put(h, static_cast<uint32_t>(9));  // ARRAY
    put(h, static_cast<uint32_t>(5));  // of INT32
    put(h, static_cast<uint64_t>(s.size()));
    for (auto d : s) put(h, static_cast<int32_t>(d));
  }
  uint64_t off = 0;
  for (const auto& t : ts) {
    gguf_str(h, t.name);
    put(h, static_cast<uint32_t>(t.ne.size()));
    for (auto d : t.ne) put(h, static_cast<uint64_t>(d));
    put(h, t.type);
    put(h, off);
    off += (t.data.size() + 31) / 32 * 32;
  }
  while (h.size() % 32) h.push_back(0);
  std::ofstream out(dir + "/" + name + ".gguf", std::ios::binary);
  out.write(reinterpret_cast<const char*>(h.data()), static_cast<long>(h.size()));
  for (const auto& t : ts) {
    out.write(reinterpret_cast<const char*>(t.data.data()), static_cast<long>(t.data.size()));
    for (std::size_t p = t.data.size(); p % 32; ++p) out.put(0);
  }
  if (!out) die("cannot write gguf");
  write_safetensors(dir + "/" + name + ".expected.safetensors", expected);
}

// ---- the other components (issue 27, part 2) --------------------------------------------------------------------
// Encodes one float32 value in `dtype` (F32 / BF16 / F16) and returns the value it decodes to.
float stored_value(float x, const std::string& dtype, std::vector<uint8_t>& bytes) {
  if (dtype == "F32") { put(bytes, x); return x; }
  if (dtype == "BF16") { uint16_t c = to_bf16(x); put(bytes, c); return bf16_value(c); }
  uint16_t c = static_cast<uint16_t>(fp16().encode(x));
  put(bytes, c);
  return static_cast<float>(fp16().value(c));
}
Blob blob_in(const std::string& name, const T& t, const std::string& dtype) {
  Blob b{name, dtype, t.shape, {}};
  for (float x : t.v) (void)stored_value(x, dtype, b.bytes);
  return b;
}
// `stored`: the tensors as the file holds them; `wan`: the same weights under Wan's names (the expected file, with every
// value rounded through `dtype` as the stored copy is: rounding is per element, so splitting / joining / transposing
// commutes with it).
void write_set(const std::string& path, const std::string& expected, const std::vector<T>& stored, const std::vector<T>& wan, const std::string& dtype) {
  std::vector<Blob> blobs, exp;
  for (const auto& t : stored) blobs.push_back(blob_in(t.name, t, dtype));
  for (const auto& t : wan) {
    std::vector<uint8_t> junk;
    std::vector<float> back;
    for (float x : t.v) back.push_back(stored_value(x, dtype, junk));
    exp.push_back(f32_blob(t.name, t.shape, back));
  }
  write_safetensors(path, blobs);
  if (!expected.empty()) write_safetensors(expected, exp);
}
const T& find_t(const std::vector<T>& w, const std::string& n) {
  for (const auto& t : w)
    if (t.name == n) return t;
  die("no tensor " + n);
}
std::string rx(const std::string& s, const std::string& from, const std::string& to) {
  const auto p = s.find(from);
  return p == std::string::npos ? s : s.substr(0, p) + to + s.substr(p + from.size());
}

// umT5 in transformers' T5 names (modeling_t5 / ComfyUI comfy/text_encoders/t5.py): block N = layer.0 (SelfAttention
// q/k/v/o + relative_attention_bias in every block for umT5, layer_norm) and layer.1 (DenseReluDense wi_0 = the GELU'd
// gate, wi_1 = the linear branch, wo; layer_norm); shared = token embedding; encoder.final_layer_norm.
std::string to_hf_t5(const std::string& n) {
  if (n == "token_embedding.weight") return "shared.weight";
  if (n == "norm.weight") return "encoder.final_layer_norm.weight";
  const auto dot = n.find('.', 7);  // "blocks.N."
  const std::string b = "encoder.block." + n.substr(7, dot - 7) + ".", r = n.substr(dot + 1);
  static const std::map<std::string, std::string> m = {
      {"attn.q.weight", "layer.0.SelfAttention.q.weight"}, {"attn.k.weight", "layer.0.SelfAttention.k.weight"},
      {"attn.v.weight", "layer.0.SelfAttention.v.weight"}, {"attn.o.weight", "layer.0.SelfAttention.o.weight"},
      {"norm1.weight", "layer.0.layer_norm.weight"},      {"pos_embedding.embedding.weight", "layer.0.SelfAttention.relative_attention_bias.weight"},
      {"ffn.gate.0.weight", "layer.1.DenseReluDense.wi_0.weight"}, {"ffn.fc1.weight", "layer.1.DenseReluDense.wi_1.weight"},
      {"ffn.fc2.weight", "layer.1.DenseReluDense.wo.weight"}, {"norm2.weight", "layer.1.layer_norm.weight"}};
  auto it = m.find(r);
  if (it == m.end()) die("umT5 name " + n);
  return b + it->second;
}
std::vector<T> renamed(const std::vector<T>& w, std::string (*f)(const std::string&)) {
  std::vector<T> out;
  for (const auto& t : w) out.push_back({f(t.name), t.shape, t.v});
  return out;
}

// CLIP vision in transformers' CLIPVisionModelWithProjection names (modeling_clip; ComfyUI comfy/clip_model.py):
// to_qkv [3D,D] splits into q_proj, k_proj, v_proj (rows 0..D-1, D..2D-1, 2D..3D-1); cls_embedding [1,1,D] ->
// class_embedding [D]; pos_embedding [1,P,D] -> position_embedding.weight [P,D]; head [D,E] -> visual_projection.weight
// [E,D] (nn.Linear stores [out, in]).
std::vector<T> to_hf_clip(const std::vector<T>& w) {
  std::vector<T> out;
  for (const auto& t : w) {
    const std::string& n = t.name;
    if (n == "cls_embedding") out.push_back({"vision_model.embeddings.class_embedding", {t.shape[2]}, t.v});
    else if (n == "pos_embedding") out.push_back({"vision_model.embeddings.position_embedding.weight", {t.shape[1], t.shape[2]}, t.v});
    else if (n == "patch_embedding.weight") out.push_back({"vision_model.embeddings.patch_embedding.weight", t.shape, t.v});
    else if (n.rfind("pre_norm.", 0) == 0) out.push_back({"vision_model.pre_layrnorm." + n.substr(9), t.shape, t.v});
    else if (n.rfind("post_norm.", 0) == 0) out.push_back({"vision_model.post_layernorm." + n.substr(10), t.shape, t.v});
    else if (n == "head") {
      const int64_t D = t.shape[0], E = t.shape[1];
      std::vector<float> v(t.v.size());
      for (int64_t i = 0; i < D; ++i)
        for (int64_t j = 0; j < E; ++j) v[j * D + i] = t.v[i * E + j];
      out.push_back({"visual_projection.weight", {E, D}, v});
    } else if (n.rfind("transformer.", 0) == 0) {
      const auto dot = n.find('.', 12);
      const std::string L = "vision_model.encoder.layers." + n.substr(12, dot - 12) + ".", r = n.substr(dot + 1);
      if (r.rfind("attn.to_qkv.", 0) == 0) {
        const std::string kind = r.substr(12);  // weight / bias
        const int64_t D3 = t.shape[0], D = D3 / 3, row = t.shape.size() == 2 ? t.shape[1] : 1;
        const char* part[3] = {"q", "k", "v"};
        for (int p = 0; p < 3; ++p) {
          std::vector<float> v(t.v.begin() + p * D * row, t.v.begin() + (p + 1) * D * row);
          Shape sh = t.shape;
          sh[0] = D;
          out.push_back({L + "self_attn." + part[p] + "_proj." + kind, sh, v});
        }
      } else {
        std::string h = rx(rx(rx(rx(rx(r, "norm1", "layer_norm1"), "norm2", "layer_norm2"), "attn.proj", "self_attn.out_proj"), "mlp.0", "mlp.fc1"), "mlp.2", "mlp.fc2");
        out.push_back({L + h, t.shape, t.v});
      }
    } else {
      die("CLIP name " + n);
    }
  }
  return out;
}

// The VAE in diffusers' AutoencoderKLWan names: convert_wan_to_diffusers.py convert_vae applied as the script does.
std::string to_diffusers_vae(const std::string& key) {
  static const std::map<std::string, std::string> direct = {
      {"encoder.conv1.weight", "encoder.conv_in.weight"}, {"encoder.conv1.bias", "encoder.conv_in.bias"},
      {"decoder.conv1.weight", "decoder.conv_in.weight"}, {"decoder.conv1.bias", "decoder.conv_in.bias"},
      {"conv1.weight", "quant_conv.weight"}, {"conv1.bias", "quant_conv.bias"},
      {"conv2.weight", "post_quant_conv.weight"}, {"conv2.bias", "post_quant_conv.bias"},
      {"encoder.head.0.gamma", "encoder.norm_out.gamma"}, {"encoder.head.2.bias", "encoder.conv_out.bias"},
      {"encoder.head.2.weight", "encoder.conv_out.weight"}, {"decoder.head.0.gamma", "decoder.norm_out.gamma"},
      {"decoder.head.2.bias", "decoder.conv_out.bias"}, {"decoder.head.2.weight", "decoder.conv_out.weight"}};
  if (auto it = direct.find(key); it != direct.end()) return it->second;
  static const std::vector<std::pair<std::string, std::string>> res = {
      {".residual.0.gamma", ".norm1.gamma"}, {".residual.2.bias", ".conv1.bias"}, {".residual.2.weight", ".conv1.weight"},
      {".residual.3.gamma", ".norm2.gamma"}, {".residual.6.bias", ".conv2.bias"}, {".residual.6.weight", ".conv2.weight"},
      {".shortcut.bias", ".conv_shortcut.bias"}, {".shortcut.weight", ".conv_shortcut.weight"}};
  for (const char* side : {"encoder", "decoder"}) {
    const std::string s = side;
    if (key.rfind(s + ".middle.1.", 0) == 0) return s + ".mid_block.attentions.0." + key.substr(s.size() + 10);
    for (const char* i : {"0", "2"})
      if (key.rfind(s + ".middle." + i + ".", 0) == 0) {
        std::string k = s + ".mid_block.resnets." + (i[0] == '0' ? "0" : "1") + key.substr(s.size() + 9);
        for (const auto& [a, b] : res) k = rx(k, a, b);
        return k;
      }
  }
  if (key.rfind("encoder.downsamples.", 0) == 0) {
    std::string k = "encoder.down_blocks." + key.substr(20);
    for (const auto& [a, b] : res)
      if (k.find(a) != std::string::npos) return rx(k, a, b);
    return k;
  }
  if (key.rfind("decoder.upsamples.", 0) == 0) {
    const auto dot = key.find('.', 18);
    const int idx = std::stoi(key.substr(18, dot - 18));
    const std::string rest = key.substr(dot);  // ".residual.0.gamma"
    if (key.find("residual") != std::string::npos) {
      const int blk = idx / 4, r = idx % 4;  // 0-2, 4-6, 8-10, 12-14 (the script's table)
      if (r == 3) return key;
      for (const auto& [a, b] : res)
        if (rest == a) return "decoder.up_blocks." + std::to_string(blk) + ".resnets." + std::to_string(r) + b;
      return key;
    }
    if (key.find(".shortcut.") != std::string::npos) {
      if (idx == 4) return rx(rx(key, ".shortcut.", ".resnets.0.conv_shortcut."), "decoder.upsamples.4", "decoder.up_blocks.1");
      return rx(rx(key, "decoder.upsamples.", "decoder.up_blocks."), ".shortcut.", ".conv_shortcut.");
    }
    if (key.find(".resample.") != std::string::npos || key.find(".time_conv.") != std::string::npos) {
      if (idx == 3 || idx == 7 || idx == 11)
        return "decoder.up_blocks." + std::to_string(idx / 4) + ".upsamplers.0" + rest;
    }
    return rx(key, "decoder.upsamples.", "decoder.up_blocks.");
  }
  return key;
}

void copy_dir_file(const std::string& from, const std::string& to) {
  std::filesystem::create_directories(std::filesystem::path(to).parent_path());
  std::filesystem::copy_file(from, to, std::filesystem::copy_options::overwrite_existing);
}

void write_components(const std::string& dir, const std::string& fixtures, const std::vector<T>& dit) {
  namespace fs = std::filesystem;
  const auto t5 = read_f32_safetensors(fixtures + "/umt5_tiny/weights.safetensors");
  const auto clip = read_f32_safetensors(fixtures + "/clip_vision_tiny/weights.safetensors");
  const auto vae = read_f32_safetensors(fixtures + "/wan_vae_tiny/weights.safetensors");
  const auto t5_hf = renamed(t5, to_hf_t5), clip_hf = to_hf_clip(clip), vae_df = renamed(vae, to_diffusers_vae);
  // Single files.
  write_set(dir + "/umt5_hf_f32.safetensors", dir + "/umt5_hf_f32.expected.safetensors", t5_hf, t5, "F32");
  write_set(dir + "/umt5_hf_bf16.safetensors", dir + "/umt5_hf_bf16.expected.safetensors", t5_hf, t5, "BF16");
  write_fp8(dir, "umt5_hf_fp8_scaled", t5, false, Scaling::Legacy, "", to_hf_t5);  // umt5_xxl_fp8_e4m3fn_scaled
  write_set(dir + "/clip_hf_f32.safetensors", dir + "/clip_hf_f32.expected.safetensors", clip_hf, clip, "F32");
  write_set(dir + "/clip_hf_f16.safetensors", dir + "/clip_hf_f16.expected.safetensors", clip_hf, clip, "F16");
  write_set(dir + "/vae_comfy_f32.safetensors", dir + "/vae_comfy_f32.expected.safetensors", vae, vae, "F32");
  write_set(dir + "/vae_comfy_bf16.safetensors", dir + "/vae_comfy_bf16.expected.safetensors", vae, vae, "BF16");
  write_set(dir + "/vae_diffusers_f32.safetensors", dir + "/vae_diffusers_f32.expected.safetensors", vae_df, vae, "F32");
  // A ComfyUI models folder: the DiT and umT5 in BF16 (as the official release stores them), CLIP and VAE in F32.
  const std::string c = dir + "/comfyui_set";
  for (const char* sub : {"diffusion_models", "text_encoders", "clip_vision", "vae"}) fs::create_directories(c + "/" + sub);
  write_set(c + "/diffusion_models/wan_tiny_i2v_bf16.safetensors", "", dit, dit, "BF16");
  write_set(c + "/text_encoders/umt5_tiny_bf16.safetensors", "", t5_hf, t5, "BF16");
  write_set(c + "/clip_vision/clip_vision_tiny.safetensors", "", clip_hf, clip, "F32");
  write_set(c + "/vae/wan_tiny_vae.safetensors", "", vae, vae, "F32");
  // A diffusers pipeline folder, same precisions.
  const std::string d = dir + "/diffusers_set";
  for (const char* sub : {"transformer", "text_encoder", "image_encoder", "vae", "tokenizer"}) fs::create_directories(d + "/" + sub);
  std::vector<T> dit_df;
  for (const auto& t : dit) dit_df.push_back({to_diffusers(t.name), t.shape, t.v});
  write_set(d + "/transformer/diffusion_pytorch_model.safetensors", "", dit_df, dit, "BF16");
  std::ofstream(d + "/transformer/config.json") << R"({"_class_name": "WanTransformer3DModel", "added_kv_proj_dim": 96, "attention_head_dim": 32,
 "cross_attn_norm": true, "eps": 1e-06, "ffn_dim": 128, "freq_dim": 256, "image_dim": 1280, "in_channels": 36,
 "num_attention_heads": 3, "num_layers": 3, "out_channels": 16, "patch_size": [1, 2, 2], "qk_norm": "rms_norm_across_heads", "text_dim": 32})";
  write_set(d + "/text_encoder/model.safetensors", "", t5_hf, t5, "BF16");
  std::ofstream(d + "/text_encoder/config.json") << R"({"architectures": ["UMT5EncoderModel"], "model_type": "umt5", "d_model": 32, "num_heads": 4, "num_layers": 2})";
  write_set(d + "/image_encoder/model.safetensors", "", clip_hf, clip, "F32");
  std::ofstream(d + "/image_encoder/config.json") << R"({"architectures": ["CLIPVisionModelWithProjection"], "hidden_size": 64, "num_hidden_layers": 3})";
  write_set(d + "/vae/diffusion_pytorch_model.safetensors", "", vae_df, vae, "F32");
  std::ofstream(d + "/vae/config.json") << R"({"_class_name": "AutoencoderKLWan", "base_dim": 8, "z_dim": 16})";
  std::ofstream(d + "/model_index.json") << R"({"_class_name": "WanImageToVideoPipeline", "transformer": ["diffusers", "WanTransformer3DModel"],
 "text_encoder": ["transformers", "UMT5EncoderModel"], "image_encoder": ["transformers", "CLIPVisionModelWithProjection"],
 "vae": ["diffusers", "AutoencoderKLWan"], "tokenizer": ["transformers", "T5TokenizerFast"]})";
}

// ---- LoRAs ------------------------------------------------------------------------------------------------------
// Factors hold multiples of 1/64 in [-1/8, 1/8] and the scales are powers of two times small integers, so up @ down,
// its scaling and W + the result are exact in float32 except the last add, which rounds once: the expected merged
// weight, computed here in double and rounded once, is what any correct float32 merge gives bit for bit
// (comfy/weight_adapter/lora.py: W += (strength * alpha / rank) * (up @ down); diff / diff_b: W += strength * diff).
struct LoraMod {
  std::string wan;  // official module stem
  int rank;
};
std::vector<float> factor(int64_t n, uint32_t seed) {
  std::vector<float> v(n);
  for (int64_t i = 0; i < n; ++i) {
    seed = seed * 1664525u + 1013904223u;
    v[i] = static_cast<float>(static_cast<int>((seed >> 24) % 17) - 8) / 64.0f;
  }
  return v;
}
// Adds scale * (up @ down) to W in double (exact here), rounds once.
void merge_into(T& w, const std::vector<float>& up, const std::vector<float>& down, int rank, double scale) {
  const int64_t out = w.shape[0], in = numel(w.shape) / out;
  for (int64_t i = 0; i < out; ++i)
    for (int64_t j = 0; j < in; ++j) {
      double acc = 0;
      for (int r = 0; r < rank; ++r) acc += double(up[i * rank + r]) * double(down[r * in + j]);
      w.v[i * in + j] = static_cast<float>(double(w.v[i * in + j]) + scale * acc);
    }
}
T& find_mut(std::vector<T>& w, const std::string& n) {
  for (auto& t : w)
    if (t.name == n) return t;
  die("no tensor " + n);
}
std::string kohya(std::string stem) {
  for (auto& ch : stem)
    if (ch == '.') ch = '_';
  return "lora_unet_" + stem;
}

void write_loras(const std::string& dir, const std::vector<T>& dit) {
  // (1) kohya / musubi: lora_unet_<name>.lora_down/.lora_up/.alpha; rank 4, alpha 2 (alpha / rank = 1/2); strength 0.75.
  // (2) ComfyUI: diffusion_model.<name>.lora_A/.lora_B + .alpha (rank 2, alpha 4: x2), .diff on a norm, .diff_b on a
  //     bias, and one key for a block this DiT does not have (listed as unmatched); strength 1.
  // (3) diffusers / PEFT: transformer.<diffusers name>.lora_A/.lora_B, no alpha (scale 1), .lora_B.bias; strength -0.5.
  struct File { std::string name; double strength; std::vector<Blob> blobs; std::vector<T> merged; };
  std::vector<File> files = {{"lora_kohya", 0.75, {}, dit}, {"lora_comfy", 1.0, {}, dit}, {"lora_peft", -0.5, {}, dit}};
  uint32_t seed = 7;
  auto add_lr = [&](File& f, const std::string& stem, int rank, const std::string& up_key, const std::string& down_key,
                    const std::string& alpha_key, double alpha) {
    T& w = find_mut(f.merged, stem + ".weight");
    const int64_t out = w.shape[0], in = numel(w.shape) / out;
    auto up = factor(out * rank, seed++), down = factor(rank * in, seed++);
    f.blobs.push_back(f32_blob(up_key, {out, rank}, up));
    f.blobs.push_back(f32_blob(down_key, {rank, in}, down));
    if (!alpha_key.empty()) f.blobs.push_back(f32_blob(alpha_key, {}, {static_cast<float>(alpha)}));
    merge_into(w, up, down, rank, f.strength * (alpha_key.empty() ? 1.0 : alpha / rank));
  };
  auto add_diff = [&](File& f, const std::string& key, const std::string& target) {
    T& w = find_mut(f.merged, target);
    auto d = factor(numel(w.shape), seed++);
    f.blobs.push_back(f32_blob(key, w.shape, d));
    for (std::size_t i = 0; i < d.size(); ++i) w.v[i] = static_cast<float>(double(w.v[i]) + f.strength * double(d[i]));
  };
  for (const std::string stem : {"blocks.0.self_attn.q", "blocks.1.ffn.0", "blocks.2.cross_attn.k_img"})
    add_lr(files[0], stem, 4, kohya(stem) + ".lora_up.weight", kohya(stem) + ".lora_down.weight", kohya(stem) + ".alpha", 2.0);
  for (const std::string stem : {"blocks.0.self_attn.v", "blocks.2.ffn.2"})
    add_lr(files[1], stem, 2, "diffusion_model." + stem + ".lora_B.weight", "diffusion_model." + stem + ".lora_A.weight",
           "diffusion_model." + stem + ".alpha", 4.0);
  add_diff(files[1], "diffusion_model.blocks.1.norm3.diff", "blocks.1.norm3.weight");
  add_diff(files[1], "diffusion_model.blocks.1.self_attn.o.diff_b", "blocks.1.self_attn.o.bias");
  files[1].blobs.push_back(f32_blob("diffusion_model.blocks.9.self_attn.q.lora_A.weight", {2, 96}, factor(192, 99)));
  for (const std::string stem : {"blocks.2.self_attn.k", "blocks.0.ffn.0", "time_projection.1"}) {
    const std::string dn = to_diffusers(stem + ".weight");
    const std::string m = "transformer." + dn.substr(0, dn.size() - 7);
    add_lr(files[2], stem, 3, m + ".lora_B.weight", m + ".lora_A.weight", "", 0);
  }
  add_diff(files[2], "transformer.condition_embedder.time_proj.lora_B.bias", "time_projection.1.bias");
  for (const auto& f : files) {
    write_safetensors(dir + "/" + f.name + ".safetensors", f.blobs);
    std::vector<Blob> exp;
    for (const auto& t : f.merged) exp.push_back(f32_blob(t.name, t.shape, t.v));
    write_safetensors(dir + "/" + f.name + ".expected.safetensors", exp);
  }
  // A LoRA for another model (SD-style UNet keys).
  write_safetensors(dir + "/lora_other_model.safetensors",
                    {f32_blob("lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight", {4, 320}, factor(1280, 5)),
                     f32_blob("lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight", {320, 4}, factor(1280, 6)),
                     f32_blob("lora_unet_down_blocks_0_attentions_0_proj_in.alpha", {}, {4.0f})});
  // A LoRA for a larger Wan (dim 128 factors on this dim-96 DiT).
  write_safetensors(dir + "/lora_wrong_size.safetensors",
                    {f32_blob("diffusion_model.blocks.0.self_attn.q.lora_A.weight", {2, 128}, factor(256, 8)),
                     f32_blob("diffusion_model.blocks.0.self_attn.q.lora_B.weight", {128, 2}, factor(256, 9))});
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: write_weight_formats FIXTURE/weights.safetensors OUT_DIR\n");
    return 2;
  }
  try {
    const std::string dir = argv[2];
    std::filesystem::create_directories(dir);
    const auto w = read_f32_safetensors(argv[1]);
    write_plain(dir, "comfy_fp32", w, "F32", kComfyPrefix);
    write_plain(dir, "comfy_bf16", w, "BF16", kComfyPrefix);
    write_plain(dir, "comfy_fp16", w, "F16", "");
    write_fp8(dir, "comfy_fp8_e4m3fn", w, false, Scaling::None, kComfyPrefix);
    write_fp8(dir, "comfy_fp8_e5m2", w, true, Scaling::None, "");
    write_fp8(dir, "comfy_fp8_scaled_legacy", w, false, Scaling::Legacy, kComfyPrefix);
    write_fp8(dir, "comfy_fp8_scaled", w, false, Scaling::Metadata, kComfyPrefix);
    write_fp8(dir, "comfy_fp8_e5m2_scaled_tensors", w, true, Scaling::ComfyQuantTensors, "");
    write_diffusers(dir, w);
    auto one = [](uint32_t t) { return [t](int, const T&) { return t; }; };
    write_gguf(dir, "gguf_F32", w, one(F32));
    write_gguf(dir, "gguf_F16", w, one(F16));
    write_gguf(dir, "gguf_BF16", w, one(BF16));
    write_gguf(dir, "gguf_Q8_0", w, one(Q8_0));
    write_gguf(dir, "gguf_Q4_0_Q4_1", w, [](int i, const T&) { return i % 2 ? Q4_1 : Q4_0; });  // mixed, as real files
    write_gguf(dir, "gguf_Q5_0_Q5_1", w, [](int i, const T&) { return i % 2 ? Q5_1 : Q5_0; });
    write_gguf(dir, "gguf_Q2_K_Q3_K", w, [](int i, const T&) { return i % 2 ? Q3_K : Q2_K; });
    write_gguf(dir, "gguf_Q4_K_Q5_K", w, [](int i, const T&) { return i % 2 ? Q5_K : Q4_K; });
    write_gguf(dir, "gguf_Q6_K", w, one(Q6_K));
    write_loras(dir, w);
    // The other components and whole sets, from the sibling fixtures (umt5_tiny, clip_vision_tiny, wan_vae_tiny).
    write_components(dir, std::filesystem::path(argv[1]).parent_path().parent_path().string(), w);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "write_weight_formats: %s\n", e.what());
    return 1;
  }
  return 0;
}
