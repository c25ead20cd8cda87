#include "engine/core/dtype.h"

namespace focalscope {

namespace {
struct Row { DType d; const char* name; std::size_t size; c10::ScalarType st; };
constexpr Row kRows[] = {
    {DType::F64, "F64", 8, c10::ScalarType::Double},   {DType::F32, "F32", 4, c10::ScalarType::Float},
    {DType::F16, "F16", 2, c10::ScalarType::Half},     {DType::BF16, "BF16", 2, c10::ScalarType::BFloat16},
    {DType::I64, "I64", 8, c10::ScalarType::Long},     {DType::I32, "I32", 4, c10::ScalarType::Int},
    {DType::I16, "I16", 2, c10::ScalarType::Short},    {DType::I8, "I8", 1, c10::ScalarType::Char},
    {DType::U8, "U8", 1, c10::ScalarType::Byte},       {DType::BOOL, "BOOL", 1, c10::ScalarType::Bool},
    // fp8 bytes travel as uint8 (no float8 ScalarType in libtorch 1.13); from_scalar_type(Byte) still finds U8 first.
    {DType::F8_E4M3, "F8_E4M3", 1, c10::ScalarType::Byte}, {DType::F8_E5M2, "F8_E5M2", 1, c10::ScalarType::Byte},
};
const Row& row(DType d) { return kRows[static_cast<int>(d)]; }
}  // namespace

const char* dtype_name(DType d) { return row(d).name; }
std::size_t dtype_size(DType d) { return row(d).size; }
c10::ScalarType to_scalar_type(DType d) { return row(d).st; }

std::optional<DType> parse_dtype(std::string_view name) {
  for (const auto& r : kRows)
    if (name == r.name) return r.d;
  return std::nullopt;
}

std::optional<DType> from_scalar_type(c10::ScalarType t) {
  for (const auto& r : kRows)
    if (r.st == t) return r.d;
  return std::nullopt;
}

}  // namespace focalscope
