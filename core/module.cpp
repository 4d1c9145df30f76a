#include "core/module.h"

#include <algorithm>
#include <iterator>

namespace peer {

Parameter Parameter::row_sparse(std::string n, std::vector<int64_t> shape, bool wd) {
  Parameter p;
  p.name = std::move(n);
  p.value = Tensor(std::move(shape));
  p.decay = wd;
  p.sparse = true;
  return p;
}

Parameter Parameter::make_buffer(std::string n, std::vector<int64_t> shape) {
  Parameter p;
  p.name = std::move(n);
  p.value = Tensor(std::move(shape));
  p.decay = false;
  p.buffer = true;
  return p;
}

void RowSparseGrad::accumulate(const std::vector<int32_t>& add_rows, const Tensor& add_values) {
  if (rows.empty()) {
    rows = add_rows;
    values = add_values;  // shares the storage: callers hand over fresh tensors
    return;
  }
  const int64_t w = add_values.numel() ? add_values.dim(1) : values.dim(1);
  std::vector<int32_t> merged;
  std::set_union(rows.begin(), rows.end(), add_rows.begin(), add_rows.end(), std::back_inserter(merged));
  Tensor out({int64_t(merged.size()), w});
  size_t a = 0, b = 0;
  for (size_t i = 0; i < merged.size(); ++i) {
    float* dst = out.data() + int64_t(i) * w;
    if (a < rows.size() && rows[a] == merged[i]) {
      const float* src = values.data() + int64_t(a++) * w;
      for (int64_t j = 0; j < w; ++j) dst[j] += src[j];
    }
    if (b < add_rows.size() && add_rows[b] == merged[i]) {
      const float* src = add_values.data() + int64_t(b++) * w;
      for (int64_t j = 0; j < w; ++j) dst[j] += src[j];
    }
  }
  rows = std::move(merged);
  values = std::move(out);
}

std::vector<int32_t> RowSparseGrad::host_rows() const {
  if (index.empty()) return rows;
  const Tensor h = index.to(Device::CPU);
  std::vector<int32_t> out(h.data_i32(), h.data_i32() + h.numel());
  out.erase(std::find(out.begin(), out.end(), kPadRow), out.end());
  return out;
}

void RowSparseGrad::to(Device d) {
  if (values.empty() || values.device() == d) return;
  const int64_t w = values.dim(1);
  if (d == Device::CPU) {
    rows = host_rows();
    index = Tensor();
    values = values.to(d);
    values.resize({int64_t(rows.size()), w});  // the padded slots' rows go
    return;
  }
  if (!rows.empty()) index.assign(rows.data(), {int64_t(rows.size())}, d);
  rows.clear();
  values = values.to(d);
}

void Module::zero_grad() {
  for (Parameter* p : parameters()) {
    if (p->sparse) p->sparse_grad.clear();
    else if (!p->buffer) p->grad.zero();
  }
}

void Module::to(Device d) {
  for (Parameter* p : parameters()) {
    p->value = p->value.to(d);
    p->grad = p->grad.to(d);
    p->sparse_grad.to(d);
  }
}

void Module::set_frozen(bool frozen) {
  for (Parameter* p : parameters())
    if (!p->buffer) p->frozen = frozen;
}

}  // namespace peer
