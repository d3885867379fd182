#!/usr/bin/env python3
"""Writes seeds for the kernel event buffer fuzz targets: buffers read from the real
kernel (fanotify with FID + DFID_NAME + TARGET_FID + PIDFD, as vigild asks for them, and
inotify), plus a few hand-built lies. Run as root once; the output is committed under
fuzz/corpus/{fanotify_records,inotify_records}/. Uses libc through ctypes, no shell.

    sudo python3 fuzz/capture_kernel_seeds.py fuzz/corpus
"""
import ctypes
import os
import struct
import sys
import tempfile

libc = ctypes.CDLL(None, use_errno=True)
libc.fanotify_mark.argtypes = [ctypes.c_int, ctypes.c_uint, ctypes.c_uint64, ctypes.c_int, ctypes.c_char_p]

FAN_CLASS_NOTIF, FAN_CLOEXEC, FAN_NONBLOCK = 0, 1, 2
FAN_REPORT_PIDFD, FAN_REPORT_FID, FAN_REPORT_DFID_NAME, FAN_REPORT_TARGET_FID = 0x80, 0x200, 0xC00, 0x1000
FAN_MARK_ADD, FAN_MARK_FILESYSTEM = 1, 0x100
FAN_ACCESS, FAN_ATTRIB, FAN_CLOSE_WRITE, FAN_OPEN = 1, 4, 8, 0x20
FAN_CREATE, FAN_DELETE, FAN_RENAME, FAN_ONDIR = 0x100, 0x200, 0x10000000, 0x40000000
FAN_EVENT_ON_CHILD = 0x08000000
IN_ALL_EVENTS, IN_NONBLOCK = 0xFFF, 0o4000


def check(ret, what):
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return ret


def activity(d):
    """Creates, writes, reads, renames (file and dir), chmods and deletes in d."""
    names = ["plain", "new\nline", "esc\x1b[2J", "\udcff-bytes", "x" * 200]
    for n in names:
        p = os.path.join(os.fsencode(d), os.fsencode(n))
        with open(p, "wb") as f:
            f.write(b"data")
        with open(p, "rb") as f:
            f.read()
        os.chmod(p, 0o600)
    os.mkdir(os.path.join(d, "sub"))
    os.rename(os.path.join(d, "sub"), os.path.join(d, "sub2"))
    os.rename(os.path.join(d, "plain"), os.path.join(d, "renamed"))
    os.unlink(os.path.join(d, "renamed"))
    os.rmdir(os.path.join(d, "sub2"))


def read_all(fd):
    bufs = []
    while True:
        try:
            b = os.read(fd, 256 * 1024)
        except BlockingIOError:
            break
        if not b:
            break
        bufs.append(b)
    return bufs


def close_fds_in_fanotify(buf):
    """Closes the pidfds the kernel put into our process (the seeds keep the numbers)."""
    off = 0
    while off + 24 <= len(buf):
        event_len, vers, _r, mlen, _mask, fd, _pid = struct.unpack_from("=IBBHQii", buf, off)
        if event_len < 24 or off + event_len > len(buf):
            break
        if fd >= 0:
            os.close(fd)
        p = off + mlen
        while p + 4 <= off + event_len:
            itype, _pad, ilen = struct.unpack_from("=BBH", buf, p)
            if ilen < 4:
                break
            if itype == 4 and ilen >= 8:
                (pidfd,) = struct.unpack_from("=i", buf, p + 4)
                if pidfd >= 0:
                    os.close(pidfd)
            p += ilen
        off += event_len


def capture_fanotify(out):
    flags = FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK | FAN_REPORT_DFID_NAME | FAN_REPORT_FID
    for extra, tag in ((FAN_REPORT_TARGET_FID | FAN_REPORT_PIDFD, "target-pidfd"), (0, "plain")):
        fd = libc.fanotify_init(flags | extra, os.O_RDONLY | os.O_CLOEXEC)
        if fd < 0:
            print(f"fanotify_init {tag}: {os.strerror(ctypes.get_errno())}, skipped", file=sys.stderr)
            continue
        with tempfile.TemporaryDirectory() as d:
            mask = FAN_CREATE | FAN_DELETE | FAN_ATTRIB | FAN_CLOSE_WRITE | FAN_RENAME | FAN_ONDIR
            mask |= FAN_OPEN | FAN_ACCESS | FAN_EVENT_ON_CHILD
            check(libc.fanotify_mark(fd, FAN_MARK_ADD, mask, -100, d.encode()), "fanotify_mark")
            activity(d)
            for i, b in enumerate(read_all(fd)):
                close_fds_in_fanotify(b)
                with open(os.path.join(out, f"kernel-{tag}-{i}"), "wb") as f:
                    f.write(b)
        os.close(fd)


def capture_inotify(out):
    fd = check(libc.inotify_init1(IN_NONBLOCK), "inotify_init1")
    with tempfile.TemporaryDirectory() as d:
        check(libc.inotify_add_watch(fd, d.encode(), IN_ALL_EVENTS), "inotify_add_watch")
        activity(d)
        for i, b in enumerate(read_all(fd)):
            with open(os.path.join(out, f"kernel-{i}"), "wb") as f:
                f.write(b)
    os.close(fd)


def fid(itype, handle, name=None):
    body = struct.pack("=8sIi", b"FSIDFSID", len(handle), 1) + handle
    if name is not None:
        body += name + b"\0"
    rec = struct.pack("=BBH", itype, 0, 0) + body
    rec += b"\0" * (-len(rec) % 4)
    return struct.pack("=BBH", itype, 0, len(rec)) + rec[4:]


def event(mask, info, pid=1):
    body = b"".join(info)
    return struct.pack("=IBBHQii", 24 + len(body), 3, 0, 24, mask, -1, pid) + body


def handmade_fanotify(out):
    seeds = {
        "hand-rename": event(FAN_RENAME, [fid(10, b"OLD", b"a"), fid(12, b"NEW", b"b"), fid(1, b"OBJ")]),
        "hand-pidfd": event(FAN_CLOSE_WRITE, [fid(2, b"D", b"f"), fid(1, b"O"), struct.pack("=BBHi", 4, 0, 8, -1)]),
        "hand-overflow": event(0x4000, []),
        "hand-lying-handle": event(FAN_CREATE, [fid(2, b"D", b"f")])[:36] + struct.pack("=I", 4096)
        + event(FAN_CREATE, [fid(2, b"D", b"f")])[40:],
        "hand-slash-name": event(FAN_CREATE, [fid(2, b"D", b"../../etc/shadow")]),
        "hand-truncated": event(FAN_CREATE, [fid(2, b"D", b"f")])[:30],
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


def handmade_inotify(out):
    def rec(wd, mask, name=b"", padded=0, cookie=0):
        return struct.pack("=iIII", wd, mask, cookie, padded) + name + b"\0" * (padded - len(name))

    seeds = {
        "hand-move-pair": rec(1, 0x40, b"a", 16, 7) + rec(1, 0x80, b"b", 16, 7),
        "hand-overflow": rec(-1, 0x4000),
        "hand-no-nul": rec(1, 0x100, b"abcdefgh", 8),
        "hand-slash": rec(1, 0x100, b"../x", 16),
        "hand-lying-len": struct.pack("=iIII", 1, 0x100, 0, 1000) + b"abc\0",
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "fuzz/corpus"
    fan = os.path.join(root, "fanotify_records")
    ino = os.path.join(root, "inotify_records")
    os.makedirs(fan, exist_ok=True)
    os.makedirs(ino, exist_ok=True)
    capture_fanotify(fan)
    capture_inotify(ino)
    handmade_fanotify(fan)
    handmade_inotify(ino)


if __name__ == "__main__":
    main()
