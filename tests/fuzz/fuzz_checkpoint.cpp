// Fuzz target: the checkpoint reader on bytes (core/io/safetensors.h: header, offsets, tensors,
// checksums; then experiments/run/checkpoint.h: the stored config, vocabulary, step, pools and
// frozen list). Malformed input must end in an InputError; a crash, leak, undefined behaviour or
// any other exception is a bug.
#include <cstdint>
#include <string_view>

#include "core/error.h"
#include "core/io/safetensors.h"
#include "experiments/run/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const peer::SafetensorsFile f =
        peer::parse_safetensors(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.safetensors");
    peer::checkpoint_info(f.metadata, "fuzz.safetensors");
  } catch (const peer::InputError&) {
  }
  return 0;
}
