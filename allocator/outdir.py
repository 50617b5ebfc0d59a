"""Where a command writes its output folder, and what it may replace there; nothing else ever is.

Every folder ``allocate`` writes (a run, a sweep, a comparison, a simulation) is filled in a hidden
staging folder beside it, ``.<name>.partial-<pid>``, and renamed into place only when complete:

- a new name is taken by a rename that fails when a non-empty folder is there, so two processes never
  share one; a default name gets the first free suffix (``-2``, ``-3``, …);
- ``--force`` replaces only a folder allocate wrote holding nothing else (a run by its ``manifest.json``,
  any other output by its ``allocate.json``), and never the root, home or current folder nor a folder
  holding an input. The old folder is renamed aside (``.<name>.aside-<pid>``), the new one in, then the
  old one is deleted (as ``.<name>.trash-<pid>``), so a kill at any moment leaves one of them whole;
- the hidden folders of processes that died are cleaned the next time anything is written beside them,
  and an aside folder whose name is free is put back; only folders allocate can tell are its own (an output
  it wrote, or one holding its in-progress mark) or empty ones are touched, whatever their names.

:func:`check` refuses whatever can be refused before anything is solved.
"""

from __future__ import annotations

import errno
import itertools
import json
import os
import re
import shutil
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from allocator.errors import InputError, InternalError
from allocator.paths import NAME_MAX, path_problem, resolved, shown
from allocator.runformat.names import LANGUAGES, MANIFEST, MANIFEST_REQUIRED, REPORTS, RUN_FILES, report_file

#: The mark of an output folder other than a run (a run is known by its manifest.json).
MARKER = "allocate.json"
#: What each kind of output folder holds (a run may also hold the reports of :data:`_REPORTS`).
_FILES = {
    "run": RUN_FILES,
    "sweep": {MARKER, "sweep.csv", "sweep.md", "sweep.png", "sweep.html"},
    "compare": {MARKER, "comparison.csv", "comparison.md", "comparison.html", "by_zone.csv", "by_province.csv", "projects.csv",
                "churn.csv", "comparison.xlsx"},
    "simulate": {MARKER, "draws.csv", "summary.csv", "regions_at_risk.csv", "simulation.png", "summary.md"},
    "export": {MARKER},
    "starter": set(),  # allocate init's folder: the user's own from then on, never replaced
}
_KIND_NAMES = {"run": "a run", "sweep": "a sweep", "compare": "a comparison", "simulate": "a simulation",
               "export": "exported reports", "starter": "a starter folder"}
#: The budget-proposal reports, in each language allocate writes (``report.md``, ``report_en.md``); nothing else of the
#: kind (``report_final.md`` is the user's own).
_REPORTS = frozenset(report_file(name, lang) for name in REPORTS for lang in LANGUAGES)
#: Kinds that keep the runs they solved in ``runs/`` (a run: the provinces' runs of ``allocate cascade``).
_WITH_RUNS = ("sweep", "compare", "run")
#: The file that marks a hidden staging or trash folder as allocate's work in progress.
IN_PROGRESS = ".allocate-in-progress"
_HIDDEN = re.compile(r"\.(?P<name>.+)\.(?P<role>partial|aside|trash|probe)-(?P<pid>\d+)")
#: The longest output folder name that leaves room for its hidden ``.<name>.partial-<pid>`` sibling.
LONGEST_NAME = NAME_MAX - len("..partial-") - 10
_SHOWN = 5


@dataclass(frozen=True)
class Target:
    """An output folder: its `path`, its `kind`, whether `force` may replace an output already there,
    whether `path` is a default name (`unique`: the first free of path, path-2, … is taken), the
    `inputs` it may never cover, and the `option` that named it (for messages)."""

    path: Path
    kind: str = "run"
    force: bool = False
    unique: bool = False
    inputs: tuple[Path, ...] = ()
    option: str = "--out"


@dataclass
class Staged:
    """The hidden folder to fill; `path` is the output folder once the block has completed."""

    staging: Path
    committed: Path | None = None

    @property
    def path(self) -> Path:
        """The output folder: known once the block has completed."""
        if self.committed is None:
            raise InternalError(f"the output folder of {self.staging} was asked for before it was written (a bug)")
        return self.committed


def check(target: Target) -> None:
    """Refuse, before anything is solved, an output folder that cannot or may not be written."""
    absolute = _absolute(target)
    _refuse_protected(target, absolute)
    if not target.unique:
        _refuse_existing(target, absolute)
    folder = _existing_folder(target, absolute.parent)
    clean_stale(absolute.parent)
    _probe(target, folder, absolute.name)


@contextmanager
def staged(target: Target) -> Iterator[Staged]:
    """Fill ``.staging`` of the yielded :class:`Staged`; it becomes the output folder when the block completes.

    An OSError while writing (a full disk, say) becomes an :class:`InputError` naming the folder; nothing
    is left behind and any folder already under the name is unchanged."""
    check(target)
    parent = target.path.parent
    made = _make_folders(target, parent)
    slot = Staged(parent / f".{target.path.name}.partial-{os.getpid()}")
    try:
        _fresh(slot.staging)
        if target.kind not in ("run", "starter"):
            write_marker(slot.staging, target.kind)
        yield slot
        os.unlink(slot.staging / IN_PROGRESS)
        slot.committed = _commit(target, slot.staging)
    except OSError as exc:
        file = Path(exc.filename).name if exc.filename else ""
        raise _refusal(target, f"cannot write {'the folder' if file.startswith('.') or not file else file}: "
                               f"{exc.strerror or exc}; nothing was written and anything already there is unchanged") from None
    finally:
        _discard(slot.staging)
        if slot.committed is None:
            _remove_empty(made)


@contextmanager
def exported(target: Target, run: Path) -> Iterator[Path]:
    """A hidden folder to write the reports of `run` in, whose files all end up in `target`: a new folder
    appears with every one of them; into an existing one (empty, `run` itself or a folder of earlier
    exports) each is moved once complete. Any other folder is refused: its files are not this run's."""
    absolute, source = _absolute(target), str(resolved(Path(run)))
    try:
        info = os.lstat(absolute)
    except (FileNotFoundError, NotADirectoryError):
        with staged(target) as slot:
            write_marker(slot.staging, "export", run=source)
            yield slot.staging
        return
    except OSError as exc:
        raise _refusal(target, exc.strerror or str(exc)) from None
    _refuse_link_or_file(target, absolute, info)
    clean_stale(absolute)
    entries = _listing(target, absolute)
    kind = kind_of(absolute) if entries else None
    if kind == "run" and absolute != resolved(Path(run)):
        raise _refusal(target, "is another run's directory, whose reports this export would replace: "
                               f"choose another {target.option}")
    if entries and kind not in ("run", "export"):
        raise _refusal(target, f"{_foreign_text(foreign_files(absolute, kind))}; export writes only into a new or empty "
                               f"folder, the run's own directory or a folder of earlier exports: choose another {target.option}")
    marker = _json(absolute / MARKER)
    exported_from = marker.get("run") if isinstance(marker, dict) else None
    if kind == "export" and exported_from != source:
        raise _refusal(target, f"holds the reports of {'another run, ' + str(exported_from) if exported_from else 'an unnamed run'}; "
                               f"the reports of two runs never share a folder: choose another {target.option}")
    staging = target.path / f".export.partial-{os.getpid()}"
    try:
        _fresh(staging)
        if not entries:
            write_marker(staging, "export", run=source)
        yield staging
        for file in sorted(staging.iterdir()):
            if file.name != IN_PROGRESS:
                os.replace(file, target.path / file.name)
    except OSError as exc:
        failed = Path(exc.filename).name if exc.filename else ""
        raise _refusal(target, f"cannot write {'the reports' if failed.startswith('.') or not failed else failed}: "
                               f"{exc.strerror or exc}; the reports already there are unchanged") from None
    finally:
        _discard(staging)


def writable_file(path: Path, option: str) -> None:
    """Refuse a file name no file system can hold, or one whose folder is a file or cannot be written."""
    target = Target(path, option=option)
    absolute = _absolute(target)
    _probe(target, _existing_folder(target, absolute.parent), absolute.name)


def new_file(path: Path, option: str) -> None:
    """Refuse, as :func:`writable_file` does, and also any name already taken (a file, or a link that would be written
    through): a file is written only under a new name (:func:`write_new_file`)."""
    writable_file(path, option)
    if os.path.lexists(path):
        raise _refusal(Target(path, option=option), "already exists: allocate writes this file only under a new name "
                                                    "(delete it, or choose another)")


def write_new_file(path: Path, write: Callable[[Path], object], option: str) -> None:
    """`write` to a hidden file beside `path`, then link it in under `path`, which must still be free: a file or link
    that appeared meanwhile is neither replaced nor written through."""
    target = Target(path, option=option)
    partial = path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")
    try:
        write(partial)
        os.link(partial, path)
    except FileExistsError:
        raise _refusal(target, "appeared while the file was being written; it was left as it is") from None
    except OSError as exc:
        raise _refusal(target, f"cannot write the file: {exc.strerror or exc}") from None
    finally:
        if os.path.lexists(partial):
            os.unlink(partial)


def write_marker(folder: Path, kind: str, *, run: str | None = None) -> None:
    """The mark of an output of `kind` (an export's names the `run` whose reports it holds)."""
    content = {"written_by": "allocate", "kind": kind, "created": datetime.now(UTC).isoformat(timespec="seconds"),
               **({"run": run} if run is not None else {})}
    (folder / MARKER).write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")


def kind_of(folder: Path) -> str | None:
    """Which output of allocate `folder` is ("run", "sweep", …), or None if it is none of them."""
    manifest = _json(folder / MANIFEST)
    if isinstance(manifest, dict) and set(MANIFEST_REQUIRED) <= manifest.keys() and "allocator" in (manifest.get("versions") or {}):
        return "run"
    marker = _json(folder / MARKER)
    if isinstance(marker, dict) and marker.get("written_by") == "allocate" and marker.get("kind") in _FILES:
        return str(marker["kind"])
    return None


def foreign_files(folder: Path, kind: str | None) -> list[str]:
    """The entries of `folder` (an output of `kind`, or of none) that allocate did not write; sub-folders end in '/'."""
    found = []
    for entry in sorted(folder.iterdir()):
        if kind is None:
            found.append(_shown_entry(entry))
        elif entry.name == "runs" and kind in _WITH_RUNS and _is_folder(entry):
            for run in sorted(entry.iterdir()):
                inner = foreign_files(run, "run") if _is_folder(run) and kind_of(run) == "run" else [""]
                found += [f"runs/{run.name}/{name}" if name else f"runs/{_shown_entry(run)}" for name in inner]
        elif not (_is_file(entry) and (entry.name in _FILES[kind] or kind in ("run", "export") and entry.name in _REPORTS)):
            found.append(_shown_entry(entry))
    return found


def clean_stale(folder: Path) -> None:
    """Remove the hidden folders of dead processes in `folder`, putting back an aside folder whose name is free. A
    folder is touched only when it is empty or allocate's own (:func:`_ours`): a user's ``.notes.trash-123`` stays."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        match = _HIDDEN.fullmatch(entry.name)
        if not match or not entry.is_dir(follow_symlinks=False) or process_alive(int(match["pid"])):
            continue
        path, home = Path(entry.path), Path(folder) / match["name"]
        try:
            if not any(path.iterdir()):
                os.rmdir(path)
            elif not _ours(path):
                continue
            elif match["role"] == "aside" and not os.path.lexists(home):
                os.rename(path, home)
            else:
                _remove(path)
        except OSError:
            continue  # another process is cleaning it too, or it cannot be removed: left for the next time


def _ours(folder: Path) -> bool:
    """Did allocate make `folder`: an output it wrote, or a staging or trash folder holding its in-progress mark?"""
    return _is_file(folder / IN_PROGRESS) or kind_of(folder) is not None


def _remove(folder: Path) -> None:
    """Delete allocate's own `folder`, its in-progress mark last, so a kill halfway leaves a folder still known as ours."""
    _mark(folder)
    for entry in folder.iterdir():
        if entry.name == IN_PROGRESS:
            continue
        if _is_folder(entry):
            shutil.rmtree(entry)
        else:
            entry.unlink()
    os.unlink(folder / IN_PROGRESS)
    os.rmdir(folder)


def _discard(folder: Path) -> None:
    """Remove this process's staging `folder` if it is there and allocate's own (never a folder it found)."""
    try:
        if _is_folder(folder) and _ours(folder):
            _remove(folder)
    except OSError:
        pass  # cleaned once this process has ended


def _mark(folder: Path) -> None:
    (folder / IN_PROGRESS).write_text(f"allocate, process {os.getpid()}\n", encoding="utf-8")


# The steps of a check.

def _absolute(target: Target) -> Path:
    """The target made absolute with its folders' links followed (not a link at its end), once its text is sound."""
    problem = path_problem(target.path)
    if problem is None and len(os.fsencode(target.path.name)) > LONGEST_NAME:
        problem = f"the name is {len(os.fsencode(target.path.name)):,} bytes; an output folder's name may have at most {LONGEST_NAME}"
    if problem:
        raise _refusal(target, problem)
    full = Path(os.path.abspath(target.path))
    if not full.name:
        return full
    try:
        return resolved(full.parent) / full.name
    except ValueError as exc:
        raise _refusal(target, str(exc)) from None


def _refuse_protected(target: Target, absolute: Path) -> None:
    for place, what in _protected(target):
        if absolute == place:
            raise _refusal(target, f"this is {what}; allocate never writes its output over it: choose a new folder, e.g. runs/<name>")
        if absolute in place.parents:
            raise _refusal(target, f"this folder holds {what}; allocate never writes its output over it: choose a new folder, "
                                   "e.g. runs/<name>")


def _protected(target: Target) -> list[tuple[Path, str]]:
    """The folders and files no output may replace or cover: the root, home and current folders and the inputs."""
    places = [(Path(os.path.abspath(os.sep)), "the root folder")]
    for where, what in ((Path.home, "your home folder"), (Path.cwd, "the current folder")):
        try:
            places.append((where().resolve(), what))
        except (OSError, RuntimeError, KeyError):
            continue  # no home, or the current folder was deleted
    for path in target.inputs:
        try:
            places.append((resolved(Path(path)), f"the input {path}"))
        except ValueError:
            continue
    return places


def _refuse_existing(target: Target, absolute: Path) -> None:
    """Refuse what is already under the name, unless it is nothing, an empty folder, or (with --force) an output."""
    try:
        info = os.lstat(absolute)
    except (FileNotFoundError, NotADirectoryError):
        return  # a file above it is found by _existing_folder
    except OSError as exc:
        raise _refusal(target, exc.strerror or str(exc)) from None
    _refuse_link_or_file(target, absolute, info)
    if not _listing(target, absolute):
        return  # an empty folder is taken as it is: there is nothing in it to lose
    clean_stale(absolute)
    if not _listing(target, absolute):
        return  # it held only what an interrupted write left behind
    kind = kind_of(absolute)
    foreign = foreign_files(absolute, kind)
    if foreign or kind is None:
        raise _refusal(target, f"already exists and {_foreign_text(foreign)}; --force replaces only a folder allocate wrote: "
                               f"choose another {target.option}")
    if not target.force:
        raise _refusal(target, f"already exists ({_KIND_NAMES[kind]} written by allocate); pass --force to replace it, "
                               f"or choose another {target.option}")


def _refuse_link_or_file(target: Target, absolute: Path, info: os.stat_result) -> None:
    if stat.S_ISLNK(info.st_mode):
        raise _refusal(target, f"is a symbolic link (to {os.readlink(absolute)}); allocate never writes through one: "
                               "give the folder itself")
    if not stat.S_ISDIR(info.st_mode):
        raise _refusal(target, f"is a file, not a folder; choose another {target.option}")


def _existing_folder(target: Target, folder: Path) -> Path:
    """The nearest folder that exists at or above `folder`; refused if it is a file."""
    for candidate in (folder, *folder.parents):
        try:
            info = os.stat(candidate)
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:
            raise _refusal(target, f"{candidate}: {exc.strerror or exc}") from None
        if not stat.S_ISDIR(info.st_mode):
            raise _refusal(target, f"{candidate} is a file, so no folder can be made under it")
        return candidate
    raise _refusal(target, "no folder above it exists")


def _probe(target: Target, folder: Path, name: str) -> None:
    """Create and remove a hidden folder in `folder`: the one sure test that the output can be made there."""
    probe = folder / f".{name[:LONGEST_NAME]}.probe-{os.getpid()}"
    try:
        os.mkdir(probe)
    except FileExistsError:
        return
    except OSError as exc:
        raise _refusal(target, f"cannot create a folder in {folder}: {exc.strerror or exc}") from None
    os.rmdir(probe)


# The steps of a write.

def _make_folders(target: Target, folder: Path) -> list[Path]:
    """Make `folder` and the folders above it that are missing; those made, outermost first."""
    made: list[Path] = []
    for candidate in reversed((folder, *folder.parents)):
        if os.path.isdir(candidate):
            continue
        try:
            os.mkdir(candidate)
        except FileExistsError:
            continue  # another process made it
        except OSError as exc:
            _remove_empty(made)
            raise _refusal(target, f"cannot create {candidate}: {exc.strerror or exc}") from None
        made.append(candidate)
    return made


def _remove_empty(folders: list[Path]) -> None:
    for folder in reversed(folders):
        try:
            os.rmdir(folder)
        except OSError:
            return


def _fresh(folder: Path) -> None:
    """An empty `folder` but for the in-progress mark (a hidden one named with this process's id: what is there is
    left over from an earlier process of the same id, removed only when it is allocate's own)."""
    if _is_folder(folder) and _ours(folder):
        _remove(folder)
    os.mkdir(folder)
    _mark(folder)


def _commit(target: Target, staging: Path) -> Path:
    """Rename the full staging folder to the output folder (replacing an output only with --force)."""
    if target.unique:
        return next(path for path in _suffixed(target.path) if _take(staging, path))
    if _take(staging, target.path):
        return target.path
    if target.force:
        _refuse_existing(target, _absolute(target))  # it may have changed while this process was solving
        _replace(staging, target.path)
        return target.path
    raise _refusal(target, "already exists: another process wrote it while this one was solving; nothing was replaced, "
                           f"choose another {target.option}")


def _suffixed(path: Path) -> Iterator[Path]:
    yield path
    for number in itertools.count(2):
        yield path.with_name(f"{path.name}-{number}")


def _take(staging: Path, path: Path) -> bool:
    """Rename `staging` to `path` if nothing is there (or an empty folder); False if something is."""
    if os.path.lexists(path) and not (_is_folder(path) and not any(path.iterdir())):
        return False
    try:
        os.rename(staging, path)
    except OSError as exc:
        if exc.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR):
            return False
        raise
    return True


def _replace(staging: Path, path: Path) -> None:
    """Old aside, new in, old deleted: at every moment one of them is whole (see :func:`clean_stale`)."""
    aside = path.with_name(f".{path.name}.aside-{os.getpid()}")
    os.rename(path, aside)
    try:
        os.rename(staging, path)
    except OSError:
        os.rename(aside, path)
        raise
    trash = path.with_name(f".{path.name}.trash-{os.getpid()}")
    try:
        os.rename(aside, trash)
        _remove(trash)
    except OSError:
        return  # the new one is in place; the old one is cleaned once this process has ended


# Small helpers.

def _refusal(target: Target, message: str) -> InputError:
    return InputError(message, source=f"{target.option} {shown(target.path)}")


def _listing(target: Target, folder: Path) -> list[str]:
    try:
        return os.listdir(folder)
    except OSError as exc:
        raise _refusal(target, f"cannot list it: {exc.strerror or exc}") from None


def _foreign_text(names: list[str]) -> str:
    shown = ", ".join(names[:_SHOWN]) + (", …" if len(names) > _SHOWN else "")
    return f"holds {len(names)} file{'s' if len(names) > 1 else ''} that allocate did not write: {shown}"


def _shown_entry(entry: Path) -> str:
    return f"{entry.name}/" if _is_folder(entry) else entry.name


def _is_folder(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def _is_file(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()


def _json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def process_alive(pid: int) -> bool:
    """Whether process `pid` still runs (on Windows, where no signal can ask, always assumed)."""
    if pid == os.getpid() or os.name == "nt":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True
