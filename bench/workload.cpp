// Workload for bench/realtime.sh: one long-lived process doing a known amount of file
// activity in a watched tree, timed, and telling exactly what it did.
//
//   workload files ROOT NFILES NDIRS [EXPECTED_TSV]
//     Four phases over the whole tree, as fast as it goes:
//       1. for each directory d000..: mkdir, then at once (the mkdir-then-write race) for
//          each of its files: open(O_CREAT|O_WRONLY|O_TRUNC) + write 100 bytes + close
//       2. rename every fNNNNNN to gNNNNNN (same directory)
//       3. open(O_RDONLY) + one read (returns the 100 bytes) + close of every gNNNNNN
//       4. unlink every gNNNNNN, then rmdir every directory
//     Prints one line of key=value: its pid, the count of each syscall it made, wall
//     seconds of the four phases (CLOCK_MONOTONIC) and its own user/sys CPU. With
//     EXPECTED_TSV, writes afterwards (untimed) the (action, path, old_path) rows a
//     recorder of every event must hold at least once each (see bench/README.md).
//
//   workload short ROOT NPROCS NFILES [PIDS_FILE]
//     mkdir ROOT/short, sleep 1 s (the short-lived workload measures attribution, not the
//     mkdir race), then NPROCS times posix_spawn /bin/sh -c 'echo x >> ROOT/short/sNNN'
//     and wait for it, round-robin over NFILES files. Prints its pid, the count and wall
//     seconds of the spawns and the CPU of itself + children; the children's pids go to
//     PIDS_FILE.
//
//   workload storm ROOT NDIRS PERDIR
//     The storm of issue 6 (bench/storm.sh, tests/agent/storm_test.cpp): mkdir ROOT/dNNN,
//     create + write every file ("v1 i"), rewrite every file ("v2 d*i"), unlink every
//     third: about 3.3 events per file, so 100 x 3000 is about a million.
#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

extern char** environ;

namespace {

[[noreturn]] void die(const std::string& what) {
    std::fprintf(stderr, "workload: %s: %s\n", what.c_str(), std::strerror(errno));
    std::exit(1);
}

double now_s() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

double tv_s(const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; }

std::string dir_name(const std::string& root, int d) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "/d%03d", d);
    return root + buf;
}

std::string file_name(const std::string& dir, char prefix, int i) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "/%c%06d", prefix, i);
    return dir + buf;
}

int files_mode(const std::string& root, int nfiles, int ndirs, const char* expected_path) {
    if (ndirs <= 0 || nfiles <= 0) {
        errno = EINVAL;
        die("NFILES and NDIRS must be positive");
    }
    char data[100];
    std::memset(data, 'x', sizeof data);
    data[sizeof data - 1] = '\n';
    char buf[4096];
    long n_mkdir = 0, n_create = 0, n_write = 0, n_close_write = 0, n_rename = 0, n_open_read = 0, n_read = 0,
         n_unlink = 0, n_rmdir = 0;
    long bytes_read = 0;
    std::vector<std::string> dirs;
    std::vector<int> dir_of(static_cast<std::size_t>(nfiles));
    for (int d = 0; d < ndirs; ++d) dirs.push_back(dir_name(root, d));
    for (int i = 0; i < nfiles; ++i)
        dir_of[static_cast<std::size_t>(i)] = static_cast<int>(static_cast<long>(i) * ndirs / nfiles);

    const double t0 = now_s();
    // 1. mkdir, then immediately create + write + close each of the directory's files.
    int next = 0;
    for (int d = 0; d < ndirs; ++d) {
        if (mkdir(dirs[static_cast<std::size_t>(d)].c_str(), 0755) < 0)
            die("mkdir " + dirs[static_cast<std::size_t>(d)]);
        ++n_mkdir;
        for (; next < nfiles && dir_of[static_cast<std::size_t>(next)] == d; ++next) {
            const std::string f = file_name(dirs[static_cast<std::size_t>(d)], 'f', next);
            const int fd = open(f.c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
            if (fd < 0) die("create " + f);
            ++n_create;
            if (write(fd, data, sizeof data) != static_cast<ssize_t>(sizeof data)) die("write " + f);
            ++n_write;
            if (close(fd) < 0) die("close " + f);
            ++n_close_write;
        }
    }
    const double t1 = now_s();
    // 2. rename f -> g in the same directory.
    for (int i = 0; i < nfiles; ++i) {
        const std::string& dir = dirs[static_cast<std::size_t>(dir_of[static_cast<std::size_t>(i)])];
        const std::string f = file_name(dir, 'f', i), g = file_name(dir, 'g', i);
        if (rename(f.c_str(), g.c_str()) < 0) die("rename " + f);
        ++n_rename;
    }
    const double t2 = now_s();
    // 3. open + one read + close.
    for (int i = 0; i < nfiles; ++i) {
        const std::string g = file_name(dirs[static_cast<std::size_t>(dir_of[static_cast<std::size_t>(i)])], 'g', i);
        const int fd = open(g.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) die("open " + g);
        ++n_open_read;
        const ssize_t r = read(fd, buf, sizeof buf);
        if (r != static_cast<ssize_t>(sizeof data)) die("read " + g);
        ++n_read;
        bytes_read += r;
        close(fd);
    }
    const double t3 = now_s();
    // 4. unlink every file, then rmdir every directory.
    for (int i = 0; i < nfiles; ++i) {
        const std::string g = file_name(dirs[static_cast<std::size_t>(dir_of[static_cast<std::size_t>(i)])], 'g', i);
        if (unlink(g.c_str()) < 0) die("unlink " + g);
        ++n_unlink;
    }
    for (const auto& d : dirs) {
        if (rmdir(d.c_str()) < 0) die("rmdir " + d);
        ++n_rmdir;
    }
    const double t4 = now_s();
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    std::printf(
        "pid=%d files=%d dirs=%d mkdir=%ld create=%ld write=%ld close_write=%ld rename=%ld open_read=%ld read=%ld "
        "bytes_read=%ld unlink=%ld rmdir=%ld wall_s=%.4f create_s=%.4f rename_s=%.4f read_s=%.4f delete_s=%.4f "
        "user_s=%.3f sys_s=%.3f\n",
        getpid(), nfiles, ndirs, n_mkdir, n_create, n_write, n_close_write, n_rename, n_open_read, n_read, bytes_read,
        n_unlink, n_rmdir, t4 - t0, t1 - t0, t2 - t1, t3 - t2, t4 - t3, tv_s(ru.ru_utime), tv_s(ru.ru_stime));
    std::fflush(stdout);

    if (expected_path != nullptr) {
        // Distinct (action, path, old_path) rows vigild must record at least once each.
        // Kernel notification queues merge identical events of one object (fanotify: same
        // pid, object and name; inotify: identical consecutive records), so "at least once"
        // per distinct triple is what "nothing lost" means; the raw row counts are reported
        // beside it. open of f: the O_CREAT open; open of g: the read open.
        FILE* out = std::fopen(expected_path, "w");
        if (out == nullptr) die(expected_path);
        for (const auto& d : dirs) std::fprintf(out, "create\t%s\t\n", d.c_str());
        for (int i = 0; i < nfiles; ++i) {
            const std::string& dir = dirs[static_cast<std::size_t>(dir_of[static_cast<std::size_t>(i)])];
            const std::string f = file_name(dir, 'f', i), g = file_name(dir, 'g', i);
            std::fprintf(
                out, "create\t%s\t\nopen\t%s\t\nmodify\t%s\t\nrename\t%s\t%s\nopen\t%s\t\nread\t%s\t\ndelete\t%s\t\n",
                f.c_str(), f.c_str(), f.c_str(), g.c_str(), f.c_str(), g.c_str(), g.c_str(), g.c_str());
        }
        for (const auto& d : dirs) std::fprintf(out, "delete\t%s\t\n", d.c_str());
        if (std::fclose(out) != 0) die(expected_path);
    }
    return 0;
}

int short_mode(const std::string& root, int nprocs, int nfiles, const char* pids_path) {
    const std::string dir = root + "/short";
    if (mkdir(dir.c_str(), 0755) < 0) die("mkdir " + dir);
    sleep(1);  // let a watcher mark it: this workload is about who, not about the mkdir race
    FILE* pids = pids_path != nullptr ? std::fopen(pids_path, "w") : nullptr;
    if (pids_path != nullptr && pids == nullptr) die(pids_path);
    long failed = 0;
    const double t0 = now_s();
    for (int i = 0; i < nprocs; ++i) {
        char cmd[256];
        std::snprintf(cmd, sizeof cmd, "echo x >> %s/s%03d", dir.c_str(), i % nfiles);
        char sh[] = "/bin/sh", c[] = "-c";
        char* argv[] = {sh, c, cmd, nullptr};
        pid_t pid = 0;
        if (posix_spawn(&pid, "/bin/sh", nullptr, nullptr, argv, environ) != 0) die("posix_spawn /bin/sh");
        int status = 0;
        if (waitpid(pid, &status, 0) < 0) die("waitpid");
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++failed;
        if (pids != nullptr) std::fprintf(pids, "%d\n", pid);
    }
    const double t1 = now_s();
    if (pids != nullptr) std::fclose(pids);
    rusage self{}, kids{};
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &kids);
    std::printf("pid=%d procs=%d files=%d failed=%ld wall_s=%.4f user_s=%.3f sys_s=%.3f\n", getpid(), nprocs, nfiles,
                failed, t1 - t0, tv_s(self.ru_utime) + tv_s(kids.ru_utime), tv_s(self.ru_stime) + tv_s(kids.ru_stime));
    return failed == 0 ? 0 : 1;
}

void write_all(const std::string& path, const std::string& content) {
    const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) die("open " + path);
    if (write(fd, content.data(), content.size()) != static_cast<ssize_t>(content.size())) die("write " + path);
    if (close(fd) < 0) die("close " + path);
}

int storm_mode(const std::string& root, int ndirs, int perdir) {
    auto name = [&](int d, int i) { return file_name(dir_name(root, d), 'f', i); };
    const double t0 = now_s();
    for (int d = 0; d < ndirs; ++d)
        if (mkdir(dir_name(root, d).c_str(), 0755) < 0) die("mkdir " + dir_name(root, d));
    for (int d = 0; d < ndirs; ++d)
        for (int i = 0; i < perdir; ++i) write_all(name(d, i), "v1 " + std::to_string(i) + "\n");
    for (int d = 0; d < ndirs; ++d)
        for (int i = 0; i < perdir; ++i) write_all(name(d, i), "v2 " + std::to_string(d * i) + "\n");
    long unlinked = 0;
    for (int d = 0; d < ndirs; ++d)
        for (int i = 0; i < perdir; i += 3, ++unlinked)
            if (unlink(name(d, i).c_str()) < 0) die("unlink " + name(d, i));
    const double t1 = now_s();
    std::printf("pid=%d dirs=%d files=%ld unlinked=%ld wall_s=%.4f\n", getpid(), ndirs,
                static_cast<long>(ndirs) * perdir, unlinked, t1 - t0);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "files" && (argc == 5 || argc == 6))
        return files_mode(argv[2], std::atoi(argv[3]), std::atoi(argv[4]), argc == 6 ? argv[5] : nullptr);
    if (mode == "short" && (argc == 5 || argc == 6))
        return short_mode(argv[2], std::atoi(argv[3]), std::atoi(argv[4]), argc == 6 ? argv[5] : nullptr);
    if (mode == "storm" && argc == 5) return storm_mode(argv[2], std::atoi(argv[3]), std::atoi(argv[4]));
    std::fprintf(stderr,
                 "usage: workload files ROOT NFILES NDIRS [EXPECTED_TSV]\n"
                 "       workload storm ROOT NDIRS PERDIR\n"
                 "       workload short ROOT NPROCS NFILES [PIDS_FILE]\n");
    return 2;
}
