// The broken-input catalogue (issue 28): writes dozens of broken variants of every kind of input FocalScope reads --
// safetensors, sharded indexes, .pth (zip + pickle, hostile payloads included), model folders and their manifests,
// DiT configs, tokenizer models, images, JSON case files, guidance configs, fixture folders, GUI scripts and flags --
// from its own generator (the formats' documents, not a corpus), runs the real `focalscope` executable on each and
// checks what a user must see:
//   * exit code 2, no signal;
//   * exactly one line starting "error: " on stderr, the last one, naming the offending file (or flag);
//   * no raw library message ("[json.exception", "vector::_M_range_check", "stoi", "stof", ...);
//   * bounded time (each run under kMaxSeconds) and memory (address space capped at 4 GiB, peak RSS checked).
// No pickle payload may ever run: a canary file the payloads try to create must not exist afterwards.
// Runs two cases at a time (the CI machine has two cores); docs/robustness.md lists the classes covered.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <dlfcn.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string_view>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stb/stb_image_write.h>
#include <string>
#include <thread>
#include <vector>

#include "engine/core/blas_check.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr double kMaxSeconds = 30;
constexpr uint64_t kMaxBytes = 4ull << 30;

// ---- files ---------------------------------------------------------------------------------------------------
std::string read_file(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
void write_file(const std::string& p, const std::string& s) {
  fs::create_directories(fs::path(p).parent_path());
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(s.data(), static_cast<std::streamsize>(s.size()));
}
void put16(std::string& s, uint64_t v) { for (int k = 0; k < 2; ++k) s.push_back(static_cast<char>((v >> (8 * k)) & 0xff)); }
void put32(std::string& s, uint64_t v) { for (int k = 0; k < 4; ++k) s.push_back(static_cast<char>((v >> (8 * k)) & 0xff)); }
void put64(std::string& s, uint64_t v) { for (int k = 0; k < 8; ++k) s.push_back(static_cast<char>((v >> (8 * k)) & 0xff)); }
void set32(std::string& s, size_t at, uint32_t v) { for (int k = 0; k < 4; ++k) s[at + k] = static_cast<char>((v >> (8 * k)) & 0xff); }
uint32_t crc32(const std::string& s) {
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char ch : s) {
    c ^= ch;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (0xEDB88320u ^ (c >> 1)) : (c >> 1);
  }
  return c ^ 0xFFFFFFFFu;
}

// A folder whose files are symlinks to `base`'s, so one file can be replaced cheaply.
std::string linked_copy(const std::string& base, const std::string& dir) {
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const auto& e : fs::directory_iterator(base)) fs::create_symlink(fs::absolute(e.path()), fs::path(dir) / e.path().filename());
  return dir;
}
void replace_file(const std::string& path, const std::string& bytes) {
  fs::remove(path);
  write_file(path, bytes);
}

// ---- safetensors ---------------------------------------------------------------------------------------------
std::string safetensors(const std::string& header, const std::string& data) {
  std::string s;
  put64(s, header.size());
  return s + header + data;
}

// ---- zip + pickle (.pth) ---------------------------------------------------------------------------------------
struct Entry {
  std::string name, data;
  uint16_t method = 0;
  uint64_t declared_size = UINT64_MAX;  // central-directory uncompressed size (default: data.size())
  bool bad_crc = false;
  uint16_t flags = 0;
};
std::string make_zip(const std::vector<Entry>& entries) {
  std::string out, cd;
  for (const auto& e : entries) {
    const uint64_t local = out.size();
    const uint32_t crc = e.bad_crc ? crc32(e.data) ^ 1u : crc32(e.data);
    const uint64_t size = e.declared_size == UINT64_MAX ? e.data.size() : e.declared_size;
    put32(out, 0x04034b50); put16(out, 20); put16(out, e.flags); put16(out, e.method); put16(out, 0); put16(out, 0);
    put32(out, crc); put32(out, e.data.size()); put32(out, size); put16(out, e.name.size()); put16(out, 0);
    out += e.name + e.data;
    put32(cd, 0x02014b50); put16(cd, 20); put16(cd, 20); put16(cd, e.flags); put16(cd, e.method); put16(cd, 0); put16(cd, 0);
    put32(cd, crc); put32(cd, e.data.size()); put32(cd, size); put16(cd, e.name.size()); put16(cd, 0); put16(cd, 0);
    put16(cd, 0); put16(cd, 0); put32(cd, 0); put32(cd, local);
    cd += e.name;
  }
  const uint64_t cd_off = out.size();
  out += cd;
  put32(out, 0x06054b50); put16(out, 0); put16(out, 0); put16(out, entries.size()); put16(out, entries.size());
  put32(out, cd.size()); put32(out, cd_off); put16(out, 0);
  return out;
}
struct Pickle {
  std::string b;
  Pickle& op(char c) { b.push_back(c); return *this; }
  Pickle& raw(const std::string& s) { b += s; return *this; }
  Pickle& proto(int v = 2) { b.push_back('\x80'); b.push_back(static_cast<char>(v)); return *this; }
  Pickle& global(const std::string& m, const std::string& n) { b += "c" + m + "\n" + n + "\n"; return *this; }
  Pickle& str(const std::string& s) { b.push_back('X'); put32(b, s.size()); b += s; return *this; }
  Pickle& integer(int64_t v) { b.push_back('\x8a'); b.push_back(8); put64(b, static_cast<uint64_t>(v)); return *this; }
  Pickle& ordered_dict() { return global("collections", "OrderedDict").op(')').op('R'); }
};
// torch.save's state dict of one float tensor 'w' (numel elements, size/stride given) over storage '0'.
std::string state_dict(int64_t numel, std::vector<int64_t> size, std::vector<int64_t> stride, int64_t offset = 0,
                       const std::string& storage = "FloatStorage") {
  Pickle p;
  p.proto().ordered_dict().op('(').str("w").global("torch._utils", "_rebuild_tensor_v2").op('(');
  p.op('(').str("storage").global("torch", storage).str("0").str("cpu").integer(numel).op('t').op('Q');
  p.integer(offset).op('(');
  for (auto s : size) p.integer(s);
  p.op('t').op('(');
  for (auto s : stride) p.integer(s);
  p.op('t').op('\x89').ordered_dict().op('t').op('R').op('u');
  return p.op('.').b;
}
std::string floats(int n) { return std::string(static_cast<size_t>(n) * 4, '\x01'); }
std::string pth(const std::string& pkl, const std::vector<Entry>& more = {{"archive/data/0", floats(4)}}) {
  std::vector<Entry> e{{"archive/data.pkl", pkl}, {"archive/version", "3\n"}};
  e.insert(e.end(), more.begin(), more.end());
  return make_zip(e);
}

// ---- protobuf (SentencePiece ModelProto) --------------------------------------------------------------------
std::string varint(uint64_t v) {
  std::string s;
  do {
    uint8_t c = v & 0x7f;
    v >>= 7;
    s.push_back(static_cast<char>(v ? c | 0x80 : c));
  } while (v);
  return s;
}
std::string field(int f, const std::string& payload) { return varint(static_cast<uint64_t>(f) << 3 | 2) + varint(payload.size()) + payload; }
struct PbField { int field, type; std::string raw, payload; };
std::vector<PbField> pb_fields(const std::string& b) {
  std::vector<PbField> out;
  size_t i = 0;
  auto rv = [&](size_t& j) { uint64_t v = 0; int s = 0; while (true) { uint8_t c = b[j++]; v |= uint64_t(c & 0x7f) << s; s += 7; if (!(c & 0x80)) return v; } };
  while (i < b.size()) {
    const size_t start = i;
    const uint64_t k = rv(i);
    PbField f{static_cast<int>(k >> 3), static_cast<int>(k & 7), "", ""};
    if (f.type == 0) rv(i);
    else if (f.type == 1) i += 8;
    else if (f.type == 5) i += 4;
    else { const uint64_t n = rv(i); f.payload = b.substr(i, n); i += n; }
    f.raw = b.substr(start, i - start);
    out.push_back(f);
  }
  return out;
}
// The model with normalizer_spec.precompiled_charsmap replaced by `charsmap`.
std::string with_charsmap(const std::string& model, const std::string& charsmap) {
  std::string out;
  for (const auto& f : pb_fields(model)) {
    if (f.field != 3) { out += f.raw; continue; }
    std::string sub;
    for (const auto& g : pb_fields(f.payload)) sub += g.field == 2 ? field(2, charsmap) : g.raw;
    out += field(3, sub);
  }
  return out;
}
std::string charsmap_of(const std::string& model) {
  for (const auto& f : pb_fields(model))
    if (f.field == 3)
      for (const auto& g : pb_fields(f.payload))
        if (g.field == 2) return g.payload;
  return "";
}

// ---- images ------------------------------------------------------------------------------------------------------
std::string png(int w, int h) {
  std::vector<unsigned char> px(static_cast<size_t>(w) * h * 3, 100);
  std::string s;
  stbi_write_png_to_func([](void* ctx, void* data, int n) { static_cast<std::string*>(ctx)->append(static_cast<char*>(data), n); },
                         &s, w, h, 3, px.data(), w * 3);
  return s;
}
std::string jpg(int w, int h) {
  std::vector<unsigned char> px(static_cast<size_t>(w) * h * 3, 100);
  std::string s;
  stbi_write_jpg_to_func([](void* ctx, void* data, int n) { static_cast<std::string*>(ctx)->append(static_cast<char*>(data), n); },
                         &s, w, h, 3, px.data(), 90);
  return s;
}
// A PNG whose IHDR declares w x h (CRC fixed up), with the pixel data of a 16x16 image.
std::string png_declaring(uint32_t w, uint32_t h) {
  std::string s = png(16, 16);
  auto be = [&](size_t at, uint32_t v) { for (int k = 0; k < 4; ++k) s[at + k] = static_cast<char>((v >> (24 - 8 * k)) & 0xff); };
  be(16, w);
  be(20, h);
  const uint32_t c = crc32(s.substr(12, 17));
  be(29, c);
  return s;
}

// ---- running the CLI ----------------------------------------------------------------------------------------------
struct CliRun {
  int code = -1, sig = 0;
  double seconds = 0;
  long maxrss_kb = 0;
  std::string err;
};

CliRun run_cli(const std::vector<std::string>& args, const std::string& err_path) {
  std::vector<std::string> full{FOCALSCOPE_EXE};
  full.insert(full.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : full) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  // AddressSanitizer (scripts/sanitize.sh runs this test on the instrumented executable) reserves terabytes of shadow
  // address space, which an address-space cap forbids: there the memory bound is its own RSS limit instead. The
  // environment is built before fork(): the child only calls async-signal-safe functions.
  const bool asan = dlsym(RTLD_DEFAULT, "__asan_init") != nullptr;
  std::vector<std::string> env_s;
  for (char** e = environ; *e; ++e)
    if (std::string_view(*e).rfind("ASAN_OPTIONS=", 0) != 0) env_s.emplace_back(*e);
  if (asan) {
    const char* o = std::getenv("ASAN_OPTIONS");
    env_s.push_back(std::string("ASAN_OPTIONS=") + (o ? o : "") + (o && *o ? ":" : "") + "hard_rss_limit_mb=" +
                    std::to_string(kMaxBytes >> 20));
  } else if (const char* o = std::getenv("ASAN_OPTIONS")) {
    env_s.push_back(std::string("ASAN_OPTIONS=") + o);
  }
  std::vector<char*> envp;
  for (auto& e : env_s) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  const auto t0 = std::chrono::steady_clock::now();
  const pid_t pid = fork();
  if (pid == 0) {
    if (!asan) {
      struct rlimit as{kMaxBytes, kMaxBytes};
      setrlimit(RLIMIT_AS, &as);
    }
    struct rlimit core{0, 0};
    setrlimit(RLIMIT_CORE, &core);
    const int fd = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int nul = open("/dev/null", O_RDWR);
    dup2(fd, 2);
    dup2(nul, 1);
    dup2(nul, 0);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  CliRun r;
  int status = 0;
  struct rusage ru {};
  while (true) {
    const pid_t w = wait4(pid, &status, WNOHANG, &ru);
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (w == pid) break;
    if (r.seconds > 2 * kMaxSeconds) kill(pid, SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (WIFEXITED(status)) r.code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.sig = WTERMSIG(status);
  r.maxrss_kb = ru.ru_maxrss;
  r.err = read_file(err_path);
  return r;
}

struct Case {
  std::string name;
  std::function<void()> write;     // creates the broken input
  std::vector<std::string> args;   // focalscope arguments
  std::string names;               // the error line must contain this (the file, or the flag)
  std::string also = "";           // and this, when given (the problem)
};

::testing::AssertionResult judge(const Case& c, const CliRun& r) {
  auto bad = [&](const std::string& why) {
    return ::testing::AssertionFailure() << c.name << ": " << why << "\n  stderr: " << r.err;
  };
  if (r.code == 127 && r.err.empty()) return bad(std::string("could not run ") + FOCALSCOPE_EXE + " (being rebuilt?)");
  if (r.sig) return bad("killed by signal " + std::to_string(r.sig));
  if (r.seconds > kMaxSeconds) return bad("took " + std::to_string(r.seconds) + " s");
  if (static_cast<uint64_t>(r.maxrss_kb) * 1024 > kMaxBytes) return bad("peak RSS " + std::to_string(r.maxrss_kb) + " kB");
  if (r.code != 2) return bad("exit code " + std::to_string(r.code) + ", expected 2");
  std::vector<std::string> lines, errors;
  std::istringstream in(r.err);
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) lines.push_back(l);
  for (const auto& l : lines)
    if (l.rfind("error:", 0) == 0) errors.push_back(l);
  if (errors.size() != 1) return bad(std::to_string(errors.size()) + " lines start with 'error:', expected 1");
  if (lines.back() != errors[0]) return bad("the error line is not the last line");
  const std::string& e = errors[0];
  if (e.find(c.names) == std::string::npos) return bad("the error line does not name '" + c.names + "'");
  if (!c.also.empty() && e.find(c.also) == std::string::npos) return bad("the error line lacks '" + c.also + "'");
  for (const char* raw : {"[json.exception", "_M_range_check", "stoi", "stof", "stod", "basic_string", "std::", "what():"})
    if (e.find(raw) != std::string::npos) return bad(std::string("raw library text '") + raw + "'");
  return ::testing::AssertionSuccess();
}

// Writes every case's input, then runs them two at a time.
void run_catalogue(const std::string& tag, const std::vector<Case>& cases) {
  const std::string logs = focalscope::testing::temp_dir("broken_" + tag) + "/logs";
  fs::create_directories(logs);
  for (const auto& c : cases)
    if (c.write) c.write();
  std::vector<CliRun> runs(cases.size());
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i; (i = next++) < cases.size();) runs[i] = run_cli(cases[i].args, logs + "/" + std::to_string(i) + ".err");
  };
  std::thread a(worker), b(worker);
  a.join();
  b.join();
  double total = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_TRUE(judge(cases[i], runs[i]));
    total += runs[i].seconds;
    std::printf("  %-34s %5.2f s %6ld MB  %s", cases[i].name.c_str(), runs[i].seconds, runs[i].maxrss_kb / 1024,
                runs[i].err.substr(runs[i].err.rfind("error:") == std::string::npos ? 0 : runs[i].err.rfind("error:")).c_str());
  }
  std::printf("%zu cases, %.1f s of runs\n", cases.size(), total);
}

std::string repo(const std::string& rel) { return std::string(FOCALSCOPE_SOURCE_DIR) + "/" + rel; }
std::string shapes_model() { return repo("assets/models/shapes"); }
std::string layout_fixture() { return focalscope::testing::shared_fixture("wan_checkpoint_layout"); }
std::string sched_fixture() { return focalscope::testing::fixtures_root() + "/unipc_flow"; }

class BrokenInputs : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // The executable re-executes itself once to tune OpenMP / OpenBLAS unless they are set: set them here, as
    // main() would, so each case costs one process start.
    ::setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
    if (!std::getenv("OPENBLAS_CORETYPE")) {
      const std::string own = focalscope::openblas_core();
      const std::string better = focalscope::openblas_core_upgrade(own, focalscope::detect_cpu_isa());
      if (!better.empty()) {
        ::setenv("OPENBLAS_CORETYPE", better.c_str(), 1);
        ::setenv("FOCALSCOPE_OPENBLAS_OWN_CORE", own.c_str(), 1);
      }
    }
  }
  std::string dir(const std::string& sub) {
    const std::string d = focalscope::testing::temp_dir("broken_inputs") + "/" + sub;
    fs::create_directories(d);
    return d;
  }
  std::string image() {
    const std::string p = dir("common") + "/ok.png";
    if (!fs::exists(p)) write_file(p, png(64, 64));
    return p;
  }
  // generate on `model` (default: the embedded model) with the given extra arguments.
  std::vector<std::string> generate(const std::vector<std::string>& extra, const std::string& model = "") {
    std::vector<std::string> a{"generate", "--image", image(), "--prompt", "a red ball", "--out", dir("common") + "/out.png",
                               "--steps", "1", "--frames", "1"};
    if (!model.empty()) a.insert(a.end(), {"--model-dir", model});
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
};

// ---- safetensors: single files (read by `info` as a model folder's DiT weights) -------------------------------------
TEST_F(BrokenInputs, Safetensors) {
  const std::string root = dir("st");
  const std::string d16(16, '\x01');
  std::vector<Case> cases;
  auto add = [&](const std::string& name, std::function<std::string()> bytes, const std::string& also = "") {
    const std::string m = root + "/" + name;
    const std::string f = m + "/dit.safetensors";
    cases.push_back({"st_" + name, [=] { linked_copy(shapes_model(), m); replace_file(f, bytes()); }, {"info", "--model-dir", m}, f, also});
  };
  auto hdr = [&](const std::string& h, const std::string& data) { return [=] { return safetensors(h, data); }; };
  add("empty", [] { return std::string(); }, "shorter than the 8-byte header");
  add("five_bytes", [] { return std::string("abcde"); });
  add("hlen_past_file", [] { std::string s = safetensors("{}", ""); s[0] = '\x40'; return s; }, "exceeds the file size");
  add("hlen_2_63", [] { std::string s = safetensors("{}", ""); s[7] = '\x80'; return s; });
  add("not_json", hdr("{\"w\": {\"dtype\": ", d16), "not valid JSON");
  add("array_header", hdr("[1,2]", d16), "not a JSON object");
  add("deep_header", hdr(std::string(200000, '[') + std::string(200000, ']'), d16), "nested deeper");
  add("duplicate_key", hdr(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"w":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", d16), "duplicate key");
  add("unknown_dtype", hdr(R"({"w":{"dtype":"F7","shape":[4],"data_offsets":[0,16]}})", d16), "unknown dtype");
  add("missing_fields", hdr(R"({"w":{"dtype":"F32"}})", d16));
  add("entry_not_object", hdr(R"({"w":[1,2,3]})", d16));
  add("negative_dim", hdr(R"({"w":{"dtype":"F32","shape":[-4],"data_offsets":[0,16]}})", d16), "negative");
  add("float_dim", hdr(R"({"w":{"dtype":"F32","shape":[4.5],"data_offsets":[0,16]}})", d16));
  add("offsets_past_data", hdr(R"({"w":{"dtype":"F32","shape":[8],"data_offsets":[0,32]}})", d16), "run past the data section");
  add("begin_after_end", hdr(R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})", d16));
  add("overlap", hdr(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", d16), "overlaps");
  add("hole", hdr(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", d16), "hole");
  add("trailing_bytes", hdr(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", d16), "trailing bytes");
  add("dtype_span_mismatch", hdr(R"({"a":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,16]}})", d16), "needs 8 bytes");
  add("rank_17", hdr(R"({"a":{"dtype":"U8","shape":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,16],"data_offsets":[0,16]}})", d16), "dimensions");
  add("shape_overflow", hdr(R"({"a":{"dtype":"F64","shape":[4294967296,4294967296,2],"data_offsets":[0,16]}})", d16), "2^64");
  add("metadata_not_string", hdr(R"({"__metadata__":{"format":1}})", ""), "__metadata__");
  add("huge_number", hdr(R"({"a":{"dtype":"F32","shape":[1e999],"data_offsets":[0,16]}})", d16), "not valid JSON");
  add("truncated_real", [] { const std::string s = read_file(shapes_model() + "/dit.safetensors"); return s.substr(0, s.size() - 100); });
  add("header_only_real", [] { const std::string s = read_file(shapes_model() + "/dit.safetensors"); return s.substr(0, 4000); });
  {
    const std::string m = root + "/directory";
    cases.push_back({"st_directory", [=] { linked_copy(shapes_model(), m); fs::remove(m + "/dit.safetensors"); fs::create_directories(m + "/dit.safetensors"); },
                     {"info", "--model-dir", m}, m + "/dit.safetensors"});
  }
  // Valid files with wrong contents, found when the model is built (generate): NaN weights, a wrong shape.
  auto patched_dit = [](bool nan) {
    std::string s = read_file(shapes_model() + "/dit.safetensors");
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; --i) hlen = hlen << 8 | static_cast<unsigned char>(s[i]);
    json h = json::parse(s.substr(8, hlen));
    for (auto it = h.begin(); it != h.end(); ++it) {
      if (it.key() == "__metadata__" || ((*it)["dtype"] != "F32" && (*it)["dtype"] != "F16")) continue;
      if (nan) {
        const uint64_t at = 8 + hlen + (*it)["data_offsets"][0].get<uint64_t>();
        if ((*it)["dtype"] == "F16") {
          s[at] = '\x00', s[at + 1] = '\x7e';  // half-precision NaN
        } else {
          const float q = std::numeric_limits<float>::quiet_NaN();
          std::memcpy(&s[at], &q, 4);
        }
        return s;
      }
      auto shape = (*it)["shape"].get<std::vector<int64_t>>();
      if (shape.size() != 2) continue;
      (*it)["shape"] = std::vector<int64_t>{shape[1], shape[0]};
      if (shape[0] == shape[1]) continue;
      std::string nh = h.dump();
      while ((nh.size() + 8) % 8) nh.push_back(' ');
      return safetensors(nh, s.substr(8 + hlen));
    }
    return s;
  };
  for (bool nan : {true, false}) {
    const std::string m = root + (nan ? "/nan_weights" : "/wrong_shape");
    cases.push_back({nan ? "st_nan_weights_generate" : "st_wrong_shape_generate",
                     [=] { linked_copy(shapes_model(), m); replace_file(m + "/dit.safetensors", patched_dit(nan)); },
                     generate({}, m), m + "/dit.safetensors", nan ? "NaN" : "has shape"});
  }
  run_catalogue("st", cases);
  // `info` describes such a folder (exit 0) and warns, naming the file and the tensor, where generate refuses it.
  const CliRun info = run_cli({"info", "--model-dir", root + "/nan_weights"}, root + "/info_nan.err");
  EXPECT_EQ(info.code, 0) << info.err;
  EXPECT_NE(info.err.find("warning: " + root + "/nan_weights/dit.safetensors: tensor '"), std::string::npos) << info.err;
  EXPECT_NE(info.err.find("NaN/Inf"), std::string::npos) << info.err;
}

// ---- GGUF (city96-style DiT files): the fuzzer's findings, kept as regression inputs -----------------------------------
TEST_F(BrokenInputs, Gguf) {
  const std::string root = dir("gguf");
  std::vector<Case> cases;
  // fuzz_gguf: a comfy.gguf.orig_shape whose element count overflows int64 (was signed-overflow UB in the reader).
  const std::string f = root + "/orig_shape_overflow.gguf";
  cases.push_back({"gguf_orig_shape_overflow", [=] { write_file(f, read_file(repo("tests/fuzz/seeds/regression_orig_shape_overflow.gguf"))); },
                   {"info", "--dit", f}, f});
  // fuzz_gguf: an integer array item above INT64_MAX (was an uncaught std::out_of_range from stoll).
  const std::string u = root + "/uint64_array_item.gguf";
  cases.push_back({"gguf_uint64_array_item", [=] { write_file(u, read_file(repo("tests/fuzz/seeds/regression_uint64_array_item.gguf"))); },
                   {"info", "--dit", u}, u});
  const std::string t = root + "/truncated.gguf";
  cases.push_back({"gguf_truncated", [=] {
                     const std::string s = read_file(repo("tests/fuzz/seeds/tiny_mixed.gguf"));
                     write_file(t, s.substr(0, s.size() - 40));
                   },
                   {"info", "--dit", t}, t, "runs past the end"});
  run_catalogue("gguf", cases);
}

// ---- sharded safetensors (official layout: index + shards) --------------------------------------------------------
TEST_F(BrokenInputs, ShardedIndex) {
  if (!fs::exists(layout_fixture())) GTEST_SKIP() << "no shared wan_checkpoint_layout fixture";
  const std::string root = dir("shards");
  const std::string idx = "diffusion_pytorch_model.safetensors.index.json";
  const json good = json::parse(read_file(layout_fixture() + "/" + idx));
  std::vector<Case> cases;
  auto add = [&](const std::string& name, std::function<std::string()> bytes, const std::string& also = "") {
    const std::string m = root + "/" + name;
    cases.push_back({"index_" + name, [=] { linked_copy(layout_fixture(), m); replace_file(m + "/" + idx, bytes()); },
                     {"info", "--model-dir", m}, m + "/" + idx, also});
  };
  auto edited = [&](std::function<void(json&)> f) { return [=] { json j = good; f(j); return j.dump(); }; };
  add("not_json", [] { return std::string("{\"weight_map\": {"); });
  add("empty", [] { return std::string(); });
  add("array", [] { return std::string("[]"); });
  add("deep", [] { return std::string(100000, '{') ; });
  add("no_weight_map", edited([](json& j) { j.erase("weight_map"); }), "weight_map");
  add("weight_map_list", edited([](json& j) { j["weight_map"] = json::array({1, 2}); }), "weight_map");
  add("entry_number", edited([](json& j) { j["weight_map"].begin().value() = 7; }), "is not a file name");
  add("escape_path", edited([](json& j) { j["weight_map"].begin().value() = "../../etc/passwd"; }), "outside the folder");
  add("missing_shard", edited([](json& j) { j["weight_map"].begin().value() = "nope.safetensors"; }), "does not exist");
  add("duplicate_key", [&] {
        const std::string s = good.dump();
        const std::string first = "\"" + good["weight_map"].begin().key() + "\":\"" + good["weight_map"].begin().value().get<std::string>() + "\",";
        const size_t at = s.find("\"weight_map\":{") + 14;
        return s.substr(0, at) + first + s.substr(at);
      }, "duplicate key");
  {
    // A tensor listed for the wrong shard: named by the shard that holds it.
    const std::string m = root + "/wrong_shard";
    std::string first_shard;
    json j = good;
    std::string moved;
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it)
      if (it.value() == "diffusion_pytorch_model-00002-of-00002.safetensors") { moved = it.key(); it.value() = "diffusion_pytorch_model-00001-of-00002.safetensors"; break; }
    cases.push_back({"index_wrong_shard", [=] { linked_copy(layout_fixture(), m); replace_file(m + "/" + idx, j.dump()); },
                     {"info", "--model-dir", m}, "safetensors", moved});
  }
  {
    const std::string m = root + "/broken_shard";
    const std::string shard = "diffusion_pytorch_model-00001-of-00002.safetensors";
    cases.push_back({"index_shard_trailing_bytes",
                     [=] { linked_copy(layout_fixture(), m); replace_file(m + "/" + shard, read_file(layout_fixture() + "/" + shard) + "JUNK"); },
                     {"info", "--model-dir", m}, m + "/" + shard, "trailing bytes"});
  }
  run_catalogue("shards", cases);
}

// ---- .pth: zip container and pickle, hostile payloads included -----------------------------------------------------
TEST_F(BrokenInputs, Pth) {
  if (!fs::exists(layout_fixture())) GTEST_SKIP() << "no shared wan_checkpoint_layout fixture";
  const std::string root = dir("pth");
  const std::string canary = root + "/CANARY";
  fs::remove(canary);
  const std::string cmd = "touch " + canary;
  std::vector<Case> cases;
  auto add = [&](const std::string& name, std::function<std::string()> bytes, const std::string& also = "") {
    const std::string m = root + "/" + name;
    const std::string f = m + "/Wan2.1_VAE.pth";
    cases.push_back({"pth_" + name, [=] { linked_copy(layout_fixture(), m); replace_file(f, bytes()); }, {"info", "--model-dir", m}, f, also});
  };
  auto pk = [&](std::function<std::string()> pkl, std::vector<Entry> more = {{"archive/data/0", floats(4)}}) {
    return [=] { return pth(pkl(), more); };
  };
  const std::string real = read_file(layout_fixture() + "/Wan2.1_VAE.pth");
  // container
  add("empty", [] { return std::string(); });
  add("text", [] { return std::string("this is not a checkpoint\n"); }, "not a zip");
  add("legacy_pickle", [] { return std::string("\x80\x02\x8a\x0a", 4) + std::string(64, 'x'); }, "legacy");
  add("truncated_real", [=] { return real.substr(0, real.size() / 2); });
  add("tail_cut", [=] { return real.substr(0, real.size() - 10); });
  add("no_data_pkl", [] { return make_zip({{"archive/version", "3\n"}}); }, "data.pkl");
  add("crc_mismatch", [] { return make_zip({{"archive/data.pkl", state_dict(4, {4}, {1})}, {"archive/data/0", floats(4), 0, UINT64_MAX, true}}); }, "CRC");
  add("encrypted", [] { return make_zip({{"archive/data.pkl", state_dict(4, {4}, {1}), 0, UINT64_MAX, false, 1}}); }, "encrypted");
  add("method_bzip2", [] { return make_zip({{"archive/data.pkl", state_dict(4, {4}, {1})}, {"archive/data/0", floats(4), 12}}); }, "compression method 12");
  add("deflate_bomb_declared", [] {
        // 4.5 GiB declared from a tiny deflate stream: refused from the directory, before inflating.
        return make_zip({{"archive/data.pkl", state_dict(4, {4}, {1})}, {"archive/data/0", std::string("\x03\x00", 2), 8, 4831838208ull}});
      }, "deflate");
  add("duplicate_entry", [] { return make_zip({{"archive/data.pkl", state_dict(4, {4}, {1})}, {"archive/data/0", floats(4)}, {"archive/data/0", floats(4)}}); }, "duplicate");
  add("eocd_count_lies", [] { std::string z = pth(state_dict(4, {4}, {1})); z[z.size() - 12] = '\x50'; z[z.size() - 14] = '\x50'; return z; });
  add("zip64_without_locator", [] { std::string z = pth(state_dict(4, {4}, {1})); z[z.size() - 12] = z[z.size() - 11] = '\xff'; z[z.size() - 14] = z[z.size() - 13] = '\xff'; return z; }, "zip64");
  // pickle structure
  add("pickle_bad_opcode", pk([] { return std::string("\x80\x02}\xff.", 5); }), "opcode");
  add("pickle_no_stop", pk([] { return std::string("\x80\x02}", 3); }), "STOP");
  add("pickle_underflow", pk([] { return std::string("\x80\x02s.", 4); }), "underflow");
  add("pickle_memo_missing", pk([] { return std::string("\x80\x02h\x07.", 5); }), "memo");
  add("pickle_deep_marks", pk([] { return std::string("\x80\x02", 2) + std::string(10000, '(') + "."; }), "MARK");
  add("pickle_stack_flood", pk([] { return std::string("\x80\x02", 2) + std::string(400000, 'N') + "."; }), "stack");
  add("pickle_memo_index", pk([] { return std::string("\x80\x02Nr\xff\xff\xff\x7f.", 9); }), "memo index");
  add("pickle_object_flood", pk([] { std::string s("\x80\x02]", 3); for (int i = 0; i < 2200000; ++i) s += "Na"; return s + "."; }), "objects");
  add("pickle_top_list", pk([] { return std::string("\x80\x02].", 4); }), "not a state dict");
  add("storage_missing", pk([] { return state_dict(4, {4}, {1}); }, {}), "missing");
  add("storage_short", pk([] { return state_dict(8, {8}, {1}); }), "storage needs");
  add("storage_wrong_dtype", pk([] { return state_dict(4, {4}, {1}, 0, "HalfStorage"); }), "another dtype");
  add("storage_type_unknown", pk([] { return state_dict(4, {4}, {1}, 0, "QInt8Storage"); }), "unsupported storage type");
  add("extent_past_storage", pk([] { return state_dict(4, {2, 3}, {3, 1}); }), "reaches past");
  add("negative_stride", pk([] { return state_dict(4, {4}, {-1}, 3); }), "negative");
  add("rank_20", pk([] { return state_dict(4, std::vector<int64_t>(20, 1), std::vector<int64_t>(20, 1)); }), "dimensions");
  // hostile payloads: refused by name, never run
  add("reduce_os_system", pk([=] { return Pickle().proto().global("os", "system").str(cmd).op('\x85').op('R').op('.').b; }), "'os.system'");
  add("reduce_posix_system", pk([=] { return Pickle().proto().global("posix", "system").str(cmd).op('\x85').op('R').op('.').b; }), "'posix.system'");
  add("stack_global_eval", pk([=] { return Pickle().proto(4).raw("\x8c\x08" "builtins" "\x8c\x04" "eval" "\x93").str("__import__('os').system('" + cmd + "')").op('\x85').op('R').op('.').b; }), "'builtins.eval'");
  add("reduce_exec", pk([=] { return Pickle().proto().global("builtins", "exec").str("import os; os.system('" + cmd + "')").op('\x85').op('R').op('.').b; }), "'builtins.exec'");
  add("subprocess_popen", pk([=] { return Pickle().proto().global("subprocess", "Popen").op('(').str("touch").str(canary).op('l').op('\x85').op('R').op('.').b; }), "'subprocess.Popen'");
  add("inst_os_system", pk([=] { return Pickle().proto().op('(').str(cmd).raw("ios\nsystem\n").op('.').b; }), "'os.system' (INST)");
  add("obj_subprocess", pk([=] { return Pickle().proto().op('(').global("subprocess", "call").str(cmd).op('o').op('.').b; }), "'subprocess.call'");
  add("newobj", pk([] { return Pickle().proto().global("collections", "OrderedDict").op(')').op('\x81').op('.').b; }), "NEWOBJ");
  add("build_setstate", pk([] { return Pickle().proto().global("torch._utils", "_rebuild_tensor_v2").op('}').op('b').op('.').b; }), "BUILD");
  add("payload_in_state_dict", pk([=] { return Pickle().proto().ordered_dict().str("w").global("os", "system").str(cmd).op('\x85').op('R').op('s').op('.').b; }), "'os.system'");
  add("getattr_chain", pk([] { return Pickle().proto().global("builtins", "getattr").global("os", "path").str("join").op('\x86').op('R').op('.').b; }), "'builtins.getattr'");
  add("torch_load_nested", pk([] { return Pickle().proto().global("torch", "load").str("/etc/passwd").op('\x85').op('R').op('.').b; }), "'torch.load'");
  run_catalogue("pth", cases);
  EXPECT_FALSE(fs::exists(canary)) << "a pickle payload ran";
}

// ---- model folders: focalscope.json manifests (info) and the configs they hold (generate) ----------------------------
TEST_F(BrokenInputs, ModelFolders) {
  const std::string root = dir("models");
  const json good = json::parse(read_file(shapes_model() + "/focalscope.json"));
  std::vector<Case> cases;
  auto add = [&](const std::string& name, bool gen, std::function<std::string()> bytes, const std::string& also = "") {
    const std::string m = root + "/" + name;
    const std::string f = m + "/focalscope.json";
    std::vector<std::string> args = gen ? generate({}, m) : std::vector<std::string>{"info", "--model-dir", m};
    cases.push_back({"manifest_" + name, [=] { linked_copy(shapes_model(), m); replace_file(f, bytes()); }, args, f, also});
  };
  auto edited = [&](std::function<void(json&)> f) { return [=] { json j = good; f(j); return j.dump(1); }; };
  add("not_json", false, [] { return std::string("{\"dit\": "); }, "not valid JSON");
  add("empty", false, [] { return std::string(); });
  add("array", false, [] { return std::string("[1, 2]"); }, "top level is an array");
  add("deep", false, [] { return std::string(300000, '[') + std::string(300000, ']'); }, "nested deeper");
  add("deep_value", false, edited([](json& j) { json v = 1; for (int i = 0; i < 200; ++i) v = json::array({v}); j["name"] = v; }), "nested deeper");
  add("duplicate_key", false, [&] { const std::string s = good.dump(); return "{\"name\":\"x\"," + s.substr(1); }, "duplicate key");
  add("no_dit", false, edited([](json& j) { j.erase("dit"); }), "dit");
  add("dit_not_object", false, edited([](json& j) { j["dit"] = 3; }), "dit");
  add("weights_number", false, edited([](json& j) { j["dit"]["weights"] = 3; }), "dit.weights");
  add("weights_missing_file", false, edited([](json& j) { j["dit"]["weights"] = "nope.safetensors"; }), "nope.safetensors");
  add("invalid_utf8", false, [&] { std::string s = good.dump(); s.insert(s.find("shapes"), "\xff\xfe"); return s; }, "not valid JSON");
  add("config_missing", false, edited([](json& j) { j["vae"].erase("config"); }), "vae.config");
  // configs (read when the model is built)
  add("dit_dim_not_multiple", true, edited([](json& j) { j["dit"]["config"]["dim"] = 97; }), "DiT config");
  add("dit_dim_string", true, edited([](json& j) { j["dit"]["config"]["dim"] = "big"; }), "DiT config");
  add("dit_layers_huge", true, edited([](json& j) { j["dit"]["config"]["num_layers"] = 1000000; }), "num_layers");
  add("t5_config_array", true, edited([](json& j) { j["text_encoder"]["config"] = json::array(); }));
  add("clip_config_bad", true, edited([](json& j) { j["clip"]["config"]["dim"] = -1; }));
  add("vae_config_bad", true, edited([](json& j) { j["vae"]["config"]["z_dim"] = "x"; }));
  add("sampling_steps_1e9", true, edited([](json& j) { j["sampling"]["steps"] = 1000000000; }), "sampling.steps");
  add("sampling_frames_string", true, edited([](json& j) { j["sampling"]["frames"] = "many"; }), "sampling.frames");
  {
    // A manifest default the user did not override is named after the manifest, not after --frames.
    const std::string m = root + "/sampling_frames_not_1_4k";
    std::vector<std::string> args = generate({}, m);
    const auto it = std::find(args.begin(), args.end(), "--frames");
    args.erase(it, it + 2);
    const auto bytes = edited([](json& j) { j["sampling"]["frames"] = 2; });
    cases.push_back({"manifest_sampling_frames_not_1_4k", [=] { linked_copy(shapes_model(), m); replace_file(m + "/focalscope.json", bytes()); },
                     args, m + "/focalscope.json", "sampling.frames"});
  }
  add("sampling_area_huge", true, edited([](json& j) { j["sampling"]["max_area"] = 1e15; }), "sampling.max_area");
  add("sampling_not_object", true, edited([](json& j) { j["sampling"] = "fast"; }), "sampling");
  add("weak_layers_out_of_model", true, edited([](json& j) { j["weak_layers"] = json::array({999}); }), "weak_layers");
  add("tau_cache_string", true, edited([](json& j) { j["calibration"]["tau_cache"] = "x"; }), "tau_cache");
  {
    const std::string m = root + "/not_a_folder";
    cases.push_back({"model_dir_is_file", [=] { fs::remove_all(m); write_file(m, "x"); }, {"info", "--model-dir", m}, m});
  }
  run_catalogue("models", cases);
}

// ---- official-layout DiT config.json ---------------------------------------------------------------------------------
TEST_F(BrokenInputs, DitConfig) {
  if (!fs::exists(layout_fixture())) GTEST_SKIP() << "no shared wan_checkpoint_layout fixture";
  const std::string root = dir("config");
  const json good = json::parse(read_file(layout_fixture() + "/config.json"));
  std::vector<Case> cases;
  auto add = [&](const std::string& name, std::function<std::string()> bytes, const std::string& also = "") {
    const std::string m = root + "/" + name;
    cases.push_back({"config_" + name, [=] { linked_copy(layout_fixture(), m); replace_file(m + "/config.json", bytes()); },
                     {"info", "--model-dir", m}, m + "/config.json", also});
  };
  auto edited = [&](std::function<void(json&)> f) { return [=] { json j = good; f(j); return j.dump(); }; };
  add("array", [] { return std::string("[]"); }, "top level is an array");
  add("string", [] { return std::string("\"config\""); });
  add("not_json", [] { return std::string("{dim: 3}"); });
  add("deep", [] { return std::string(300000, '[') + std::string(300000, ']'); });
  add("dim_not_multiple", edited([](json& j) { j["dim"] = 97; }), "dim must be a positive multiple of num_heads");
  add("dim_array", edited([](json& j) { j["dim"] = json::array({1}); }), "DiT config");
  add("layers_huge", edited([](json& j) { j["num_layers"] = 100000000; }), "num_layers");
  add("patch_two_entries", edited([](json& j) { j["patch_size"] = json::array({1, 2}); }), "patch_size");
  add("model_type_video", edited([](json& j) { j["model_type"] = "v2v"; }), "model_type");
  add("int_overflow", edited([](json& j) { j["dim"] = 99999999999999ll; }), "DiT config");
  run_catalogue("config", cases);
}

// ---- tokenizer model (spiece.model, run through generate) ----------------------------------------------------------
TEST_F(BrokenInputs, Tokenizer) {
  const std::string root = dir("tokenizer");
  const std::string good = read_file(shapes_model() + "/spiece.model");
  const std::string cm = charsmap_of(good);
  ASSERT_FALSE(cm.empty());
  std::vector<Case> cases;
  auto add = [&](const std::string& name, std::function<std::string()> bytes, const std::string& also = "") {
    const std::string m = root + "/" + name;
    const std::string f = m + "/spiece.model";
    cases.push_back({"spm_" + name, [=] { linked_copy(shapes_model(), m); replace_file(f, bytes()); }, generate({}, m), f, also});
  };
  add("empty", [] { return std::string(); });
  add("text", [] { return std::string("hello world\n"); });
  add("random", [] { std::string s(5000, 0); uint32_t x = 1; for (auto& c : s) { x = x * 1664525u + 1013904223u; c = static_cast<char>(x >> 24); } return s; });
  add("truncated", [=] { return good.substr(0, good.size() / 2); });
  add("charsmap_random", [=] { std::string g(2000, 0); uint32_t x = 7; for (auto& c : g) { x = x * 1664525u + 1013904223u; c = static_cast<char>(x >> 24); } return with_charsmap(good, g); }, "normalizer");
  add("charsmap_size_past_blob", [=] { std::string g = cm; set32(g, 0, 0xFFFFFFF0u); return with_charsmap(good, g); }, "normalizer");
  add("charsmap_root_outside", [=] { std::string g = cm; g[4] = g[5] = g[6] = g[7] = '\xff'; return with_charsmap(good, g); }, "normalizer");
  add("charsmap_flipped_units", [=] { std::string g = cm; for (size_t i = 4; i < g.size(); ++i) if (i % 7 == 4) g[i] ^= 0x5a; return with_charsmap(good, g); }, "normalizer");
  add("charsmap_strings_cut", [=] { uint32_t n; std::memcpy(&n, cm.data(), 4); return with_charsmap(good, cm.substr(0, 4 + n + 2)); }, "normalizer");
  add("charsmap_tiny", [=] { return with_charsmap(good, std::string("\x04\x00\x00\x00\x00\x00\x00\x00\x00", 9)); }, "normalizer");
  add("model_type_9", [=] {
        std::string out;
        for (const auto& f : pb_fields(good)) out += f.field == 2 ? field(2, f.payload + varint(3 << 3) + varint(9)) : f.raw;
        return out;
      }, "model_type");
  add("no_pieces", [=] { std::string out; for (const auto& f : pb_fields(good)) if (f.field != 1) out += f.raw; return out; }, "no pieces");
  add("wire_type_wrong", [] { return std::string("\x08\x01\x10\x02", 4); });
  {
    const std::string m = root + "/directory";
    cases.push_back({"spm_directory", [=] { linked_copy(shapes_model(), m); fs::remove(m + "/spiece.model"); fs::create_directories(m + "/spiece.model"); },
                     generate({}, m), m + "/spiece.model"});
  }
  run_catalogue("tokenizer", cases);
}

// ---- conditioning images ------------------------------------------------------------------------------------------
TEST_F(BrokenInputs, Images) {
  const std::string root = dir("images");
  std::vector<Case> cases;
  auto add = [&](const std::string& name, std::function<std::string()> bytes, const std::string& also = "") {
    const std::string f = root + "/" + name;
    std::vector<std::string> args = generate({});
    args[2] = f;
    cases.push_back({"image_" + name, [=] { fs::remove_all(f); write_file(f, bytes()); }, args, f, also});
  };
  const std::string ok = png(64, 64);
  add("empty.png", [] { return std::string(); }, "empty");
  add("text.png", [] { return std::string("not an image at all"); }, "cannot decode");
  add("truncated.png", [=] { return ok.substr(0, ok.size() / 2); });
  add("header_only.png", [=] { return ok.substr(0, 33); });
  add("huge_declared.png", [] { return png_declaring(100000, 100000); });
  add("large_declared.png", [] { return png_declaring(16000, 16000); }, "exceeds the limit");
  add("wide_declared.png", [] { return png_declaring(16000000, 1); });
  add("zero_declared.png", [] { return png_declaring(0, 16); });
  add("one_pixel.png", [] { return png(1, 1); }, "too small");
  add("tiny.png", [] { return png(8, 8); }, "too small");
  add("extreme_aspect.png", [] { return png(2000, 16); }, "aspect ratio");
  add("truncated.jpg", [] { const std::string j = jpg(64, 64); return j.substr(0, j.size() / 3); });
  add("random.jpg", [] { std::string s = "\xff\xd8\xff\xe0"; uint32_t x = 3; for (int i = 0; i < 3000; ++i) { x = x * 1664525u + 1013904223u; s.push_back(static_cast<char>(x >> 24)); } return s; });
  add("gif_header.gif", [] { return std::string("GIF89a\x10\x00\x10\x00", 10); });
  {
    const std::string f = root + "/a_directory.png";
    std::vector<std::string> args = generate({});
    args[2] = f;
    cases.push_back({"image_directory", [=] { fs::remove_all(f); fs::create_directories(f); }, args, f, "directory"});
  }
  {
    const std::string f = root + "/missing.png";
    std::vector<std::string> args = generate({});
    args[2] = f;
    cases.push_back({"image_missing", nullptr, args, f, "not found"});
  }
  run_catalogue("images", cases);
}

// ---- JSON case files (stats) -------------------------------------------------------------------------------------------
TEST_F(BrokenInputs, CaseFiles) {
  const std::string root = dir("cases");
  std::vector<Case> cases;
  auto add = [&](const std::string& name, std::function<std::string()> bytes, const std::string& also = "") {
    const std::string f = root + "/" + name + ".json";
    cases.push_back({"cases_" + name, [=] { write_file(f, bytes()); }, {"stats", "--cases", f}, f, also});
  };
  auto text = [](const std::string& s) { return [=] { return s; }; };
  add("not_json", text("{\"cases\": [}"), "not valid JSON");
  add("empty", text(""));
  add("array_top", text("[1,2,3]"));
  add("deep", text(std::string(300000, '[') + std::string(300000, ']')), "nested deeper");
  add("deep_values", text("{\"cases\":[{\"name\":\"a\",\"shape\":[2,2],\"values\":" + std::string(1000, '[') + std::string(1000, ']') + "}]}"), "nested deeper");
  add("cases_not_list", text("{\"cases\": {}}"));
  add("case_not_object", text("{\"cases\": [3]}"));
  add("values_missing", text("{\"cases\":[{\"name\":\"a\",\"shape\":[2,2]}]}"));
  add("values_strings", text("{\"cases\":[{\"name\":\"a\",\"shape\":[2,2],\"values\":[\"1\",\"2\",\"3\",\"4\"]}]}"));
  add("shape_mismatch", text("{\"cases\":[{\"name\":\"a\",\"shape\":[3,3],\"values\":[1,2,3,4]}]}"));
  add("shape_negative", text("{\"cases\":[{\"name\":\"a\",\"shape\":[-2,-2],\"values\":[1,2,3,4]}]}"));
  add("shape_huge", text("{\"cases\":[{\"name\":\"a\",\"shape\":[1000000000,1000000000],\"values\":[1]}]}"));
  add("shape_4d", text("{\"cases\":[{\"name\":\"a\",\"shape\":[1,1,2,2],\"values\":[1,2,3,4]}]}"));
  add("duplicate_key", text("{\"cases\":[], \"cases\":[]}"), "duplicate key");
  add("nan_literal", text("{\"cases\":[{\"name\":\"a\",\"shape\":[2,2],\"values\":[NaN,1,2,3]}]}"));
  add("number_overflow", text("{\"cases\":[{\"name\":\"a\",\"shape\":[2,2],\"values\":[1e400,1,2,3]}]}"));
  add("invalid_utf8", text("{\"cases\":[{\"name\":\"\xff\xfe\",\"shape\":[2,2],\"values\":[0,1,2,3]}]}"));
  {
    const std::string f = root + "/dir.json";
    cases.push_back({"cases_directory", [=] { fs::create_directories(f); }, {"stats", "--cases", f}, f, "directory"});
  }
  run_catalogue("cases", cases);
}

// ---- guidance configs (--guidance-config) ------------------------------------------------------------------------------
TEST_F(BrokenInputs, GuidanceConfigs) {
  const std::string root = dir("guidance");
  std::vector<Case> cases;
  auto add = [&](const std::string& name, const std::string& text, const std::string& also = "") {
    const std::string f = root + "/" + name + ".json";
    cases.push_back({"guidance_" + name, [=] { write_file(f, text); }, generate({"--guidance", "fg", "--guidance-config", f}), f, also});
  };
  add("not_json", "{\"lambda_txt\": ", "not valid JSON");
  add("empty", "");
  add("array", "[0.5]", "top level is an array");
  add("deep", std::string(300000, '{'));
  add("lambda_string", "{\"lambda_txt\": \"strong\"}");
  add("tau_sel_out_of_range", "{\"tau_sel\": 7}");
  add("weak_layers_strings", "{\"weak_layers\": [\"a\"]}");
  add("cache_source_bogus", "{\"cache_source\": \"tomorrow\"}");
  add("duplicate_key", "{\"tau_sel\": 0.1, \"tau_sel\": 0.2}", "duplicate key");
  add("huge_number", "{\"lambda_txt\": 1e999}");
  {
    const std::string f = root + "/missing.json";
    cases.push_back({"guidance_missing", nullptr, generate({"--guidance", "fg", "--guidance-config", f}), f});
  }
  run_catalogue("guidance", cases);
}

// ---- benchmark sets (bench --bench-dir: index.json + <case>/case.json) ------------------------------------------------
TEST_F(BrokenInputs, BenchSets) {
  const std::string root = dir("bench_sets");
  std::vector<Case> cases;
  auto add = [&](const std::string& name, const std::string& index, const std::string& case_json, bool names_case = false,
                 const std::string& also = "") {
    const std::string d = root + "/" + name;
    cases.push_back({"benchset_" + name,
                     [=] {
                       fs::remove_all(d);
                       write_file(d + "/index.json", index);
                       write_file(d + "/c1/case.json", case_json);
                     },
                     {"bench", "--suite", "shapes", "--bench-dir", d, "--limit", "1", "--out", d + "/out"},
                     names_case ? d + "/c1/case.json" : d + "/index.json", also});
  };
  const std::string ok_index = R"({"cases": [{"id": "a", "dir": "c1"}]})";
  add("index_array", "[1]", "{}", false, "top level is an array");
  add("index_not_json", "{\"cases\": [", "{}", false, "not valid JSON");
  add("index_deep", std::string(100000, '['), "{}", false, "nested deeper");
  add("index_escape", R"({"cases": [{"id": "a", "dir": "../../etc"}]})", "{}", false, "inside the set");
  add("index_id_number", R"({"cases": [{"id": 1}]})", "{}", false, "\"id\"");
  add("index_no_cases", R"({"items": []})", "{}", false, "cases");
  add("case_not_json", ok_index, "{\"x\":", true, "not valid JSON");
  add("case_array", ok_index, "[]", true);
  add("case_duplicate_key", ok_index, R"({"prompt": "a", "prompt": "b"})", true, "duplicate key");
  run_catalogue("bench_sets", cases);
}

// ---- reference-fixture folders (run-module) ----------------------------------------------------------------------------
TEST_F(BrokenInputs, FixtureFolders) {
  if (!fs::exists(sched_fixture())) GTEST_SKIP() << "no shared wan_reference fixtures";
  const std::string root = dir("fixtures");
  const json good = json::parse(read_file(sched_fixture() + "/config.json"));
  std::vector<Case> cases;
  auto add = [&](const std::string& name, std::function<std::string()> bytes, const std::string& file = "config.json",
                 const std::string& also = "") {
    const std::string d = root + "/" + name;
    cases.push_back({"fixture_" + name, [=] { linked_copy(sched_fixture(), d); replace_file(d + "/" + file, bytes()); },
                     {"run-module", "--fixture", d, "--out", d + "/out.safetensors"}, d + "/" + file, also});
  };
  auto edited = [&](std::function<void(json&)> f) { return [=] { json j = good; f(j); return j.dump(); }; };
  add("config_deep_value", [&] {
        std::string s = good.dump();
        const std::string key = "\"solver_order\":2";
        const size_t at = s.find(key);
        return s.substr(0, at) + "\"solver_order\":" + std::string(300000, '[') + std::string(300000, ']') + s.substr(at + key.size());
      }, "config.json", "nested deeper");
  add("config_array", [] { return std::string("[]"); }, "config.json", "top level is an array");
  add("config_not_json", [] { return std::string("{"); });
  add("steps_1e9", edited([](json& j) { for (auto& c : j["cases"]) if (c.contains("set_timesteps")) c["set_timesteps"]["num_inference_steps"] = 1000000000; }), "config.json", "num_inference_steps");
  add("steps_fraction", edited([](json& j) { for (auto& c : j["cases"]) if (c.contains("steps")) c["steps"] = 2.5; }), "config.json", "steps");
  add("train_timesteps_huge", edited([](json& j) { for (auto& c : j["cases"]) c["scheduler_ctor"]["num_train_timesteps"] = 1e12; }), "config.json", "num_train_timesteps");
  add("shift_negative", edited([](json& j) { for (auto& c : j["cases"]) if (c.contains("shift")) c["shift"] = -1; }), "config.json", "shift");
  add("cases_empty", edited([](json& j) { j["cases"] = json::object(); }));
  add("io_trailing", [] { return read_file(sched_fixture() + "/io.safetensors") + "JUNK"; }, "io.safetensors", "trailing bytes");
  add("io_truncated", [] { const std::string s = read_file(sched_fixture() + "/io.safetensors"); return s.substr(0, s.size() - 64); }, "io.safetensors");
  run_catalogue("fixtures", cases);
}

// ---- GUI scripts (checked before a window opens) -------------------------------------------------------------------------
TEST_F(BrokenInputs, GuiScripts) {
  const std::string root = dir("scripts");
  std::vector<Case> cases;
  auto add = [&](const std::string& name, const std::string& text, const std::string& names_suffix = "", const std::string& also = "") {
    const std::string f = root + "/" + name + ".txt";
    cases.push_back({"script_" + name, [=] { write_file(f, text); }, {"gui", "--script", f}, f + names_suffix, also});
  };
  add("empty", "", "", "no commands");
  add("comments_only", "# nothing\n\n", "", "no commands");
  add("unknown_verb", "prompt a cat\nfly away\n", ":2", "unknown command");
  add("steps_text", "steps many\n", ":1");
  add("steps_huge", "steps 1e300\n", ":1");
  add("cell_huge", "cell 99999999999 1\n", ":1");
  add("mouse_float_overflow", "mouse 1e39 5\n", ":1");
  add("brush_nan", "brush nan 1 2\n", ":1");
  add("nul_byte", std::string("prompt a\0b\n", 11), "", "NUL");
  add("too_long", std::string(2u << 20, '#'), "", "exceeds the limit");
  add("too_many_lines", std::string(200000, '\n') + "quit\n", "", "lines");
  {
    const std::string f = root + "/a_directory";
    cases.push_back({"script_directory", [=] { fs::create_directories(f); }, {"gui", "--script", f}, f, "directory"});
  }
  {
    const std::string f = root + "/missing.txt";
    cases.push_back({"script_missing", nullptr, {"gui", "--script", f}, f});
  }
  // A build without the desktop app has no gui command: then these are not applicable.
  const CliRun probe = run_cli({"gui", "--help"}, root + "/probe.err");
  if (probe.code != 0) GTEST_SKIP() << "this build has no gui command";
  run_catalogue("scripts", cases);
}

// ---- command-line flags: the error names the flag ----------------------------------------------------------------------
TEST_F(BrokenInputs, Flags) {
  std::vector<Case> cases;
  auto add = [&](const std::string& name, const std::vector<std::string>& extra, const std::string& flag, const std::string& also = "") {
    cases.push_back({"flag_" + name, nullptr, generate(extra), flag, also});
  };
  add("steps_text", {"--steps", "abc"}, "--steps");
  add("steps_1e9", {"--steps", "1000000000"}, "--steps");
  add("steps_float", {"--steps", "2.5"}, "--steps");
  add("frames_not_1_4k", {"--frames", "2"}, "--frames");
  add("frames_huge", {"--frames", "99999"}, "--frames");
  add("cfg_nan", {"--cfg", "nan"}, "--cfg");
  add("cfg_inf", {"--cfg", "inf"}, "--cfg");
  add("shift_zero", {"--shift", "0"}, "--shift");
  add("max_area_huge", {"--max-area", "1000000000000"}, "--max-area");
  add("seed_negative", {"--seed", "-1"}, "--seed");
  add("seed_overflow", {"--seed", "99999999999999999999999"}, "--seed");
  add("threads_zero", {"--threads", "0"}, "--threads");
  add("weak_layers_huge_range", {"--guidance", "fg", "--weak-layers", "0-200000000"}, "--weak-layers");
  add("weak_layers_text", {"--guidance", "fg", "--weak-layers", "a-b"}, "--weak-layers");
  add("weak_layers_overflow", {"--guidance", "fg", "--weak-layers", "99999999999"}, "--weak-layers");
  add("weak_layers_reversed", {"--guidance", "fg", "--weak-layers", "8-4"}, "--weak-layers");
  add("guidance_unknown", {"--guidance", "magic"}, "--guidance");
  add("negative_invalid_utf8", {"--negative", "bad \xff\xfe text"}, "--negative");
  add("negative_too_long", {"--negative", std::string(70000, 'a')}, "--negative");
  add("prompt_invalid_utf8", {"--prompt", "\xc3\x28"}, "prompt");
  add("unknown_flag", {"--stepz", "3"}, "--stepz");
  add("missing_value", {"--steps"}, "--steps");
  add("tau_sel_range", {"--guidance", "fg", "--tau-sel", "5"}, "--tau-sel");
  add("out_in_missing_folder", {"--out", "/nonexistent_focalscope_dir/x.mp4"}, "--out");
  add("solver_unknown", {"--solver", "rk99"}, "solver");
  // Each value valid alone; together more than the machine can hold: refused before anything runs, with the estimate.
  add("frames_and_area_beyond_memory", {"--frames", "1025", "--max-area", "16777216"}, "--frames / --max-area", "GB available");
  // bench-step: a step that cannot fit is refused with the estimate before anything is allocated.
  cases.push_back({"flag_bench_step_beyond_memory", nullptr,
                   {"bench-step", "--config", "toy", "--frames", "1001", "--height", "8192", "--width", "8192", "--steps", "1", "--no-capture"},
                   "--frames / --height / --width", "GB available"});
  // bench-step --kept-only is meaningless without --kept.
  cases.push_back({"flag_bench_step_kept_only_alone", nullptr, {"bench-step", "--config", "toy", "--kept-only"}, "--kept-only", "--kept F"});
  run_catalogue("flags", cases);
}

// An allocation that fails inside libtorch anyway (an estimate is a ceiling, not a proof) is said as an input problem in
// one line, for the CPU and the CUDA allocator's messages; other library messages are left alone.
TEST(AllocationFailure, LibtorchMessagesBecomeOneLine) {
  const std::string cpu = focalscope::describe_allocation_failure(
      "[enforce fail at alloc_cpu.cpp:75] err == 0. DefaultCPUAllocator: can't allocate memory: you tried to allocate "
      "16844324864 bytes. Error code 12 (Cannot allocate memory)\nframe #0: c10::ThrowEnforceNotMet(...)");
  EXPECT_EQ(cpu.rfind("out of memory: a tensor of 16.84 GB could not be allocated on the CPU", 0), 0u) << cpu;
  const std::string gpu = focalscope::describe_allocation_failure(
      "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 79.15 GiB total capacity; 75.10 GiB already allocated)");
  EXPECT_EQ(gpu.rfind("out of device memory: a tensor of 2.00 GiB could not be allocated on the GPU", 0), 0u) << gpu;
  for (const std::string& s : {cpu, gpu}) {
    EXPECT_EQ(s.find('\n'), std::string::npos) << s;
    EXPECT_EQ(s.find("frame #"), std::string::npos) << s;
  }
  EXPECT_EQ(focalscope::describe_allocation_failure("shape '[2, 3]' is invalid for input of size 5"), "");
}

}  // namespace
