// CRC-32 (IEEE 802.3 polynomial; zlib's crc32_z underneath) for checkpoint integrity checks.
// `crc` continues a checksum: crc32(b, nb, crc32(a, na)) == crc32 of a followed by b.
#pragma once

#include <cstddef>
#include <cstdint>

namespace peer {

uint32_t crc32(const void* data, size_t bytes, uint32_t crc = 0);

}  // namespace peer
