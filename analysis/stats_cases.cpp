#include "analysis/stats_cases.h"

#include "engine/core/json_io.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include <nlohmann/json.hpp>

#include "analysis/analysis_error.h"

namespace focalscope::analysis {
namespace {

using nlohmann::json;

constexpr std::int64_t kMaxDim = std::int64_t{1} << 31;

StatsCase parse_case(const json& j, std::size_t index, const std::string& path) {
  std::string where = path + ": case #" + std::to_string(index);
  if (!j.is_object()) raise(where, "is not an object");
  StatsCase c;
  auto name = j.find("name");
  if (name == j.end() || !name->is_string()) raise(where, "needs a string \"name\"");
  c.name = name->get<std::string>();
  where = path + ": case '" + c.name + "' (#" + std::to_string(index) + ")";

  auto shape = j.find("shape");
  if (shape == j.end() || !shape->is_array() || (shape->size() != 2 && shape->size() != 3))
    raise(where, "\"shape\" must be [H, W] or [F, H, W]");
  std::int64_t count = 1;
  for (const auto& d : *shape) {
    if (!d.is_number_integer() || (d.is_number_unsigned() ? d.get<std::uint64_t>() > std::uint64_t(kMaxDim)
                                                          : (d.get<std::int64_t>() < 0 || d.get<std::int64_t>() > kMaxDim)))
      raise(where, "\"shape\" entries must be integers in [0, 2^31], got " + d.dump());
    c.shape.push_back(d.get<std::int64_t>());
    const std::int64_t dim = c.shape.back();
    count = (count < 0 || (dim > 0 && count > std::numeric_limits<std::int64_t>::max() / dim)) ? -1 : count * dim;
  }
  if (c.shape.size() == 3 && c.shape[0] < 1) raise(where, "needs at least one frame");

  auto values = j.find("values");
  if (values == j.end() || !values->is_array()) raise(where, "needs a \"values\" array");
  if (count < 0 || std::int64_t(values->size()) != count)
    raise(where, "shape " + shape->dump() + " needs " + (count < 0 ? std::string("too many") : std::to_string(count)) +
                     " values, got " + std::to_string(values->size()));
  c.values.reserve(values->size());
  for (std::size_t i = 0; i < values->size(); ++i) {
    const json& v = (*values)[i];
    if (!v.is_number()) raise(where, "value " + std::to_string(i) + " is not a number: " + v.dump());
    c.values.push_back(v.get<double>());
  }

  const char* keys[3] = {"morans_i", "morans_i_row_standardised", "std_minmax"};
  int present = 0;
  MapStats e;
  double* fields[3] = {&e.morans_i, &e.morans_i_row_standardised, &e.std_minmax};
  for (int k = 0; k < 3; ++k) {
    auto it = j.find(keys[k]);
    if (it == j.end()) continue;
    if (!it->is_number()) raise(where, std::string("\"") + keys[k] + "\" is not a number");
    *fields[k] = it->get<double>();
    ++present;
  }
  if (present == 3) c.expected = e;
  return c;
}

}  // namespace

std::vector<StatsCase> read_stats_cases(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) raise(path, "is a directory, expected a JSON case file");
  const json doc = read_json_file(path);  // size / depth limits, one line naming the file
  if (!doc.is_object() || !doc.contains("cases") || !doc["cases"].is_array())
    raise(path, "expected an object with a \"cases\" array");
  std::vector<StatsCase> cases;
  for (std::size_t i = 0; i < doc["cases"].size(); ++i) cases.push_back(parse_case(doc["cases"][i], i, path));
  return cases;
}

MapStats compute_case(const StatsCase& c) {
  const std::string where = "case '" + c.name + "'";
  if (c.shape.size() != 2 && c.shape.size() != 3) raise(where, "shape must be [H, W] or [F, H, W]");
  std::int64_t count = 1;
  for (std::int64_t d : c.shape) {
    if (d < 0 || d > kMaxDim) raise(where, "shape entries must be in [0, 2^31]");
    count = (count < 0 || (d > 0 && count > std::numeric_limits<std::int64_t>::max() / d)) ? -1 : count * d;
  }
  if (count < 0 || std::int64_t(c.values.size()) != count)
    raise(where, std::to_string(c.values.size()) + " values do not fill the shape");
  MapStats s;
  try {
    s = c.shape.size() == 2 ? map_stats(c.values.data(), c.shape[0], c.shape[1])
                            : frame_mean_stats(c.values.data(), c.shape[0], c.shape[1], c.shape[2]);
  } catch (const Error& e) {
    raise(where, e.what());
  }
  // Values near the double range can overflow the sums of squares; report that instead of NaN/inf.
  if (!std::isfinite(s.morans_i) || !std::isfinite(s.morans_i_row_standardised) || !std::isfinite(s.std_minmax))
    raise(where, "statistics overflow (values too large)");
  return s;
}

}  // namespace focalscope::analysis
