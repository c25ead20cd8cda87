// Background fidelity of a video edit: how much of the unedited part of the video an editor kept, measured
// outside the edit mask between two videos of the same size (typically the source clip and the edited one,
// or the expected edited clip and a generated one). Frame 0 is the shared reference image, so only frames
// 1..N-1 count; the result is the mean over those frames.
#pragma once
#include <cstddef>  // rgb_frame.h uses size_t
#include <cstdint>
#include <vector>

#include "engine/shapes/rgb_frame.h"

namespace focalscope::analysis {

// PSNR (dB) over the R, G, B values of pixels outside the mask, per frame, each frame capped at 60 dB
// (identical backgrounds give exactly 60), then averaged.
// mask: mask_w x mask_h bytes, nonzero = edited region (excluded); resized nearest-neighbour when the videos
// have another size. Throws Error (one line) on videos of different size or frame count, fewer than 2 frames,
// a malformed mask, or a mask that leaves no background.
double background_psnr(const std::vector<shapes::RgbFrame>& a, const std::vector<shapes::RgbFrame>& b,
                       const std::vector<uint8_t>& mask, int mask_w, int mask_h);

// SSIM on luma (Y = 0.299 R + 0.587 G + 0.114 B): 11x11 Gaussian window (sigma 1.5, borders clamped),
// C1 = (0.01 * 255)^2, C2 = (0.03 * 255)^2; the SSIM map averaged over pixels outside the mask, per frame,
// then averaged over frames 1..N-1. Same inputs and errors as background_psnr.
double background_ssim(const std::vector<shapes::RgbFrame>& a, const std::vector<shapes::RgbFrame>& b,
                       const std::vector<uint8_t>& mask, int mask_w, int mask_h);

}  // namespace focalscope::analysis
