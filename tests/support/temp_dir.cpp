#include "tests/support/temp_dir.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace vigil::test {

TempDir::TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/vigil-test-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = buf.data();
    ::chmod(path_.c_str(), 0755);
}

TempDir::~TempDir() { remove_tree(path_); }

void write_file(const std::string& path, std::string_view content) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    if (!f) throw std::runtime_error("cannot write " + path);
    f.write(content.data(), static_cast<std::streamsize>(content.size()));
}

void append_file(const std::string& path, std::string_view content) {
    std::ofstream f(path, std::ios::binary | std::ios::app);
    if (!f) throw std::runtime_error("cannot append to " + path);
    f.write(content.data(), static_cast<std::streamsize>(content.size()));
}

std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

void make_dirs(const std::string& path) {
    for (std::size_t pos = 1; pos != std::string::npos;) {
        pos = path.find('/', pos + 1);
        const std::string prefix = path.substr(0, pos);
        if (::mkdir(prefix.c_str(), 0755) < 0 && errno != EEXIST) throw std::runtime_error("mkdir " + prefix);
    }
}

namespace {

// Removes everything inside the directory `dirfd` through fds, so trees deeper than
// PATH_MAX (the walker tests build them) go away too. Never follows a symlink.
void remove_inside(int dirfd) {
    const int list_fd = ::fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
    if (list_fd < 0) return;
    DIR* dir = ::fdopendir(list_fd);
    if (dir == nullptr) {
        ::close(list_fd);
        return;
    }
    std::vector<std::string> names;
    while (const dirent* ent = ::readdir(dir)) {
        const std::string name = ent->d_name;
        if (name != "." && name != "..") names.push_back(name);
    }
    ::closedir(dir);
    for (const auto& name : names) {
        if (::unlinkat(dirfd, name.c_str(), 0) == 0) continue;
        if (::fchmodat(dirfd, name.c_str(), 0700, 0) < 0) continue;  // tests leave mode-000 directories
        const int child = ::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (child < 0) continue;
        remove_inside(child);
        ::close(child);
        ::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR);
    }
}

}  // namespace

void remove_tree(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        ::unlink(path.c_str());
        return;
    }
    if (::fchmod(fd, 0700) < 0) {  // not ours to empty
        ::close(fd);
        return;
    }
    remove_inside(fd);
    ::close(fd);
    ::rmdir(path.c_str());
}

std::string write_policy(const TempDir& dir, const std::string& root, const std::string& extra_fields) {
    const std::string path = dir / "policy.json";
    std::string rule = "{ \"path\": \"" + root + "\"";
    if (!extra_fields.empty()) rule += ", " + extra_fields;
    rule += " }";
    // The audit subsystem is one per host: test agents leave it alone, except in the tests
    // about it (tests/agent/audit_test.cpp), which hold a lock while they use it.
    write_file(path, "// test policy\n{ \"audit\": { \"enabled\": false }, \"rules\": [ " + rule + " ] }\n");
    ::chmod(path.c_str(), 0644);
    return path;
}

}  // namespace vigil::test
