// tests/ops/op_table.hpp: every op registered once, driving the gradient check, the CPU-vs-CUDA
// comparison and the benchmarks (the idea of ggml's test-backend-ops).
//
// An OpCase is one op at one setting: its arguments (shape, how they are filled, whether their
// gradient is assigned (input), accumulates (parameter) or does not exist (constant)), its
// outputs, and a forward and a backward written once over (T, Device) against an OpRun, which
// holds every buffer on the context's device. op_table<T, Device>() lists them all, the default
// setting of each op first; a TU instantiates it where the device's ops are declared:
//   (double, cpu)  the finite-difference gradient check, tests/ops/gradcheck_cases.cpp
//   (float, cpu)   the CPU side of the CUDA test (tests/cuda/cpu_reference.cpp), the CPU benchmarks
//   (float, cuda)  the CUDA test (tests/cuda/cuda_core.cu), the GPU benchmarks
// This header includes no op header (nvcc must not read the CPU ones): the TU includes
// svilm/ops.hpp or svilm/cuda.hpp, and the unqualified op calls below find that device's
// overloads by argument-dependent lookup where op_table is instantiated.
//
// Sizes per case: `sizes` for the gradient check (small: each element is probed by two
// forwards), `device` for the CUDA comparison (past the kernels' block and tile edges; default
// `sizes`), `bench` for the benchmarks of the default setting (ViT-B/16 shapes).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <limits>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <typeinfo>
#include <utility>
#include <vector>

#include "svilm/core/context.hpp"
#include "svilm/core/rng.hpp"
#include "svilm/core/tensor.hpp"
#include "svilm/ops/gemm_types.hpp"
#include "svilm/ops/saved.hpp"
#include "svilm/optim/adamw_update.hpp"

namespace svilm::optest {

using Shape = std::vector<index_t>;
using HostBuffer = std::vector<double>;  // one argument's elements, row-major, whatever its type
using HostBuffers = std::vector<HostBuffer>;

inline index_t elements(const Shape& shape) {
    index_t n = 1;
    for (const index_t e : shape) n *= e;
    return n;
}

// Named extents of one size of a case, in order; the label names its benchmark,
// "M:1568/K:768/N:768" (benchmarks/compare_torch.py uses the same names).
class Sizes {
public:
    Sizes() = default;
    Sizes(std::initializer_list<std::pair<std::string, index_t>> extents) : extents_(extents) {}

    index_t operator[](std::string_view name) const {
        for (const auto& [key, value] : extents_)
            if (key == name) return value;
        throw std::out_of_range("op table: no size named " + std::string(name) + " in " + label());
    }
    index_t get(std::string_view name, index_t fallback) const {
        for (const auto& [key, value] : extents_)
            if (key == name) return value;
        return fallback;
    }
    std::string label() const {
        std::string out;
        for (const auto& [key, value] : extents_) out += (out.empty() ? "" : "/") + key + ":" + std::to_string(value);
        return out;
    }

private:
    std::vector<std::pair<std::string, index_t>> extents_;
};

// What the gradient of an argument is: assigned (=, NaN before backward), accumulated (+=,
// 0.5 before backward, conventions §3), or none (ids, masks, noise).
enum class Role { input, parameter, constant };
enum class Kind { real, index, flag };  // T, std::int64_t, std::uint8_t
enum class Place { device, host };      // host: the CUDA op takes it from the host too

// How a CUDA result must agree with the CPU one: |gpu - cpu| <= atol + rtol |cpu| per element,
// or, where nmse >= 0, sum (gpu - cpu)^2 / sum cpu^2 <= nmse (GEMM-like results, whose small
// elements carry the rounding of long sums).
struct Agreement {
    double atol = 1e-5, rtol = 1e-4;
    double nmse = -1;
};
inline constexpr Agreement fp32_close{1e-5, 1e-4};  // docs/conventions.md §4
inline constexpr Agreement sum_close{1e-4, 1e-3};   // sums in another order: reductions, attention
inline constexpr Agreement bitwise{0, 0};           // moves and one-hot choices
inline constexpr Agreement gemm_close{0, 0, 1e-7};  // normalised MSE of fp32 GEMMs

using Filler = std::function<void(Generator&, const Shape&, HostBuffer&)>;

inline Filler normal(double scale = 1, double shift = 0) {
    return [=](Generator& rng, const Shape&, HostBuffer& b) {
        rng.normal<double, 1>(TensorView<double, 1>(b.data(), {index_t(b.size())}), shift, scale);
    };
}
inline Filler uniform(double low, double high) {
    return [=](Generator& rng, const Shape&, HostBuffer& b) {
        rng.uniform<double, 1>(TensorView<double, 1>(b.data(), {index_t(b.size())}), low, high);
    };
}
inline Filler gumbel() {
    return [](Generator& rng, const Shape&, HostBuffer& b) {
        rng.gumbel<double, 1>(TensorView<double, 1>(b.data(), {index_t(b.size())}));
    };
}
inline Filler value(double v) {
    return [=](Generator&, const Shape&, HostBuffer& b) { std::fill(b.begin(), b.end(), v); };
}
inline Filler random_ids(index_t range) {
    return [=](Generator& rng, const Shape&, HostBuffer& b) {
        for (double& id : b) id = double(rng.uniform_int(std::uint64_t(range)));
    };
}
// N(0, 1) rows over the last axis, each scaled to unit L2 norm: the losses' embeddings.
inline Filler unit_rows() {
    return [](Generator& rng, const Shape& shape, HostBuffer& b) {
        normal()(rng, shape, b);
        const std::size_t cols = std::size_t(shape.back());
        for (std::size_t r = 0; cols && r < b.size() / cols; ++r) {
            double sq = 0;
            for (std::size_t c = 0; c < cols; ++c) sq += b[r * cols + c] * b[r * cols + c];
            for (std::size_t c = 0; c < cols; ++c) b[r * cols + c] /= std::sqrt(sq);
        }
    };
}

struct Arg {
    std::string name{};
    Shape shape{};
    Role role = Role::input;
    Filler fill{};
    Agreement agree{};  // of the gradient
    Kind kind = Kind::real;
    Place place = Place::device;
};

inline Arg input(std::string name, Shape shape, Filler fill = normal(), Agreement agree = fp32_close) {
    return {std::move(name), std::move(shape), Role::input, std::move(fill), agree};
}
inline Arg parameter(std::string name, Shape shape, Filler fill = normal(), Agreement agree = fp32_close) {
    return {std::move(name), std::move(shape), Role::parameter, std::move(fill), agree};
}
inline Arg constant(std::string name, Shape shape, Filler fill, Kind kind = Kind::real, Place place = Place::device) {
    return {std::move(name), std::move(shape), Role::constant, std::move(fill), Agreement{}, kind, place};
}

struct Output {
    std::string name{};
    Shape shape{};
    Agreement agree{};
    // An in-place op's output starts as a copy of this argument; otherwise it starts as NaN, so
    // an element the op forgets to write fails every check.
    std::string from{};
    // false: a value the forward also exposes (a loss's saved probabilities), compared across
    // devices but not part of the differentiated function.
    bool differentiable = true;
};

inline Output observed(std::string name, Shape shape, Agreement agree = fp32_close) {
    return {std::move(name), std::move(shape), agree, {}, false};
}

struct Signature {
    std::vector<Arg> args;
    std::vector<Output> outputs;
};

// Benchmark counters per call: rates from flops and bytes, and plain values.
struct Cost {
    double flops = 0, bytes = 0;
    std::vector<std::pair<std::string, double>> counters{};
};

template <class T, class Device>
class OpRun;

template <class T, class Device>
struct OpCase {
    using Step = std::function<void(OpRun<T, Device>&)>;

    std::string op{};                 // the op's name: "layer_norm"
    std::string setting = "default";  // what differs from the op's defaults: "eps=0.5"
    Sizes sizes{};
    std::vector<Sizes> device{};
    std::vector<Sizes> bench{};
    std::function<Signature(const Sizes&)> signature{};
    Step forward{};
    Step backward{};   // empty: the op has no backward (a data move, an optimiser pass)
    Step surrogate{};  // straight-through ops: the forward whose derivative backward computes
    std::function<Cost(const Sizes&, bool backward)> cost{};
    std::string no_gradcheck{};  // why finite differences cannot probe this setting

    bool is_default() const { return setting == "default"; }
    std::vector<Sizes> device_sizes() const { return device.empty() ? std::vector<Sizes>{sizes} : device; }
    // Benchmarks are BM_<stem>/<sizes> and BM_<stem>Backward/<sizes>: the op in CamelCase, so
    // "gemm" keeps the BM_Gemm names benchmarks/compare_torch.py times PyTorch under.
    std::string benchmark_stem() const {
        std::string out;
        bool upper = true;
        for (const char ch : op) {
            if (ch == '_') {
                upper = true;
                continue;
            }
            out += upper ? char(ch - 'a' + 'A') : ch;
            upper = false;
        }
        return out;
    }
};

inline constexpr double parameter_prefill = 0.5;

// Every buffer of one case at one size on the context's device: arguments (host ones on the
// host), outputs, output gradients, argument gradients, and the op's saved state.
template <class T, class Device>
class OpRun {
public:
    OpRun(const Context<Device>& context, Sizes sizes, Signature signature, const HostBuffers& args)
        : ctx(context), sizes_(std::move(sizes)), sig_(std::move(signature)) {
        if (args.size() != sig_.args.size()) throw std::invalid_argument("op table: one host buffer per argument");
        for (std::size_t k = 0; k < sig_.args.size(); ++k) {
            const Arg& a = sig_.args[k];
            check_size(a.name, a.shape, args[k]);
            Slot s;
            const index_t n = elements(a.shape);
            if (a.kind == Kind::real && a.place == Place::device) s.real = upload_as<T>(args[k]);
            if (a.kind == Kind::real && a.place == Place::host) s.host_real = host_as<T>(args[k]);
            if (a.kind == Kind::index && a.place == Place::device) s.index = upload_as<std::int64_t>(args[k]);
            if (a.kind == Kind::index && a.place == Place::host) s.host_index = host_as<std::int64_t>(args[k]);
            if (a.kind == Kind::flag && a.place == Place::device) s.flag = upload_as<std::uint8_t>(args[k]);
            if (a.kind == Kind::flag && a.place == Place::host) s.host_flag = host_as<std::uint8_t>(args[k]);
            if (a.role != Role::constant)
                s.grad = upload_as<T>(HostBuffer(
                    std::size_t(n), a.role == Role::parameter ? parameter_prefill : std::numeric_limits<double>::quiet_NaN()));
            args_.push_back(std::move(s));
        }
        for (const Output& o : sig_.outputs) {
            Tensor<T, 1, Device> y;
            if (o.from.empty()) {
                y = upload_as<T>(HostBuffer(std::size_t(elements(o.shape)), std::numeric_limits<double>::quiet_NaN()));
            } else {
                const TensorView<const T, 1, Device> source = slot(o.from, Kind::real, Place::device).real;
                if (source.size() != elements(o.shape))
                    throw std::invalid_argument("op table: output " + o.name + " from " + o.from);
                y = Tensor<T, 1, Device>({source.size()}, uninitialized);
                DeviceMemory<Device>::copy(ctx, y.data(), source.data(), y.bytes());
            }
            outputs_.push_back(std::move(y));
            douts_.emplace_back();
        }
    }

    const Context<Device>& ctx;
    const Sizes& sizes() const { return sizes_; }

    // One buffer per output, in order (ignored for the observed ones).
    void set_output_grads(const HostBuffers& douts) {
        for (std::size_t k = 0; k < sig_.outputs.size(); ++k) {
            if (!sig_.outputs[k].differentiable) continue;
            check_size(sig_.outputs[k].name, sig_.outputs[k].shape, douts.at(k));
            douts_[k] = upload_as<T>(douts[k]);
        }
    }
    // One buffer per argument, in order (ignored for constants): what backward starts from.
    void set_grads(const HostBuffers& grads) {
        for (std::size_t k = 0; k < sig_.args.size(); ++k) {
            if (sig_.args[k].role == Role::constant) continue;
            check_size(sig_.args[k].name, sig_.args[k].shape, grads.at(k));
            args_[k].grad = upload_as<T>(grads[k]);
        }
    }
    HostBuffers outputs() const {
        HostBuffers out;
        for (const auto& y : outputs_) out.push_back(download(y));
        return out;
    }
    // Empty for constants.
    HostBuffers grads() const {
        HostBuffers out;
        for (const Slot& s : args_) out.push_back(s.grad.size() ? download(s.grad) : HostBuffer());
        return out;
    }

    template <class E, int Rank>
    TensorView<const E, Rank, Device> argument(std::string_view name, Kind kind) const {
        const Slot& s = slot(name, kind, Place::device);
        if constexpr (std::is_same_v<E, std::int64_t>)
            return view<const E, Rank, Device>(name, s.index.data());
        else if constexpr (std::is_same_v<E, std::uint8_t>)
            return view<const E, Rank, Device>(name, s.flag.data());
        else
            return view<const E, Rank, Device>(name, s.real.data());
    }
    template <class E, int Rank>
    TensorView<const E, Rank> host_argument(std::string_view name, Kind kind) const {
        const Slot& s = slot(name, kind, Place::host);
        if constexpr (std::is_same_v<E, std::int64_t>)
            return view<const E, Rank, cpu>(name, s.host_index.data());
        else if constexpr (std::is_same_v<E, std::uint8_t>)
            return view<const E, Rank, cpu>(name, s.host_flag.data());
        else
            return view<const E, Rank, cpu>(name, s.host_real.data());
    }
    template <int Rank>
    TensorView<T, Rank, Device> gradient(std::string_view name) const {
        const std::size_t k = arg_index(name);
        if (sig_.args[k].role == Role::constant)
            throw std::invalid_argument("op table: constant " + std::string(name) + " has no gradient");
        return view<T, Rank, Device>(name, args_[k].grad.data());
    }
    template <int Rank>
    TensorView<T, Rank, Device> output(std::string_view name) const {
        return view<T, Rank, Device>(name, outputs_[output_index(name)].data());
    }
    template <int Rank>
    TensorView<const T, Rank, Device> output_grad(std::string_view name) const {
        const std::size_t k = output_index(name);
        if (!douts_[k].data())
            throw std::logic_error("op table: backward before the gradient of " + std::string(name) + " was set");
        return view<const T, Rank, Device>(name, douts_[k].data());
    }

    // The saved state of the last forward, made on first use.
    template <class S>
    S& saved() {
        if (!saved_ || *saved_type_ != typeid(S)) {
            saved_ = std::make_shared<S>();
            saved_type_ = &typeid(S);
        }
        return *static_cast<S*>(saved_.get());
    }

private:
    struct Slot {
        Tensor<T, 1, Device> real, grad;
        Tensor<std::int64_t, 1, Device> index;
        Tensor<std::uint8_t, 1, Device> flag;
        Tensor<T, 1> host_real;
        Tensor<std::int64_t, 1> host_index;
        Tensor<std::uint8_t, 1> host_flag;
    };

    static void check_size(const std::string& name, const Shape& shape, const HostBuffer& b) {
        if (index_t(b.size()) != elements(shape))
            throw std::invalid_argument("op table: " + name + " has " + std::to_string(b.size()) + " values for " +
                                        std::to_string(elements(shape)) + " elements");
    }
    template <class E>
    static Tensor<E, 1> host_as(const HostBuffer& b) {
        Tensor<E, 1> t({index_t(b.size())}, uninitialized);
        for (std::size_t i = 0; i < b.size(); ++i) t.data()[i] = E(b[i]);
        return t;
    }
    template <class E>
    Tensor<E, 1, Device> upload_as(const HostBuffer& b) const {
        return to_device<E, 1, Device>(ctx, host_as<E>(b));
    }
    HostBuffer download(const Tensor<T, 1, Device>& t) const {
        const Tensor<T, 1> host = to_host<T, 1, Device>(ctx, t);
        return HostBuffer(host.data(), host.data() + host.size());
    }

    std::size_t arg_index(std::string_view name) const {
        for (std::size_t k = 0; k < sig_.args.size(); ++k)
            if (sig_.args[k].name == name) return k;
        throw std::invalid_argument("op table: no argument named " + std::string(name));
    }
    std::size_t output_index(std::string_view name) const {
        for (std::size_t k = 0; k < sig_.outputs.size(); ++k)
            if (sig_.outputs[k].name == name) return k;
        throw std::invalid_argument("op table: no output named " + std::string(name));
    }
    const Slot& slot(std::string_view name, Kind kind, Place place) const {
        const std::size_t k = arg_index(name);
        if (sig_.args[k].kind != kind || sig_.args[k].place != place)
            throw std::invalid_argument("op table: " + std::string(name) + " is read as another type or place than registered");
        return args_[k];
    }
    const Shape& shape_of(std::string_view name) const {
        for (const Arg& a : sig_.args)
            if (a.name == name) return a.shape;
        for (const Output& o : sig_.outputs)
            if (o.name == name) return o.shape;
        throw std::invalid_argument("op table: no buffer named " + std::string(name));
    }
    template <class E, int Rank, class D>
    TensorView<E, Rank, D> view(std::string_view name, E* data) const {
        const Shape& shape = shape_of(name);
        if (shape.size() != std::size_t(Rank))
            throw std::invalid_argument("op table: " + std::string(name) + " has rank " + std::to_string(shape.size()) +
                                        ", read as rank " + std::to_string(Rank));
        Extents<Rank> extents{};
        for (int a = 0; a < Rank; ++a) extents[std::size_t(a)] = shape[std::size_t(a)];
        return TensorView<E, Rank, D>(data, extents);
    }

    Sizes sizes_;
    Signature sig_;
    std::vector<Slot> args_;
    std::vector<Tensor<T, 1, Device>> outputs_, douts_;
    std::shared_ptr<void> saved_;
    const std::type_info* saved_type_ = nullptr;
};

// What the cases' forward and backward read and write, by registered name.
template <int Rank, class T, class Device>
TensorView<const T, Rank, Device> arg(const OpRun<T, Device>& r, std::string_view name) {
    return r.template argument<T, Rank>(name, Kind::real);
}
template <int Rank, class T, class Device>
TensorView<const T, Rank> host_arg(const OpRun<T, Device>& r, std::string_view name) {
    return r.template host_argument<T, Rank>(name, Kind::real);
}
template <int Rank, class T, class Device>
TensorView<const std::int64_t, Rank, Device> index_arg(const OpRun<T, Device>& r, std::string_view name) {
    return r.template argument<std::int64_t, Rank>(name, Kind::index);
}
template <int Rank, class T, class Device>
TensorView<const std::int64_t, Rank> host_index_arg(const OpRun<T, Device>& r, std::string_view name) {
    return r.template host_argument<std::int64_t, Rank>(name, Kind::index);
}
template <int Rank, class T, class Device>
TensorView<const std::uint8_t, Rank, Device> flag_arg(const OpRun<T, Device>& r, std::string_view name) {
    return r.template argument<std::uint8_t, Rank>(name, Kind::flag);
}
template <int Rank, class T, class Device>
TensorView<const std::uint8_t, Rank> host_flag_arg(const OpRun<T, Device>& r, std::string_view name) {
    return r.template host_argument<std::uint8_t, Rank>(name, Kind::flag);
}
template <int Rank, class T, class Device>
TensorView<T, Rank, Device> grad(const OpRun<T, Device>& r, std::string_view name) {
    return r.template gradient<Rank>(name);
}
template <int Rank, class T, class Device>
TensorView<T, Rank, Device> out(const OpRun<T, Device>& r, std::string_view name) {
    return r.template output<Rank>(name);
}
template <int Rank, class T, class Device>
TensorView<const T, Rank, Device> dout(const OpRun<T, Device>& r, std::string_view name) {
    return r.template output_grad<Rank>(name);
}
// A scalar (rank-0) argument's value on the host: a log logit scale the losses take by value.
template <class T, class Device>
T scalar_arg(const OpRun<T, Device>& r, std::string_view name) {
    return read_scalar<T, Device>(r.ctx, arg<0>(r, name));
}
// A loss's value (returned on the host) into its rank-0 output, and the upstream gradient back.
template <class T, class Device>
void set_scalar_out(const OpRun<T, Device>& r, std::string_view name, T value) {
    upload<T, 0, Device>(r.ctx, out<0>(r, name), TensorView<const T, 0>(&value, {}));
}
template <class T, class Device>
T scalar_dout(const OpRun<T, Device>& r, std::string_view name) {
    return read_scalar<T, Device>(r.ctx, dout<0>(r, name));
}
template <class T, class Device>
index_t dim(const OpRun<T, Device>& r, std::string_view name) {
    return r.sizes()[name];
}
template <class S, class T, class Device>
S& saved(OpRun<T, Device>& r) {
    return r.template saved<S>();
}

// Host buffers of every argument of `sig`, filled in order from one seed.
inline HostBuffers fill_args(const Signature& sig, std::uint64_t seed) {
    Generator rng(seed);
    HostBuffers out;
    for (const Arg& a : sig.args) {
        out.emplace_back(std::size_t(elements(a.shape)), 0.0);
        a.fill(rng, a.shape, out.back());
    }
    return out;
}

// N(0, 1) upstream gradients of the differentiable outputs; empty buffers for the observed ones.
inline HostBuffers draw_output_grads(const Signature& sig, std::uint64_t seed) {
    Generator rng(seed);
    HostBuffers out;
    for (const Output& o : sig.outputs) {
        out.emplace_back(o.differentiable ? std::size_t(elements(o.shape)) : 0, 0.0);
        if (o.differentiable) normal()(rng, o.shape, out.back());
    }
    return out;
}

struct OpResults {
    HostBuffers outputs;
    HostBuffers grads;  // per argument, empty for constants; none without a backward
};

// Forward, then backward from `douts` with the gradients pre-filled as conventions §3 has them
// (NaN for inputs, 0.5 for parameters); host copies of everything the case produced.
template <class T, class Device>
OpResults run_case(const Context<Device>& ctx, const OpCase<T, Device>& c, const Sizes& sizes, const HostBuffers& args,
                   const HostBuffers& douts) {
    OpRun<T, Device> run(ctx, sizes, c.signature(sizes), args);
    c.forward(run);
    OpResults results{run.outputs(), {}};
    if (c.backward) {
        run.set_output_grads(douts);
        c.backward(run);
        results.grads = run.grads();
    }
    return results;
}

namespace detail {

inline std::string number(double v) {
    std::ostringstream out;
    out << v;
    return out.str();
}

// The layouts attention reads q, k and v in: three tensors; one fused (B, N, 3C) qkv buffer (the
// ViT block's projection, self-attention); q alone and a packed (B, Nk, 2C) kv buffer (the
// grouping block's cross-attention).
enum class QkvLayout { separate, fused, packed_kv };

// Batch b keeps its first Nk - (b + 1) Nk / (B + 1) keys: every batch pads a different number;
// with last_empty the last batch keeps none (a query with no key gets a zero output).
inline Filler key_padding(index_t B, index_t Nk, bool last_empty) {
    return [=](Generator&, const Shape&, HostBuffer& b) {
        for (index_t i = 0; i < B; ++i) {
            const index_t keep = last_empty && i == B - 1 ? 0 : Nk - (i + 1) * Nk / (B + 1);
            for (index_t j = 0; j < Nk; ++j) b[std::size_t(i * Nk + j)] = j < keep ? 1.0 : 0.0;
        }
    };
}

}  // namespace detail

template <class T, class Device>
std::vector<OpCase<T, Device>> op_table() {
    using Run = OpRun<T, Device>;
    using detail::number;
    using detail::QkvLayout;
    std::vector<OpCase<T, Device>> table;
    const std::vector<Sizes> vit_gemms = {{{"M", 1568}, {"K", 768}, {"N", 768}},
                                          {{"M", 1568}, {"K", 768}, {"N", 2304}},
                                          {{"M", 1568}, {"K", 768}, {"N", 3072}},
                                          {{"M", 1568}, {"K", 3072}, {"N", 768}}};
    const auto gemm_cost = [](const Sizes& s, bool backward) {
        return Cost{(backward ? 4.0 : 2.0) * double(s["M"]) * double(s["N"]) * double(s["K"])};
    };
    // bytes moved by a forward (backward) that reads and writes that many (R, C) arrays of T
    const auto stream_cost = [](double forward_tensors, double backward_tensors) {
        return [=](const Sizes& s, bool backward) {
            return Cost{0, (backward ? backward_tensors : forward_tensors) * double(s["R"]) * double(s["C"]) * double(sizeof(T))};
        };
    };

    // ---- gemm: C (M, N) = alpha op(A) op(B) + beta C on raw operands with leading dimensions.
    // The settings transpose either operand, scale, accumulate into C and pad the rows of A and B
    // (lda, ldb past the row length); the gradients of the padding are 0.
    struct GemmSetting {
        const char* name;
        Trans ta, tb;
        double alpha, beta;
        index_t pad;
    };
    for (const GemmSetting g : {GemmSetting{"default", Trans::no, Trans::no, 1, 0, 0},
                                GemmSetting{"alpha=0.75 beta=0.5 padded", Trans::no, Trans::no, 0.75, 0.5, 3},
                                GemmSetting{"a^T alpha=0.75 beta=0.5 padded", Trans::yes, Trans::no, 0.75, 0.5, 3},
                                GemmSetting{"b^T alpha=0.75 beta=0.5 padded", Trans::no, Trans::yes, 0.75, 0.5, 3},
                                GemmSetting{"a^T b^T alpha=-1.5 beta=0.5 padded", Trans::yes, Trans::yes, -1.5, 0.5, 3}}) {
        const bool ta = g.ta == Trans::yes, tb = g.tb == Trans::yes;
        // stored A is (M, K) or, transposed, (K, M); B (K, N) or (N, K); each row padded
        const auto lda = [=](const Sizes& s) { return (ta ? s["M"] : s["K"]) + g.pad; };
        const auto ldb = [=](const Sizes& s) { return (tb ? s["K"] : s["N"]) + g.pad; };
        table.push_back({
            .op = "gemm",
            .setting = g.name,
            .sizes = {{"M", 3}, {"K", 4}, {"N", 5}},
            .device = {{{"M", 7}, {"K", 9}, {"N", 11}},
                       {{"M", 128}, {"K", 768}, {"N", 96}},
                       {{"M", 1568}, {"K", 768}, {"N", 768}}},
            .bench = vit_gemms,
            .signature =
                [=](const Sizes& s) {
                    Signature sig{{input("a", {ta ? s["K"] : s["M"], lda(s)}, normal(), gemm_close),
                                   input("b", {tb ? s["N"] : s["K"], ldb(s)}, normal(), gemm_close)},
                                  {{"y", {s["M"], s["N"]}, gemm_close, g.beta != 0 ? "c" : ""}}};
                    if (g.beta != 0) sig.args.push_back(input("c", {s["M"], s["N"]}, normal(), gemm_close));
                    return sig;
                },
            .forward =
                [=](Run& r) {
                    const Sizes& s = r.sizes();
                    gemm(r.ctx, g.ta, g.tb, s["M"], s["N"], s["K"], T(g.alpha), arg<2>(r, "a").data(), lda(s),
                         arg<2>(r, "b").data(), ldb(s), T(g.beta), out<2>(r, "y").data(), s["N"]);
                },
            .backward =
                [=](Run& r) {
                    const Sizes& s = r.sizes();
                    const index_t M = s["M"], N = s["N"], K = s["K"];
                    const T alpha = T(g.alpha);
                    const T* A = arg<2>(r, "a").data();
                    const T* B = arg<2>(r, "b").data();
                    const T* dC = dout<2>(r, "y").data();
                    const auto da = grad<2>(r, "a"), db = grad<2>(r, "b");
                    if (g.pad) {  // the padding takes no part: its gradient is 0
                        zero(r.ctx, da);
                        zero(r.ctx, db);
                    }
                    // dop(A) = alpha dC op(B)^T (M, K), stored transposed when A is
                    if (!ta)
                        gemm(r.ctx, Trans::no, tb ? Trans::no : Trans::yes, M, K, N, alpha, dC, N, B, ldb(s), T(0), da.data(),
                             lda(s));
                    else
                        gemm(r.ctx, g.tb, Trans::yes, K, M, N, alpha, B, ldb(s), dC, N, T(0), da.data(), lda(s));
                    // dop(B) = alpha op(A)^T dC (K, N), stored transposed when B is
                    if (!tb)
                        gemm(r.ctx, ta ? Trans::no : Trans::yes, Trans::no, K, N, M, alpha, A, lda(s), dC, N, T(0), db.data(),
                             ldb(s));
                    else
                        gemm(r.ctx, Trans::yes, g.ta, N, K, M, alpha, dC, N, A, lda(s), T(0), db.data(), ldb(s));
                    if (g.beta != 0) scale_forward(r.ctx, grad<2>(r, "c"), dout<2>(r, "y"), T(g.beta));
                },
            .cost = gemm_cost,
        });
    }

    // ---- matmul: y (M, N) = a (M, K) @ b (K, N), the layers' GEMM entry point.
    table.push_back({
        .op = "matmul",
        .sizes = {{"M", 3}, {"K", 4}, {"N", 5}},
        .device = {{{"M", 7}, {"K", 9}, {"N", 11}}, {{"M", 128}, {"K", 768}, {"N", 96}}},
        .bench = {vit_gemms[0]},
        .signature =
            [](const Sizes& s) {
                return Signature{
                    {input("a", {s["M"], s["K"]}, normal(), gemm_close), input("b", {s["K"], s["N"]}, normal(), gemm_close)},
                    {{"y", {s["M"], s["N"]}, gemm_close}}};
            },
        .forward = [](Run& r) { matmul_forward(r.ctx, out<2>(r, "y"), arg<2>(r, "a"), arg<2>(r, "b")); },
        .backward =
            [](Run& r) {
                matmul_backward(r.ctx, grad<2>(r, "a"), grad<2>(r, "b"), dout<2>(r, "y"), arg<2>(r, "a"), arg<2>(r, "b"));
            },
        .cost = gemm_cost,
    });

    // ---- gemm_batched: `batch` products, A_i = A + i stride_a: the grouping block's per-clip
    // products. The settings pad rows and leave gaps between the batches of A and B.
    for (const GemmSetting g : {GemmSetting{"default", Trans::no, Trans::no, 1, 0, 0},
                                GemmSetting{"a^T alpha=0.75 beta=0.5 padded", Trans::yes, Trans::no, 0.75, 0.5, 3},
                                GemmSetting{"b^T alpha=0.75 beta=0.5 padded", Trans::no, Trans::yes, 0.75, 0.5, 3},
                                GemmSetting{"a^T b^T alpha=-1.5 beta=0.5 padded", Trans::yes, Trans::yes, -1.5, 0.5, 3}}) {
        const bool ta = g.ta == Trans::yes, tb = g.tb == Trans::yes;
        const auto lda = [=](const Sizes& s) { return (ta ? s["M"] : s["K"]) + g.pad; };
        const auto ldb = [=](const Sizes& s) { return (tb ? s["K"] : s["N"]) + g.pad; };
        const index_t gap_a = g.pad ? 7 : 0, gap_b = g.pad ? 5 : 0;
        const auto stride_a = [=](const Sizes& s) { return (ta ? s["K"] : s["M"]) * lda(s) + gap_a; };
        const auto stride_b = [=](const Sizes& s) { return (tb ? s["N"] : s["K"]) * ldb(s) + gap_b; };
        table.push_back({
            .op = "gemm_batched",
            .setting = g.name,
            .sizes = {{"batch", 2}, {"M", 3}, {"K", 4}, {"N", 5}},
            .device = {{{"batch", 5}, {"M", 33}, {"K", 20}, {"N", 17}}},
            .bench = {{{"batch", 8}, {"M", 32}, {"K", 768}, {"N", 1568}}},
            .signature =
                [=](const Sizes& s) {
                    const index_t batch = s["batch"];
                    Signature sig{{input("a", {batch * stride_a(s)}, normal(), gemm_close),
                                   input("b", {batch * stride_b(s)}, normal(), gemm_close)},
                                  {{"y", {batch, s["M"], s["N"]}, gemm_close, g.beta != 0 ? "c" : ""}}};
                    if (g.beta != 0) sig.args.push_back(input("c", {batch, s["M"], s["N"]}, normal(), gemm_close));
                    return sig;
                },
            .forward =
                [=](Run& r) {
                    const Sizes& s = r.sizes();
                    const index_t M = s["M"], N = s["N"];
                    gemm_batched(r.ctx, g.ta, g.tb, M, N, s["K"], T(g.alpha), arg<1>(r, "a").data(), lda(s), stride_a(s),
                                 arg<1>(r, "b").data(), ldb(s), stride_b(s), T(g.beta), out<3>(r, "y").data(), N, M * N,
                                 s["batch"]);
                },
            .backward =
                [=](Run& r) {
                    const Sizes& s = r.sizes();
                    const index_t M = s["M"], N = s["N"], K = s["K"], batch = s["batch"];
                    const index_t la = lda(s), lb = ldb(s), sa = stride_a(s), sb = stride_b(s);
                    const T alpha = T(g.alpha);
                    const T* A = arg<1>(r, "a").data();
                    const T* B = arg<1>(r, "b").data();
                    const T* dC = dout<3>(r, "y").data();
                    const auto da = grad<1>(r, "a"), db = grad<1>(r, "b");
                    if (g.pad) {  // padding and gaps take no part: their gradient is 0
                        zero(r.ctx, da);
                        zero(r.ctx, db);
                    }
                    // per batch, as gemm's backward
                    if (!ta)
                        gemm_batched(r.ctx, Trans::no, tb ? Trans::no : Trans::yes, M, K, N, alpha, dC, N, M * N, B, lb, sb, T(0),
                                     da.data(), la, sa, batch);
                    else
                        gemm_batched(r.ctx, g.tb, Trans::yes, K, M, N, alpha, B, lb, sb, dC, N, M * N, T(0), da.data(), la, sa,
                                     batch);
                    if (!tb)
                        gemm_batched(r.ctx, ta ? Trans::no : Trans::yes, Trans::no, K, N, M, alpha, A, la, sa, dC, N, M * N, T(0),
                                     db.data(), lb, sb, batch);
                    else
                        gemm_batched(r.ctx, Trans::yes, g.ta, N, K, M, alpha, dC, N, M * N, A, la, sa, T(0), db.data(), lb, sb,
                                     batch);
                    if (g.beta != 0) scale_forward(r.ctx, grad<3>(r, "c"), dout<3>(r, "y"), T(g.beta));
                },
            .cost =
                [](const Sizes& s, bool backward) {
                    return Cost{(backward ? 4.0 : 2.0) * double(s["batch"]) * double(s["M"]) * double(s["N"]) * double(s["K"])};
                },
        });
    }

    // ---- linear: y (R, N) = x (R, K) W (N, K)^T + b; x (2, 3, 4) flattened to rows, as a module
    // feeds (B, N, C); the bias may be an empty view (none).
    for (const bool bias : {true, false}) {
        table.push_back({
            .op = "linear",
            .setting = bias ? "default" : "no bias",
            .sizes = bias ? Sizes{{"R", 6}, {"K", 4}, {"N", 5}} : Sizes{{"R", 3}, {"K", 4}, {"N", 2}},
            .device = {{{"R", 300}, {"K", 96}, {"N", 130}}},
            .bench = {{{"R", 1568}, {"K", 768}, {"N", 3072}}},
            .signature =
                [=](const Sizes& s) {
                    Signature sig{{input("x", {s["R"], s["K"]}, normal(), gemm_close),
                                   parameter("weight", {s["N"], s["K"]}, normal(), gemm_close)},
                                  {{"y", {s["R"], s["N"]}, gemm_close}}};
                    if (bias) sig.args.push_back(parameter("bias", {s["N"]}, normal(), sum_close));
                    return sig;
                },
            .forward =
                [=](Run& r) {
                    linear_forward(r.ctx, out<2>(r, "y"), arg<2>(r, "x"), arg<2>(r, "weight"),
                                   bias ? arg<1>(r, "bias") : TensorView<const T, 1, Device>());
                },
            .backward =
                [=](Run& r) {
                    linear_backward(r.ctx, grad<2>(r, "x"), grad<2>(r, "weight"),
                                    bias ? grad<1>(r, "bias") : TensorView<T, 1, Device>(), dout<2>(r, "y"), arg<2>(r, "x"),
                                    arg<2>(r, "weight"));
                },
            .cost = [](const Sizes& s,
                       bool backward) { return Cost{(backward ? 4.0 : 2.0) * double(s["R"]) * double(s["N"]) * double(s["K"])}; },
        });
    }

    // ---- layer_norm over the last axis of (R, C); eps 1e-6 (the video side) by default, 1e-12
    // (the text encoder), and 0.5, large enough to change every row's scale. Rows of 37 leave a
    // partial warp; x = 3 N(0, 1) + 1.5 has a mean to subtract.
    for (const double eps : {1e-6, 1e-12, 0.5}) {
        table.push_back({
            .op = "layer_norm",
            .setting = eps == 1e-6 ? "default" : "eps=" + number(eps),
            .sizes = {{"R", 4}, {"C", 6}},
            .device = {{{"R", 1571}, {"C", 768}}, {{"R", 1571}, {"C", 37}}},
            .bench = {{{"R", 1568}, {"C", 768}}},
            .signature =
                [](const Sizes& s) {
                    // the parameter gradients sum over all rows in another order on the device
                    return Signature{
                        {input("x", {s["R"], s["C"]}, normal(3, 1.5)), parameter("weight", {s["C"]}, normal(), sum_close),
                         parameter("bias", {s["C"]}, normal(), sum_close)},
                        {{"y", {s["R"], s["C"]}}}};
                },
            .forward =
                [=](Run& r) {
                    layer_norm_forward(r.ctx, out<2>(r, "y"), saved<LayerNormSaved<T, Device>>(r), arg<2>(r, "x"),
                                       arg<1>(r, "weight"), arg<1>(r, "bias"), T(eps));
                },
            .backward =
                [](Run& r) {
                    layer_norm_backward(r.ctx, grad<2>(r, "x"), grad<1>(r, "weight"), grad<1>(r, "bias"), dout<2>(r, "y"),
                                        saved<LayerNormSaved<T, Device>>(r), arg<2>(r, "x"), arg<1>(r, "weight"));
                },
            .cost = stream_cost(2, 3),
        });
    }

    // ---- gelu (exact erf) on a flat (R C) vector; x spread over [-9, 9] where the erf
    // polynomial's pieces meet. The device size leaves a partial block.
    table.push_back({
        .op = "gelu",
        .sizes = {{"R", 4}, {"C", 5}},
        .device = {{{"R", 1}, {"C", 100003}}},
        .bench = {{{"R", 1568}, {"C", 3072}}},
        .signature =
            [](const Sizes& s) {
                return Signature{{input("x", {s["R"] * s["C"]}, normal(3), Agreement{1e-6, 1e-5})},
                                 {{"y", {s["R"] * s["C"]}, Agreement{1e-6, 1e-5}}}};
            },
        .forward = [](Run& r) { gelu_forward(r.ctx, out<1>(r, "y"), arg<1>(r, "x")); },
        .backward = [](Run& r) { gelu_backward(r.ctx, grad<1>(r, "x"), dout<1>(r, "y"), arg<1>(r, "x")); },
        .cost = stream_cost(2, 3),
    });

    // ---- softmax over the last axis of (B, R, N), with an additive key mask (B, N) broadcast
    // over R: batch 1 masks every third key, batch 2 every key (its rows come out 0).
    for (const bool masked : {false, true}) {
        table.push_back({
            .op = "softmax",
            .setting = masked ? "key mask" : "default",
            .sizes = {{"B", 3}, {"R", 3}, {"N", 5}},
            .device = {{{"B", 3}, {"R", 5}, {"N", 1000}}},
            .bench = {{{"R", 1568}, {"N", 1568}}},
            .signature =
                [=](const Sizes& s) {
                    const index_t B = s.get("B", 1), R = s["R"], N = s["N"];
                    Signature sig{{input("x", {B, R, N})}, {{"y", {B, R, N}}}};
                    if (masked)
                        sig.args.push_back(constant("mask", {B, N}, [=](Generator&, const Shape&, HostBuffer& m) {
                            for (index_t b = 0; b < B; ++b)
                                for (index_t n = 0; n < N; ++n)
                                    m[std::size_t(b * N + n)] = (b == 1 && n % 3 == 1) || b == 2 ? -INFINITY : 0.0;
                        }));
                    return sig;
                },
            .forward =
                [=](Run& r) {
                    softmax_forward(r.ctx, out<3>(r, "y"), arg<3>(r, "x"),
                                    masked ? arg<2>(r, "mask") : TensorView<const T, 2, Device>());
                },
            .backward = [](Run& r) { softmax_backward(r.ctx, grad<3>(r, "x"), dout<3>(r, "y"), out<3>(r, "y")); },
            .cost =
                [](const Sizes& s, bool backward) {
                    return Cost{0, (backward ? 3.0 : 2.0) * double(s.get("B", 1) * s["R"] * s["N"]) * double(sizeof(T))};
                },
        });
    }

    // ---- attention: H heads of d packed in the channels C = H d; q (B, N, C), k and v (B, Nk, C)
    // (Nk = N unless given), a key padding mask (B, Nk), the three layouts above (fused and
    // packed ones are narrowed, row-strided views). The device sizes cover every compiled head
    // size (8, 16, 32, 64, 128) and query counts that are not tile multiples.
    struct AttentionSetting {
        const char* name;
        QkvLayout layout;
        bool masked, last_empty;
        Sizes sizes;
        std::vector<Sizes> device;
    };
    const auto attention_inputs = [](const Run& r, QkvLayout layout) {
        const index_t C = dim(r, "H") * dim(r, "d");
        using View = TensorView<const T, 3, Device>;
        if (layout == QkvLayout::fused) {
            const View qkv = arg<3>(r, "qkv");
            return std::array<View, 3>{qkv.narrow(2, 0, C), qkv.narrow(2, C, 2 * C), qkv.narrow(2, 2 * C, 3 * C)};
        }
        if (layout == QkvLayout::packed_kv) {
            const View kv = arg<3>(r, "kv");
            return std::array<View, 3>{arg<3>(r, "q"), kv.narrow(2, 0, C), kv.narrow(2, C, 2 * C)};
        }
        return std::array<View, 3>{arg<3>(r, "q"), arg<3>(r, "k"), arg<3>(r, "v")};
    };
    const auto attention_grads = [](const Run& r, QkvLayout layout) {
        const index_t C = dim(r, "H") * dim(r, "d");
        using View = TensorView<T, 3, Device>;
        if (layout == QkvLayout::fused) {
            const View qkv = grad<3>(r, "qkv");
            return std::array<View, 3>{qkv.narrow(2, 0, C), qkv.narrow(2, C, 2 * C), qkv.narrow(2, 2 * C, 3 * C)};
        }
        if (layout == QkvLayout::packed_kv) {
            const View kv = grad<3>(r, "kv");
            return std::array<View, 3>{grad<3>(r, "q"), kv.narrow(2, 0, C), kv.narrow(2, C, 2 * C)};
        }
        return std::array<View, 3>{grad<3>(r, "q"), grad<3>(r, "k"), grad<3>(r, "v")};
    };
    const Sizes cross_sizes{{"B", 2}, {"H", 2}, {"N", 4}, {"d", 3}, {"Nk", 5}};
    for (const AttentionSetting& a :
         {AttentionSetting{
              "default", QkvLayout::separate, false, false, cross_sizes, {{{"B", 1}, {"H", 2}, {"N", 70}, {"d", 8}, {"Nk", 33}}}},
          AttentionSetting{"key padding",
                           QkvLayout::separate,
                           true,
                           false,
                           cross_sizes,
                           {{{"B", 3}, {"H", 3}, {"N", 8}, {"d", 32}, {"Nk", 300}}}},
          AttentionSetting{"all keys of the last batch padded",
                           QkvLayout::separate,
                           true,
                           true,
                           cross_sizes,
                           {{{"B", 2}, {"H", 2}, {"N", 65}, {"d", 128}, {"Nk", 130}}}},
          AttentionSetting{"fused qkv",
                           QkvLayout::fused,
                           false,
                           false,
                           {{"B", 2}, {"H", 2}, {"N", 4}, {"d", 3}},
                           {{{"B", 2}, {"H", 2}, {"N", 197}, {"d", 64}}}},
          AttentionSetting{"fused qkv, 3 heads, key padding",
                           QkvLayout::fused,
                           true,
                           true,
                           {{"B", 3}, {"H", 3}, {"N", 5}, {"d", 2}},
                           {{{"B", 3}, {"H", 4}, {"N", 40}, {"d", 16}}}},
          AttentionSetting{"packed kv, 3 heads, key padding",
                           QkvLayout::packed_kv,
                           true,
                           true,
                           {{"B", 2}, {"H", 3}, {"N", 3}, {"d", 2}, {"Nk", 5}},
                           {{{"B", 3}, {"H", 3}, {"N", 8}, {"d", 32}, {"Nk", 300}}}}}) {
        table.push_back({
            .op = "attention",
            .setting = a.name,
            .sizes = a.sizes,
            .device = a.device,
            .bench = {{{"B", 1}, {"H", 12}, {"N", 1568}, {"d", 64}}, {{"B", 1}, {"H", 12}, {"N", 3136}, {"d", 64}}},
            .signature =
                [=](const Sizes& s) {
                    const index_t B = s["B"], N = s["N"], Nk = s.get("Nk", N), C = s["H"] * s["d"];
                    Signature sig{{}, {{"out", {B, N, C}, sum_close}}};
                    if (a.layout == QkvLayout::fused) {
                        sig.args.push_back(input("qkv", {B, N, 3 * C}, normal(), sum_close));
                    } else if (a.layout == QkvLayout::packed_kv) {
                        sig.args.push_back(input("q", {B, N, C}, normal(), sum_close));
                        sig.args.push_back(input("kv", {B, Nk, 2 * C}, normal(), sum_close));
                    } else {
                        for (const char* name : {"q", "k", "v"})
                            sig.args.push_back(input(name, {B, name[0] == 'q' ? N : Nk, C}, normal(), sum_close));
                    }
                    if (a.masked)
                        sig.args.push_back(constant("key_mask", {B, Nk}, detail::key_padding(B, Nk, a.last_empty), Kind::flag));
                    return sig;
                },
            .forward =
                [=](Run& r) {
                    const auto [q, k, v] = attention_inputs(r, a.layout);
                    attention_forward(r.ctx, out<3>(r, "out"), saved<AttentionSaved<T, Device>>(r), q, k, v,
                                      a.masked ? flag_arg<2>(r, "key_mask") : TensorView<const std::uint8_t, 2, Device>(),
                                      dim(r, "H"));
                },
            .backward =
                [=](Run& r) {
                    const auto [q, k, v] = attention_inputs(r, a.layout);
                    const auto [dq, dk, dv] = attention_grads(r, a.layout);
                    attention_backward(
                        r.ctx, dq, dk, dv, dout<3>(r, "out"), saved<AttentionSaved<T, Device>>(r), q, k, v, out<3>(r, "out"),
                        a.masked ? flag_arg<2>(r, "key_mask") : TensorView<const std::uint8_t, 2, Device>(), dim(r, "H"));
                },
            // forward: Q K^T and P V; backward nominal (the recomputed scores are not counted). Memory
            // beyond inputs and output: the saved logsumexp (B, H, N) against a materialised (B, H, N, N).
            .cost =
                [](const Sizes& s, bool backward) {
                    const double B = double(s["B"]), H = double(s["H"]), N = double(s["N"]), d = double(s["d"]);
                    return Cost{(backward ? 8.0 : 4.0) * B * H * N * N * d,
                                0,
                                {{"saved_MB", B * H * N * double(sizeof(T)) / 1e6},
                                 {"materialised_MB", B * H * N * N * double(sizeof(T)) / 1e6}}};
                },
        });
    }

    // ---- embedding: y (R, C) = weight (V, C)[ids]; ids repeat (their rows accumulate in a fixed
    // order) and the last row of the table is never looked up (its gradient stays 0.5).
    table.push_back({
        .op = "embedding",
        .sizes = {{"V", 6}, {"C", 3}, {"R", 8}},
        .device = {{{"V", 50}, {"C", 96}, {"R", 300}}},
        .bench = {{{"V", 30522}, {"C", 768}, {"R", 1024}}},
        .signature =
            [](const Sizes& s) {
                const index_t V = s["V"];
                return Signature{{parameter("weight", {V, s["C"]}), constant(
                                                                        "ids", {s["R"]},
                                                                        [=](Generator&, const Shape&, HostBuffer& ids) {
                                                                            for (std::size_t r = 0; r < ids.size(); ++r)
                                                                                ids[r] = double(index_t(r * 3) % (V - 1));
                                                                        },
                                                                        Kind::index)},
                                 {{"y", {s["R"], s["C"]}}}};
            },
        .forward = [](Run& r) { embedding_forward(r.ctx, out<2>(r, "y"), arg<2>(r, "weight"), index_arg<1>(r, "ids")); },
        .backward = [](Run& r) { embedding_backward(r.ctx, grad<2>(r, "weight"), dout<2>(r, "y"), index_arg<1>(r, "ids")); },
    });

    // ---- l2_normalize: y = x / max(||x||, eps) per row; row 1 is 1e-3 N(0, 1), far below the
    // others, and with eps = 0.1 it is clamped (y = x / eps there).
    for (const double eps : {1e-12, 0.1}) {
        table.push_back({
            .op = "l2_normalize",
            .setting = eps == 1e-12 ? "default" : "eps=" + number(eps) + " (row 1 clamped)",
            .sizes = {{"R", 3}, {"C", 5}},
            .device = {{{"R", 64}, {"C", 256}}},
            .bench = {{{"R", 1568}, {"C", 768}}},
            .signature =
                [](const Sizes& s) {
                    const index_t C = s["C"];
                    return Signature{{input(
                                         "x", {s["R"], C},
                                         [=](Generator& rng, const Shape& shape, HostBuffer& x) {
                                             normal()(rng, shape, x);
                                             for (index_t c = 0; c < C; ++c) x[std::size_t(C + c)] *= 1e-3;
                                         },
                                         sum_close)},
                                     {{"y", {s["R"], C}}}};
                },
            .forward =
                [=](Run& r) {
                    l2_normalize_forward(r.ctx, out<2>(r, "y"), saved<L2NormalizeSaved<T, Device>>(r), arg<2>(r, "x"), T(eps));
                },
            .backward =
                [=](Run& r) {
                    l2_normalize_backward(r.ctx, grad<2>(r, "x"), dout<2>(r, "y"), out<2>(r, "y"),
                                          saved<L2NormalizeSaved<T, Device>>(r), T(eps));
                },
            .cost = stream_cost(2, 3),
        });
    }

    // ---- mean_pool: y (O, I) = mean over N of x (O, N, I): the spatial mean of the video tokens.
    table.push_back({
        .op = "mean_pool",
        .sizes = {{"O", 2}, {"N", 3}, {"I", 4}},
        .device = {{{"O", 16}, {"N", 196}, {"I", 96}}},
        .bench = {{{"O", 8}, {"N", 196}, {"I", 768}}},
        .signature =
            [](const Sizes& s) {
                return Signature{{input("x", {s["O"], s["N"], s["I"]})}, {{"y", {s["O"], s["I"]}}}};
            },
        .forward = [](Run& r) { mean_pool_forward(r.ctx, out<2>(r, "y"), arg<3>(r, "x")); },
        .backward = [](Run& r) { mean_pool_backward(r.ctx, grad<3>(r, "x"), dout<2>(r, "y")); },
    });

    // ---- qa_features: x (B, 3D) = [v, q, v * q], the video QA head's input; backward dv, dq.
    // With v a constant its gradient is skipped (an empty dv view), as for a frozen video encoder.
    for (const bool frozen_video : {false, true}) {
        table.push_back({
            .op = "qa_features",
            .setting = frozen_video ? "v constant, dv skipped" : "default",
            .sizes = {{"B", 3}, {"D", 4}},
            .device = {{{"B", 37}, {"D", 300}}},
            .bench = {{{"B", 256}, {"D", 512}}},
            .signature =
                [=](const Sizes& s) {
                    const Shape embed{s["B"], s["D"]};
                    return Signature{{frozen_video ? constant("v", embed, normal()) : input("v", embed), input("q", embed)},
                                     {{"x", {s["B"], 3 * s["D"]}}}};
                },
            .forward = [](Run& r) { qa_features_forward(r.ctx, out<2>(r, "x"), arg<2>(r, "v"), arg<2>(r, "q")); },
            .backward =
                [=](Run& r) {
                    qa_features_backward(r.ctx, frozen_video ? TensorView<T, 2, Device>() : grad<2>(r, "v"), grad<2>(r, "q"),
                                         dout<2>(r, "x"), arg<2>(r, "v"), arg<2>(r, "q"));
                },
            // forward reads v, q and writes 3 (B, D) blocks; backward reads dx, v, q, writes dv, dq
            .cost =
                [](const Sizes& s, bool backward) {
                    return Cost{0, (backward ? 7.0 : 5.0) * double(s["B"] * s["D"]) * double(sizeof(T))};
                },
        });
    }

    // ---- column_affine: y (R, C) = (x + shift) * scale, a fixed per-column standardisation in
    // front of a fine-tuning head (svilm/train/finetune.hpp); shift and scale are constants.
    table.push_back({
        .op = "column_affine",
        .sizes = {{"R", 3}, {"C", 4}},
        .device = {{{"R", 37}, {"C", 300}}},
        .bench = {{{"R", 256}, {"C", 512}}},
        .signature =
            [](const Sizes& s) {
                return Signature{{input("x", {s["R"], s["C"]}), constant("shift", {s["C"]}, normal()),
                                  constant("scale", {s["C"]}, normal())},
                                 {{"y", {s["R"], s["C"]}}}};
            },
        .forward = [](Run& r) { column_affine_forward(r.ctx, out<2>(r, "y"), arg<2>(r, "x"), arg<1>(r, "shift"), arg<1>(r, "scale")); },
        .backward = [](Run& r) { column_affine_backward(r.ctx, grad<2>(r, "x"), dout<2>(r, "y"), arg<1>(r, "scale")); },
        .cost = stream_cost(2, 2),
    });

    // ---- add: the residual y = a + b, and its backward da = db = dy.
    table.push_back({
        .op = "add",
        .sizes = {{"R", 3}, {"C", 4}},
        .device = {{{"R", 16}, {"C", 96}}},
        .bench = {{{"R", 1568}, {"C", 768}}},
        .signature =
            [](const Sizes& s) {
                return Signature{{input("a", {s["R"], s["C"]}), input("b", {s["R"], s["C"]})}, {{"y", {s["R"], s["C"]}}}};
            },
        .forward = [](Run& r) { add_forward(r.ctx, out<2>(r, "y"), arg<2>(r, "a"), arg<2>(r, "b")); },
        .backward = [](Run& r) { add_backward(r.ctx, grad<2>(r, "a"), grad<2>(r, "b"), dout<2>(r, "y")); },
        .cost = stream_cost(3, 3),
    });

    // ---- add_into: acc += alpha x in place, how gradients meet at residual joins.
    for (const double alpha : {1.0, 2.0}) {
        table.push_back({
            .op = "add_into",
            .setting = alpha == 1 ? "default" : "alpha=" + number(alpha),
            .sizes = {{"R", 3}, {"C", 4}},
            .device = {{{"R", 16}, {"C", 96}}},
            .bench = {{{"R", 1568}, {"C", 768}}},
            .signature =
                [](const Sizes& s) {
                    return Signature{{input("acc", {s["R"], s["C"]}), input("x", {s["R"], s["C"]})},
                                     {{"sum", {s["R"], s["C"]}, fp32_close, "acc"}}};
                },
            .forward = [=](Run& r) { add_into(r.ctx, out<2>(r, "sum"), arg<2>(r, "x"), T(alpha)); },
            .backward =
                [=](Run& r) {
                    copy(r.ctx, grad<2>(r, "acc"), dout<2>(r, "sum"));
                    scale_forward(r.ctx, grad<2>(r, "x"), dout<2>(r, "sum"), T(alpha));
                },
            .cost = stream_cost(3, 3),
        });
    }

    // ---- scale_forward: y = alpha x, also in place (y aliasing x).
    for (const bool in_place : {false, true}) {
        const double alpha = in_place ? 0.5 : -2.5;
        table.push_back({
            .op = "scale",
            .setting = in_place ? "in place, alpha=0.5" : "default",
            .sizes = {{"R", 1}, {"C", 7}},
            .device = {{{"R", 16}, {"C", 96}}},
            .bench = {{{"R", 1568}, {"C", 768}}},
            .signature =
                [=](const Sizes& s) {
                    return Signature{{input("x", {s["R"], s["C"]})}, {{"y", {s["R"], s["C"]}, fp32_close, in_place ? "x" : ""}}};
                },
            .forward =
                [=](Run& r) {
                    const auto y = out<2>(r, "y");
                    scale_forward(r.ctx, y, in_place ? TensorView<const T, 2, Device>(y) : arg<2>(r, "x"), T(alpha));
                },
            .backward = [=](Run& r) { scale_forward(r.ctx, grad<2>(r, "x"), dout<2>(r, "y"), T(alpha)); },
            .cost = stream_cost(2, 2),
        });
    }

    // ---- copy between strided views (the CUDA one by index arithmetic of any rank up to 8): a
    // transposed source; a per-clip transpose into a narrowed channel range of a (B, M, 2C)
    // buffer, neither side contiguous; rank 4 with axes 0 and 2 swapped into a narrowed last axis.
    // Outside the written view the destination keeps `base`, whose gradient is dy there, 0 inside.
    table.push_back({
        .op = "copy",
        .sizes = {{"R", 3}, {"C", 4}},
        .device = {{{"R", 13}, {"C", 29}}},
        .bench = {{{"R", 1568}, {"C", 768}}},
        .signature =
            [](const Sizes& s) {
                return Signature{{input("x", {s["R"], s["C"]}, normal(), bitwise)}, {{"y", {s["R"], s["C"]}, bitwise}}};
            },
        .forward = [](Run& r) { copy(r.ctx, out<2>(r, "y"), arg<2>(r, "x")); },
        .backward = [](Run& r) { copy(r.ctx, grad<2>(r, "x"), dout<2>(r, "y")); },
        .cost = stream_cost(2, 2),
    });
    table.push_back({
        .op = "copy",
        .setting = "transposed source",
        .sizes = {{"R", 3}, {"C", 4}},
        .device = {{{"R", 13}, {"C", 29}}},
        .signature =
            [](const Sizes& s) {
                return Signature{{input("x", {s["C"], s["R"]}, normal(), bitwise)}, {{"y", {s["R"], s["C"]}, bitwise}}};
            },
        .forward = [](Run& r) { copy(r.ctx, out<2>(r, "y"), arg<2>(r, "x").transpose(0, 1)); },
        .backward = [](Run& r) { copy(r.ctx, grad<2>(r, "x").transpose(0, 1), dout<2>(r, "y")); },
    });
    table.push_back({
        .op = "copy",
        .setting = "per-clip transpose into a narrowed channel range",
        .sizes = {{"B", 2}, {"M", 3}, {"C", 4}},
        .device = {{{"B", 3}, {"M", 8}, {"C", 24}}},
        .signature =
            [](const Sizes& s) {
                const index_t B = s["B"], M = s["M"], C = s["C"];
                return Signature{{input("base", {B, M, 2 * C}, normal(), bitwise), input("x", {B, C, M}, normal(), bitwise)},
                                 {{"y", {B, M, 2 * C}, bitwise, "base"}}};
            },
        .forward =
            [](Run& r) {
                const index_t C = dim(r, "C");
                copy(r.ctx, out<3>(r, "y").narrow(2, C / 2, C / 2 + C), arg<3>(r, "x").transpose(1, 2));
            },
        .backward =
            [](Run& r) {
                const index_t C = dim(r, "C");
                copy(r.ctx, grad<3>(r, "base"), dout<3>(r, "y"));
                fill(r.ctx, grad<3>(r, "base").narrow(2, C / 2, C / 2 + C), T(0));
                copy(r.ctx, grad<3>(r, "x").transpose(1, 2), dout<3>(r, "y").narrow(2, C / 2, C / 2 + C));
            },
    });
    table.push_back({
        .op = "copy",
        .setting = "rank 4, axes 0 and 2 swapped into a narrowed last axis",
        .sizes = {{"P", 2}, {"Q", 3}, {"S", 4}, {"D", 2}},
        .device = {{{"P", 3}, {"Q", 4}, {"S", 5}, {"D", 6}}},
        .signature =
            [](const Sizes& s) {
                const index_t P = s["P"], Q = s["Q"], S = s["S"], D = s["D"];
                return Signature{
                    {input("base", {S, Q, P, D + 2}, normal(), bitwise), input("x", {P, Q, S, D}, normal(), bitwise)},
                    {{"y", {S, Q, P, D + 2}, bitwise, "base"}}};
            },
        .forward = [](Run& r) { copy(r.ctx, out<4>(r, "y").narrow(3, 1, dim(r, "D") + 1), arg<4>(r, "x").transpose(0, 2)); },
        .backward =
            [](Run& r) {
                const index_t D = dim(r, "D");
                copy(r.ctx, grad<4>(r, "base"), dout<4>(r, "y"));
                fill(r.ctx, grad<4>(r, "base").narrow(3, 1, D + 1), T(0));
                copy(r.ctx, grad<4>(r, "x").transpose(0, 2), dout<4>(r, "y").narrow(3, 1, D + 1));
            },
    });

    // ---- fill of a view: a narrowed, transposed rank-3 view, and a single element (rank 0).
    // The rest of the buffer keeps `base`; its gradient is dy outside the view, 0 inside.
    for (const bool single : {false, true}) {
        const double v = single ? -7.0 : 2.5;
        const auto region = [](const TensorView<T, 3, Device>& t) {
            const index_t C = t.extent(2);
            return t.narrow(2, C / 3, C - C / 5).transpose(0, 1);
        };
        const auto element = [](const TensorView<T, 3, Device>& t) {
            return t.select(0, 1).select(0, 2).select(0, t.extent(2) - 1);
        };
        table.push_back({
            .op = "fill",
            .setting = single ? "a single element" : "default",
            .sizes = {{"A", 3}, {"B", 4}, {"C", 5}},
            .device = {{{"A", 4}, {"B", 6}, {"C", 10}}},
            .bench = {{{"A", 8}, {"B", 196}, {"C", 768}}},
            .signature =
                [](const Sizes& s) {
                    const Shape shape{s["A"], s["B"], s["C"]};
                    return Signature{{input("base", shape, normal(), bitwise)}, {{"y", shape, bitwise, "base"}}};
                },
            .forward =
                [=](Run& r) {
                    if (single)
                        fill(r.ctx, element(out<3>(r, "y")), T(v));
                    else
                        fill(r.ctx, region(out<3>(r, "y")), T(v));
                },
            .backward =
                [=](Run& r) {
                    copy(r.ctx, grad<3>(r, "base"), dout<3>(r, "y"));
                    if (single)
                        fill(r.ctx, element(grad<3>(r, "base")), T(0));
                    else
                        fill(r.ctx, region(grad<3>(r, "base")), T(0));
                },
        });
    }

    // ---- bias_add: y (R, C) += bias (C) in place on every row (BERT's segment embedding).
    table.push_back({
        .op = "bias_add",
        .sizes = {{"R", 3}, {"C", 4}},
        .device = {{{"R", 300}, {"C", 96}}},  // several chunks of the column sum
        .bench = {{{"R", 1024}, {"C", 768}}},
        .signature =
            [](const Sizes& s) {
                return Signature{{input("x", {s["R"], s["C"]}), parameter("bias", {s["C"]}, normal(), sum_close)},
                                 {{"y", {s["R"], s["C"]}, bitwise, "x"}}};
            },
        .forward = [](Run& r) { bias_add_forward(r.ctx, out<2>(r, "y"), arg<1>(r, "bias")); },
        .backward =
            [](Run& r) {
                copy(r.ctx, grad<2>(r, "x"), dout<2>(r, "y"));
                bias_add_backward(r.ctx, grad<1>(r, "bias"), dout<2>(r, "y"));
            },
        .cost = stream_cost(2, 2),
    });

    // ---- group_softmax: y (B, M, L) = softmax over the M groups of (logits + noise) / tau, the
    // soft assignment; without noise at inference. tau = 0.6: dividing the noisy logits by tau
    // differs from adding the noise after dividing (tests/ops/parity.cpp's fixture checks which).
    struct TauSetting {
        const char* name;
        bool noise;
        double tau;
    };
    const std::vector<Sizes> group_device = {{{"B", 2}, {"M", 32}, {"L", 1568}}};  // base: 32 groups, 1568 tokens
    const std::vector<Sizes> group_bench = {{{"B", 8}, {"M", 32}, {"L", 1568}}};
    const auto group_signature = [](bool noise, Agreement agree) {
        return [=](const Sizes& s) {
            const Shape shape{s["B"], s["M"], s["L"]};
            Signature sig{{input("logits", shape)}, {{"y", shape, agree}}};
            if (noise) sig.args.push_back(constant("noise", shape, gumbel()));
            return sig;
        };
    };
    const auto noise_of = [](const Run& r, bool noise) { return noise ? arg<3>(r, "noise") : TensorView<const T, 3, Device>(); };
    for (const TauSetting g :
         {TauSetting{"default", false, 1.0}, TauSetting{"noise, tau=1", true, 1.0}, TauSetting{"noise, tau=0.6", true, 0.6}}) {
        table.push_back({
            .op = "group_softmax",
            .setting = g.name,
            .sizes = {{"B", 2}, {"M", 3}, {"L", 5}},
            .device = group_device,
            .bench = group_bench,
            .signature = group_signature(g.noise, fp32_close),
            .forward =
                [=](Run& r) {
                    group_softmax_forward(r.ctx, out<3>(r, "y"), arg<3>(r, "logits"), noise_of(r, g.noise), T(g.tau));
                },
            .backward =
                [=](Run& r) { group_softmax_backward(r.ctx, grad<3>(r, "logits"), dout<3>(r, "y"), out<3>(r, "y"), T(g.tau)); },
        });
    }

    // ---- gumbel_assign: the hard one-hot of argmax_m y_soft with the straight-through gradient
    // of y_soft; the gradient check differentiates the soft assignment (the surrogate). Noise is
    // drawn once per case and held fixed; tau = 1 is the model's.
    for (const TauSetting g :
         {TauSetting{"default", true, 1.0}, TauSetting{"tau=0.7", true, 0.7}, TauSetting{"no noise", false, 1.0}}) {
        table.push_back({
            .op = "gumbel_assign",
            .setting = g.name,
            .sizes = {{"B", 2}, {"M", 3}, {"L", 5}},
            .device = group_device,
            .bench = group_bench,
            .signature = group_signature(g.noise, bitwise),  // the same argmax everywhere
            .forward =
                [=](Run& r) {
                    gumbel_assign_forward(r.ctx, out<3>(r, "y"), saved<GumbelAssignSaved<T, Device>>(r), arg<3>(r, "logits"),
                                          noise_of(r, g.noise), T(g.tau));
                },
            .backward =
                [=](Run& r) {
                    gumbel_assign_backward(r.ctx, grad<3>(r, "logits"), dout<3>(r, "y"), saved<GumbelAssignSaved<T, Device>>(r),
                                           T(g.tau));
                },
            .surrogate =
                [=](Run& r) {
                    group_softmax_forward(r.ctx, out<3>(r, "y"), arg<3>(r, "logits"), noise_of(r, g.noise), T(g.tau));
                },
        });
    }

    // ---- assign_normalize: a (B, M, L) = y / (sum over L of y + eps), each group's share of the
    // tokens; y positive, or the one-hot hard assignment the model feeds it (token l of clip b
    // in group (7 l + b) mod M).
    struct NormalizeSetting {
        const char* name;
        double eps;
        bool one_hot;
    };
    for (const NormalizeSetting n : {NormalizeSetting{"default", 1.0, false}, NormalizeSetting{"eps=0.1", 0.1, false},
                                     NormalizeSetting{"one-hot y", 1.0, true}}) {
        table.push_back({
            .op = "assign_normalize",
            .setting = n.name,
            .sizes = {{"B", 2}, {"M", 3}, {"L", 5}},
            .device = group_device,
            .bench = group_bench,
            .signature =
                [=](const Sizes& s) {
                    const index_t B = s["B"], M = s["M"], L = s["L"];
                    const Filler one_hot = [=](Generator&, const Shape&, HostBuffer& y) {
                        for (index_t b = 0; b < B; ++b)
                            for (index_t m = 0; m < M; ++m)
                                for (index_t l = 0; l < L; ++l)
                                    y[std::size_t((b * M + m) * L + l)] = (7 * l + b) % M == m ? 1.0 : 0.0;
                    };
                    return Signature{{input("y", {B, M, L}, n.one_hot ? one_hot : uniform(0.05, 1.0))}, {{"a", {B, M, L}}}};
                },
            .forward = [=](Run& r) { assign_normalize_forward(r.ctx, out<3>(r, "a"), arg<3>(r, "y"), T(n.eps)); },
            .backward =
                [=](Run& r) { assign_normalize_backward(r.ctx, grad<3>(r, "y"), dout<3>(r, "a"), arg<3>(r, "y"), T(n.eps)); },
        });
    }

    // ---- cross_entropy: mean over rows of logsumexp(logits) - logits[target]; logits at the
    // initial contrastive scale (14), targets on the host for both devices.
    table.push_back({
        .op = "cross_entropy",
        .sizes = {{"R", 4}, {"K", 6}},
        .device = {{{"R", 64}, {"K", 64}}},
        .bench = {{{"R", 256}, {"K", 256}}},
        .signature =
            [](const Sizes& s) {
                return Signature{{input("logits", {s["R"], s["K"]}, normal(14)),
                                  constant("targets", {s["R"]}, random_ids(s["K"]), Kind::index, Place::host)},
                                 {{"loss", {}}}};
            },
        .forward =
            [](Run& r) {
                set_scalar_out(r, "loss",
                               cross_entropy_forward(r.ctx, saved<CrossEntropySaved<T, Device>>(r), arg<2>(r, "logits"),
                                                     host_index_arg<1>(r, "targets")));
            },
        .backward =
            [](Run& r) {
                cross_entropy_backward(r.ctx, grad<2>(r, "logits"), scalar_dout(r, "loss"),
                                       saved<CrossEntropySaved<T, Device>>(r), arg<2>(r, "logits"),
                                       host_index_arg<1>(r, "targets"));
            },
    });

    // ---- tubelet_unfold: patches (B L, 3 t p p) from video (B, T, 3, H, W); a data move with no
    // backward (the video is not differentiated).
    table.push_back({
        .op = "tubelet_unfold",
        .sizes = {{"B", 1}, {"T", 2}, {"H", 4}, {"W", 6}, {"t", 2}, {"p", 2}},
        .device = {{{"B", 2}, {"T", 4}, {"H", 32}, {"W", 48}, {"t", 2}, {"p", 16}}},
        .bench = {{{"B", 1}, {"T", 8}, {"H", 224}, {"W", 224}, {"t", 2}, {"p", 16}}},
        .signature =
            [](const Sizes& s) {
                const index_t t = s["t"], p = s["p"], L = (s["T"] / t) * (s["H"] / p) * (s["W"] / p);
                return Signature{{input("video", {s["B"], s["T"], 3, s["H"], s["W"]})},
                                 {{"patches", {s["B"] * L, 3 * t * p * p}, bitwise}}};
            },
        .forward = [](Run& r) { tubelet_unfold(r.ctx, out<2>(r, "patches"), arg<5>(r, "video"), dim(r, "t"), dim(r, "p")); },
        .cost =
            [](const Sizes& s, bool) {
                return Cost{0, 2.0 * double(s["B"] * s["T"] * 3 * s["H"] * s["W"]) * double(sizeof(T))};
            },
    });

    // ---- video_embed: stream (B, L + M, C) = [tokens + spatial[l % Ns] + temporal[l / Ns] ;
    // group]; the position and group tables are parameters, the tokens' gradient is dy's first L rows.
    table.push_back({
        .op = "video_embed",
        .sizes = {{"B", 2}, {"Ns", 3}, {"Nt", 2}, {"M", 2}, {"C", 4}},
        .device = {{{"B", 2}, {"Ns", 6}, {"Nt", 2}, {"M", 4}, {"C", 40}}},
        .bench = {{{"B", 1}, {"Ns", 196}, {"Nt", 8}, {"M", 32}, {"C", 768}}},
        .signature =
            [](const Sizes& s) {
                const index_t B = s["B"], Ns = s["Ns"], Nt = s["Nt"], M = s["M"], C = s["C"];
                return Signature{{input("tokens", {B, Ns * Nt, C}), parameter("spatial", {Ns, C}), parameter("temporal", {Nt, C}),
                                  parameter("group", {M, C})},
                                 {{"stream", {B, Ns * Nt + M, C}, bitwise}}};
            },
        .forward =
            [](Run& r) {
                video_embed_forward(r.ctx, out<3>(r, "stream"), arg<3>(r, "tokens"), arg<2>(r, "spatial"), arg<2>(r, "temporal"),
                                    arg<2>(r, "group"));
            },
        .backward =
            [](Run& r) {
                video_embed_backward(r.ctx, grad<2>(r, "spatial"), grad<2>(r, "temporal"), grad<2>(r, "group"),
                                     dout<3>(r, "stream"));
                copy(r.ctx, grad<3>(r, "tokens"), dout<3>(r, "stream").narrow(1, 0, dim(r, "Ns") * dim(r, "Nt")));
            },
    });

    // ---- contrastive_loss (Eq. 7) over unit rows v, c (B, D), the log logit scale a parameter:
    // log(1 / 0.07) as initialised, and log 150, where the clamp at 100 passes no gradient.
    for (const double log_scale : {std::log(1 / 0.07), std::log(150.0)}) {
        table.push_back({
            .op = "contrastive_loss",
            .setting = log_scale < std::log(100.0) ? "default" : "clamped scale",
            .sizes = {{"B", 3}, {"D", 4}},
            .device = {{{"B", 64}, {"D", 256}}},
            .bench = {{{"B", 256}, {"D", 512}}},
            .signature =
                [=](const Sizes& s) {
                    return Signature{{input("v", {s["B"], s["D"]}, unit_rows(), sum_close),
                                      input("c", {s["B"], s["D"]}, unit_rows(), sum_close),
                                      parameter("log_scale", {}, value(log_scale), sum_close)},
                                     {{"loss", {}}}};
                },
            .forward =
                [](Run& r) {
                    set_scalar_out(r, "loss",
                                   contrastive_loss_forward(r.ctx, saved<ContrastiveSaved<T, Device>>(r), arg<2>(r, "v"),
                                                            arg<2>(r, "c"), scalar_arg(r, "log_scale")));
                },
            .backward =
                [](Run& r) {
                    contrastive_loss_backward(r.ctx, grad<2>(r, "v"), grad<2>(r, "c"), grad<0>(r, "log_scale"),
                                              scalar_dout(r, "loss"), saved<ContrastiveSaved<T, Device>>(r), arg<2>(r, "v"),
                                              arg<2>(r, "c"));
                },
        });
    }

    // ---- temporal_grouping_loss (Eqs. 1-2) over unit rows z (B, Nt, D) and a 0/1 mask (B, Nt)
    // on the host, tau_t = 0.1. Clip b's mask by b mod 6: a middle run, all 1 and all 0 (no
    // scene change: left out), only t = 0, all but the ends, the two middle steps. The foreground
    // probabilities p are compared across devices too.
    struct TemporalSetting {
        const char* name;
        double tau;
        bool no_change, tiny_token;
        const char* no_gradcheck;
    };
    for (const TemporalSetting t :
         {TemporalSetting{"default", 0.1, false, false, ""}, TemporalSetting{"tau=0.5", 0.5, false, false, ""},
          TemporalSetting{"no scene change", 0.1, true, false, ""},
          TemporalSetting{"token (4, 3) below the cosine's eps", 0.1, false, true,
                          "a token of norm 1e-9 sits below the cosine's eps = 1e-8, which a step of 1e-6 leaves"}}) {
        table.push_back({
            .op = "temporal_grouping_loss",
            .setting = t.name,
            .sizes = {{"B", 6}, {"Nt", 4}, {"D", 3}},
            .device = {{{"B", 6}, {"Nt", 8}, {"D", 256}}},
            .bench = {{{"B", 64}, {"Nt", 8}, {"D", 256}}},
            .signature =
                [=](const Sizes& s) {
                    const index_t B = s["B"], Nt = s["Nt"], D = s["D"];
                    const Filler z = [=](Generator& rng, const Shape& shape, HostBuffer& b) {
                        unit_rows()(rng, shape, b);
                        if (t.tiny_token)
                            for (index_t d = 0; d < D; ++d) b[std::size_t((4 * Nt + 3) * D + d)] *= 1e-9;
                    };
                    const Filler mask = [=](Generator&, const Shape&, HostBuffer& m) {
                        for (index_t i = 0; i < B; ++i)
                            for (index_t k = 0; k < Nt; ++k) {
                                const bool fg[] = {k >= Nt / 4 && k < 3 * Nt / 4, true, false, k == 0, k >= 1 && k < Nt - 1,
                                                   k == Nt / 2 - 1 || k == Nt / 2};
                                m[std::size_t(i * Nt + k)] = !t.no_change && fg[i % 6] ? 1.0 : 0.0;
                            }
                    };
                    return Signature{
                        {input("z", {B, Nt, D}, z, sum_close), constant("mask", {B, Nt}, mask, Kind::real, Place::host)},
                        {{"loss", {}}, observed("p", {B, Nt})}};
                },
            .forward =
                [=](Run& r) {
                    auto& s = saved<TemporalGroupingSaved<T, Device>>(r);
                    set_scalar_out(r, "loss",
                                   temporal_grouping_loss_forward(r.ctx, s, arg<3>(r, "z"), host_arg<2>(r, "mask"), T(t.tau)));
                    copy(r.ctx, out<2>(r, "p"), s.p);
                },
            .backward =
                [=](Run& r) {
                    temporal_grouping_loss_backward(r.ctx, grad<3>(r, "z"), scalar_dout(r, "loss"),
                                                    saved<TemporalGroupingSaved<T, Device>>(r), arg<3>(r, "z"), T(t.tau));
                },
            .no_gradcheck = t.no_gradcheck,
        });
    }

    // ---- grounding_loss (Eq. 3 on): nouns (B, K, D) against group tokens (B, M, D), unit rows;
    // validity (B, K) on the host: caption 1 lacks its last noun, caption 2 has none. The scores
    // s(i, k, j) are compared across devices too.
    struct GroundingSetting {
        const char* name;
        double log_scale, tau_a;
        bool none_valid;
    };
    for (const GroundingSetting g : {GroundingSetting{"default", std::log(1 / 0.07), 0.1, false},
                                     GroundingSetting{"clamped scale", std::log(150.0), 0.1, false},
                                     GroundingSetting{"tau_a=0.5", std::log(1 / 0.07), 0.5, false},
                                     GroundingSetting{"no valid noun", std::log(1 / 0.07), 0.1, true}}) {
        table.push_back({
            .op = "grounding_loss",
            .setting = g.name,
            .sizes = {{"B", 3}, {"K", 2}, {"M", 3}, {"D", 4}},
            .device = {{{"B", 8}, {"K", 2}, {"M", 32}, {"D", 256}}},
            .bench = {{{"B", 64}, {"K", 4}, {"M", 32}, {"D", 256}}},
            .signature =
                [=](const Sizes& s) {
                    const index_t B = s["B"], K = s["K"];
                    const Filler valid = [=](Generator&, const Shape&, HostBuffer& v) {
                        for (index_t i = 0; i < B; ++i)
                            for (index_t k = 0; k < K; ++k)
                                v[std::size_t(i * K + k)] = g.none_valid || i == 2 || (i == 1 && k == K - 1) ? 0.0 : 1.0;
                    };
                    return Signature{{input("nouns", {B, K, s["D"]}, unit_rows(), sum_close),
                                      input("groups", {B, s["M"], s["D"]}, unit_rows(), sum_close),
                                      parameter("log_scale", {}, value(g.log_scale), sum_close),
                                      constant("valid", {B, K}, valid, Kind::flag, Place::host)},
                                     {{"loss", {}}, observed("scores", {B, K, B})}};
                },
            .forward =
                [=](Run& r) {
                    auto& s = saved<GroundingSaved<T, Device>>(r);
                    set_scalar_out(r, "loss",
                                   grounding_loss_forward(r.ctx, s, arg<3>(r, "nouns"), host_flag_arg<2>(r, "valid"),
                                                          arg<3>(r, "groups"), scalar_arg(r, "log_scale"), T(g.tau_a)));
                    copy(r.ctx, out<3>(r, "scores"), s.scores);
                },
            .backward =
                [=](Run& r) {
                    grounding_loss_backward(r.ctx, grad<3>(r, "nouns"), grad<3>(r, "groups"), grad<0>(r, "log_scale"),
                                            scalar_dout(r, "loss"), saved<GroundingSaved<T, Device>>(r), arg<3>(r, "nouns"),
                                            arg<3>(r, "groups"), T(g.tau_a));
                },
        });
    }

    // ---- adamw_update in place on a flat buffer of n: four parameter ranges with padding between
    // them (left alone) and two that touch; weight decay on the first and third. Step 1, and step 3
    // with weight decay 0.1 (bias corrections and decay away from 1). No backward.
    struct AdamWSetting {
        const char* name;
        double lr, weight_decay;
        int step;
    };
    for (const AdamWSetting a :
         {AdamWSetting{"default", 1e-3, 0.05, 1}, AdamWSetting{"step 3, lr 1e-2, weight decay 0.1", 1e-2, 0.1, 3}}) {
        const double c1 = 1 - std::pow(0.9, a.step), c2 = 1 - std::pow(0.999, a.step);
        const AdamWHyper<T> hyper{T(1 - a.lr * a.weight_decay), T(0.9), T(0.999), T(a.lr / c1), T(std::sqrt(c2)), T(1e-8)};
        table.push_back({
            .op = "adamw_update",
            .setting = a.name,
            .sizes = {{"n", 1000}},
            .bench = {{{"n", index_t(1) << 22}}},
            .signature =
                [](const Sizes& s) {
                    const Shape n{s["n"]};
                    const Filler second_moment = [](Generator& rng, const Shape& shape, HostBuffer& v) {
                        normal()(rng, shape, v);
                        for (double& e : v) e = 1e-2 * e * e;
                    };
                    return Signature{
                        {input("values", n), input("grads", n), input("exp_avg", n), input("exp_avg_sq", n, second_moment)},
                        {{"new_values", n, fp32_close, "values"},
                         {"new_exp_avg", n, fp32_close, "exp_avg"},
                         {"new_exp_avg_sq", n, fp32_close, "exp_avg_sq"}}};
                },
            .forward =
                [=](Run& r) {
                    auto& ranges = saved<AdamWRanges<Device>>(r);
                    if (!ranges.count) {  // for n = 1000: [0, 100), [128, 400), [400, 401), [512, 999)
                        const index_t n = dim(r, "n");
                        Tensor<index_t, 1> begin({4}), end({4});
                        Tensor<std::uint8_t, 1> decays({4});
                        const index_t b[] = {0, n * 128 / 1000, n * 400 / 1000, n * 512 / 1000},
                                      e[] = {n * 100 / 1000, n * 400 / 1000, n * 400 / 1000 + 1, n - 1};
                        for (index_t k = 0; k < 4; ++k) {
                            begin(k) = b[k];
                            end(k) = e[k];
                            decays(k) = k % 2 == 0;
                        }
                        ranges = {to_device<index_t, 1, Device>(r.ctx, begin), to_device<index_t, 1, Device>(r.ctx, end),
                                  to_device<std::uint8_t, 1, Device>(r.ctx, decays), 4};
                    }
                    adamw_update(r.ctx, out<1>(r, "new_values"), arg<1>(r, "grads"), out<1>(r, "new_exp_avg"),
                                 out<1>(r, "new_exp_avg_sq"), ranges, hyper);
                },
            .cost =
                [](const Sizes& s, bool) {
                    return Cost{0, 7.0 * double(s["n"]) * double(sizeof(T))};
                },
        });
    }

    // ---- clip_grad_norm in place: the global norm (a rank-0 output) over several 2^16-element
    // chunks, and the gradients scaled to max_norm when it exceeds it. No backward.
    for (const double max_norm : {1e9, 1.0}) {
        table.push_back({
            .op = "clip_grad_norm",
            .setting = max_norm > 1 ? "default" : "clipped, max_norm=1",
            .sizes = {{"n", 1000}},
            .device = {{{"n", 200000}}},
            .bench = {{{"n", index_t(1) << 22}}},
            .signature =
                [](const Sizes& s) {
                    return Signature{{input("grads", {s["n"]})}, {{"clipped", {s["n"]}, fp32_close, "grads"}, {"norm", {}}}};
                },
            .forward = [=](Run& r) { set_scalar_out(r, "norm", T(clip_grad_norm(r.ctx, out<1>(r, "clipped"), max_norm))); },
            .cost =
                [](const Sizes& s, bool) {
                    return Cost{0, double(s["n"]) * double(sizeof(T))};
                },
        });
    }
    return table;
}

}  // namespace svilm::optest
