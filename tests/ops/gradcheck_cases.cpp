// The finite-difference gradient check (tests/support/gradcheck.hpp) of every op in the op
// table (tests/ops/op_table.hpp), at each of its settings, in double on the CPU.
#include <doctest/doctest.h>

#include <memory>
#include <vector>

#include "ops/op_table.hpp"
#include "support/context.hpp"
#include "support/gradcheck.hpp"
#include "svilm/ops.hpp"

namespace svilm::testing {
namespace {

using Case = optest::OpCase<double, cpu>;
using Run = optest::OpRun<double, cpu>;

// The harness's view of a table case: its inputs and parameters in order are the differentiated
// arguments; the constants (ids, masks, noise) are filled once and held fixed; each call runs
// the case on a fresh OpRun of the values the harness passes. The outputs are the differentiable
// ones (a loss's observed probabilities are not part of the function). The arguments are drawn
// from another seed than the harness's upstream gradient (1234), which would otherwise repeat them.
GradCase grad_case(const Case& c) {
    const optest::Signature sig = c.signature(c.sizes);
    const auto filled = std::make_shared<const optest::HostBuffers>(optest::fill_args(sig, 77));
    std::vector<std::size_t> args, outputs;  // the signature's index of each harness input and output
    GradCase g;
    g.name = c.op + " [" + c.setting + "] " + c.sizes.label();
    for (std::size_t k = 0; k < sig.args.size(); ++k) {
        if (sig.args[k].role == optest::Role::constant) continue;
        g.inputs.push_back({sig.args[k].name, sig.args[k].shape, sig.args[k].role == optest::Role::parameter});
        args.push_back(k);
    }
    for (std::size_t k = 0; k < sig.outputs.size(); ++k) {
        if (!sig.outputs[k].differentiable) continue;
        g.outputs.push_back(sig.outputs[k].shape);
        outputs.push_back(k);
    }
    const auto run = [=](const Buffers& in) {
        optest::HostBuffers all = *filled;
        for (std::size_t i = 0; i < args.size(); ++i) all[args[i]] = in[i];
        return Run(cpu_ctx, c.sizes, sig, all);
    };
    const auto take_outputs = [=](const Run& r, Buffers& out) {
        const optest::HostBuffers all = r.outputs();
        for (std::size_t j = 0; j < outputs.size(); ++j) out[j] = all[outputs[j]];
    };
    g.init = [=](Generator&, Buffers& in) {
        for (std::size_t i = 0; i < args.size(); ++i) in[i] = (*filled)[args[i]];
    };
    g.forward = [=](const Buffers& in, Buffers& out) {
        Run r = run(in);
        c.forward(r);
        take_outputs(r, out);
    };
    if (c.surrogate)
        g.surrogate = [=](const Buffers& in, Buffers& out) {
            Run r = run(in);
            c.surrogate(r);
            take_outputs(r, out);
        };
    if (c.backward)
        g.backward = [=](const Buffers& in, const Buffers& dout, Buffers& grads) {
            Run r = run(in);
            c.forward(r);
            optest::HostBuffers all_douts(sig.outputs.size()), all_grads(sig.args.size());
            for (std::size_t j = 0; j < outputs.size(); ++j) all_douts[outputs[j]] = dout[j];
            for (std::size_t i = 0; i < args.size(); ++i) all_grads[args[i]] = grads[i];
            r.set_output_grads(all_douts);
            r.set_grads(all_grads);  // the harness's NaN and 0.5
            c.backward(r);
            const optest::HostBuffers result = r.grads();
            for (std::size_t i = 0; i < args.size(); ++i) grads[i] = result[args[i]];
        };
    return g;
}

TEST_CASE("every op of the table passes its finite-difference gradient check in double, at each setting") {
    for (const Case& c : optest::op_table<double, cpu>()) {
        if (!c.no_gradcheck.empty()) {
            MESSAGE(c.op << " [" << c.setting << "]: no gradient check, " << c.no_gradcheck);
            continue;
        }
        run_gradcheck(grad_case(c));
    }
}

}  // namespace
}  // namespace svilm::testing
