#include "core/module.h"

namespace peer {

void Module::zero_grad() {
  for (Parameter* p : parameters()) p->grad.zero();
}

void Module::set_frozen(bool frozen) {
  for (Parameter* p : parameters()) p->frozen = frozen;
}

}  // namespace peer
