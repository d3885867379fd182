#!/usr/bin/env python3
"""Splits a `perf script -F tid,ip,sym` dump of one vigil run into phases.

Usage: perf_phases.py DUMP HZ TITLE
DUMP comes from `perf record -F HZ --call-graph dwarf`; every sample is HZ^-1 s of CPU
of one thread. The main thread (lowest tid) is split by the top-level step it was in;
the other threads (walk workers, baseline loader) by the work their stack shows.
Prints a markdown table of CPU seconds per phase.
"""
import collections
import re
import sys

# First matching rule wins: (label, substrings any of which must appear in the stack).
MAIN_RULES = [
    ("main: SQLite insert of the records (write_baseline)", ["write_baseline"]),
    ("main: SQLite commit + WAL checkpoint", ["WriteTxn", "sqlite3WalCheckpoint", "sqlite3_close"]),
    ("main: sort of the walk result", ["__introsort_loop", "__insertion_sort", "__final_insertion_sort"]),
    ("main: merge of per-thread results (page faults, moves)", ["walk_policy"]),
    ("main: comparison with the baseline (diff_records)", ["diff_records"]),
    ("main: report rendering", ["render_check"]),
    ("main: freeing records at exit", ["~vector", "_Destroy"]),
    ("main: other (startup, policy, db open)", [""]),
]
WORKER_RULES = [
    ("loader: baseline load from SQLite (load_baseline)", ["load_baseline"]),
    ("walk: SHA-256 compression (libcrypto)", ["SHA256_Update", "sha256_block", "EVP_DigestUpdate"]),
    ("walk: EVP context setup per file (fetch, init, final)", ["new_sha256_ctx", "EVP_MD_fetch", "EVP_DigestFinal",
                                                                 "EVP_MD_CTX"]),
    ("walk: pread of file data (kernel copy)", ["pread"]),
    ("walk: open of files and dirs", ["open_at", "openat"]),
    ("walk: fstat/fstatat", ["fstat"]),
    ("walk: xattr listing", ["read_xattrs", "listxattr", "getxattr"]),
    ("walk: readdir + queueing", ["readdir", "getdents", "list_dir"]),
    ("walk: close", ["close"]),
    ("walk: other (queue, locks, records, allocation)", [""]),
]


def parse(path):
    samples, cur = [], None
    with open(path, errors="replace") as f:
        for line in f:
            if not line.strip():
                if cur:
                    samples.append(cur)
                cur = None
                continue
            if not line.startswith("\t") and re.match(r"^\s*\d+\s*$", line):
                if cur:
                    samples.append(cur)
                cur = (int(line.split()[0]), [])
                continue
            if cur is not None:
                cur[1].append(line.strip().split(" ", 1)[-1])
    if cur:
        samples.append(cur)
    return samples


def classify(stack, rules):
    joined = " | ".join(stack)
    for label, keys in rules:
        if any(k in joined for k in keys):
            return label
    return rules[-1][0]


def main():
    path, hz, title = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    samples = parse(path)
    if not samples:
        print(f"(no samples in {path})")
        return
    main_tid = min(t for t, _ in samples)
    counts = collections.Counter()
    per_thread = collections.Counter()
    for tid, stack in samples:
        per_thread[tid] += 1
        counts[classify(stack, MAIN_RULES if tid == main_tid else WORKER_RULES)] += 1
    total = sum(counts.values())
    print(f"**{title}**: {total / hz:.2f} s CPU sampled; threads: main {per_thread[main_tid] / hz:.2f} s, "
          + ", ".join(f"{n / hz:.2f} s" for t, n in sorted(per_thread.items()) if t != main_tid))
    print()
    print("| phase | CPU s | share |")
    print("|---|---:|---:|")
    order = [l for l, _ in MAIN_RULES] + [l for l, _ in WORKER_RULES]
    for label in order:
        if counts[label]:
            print(f"| {label} | {counts[label] / hz:.3f} | {100 * counts[label] / total:.1f}% |")
    print()


if __name__ == "__main__":
    main()
