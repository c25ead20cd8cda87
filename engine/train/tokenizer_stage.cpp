#include "engine/train/tokenizer_stage.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "engine/core/error.h"
#include "engine/train/shapes_data.h"
#include "engine/text/tokenizer.h"

namespace focalscope::train {

std::string spm_train_program() {
  if (const char* e = std::getenv("FOCALSCOPE_SPM_TRAIN"); e && *e) return e;
  return "spm_train";
}

namespace {
// Runs argv with stdout+stderr into log_path; returns the exit status (127: could not start).
int run_logged(const std::vector<std::string>& argv, const std::string& log_path) {
  std::vector<char*> a;
  for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
  a.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) return 127;
  if (pid == 0) {
    const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
      ::close(fd);
    }
    ::execvp(a[0], a.data());
    std::fprintf(stderr, "cannot execute %s\n", a[0]);
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

std::string tail(const std::string& path, size_t n) {
  std::ifstream in(path);
  std::string s((std::istreambuf_iterator<char>(in)), {});
  if (s.size() > n) s = s.substr(s.size() - n);
  for (auto& c : s)
    if (c == '\n') c = ' ';
  return s;
}
}  // namespace

std::string train_tokenizer(const StageOptions& opt, const TokenizerTrainConfig& cfg) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(opt.out_dir) / "tokenizer";
  fs::create_directories(dir);
  const std::string corpus = (dir / "corpus.txt").string();
  {
    std::ofstream out(corpus, std::ios::trunc);
    if (!out) fail(corpus, "cannot write the tokenizer corpus");
    // Prompts of random training cases on the model's canvas (the wording does not depend on the canvas).
    for (int i = 0; i < cfg.corpus_size; ++i)
      out << WanTokenizer::clean_whitespace(sample_case_robust(world_seed(opt.seed, kStreamTokenizer, i), WorldSpec{}).prompt) << "\n";
    // Every ASCII letter and digit, so words outside the world's vocabulary still spell out instead of <unk>.
    out << "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789\n";
  }
  const std::string prefix = (dir / "spiece").string();
  const std::vector<std::string> argv = {
      spm_train_program(), "--input=" + corpus, "--model_prefix=" + prefix, "--model_type=unigram",
      "--vocab_size=" + std::to_string(cfg.vocab_size), "--hard_vocab_limit=false", "--character_coverage=1.0",
      "--pad_id=0", "--eos_id=1", "--unk_id=2", "--bos_id=-1", "--pad_piece=<pad>", "--eos_piece=</s>",
      "--unk_piece=<unk>", "--num_threads=1", "--input_sentence_size=0", "--shuffle_input_sentence=false",
      "--random_seed=" + std::to_string(opt.seed & 0x7fffffff), "--minloglevel=1"};
  const std::string log = (dir / "spm_train.log").string();
  const int rc = run_logged(argv, log);
  if (rc != 0)
    fail(spm_train_program(), "tokenizer training failed (exit " + std::to_string(rc) + "): " + tail(log, 400) +
                                  (rc == 127 ? " (install Debian's sentencepiece package, or set FOCALSCOPE_SPM_TRAIN)" : ""));
  const std::string model = prefix + ".model";
  WanTokenizer check(model);  // validates the special ids the loader insists on
  if (!opt.quiet)
    std::fprintf(stderr, "[tokenizer] %s: %lld pieces from %d prompts\n", model.c_str(),
                 static_cast<long long>(check.vocab_size()), cfg.corpus_size);
  return model;
}

}  // namespace focalscope::train
