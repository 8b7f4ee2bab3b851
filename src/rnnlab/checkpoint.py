"""Safe, atomic files: checkpoints without pickled objects, and writes that never tear.

A checkpoint is a `torch.save` archive of plain tensors, numbers and strings, loaded with
``torch.load(..., weights_only=True)``: a file that smuggles in a Python object is refused
before any of its code can run. It carries a format version and a SHA-256 of its weights.

    rnnlab forecast --run runs/sine --horizon 10
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import pickle
import re
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from .errors import CheckpointError, RnnlabError

FORMAT = "rnnlab-checkpoint"
FORMAT_VERSION = 1


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write through a temporary file in the same folder, then rename over `path`.

    A crash at any moment leaves either the old file or the complete new one. The file
    gets the usual mode under the user's umask (0644 under 022), not mkstemp's 0600. A
    failing disk (full, read-only, gone) is one RnnlabError naming the file.
    """
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _write_error(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), 0o666 & ~_umask())
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        # torch.save reports a full disk as a RuntimeError of its own: ask the disk.
        full = isinstance(exc, Exception) and not isinstance(exc, OSError) and \
            _no_space(path.parent)
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if full:
            exc = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        if isinstance(exc, OSError) and exc.errno is not None:
            raise _write_error(path, exc) from None
        raise
    _sync_folder(path.parent)


def _write_error(path: Path, exc: OSError) -> RnnlabError:
    code = errno.errorcode.get(exc.errno, exc.errno)
    return RnnlabError(f"cannot write '{path}': {exc.strerror or os.strerror(exc.errno)} "
                       f"({code}); free some space, fix the folder's permissions or write "
                       "elsewhere")


def _no_space(folder: Path) -> bool:
    try:
        return os.statvfs(folder).f_bavail == 0
    except (OSError, AttributeError):  # no statvfs on Windows
        return False


def _umask() -> int:
    """The process's umask, read without changing it (another thread may be creating files)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # no /proc (macOS): the only portable way is to set and restore
    os.umask(mask)
    return mask


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable: a power cut right after it keeps the new file."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # folders cannot be opened on some systems (Windows): the rename stands
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_text(path: str | Path, text: str) -> None:
    atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))


def write_json(path: str | Path, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, allow_nan=True, default=json_default) + "\n")


def json_default(value):
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def weights_checksum(state_dict: dict) -> str:
    """SHA-256 over every tensor's name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().cpu().contiguous()
        digest.update(name.encode())
        digest.update(str(tensor.dtype).encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def _meta_checksum(meta_text, tensors) -> str | None:
    """SHA-256 over the metadata text and the extra tensors (the series' tail)."""
    import torch

    if not isinstance(meta_text, str) or not isinstance(tensors, dict) or \
            not all(isinstance(v, torch.Tensor) for v in tensors.values()):
        return None
    return hashlib.sha256(meta_text.encode() + weights_checksum(tensors).encode()).hexdigest()


def save_checkpoint(path: str | Path, model_name: str, state_dict: dict, meta: dict,
                    extra_tensors: dict | None = None) -> None:
    """Save weights and JSON-able metadata atomically, with version and checksum."""
    import torch

    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": model_name,
        "meta": json.dumps(meta, default=json_default),
        "state_dict": {k: v.detach().cpu() for k, v in state_dict.items()},
        "tensors": {k: v.detach().cpu() for k, v in (extra_tensors or {}).items()},
        "checksum": weights_checksum(state_dict),
    }
    payload["meta_checksum"] = _meta_checksum(payload["meta"], payload["tensors"])
    atomic_write(path, lambda fh: torch.save(payload, fh))


def load_checkpoint(path: str | Path) -> dict:
    """Load and verify a checkpoint; any unsafe, damaged or foreign file is refused.

    Returns a dict with keys model, meta (a dict), state_dict, tensors, format_version.
    """
    import torch

    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint '{path}' not found; train a model first "
                              "(rnnlab train --out RUN_DIR)")
    damaged = (f"cannot read checkpoint '{path}': the file is truncated, corrupt or not a "
               "checkpoint")
    if not zipfile.is_zipfile(path):
        # rnnlab writes torch's zip format only; other files are never unpickled at all.
        raise CheckpointError(f"{damaged} (not a torch zip archive); retrain or restore it "
                              "from a copy")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
        if found is None:
            raise CheckpointError(f"{damaged} (its pickled index is damaged); retrain or "
                                  "restore it from a copy") from None
        raise CheckpointError(
            f"refused to load '{path}': it holds a Python object ({found.group(1)}) whose "
            "loading could run code, which rnnlab checkpoints never do; only load files you "
            "trust, and retrain to get a clean one"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, KeyError, OSError,
            TypeError, AttributeError, IndexError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{damaged} ({_first_line(exc)}); retrain or restore it from a "
                              "copy") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"'{path}' is not an rnnlab checkpoint (no {FORMAT!r} marker)")
    version = payload.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint '{path}' has format version {version!r}, newer than this rnnlab "
            f"reads ({FORMAT_VERSION}); upgrade rnnlab to load it"
        )
    state = payload.get("state_dict")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"checkpoint '{path}' has no valid weights; retrain it")
    if weights_checksum(state) != payload.get("checksum"):
        raise CheckpointError(
            f"checkpoint '{path}' failed its checksum: its weights were altered or damaged; "
            "retrain or restore it from a copy"
        )
    # Older files have no meta_checksum; any file written now has one.
    if "meta_checksum" in payload and payload["meta_checksum"] != _meta_checksum(
            payload.get("meta"), payload.get("tensors")):
        raise CheckpointError(
            f"checkpoint '{path}' failed its checksum: its metadata or stored series were "
            "altered or damaged; retrain or restore it from a copy"
        )
    try:
        meta = json.loads(payload["meta"])
    except (KeyError, TypeError, json.JSONDecodeError):
        raise CheckpointError(f"checkpoint '{path}' has unreadable metadata; retrain it") \
            from None
    return {"model": payload.get("model"), "meta": meta, "state_dict": state,
            "tensors": payload.get("tensors", {}), "format_version": version}


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    # Terminal colour codes in library messages would garble a one-line error.
    line = "".join(c for c in text[0] if c.isprintable()) if text else ""
    return line[:200] or type(exc).__name__
