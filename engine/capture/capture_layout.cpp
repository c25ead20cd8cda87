#include "engine/capture/capture_layout.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "engine/core/error.h"

namespace focalscope {

int64_t CaptureLayout::num_maps() const {
  return static_cast<int64_t>(steps.size()) * static_cast<int64_t>(passes.size()) *
         static_cast<int64_t>(layers.size()) * keywords;
}
int64_t CaptureLayout::bytes() const { return num_maps() * map_elems() * 2; }
int64_t CaptureLayout::bytes_per_keyword() const {
  return static_cast<int64_t>(steps.size()) * static_cast<int64_t>(passes.size()) *
         static_cast<int64_t>(layers.size()) * map_elems() * 2;
}

namespace {
int slot_of(const std::vector<int>& v, int x) {
  auto it = std::lower_bound(v.begin(), v.end(), x);
  return (it != v.end() && *it == x) ? static_cast<int>(it - v.begin()) : -1;
}
std::string plural(int64_t n, const std::string& word) {
  if (n == 1) return "1 " + word;
  return std::to_string(n) + " " + word + (word.back() == 's' ? "es" : "s");
}
}  // namespace

int CaptureLayout::step_slot(int step) const { return slot_of(steps, step); }
int CaptureLayout::layer_slot(int layer) const { return slot_of(layers, layer); }
int CaptureLayout::pass_slot(PassRole role) const {
  for (size_t i = 0; i < passes.size(); ++i)
    if (passes[i] == role) return static_cast<int>(i);
  return -1;
}

std::string CaptureLayout::describe() const {
  return plural(static_cast<int64_t>(steps.size()), "step") + " x " +
         plural(static_cast<int64_t>(passes.size()), "pass") + " x " +
         plural(static_cast<int64_t>(layers.size()), "layer") + " x " + plural(keywords, "keyword") + " x " +
         std::to_string(grid[0]) + "x" + std::to_string(grid[1]) + "x" + std::to_string(grid[2]) +
         " tokens x fp16 = " + format_bytes(bytes());
}

std::string format_bytes(int64_t bytes) {
  char buf[64];
  if (bytes < 1000) {
    std::snprintf(buf, sizeof buf, "%lld B", static_cast<long long>(bytes));
    return buf;
  }
  const char* units[] = {"kB", "MB", "GB", "TB"};
  double v = static_cast<double>(bytes);
  int u = -1;
  while (v >= 1000 && u < 3) {
    v /= 1000;
    ++u;
  }
  std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
  return buf;
}

std::array<int64_t, 3> token_grid(int64_t lat_f, int64_t lat_h, int64_t lat_w, const std::array<int, 3>& patch) {
  return {lat_f / patch[0], lat_h / patch[1], lat_w / patch[2]};
}

std::vector<int> evenly_spaced(int count, int n) {
  std::vector<int> out;
  if (count <= 0 || n <= 0) return out;
  if (n >= count || n == 1) {
    if (n == 1) return {0};
    for (int i = 0; i < count; ++i) out.push_back(i);
    return out;
  }
  for (int i = 0; i < n; ++i) {
    int v = static_cast<int>(std::lround(double(i) * (count - 1) / double(n - 1)));
    if (out.empty() || out.back() != v) out.push_back(v);
  }
  return out;
}

namespace {
int parse_int(const std::string& s, const std::string& what, const std::string& spec) {
  if (s.empty()) fail(what, "'" + spec + "' has an empty number");
  size_t used = 0;
  long v = 0;
  try {
    v = std::stol(s, &used);
  } catch (...) {
    used = 0;
  }
  if (used != s.size() || v < 0 || v > 1000000) fail(what, "'" + spec + "': '" + s + "' is not a non-negative integer");
  return static_cast<int>(v);
}
}  // namespace

std::vector<int> parse_index_list(const std::string& spec, int count, const std::string& what) {
  std::string s;
  for (char c : spec)
    if (c != ' ') s += c;
  if (s.empty() || s == "all") return {};
  std::vector<int> out;
  if (s.rfind("even:", 0) == 0) {
    int n = parse_int(s.substr(5), what, spec);
    if (n < 1) fail(what, "'" + spec + "': need at least 1 index");
    out = evenly_spaced(count, n);
  } else {
    size_t start = 0;
    while (start <= s.size()) {
      size_t end = s.find(',', start);
      if (end == std::string::npos) end = s.size();
      std::string item = s.substr(start, end - start);
      int stride = 1;
      if (auto colon = item.find(':'); colon != std::string::npos) {
        stride = parse_int(item.substr(colon + 1), what, spec);
        if (stride < 1) fail(what, "'" + spec + "': stride must be >= 1");
        item = item.substr(0, colon);
      }
      if (auto dash = item.find('-'); dash != std::string::npos) {
        int a = parse_int(item.substr(0, dash), what, spec), b = parse_int(item.substr(dash + 1), what, spec);
        if (b < a) fail(what, "'" + spec + "': range " + item + " is backwards");
        for (int i = a; i <= b; i += stride) out.push_back(i);
      } else {
        out.push_back(parse_int(item, what, spec));
      }
      start = end + 1;
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  for (int i : out)
    if (i >= count)
      fail(what, "index " + std::to_string(i) + " is out of range [0, " + std::to_string(count - 1) + "]");
  return out;
}

CaptureLayout make_capture_layout(const CaptureSelection& sel, int num_layers, int num_steps, int64_t num_keywords,
                                  std::array<int64_t, 3> grid) {
  auto pick = [](std::vector<int> v, int count, const char* what) {
    if (v.empty())
      for (int i = 0; i < count; ++i) v.push_back(i);
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
    for (int i : v)
      if (i < 0 || i >= count)
        fail(what, "index " + std::to_string(i) + " is out of range [0, " + std::to_string(count - 1) + "]");
    return v;
  };
  if (num_layers < 1) fail("capture", "the model has no layers");
  if (num_steps < 1) fail("capture", "the run has no steps");
  if (num_keywords < 1) fail("capture", "no keywords to capture");
  for (int i = 0; i < 3; ++i)
    if (grid[i] < 1) fail("capture", "empty token grid");
  CaptureLayout l;
  l.steps = pick(sel.steps, num_steps, "--capture-steps");
  l.layers = pick(sel.layers, num_layers, "--layers");
  if (sel.cond) l.passes.push_back(PassRole::Cond);
  if (sel.uncond) l.passes.push_back(PassRole::Uncond);
  if (l.passes.empty()) fail("passes", "capture needs the conditional pass, the unconditional pass or both");
  l.keywords = num_keywords;
  l.grid = grid;
  return l;
}

}  // namespace focalscope
