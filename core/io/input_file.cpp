#include "core/io/input_file.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"

namespace peer {

uint64_t regular_file_size(const std::string& path, const std::string& what) {
  struct stat st;
  auto bad = [&](const std::string& why) { return InputError(what + " '" + path + "': " + why); };
  if (::stat(path.c_str(), &st) != 0) throw bad(std::strerror(errno));
  if (S_ISDIR(st.st_mode)) throw bad("is a directory, not a file");
  if (S_ISFIFO(st.st_mode)) throw bad("is a FIFO (named pipe), not a regular file");
  if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) throw bad("is a device, not a regular file");
  if (!S_ISREG(st.st_mode)) throw bad("is not a regular file");
  return uint64_t(st.st_size);
}

uint64_t physical_memory_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? uint64_t(pages) * uint64_t(page) : UINT64_MAX;
}

void require_memory(double bytes, const std::string& what) {
  const double have = double(physical_memory_bytes());
  if (!(bytes <= have)) {  // NaN too
    char msg[160];
    std::snprintf(msg, sizeof msg, ": needs about %.3g GB, more than this machine's %.3g GB of memory", bytes * 1e-9,
                  have * 1e-9);
    throw InputError(what + msg);
  }
}

}  // namespace peer
