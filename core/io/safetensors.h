// safetensors files (8-byte little-endian header length, JSON header, raw little-endian data),
// readable by numpy/PyTorch. float32 only. Every tensor's CRC-32 is stored in the metadata
// ("peer.checksums", a JSON object name -> hex) and verified on load; writes are atomic.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace peer {

using Metadata = std::map<std::string, std::string>;

void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, const Tensor*>>& tensors,
                      const Metadata& metadata);

struct SafetensorsFile {
  Metadata metadata;
  std::map<std::string, Tensor> tensors;
};

// Throws InputError naming the file on any malformed header, out-of-range offset, short file or
// checksum mismatch.
SafetensorsFile load_safetensors(const std::string& path);
// Only the metadata (reads the header, not the tensors).
Metadata read_safetensors_metadata(const std::string& path);

}  // namespace peer
