#include "core/io/checksum.h"

#include <zlib.h>

namespace peer {

uint32_t crc32(const void* data, size_t bytes, uint32_t crc) {
  // crc32_z takes a size_t length (plain crc32 takes 32 bits: a tensor over 4 GiB would be cut).
  return uint32_t(::crc32_z(crc, static_cast<const Bytef*>(data), bytes));
}

}  // namespace peer
