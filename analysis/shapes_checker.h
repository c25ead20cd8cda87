// A program standing in for the paper's VQA judge on the Shapes world. Given any video (generated or
// rendered) and a case's annotation (never its ground-truth frames), it segments and tracks the objects
// and answers several questions per case: which object acted, in which direction, how far, what changed,
// whether the others stayed put, whether the frame stayed clean. A case passes only if every answer is right.
//
// It is strict on purpose: the actor must be one compact blob of the right colour and shape in the frames
// that matter, and stray blobs are counted, so scattered fragments of the right colour never pass as
// "moved" or "shrank". It is lenient on blur and colour drift (see SegmentParams).
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/blob_segmentation.h"

namespace focalscope::analysis {

struct Answer {
  std::string question;
  std::string expected;
  std::string observed;
  bool ok = false;
};

struct CaseVerdict {
  bool pass = false;
  std::vector<Answer> answers;
  std::string failures() const;  // "question: expected X, observed Y; ..." for the wrong answers
};

struct CheckerParams {
  SegmentParams seg;
  double put_tol = 0.25;        // "stayed put": within max(3 px, put_tol * size)
  double min_distance = 0.6;    // moved at least this fraction of the annotated distance
  double angle_tol_deg = 30;    // direction tolerance
  double stray_fraction = 0.2;  // stray blob area per frame <= this * mean object area (and >= 10 px)
};

// frames: the video, frame 0 being the reference image; any size (positions are scaled from the
// annotation's canvas) and at least 5 frames.
CaseVerdict check_case(const std::vector<RgbFrame>& frames, const nlohmann::json& annotation,
                       const CheckerParams& params = {});

}  // namespace focalscope::analysis
