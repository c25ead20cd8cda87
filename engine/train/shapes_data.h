// Training data from the Shapes world: clips as tensors, reference frames, and which image patches each
// object covers (the ground truth of the CLIP word -> patch grounding loss).
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/shapes/shapes_world.h"

namespace focalscope::train {

// The world's canvas as the model sees it (the embedded model: 64x64 px, 13 frames, 8 fps).
struct WorldSpec {
  int width = 64, height = 64, frames = 13, fps = 8;
  shapes::ShapesWorldConfig config() const { return {width, height, frames, fps}; }
  nlohmann::json to_json() const { return {{"width", width}, {"height", height}, {"frames", frames}, {"fps", fps}}; }
};

// The world a model folder was trained on (manifest training.world, written by the exporter; else the embedded
// model's 64x64, 13 frames, 8 fps). Error naming `where` unless it is a square world whose side is the CLIP image
// size, i.e. unless the folder is a Shapes-world model the fine-tuning stages can train.
WorldSpec shapes_world_of_model(const nlohmann::json& manifest, int clip_image_size, const std::string& where);

// shapes::sample_case, but a seed whose layout the world cannot place (it throws) is replaced by a derived one,
// deterministically, so one unlucky seed never stops a training run.
shapes::ShapesCase sample_case_robust(uint64_t world_seed, const WorldSpec& world, std::optional<shapes::Dimension> dim = {},
                                      int max_objects = 3);

// RGB8 frames -> [3, T, H, W] float in [-1, 1] (what the VAE and the pipeline take); one frame -> [3, H, W].
at::Tensor frames_to_tensor(const std::vector<shapes::RgbFrame>& frames);
at::Tensor frame_to_tensor(const shapes::RgbFrame& frame);
// [3, T, H, W] in [-1, 1] -> RGB8 frames (rounded, clamped), e.g. a generated video for the checker.
std::vector<shapes::RgbFrame> tensor_to_frames(const at::Tensor& video);

// Fraction of every patch of a grid x grid tiling of `frame` covered by each annotated object in state
// `frame_index`: [n_objects, grid, grid] float. Pixels are assigned by colour (objects are saturated named
// colours, backgrounds muted tones far from all of them); among objects of one colour the nearest centre wins.
at::Tensor object_patch_coverage(const shapes::RgbFrame& frame, const nlohmann::json& annotation, int frame_index, int grid);

// A "<colour> <shape word>" phrase of a prompt and the object it names: word indices as counted by
// WanTokenizer::words() (punctuation-stripped, whitespace-separated words).
struct PhraseRef {
  int64_t colour_word = -1, shape_word = -1;
  int object = -1;
};
std::vector<PhraseRef> object_phrases(const std::vector<std::string>& words, const nlohmann::json& annotation);

}  // namespace focalscope::train
