#include "experiments/run/run_folder.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <stdexcept>

#include "core/error.h"
#include "core/io/atomic_file.h"
#include "experiments/run/model_factory.h"
#include "experiments/run/pools.h"
#include "experiments/run/train_step.h"

namespace fs = std::filesystem;

namespace peer {

std::string checkpoint_path(const std::string& dir) { return (fs::path(dir) / "checkpoint.safetensors").string(); }

std::optional<CheckpointInfo> find_checkpoint(const std::string& dir) {
  if (!fs::is_regular_file(checkpoint_path(dir))) return std::nullopt;
  return read_checkpoint_info(checkpoint_path(dir));
}

RunLock::RunLock(const std::string& dir) {
  fs::create_directories(dir);
  const std::string path = (fs::path(dir) / kRunLockFile).string();
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw std::runtime_error("cannot open the lock file '" + path + "': " + std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    char pid[32] = {};
    const ssize_t n = ::pread(fd_, pid, sizeof pid - 1, 0);
    ::close(fd_);
    if (err != EWOULDBLOCK) throw std::runtime_error("cannot lock '" + path + "': " + std::strerror(err));
    const std::string holder = n > 0 ? std::string(pid, std::strcspn(pid, " \n")) : "";
    throw InputError("run folder '" + dir + "' is in use: process " + (holder.empty() ? "(pid unknown)" : holder) +
                     " is training in it (it holds " + path + "); wait for it or stop it");
  }
  const std::string pid = std::to_string(::getpid());
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) != ssize_t(pid.size()))
    throw std::runtime_error("cannot write '" + path + "': " + std::strerror(errno));
}

RunLock::~RunLock() { ::close(fd_); }  // closing releases the lock

bool holds_run_files(const std::string& dir) {
  if (!fs::is_directory(dir)) return false;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename() != kRunLockFile) return true;
  return false;
}

void write_run_config(const std::string& dir, const Config& c) {
  fs::create_directories(dir);
  write_file_atomic((fs::path(dir) / "config.toml").string(), to_toml(with_absolute_paths(c)));
}

namespace {
// A folder's config.toml as this binary writes it, so that one written by an older binary
// (another key order, 0-means-auto values, longer floats, relative paths) compares by meaning,
// not by text. Text that no longer parses is compared as it is (and so differs).
std::string canonical_config(const fs::path& file) {
  if (!fs::is_regular_file(file)) return "";
  const std::string text = read_file(file.string());
  try {
    return to_toml(with_absolute_paths(parse_config(text, file.string())));
  } catch (const InputError&) {
    return text;
  }
}
}  // namespace

void require_same_config(const std::string& dir, const Config& want_config, const std::string& who) {
  const fs::path file = fs::path(dir) / "config.toml";
  const std::string want = to_toml(with_absolute_paths(want_config)), have = canonical_config(file);
  if (want == have) return;
  std::istringstream a(have), b(want);
  std::string la, lb, section;
  while (std::getline(b, lb)) {
    if (!std::getline(a, la)) la = "(missing)";
    if (!lb.empty() && lb[0] == '[') section = lb;
    if (la != lb) break;
  }
  throw InputError(who + ": " + dir + " was trained with another config (" + section + " " + la + ", now " + lb +
                   "); use another --out, or delete that folder to retrain it");
}

OpenedRun open_run(const std::string& dir, const Config& config, int64_t vocab_size,
                   const std::optional<CheckpointInfo>& checkpoint, bool with_optimizer) {
  OpenedRun r;
  r.model = build_model(config, vocab_size);
  if (checkpoint) {
    r.info = *checkpoint;
    restore_structure(*r.model, r.info);
  }
  if (with_optimizer) r.opt = std::make_unique<AdamW>(r.model->parameters(), adamw_options(config));
  if (checkpoint) {
    load_checkpoint(checkpoint_path(dir), *r.model, r.opt.get());
    require_finite_parameters(*r.model, checkpoint_path(dir));  // one written before finite checks
  }
  return r;
}

OpenedRun open_trained_run(const std::string& dir, bool with_optimizer) {
  const CheckpointInfo info = read_checkpoint_info(checkpoint_path(dir));
  return open_run(dir, info.config, info.tokenizer.vocab_size(), info, with_optimizer);
}

}  // namespace peer
