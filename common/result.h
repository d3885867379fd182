// Result<T>: a value or an Error, shaped like C++23 std::expected (has_value/value/error)
// so that moving to std::expected later is mechanical. common/ and agent/ never throw;
// exceptions from throwing libraries (nlohmann::json) are caught where they are called.
#pragma once

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <variant>

namespace vigil {

struct Error {
    std::error_code code;
    std::string context;  // what failed and on which path: "openat '/etc/shadow'"

    // Capture errno first thing after the failing call: anything in between may clobber it.
    static Error from_errno(int err, std::string context) {
        return {std::error_code(err, std::generic_category()), std::move(context)};
    }
    static Error msg(std::string context) { return {std::error_code(), std::move(context)}; }

    // "openat '/x': Permission denied"; a bare message when no code is attached.
    std::string message() const {
        if (!code) return context;
        return context + ": " + code.message();
    }
};

template <class T>
class [[nodiscard]] Result {
public:
    Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
    Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

    bool has_value() const noexcept { return v_.index() == 0; }
    explicit operator bool() const noexcept { return has_value(); }
    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T* operator->() { return &std::get<0>(v_); }
    const T* operator->() const { return &std::get<0>(v_); }
    T& operator*() & { return std::get<0>(v_); }
    const Error& error() const& { return std::get<1>(v_); }

private:
    std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Error error) : error_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

    bool has_value() const noexcept { return !error_.has_value(); }
    explicit operator bool() const noexcept { return has_value(); }
    const Error& error() const& { return *error_; }

private:
    std::optional<Error> error_;
};

}  // namespace vigil

// Returns the error of a failed Result<...> expression from the enclosing function.
#define VIGIL_TRY(expr)                                                 \
    do {                                                                \
        if (auto vigil_r_ = (expr); !vigil_r_) return vigil_r_.error(); \
    } while (0)
