#include "experiments/jobs/claim.h"

#include <cerrno>
#include <cstring>
#include <csignal>
#include <fcntl.h>
#include <filesystem>
#include <sstream>
#include <sys/file.h>
#include <unistd.h>

#include "core/error.h"
#include "core/io/atomic_file.h"

namespace fs = std::filesystem;

namespace peer {

namespace {

std::string host_name() {
  char buf[256] = {};
  ::gethostname(buf, sizeof buf - 1);
  return buf;
}

// Creates `path` holding `id` unless it exists: the atomic step of a claim.
bool create_exclusive(const std::string& path, const std::string& id) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
  if (fd < 0) {
    if (errno == EEXIST) return false;
    throw InputError("cannot create the job claim " + path + ": " + std::strerror(errno));
  }
  const std::string text = id + "\n";
  const bool ok = ::write(fd, text.data(), text.size()) == ssize_t(text.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) throw InputError("cannot write the job claim " + path);
  return true;
}

std::string holder_of(const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return "";
  std::string s = read_file(path);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// A claim of this host whose process is gone.
bool stale(const std::string& holder) {
  std::istringstream in(holder);
  std::string host;
  long pid = 0;
  if (!(in >> host >> pid) || host != host_name() || pid <= 0) return false;
  return ::kill(pid_t(pid), 0) != 0 && errno == ESRCH;
}

// Removes a stale claim. Processes of this host that find it stale at once take turns (a lock
// file beside it) and look again before removing it, so none removes a claim made meanwhile.
void remove_if_stale(const std::string& path) {
  const std::string lock = (fs::path(path).parent_path() / ".claims.lock").string();
  const int fd = ::open(lock.c_str(), O_RDWR | O_CREAT, 0644);
  if (fd < 0) return;
  if (::flock(fd, LOCK_EX) == 0) {
    if (const std::string h = holder_of(path); !h.empty() && stale(h)) fs::remove(path);
    ::flock(fd, LOCK_UN);
  }
  ::close(fd);
}

}  // namespace

std::string claim_id() { return host_name() + " " + std::to_string(long(::getpid())); }

JobClaim::JobClaim(std::string dir) : path_(std::move(dir) + ".claim") {
  fs::create_directories(fs::path(path_).parent_path());
  const std::string me = claim_id();
  // A claim that vanishes between the two looks (its holder just finished) is tried again.
  for (int attempt = 0; attempt < 3; ++attempt) {
    if ((held_ = create_exclusive(path_, me))) {
      holder_ = me;
      return;
    }
    holder_ = holder_of(path_);
    if (!holder_.empty() && !stale(holder_)) return;
    remove_if_stale(path_);
  }
}

JobClaim::~JobClaim() {
  if (!held_) return;
  std::error_code ec;
  if (holder_of(path_) == holder_) fs::remove(path_, ec);
}

}  // namespace peer
