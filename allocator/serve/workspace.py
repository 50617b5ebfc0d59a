"""The workspace: the one folder whose scenarios and runs the workbench may read and write. Every path from a request is
relative to it; ``..``, absolute paths and links leading out of it are refused."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from allocator.runformat.names import MANIFEST

#: The folder of runs, inside the workspace.
RUNS = "runs"
#: How many runs the index lists, newest first.
RECENT = 20


class OutsideWorkspace(Exception):
    """A requested path that is not a file or folder inside the workspace."""


@dataclass(frozen=True)
class Workspace:
    root: Path

    @classmethod
    def at(cls, folder: Path) -> Workspace:
        root = Path(folder).resolve()
        if not root.is_dir():
            from allocator.errors import InputError
            raise InputError("not a folder", source=f"--workspace {folder}")
        return cls(root)

    @property
    def runs(self) -> Path:
        return self.root / RUNS

    def runs_to_write(self) -> Path:
        """The folder new runs go to, refused when runs/ is a link leading out of the workspace."""
        folder = self.inside(self.runs)
        if folder != self.runs:
            raise OutsideWorkspace(RUNS)
        return folder

    def path(self, relative: str) -> Path:
        """The workspace path named by `relative` (``/``-separated), resolved; refused when it leaves the workspace."""
        if not relative or "\\" in relative or "\x00" in relative:
            raise OutsideWorkspace(relative)
        parts = PurePosixPath(relative)
        if parts.is_absolute() or ".." in parts.parts:
            raise OutsideWorkspace(relative)
        return self.inside(self.root.joinpath(*parts.parts))

    def inside(self, path: Path) -> Path:
        """`path` resolved (links followed), refused unless it is in the workspace."""
        resolved = Path(path).resolve()
        if resolved != self.root and self.root not in resolved.parents:
            raise OutsideWorkspace(str(path))
        return resolved

    def name(self, path: Path) -> str:
        """`path` relative to the workspace, ``/``-separated: what a link or form carries."""
        return self.inside(path).relative_to(self.root).as_posix()

    def scenarios(self) -> list[str]:
        """The scenario files (*.toml) in the workspace, outside runs/ and hidden folders, by name."""
        found = []
        for path in sorted(self.root.rglob("*.toml")):
            relative = path.relative_to(self.root)
            if relative.parts[0] == RUNS or any(part.startswith(".") for part in relative.parts):
                continue
            try:
                found.append(self.name(path))
            except OutsideWorkspace:
                continue
        return found

    def run(self, name: str) -> Path:
        """The run directory `name` (one folder under runs/ with a manifest)."""
        if "/" in name:
            raise OutsideWorkspace(name)
        folder = self.path(f"{RUNS}/{name}")
        if folder.parent != self.inside(self.runs) or not (folder / MANIFEST).is_file():
            raise OutsideWorkspace(name)
        return folder

    def recent_runs(self) -> list[str]:
        """The run directories under runs/, newest first."""
        if not self.runs.is_dir():
            return []
        folders = [p for p in self.runs.iterdir() if p.is_dir() and not p.name.startswith(".") and (p / MANIFEST).is_file()]
        folders = [p for p in folders if self._safe(p)]
        return [p.name for p in sorted(folders, key=lambda p: p.stat().st_mtime, reverse=True)[:RECENT]]

    def _safe(self, path: Path) -> bool:
        try:
            self.inside(path)
        except OutsideWorkspace:
            return False
        return True
