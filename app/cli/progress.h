// Terminal progress bar ("step 7/20 [#######-------] 1.3 s, ETA 2.4 s") and Ctrl-C -> cooperative cancel.
#pragma once
#include <atomic>
#include <string>

namespace focalscope::cli {

void print_progress(const std::string& label, int done, int total, double elapsed_s, double eta_s);
void end_progress();

// Installs a SIGINT handler that sets the returned flag (a second Ctrl-C exits immediately).
std::atomic<bool>& install_cancel_on_sigint();

}  // namespace focalscope::cli
