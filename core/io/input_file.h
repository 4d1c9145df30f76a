// Limits on what the program reads, checked before anything is opened or allocated: a path that
// must be a regular file (a directory, FIFO or device is refused: opening a FIFO would block, a
// directory reads as empty), and sizes held against the machine's physical memory.
#pragma once

#include <cstdint>
#include <string>

namespace peer {

// The size of the regular file at `path`. Throws InputError "<what> '<path>': ..." when it is
// missing or is a directory, FIFO, socket or device.
uint64_t regular_file_size(const std::string& path, const std::string& what = "file");

// Physical memory of this machine in bytes (sysconf).
uint64_t physical_memory_bytes();

// Throws InputError "<what>: needs about X GB, more than this machine's Y GB of memory" when
// `bytes` exceeds physical memory. `bytes` is a double so that callers can form products of
// untrusted sizes without overflow.
void require_memory(double bytes, const std::string& what);

}  // namespace peer
