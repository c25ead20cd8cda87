// What a similarity capture stores, decided before the run, and the memory that takes.
//
// Maps are kept as fp16 in one preallocated buffer indexed [step][pass][layer][keyword][F'][H'][W'], so
//   bytes = steps x passes x layers x keywords x F' x H' x W' x 2.
// Example (Wan2.1-I2V-14B, 480x832, 81 frames, 40 steps, cond pass only): the token grid is 21 x 30 x 52 =
// 32 760 tokens, so one keyword takes 40 x 40 x 32 760 x 2 B = 104 832 000 B (about 105 MB).
// Plain numbers only (no torch), so a GUI can show the estimate while the user edits the settings.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/models/probe.h"

namespace focalscope {

struct CaptureLayout {
  std::vector<int> steps;        // sampler step indices captured, ascending (slot s <-> steps[s])
  std::vector<PassRole> passes;  // stored passes, in slot order (Cond first when both)
  std::vector<int> layers;       // DiT layer indices captured, ascending (slot l <-> layers[l])
  int64_t keywords = 0;
  std::array<int64_t, 3> grid{};  // token grid (F', H', W') of the run

  int64_t map_elems() const { return grid[0] * grid[1] * grid[2]; }
  int64_t num_maps() const;  // steps x passes x layers x keywords
  int64_t bytes() const;     // num_maps x F'H'W' x 2 (fp16)
  int64_t bytes_per_keyword() const;
  // Slot of an index, -1 when not captured.
  int step_slot(int step) const;
  int layer_slot(int layer) const;
  int pass_slot(PassRole role) const;
  // One line for logs and the GUI: "40 steps x 1 pass x 40 layers x 1 keyword x 21x30x52 tokens x fp16 = 104.8 MB".
  std::string describe() const;
};

// Which steps / layers / passes a run should capture. Empty lists mean "all".
struct CaptureSelection {
  std::vector<int> steps;
  std::vector<int> layers;
  bool cond = true;
  bool uncond = false;
};

// Validates the selection against the model and run (indices in range, at least one pass) and sorts/dedups it.
// Throws Error naming the offending option ("--capture-steps", "--layers", "passes").
CaptureLayout make_capture_layout(const CaptureSelection& sel, int num_layers, int num_steps, int64_t num_keywords,
                                  std::array<int64_t, 3> grid);

// Token grid of a run: latent (F, H, W) divided by the DiT patch size (t, h, w).
std::array<int64_t, 3> token_grid(int64_t lat_f, int64_t lat_h, int64_t lat_w, const std::array<int, 3>& patch);

// "104.8 MB", "512 B", "1.2 GB" (decimal units, as disk and RAM sizes are usually quoted).
std::string format_bytes(int64_t bytes);

// Parses an index list such as "all", "0,3,7", "0-9", "0-39:4" (every 4th) or "even:8" (8 evenly spaced from
// 0 to count-1, ends included). Returns ascending unique indices, all in [0, count). `what` names the option in
// errors. "all" or "" -> empty (meaning all).
std::vector<int> parse_index_list(const std::string& spec, int count, const std::string& what);

// n indices evenly spaced over [0, count-1], first and last included (fewer when count < n).
std::vector<int> evenly_spaced(int count, int n);

}  // namespace focalscope
