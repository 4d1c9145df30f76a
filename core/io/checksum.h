// CRC-32 (IEEE 802.3 polynomial, as zlib's crc32) for checkpoint integrity checks.
#pragma once

#include <cstddef>
#include <cstdint>

namespace peer {

uint32_t crc32(const void* data, size_t bytes, uint32_t crc = 0);

}  // namespace peer
