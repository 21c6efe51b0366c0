"""Files ordertrack replaces whole (the report, a backup, a small state file): written beside
the target and renamed over it, so a reader never sees half a file. A path is replaced only
when it holds a regular file or nothing: renaming over a FIFO, a device or a socket would
swap the node for a plain file (as root, `--out /dev/null` would replace the host's)."""

import errno
import os
import stat
from pathlib import Path

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class NotRegularFile(OSError):
    """The target exists and is not a regular file: nothing was written."""


def check_target(path: Path) -> None:
    """Raise NotRegularFile unless `path` is absent or a regular file (a link is followed:
    a link to /dev/null is refused too)."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return
    if stat.S_ISREG(mode):
        return
    kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
    raise NotRegularFile(errno.EINVAL, f"it is {kind}; only a regular file is replaced", str(path))


def replace_whole(path: Path, data: str | bytes, mode: int = 0o600) -> Path:
    """Write `data` to `path` (owner-only by default), replacing an earlier regular file whole.
    Refuses, before writing anything, a path that is not a regular file or absent."""
    check_target(path)
    partial = path.with_name(f".{path.name}.partial")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data.encode("utf-8") if isinstance(data, str) else data)
    try:
        check_target(path)  # it may have changed while we wrote
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return path
