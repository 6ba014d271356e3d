// svilm/core/tensor.hpp: Tensor<T, Rank, Device> (owning) and TensorView<T, Rank, Device>
// (non-owning, strided).
//
// Element type, rank and device are compile-time; extents are run-time. A rank or device
// mismatch is a compile error; an extent mismatch is a ShapeError naming the op and both shapes.
//
// Tensor derives from TensorView, so a Tensor can be passed wherever a view is expected and
// template deduction sees through it. Views are shallow like std::span: constness of the
// element type (TensorView<const float, 2>) is what protects data, not constness of the view
// (copying a const Tensor into a TensorView<float> compiles, as copying a const std::span does).
// Tensor memory is 64-byte aligned and row-major contiguous; moving a Tensor keeps its buffer,
// so views into it stay valid until it is destroyed.
#pragma once

#include <algorithm>
#include <cassert>
#include <concepts>
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include "svilm/core/allocator.hpp"
#include "svilm/core/device.hpp"
#include "svilm/core/error.hpp"
#include "svilm/core/shape.hpp"

namespace svilm {

template <class T, int Rank, class Device = cpu>
class TensorView {
    static_assert(Rank >= 0, "rank must be non-negative");

public:
    using value_type = std::remove_const_t<T>;
    using element_type = T;
    using device_type = Device;
    static constexpr int rank = Rank;

    TensorView() = default;
    TensorView(T* data, const Extents<Rank>& shape)
        : data_(data), shape_(shape), strides_(contiguous_strides<Rank>(shape)) {
        check_extents<Rank>(shape, "TensorView");
    }
    TensorView(T* data, const Extents<Rank>& shape, const Extents<Rank>& strides)
        : data_(data), shape_(shape), strides_(strides) {
        check_extents<Rank>(shape, "TensorView");
    }
    // A mutable view converts to a const view, never the other way.
    template <class U>
        requires(std::is_const_v<T> && std::same_as<std::remove_const_t<T>, U>)
    TensorView(const TensorView<U, Rank, Device>& other)
        : data_(other.data()), shape_(other.shape()), strides_(other.strides()) {}

    T* data() const { return data_; }
    const Extents<Rank>& shape() const { return shape_; }
    const Extents<Rank>& strides() const { return strides_; }
    index_t extent(int axis) const { return shape_[axis]; }
    index_t stride(int axis) const { return strides_[axis]; }
    index_t size() const { return numel<Rank>(shape_); }
    bool empty() const { return size() == 0; }

    bool is_contiguous() const {
        index_t expected = 1;
        for (int axis = Rank - 1; axis >= 0; --axis) {
            if (shape_[axis] != 1 && strides_[axis] != expected) return false;
            expected *= shape_[axis];
        }
        return true;
    }

    // Element access (CPU only). Indices are not bounds-checked in release builds.
    template <class... Idx>
        requires(sizeof...(Idx) == Rank && (std::integral<Idx> && ...) && is_cpu_v<Device>)
    T& operator()(Idx... idx) const {
        const index_t indices[] = {index_t(idx)...};
        index_t offset = 0;
        for (int axis = 0; axis < Rank; ++axis) {
            assert(indices[axis] >= 0 && indices[axis] < shape_[axis]);
            offset += indices[axis] * strides_[axis];
        }
        return data_[offset];
    }
    T& operator()() const
        requires(Rank == 0 && is_cpu_v<Device>)
    {
        return *data_;
    }

    // Same elements under new extents; requires a contiguous view and an equal element count.
    template <int NewRank>
    TensorView<T, NewRank, Device> reshape(const Extents<NewRank>& shape) const {
        check_extents<NewRank>(shape, "reshape");
        if (numel<NewRank>(shape) != size())
            throw ShapeError("reshape: " + to_string<Rank>(shape_) + " to " + to_string<NewRank>(shape) +
                             " changes the element count");
        if (!is_contiguous())
            throw ShapeError("reshape: view " + to_string<Rank>(shape_) + " is not contiguous");
        return TensorView<T, NewRank, Device>(data_, shape);
    }

    // Elements [begin, end) along one axis.
    TensorView narrow(int axis, index_t begin, index_t end) const {
        if (axis < 0 || axis >= Rank || begin < 0 || end < begin || end > shape_[axis])
            throw ShapeError("narrow: range [" + std::to_string(begin) + ", " + std::to_string(end) +
                             ") on axis " + std::to_string(axis) + " of " + to_string<Rank>(shape_));
        Extents<Rank> shape = shape_;
        shape[axis] = end - begin;
        return TensorView(data_ + begin * strides_[axis], shape, strides_);
    }

    // Fixes one axis at an index: rank drops by one.
    TensorView<T, Rank - 1, Device> select(int axis, index_t index) const
        requires(Rank >= 1)
    {
        if (axis < 0 || axis >= Rank || index < 0 || index >= shape_[axis])
            throw ShapeError("select: index " + std::to_string(index) + " on axis " + std::to_string(axis) +
                             " of " + to_string<Rank>(shape_));
        Extents<Rank - 1> shape{}, strides{};
        for (int a = 0, b = 0; a < Rank; ++a) {
            if (a == axis) continue;
            shape[b] = shape_[a];
            strides[b++] = strides_[a];
        }
        return TensorView<T, Rank - 1, Device>(data_ + index * strides_[axis], shape, strides);
    }

    // Swaps two axes without moving data (the result is strided).
    TensorView transpose(int axis_a, int axis_b) const {
        if (axis_a < 0 || axis_a >= Rank || axis_b < 0 || axis_b >= Rank)
            throw ShapeError("transpose: axes " + std::to_string(axis_a) + ", " + std::to_string(axis_b) + " of " +
                             to_string<Rank>(shape_));
        Extents<Rank> shape = shape_, strides = strides_;
        std::swap(shape[axis_a], shape[axis_b]);
        std::swap(strides[axis_a], strides[axis_b]);
        return TensorView(data_, shape, strides);
    }

private:
    T* data_ = nullptr;
    Extents<Rank> shape_{};
    Extents<Rank> strides_{};
};

// Marker for the constructor that skips zero-filling (outputs an op overwrites anyway).
struct uninitialized_t {
    explicit uninitialized_t() = default;
};
inline constexpr uninitialized_t uninitialized{};

template <class T, int Rank, class Device = cpu>
class Tensor : public TensorView<T, Rank, Device> {
    static_assert(!std::is_const_v<T>, "a Tensor owns mutable elements; use TensorView<const T> for read-only");
    static_assert(std::is_trivially_copyable_v<T>, "tensor elements are trivially copyable");
    using View = TensorView<T, Rank, Device>;

public:
    Tensor() = default;
    // Zero-filled. CPU only: a device tensor is made `uninitialized` or with zeros(ctx, shape)
    // (core/context.hpp), because filling it needs the context's stream; code written for both
    // devices cannot then mistake one for the other.
    explicit Tensor(const Extents<Rank>& shape)
        requires is_cpu_v<Device>
        : Tensor(shape, uninitialized) {
        std::fill_n(this->data(), this->size(), T{});
    }
    Tensor(const Extents<Rank>& shape, uninitialized_t) : View(allocate(shape), shape) {}

    static Tensor full(const Extents<Rank>& shape, T value)
        requires is_cpu_v<Device>
    {
        Tensor t(shape, uninitialized);
        std::fill_n(t.data(), t.size(), value);
        return t;
    }

    Tensor(const Tensor& other)
        requires is_cpu_v<Device>
        : Tensor(other.shape(), uninitialized) {
        if (this->size()) std::memcpy(this->data(), other.data(), bytes());
    }
    Tensor& operator=(const Tensor& other)
        requires is_cpu_v<Device>
    {
        if (this != &other) *this = Tensor(other);
        return *this;
    }
    Tensor(Tensor&& other) noexcept : View(static_cast<const View&>(other)) {
        static_cast<View&>(other) = View();
    }
    Tensor& operator=(Tensor&& other) noexcept {
        if (this != &other) {
            release();
            static_cast<View&>(*this) = static_cast<const View&>(other);
            static_cast<View&>(other) = View();
        }
        return *this;
    }
    ~Tensor() { release(); }

    std::size_t bytes() const { return std::size_t(this->size()) * sizeof(T); }
    View view() { return *this; }
    TensorView<const T, Rank, Device> view() const { return *this; }

private:
    static T* allocate(const Extents<Rank>& shape) {
        check_extents<Rank>(shape, "Tensor");
        const index_t count = numel<Rank>(shape);
        if (count < 0 || count > index_t((std::size_t(1) << 62) / sizeof(T)))
            throw ShapeError("Tensor: extents " + to_string<Rank>(shape) + " are too large to allocate");
        return static_cast<T*>(DeviceAllocator<Device>::allocate(std::size_t(count) * sizeof(T)));
    }
    void release() noexcept { DeviceAllocator<Device>::deallocate(this->data()); }
};

// Throws ShapeError unless `view` has exactly `expected` extents: "op: name (2, 3) expected (2, 4)".
template <class T, int Rank, class Device>
void expect_shape(const char* op, const char* name, const TensorView<T, Rank, Device>& view,
                  const std::type_identity_t<Extents<Rank>>& expected) {
    if (view.shape() != expected)
        throw ShapeError(std::string(op) + ": " + name + " " + to_string<Rank>(view.shape()) + " expected " +
                         to_string<Rank>(expected));
}

template <class T, int Rank, class Device>
void expect_contiguous(const char* op, const char* name, const TensorView<T, Rank, Device>& view) {
    if (!view.is_contiguous())
        throw ShapeError(std::string(op) + ": " + name + " " + to_string<Rank>(view.shape()) +
                         " must be contiguous");
}

// Collapses every leading axis: (B, N, C) -> (B * N, C). Requires contiguity.
template <class T, int Rank, class Device>
TensorView<T, 2, Device> as_matrix(const TensorView<T, Rank, Device>& view)
    requires(Rank >= 1)
{
    const index_t cols = view.extent(Rank - 1);
    return view.template reshape<2>({cols ? view.size() / cols : 0, cols});
}

// All elements as one axis: (B, N, C) -> (B * N * C). Requires contiguity.
template <class T, int Rank, class Device>
TensorView<T, 1, Device> as_vector(const TensorView<T, Rank, Device>& view) {
    return view.template reshape<1>({view.size()});
}

}  // namespace svilm
