#include "agent/jsonl_sink.h"

#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <nlohmann/json.hpp>

#include "common/escape.h"
#include "common/sys.h"

namespace vigil::agent {
namespace {

// Longer than any line we write: path, old_path, exe and cmdline hold at most 4096 raw
// bytes each (PATH_MAX, the agent's cmdline cap), at most 5 JSON bytes per raw byte.
constexpr std::size_t kTailBytes = std::size_t{256} * 1024;

Result<std::uint64_t> file_size(int fd, const std::string& path) {
    struct stat st {};
    if (::fstat(fd, &st) < 0) return Error::from_errno(errno, "fstat '" + escape_bytes(path) + "'");
    return static_cast<std::uint64_t>(st.st_size);
}

// The last `kTailBytes` of a file (or all of it), read through the fd.
std::string read_tail(int fd, std::uint64_t size) {
    const std::uint64_t from = size > kTailBytes ? size - kTailBytes : 0;
    std::string buf(static_cast<std::size_t>(size - from), '\0');
    std::size_t got = 0;
    while (got < buf.size()) {
        const ssize_t n = retry_eintr(
            [&] { return ::pread(fd, buf.data() + got, buf.size() - got, static_cast<off_t>(from + got)); });
        if (n <= 0) break;
        got += static_cast<std::size_t>(n);
    }
    buf.resize(got);
    return buf;
}

std::optional<std::int64_t> last_id_of(const std::string& path) {
    auto fd = open_at(AT_FDCWD, path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK, path);
    if (!fd) return std::nullopt;
    auto size = file_size(fd->get(), path);
    if (!size || size.value() == 0) return std::nullopt;
    std::string tail = read_tail(fd->get(), size.value());
    if (tail.empty() || tail.back() != '\n') return std::nullopt;
    tail.pop_back();
    const auto start = tail.rfind('\n');
    const std::string_view line = start == std::string::npos ? tail : std::string_view(tail).substr(start + 1);
    const auto j = nlohmann::json::parse(line.begin(), line.end(), nullptr, false);
    if (!j.is_object() || !j.contains("id") || !j["id"].is_number_integer()) return std::nullopt;
    return j["id"].get<std::int64_t>();
}

}  // namespace

Result<std::unique_ptr<JsonlSink>> JsonlSink::open(const JsonlOutput& config) {
    std::unique_ptr<JsonlSink> sink(new JsonlSink(config));
    VIGIL_TRY(make_private_dirs(dir_of(config.path)));
    VIGIL_TRY(sink->open_file());
    return sink;
}

Result<void> JsonlSink::open_file() {
    // O_NONBLOCK: a FIFO planted at the path fails the open (ENXIO) instead of blocking
    // the writer until someone reads it; on a regular file it changes nothing.
    const std::string& path = config_.path;
    fd_.reset();
    auto fd = open_at(AT_FDCWD, path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_NONBLOCK, path, 0600);
    if (!fd) return fd.error();
    struct stat st {};
    if (::fstat(fd->get(), &st) < 0) return Error::from_errno(errno, "fstat '" + escape_bytes(path) + "'");
    if (!S_ISREG(st.st_mode)) return Error::msg("output file " + escape_bytes(path) + " is not a regular file");
    // A crash between write() and its end can only leave a torn last line: cut it off, so
    // every line of the file parses (the output resumes at the last whole line's id).
    if (st.st_size > 0) {
        auto rd = open_at(AT_FDCWD, path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK, path);
        if (!rd) return rd.error();
        const auto size = static_cast<std::uint64_t>(st.st_size);
        const std::string tail = read_tail(rd->get(), size);
        if (!tail.empty() && tail.back() != '\n') {
            const auto nl = tail.rfind('\n');
            if (nl == std::string::npos && tail.size() < size)
                return Error::msg("output file " + escape_bytes(path) +
                                  " ends in a line longer than any Vigil writes: not appending to it");
            const std::uint64_t keep = nl == std::string::npos ? 0 : size - tail.size() + nl + 1;
            if (::ftruncate(fd->get(), static_cast<off_t>(keep)) < 0)
                return Error::from_errno(errno, "cut the torn last line of '" + escape_bytes(path) + "'");
        }
    }
    fd_ = std::move(fd.value());
    return {};
}

Result<void> JsonlSink::rotate() {
    const std::string& path = config_.path;
    // PATH.keep is overwritten by the rename into it: the oldest file goes.
    for (std::uint32_t k = config_.keep; k > 1; --k) {
        const std::string from = path + "." + std::to_string(k - 1);
        const std::string to = path + "." + std::to_string(k);
        if (::rename(from.c_str(), to.c_str()) < 0 && errno != ENOENT)
            return Error::from_errno(errno, "rotate '" + escape_bytes(from) + "'");
    }
    const std::string first = path + ".1";
    if (::rename(path.c_str(), first.c_str()) < 0)
        return Error::from_errno(errno, "rotate '" + escape_bytes(path) + "'");
    ++rotations_;
    return open_file();
}

Result<void> JsonlSink::append(std::string_view& lines) {
    const std::string& path = config_.path;
    while (!lines.empty()) {
        if (!fd_) VIGIL_TRY(open_file());  // a failed rotation left no file open
        auto size = file_size(fd_.get(), path);
        if (!size) return size.error();
        // The whole lines that fit in what is left of this file.
        std::size_t chunk = lines.size();
        const std::uint64_t max = config_.max_size_bytes;
        if (max > 0 && size.value() + lines.size() > max) {
            const std::uint64_t room = max > size.value() ? max - size.value() : 0;
            const auto fits = room == 0 ? std::string_view::npos : lines.substr(0, room).rfind('\n');
            if (fits == std::string_view::npos) {
                if (size.value() > 0) {
                    // Close this file first: the next line starts the fresh one.
                    if (auto r = rotate(); !r) {
                        fd_.reset();
                        return r;
                    }
                    continue;
                }
                const auto nl = lines.find('\n');  // one line longer than the limit: a file of its own
                chunk = nl == std::string_view::npos ? lines.size() : nl + 1;
            } else {
                chunk = fits + 1;
            }
        }
        const ssize_t n = retry_eintr([&] { return ::write(fd_.get(), lines.data(), chunk); });
        if (n < 0) return Error::from_errno(errno, "write '" + escape_bytes(path) + "'");
        if (static_cast<std::size_t>(n) < chunk) {
            // Disk full mid-chunk: take the partial lines back off so none is ever split.
            if (::ftruncate(fd_.get(), static_cast<off_t>(size.value())) < 0)
                return Error::from_errno(errno, "cut a short write off '" + escape_bytes(path) + "'");
            return Error::from_errno(ENOSPC, "write '" + escape_bytes(path) + "' (short write, taken back)");
        }
        lines.remove_prefix(chunk);
    }
    return {};
}

std::optional<std::int64_t> JsonlSink::last_id() const {
    if (auto id = last_id_of(config_.path)) return id;
    return last_id_of(config_.path + ".1");
}

}  // namespace vigil::agent
