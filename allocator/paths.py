"""What a file system can hold: the text of a path, and where its symbolic links lead.

Used for every path a user names (scenario and data files, output folders), so that a NUL byte, a name
too long or a loop of links is one clear message instead of an error from deep inside the OS."""

from __future__ import annotations

import errno
import os
from pathlib import Path

NAME_MAX = 255
PATH_MAX = 4096
#: Characters of a path shown in a message (a longer one is cut in the middle).
SHOWN_CHARACTERS = 160


def path_problem(path: str | os.PathLike[str]) -> str | None:
    """Why no file system can hold `path` (a NUL byte, a name or the whole path too long), or None."""
    text = os.fspath(path)
    if "\0" in text:
        return "the path contains a NUL byte (\\0), which no file name can hold"
    for part in Path(text).parts:
        size = len(os.fsencode(part))
        if size > NAME_MAX:
            return f"the name '{part[:24]}…' is too long ({size:,} bytes; at most {NAME_MAX})"
    size = len(os.fsencode(os.path.abspath(text)))
    if size >= PATH_MAX:
        return f"the path is too long ({size:,} bytes; at most {PATH_MAX - 1:,})"
    return None


def shown(path: str | os.PathLike[str]) -> str:
    """`path` as text safe to print in a one-line message: a NUL byte as \\0, a long path cut in the middle."""
    text = os.fspath(path).replace("\0", "\\0")
    if len(text) > SHOWN_CHARACTERS:
        text = f"{text[:SHOWN_CHARACTERS // 2]}…{text[-SHOWN_CHARACTERS // 4:]}"
    return text


def resolved(path: Path) -> Path:
    """`path` absolute with its symbolic links followed; ValueError saying why no file can be there."""
    problem = path_problem(path)
    if problem:
        raise ValueError(problem)
    try:
        path = path.resolve()
        os.stat(path)
    except RuntimeError:  # Python before 3.13 on a loop of links
        raise ValueError("the path goes round in a loop of symbolic links") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ValueError("the path goes round in a loop of symbolic links") from None
    return path
