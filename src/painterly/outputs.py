"""Where painterly's outputs go: never over an input, checked before the work, written atomically.

Every command writes through these few functions, so the promises of docs/reliability.md hold
for all of them:

- :func:`check_outputs` runs before the first step: it refuses an output that is (by symlink,
  hard link or ``..``) one of the run's inputs or another of its outputs, and proves that each
  output can be written by creating and removing a probe file beside it. It also removes the
  temporaries that a killed earlier run left in those folders.
- :func:`write_atomically` writes a temporary file beside the target and renames it over, so a
  full disk, a size limit or a kill leaves the old file whole or no file at all.

Temporaries are named ``.NAME.PID.RANDOM.tmp`` (videos: ``.STEM.partial.PID.SUFFIX``): the pid
tells a later run whether the writer is still alive.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO, Union

from .errors import ImageError

PathLike = Union[str, "os.PathLike[str]"]

# .NAME.PID.RANDOM.tmp (images, files) and .STEM.partial.PID.SUFFIX (videos)
_TEMPORARY = re.compile(r"^\.(?:.+\.(?P<pid>\d+)\.[A-Za-z0-9_]+\.tmp|.+\.partial\.(?P<vpid>\d+)\.[A-Za-z0-9]+)$")


def check_outputs(outputs: Iterable[PathLike], inputs: Iterable[PathLike] = ()) -> None:
    """Refuse, before any work, outputs that would overwrite an input or each other, or cannot be written.

    ``inputs`` are files (folders are walked: every file in them counts). Raises ImageError naming
    the output. Stale temporaries of killed runs in the outputs' folders are removed.
    """
    paths = [Path(p) for p in outputs]
    refuse_overwriting_inputs(paths, inputs)
    seen: dict[tuple[int, int] | Path, Path] = {}
    for path in paths:
        key = file_identity(path) or Path(os.path.abspath(path))
        if key in seen:
            raise ImageError(f"{_name(path)}: the same file is given as two outputs ({_name(seen[key])})")
        seen[key] = path
    probed: set[Path] = set()
    for path in paths:
        if path.is_dir():
            raise ImageError(f"{_name(path)}: is a folder; give a file name for the output")
        if path.parent in probed:
            continue  # one probe per folder: a mirrored tree of a thousand photos needs no more
        probe_writable(path)
        probed.add(path.parent)
        if path.parent.is_dir():
            remove_stale_temporaries(path.parent)


def refuse_overwriting_inputs(outputs: Iterable[PathLike], inputs: Iterable[PathLike]) -> None:
    """ImageError if an output is the same file as an input: by path, symlink, hard link or ``..``.

    Files are compared by (device, inode), which every way of naming one file shares.
    """
    protected: dict[tuple[int, int], str] = {}
    for path in _expand(inputs):
        identity = file_identity(path)
        if identity is not None:
            protected.setdefault(identity, os.fsdecode(path))
    for out in outputs:
        # A missing folder in the path ("new/../photo.jpg") hides the file from stat until the
        # writer creates that folder; the lexically normalised path finds it now.
        identity = file_identity(Path(out)) or file_identity(Path(os.path.abspath(out)))
        if identity is not None and identity in protected:
            source = protected[identity]
            also = "" if os.path.abspath(source) == os.path.abspath(out) else f" {one_line(source)} (the same file)"
            raise ImageError(f"{_name(out)}: refusing to overwrite the input file{also}; choose another output")


def probe_writable(path: PathLike) -> None:
    """Create and remove a probe file where ``path`` will be written; ImageError if that fails.

    Missing parent folders are not created here (the writer creates them); the nearest existing
    one must be a writable folder.
    """
    target = Path(path)
    name = _name(target)
    if target.is_dir():
        raise ImageError(f"{name}: is a folder; give a file name for the output")
    folder = target.parent
    while not os.path.lexists(folder) and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise ImageError(f"{name}: cannot be created: {_name(folder)} is a file, not a folder")
    try:
        fd, probe = _create_temporary(folder, target.name)
    except OSError as e:
        raise ImageError(f"{name}: cannot write in {_name(folder)} ({error_detail(e)})") from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)


def prepare_directory(target: PathLike) -> None:
    """Create the missing parent folders of ``target``; ImageError if that is impossible."""
    target = Path(target)
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ImageError(f"{_name(parent)}: output folder is not a folder") from None
    except OSError as e:
        raise ImageError(f"{_name(parent)}: cannot create output folder ({error_detail(e)})") from None
    if target.is_dir():
        raise ImageError(f"{_name(target)}: is a folder; give a file name for the output")


def write_atomically(
    target: PathLike,
    content: bytes | Callable[[BinaryIO], None],
    *,
    errors: tuple[type[BaseException], ...] = (),
    what: str = "file",
) -> Path:
    """Write ``content`` (bytes, or a function writing to a binary file) to ``target`` atomically.

    A temporary file beside the target is written, flushed to disk and renamed over the target,
    so readers never see half a file and a failure leaves the old file as it was. Exceptions of
    the types in ``errors`` (an encoder's) and OSError become ImageError naming the target.
    """
    target = Path(target)
    name = _name(target)
    prepare_directory(target)
    mode = _new_file_mode(target)
    encode = content if callable(content) else (lambda f: f.write(content))
    try:
        fd, tmp = _create_temporary(target.parent, target.name)
    except OSError as e:
        raise ImageError(f"{name}: cannot write {what} ({error_detail(e)})") from None
    os.close(fd)  # reopened by name: some encoders (tifffile) want a file object with a name
    try:
        with open(tmp, "wb") as f:
            encode(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)  # created 0600; users expect their umask
        os.replace(tmp, target)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError) and not isinstance(e, errors):
            raise ImageError(f"{name}: cannot write {what} ({error_detail(e)})") from None
        if isinstance(e, errors):
            raise ImageError(f"{name}: could not write {what} ({error_detail(e)})") from None
        raise
    _fsync_directory(target.parent)
    return target


def _create_temporary(folder: Path, name: str) -> tuple[int, str]:
    """A new, empty 0600 file ``.NAME.PID.RANDOM.tmp`` in ``folder`` (what remove_stale_temporaries
    recognises), opened for writing: tempfile.mkstemp's guarantees, without importing tempfile
    and with it shutil, bz2 and lzma (~7 ms of a 0.35 s `fast apply`)."""
    for _ in range(100):
        path = os.path.join(folder, f".{name}.{os.getpid()}.{os.urandom(6).hex()}.tmp")
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600), path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name in {folder}")


def partial_path(target: PathLike) -> Path:
    """Where a streamed output (a video) is written before it is renamed to ``target``."""
    target = Path(target)
    return target.with_name(f".{target.stem}.partial.{os.getpid()}{target.suffix}")


def remove_stale_temporaries(folder: PathLike) -> list[Path]:
    """Delete painterly's temporaries in ``folder`` whose writing process no longer runs.

    A process killed with SIGKILL cannot clean up; the next run in that folder does. Temporaries
    of a live process (another run writing there now) are left alone. Returns what was removed.
    """
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            match = _TEMPORARY.match(entry.name)
            if not match or not entry.is_file(follow_symlinks=False):
                continue
            pid = int(match.group("pid") or match.group("vpid"))
            if pid == os.getpid() or _process_alive(pid):
                continue
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


def same_file(a: PathLike, b: PathLike) -> bool:
    """True when both name one existing file (by device and inode), or the same absolute path."""
    ia, ib = file_identity(Path(a)), file_identity(Path(b))
    if ia is not None and ib is not None:
        return ia == ib
    return os.path.abspath(a) == os.path.abspath(b)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # someone else's process (or a pid we cannot ask about): leave its file alone
    return True


def _expand(paths: Iterable[PathLike]) -> Iterable[Path]:
    for p in paths:
        if p is None:
            continue
        path = Path(p)
        if path.is_dir():
            for root, _dirs, files in os.walk(path):
                for f in files:
                    yield Path(root) / f
        else:
            yield path


def file_identity(path: PathLike) -> tuple[int, int] | None:
    """(device, inode) of an existing regular file (after symlinks), else None."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISREG(st.st_mode) else None


def _new_file_mode(target: Path) -> int:
    with contextlib.suppress(OSError):
        return stat.S_IMODE(target.stat().st_mode)  # replacing a file: keep its permissions
    return 0o666 & ~_umask()


def _umask() -> int:
    # os.umask can only be read by setting it, which races with other threads; Linux shows it.
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status") as f:
        for line in f:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable on POSIX; directories cannot be opened on Windows.
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _name(path: PathLike) -> str:
    return one_line(os.fsdecode(path))


def one_line(text: str) -> str:
    """Text as one line of a message (file names may hold newlines)."""
    return " ".join(str(text).splitlines()) if text else text


def error_detail(e: BaseException) -> str:
    """What went wrong, for the brackets of a message: for OSError strerror alone, since str(e)
    would repeat the path the message starts with."""
    if isinstance(e, OSError) and e.strerror:
        return one_line(e.strerror)
    return one_line(str(e)) or type(e).__name__
