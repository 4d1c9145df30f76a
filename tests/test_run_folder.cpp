// What a run folder refuses (experiments/README.md, "Failures, signals and resume"): a checkpoint
// of a non-finite state is never written (the previous one stays), a folder locked by a trainer
// refuses a second one, and a resume may change only the resumable keys.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <string>

#include "core/error.h"
#include "core/io/atomic_file.h"
#include "experiments/run/checkpoint.h"
#include "experiments/run/model_factory.h"
#include "experiments/run/run_folder.h"
#include "experiments/run/train_step.h"

namespace fs = std::filesystem;
using namespace peer;

namespace {

struct Folder {
  fs::path path = fs::temp_directory_path() / ("peer_test_run_folder_" + std::to_string(::getpid()));
  Folder() {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~Folder() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string dir() const { return path.string(); }
};

Config tiny(const std::vector<std::string>& sets = {}) {
  return parse_config("[model]\nn_embd = 8\nn_head = 2\nn_layer = 1\nblock_size = 4\n", "tiny", sets);
}

}  // namespace

TEST_CASE("save_checkpoint refuses a NaN or an infinity anywhere and keeps the previous file", "[run][checkpoint]") {
  Folder f;
  const Config c = tiny();
  const Tokenizer tok = Tokenizer::from_symbols("abcdefgh");
  auto model = build_model(c, tok.vocab_size());
  AdamW opt(model->parameters(), adamw_options(c));
  const std::string path = checkpoint_path(f.dir());
  save_checkpoint(path, *model, &opt, c, tok, 3);
  const std::string before = read_file(path);

  SECTION("a parameter") {
    Parameter* p = model->parameters().back();
    p->value.data()[p->value.numel() - 1] = std::numeric_limits<float>::quiet_NaN();
    CHECK_THROWS_AS(save_checkpoint(path, *model, &opt, c, tok, 4), NonFiniteError);
    CHECK_THROWS_WITH(save_checkpoint(path, *model, &opt, c, tok, 4),
                      Catch::Contains("after step 4") && Catch::Contains("model." + p->name));
    CHECK_THROWS_WITH(require_finite_parameters(*model, "here"), Catch::Contains("here: parameter '" + p->name));
  }
  SECTION("an optimizer moment") {
    auto& [name, state] = *opt.state().begin();
    state.v.data()[0] = std::numeric_limits<float>::infinity();
    CHECK_THROWS_WITH(save_checkpoint(path, *model, &opt, c, tok, 4), Catch::Contains("optim.v." + name));
    CHECK_NOTHROW(require_finite_parameters(*model, "here"));  // the parameters are finite
  }
  CHECK(read_file(path) == before);
  CHECK(read_checkpoint_info(path).step == 3);
  CHECK(std::distance(fs::directory_iterator(f.path), fs::directory_iterator()) == 1);  // no temporary left
}

TEST_CASE("RunLock: one holder at a time, named by its pid; released with its holder", "[run][lock]") {
  Folder f;
  {
    RunLock held(f.dir());
    CHECK(read_file((f.path / kRunLockFile).string()) == std::to_string(::getpid()));
    CHECK_THROWS_AS(RunLock(f.dir()), InputError);  // another open file: refused even in one process
    CHECK_THROWS_WITH(RunLock(f.dir()), Catch::Contains("'" + f.dir() + "' is in use: process " +
                                                        std::to_string(::getpid())));
    CHECK_FALSE(holds_run_files(f.dir()));  // the lock file is not content
  }
  CHECK_NOTHROW(RunLock(f.dir()));
}

TEST_CASE("fixed_key_changes: every changed key but the resumable ones, with both values", "[run][config]") {
  const Config a = tiny();
  CHECK(fixed_key_changes(a, tiny({"train.steps=9", "train.log_every=1", "train.eval_every=3", "train.eval_batches=2",
                                   "train.sample_tokens=0", "train.threads=1"}))
            .empty());
  CHECK(fixed_key_changes(a, tiny({"model.n_head=4", "model.activation=gelu", "train.steps=9"})) ==
        std::vector<std::string>{"model.n_head (2, now 4)", "model.activation ('relu', now 'gelu')"});
  CHECK(fixed_key_changes(a, tiny({"train.lr=0.5"})) == std::vector<std::string>{"train.lr (0.001, now 0.5)"});
}
