// `peer export`: a trained run's model weights alone (no optimizer moments), with what another
// program needs to rebuild the model: the resolved config, the vocabulary, the step and the
// commit. The format (tensor names, shapes, layouts, constants) is experiments/MODEL_FORMAT.md;
// experiments/python/peer_reader.py reads it with numpy.
#pragma once

#include <cstdint>
#include <string>

namespace peer {

struct ExportResult {
  int64_t tensors = 0, bytes = 0, step = 0;
};

// Writes the model of the run in `dir` to `out` (atomically: temp file, fsync, rename). Checks
// everything before writing: InputError naming the folder or file when `dir` has no valid
// checkpoint, `out` exists and !force, `out` is the run's own checkpoint, or `out`'s folder is
// missing or not writable.
ExportResult export_model(const std::string& dir, const std::string& out, bool force);

}  // namespace peer
