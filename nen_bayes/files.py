"""Writing results safely: atomic files and results directories that appear whole or not at all.

Every writer of the package goes through these functions, so an interrupted run never leaves a
half-written result, and an existing result is replaced only when the caller asks (``--force``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from nen_bayes.errors import OutputExistsError

__all__ = ["atomic_write_bytes", "atomic_write_text", "check_output_directory",
           "output_directory"]


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
    """Refuse early (before any computation) when ``path`` exists and ``force`` is not given."""
    p = Path(path)
    if p.exists() and not force:
        raise OutputExistsError(f"{p} exists; pass --force to replace it (nothing was written).")
    if p.exists() and not p.is_dir():
        raise OutputExistsError(f"{p} exists and is not a directory.")
    return p


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
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700
    try:
        yield tmp
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
