"""Atomic writes: every artifact appears under its final name complete, or not at all."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import pathlib
import tempfile
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike[str], suffix: str = "") -> Iterator[pathlib.Path]:
    """Yield a temporary path beside ``final``; rename it onto ``final`` only if the block succeeds.

    ``suffix`` keeps a meaningful ending on the temporary name (e.g. ``.onnx`` or ``.npy``) for
    writers that look at it.
    """
    final = pathlib.Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp" + suffix, dir=final.parent)
    os.close(fd)
    tmp_path = pathlib.Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; artifacts get the usual mode
        os.replace(tmp_path, final)
    except Exception as e:
        tmp_path.unlink(missing_ok=True)
        raise_if_no_space(final, e)
        raise
    finally:
        tmp_path.unlink(missing_ok=True)


_NO_SPACE = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}


def no_space(folder: str | os.PathLike[str]) -> str | None:
    """Why ``folder`` cannot take another 64 KiB (disk full, quota, file-size limit), or None if it can.

    Libraries report a failed write in their own ways (torch raises RuntimeError); a probe write
    tells a full disk apart from a real bug."""
    probe = pathlib.Path(folder) / f".edgedistill-space-probe-{os.getpid()}"
    try:
        with open(probe, "wb") as f:
            f.write(b"\0" * 65536)
            f.flush()
            os.fsync(f.fileno())
        return None
    except OSError as e:
        return os.strerror(e.errno) if e.errno in _NO_SPACE else None
    finally:
        try:
            probe.unlink()
        except OSError:
            pass


def raise_if_no_space(target: str | os.PathLike[str], error: BaseException) -> None:
    """Turn a write that failed for lack of space into a one-line user error."""
    from .errors import EdgeDistillError

    if isinstance(error, EdgeDistillError):
        return
    target = pathlib.Path(target)
    why = os.strerror(error.errno) if isinstance(error, OSError) and error.errno in _NO_SPACE else no_space(target.parent)
    if why:
        raise EdgeDistillError(f"cannot write {target}: {why}; free some space (or raise the file-size limit) and run again; "
                               "files written before are intact") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(final: str | os.PathLike[str], text: str) -> None:
    with atomic_path(final) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(final: str | os.PathLike[str], obj: Any) -> None:
    write_text(final, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def sha256_file(path: str | os.PathLike[str]) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def ensure_out_dir(path: str | os.PathLike[str]) -> pathlib.Path:
    """Create an output folder, turning permission and 'is a file' problems into user errors."""
    from .errors import EdgeDistillError

    out = pathlib.Path(path)
    if out.exists() and not out.is_dir():
        raise EdgeDistillError(f"output path {out} is a file; give a folder path with -o")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=out, prefix=".write-test-", delete=True)
        probe.close()
    except OSError as e:
        raise EdgeDistillError(
            f"cannot write to output folder {out}: {e.strerror or e}; choose another folder with -o"
        ) from None
    return out
