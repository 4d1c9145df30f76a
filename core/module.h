// Parameters and the Module base class.
//
// Layers have explicit forward/backward (no autograd tape). The accumulation rule, once:
// parameter gradients are ACCUMULATED (+=) by backward; activation gradients are OVERWRITTEN (=).
// A forward keeps what its backward needs; a layer's input must stay alive until its backward.
// Frozen parameters skip their weight-gradient work.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace peer {

// A row-sparse gradient of a (rows, width) parameter: only the rows a step touched, with their
// gradient rows. Expert tables (2^20 rows) never get a dense gradient. Two layouts:
//   host rows  rows: sorted unique row indices; values (rows.size(), width). Every CPU gradient,
//              and a device one built from host rows (accumulate with device values).
//   device     index (slots) I32 on the GPU: the sorted unique rows, then kPadRow in the slots
//              past the last; values (slots, width), zero in padded slots. What a GPU backward
//              writes (core/sparse_rows.h): how many rows a step touched is known on the device
//              only, and reading it would make the host wait for the GPU. rows stays empty.
struct RowSparseGrad {
  static constexpr int32_t kPadRow = 2147483647;  // INT32_MAX: sorts after every row
  std::vector<int32_t> rows;  // sorted, unique
  Tensor index;               // (slots) I32, device layout only
  Tensor values;              // (slots, width)
  void clear() {
    rows.clear();
    index = Tensor();
  }
  // Slots the gradient holds: rows.size(), or index's length in the device layout.
  int64_t slots() const { return index.empty() ? int64_t(rows.size()) : index.numel(); }
  // Adds gradient rows (sorted unique `rows`, values (rows.size(), width)) into this one (host
  // rows layout).
  void accumulate(const std::vector<int32_t>& add_rows, const Tensor& add_values);
  // The rows held, padding dropped, on the host (the device layout is copied: waits for the GPU).
  std::vector<int32_t> host_rows() const;
  // Moves the gradient to device d: the device layout on CUDA, host rows on the CPU.
  void to(Device d);
};

struct Parameter {
  std::string name;  // e.g. "blocks.0.attn.qkv.weight"
  Tensor value;
  Tensor grad;       // same shape as value; empty for sparse parameters
  bool frozen = false;
  bool decay = true;    // AdamW weight decay applies (false for norms, biases, embeddings)
  bool buffer = false;  // state saved with the model but never trained (BatchNorm running stats)
  bool sparse = false;  // gradient lives in sparse_grad (row-sparse), see RowSparseGrad
  RowSparseGrad sparse_grad;

  Parameter() = default;
  Parameter(std::string n, std::vector<int64_t> shape, bool wd)
      : name(std::move(n)), value(shape), grad(shape), decay(wd) {}
  // A row-sparse parameter: no dense gradient is ever allocated.
  static Parameter row_sparse(std::string n, std::vector<int64_t> shape, bool wd);
  // Non-trainable state (no gradient).
  static Parameter make_buffer(std::string n, std::vector<int64_t> shape);
  bool trainable() const { return !frozen && !buffer; }
};

// Statistics a layer reports (router loads, aux losses, ...), keyed by name; one value for a
// scalar, several for a per-expert list.
using Stats = std::vector<std::pair<std::string, std::vector<double>>>;

class Module {
 public:
  virtual ~Module() = default;
  // Appends pointers to every parameter of this module and its children.
  virtual void collect_parameters(std::vector<Parameter*>& out) = 0;
  std::vector<Parameter*> parameters() {
    std::vector<Parameter*> out;
    collect_parameters(out);
    return out;
  }
  void zero_grad();
  void set_frozen(bool frozen);
  // Moves every parameter's value and gradients to device d (the optimizer's state moves with
  // AdamW::to). Activation buffers follow the device of the inputs a layer is given.
  void to(Device d);
};

}  // namespace peer
