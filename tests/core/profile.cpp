// The per-op profile (svilm/core/profile.hpp): off by default, only the outermost scope of a
// thread counts, nothing is counted inside a parallel loop, and the table adds up.
#include <doctest/doctest.h>

#include <string>

#include "svilm/core/profile.hpp"

namespace svilm::testing {
namespace {

void inner_op() { const profile::Scope scope("inner"); }
void outer_op() {
    const profile::Scope scope("outer");
    inner_op();
}

// Puts the profiler back as it found it, also when a REQUIRE ends the test early.
struct RestoreProfiling {
    bool was = profile::enabled();
    ~RestoreProfiling() {
        profile::reset();
        profile::enable(was);
    }
};

TEST_CASE("profile: outermost scopes only, none inside parallel loops, off leaves nothing") {
    const RestoreProfiling restore;
    profile::reset();
    profile::enable(false);
    outer_op();
    CHECK(profile::entries().empty());

    profile::enable(true);
    outer_op();
    outer_op();
    inner_op();
    parallel_for(8, [](index_t) { inner_op(); });
    const auto rows = profile::entries();
    REQUIRE(rows.size() == 2);
    for (const auto& e : rows) CHECK(e.calls == (e.op == "outer" ? 2 : 1));
    const std::string table = profile::table(2.0);
    CHECK(table.find("| outer | 1 |") != std::string::npos);  // calls per run
    CHECK(table.find("| all ops |") != std::string::npos);
    profile::reset();
    CHECK(profile::entries().empty());
}

}  // namespace
}  // namespace svilm::testing
