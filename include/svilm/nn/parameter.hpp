// svilm/nn/parameter.hpp: every parameter of a model lives in one flat buffer on the model's
// device, its gradient in a second one of the same layout (tiny-cuda-nn's single parameter
// buffer).
//
// Modules register their parameters by name while they are constructed (`add` returns a handle
// that records an offset), then the owner calls `allocate` once. A handle turns into a typed view
// of the value or of the gradient. The flat layout makes the optimizer, gradient clipping,
// zeroing and checkpoints one loop each, and makes names (the PyTorch state_dict keys) the only
// way weights move in and out.
//
// Rule for every module (docs/conventions.md §3.2): backward ACCUMULATES into parameter gradients
// (+=) and ASSIGNS input gradients (=). Call zero_grad() before a step's first backward.
#pragma once

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "svilm/core/context.hpp"
#include "svilm/core/error.hpp"
#include "svilm/core/rng.hpp"
#include "svilm/core/tensor.hpp"
#include "svilm/ops/precision.hpp"

namespace svilm::nn {

// What a parameter is decides its initialisation and whether AdamW decays it (docs/model.md §7: no decay
// on biases, norms, embeddings, group tokens and logit scales).
enum class Role { weight, bias, norm_weight, norm_bias, embedding, zero_embedding, scalar };

inline bool decays(Role role) { return role == Role::weight; }

struct ParameterInfo {
    std::string name;
    std::vector<index_t> shape;
    index_t offset = 0;  // in elements, into values() and grads()
    index_t size = 0;
    Role role = Role::weight;
    double initial_value = 0;  // Role::scalar only
};

template <class T, class Device = cpu>
class ParameterStore;

// A typed handle to one registered parameter; valid once the store is allocated.
template <class T, int Rank, class Device = cpu>
class Param {
public:
    Param() = default;
    Param(const ParameterStore<T, Device>* store, index_t offset, const Extents<Rank>& shape)
        : store_(store), offset_(offset), shape_(shape) {}

    // Mutable views from a const module: modules are const while they compute, the optimiser
    // writes through the same buffers. ValueError before the store is allocated.
    TensorView<T, Rank, Device> value() const { return TensorView<T, Rank, Device>(store_->value_data() + offset_, shape_); }
    TensorView<T, Rank, Device> grad() const { return TensorView<T, Rank, Device>(store_->grad_data() + offset_, shape_); }
    const Extents<Rank>& shape() const { return shape_; }

    // The store's inference precision, and this weight's copy in it (a Linear weight: Rank 2;
    // null at fp32). The copy stays valid while the caller holds it, whatever the precision does.
    Precision precision() const { return store_->inference_precision(); }
    std::shared_ptr<const LowPrecisionWeight> low_precision() const
        requires(Rank == 2)
    {
        return store_->low_precision_weight(offset_, shape_[0], shape_[1]);
    }

private:
    const ParameterStore<T, Device>* store_ = nullptr;
    index_t offset_ = 0;
    Extents<Rank> shape_{};
};

// The parameters of one model on one device. Registration (names, shapes, roles, offsets) is
// device-free; allocate() puts the values on the context's device, initialised on the host from
// the generator, so a model built from one seed starts from the same values on every device.
// copy_values_from() moves a whole store between devices (same layout: same model).
template <class T, class Device>
class ParameterStore {
public:
    ParameterStore() = default;
    ParameterStore(const ParameterStore&) = delete;
    ParameterStore& operator=(const ParameterStore&) = delete;

    // Registers `name`; throws ValueError on a duplicate name or after allocate().
    template <int Rank>
    Param<T, Rank, Device> add(const std::string& name, const Extents<Rank>& shape, Role role, double initial_value = 0) {
        if (allocated()) throw ValueError("ParameterStore: '" + name + "' registered after allocation");
        if (index_.count(name)) throw ValueError("ParameterStore: parameter '" + name + "' registered twice");
        check_extents<Rank>(shape, name.c_str());
        ParameterInfo info;
        info.name = name;
        info.shape.assign(shape.begin(), shape.end());
        info.offset = total_;
        info.size = numel<Rank>(shape);
        info.role = role;
        info.initial_value = initial_value;
        // every parameter starts on a 64-byte boundary, so its view is as aligned as a Tensor
        constexpr index_t align = index_t(64 / sizeof(T)) > 0 ? index_t(64 / sizeof(T)) : 1;
        total_ += (info.size + align - 1) / align * align;
        index_.emplace(name, infos_.size());
        infos_.push_back(std::move(info));
        return Param<T, Rank, Device>(this, infos_.back().offset, shape);
    }

    // Allocates the values on ctx's device and initialises them by role (docs/model.md §11). The
    // gradient buffer is allocated (zero) on first use, so a model used only for inference never
    // holds it. The context must outlive the store.
    void allocate(const Context<Device>& ctx, Generator& rng) {
        Tensor<T, 1> host({total_});
        for (const ParameterInfo& p : infos_) initialize(host.view().narrow(0, p.offset, p.offset + p.size), p, rng);
        place(ctx, std::move(host));
    }
    // Allocates zero values (weights about to be loaded or copied in).
    void allocate(const Context<Device>& ctx) { place(ctx, Tensor<T, 1>({total_})); }
    bool allocated() const { return allocated_; }
    const Context<Device>& context() const {
        if (!ctx_) throw ValueError("ParameterStore: not allocated yet, so on no device");
        return *ctx_;
    }

    // docs/model.md §11: truncated normal (std 0.02, cut at 2 std) for weights and embeddings; biases and
    // the temporal position embedding 0; LayerNorm weight 1, bias 0; scalars their own value.
    static void initialize(TensorView<T, 1> v, const ParameterInfo& p, Generator& rng) {
        switch (p.role) {
            case Role::weight:
            case Role::embedding: rng.truncated_normal<T, 1>(v, T(0), T(0.02)); break;
            case Role::bias:
            case Role::norm_bias:
            case Role::zero_embedding: std::fill_n(v.data(), p.size, T(0)); break;
            case Role::norm_weight: std::fill_n(v.data(), p.size, T(1)); break;
            case Role::scalar: std::fill_n(v.data(), p.size, T(p.initial_value)); break;
        }
    }

    const std::vector<ParameterInfo>& parameters() const { return infos_; }
    const ParameterInfo* find(const std::string& name) const {
        const auto it = index_.find(name);
        return it == index_.end() ? nullptr : &infos_[it->second];
    }
    // Elements of the flat buffers, the 64-byte padding after each parameter included.
    index_t buffer_size() const { return total_; }
    index_t parameter_count() const {
        index_t n = 0;
        for (const ParameterInfo& p : infos_) n += p.size;
        return n;
    }

    // The flat buffers, padding included (padding stays 0 in both).
    TensorView<T, 1, Device> values() { return TensorView<T, 1, Device>(value_data(), {total_}); }
    TensorView<const T, 1, Device> values() const { return TensorView<const T, 1, Device>(value_data(), {total_}); }
    TensorView<T, 1, Device> grads() { return gradient_buffer(); }
    TensorView<const T, 1, Device> grads() const { return gradient_buffer(); }
    TensorView<T, 1, Device> value(const ParameterInfo& p) { return values().narrow(0, p.offset, p.offset + p.size); }
    TensorView<T, 1, Device> grad(const ParameterInfo& p) { return grads().narrow(0, p.offset, p.offset + p.size); }

    void zero_grad() { zero<T, 1, Device>(context(), gradient_buffer()); }

    // The precision of the nn::Linear products in inference (svilm/ops/precision.hpp): fp32 by
    // default; bf16 and int8 on CPU float stores only (ValueError otherwise). Each Linear weight
    // is copied to the precision on its first use and kept until the precision changes: set it
    // again after changing the values through values() or a training step (load_parameters and
    // copy_values_from drop the copies themselves). The fp32 values stay, and backward refuses to
    // run while the precision is not fp32.
    void set_inference_precision(Precision precision) {
        if (precision != Precision::fp32 && !(is_cpu_v<Device> && std::is_same_v<T, float>))
            throw ValueError(std::string("ParameterStore::set_inference_precision: ") + to_string(precision) +
                             " runs on the CPU with float parameters; this store is " +
                             (is_cpu_v<Device> ? "on the CPU with double parameters" : "on a GPU (use the context's MathMode)"));
        const std::lock_guard lock(low_precision_->mutex);
        precision_.store(precision);
        low_precision_->copies.clear();
    }
    Precision inference_precision() const { return precision_.load(); }
    // Drops the low-precision copies (the values changed); the next use makes them again.
    void drop_low_precision_copies() {
        const std::lock_guard lock(low_precision_->mutex);
        low_precision_->copies.clear();
    }
    // Bytes held by the low-precision copies made so far.
    std::size_t low_precision_bytes() const {
        const std::lock_guard lock(low_precision_->mutex);
        std::size_t total = 0;
        for (const auto& [offset, copy] : low_precision_->copies)
            if (copy) total += copy->bytes();
        return total;
    }
    // The copy of the (out, in) weight at `offset` in the current precision, made on first use
    // (thread-safe); null at fp32. ValueError when the weight holds a value that is not finite.
    std::shared_ptr<const LowPrecisionWeight> low_precision_weight(index_t offset, index_t out, index_t in) const {
        if constexpr (is_cpu_v<Device> && std::is_same_v<T, float>) {
            // fp32, the training case, answers without the lock: every Linear call asks
            if (precision_.load() == Precision::fp32) return nullptr;
            const std::lock_guard lock(low_precision_->mutex);
            const Precision precision = precision_.load();
            if (precision == Precision::fp32) return nullptr;
            const auto found = low_precision_->copies.find(offset);
            if (found != low_precision_->copies.end() && found->second->out == out && found->second->in == in)
                return found->second;
            auto copy = std::make_shared<const LowPrecisionWeight>(
                make_low_precision_weight(precision, value_data() + offset, out, in, name_at(offset)));
            low_precision_->copies[offset] = copy;  // only once it was made: a refused weight leaves no entry
            return copy;
        } else {
            return nullptr;
        }
    }

    // This store's values (and, with `gradients`, its gradients) from a store of the same layout
    // on any device: the same model, moved. ValueError when the layouts differ.
    template <class Other>
    void copy_values_from(const ParameterStore<T, Other>& other, bool gradients = false) {
        check_same_layout(other, "copy_values_from");
        drop_low_precision_copies();
        const std::size_t bytes = std::size_t(total_) * sizeof(T);
        move_bytes(other, value_data(), other.value_data(), bytes);
        if (gradients) move_bytes(other, grad_data(), other.grad_data(), bytes);
    }

    T* value_data() const {
        if (!allocated_) throw ValueError("ParameterStore: parameters used before allocate()");
        return values_.data();
    }
    T* grad_data() const { return gradient_buffer().data(); }

    // Same names, shapes and offsets in the same order: the two buffers mean the same thing.
    template <class Other>
    void check_same_layout(const ParameterStore<T, Other>& other, const char* what) const {
        const std::string op = std::string("ParameterStore::") + what;
        if (!allocated_ || !other.allocated()) throw ValueError(op + ": both stores must be allocated");
        const std::vector<ParameterInfo>& theirs = other.parameters();
        for (std::size_t i = 0; i < infos_.size() && i < theirs.size(); ++i) {
            const ParameterInfo &a = theirs[i], &b = infos_[i];
            if (a.name != b.name || a.offset != b.offset || a.shape != b.shape)
                throw ValueError(op + ": parameter " + std::to_string(i) + " is '" + a.name + "' " + shape_text(a.shape) +
                                 " in one store and '" + b.name + "' " + shape_text(b.shape) + " in the other");
        }
        if (theirs.size() != infos_.size() || other.buffer_size() != total_)
            throw ValueError(op + ": the stores hold " + std::to_string(theirs.size()) + " parameters in " +
                             std::to_string(other.buffer_size()) + " elements and " + std::to_string(infos_.size()) +
                             " in " + std::to_string(total_));
    }

private:
    struct LowPrecisionCopies {
        std::mutex mutex;
        std::unordered_map<index_t, std::shared_ptr<const LowPrecisionWeight>> copies;  // by offset
    };

    std::string name_at(index_t offset) const {
        for (const ParameterInfo& p : infos_)
            if (p.offset == offset) return p.name;
        return "offset " + std::to_string(offset);
    }

    static std::string shape_text(const std::vector<index_t>& shape) {
        std::string out = "(";
        for (std::size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
        return out + ")";
    }

    void place(const Context<Device>& ctx, Tensor<T, 1>&& host) {
        if (allocated_) throw ValueError("ParameterStore: allocated twice");
        ctx_ = &ctx;
        if constexpr (is_cpu_v<Device>) {
            values_ = std::move(host);  // the host buffer is the store: no second copy of a large model
        } else {
            values_ = to_device<T, 1, Device>(ctx, host);
        }
        allocated_ = true;
    }

    // Returns when the bytes have arrived, so either store may be used or freed at once.
    template <class Other>
    void move_bytes(const ParameterStore<T, Other>& other, T* dst, const T* src, std::size_t bytes) {
        if constexpr (std::is_same_v<Device, Other>) {
            other.context().synchronize();  // work queued on the source's context (another stream) is done
            DeviceMemory<Device>::copy(context(), dst, src, bytes);
            context().synchronize();
        } else if constexpr (std::is_same_v<Other, cpu>) {
            DeviceMemory<Device>::upload(context(), dst, src, bytes);
        } else {
            static_assert(std::is_same_v<Device, cpu>, "stores move between the CPU and one device");
            DeviceMemory<Other>::download(other.context(), dst, src, bytes);
        }
    }

    TensorView<T, 1, Device> gradient_buffer() const {
        if (!allocated_) throw ValueError("ParameterStore: gradients used before allocate()");
        if (grads_.size() != total_) grads_ = zeros<T, 1, Device>(*ctx_, {total_});
        return grads_;
    }

    std::vector<ParameterInfo> infos_;
    std::unordered_map<std::string, std::size_t> index_;
    index_t total_ = 0;
    bool allocated_ = false;
    const Context<Device>* ctx_ = nullptr;
    Tensor<T, 1, Device> values_;
    mutable Tensor<T, 1, Device> grads_;  // allocated by the first gradient access
    std::atomic<Precision> precision_{Precision::fp32};
    std::unique_ptr<LowPrecisionCopies> low_precision_ = std::make_unique<LowPrecisionCopies>();
};

// Resizes `t` to `shape` unless it already has it (activation buffers reused across steps).
template <class T, int Rank, class Device>
TensorView<T, Rank, Device> ensure_shape(Tensor<T, Rank, Device>& t, const std::type_identity_t<Extents<Rank>>& shape) {
    if (t.shape() != shape || (!t.data() && numel<Rank>(shape) > 0)) t = Tensor<T, Rank, Device>(shape, uninitialized);
    return t;
}

// Names a sub-module: join("video.blocks", 3) == "video.blocks.3".
inline std::string join(const std::string& prefix, const std::string& name) {
    return prefix.empty() ? name : prefix + "." + name;
}
inline std::string join(const std::string& prefix, index_t index) { return join(prefix, std::to_string(index)); }

}  // namespace svilm::nn
