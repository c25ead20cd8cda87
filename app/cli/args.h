// Minimal flag parser for subcommands: `--key value`, `--key=value` and boolean `--flag`.
// Unknown flags and missing or malformed values are errors (one line, naming the flag).
#pragma once
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace focalscope::cli {

class Args {
 public:
  // `flags`: names that take no value. Every other --name takes one value.
  Args(const std::vector<std::string>& argv, std::set<std::string> value_opts, std::set<std::string> flags = {});

  bool flag(const std::string& name) const { return flags_set_.count(name) != 0; }
  bool has(const std::string& name) const { return values_.count(name) != 0; }
  std::string str(const std::string& name, const std::string& def = "") const;
  std::string required(const std::string& name) const;  // throws Error "--name is required"
  long long integer(const std::string& name, long long def, long long lo, long long hi) const;
  double number(const std::string& name, double def, double lo, double hi) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::string> values_;
  std::set<std::string> flags_set_;
  std::vector<std::string> positional_;
};

}  // namespace focalscope::cli
