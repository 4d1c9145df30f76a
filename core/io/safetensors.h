// safetensors files (8-byte little-endian header length, JSON header, raw little-endian data),
// readable by numpy/PyTorch. float32 only. Every tensor's CRC-32 is stored in the metadata
// ("peer.checksums", a JSON object name -> hex) and verified on load; writes are atomic.
#pragma once

#include <map>
#include <string>
#include <string_view>
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

// Throws InputError naming the file on any malformed header (or one over 100 MB), out-of-range or
// overlapping offsets, short file, missing or mismatching checksum, or tensors that need more
// than this machine's memory; all checked before the first tensor is allocated. A directory,
// FIFO or device is refused before it is opened.
SafetensorsFile load_safetensors(const std::string& path);
// The same from bytes in memory (`name` stands for the file in messages).
SafetensorsFile parse_safetensors(std::string_view bytes, const std::string& name);
// Only the metadata (reads the header, not the tensors).
Metadata read_safetensors_metadata(const std::string& path);

}  // namespace peer
