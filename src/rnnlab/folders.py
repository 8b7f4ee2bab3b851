"""Folders rnnlab can prove are its own, written by one process at a time.

Every folder that train, compare, sweep or demo writes holds a marker, `.rnnlab-run`: the
kind of run, a run id and (for train) the files the run writes. rnnlab resumes, adds to or
replaces only folders that hold its own marker, and `--overwrite` deletes only the files
the marker lists. While a command writes, it holds an exclusive lock on `.rnnlab.lock` in
the folder, so a second writer is refused at once instead of mixing two runs.

    rnnlab train --data sine --out runs/a --overwrite
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import uuid
from pathlib import Path

from .checkpoint import read_json, write_json
from .errors import ConfigError, RnnlabError

MARKER = ".rnnlab-run"
LOCK = ".rnnlab.lock"
INTERNAL = (MARKER, LOCK)  # rnnlab's bookkeeping: not the user's files, not run output


def check_out(out: Path, overwrite: bool = False) -> None:
    """Refuse an --out that cannot be a folder, before anything is written."""
    try:
        _check_out(out, overwrite)
    except OSError as exc:  # a name too long, a loop of links: the path cannot be looked at
        raise RnnlabError(f"--out '{shown_path(out)}' cannot be used ({exc.strerror or exc}); "
                          "choose another --out") from None


@contextlib.contextmanager
def own_folder(out: Path, kind: str, what: str):
    """Hold `out` while the block writes into it (inspect's, explain's output): new or
    empty, or already a folder of this `kind`; a folder of the user's files, or another
    rnnlab writer's, is refused in one line and nothing in it is touched."""
    out = Path(out)
    check_out(out)
    with locked(out):
        claim(out, kind, what)
        yield out


def shown_path(out: Path) -> str:
    """A path short enough for a one-line message (a 4,000-character one is cut)."""
    text = str(out)
    return text if len(text) <= 80 else text[:60] + "..." + text[-10:]


def _check_out(out: Path, overwrite: bool) -> None:
    if out.is_symlink() and not out.exists():
        raise RnnlabError(f"--out '{out}' is a symbolic link to '{os.readlink(out)}', which "
                          "does not exist; create that folder, or pass another --out")
    if overwrite and out.is_symlink():
        raise RnnlabError(f"--overwrite will not clear '{out}': it is a symbolic link (to "
                          f"'{os.readlink(out)}'); pass the run folder itself")
    for folder in (out, *out.parents):
        if folder.exists():  # the nearest part of the path that is there already
            if not folder.is_dir():
                what = "is a file" if folder == out else f"lies under '{folder}', a file"
                raise RnnlabError(f"--out '{out}' {what}, not a folder; choose another --out")
            return


@contextlib.contextmanager
def locked(out: Path):
    """Create `out` if needed and hold its lock while the block runs; a second writer is
    refused with one line. A folder made here and left empty is removed again."""
    try:
        existed = out.exists()
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RnnlabError(f"cannot create folder '{shown_path(out)}': {exc.strerror}; choose "
                          "another --out") from None
    try:
        fd = _lock(out)
    except BaseException:
        _remove_if_empty(out, existed)
        raise
    try:
        yield
    finally:
        # Remove the file before letting go: a waiting locker then sees a new file (inode).
        with contextlib.suppress(OSError):
            os.unlink(out / LOCK)
        if fd is not None:
            os.close(fd)
        _remove_if_empty(out, existed)


def _lock(out: Path) -> int | None:
    path = out / LOCK
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o666)
        except OSError as exc:
            raise RnnlabError(f"cannot write in '{out}': {exc.strerror}; choose another "
                              "--out") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                # A file system without locks (some network mounts): carry on unguarded.
                logging.getLogger("rnnlab").info("cannot lock '%s' (%s): make sure no other "
                                                 "rnnlab writes there", out, exc.strerror)
                os.close(fd)
                return None
            pid = _holder(fd)
            os.close(fd)
            holder = f" (pid {pid})" if pid else ""
            raise RnnlabError(f"'{out}' is in use by another rnnlab process{holder}; wait "
                              "for it or choose another --out") from None
        try:
            current = os.stat(path, follow_symlinks=False).st_ino
        except FileNotFoundError:
            current = None
        if current == os.fstat(fd).st_ino:
            break
        os.close(fd)  # the holder removed this file as it let go: lock the new one
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
    except OSError:
        pass  # the pid is only for the message of a second writer
    return fd


def _holder(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).decode().strip())
    except (OSError, ValueError):
        return None


def _remove_if_empty(out: Path, existed: bool) -> None:
    if not existed:
        with contextlib.suppress(OSError):
            out.rmdir()


def read_marker(out: Path) -> dict | None:
    """The marker of a folder rnnlab made, or None (no marker, or not one of rnnlab's)."""
    path = out / MARKER
    try:
        if path.is_symlink() or not path.is_file():
            return None
        marker = read_json(path)
    except (OSError, RnnlabError):  # damaged, huge or nested too deep: not a marker
        return None
    if not isinstance(marker, dict) or marker.get("format") != "rnnlab-run" or \
            not isinstance(marker.get("kind"), str):
        return None
    files = marker.get("files", [])
    marker["files"] = [f for f in files if _plain_name(f)] if isinstance(files, list) else []
    return marker


def _plain_name(name) -> bool:
    return isinstance(name, str) and name not in ("", ".", "..", *INTERNAL) and \
        "/" not in name and "\\" not in name and "\0" not in name


def write_marker(out: Path, kind: str, files: tuple[str, ...] = ()) -> None:
    write_json(out / MARKER, {"format": "rnnlab-run", "kind": kind,
                              "run_id": uuid.uuid4().hex, "files": sorted(files)})


def user_files(out: Path) -> list[str]:
    """Names in `out` other than rnnlab's own bookkeeping (also the temporary file of a
    marker whose writer was killed before it could rename it)."""
    return sorted(p.name for p in out.iterdir() if p.name not in INTERNAL and not (
        p.name.startswith(f".{MARKER}.") and p.name.endswith(".tmp")))


def claim(out: Path, kind: str, what: str) -> None:
    """Make `out` (new or empty) a folder of this kind, accept one that already is, refuse
    anything else: another kind of rnnlab folder, or files rnnlab did not write."""
    marker = read_marker(out)
    if marker is not None:
        if marker["kind"] != kind:
            raise ConfigError(f"'{out}' holds an rnnlab {marker['kind']} run, not {kind} "
                              "results; choose another --out")
        return
    found = user_files(out)
    if found:
        shown = ", ".join(found[:3]) + (", ..." if len(found) > 3 else "")
        raise ConfigError(f"'{out}' is not an rnnlab {what}: it holds files ({shown}) and no "
                          f"{MARKER} marker of rnnlab's; choose another --out (a new or "
                          "empty folder)")
    write_marker(out, kind)


def remove_temps(folder: Path, names: list[str] | None = None) -> None:
    """Delete half-written files (`.NAME.XXXX.tmp`) a killed process left in its folder;
    with `names`, only those of these files."""
    patterns = [f".{name}.*.tmp" for name in names] if names is not None else [".*.tmp"]
    for pattern in patterns:
        for stale in folder.glob(pattern):
            if stale.is_file() and not stale.is_symlink():
                stale.unlink(missing_ok=True)


def _why_not_overwrite(out: Path, data: str | None, kind: str) -> str:
    """Why --overwrite would be refused for `out` (a message with the fix), or ""."""
    marker = read_marker(out)
    if marker is None or marker["kind"] != kind:
        what = "no" if marker is None else f"a {marker['kind']}"
        return (f"'{out}' is not an rnnlab run directory (it has {what} {MARKER} marker of a "
                f"{kind} run); --overwrite only replaces runs rnnlab made, so choose another "
                "--out")
    here, target = Path.cwd().resolve(), out.resolve()
    if target == here or target in here.parents:
        return (f"--overwrite will not clear '{out}': it is the current folder or holds it; "
                "run from elsewhere or choose another --out")
    if data is not None and Path(data).is_file() and target in Path(data).resolve().parents:
        return (f"--overwrite will not clear '{out}': it holds the input data '{data}'; move "
                "the data out of it or choose another --out")
    return ""


def occupied(out: Path, what: str, data: str | None = None, kind: str = "train",
             extra: str = "") -> str:
    """The message for an --out that already holds `what`: --overwrite is offered only
    where it would be accepted, so the fix offered is never refused next."""
    if _why_not_overwrite(out, data, kind):
        return (f"'{out}' already holds {what}, which --overwrite would not clear (it clears "
                f"only rnnlab's {kind} runs, never the current folder); choose another --out, "
                "e.g. a new folder")
    return f"'{out}' already holds {what}; choose another --out, or pass --overwrite to " \
        f"replace it{extra}"


def remove_run_files(out: Path, data: str | None = None, kind: str = "train") -> None:
    """For --overwrite: delete the files a train run wrote into `out`, and nothing else.

    Refused unless `out` holds rnnlab's marker of a run of this `kind`; never in the
    current folder or one above it, nor in a folder that holds the input data file.
    """
    why_not = _why_not_overwrite(out, data, kind)
    if why_not:
        raise RnnlabError(why_not)
    marker = read_marker(out)
    for name in marker["files"]:
        path = out / name
        if path.is_symlink() or path.is_file():
            path.unlink(missing_ok=True)
    remove_temps(out, marker["files"])
    (out / MARKER).unlink(missing_ok=True)
