// Writes a file so that readers see either the old file or the complete new one: data goes to a
// temporary file in the same directory, is fsynced, then renamed over the target (and the
// directory fsynced). If commit() is never called the temporary file is removed.
#pragma once

#include <cstddef>
#include <cstdio>
#include <string>

namespace peer {

class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t bytes);
  void commit();

 private:
  std::string path_, tmp_;
  std::FILE* f_ = nullptr;
};

void write_file_atomic(const std::string& path, const std::string& contents);
// Appends text to a file (created if missing), every step checked: a failure (a full disk
// included) throws naming the file.
void append_file(const std::string& path, const std::string& text);
// The whole regular file; throws InputError naming it when it is missing, not a regular file
// (a directory, FIFO or device) or larger than this machine's memory.
std::string read_file(const std::string& path);

}  // namespace peer
