// tests/support/context.hpp: the CPU context every test's op and module calls take first.
#pragma once

#include "svilm/core/context.hpp"

namespace svilm::testing {

inline const Context<cpu> cpu_ctx;

}  // namespace svilm::testing
