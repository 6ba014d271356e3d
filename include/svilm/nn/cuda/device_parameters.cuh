// svilm/nn/cuda/device_parameters.cuh: a model's parameters on the device, in the same flat
// layout as the host nn::ParameterStore they mirror (same names, offsets, padding), so the
// optimizer, clipping and checkpoints stay one loop over one buffer, and moving weights between
// host and device is one copy.
//
//   SVilm<float> host(config, rng);                        // or load_model(...)
//   CudaContext ctx;
//   nn::DeviceParameters<float> params(ctx, host.store);  // layout and values uploaded
//   VideoEncoder<float, cuda> video(params, config.video, "video", config.gumbel_tau);
//
// The gradient buffer is allocated (zeroed) on first use, as on the host, so inference never holds
// it; call grads() once before timing or before threads share the mirror.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "svilm/cuda/copy.hpp"
#include "svilm/nn/parameter.hpp"

namespace svilm::nn {

template <class T>
class DeviceParameters;

// A typed handle to one parameter on the device.
template <class T, int Rank>
class DeviceParam {
public:
    DeviceParam() = default;
    DeviceParam(const DeviceParameters<T>* params, index_t offset, const Extents<Rank>& shape)
        : params_(params), offset_(offset), shape_(shape) {}

    TensorView<T, Rank, cuda> value() const { return TensorView<T, Rank, cuda>(params_->value_data() + offset_, shape_); }
    TensorView<T, Rank, cuda> grad() const { return TensorView<T, Rank, cuda>(params_->grad_data() + offset_, shape_); }
    const Extents<Rank>& shape() const { return shape_; }

private:
    const DeviceParameters<T>* params_ = nullptr;
    index_t offset_ = 0;
    Extents<Rank> shape_{};
};

template <class T>
class DeviceParameters {
public:
    // Copies the layout of `host`; uploads its values when it is allocated, else zeros (weights
    // to be loaded straight to the device).
    DeviceParameters(const CudaContext& ctx, const ParameterStore<T>& host)
        : ctx_(&ctx), infos_(host.parameters()), values_({host.buffer_size()}, uninitialized) {
        for (std::size_t i = 0; i < infos_.size(); ++i) index_.emplace(infos_[i].name, i);
        if (host.allocated()) upload(host);
        else zero(ctx, values_.view());
        ctx.synchronize();
    }
    DeviceParameters(const DeviceParameters&) = delete;
    DeviceParameters& operator=(const DeviceParameters&) = delete;

    // The handle of `name`; ValueError when it is missing or its shape is not `shape` (a module
    // built for another configuration than the weights).
    template <int Rank>
    DeviceParam<T, Rank> get(const std::string& name, const Extents<Rank>& shape) const {
        const auto it = index_.find(name);
        if (it == index_.end()) throw ValueError("DeviceParameters: no parameter '" + name + "'");
        const ParameterInfo& p = infos_[it->second];
        const std::vector<index_t> want(shape.begin(), shape.end());
        if (p.shape != want)
            throw ValueError("DeviceParameters: '" + name + "' has shape " + shape_string(p.shape) + ", the module expects " +
                             shape_string(want));
        return DeviceParam<T, Rank>(this, p.offset, shape);
    }

    // Host -> device and device -> host, whole buffers (layouts must match: same model).
    void upload(const ParameterStore<T>& host) {
        check_layout(host, "upload");
        SVILM_CUDA_CHECK(cudaMemcpyAsync(values_.data(), host.values().data(), values_.bytes(), cudaMemcpyHostToDevice,
                                         ctx_->stream()));
        ctx_->synchronize();
    }
    void download(ParameterStore<T>& host) const {
        check_layout(host, "download");
        SVILM_CUDA_CHECK(cudaMemcpyAsync(host.values().data(), values_.data(), values_.bytes(), cudaMemcpyDeviceToHost,
                                         ctx_->stream()));
        ctx_->synchronize();
    }
    // The gradients into the host store's gradient buffer (tests, checkpoints of accumulators).
    void download_grads(ParameterStore<T>& host) const {
        check_layout(host, "download_grads");
        SVILM_CUDA_CHECK(cudaMemcpyAsync(host.grads().data(), grads().data(), values_.bytes(), cudaMemcpyDeviceToHost,
                                         ctx_->stream()));
        ctx_->synchronize();
    }

    void zero_grad() { zero(*ctx_, grads()); }

    const std::vector<ParameterInfo>& parameters() const { return infos_; }
    // Mutable views from a const mirror, as DeviceParam::value(): modules are const while they
    // compute, the optimiser writes through the same buffers.
    TensorView<T, 1, cuda> values() const { return TensorView<T, 1, cuda>(values_.data(), values_.shape()); }
    TensorView<T, 1, cuda> grads() const {
        if (grads_.size() != values_.size()) {
            grads_ = Tensor<T, 1, cuda>(values_.shape(), uninitialized);
            zero(*ctx_, grads_.view());
        }
        return grads_.view();
    }
    T* value_data() const { return values_.data(); }
    T* grad_data() const { return grads().data(); }
    const CudaContext& context() const { return *ctx_; }

private:
    // Same names, shapes and offsets in the same order: the two buffers mean the same thing.
    void check_layout(const ParameterStore<T>& host, const char* what) const {
        const std::string op = std::string("DeviceParameters::") + what;
        if (!host.allocated()) throw ValueError(op + ": the host store is not allocated");
        if (host.parameters().size() != infos_.size() || host.buffer_size() != values_.size())
            throw ValueError(op + ": the host store has " + std::to_string(host.parameters().size()) + " parameters in " +
                             std::to_string(host.buffer_size()) + " elements, the device " + std::to_string(infos_.size()) +
                             " in " + std::to_string(values_.size()));
        for (std::size_t i = 0; i < infos_.size(); ++i) {
            const ParameterInfo &a = host.parameters()[i], &b = infos_[i];
            if (a.name != b.name || a.offset != b.offset || a.shape != b.shape)
                throw ValueError(op + ": host parameter '" + a.name + "' " + shape_string(a.shape) + " does not match device '" +
                                 b.name + "' " + shape_string(b.shape));
        }
    }
    static std::string shape_string(const std::vector<index_t>& shape) {
        std::string s = "(";
        for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
        return s + ")";
    }

    const CudaContext* ctx_;
    std::vector<ParameterInfo> infos_;
    std::unordered_map<std::string, std::size_t> index_;
    Tensor<T, 1, cuda> values_;
    mutable Tensor<T, 1, cuda> grads_;
};

}  // namespace svilm::nn
