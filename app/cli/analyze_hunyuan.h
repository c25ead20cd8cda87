// `focalscope analyze --model-dir RELEASE_DIR ...` for a HunyuanVideo-I2V release folder (analyze_hunyuan.cpp);
// cmd_analyze.cpp hands such runs here before parsing its own flags.
#pragma once
#include <string>
#include <vector>

namespace focalscope::cli {

// True when argv names a HunyuanVideo-I2V release with --model-dir; then the analysis runs here and *rc is its exit
// status (errors are thrown as one-line Errors, like every command).
bool try_analyze_hunyuan(const std::vector<std::string>& argv, int* rc);

extern const char* kHunyuanAnalyzeUsage;

}  // namespace focalscope::cli
