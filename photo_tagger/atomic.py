"""Replace a file atomically: lock, complete temp copy, fsync, rename, fsync the folder.

A crash at any point leaves the original or the complete new file, never a mix.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import secrets
from collections.abc import Iterator

TEMP_MARK = ".phototag-"


@contextlib.contextmanager
def locked(path: str) -> Iterator[None]:
    """An exclusive lock on the file at path, held across read, replace and record.

    Locks follow inodes and a write replaces the inode, so after locking we check the path
    still names the locked file and start again if another process replaced it meanwhile.
    """
    for _ in range(50):
        fd = os.open(path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if _same_file(os.fstat(fd), path):
                yield
                return
        finally:
            os.close(fd)
    raise OSError(errno.EBUSY, "another process keeps replacing it")


def _same_file(info: os.stat_result, path: str) -> bool:
    try:
        now_info = os.stat(path)
    except FileNotFoundError:
        return False
    return (info.st_dev, info.st_ino) == (now_info.st_dev, now_info.st_ino)


def temp_name(target: str) -> str:
    folder, name = os.path.split(target)
    return os.path.join(folder, f".{name}{TEMP_MARK}{os.getpid()}-{secrets.token_hex(4)}.tmp")


def write_temp(target: str, data: bytes, like: os.stat_result | None, mtime_ns: int | None) -> str:
    """A complete, fsynced copy beside target with its mode, owner and (optionally) mtime."""
    temp = temp_name(target)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if like else 0o644)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if like is not None:
                os.fchmod(fd, like.st_mode & 0o7777)
                _chown(fd, like)
            os.fsync(fd)
        finally:
            os.close(fd)
        if mtime_ns is not None and like is not None:
            os.utime(temp, ns=(like.st_atime_ns, mtime_ns))
        with open(temp, "rb") as handle:  # what reached the disk, not what we meant to send
            if sha256(handle.read()) != sha256(data):
                raise OSError(errno.EIO, "the copy read back differs from what was written")
    except BaseException:
        discard(temp)
        raise
    return temp


def _chown(fd: int, like: os.stat_result) -> None:
    if (like.st_uid, like.st_gid) == (os.geteuid(), os.getegid()):
        return
    try:
        os.fchown(fd, like.st_uid, like.st_gid)
    except PermissionError:  # only root may give a file away; the group may still be ours to set
        with contextlib.suppress(PermissionError):
            os.fchown(fd, -1, like.st_gid)


def replace(temp: str, target: str) -> None:
    """Move temp over target in one step and make the rename itself durable."""
    try:
        os.replace(temp, target)
    except BaseException:
        discard(temp)
        raise
    fsync_folder(os.path.dirname(target) or ".")


def fsync_folder(folder: str) -> None:
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale_temps(folders: set[str]) -> int:
    """Delete temporary copies left by killed runs (their process is gone)."""
    removed = 0
    for folder in folders:
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            if not (name.startswith(".") and TEMP_MARK in name and name.endswith(".tmp")):
                continue
            pid = name.rsplit(TEMP_MARK, 1)[1].split("-", 1)[0]
            if pid.isdigit() and not _alive(int(pid)):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(folder, name))
                    removed += 1
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def discard(path: str) -> None:
    """Remove a temporary copy, if it is still there."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_hash(path: str) -> str | None:
    try:
        with open(path, "rb") as handle:
            return sha256(handle.read())
    except FileNotFoundError:
        return None
