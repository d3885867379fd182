#include "tests/support/temp_dir.h"

#include <fcntl.h>
#include <ftw.h>
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

void remove_tree(const std::string& path) {
    // Make every directory writable first: tests leave mode-000 directories behind.
    ::nftw(
        path.c_str(),
        [](const char* p, const struct stat* st, int, FTW*) {
            if (S_ISDIR(st->st_mode)) ::chmod(p, 0700);
            return 0;
        },
        64, FTW_PHYS);
    ::nftw(
        path.c_str(), [](const char* p, const struct stat*, int, FTW*) { return ::remove(p) < 0 ? 0 : 0; }, 64,
        FTW_DEPTH | FTW_PHYS);
}

std::string write_policy(const TempDir& dir, const std::string& root, const std::string& extra_fields) {
    const std::string path = dir / "policy.json";
    std::string rule = "{ \"path\": \"" + root + "\"";
    if (!extra_fields.empty()) rule += ", " + extra_fields;
    rule += " }";
    write_file(path, "// test policy\n{ \"rules\": [ " + rule + " ] }\n");
    ::chmod(path.c_str(), 0644);
    return path;
}

}  // namespace vigil::test
