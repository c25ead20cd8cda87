#include "app/cli/args.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "engine/core/error.h"

namespace focalscope::cli {

Args::Args(const std::vector<std::string>& argv, std::set<std::string> value_opts, std::set<std::string> flags) {
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a.rfind("--", 0) != 0 || a == "--") {
      positional_.push_back(a);
      continue;
    }
    std::string key = a.substr(2), val;
    bool has_eq = false;
    if (auto eq = key.find('='); eq != std::string::npos) {
      val = key.substr(eq + 1);
      key = key.substr(0, eq);
      has_eq = true;
    }
    if (flags.count(key)) {
      if (has_eq) fail("--" + key, "takes no value");
      flags_set_.insert(key);
    } else if (value_opts.count(key)) {
      if (!has_eq) {
        if (i + 1 >= argv.size()) fail("--" + key, "needs a value");
        val = argv[++i];
      }
      values_[key] = val;
    } else {
      fail("--" + key, "unknown option (see --help)");
    }
  }
}

std::string Args::str(const std::string& name, const std::string& def) const {
  auto it = values_.find(name);
  return it == values_.end() ? def : it->second;
}

std::string Args::required(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end() || it->second.empty()) fail("--" + name, "is required");
  return it->second;
}

long long Args::integer(const std::string& name, long long def, long long lo, long long hi) const {
  auto it = values_.find(name);
  if (it == values_.end()) return def;
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(it->second.c_str(), &end, 10);
  if (errno || end == it->second.c_str() || *end)
    fail("--" + name, "'" + it->second + "' is not an integer");
  if (v < lo || v > hi)
    fail("--" + name, std::to_string(v) + " is out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return v;
}

double Args::number(const std::string& name, double def, double lo, double hi) const {
  auto it = values_.find(name);
  if (it == values_.end()) return def;
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(it->second.c_str(), &end);
  if (errno || end == it->second.c_str() || *end || !std::isfinite(v))
    fail("--" + name, "'" + it->second + "' is not a number");
  if (v < lo || v > hi)
    fail("--" + name, it->second + " is out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return v;
}

}  // namespace focalscope::cli
