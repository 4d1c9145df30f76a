// The op table, in the manner of ggml's tests/test-backend-ops.cpp: every op the models are built
// from is a row (name with shapes, seeds, tolerance, finite-difference step) and one harness runs
// the rows in three modes:
//   gradient  (test_op_table.cpp, in CI) a gradient row's backward against central finite
//             differences of L = sum(w * y) (+ the op's aux loss) for a fixed random w, w.r.t.
//             every input and parameter, on fresh seeded inputs drawn away from kinks and ties;
//             an exact row (an op with no gradient: retrieval, optimizer) against its plain
//             oracle.
//   backend   (op_table_main.cpp, `op_table backend`, CTest label gpu) a gradient row's op built
//             twice from each seed, one run on the CPU and one moved to CUDA (Op::to): loss,
//             output and every gradient compared; an exact row moved to CUDA against its CPU
//             oracle. A row whose op has no CUDA implementation reports "skipped" with the
//             error that says so; without a device the command exits 77, which CTest shows as
//             skipped (SKIP_RETURN_CODE).
//   perf      (`op_table perf [filter]`) times one forward + backward of each perf row.
// Tolerances are |got - want| <= atol + rtol * |want|, stated per row, never loosened to pass.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "core/module.h"
#include "core/tensor.h"

namespace peer::optable {

// Something gradient mode differentiates: n floats the loss reads, perturbed in place (value is
// on the op's device: gradient mode runs on the CPU only), and the analytical dL/d(them) that
// backward produced, copied to the host (later forwards reuse the buffers).
struct Operand {
  std::string name;
  float* value;
  int64_t n;
  std::vector<float> grad;
};

Operand input(const std::string& name, Tensor& x, const Tensor& dx);
Operand param(Parameter& p);  // dense gradient, or a row-sparse one densified (zero elsewhere)
// The inputs followed by every parameter of m (buffers such as running statistics excluded).
std::vector<Operand> with_params(std::vector<Operand> inputs, Module& m);
// For an op's to(): m's parameters and the tensors to device d.
void move_to(Device d, Module& m, std::initializer_list<Tensor*> tensors);

class Op {
 public:
  virtual ~Op() = default;
  virtual void run() = 0;  // one forward + backward (perf mode)
  // Moves the op's modules and tensors to device d (backend mode). The default refuses CUDA: a
  // row whose op is called on host pointers, or whose results are read on the host, has no
  // CUDA path until it overrides this.
  virtual void to(Device d);
};

// An op with a backward.
class GradOp : public Op {
 public:
  // Forward on the current values, then L = sum(w * y) in double (+ the op's aux loss).
  virtual double loss() = 0;
  // The y of the last loss() that went through project() (empty for a row whose loss is its
  // output, such as cross-entropy), on the op's device.
  const Tensor& output() const { return output_; }
  // After loss(): zeroes the parameter gradients, runs backward with dy = w, and returns every
  // input and parameter with its gradient.
  virtual std::vector<Operand> backward() = 0;
  // The op's discrete decisions (ReLU signs, top-k choices, capacity drops) on the current
  // values; an element whose perturbation changes them is skipped (gradcheck.h). Empty: smooth.
  virtual std::vector<uint8_t> kinks() { return {}; }
  void run() override {
    loss();
    backward();
  }

 protected:
  // L = sum(w * y), keeping y for backend mode; rows call it from loss() (it hides
  // gradcheck::project inside a GradOp).
  double project(const Tensor& y, const Tensor& w);

 private:
  Tensor output_;
};

// An op whose result is compared exactly (within tolerance) with a plain oracle.
class ExactOp : public Op {
 public:
  // Runs the op (on its device) and its oracle (on the CPU); returns "" when they agree, else
  // what differs.
  virtual std::string compare(double atol, double rtol) = 0;
};

struct Tolerance {
  double atol = 1e-3, rtol = 1e-2;
  // Gradient rows only:
  float eps = 1e-2f;            // finite-difference step, relative: h = eps * max(1, |x|)
  int64_t max_elements = 64;    // checked per operand (all of them when fewer)
  double max_skipped = 0.0;     // fraction of an operand's tried elements whose step may cross a kink
};

// One row. Exactly one of grad and exact is set; each builds the op with fresh random inputs
// and parameters from a seed.
struct Case {
  std::string name;  // op and shapes
  std::function<std::unique_ptr<GradOp>(uint64_t seed)> grad;
  std::function<std::unique_ptr<ExactOp>(uint64_t seed)> exact;
  std::vector<uint64_t> seeds;
  Tolerance tol;
  int64_t items = 0;  // rows (tokens, queries) per run, for perf mode's rate
};

// A gradient row whose op is O(args..., seed); items: rows per run for perf mode's rate.
template <class O, class... Args>
Case grad_row(std::string name, std::vector<uint64_t> seeds, Tolerance tol, int64_t items, Args... args) {
  return {std::move(name), [=](uint64_t seed) -> std::unique_ptr<GradOp> { return std::make_unique<O>(args..., seed); },
          nullptr, std::move(seeds), tol, items};
}

template <class O, class... Args>
Case exact_row(std::string name, std::vector<uint64_t> seeds, Tolerance tol, int64_t items, Args... args) {
  return {std::move(name), nullptr,
          [=](uint64_t seed) -> std::unique_ptr<ExactOp> { return std::make_unique<O>(args..., seed); },
          std::move(seeds), tol, items};
}

// Row names: cat("linear N=", 5) == "linear N=5".
template <class... A>
std::string cat(const A&... a) {
  std::ostringstream s;
  (s << ... << a);
  return s.str();
}

// The rows, by the folder their ops live in (op_cases_*.cpp): small shapes for the gradient and
// backend modes, realistic ones for perf mode.
std::vector<Case> core_cases();
std::vector<Case> moe_cases();
std::vector<Case> peer_cases();
std::vector<Case> pkm_cases();
std::vector<Case> core_perf_cases();
std::vector<Case> moe_perf_cases();
std::vector<Case> peer_perf_cases();
std::vector<Case> pkm_perf_cases();
std::vector<Case> all_cases();
std::vector<Case> all_perf_cases();

// Backend mode's comparison of one row at one seed: a gradient row's op built twice, one moved to
// device d (Op::to), its loss, output and every gradient against the CPU run's; an exact row's op
// moved to d against its CPU oracle. Returns one line per mismatch, "" when all agree; throws
// what the moved op throws (a "has no CUDA implementation" error for an op without one).
std::string compare_on_device(const Case& c, uint64_t seed, Device d);

// Compares n values, |got - want| <= atol + rtol * |want| each: "" when all pass, else how many
// differ and the worst of them (largest error).
std::string compare_values(const std::string& what, const float* got, const float* want, int64_t n, double atol,
                           double rtol);

}  // namespace peer::optable
