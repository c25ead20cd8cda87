// `focalscope generate --model-dir RELEASE_DIR ...` for a HunyuanVideo-I2V release folder
// (engine/pipeline/hunyuan_pipeline.h); cmd_generate.cpp hands such runs here before parsing its own flags.
#pragma once
#include <string>
#include <vector>

#include "app/cli/args.h"
#include "engine/pipeline/hunyuan_pipeline.h"

namespace focalscope::cli {

// True when argv names a HunyuanVideo-I2V release with --model-dir (DIR or =DIR); then the run happens here and
// *rc is its exit status (errors are thrown as one-line Errors, like every command).
// The sampling flags both release commands take (--image, --prompt, --negative, --steps, --cfg, --shift,
// --embedded-cfg, --frames, --height, --width, --i2v-stability), each range-checked; the seed is left to the caller.
HunyuanRequest hunyuan_request_from_args(const Args& a);

// The --model-dir of argv (DIR or =DIR) when it is a HunyuanVideo-I2V release folder, else "".
std::string hunyuan_release_arg(const std::vector<std::string>& argv);

bool try_generate_hunyuan(const std::vector<std::string>& argv, int* rc);

extern const char* kHunyuanGenerateUsage;

}  // namespace focalscope::cli
