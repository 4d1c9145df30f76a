#include "experiments/run/export.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "core/io/safetensors.h"
#include "experiments/run/provenance.h"
#include "experiments/run/run_folder.h"

namespace fs = std::filesystem;

namespace peer {

namespace {
constexpr const char* kExportFormat = "peer-export-1";

// Refuses, before anything is loaded or written, every output path the export cannot or must
// not write.
void check_output(const std::string& dir, const std::string& out, bool force) {
  const fs::path path(out);
  std::error_code ec;
  if (fs::is_directory(path)) throw InputError("--out '" + out + "' is a folder; give a file name");
  if (fs::exists(path) && fs::equivalent(path, checkpoint_path(dir), ec))
    throw InputError("--out '" + out + "' is the run's own checkpoint; export to another file");
  if (fs::exists(path) && !force) throw InputError("--out '" + out + "' exists (use --force to overwrite it)");
  const fs::path parent = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  if (!fs::exists(parent)) throw InputError("--out '" + out + "': folder '" + parent.string() + "' does not exist");
  if (!fs::is_directory(parent)) throw InputError("--out '" + out + "': '" + parent.string() + "' is not a folder");
  if (::access(parent.c_str(), W_OK) != 0)
    throw InputError("--out '" + out + "': cannot write in '" + parent.string() + "': " + std::strerror(errno));
}
}  // namespace

ExportResult export_model(const std::string& dir, const std::string& out, bool force) {
  if (!fs::is_regular_file(checkpoint_path(dir)))
    throw InputError("run folder '" + dir + "' has no checkpoint.safetensors (train it first)");
  check_output(dir, out, force);
  OpenedRun run = open_trained_run(dir, false);  // verifies checksums and shapes
  // Config, vocabulary and pools exactly as the checkpoint stores them (experiments/README.md).
  Metadata ckpt = read_safetensors_metadata(checkpoint_path(dir));
  Metadata meta = {{"format", "pt"},
                   {"peer.format", kExportFormat},
                   {"peer.config", ckpt["peer.config"]},
                   {"peer.vocab", ckpt["peer.vocab"]},
                   {"peer.pools", ckpt.count("peer.pools") ? ckpt["peer.pools"] : "{}"},
                   {"peer.step", std::to_string(run.info.step)},
                   {"peer.commit", build_commit()}};
  std::vector<std::pair<std::string, const Tensor*>> tensors;
  ExportResult r;
  for (const Parameter* p : run.model->parameters()) {  // buffers too: BatchNorm running statistics
    tensors.emplace_back(p->name, &p->value);
    r.bytes += p->value.numel() * int64_t(sizeof(float));
  }
  save_safetensors(out, tensors, meta);
  r.tensors = int64_t(tensors.size());
  r.step = run.info.step;
  return r;
}

}  // namespace peer
