#include "app/session/script.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "app/session/edit_session.h"
#include "app/session/run_config.h"
#include "engine/core/error.h"
#include "engine/core/limits.h"

namespace focalscope::session {

namespace {

enum class Arg { None, Rest, Number, OnOff, Set, Cell, OptNumber, Pass, Mode, Brush, EditGuidance };

const std::map<std::string, Arg>& verbs() {
  static const std::map<std::string, Arg> v = {
      {"model", Arg::Rest},      {"image", Arg::Rest},       {"preset", Arg::Number},   {"prompt", Arg::Rest},
      {"negative", Arg::Rest},   {"seed", Arg::Number},      {"steps", Arg::Number},    {"cfg", Arg::Number},
      {"frames", Arg::Number},   {"max_area", Arg::Number},  {"fg", Arg::OnOff},        {"fsg", Arg::OnOff},
      {"ac", Arg::OnOff},        {"ab", Arg::OnOff},         {"auto", Arg::OnOff},      {"set", Arg::Set},
      {"weak", Arg::Rest},       {"keyword", Arg::Rest},     {"generate", Arg::None},   {"wait", Arg::OptNumber},
      {"cell", Arg::Cell},       {"frame", Arg::Number},     {"pass", Arg::Pass},       {"opacity", Arg::Number},
      {"play", Arg::None},       {"pause", Arg::None},       {"sleep", Arg::Number},    {"screenshot", Arg::Rest},
      {"export", Arg::Rest},     {"expect_done", Arg::None}, {"quit", Arg::None},       {"mouse", Arg::Cell},
      {"click", Arg::Cell},      {"mouse_off", Arg::None},   {"dump_state", Arg::Rest},  {"guide", Arg::Rest},
      {"load_ablation", Arg::Rest}, {"hallucination", Arg::OnOff}, {"dyncfg", Arg::OnOff},
      {"lora", Arg::Rest},       {"load_compare", Arg::Rest}, {"clip", Arg::Rest},
      // Edit mode (KV-Lock video editing).
      {"mode", Arg::Mode},       {"edit_video", Arg::Rest},  {"edit_mask", Arg::Rest},  {"brush", Arg::Brush},
      {"erase", Arg::Brush},     {"mask_clear", Arg::None},  {"mask_invert", Arg::None}, {"edit_prompt", Arg::Rest},
      {"edit_source_prompt", Arg::Rest}, {"edit_guidance", Arg::EditGuidance}, {"edit_fg", Arg::OnOff},
      {"edit_run", Arg::None},   {"expect_edit_done", Arg::None}, {"expect_edit_error", Arg::Rest}};
  return v;
}

bool parse_number(const std::string& s, double& out) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  out = std::strtod(s.c_str(), &end);
  return errno == 0 && end && *end == 0 && std::isfinite(out);
}

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\r\n");
  if (a == std::string::npos) return {};
  size_t b = s.find_last_not_of(" \t\r\n");
  return s.substr(a, b - a + 1);
}

}  // namespace

std::vector<ScriptCommand> parse_script_text(const std::string& text, const std::string& name) {
  std::vector<ScriptCommand> out;
  std::istringstream in(text);
  std::string raw;
  int line_no = 0;
  if (text.size() > limits::kScriptMaxBytes)
    fail(name, "script of " + std::to_string(text.size()) + " bytes exceeds the limit of " + std::to_string(limits::kScriptMaxBytes));
  if (text.find('\0') != std::string::npos) fail(name, "script holds a NUL byte (not a text file)");
  while (std::getline(in, raw)) {
    ++line_no;
    if (static_cast<uint64_t>(line_no) > limits::kScriptMaxLines)
      fail(name, "script has more than " + std::to_string(limits::kScriptMaxLines) + " lines (limit)");
    std::string line = trim(raw);
    if (line.empty() || line[0] == '#') continue;
    const std::string where = name + ":" + std::to_string(line_no);
    ScriptCommand c;
    c.line = line_no;
    size_t sp = line.find_first_of(" \t");
    c.verb = line.substr(0, sp);
    c.rest = sp == std::string::npos ? "" : trim(line.substr(sp));
    std::istringstream ws(c.rest);
    for (std::string w; ws >> w;) c.args.push_back(w);
    auto it = verbs().find(c.verb);
    if (it == verbs().end()) fail(where, "unknown command '" + c.verb + "'");
    switch (it->second) {
      case Arg::None:
        if (!c.args.empty()) fail(where, c.verb + " takes no argument");
        break;
      case Arg::Rest:
        if (c.rest.empty()) fail(where, c.verb + " needs an argument");
        break;
      case Arg::Number:
        if (c.args.size() != 1 || !parse_number(c.args[0], c.number)) fail(where, c.verb + " needs one number");
        if (std::fabs(c.number) > 1e15) fail(where, c.verb + ": " + c.args[0] + " is out of range");
        break;
      case Arg::OptNumber:
        c.number = 600;
        if (c.args.size() > 1 || (c.args.size() == 1 && !parse_number(c.args[0], c.number)))
          fail(where, c.verb + " takes an optional number of seconds");
        break;
      case Arg::OnOff:
        if (c.args.size() != 1 || (c.args[0] != "on" && c.args[0] != "off")) fail(where, c.verb + " needs on or off");
        break;
      case Arg::Pass:
        if (c.args.size() != 1 || (c.args[0] != "cond" && c.args[0] != "uncond"))
          fail(where, "pass needs cond or uncond");
        break;
      case Arg::Set: {
        // Checked by the same function the player applies it with, on a scratch config.
        GuidanceConfig scratch;
        std::string err;
        if (c.args.size() != 2)
          fail(where, "set needs one of tau_sel tau_region tau_cache lambda_txt lambda_lat lambda_cache and a number "
                      "(or 'auto' for tau_sel / tau_cache)");
        if (!set_guidance_param(scratch, c.args[0], c.args[1], &err)) fail(where, err);
        if (c.args[1] != "auto") parse_number(c.args[1], c.number);
        break;
      }
      case Arg::Mode:
        if (c.args.size() != 1 || (c.args[0] != "generate" && c.args[0] != "edit")) fail(where, "mode needs generate or edit");
        break;
      case Arg::Brush: {
        double v[3];
        if (c.args.size() != 3 || !parse_number(c.args[0], v[0]) || !parse_number(c.args[1], v[1]) ||
            !parse_number(c.args[2], v[2]) || v[2] <= 0 || std::fabs(v[0]) > 1e6 || std::fabs(v[1]) > 1e6 || v[2] > 1e6)
          fail(where, c.verb + " needs X Y R: a source pixel and a radius > 0 (pixels)");
        c.number = v[2];
        break;
      }
      case Arg::EditGuidance: {
        EditInputs scratch;
        std::string err;
        if (c.args.size() != 1 || !set_edit_guidance(scratch, c.args[0], &err))
          fail(where, err.empty() ? "edit_guidance needs one mode (e.g. kvlock, off, fg+kvlock)" : err);
        break;
      }
      case Arg::Cell: {
        double a = 0, b = 0;
        const bool cell = c.verb == "cell";
        if (c.args.size() != 2 || !parse_number(c.args[0], a) || !parse_number(c.args[1], b) || a < 0 || b < 0 ||
            a > 1e6 || b > 1e6 || (cell && (a != std::floor(a) || b != std::floor(b))))
          fail(where, c.verb + (cell ? " needs LAYER and STEP column (non-negative integers up to 10^6)"
                                     : " needs X and Y window coordinates (pixels, non-negative, up to 10^6)"));
        break;
      }
    }
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<ScriptCommand> parse_script(const std::string& path) {
  std::error_code ec;
  const auto st = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(st)) fail(path, "script not found");
  if (std::filesystem::is_directory(st)) fail(path, "is a directory, expected a script file");
  if (!std::filesystem::is_regular_file(st)) fail(path, "is not a regular file, expected a script file");
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) fail(path, "cannot read the script: " + ec.message());
  if (size > limits::kScriptMaxBytes)
    fail(path, "script of " + std::to_string(size) + " bytes exceeds the limit of " + std::to_string(limits::kScriptMaxBytes));
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, "cannot open script");
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) fail(path, "cannot read the script");
  auto cmds = parse_script_text(ss.str(), path);
  if (cmds.empty()) fail(path, "script holds no commands");
  return cmds;
}

}  // namespace focalscope::session
