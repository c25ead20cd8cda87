// Scripted sessions (`focalscope --script FILE`): one command per line, '#' starts a comment. The GUI plays
// them in a real window, one command per frame, waiting where told to, so a script exercises exactly what a
// person would click. Parsing (and every argument check) happens up front: a bad script fails before the
// window opens, naming the line.
//
//   model DIR | default | mmdit | planted   model folder (default: the embedded Wan model; mmdit: shapes-mmdit
//                                           beside it, the HunyuanVideo-architecture toy; planted: shapes-planted)
//   image PATH                   reference image (PNG/JPEG)
//   preset N                     benchmark preset N (image + prompt), see demo_presets.h
//   prompt TEXT...               the rest of the line
//   negative TEXT...             negative prompt
//   seed N | steps N | cfg X | frames N | max_area N
//   lora FILE [STRENGTH] | lora clear   add a LoRA to the model's list (strength default 1) / empty the list
//   clip FILE | clip none        a CLIP for a Wan2.2 I2V-A14B folder (Eq. 6 keyword selection, as the CLI's --clip)
//   fg on|off | fsg on|off | ac on|off | ab on|off | auto on|off
//   set tau_sel|tau_region|tau_cache|lambda_txt|lambda_lat|lambda_cache X
//   set tau_sel|tau_cache auto   back to the model's calibrated threshold (the engine default when it has none)
//   weak L1,L2,... | weak auto   override (or detect) the weak-layer set
//   keyword WORD                 analyse this word (grid, large view, curves)
//   guide WORD | guide auto      add a word to the guided words / let Eq. 6 select them (tau_sel)
//   generate                     start a run (A/B when ab is on)
//   wait [SECONDS]               until no run is in flight (default limit 600 s; a timeout fails the script)
//   cell LAYER STEP              open the large view on a grid cell (STEP: index of the sampled column)
//   frame N | pass cond|uncond | opacity X | play | pause   (frame / play / pause: the Edit mode's videos too)
//   mouse X Y | mouse_off        hover at window pixel (X, Y) (tooltips in screenshots) / no mouse (default)
//   click X Y                    left click at window pixel (X, Y)
//   sleep SECONDS                keep rendering for a while
//   screenshot PATH              save the window as PNG
//   export DIR                   write every export (MP4/PNG/CSV/JSON) into DIR
//   dyncfg on|off                KV-Lock's dynamic CFG on the guided variant (B)
//   hallucination on|off         show the Large view pane's hallucination tab (sigma2 over steps, per-frame maps)
//                                and the map over the videos (or the map tab, no overlay)
//   load_ablation PATH           overlay a `focalscope ablate` result (ablate.json, or its folder) on the layer curves
//   load_compare PATH            overlay another model's `focalscope analyze` curves (metrics.json, or its folder)
//   dump_state PATH              write the panes' window rectangles and the runs' states as JSON (for tests)
//   expect_done                  fail unless both variants finished without error
//   mode generate|edit           switch the app's mode (Edit: KV-Lock video editing)
//   edit_video PATH              the edit's source video (file or frame folder); frame 0 is shown to paint on
//   edit_mask PATH               load a mask file (image, mask video or folder); must match the video's size
//   brush X Y R | erase X Y R    paint / erase a disc of radius R at source pixel (X, Y) (after the video loaded)
//   mask_clear | mask_invert
//   edit_prompt TEXT... | edit_source_prompt TEXT...
//   edit_guidance MODE           off | kvlock | kvlock-fixed | kvlock-kv | ... | fg+kvlock ... (fg+: compose with FG)
//   edit_fg on|off               compose the edit with Focal Guidance
//   edit_run                     start the edit (on the session worker; `wait` waits for it)
//   expect_edit_done             fail unless the last edit finished without error
//   expect_edit_error TEXT...    fail unless the Edit mode shows a one-line error containing TEXT
//   quit
#pragma once
#include <string>
#include <vector>

namespace focalscope::session {

struct ScriptCommand {
  int line = 0;
  std::string verb;
  std::vector<std::string> args;  // whitespace-split arguments
  std::string rest;               // everything after the verb, trimmed (prompt text, paths with spaces)
  double number = 0;              // the parsed numeric argument where the verb takes one
};

// Throws Error("FILE:LINE: ...") on an unknown verb or a bad argument; an unreadable file throws Error.
std::vector<ScriptCommand> parse_script(const std::string& path);
std::vector<ScriptCommand> parse_script_text(const std::string& text, const std::string& name = "script");

}  // namespace focalscope::session
