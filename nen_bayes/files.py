"""Writing results safely: atomic files and results directories that appear whole or not at all.

Every writer of the package goes through these functions, so an interrupted run never leaves a
half-written result, and an existing result is replaced only when the caller asks (``--force``).

A results directory is written into a hidden sibling, ``.<name>.<random>.partial``, renamed to
``<name>`` when complete. A run killed outright (SIGKILL, a power cut) cannot remove that
sibling, so it holds a small record of its owner (:data:`OWNER_FILE`: host, boot, process id
and start time). The next run that writes into the same folder removes every such leftover
whose process is gone, never one whose process is still alive (nor one written from another
host, whose processes cannot be seen from here), and says so in a warning (the scripts print
it as ``warning: removed 1 leftover of a run that did not finish: .results.ab12.partial
(1.1 GB)``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from nen_bayes.errors import OutputExistsError

__all__ = ["OWNER_FILE", "atomic_write_bytes", "atomic_write_text", "check_output_directory",
           "output_directory", "remove_leftovers"]

#: The owner record inside a partial results directory (removed before the rename).
OWNER_FILE = ".owner.json"
_WRITER = "nen_bayes"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, force: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, then rename).

    An existing file is kept unless ``force``; a failure leaves no partial file behind.
    """
    p = Path(path)
    if p.exists() and not force:
        raise OutputExistsError(f"{p} exists; pass force=True (--force) to overwrite it.")
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; results are ordinary files
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p


def atomic_write_text(path: str | os.PathLike, text: str, *, force: bool = False) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"), force=force)


def check_output_directory(path: str | os.PathLike, *, force: bool = False) -> Path:
    """Refuse early (before any computation) when ``path`` exists and ``force`` is not given;
    then remove the leftovers of killed runs beside it (see the module's docstring)."""
    p = Path(path)
    if p.exists() and not force:
        raise OutputExistsError(f"{p} exists; pass --force to replace it (nothing was written).")
    if p.exists() and not p.is_dir():
        raise OutputExistsError(f"{p} exists and is not a directory.")
    remove_leftovers(p)
    return p


# --- leftovers of killed runs ---------------------------------------------------------------
def _proc_stat(pid: int) -> tuple[str, int] | None:
    """``(state, start time in clock ticks after boot)`` of a process, from /proc (Linux);
    ``None`` where it cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return fields[0], int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def _owner_record() -> dict:
    stat = _proc_stat(os.getpid())
    return {"writer": _WRITER, "host": socket.gethostname(), "boot": _boot_id(),
            "pid": os.getpid(), "started": stat[1] if stat else None}


def _read_owner(directory: Path) -> dict | None:
    try:
        record = json.loads((directory / OWNER_FILE).read_text())
    except (OSError, ValueError):
        return None
    ok = isinstance(record, dict) and record.get("writer") == _WRITER and \
        isinstance(record.get("pid"), int) and record["pid"] > 0
    return record if ok else None


def _process_running(pid: int, *, started: int | None = None) -> bool:
    """Whether process ``pid`` of this host is running (and, given its start time, is the same
    process: a finished process's id may have been reused). A zombie has finished."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        pass  # it exists, under another user (or cannot be asked): running
    stat = _proc_stat(pid)
    if stat is None:
        return True
    state, start = stat
    return state not in ("Z", "X") and (started is None or start == started)


def _owner_gone(record: dict) -> bool:
    """Whether the process that wrote ``record`` has certainly ended (``False`` when it runs,
    and when it cannot be told: another host)."""
    if record.get("host") != socket.gethostname():
        return False
    boot = _boot_id()
    if record.get("boot") and boot and record["boot"] != boot:
        return True  # the machine was restarted since
    started = record.get("started")
    return not _process_running(record["pid"],
                                started=started if isinstance(started, int) else None)


def _size(directory: Path) -> int:
    total = 0
    for root, _, names in os.walk(directory):
        for name in names:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def _human(n: int) -> str:
    """A size in decimal units: ``9 bytes``, ``2.0 kB``, ``1.1 GB``."""
    if n < 1000:
        return f"{n} bytes"
    for unit in ("kB", "MB", "GB", "TB"):
        n /= 1000
        if n < 999.95 or unit == "TB":
            return f"{n:.1f} {unit}"
    raise AssertionError("unreachable")


def _leftovers(p: Path) -> tuple[list[Path], list[Path], list[Path]]:
    """Beside ``p``: the partial directories of this package whose owner is gone, this output's
    partial directories without an owner record, and this output's ``.old`` directories whose
    owner is gone (``.<name>.<pid>.old``: the previous results, while a run replaced them)."""
    dead, unowned, old = [], [], []
    mine = re.compile(rf"^\.{re.escape(p.name)}\.(?:[^/]+\.partial|(\d+)\.old)$")
    for entry in sorted(p.parent.iterdir()):
        if not entry.name.startswith(".") or entry.is_symlink() or not entry.is_dir():
            continue
        m = mine.match(entry.name)
        if entry.name.endswith(".partial"):
            record = _read_owner(entry)
            if record is None:
                if m:
                    unowned.append(entry)
            elif _owner_gone(record):
                dead.append(entry)
        elif m and m.group(1) and int(m.group(1)) > 0 and \
                not _process_running(int(m.group(1))):
            old.append(entry)
    return dead, unowned, old


def remove_leftovers(path: str | os.PathLike) -> list[str]:
    """Remove the leftovers of killed runs beside the results directory ``path`` (see the
    module's docstring); warn with what was removed, and with what was left in place that looks
    like this output's leftovers. Returns the messages (empty: nothing found)."""
    p = Path(path)
    if not p.parent.is_dir():
        return []
    dead, unowned, old = _leftovers(p)
    restore = [d for d in old if not p.exists()]
    removed = []
    for d in dead + [d for d in old if d not in restore]:
        size = _size(d)
        shutil.rmtree(d, ignore_errors=True)
        if not d.exists():
            removed.append(f"{d.name} ({_human(size)})")
    messages = []
    if removed:
        n = len(removed)
        messages.append(f"removed {n} leftover{'s' * (n > 1)} of "
                        f"{'a run' if n == 1 else 'runs'} that did not finish: "
                        + ", ".join(removed))
    if unowned:
        messages.append(
            "left in place: " + ", ".join(d.name for d in unowned) + f" in {p.parent}, "
            f"partial results of {p.name} with no record of the run that wrote them (an older "
            "version, or a run still writing); remove them by hand if no run is writing them")
    for d in restore:
        messages.append(f"{d.name} in {p.parent} holds the previous results of {p.name}, left "
                        f"by a run that stopped while replacing them: rename it to {p.name} to "
                        "restore them")
    for m in messages:
        warnings.warn(m, UserWarning, stacklevel=3)
    return messages


@contextmanager
def output_directory(path: str | os.PathLike, *, force: bool = False) -> Iterator[Path]:
    """A results directory that appears whole or not at all.

    Yields a temporary sibling directory to write into; on success it is renamed to ``path``
    (an existing ``path`` is replaced only with ``force``, and removed only after the new one is
    in place). On any error the temporary directory is deleted and ``path`` is left untouched.
    """
    p = check_output_directory(path, force=force)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=p.parent, prefix=f".{p.name}.", suffix=".partial"))
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700
        (tmp / OWNER_FILE).write_text(json.dumps(_owner_record()))
        yield tmp
        (tmp / OWNER_FILE).unlink(missing_ok=True)
        old = None
        if p.exists():
            old = p.with_name(f".{p.name}.{os.getpid()}.old")
            os.replace(p, old)
        os.replace(tmp, p)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
