#include "core/optim/adamw.h"

#include <cmath>
#include <stdexcept>

#include "core/cuda/memory.h"
#include "core/ops/adamw.h"
#include "core/ops/grad_norm.h"

namespace peer {

namespace {
// The device of every parameter that trains; an error naming the op when they are not on one.
Device common_device(const std::vector<Parameter*>& params, const char* op) {
  Device d = Device::CPU;
  bool first = true;
  for (Parameter* p : params) {
    if (!p->trainable()) continue;
    if (!first && p->value.device() != d)
      throw std::invalid_argument(std::string("[") + op + "] parameters on more than one device");
    d = p->value.device();
    first = false;
  }
  return d;
}

// A gradient or moment of p that the op on device d will use: it must be there.
template <class T>  // Tensor or const Tensor
T& on_device(T& t, Device d, const Parameter& p, const char* what) {
  if (t.device() != d) throw std::invalid_argument(std::string(what) + " of " + p.name + " is not on its device");
  return t;
}
}  // namespace

AdamW::AdamW(std::vector<Parameter*> params, AdamWOptions opt) : params_(std::move(params)), opt_(opt) {
  for (Parameter* p : params_)
    if (p->trainable()) state_[p->name] = {Tensor(p->value.shape()), Tensor(p->value.shape())};
}

void AdamW::step(float lr) {
  ++t_;
  const AdamWStep s{lr,
                    opt_.beta1,
                    opt_.beta2,
                    1.0f / (1.0f - std::pow(opt_.beta1, float(t_))),
                    1.0f / (1.0f - std::pow(opt_.beta2, float(t_))),
                    opt_.eps};
  const Device d = common_device(params_, "adamw");
  std::vector<AdamWSpan> dense;
  for (Parameter* p : params_) {
    if (!p->trainable()) continue;
    Moments& st = state_.at(p->name);
    on_device(st.m, d, *p, "[adamw] the moments");
    on_device(st.v, d, *p, "[adamw] the moments");
    const float wd = p->decay ? opt_.weight_decay : 0.0f;
    if (!p->sparse) {
      dense.push_back({p->value.data(), on_device(p->grad, d, *p, "[adamw] the gradient").data(),
                       st.m.data(), st.v.data(), p->value.numel(), wd});
      continue;
    }
    const RowSparseGrad& sg = p->sparse_grad;
    const int64_t k = sg.slots();
    const float* g = k ? on_device(sg.values, d, *p, "[adamw] the gradient").data() : nullptr;
    const int32_t* touched = k ? sg.rows.data() : nullptr;
    Tensor rows_on_device;  // host rows over device values (see the header): a copy from the host
    if (k && !sg.index.empty()) {
      touched = on_device(sg.index, d, *p, "[adamw] the gradient's rows").data_i32();
    } else if (d == Device::CUDA && k) {
      rows_on_device = Tensor({k}, d, DType::I32);
      cuda::copy(rows_on_device.data_i32(), sg.rows.data(), size_t(k) * sizeof(int32_t));
      touched = rows_on_device.data_i32();
    }
    adamw_update_rows(d, p->value.data(), st.m.data(), st.v.data(), p->value.dim(0), p->value.dim(1), touched, g, k,
                      wd, opt_.lazy_sparse, s);
  }
  adamw_update(d, dense, s);
}

void AdamW::to(Device d) {
  for (auto& [name, s] : state_) {
    s.m = s.m.to(d);
    s.v = s.v.to(d);
  }
}

void AdamW::adopt_state(AdamW& old) {
  t_ = old.t_;
  for (auto& [name, s] : state_) {
    auto it = old.state_.find(name);
    if (it != old.state_.end() && it->second.m.shape() == s.m.shape()) s = it->second;
  }
}

namespace {
// Every trainable gradient's elements: the dense gradient, or the rows a row-sparse one holds.
std::vector<GradSpan> grad_spans(const std::vector<Parameter*>& params, Device d) {
  std::vector<GradSpan> out;
  for (Parameter* p : params) {
    if (!p->trainable()) continue;
    Tensor& g = p->sparse ? p->sparse_grad.values : p->grad;
    const int64_t n = p->sparse ? p->sparse_grad.slots() * p->value.dim(1) : p->grad.numel();
    if (n) out.push_back({on_device(g, d, *p, "[clip_grad_norm] the gradient").data(), n});
  }
  return out;
}
}  // namespace

double clip_grad_norm(const std::vector<Parameter*>& params, double max_norm) {
  const Device d = common_device(params, "clip_grad_norm");
  return clip_grad_norm(d, grad_spans(params, d), max_norm);
}

void clip_grad_norm(const std::vector<Parameter*>& params, double max_norm, Tensor& norm) {
  const Device d = common_device(params, "clip_grad_norm");
  clip_grad_norm(d, grad_spans(params, d), max_norm, norm);
}

}  // namespace peer
