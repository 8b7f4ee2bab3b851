"""Safe, atomic files: checkpoints without pickled objects, and writes that never tear.

A checkpoint is a `torch.save` archive of plain tensors, numbers and strings, loaded with
``torch.load(..., weights_only=True)``: a file that smuggles in a Python object is refused
before any of its code can run. It carries a format version and a SHA-256 of its weights.
Run files are opened only when they are regular files (a FIFO or /dev/zero would never
answer), and a zip whose directory promises far more bytes than the file holds (a zip
bomb) is refused before anything is unpacked.

    rnnlab forecast --run runs/sine --horizon 10
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import pickle
import pickletools
import stat
import struct
import tempfile
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from .errors import CheckpointError, RnnlabError

FORMAT = "rnnlab-checkpoint"
FORMAT_VERSION = 1
# rnnlab stores zip members uncompressed, so their unpacked sizes add up to about the
# file's own size; the slack admits a recompressed copy, never a zip bomb (1 GB from 1 MB).
UNPACK_RATIO = 16
UNPACK_SLACK = 16 << 20
# Bounds on a saved network's size, chosen (not measured) far above anything worth training
# on one series, and small enough that checking a forged file's network (on torch's meta
# device, see Forecaster.load) takes at most a second or so instead of hours.
MAX_LAYERS = 64
MAX_HIDDEN = 65536
# A saved network's state holds 4 tensors per recurrent layer and a few more (at most
# about 4 x MAX_LAYERS + 10); 20,000 views of one storage would take minutes to hash.
MAX_TENSORS = 2048
# Weights act on values in model units (about unit size): a trained net never gets near
# this, and a forged one this large gives forecasts of no meaning.
MAX_WEIGHT = 1e12
# Every JSON file rnnlab writes into a run (config, metrics, marker, compare records) is a
# few KB to a few MB; reading a damaged 20 GB one whole would take the machine's memory.
MAX_JSON_BYTES = 256 << 20


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


def read_json(path: str | Path, limit: int = MAX_JSON_BYTES):
    """The JSON document in `path`, read only as a regular file of at most `limit` bytes.

    A missing file raises FileNotFoundError (each caller says what that means); anything
    else that keeps it from being read (too large, not JSON, nested too deep to parse) is
    one CheckpointError naming the file, the rule and the fix.
    """
    path = Path(path)
    with open_regular(path) as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > limit:
            raise CheckpointError(
                f"refused to read '{path}': it holds {size:,} bytes, over the {limit:,} an "
                "rnnlab JSON file may hold; it was damaged or replaced: restore it from a "
                "copy, or write it again (train the run again)")
        data = fh.read(limit + 1)
    try:
        return json.loads(data)
    except RecursionError:
        problem = "it is nested too deeply to parse"
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        problem = f"it is not JSON ({_first_line(exc)[:120]})"
    raise CheckpointError(f"cannot read '{path}': {problem}, which no file rnnlab writes is; "
                          "it was edited or damaged: restore it from a copy, or write it again "
                          "(train the run again)")


def content_sha256(doc: dict) -> str:
    """SHA-256 of a JSON object without its own "sha256" key, keys sorted: what
    `write_checked_json` records and `checked_json_ok` compares."""
    body = {k: v for k, v in doc.items() if k != "sha256"}
    text = json.dumps(body, sort_keys=True, allow_nan=True, default=json_default)
    return hashlib.sha256(text.encode()).hexdigest()


def write_checked_json(path: str | Path, doc: dict) -> None:
    """`write_json` with a "sha256" of the rest of the object, as checkpoints carry one, so
    an edited or damaged record is told from one rnnlab wrote."""
    body = json.loads(json.dumps(doc, allow_nan=True, default=json_default))
    write_json(path, {**body, "sha256": content_sha256(body)})


def checked_json_ok(doc) -> bool:
    """Whether `doc` is an object whose "sha256" matches the rest of it."""
    return isinstance(doc, dict) and isinstance(doc.get("sha256"), str) and \
        doc["sha256"] == content_sha256(doc)


def open_regular(path: str | Path) -> IO[bytes]:
    """Open `path` for reading, refusing anything but a regular file in one line.

    A FIFO blocks the reader forever and /dev/zero never ends, so both are refused from
    their file type before a byte is read; O_NONBLOCK keeps the open itself from waiting
    on a FIFO swapped in after the check, and fstat checks the file actually opened.
    """
    path = Path(path)
    try:
        kind = _file_kind(os.stat(path).st_mode)
        if kind is None:
            flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
            fd = os.open(path, flags)
            kind = _file_kind(os.fstat(fd).st_mode)
            if kind is None:
                return os.fdopen(fd, "rb")
            os.close(fd)
    except FileNotFoundError:
        raise  # each caller says what a missing file means
    except OSError as exc:
        raise CheckpointError(f"cannot read '{path}' ({exc.strerror or exc}); check that it "
                              "is a readable file") from None
    raise CheckpointError(f"refused to read '{path}': it is {kind}, not a regular file, and "
                          "rnnlab writes only regular files; replace it with the file rnnlab "
                          "wrote, or retrain")


def _file_kind(mode: int) -> str | None:
    if stat.S_ISREG(mode):
        return None
    kinds = {stat.S_ISFIFO: "a FIFO (named pipe)", stat.S_ISCHR: "a character device",
             stat.S_ISBLK: "a block device", stat.S_ISSOCK: "a socket",
             stat.S_ISDIR: "a folder"}
    return next((name for test, name in kinds.items() if test(mode)), "a special file")


def check_unpacked_size(archive: zipfile.ZipFile, path: str | Path, file_bytes: int) -> None:
    """Refuse a zip whose members would unpack to far more than the file's size.

    The sizes come from the zip directory, which bounds what both zipfile and torch read,
    so a zip bomb is refused before anything is decompressed.
    """
    unpacked = sum(info.file_size for info in archive.infolist())
    limit = UNPACK_RATIO * file_bytes + UNPACK_SLACK
    if unpacked > limit:
        raise CheckpointError(
            f"refused to read '{path}': its {len(archive.infolist())} zip members would "
            f"unpack to {unpacked:,} bytes from a {file_bytes:,}-byte file (at most "
            f"{limit:,}), which no rnnlab file does; it is a zip bomb or damaged; retrain or "
            "restore it from a copy")


def pickle_globals(data: bytes) -> list[str]:
    """The module.name of every global a pickle refers to, read without running it.

    Stops quietly at the first damaged opcode: what was found before it still counts.
    """
    names, pushed = [], []  # pushed: what the last two opcodes put on the stack
    try:
        for op, arg, _ in pickletools.genops(data):
            if op.name in ("GLOBAL", "INST"):
                names.append(arg.replace(" ", "."))
            elif op.name == "STACK_GLOBAL":
                named = len(pushed) == 2 and all(isinstance(p, str) for p in pushed)
                names.append(".".join(pushed) if named else "a global named from the memo")
            if op.name not in ("BINPUT", "LONG_BINPUT", "PUT", "MEMOIZE"):
                text = arg if isinstance(arg, str) and "UNICODE" in op.name else None
                pushed = [*pushed, text][-2:]
    except (ValueError, EOFError, UnicodeDecodeError):
        pass
    return names


def _is_torch_global(name: str) -> bool:
    """The globals torch.save itself writes for plain tensors (rebuild helpers, storages)."""
    return name == "collections.OrderedDict" or name.startswith("torch._utils._rebuild") or \
        (name.startswith("torch.") and name.endswith("Storage"))


def _archive_pickle(fh: IO[bytes]) -> bytes:
    """The bytes of data.pkl, the pickled index of a torch zip archive."""
    with zipfile.ZipFile(fh) as archive:
        names = [n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
        return archive.read(names[0]) if len(names) == 1 else b""


def recorded_checksums(checkpoint: str | Path) -> dict[str, str]:
    """The checksum and meta_checksum strings that a checkpoint records, without torch.

    Found in the opcodes of its pickled index (nothing is unpickled), so the numpy
    sidecar can be checked against the very checkpoint beside it.
    """
    with open_regular(checkpoint) as fh:
        check_archive(fh, Path(checkpoint))
        data = _archive_pickle(fh)
    strings = []
    try:
        for op, arg, _ in pickletools.genops(data):
            if isinstance(arg, str) and "UNICODE" in op.name:
                strings.append(arg)
    except (ValueError, EOFError, UnicodeDecodeError):
        return {}
    found = {}
    for key in ("checksum", "meta_checksum"):
        values = [strings[i + 1] for i in range(len(strings) - 1) if strings[i] == key]
        if len(values) == 1:  # two would be a forged index: trust neither
            found[key] = values[0]
    return found


def read_npz(fh, path: Path) -> dict:
    """The arrays of an npz file, refusing any member whose header claims more than it holds.

    `np.load` would allocate whatever shape a header names (10**12 elements, a
    MemoryError) before finding the data missing; here the zip directory's sizes bound
    the archive and each npy header must match its member's size exactly.
    """
    from numpy.lib import format as npy  # numpy: kept off `rnnlab --help`

    arrays = {}
    with zipfile.ZipFile(fh) as archive:
        try:
            check_unpacked_size(archive, path, os.fstat(fh.fileno()).st_size)
        except CheckpointError as exc:
            raise ValueError(str(exc)) from None
        for info in archive.infolist():
            with archive.open(info) as member:
                version = npy.read_magic(member)
                read_header = npy.read_array_header_1_0 if version == (1, 0) else \
                    npy.read_array_header_2_0
                shape, _, dtype = read_header(member)
                data_bytes = info.file_size - member.tell()
            if dtype.hasobject or math.prod(shape) * dtype.itemsize != data_bytes:
                raise ValueError(f"member {info.filename} claims shape {shape} of {dtype}, "
                                 f"which does not fit its {data_bytes} bytes")
            with archive.open(info) as member:
                arrays[info.filename.removesuffix(".npy")] = npy.read_array(
                    member, allow_pickle=False)
    return arrays


def check_model_params(params, n_tail: int, path: str | Path) -> None:
    """Refuse network sizes that no saved model has, before a network is built from them.

    A forged file asking for 10**6 layers would take hours to build. `seq_len` cannot
    exceed the stored tail, which always holds at least one window.
    """
    if not isinstance(params, dict):
        raise CheckpointError(f"checkpoint '{path}' has no model parameters; retrain it")
    limits = {"num_layers": MAX_LAYERS, "hidden_size": MAX_HIDDEN, "seq_len": n_tail}
    for name, most in limits.items():
        value = params.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= most:
            raise CheckpointError(
                f"checkpoint '{path}' names {name}={value!r}, outside 1..{most}"
                f"{' (the length of its stored series)' if name == 'seq_len' else ''}, which "
                "no saved model has; it was edited or damaged; retrain it")


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
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint '{path}' not found; train a model first "
                              "(rnnlab train --out RUN_DIR)")
    damaged = _damaged(path)
    with open_regular(path) as fh:
        check_archive(fh, path)
        file_bytes = os.fstat(fh.fileno()).st_size
        import torch  # only now: refusing a forged file needs no torch, and takes no memory

        try:
            with warnings.catch_warnings():
                # torch warns (two lines) about a blocked global before refusing it: the
                # refusal below says what the file holds, in one line.
                warnings.simplefilter("ignore", UserWarning)
                payload = torch.load(fh, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError:
            fh.seek(0)
            _refuse_unpickling(path, fh, damaged)
        except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, KeyError, OSError,
                TypeError, AttributeError, IndexError, UnicodeDecodeError, struct.error) as exc:
            raise CheckpointError(f"{damaged} ({_first_line(exc)}); retrain or restore it "
                                  "from a copy") from None
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
    tensors = payload.get("tensors", {})
    if not isinstance(tensors, dict) or \
            not all(isinstance(v, torch.Tensor) for v in tensors.values()):
        raise CheckpointError(f"checkpoint '{path}' has no valid stored series; retrain it")
    # Before any checksum: hashing reads every tensor in full, however it was forged.
    check_tensors({**{f"weight {k}": v for k, v in state.items()},
                   **{f"stored {k}": v for k, v in tensors.items()}}, path, file_bytes)
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
    except (KeyError, TypeError, json.JSONDecodeError, RecursionError):
        raise CheckpointError(f"checkpoint '{path}' has unreadable metadata; retrain it") \
            from None
    return {"model": payload.get("model"), "meta": meta, "state_dict": state,
            "tensors": tensors, "format_version": version}


def check_tensors(tensors: dict, path: str | Path, file_bytes: int) -> None:
    """Refuse stored tensors that no rnnlab checkpoint holds, before any is read in full.

    At most MAX_TENSORS of them; each must own the bytes it shows (a tensor of shape
    (10**12,) with stride 0 shows 4 TB of one stored value), all together no more than
    the file could unpack to; every number finite, weights within ±MAX_WEIGHT and stored
    series within ±MAX_MAGNITUDE (the bound on a series' values). Keys name the tensor
    for the message ("weight rnn.weight_hh_l0", "stored tail").
    """
    import torch

    from .base import MAX_MAGNITUDE  # with numpy and pandas: kept off `rnnlab --help`

    def refuse(problem: str) -> None:
        raise CheckpointError(f"refused to load '{path}': {problem}, which no rnnlab "
                              "checkpoint holds; it was edited or damaged: retrain it, or "
                              "restore it from a copy")

    if len(tensors) > MAX_TENSORS:
        refuse(f"it holds {len(tensors):,} tensors, over {MAX_TENSORS:,}")
    shown, limit = 0, UNPACK_RATIO * file_bytes + UNPACK_SLACK
    for name, tensor in tensors.items():
        size = tensor.numel() * tensor.element_size()
        if size > tensor.untyped_storage().nbytes():
            refuse(f"{name} has shape {tuple(tensor.shape)} over a storage of "
                   f"{tensor.untyped_storage().nbytes():,} bytes (a view that repeats values)")
        shown += size
        if shown > limit:
            refuse(f"its tensors show {shown:,} bytes from a {file_bytes:,}-byte file (at "
                   f"most {limit:,}): views that share one storage")
    for name, tensor in tensors.items():
        if not tensor.is_floating_point() or not tensor.numel():
            continue
        bound = MAX_WEIGHT if name.startswith("weight ") else MAX_MAGNITUDE
        values = tensor.detach().double()
        if not bool(torch.isfinite(values).all()):
            refuse(f"{name} holds NaN or infinite values")
        largest = float(values.abs().max())
        if largest > bound:
            refuse(f"{name} holds a value of magnitude {largest:.3g}, beyond ±{bound:.0e}")


def _damaged(path: Path) -> str:
    return f"cannot read checkpoint '{path}': the file is truncated, corrupt or not a checkpoint"


def check_archive(fh: IO[bytes], path: Path) -> None:
    """Refuse a file that is not a zip archive, or whose members would unpack to far more
    than its size; leaves `fh` at its start. Needs no torch."""
    try:
        if not zipfile.is_zipfile(fh):
            # rnnlab writes torch's zip format only; other files are never unpickled at all.
            raise CheckpointError(f"{_damaged(path)} (not a torch zip archive); retrain or "
                                  "restore it from a copy")
        with zipfile.ZipFile(fh) as archive:
            check_unpacked_size(archive, path, os.fstat(fh.fileno()).st_size)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
        # NotImplementedError: a flipped byte can name a compression zipfile lacks
        raise CheckpointError(f"{_damaged(path)} ({_first_line(exc)}); retrain or restore it "
                              "from a copy") from None
    fh.seek(0)


def check_checkpoint_file(path: str | Path) -> None:
    """The checks of `load_checkpoint` that need no torch: a regular file, a sane zip."""
    path = Path(path)
    if not path.exists():
        return  # load_checkpoint says what to do
    with open_regular(path) as fh:
        check_archive(fh, path)


def _refuse_unpickling(path: Path, fh: IO[bytes], damaged: str) -> None:
    """Say why torch's safe unpickler refused `path`: a pickled object, or a damaged index.

    Told apart from the pickle's own opcodes, not from torch's wording, which changes
    between releases (torch 2.13 says "whose module posix is blocked" for os.system).
    """
    try:
        foreign = [name for name in pickle_globals(_archive_pickle(fh))
                   if not _is_torch_global(name)]
    except (zipfile.BadZipFile, OSError, ValueError, KeyError):
        foreign = []
    if not foreign:
        raise CheckpointError(f"{damaged} (its pickled index is damaged); retrain or "
                              "restore it from a copy") from None
    raise CheckpointError(
        f"refused to load '{path}': it holds a pickled Python object ({foreign[0]}) whose "
        "loading could run code, which rnnlab checkpoints never do; the file is unsafe: "
        "only load files you trust, and retrain to get a clean one"
    ) from None


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    # Terminal colour codes in library messages would garble a one-line error.
    line = "".join(c for c in text[0] if c.isprintable()) if text else ""
    return line[:200] or type(exc).__name__
