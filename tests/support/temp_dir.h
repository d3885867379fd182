// Test helpers: a private temporary directory removed with everything in it, and small
// file utilities. Removal never follows symlinks (tests plant links to /etc).
#pragma once

#include <string>
#include <string_view>

namespace vigil::test {

class TempDir {
public:
    TempDir();  // mkdtemp under $TMPDIR or /tmp, mode 0755 so test users can enter it
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return path_; }
    std::string operator/(std::string_view name) const { return path_ + "/" + std::string(name); }

private:
    std::string path_;
};

void write_file(const std::string& path, std::string_view content);
void append_file(const std::string& path, std::string_view content);
std::string read_file(const std::string& path);
void make_dirs(const std::string& path);    // mkdir -p
void remove_tree(const std::string& path);  // rm -rf without following links

// Writes a policy with one rule for `root` (and optional extra rule JSON fields).
std::string write_policy(const TempDir& dir, const std::string& root, const std::string& extra_fields = "");

}  // namespace vigil::test
