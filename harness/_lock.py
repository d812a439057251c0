"""Run folder locks: one process at a time works on a run.

Two ``--resume`` of the same run would each ask for every missing result, paying twice and
interleaving one journal. A run folder is therefore claimed with an OS file lock
(``flock``, exclusive, non-blocking) on ``<run>/lock``, held for the life of the run. The
kernel releases it when the process exits, however it exits (SIGKILL included), so a lock
is never stale; the holder's pid is written into the file only to name it in the message.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from harness.errors import HarnessError
from harness.home import run_lock_path

__all__ = ["RunLock"]


class RunLock:
    """A held lock on one run folder; ``release()`` (or leaving ``with``) frees it."""

    def __init__(self, fd: int, folder: Path) -> None:
        self._fd = fd
        self.folder = folder

    @classmethod
    def acquire(cls, folder: Path) -> RunLock:
        """Lock ``folder`` or raise :class:`HarnessError` naming the process that holds it."""
        fd = _open(folder)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise HarnessError(
                f"run {folder.name} is in use by another process (pid {holder})"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(fd, folder)

    @staticmethod
    def is_held(folder: Path) -> bool:
        """Whether a process works on ``folder`` now (a shared lock, taken and dropped at once:
        a ``--resume`` starting in that instant is refused with a message, never corrupted)."""
        try:
            fd = os.open(run_lock_path(folder), os.O_RDONLY)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing the only descriptor drops the flock
            self._fd = -1

    def __enter__(self) -> RunLock:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()


def _open(folder: Path) -> int:
    try:
        return os.open(run_lock_path(folder), os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise HarnessError(f"cannot lock run {folder.name}: {exc}") from exc


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        text = ""
    return text if text.isdigit() else "unknown"
