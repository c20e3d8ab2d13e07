"""Reading the Dockerfiles and .dockerignore without Docker: what the image tests check."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tests.support import ROOT


@dataclass
class Stage:
    """One FROM and the instructions after it, as (INSTRUCTION, arguments text)."""

    image: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, instruction: str) -> list[str]:
        return [args for name, args in self.instructions if name == instruction]

    def copies(self) -> list[tuple[list[str], str, str | None]]:
        """Each COPY as (sources, destination, the stage it copies from)."""
        result = []
        for args in self.all("COPY"):
            words = shlex.split(args)
            origin = None
            while words[0].startswith("--"):
                flag = words.pop(0)
                if flag.startswith("--from="):
                    origin = flag.removeprefix("--from=")
            result.append((words[:-1], words[-1], origin))
        return result

    def env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for args in self.all("ENV"):
            for pair in shlex.split(args):
                key, _, value = pair.partition("=")
                values[key] = value
        return values

    def entrypoint(self) -> list[str]:
        (args,) = self.all("ENTRYPOINT")
        words: list[str] = json.loads(args)  # the exec form, as Fn's CLI writes it
        return words


def parse(path: Path, build_args: Mapping[str, str] | None = None) -> list[Stage]:
    """The stages of a Dockerfile (continuation lines joined, comments dropped).

    With ``build_args``, as ``docker build --build-arg NAME=value`` gives them,
    ``$NAME`` and ``${NAME}`` become NAME's value wherever an ARG makes NAME
    visible: an ARG before the first FROM in FROM lines only, an ARG in a stage
    from there to the stage's end. A name given no value takes the ARG's
    default (in a stage, a bare ``ARG NAME`` takes the one before the first
    FROM), else nothing. Without ``build_args``, the instructions as written."""
    stages: list[Stage] = []
    global_args: dict[str, str] = {}  # ARGs before the first FROM
    visible: dict[str, str] = {}  # the current stage's
    logical = ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            logical += stripped[:-1] + " "
            continue
        logical += stripped
        instruction, _, args = logical.partition(" ")
        logical = ""
        instruction, args = instruction.upper(), args.strip()
        if instruction == "ARG" and build_args is not None:
            name, has_default, default = args.partition("=")
            inherited = global_args.get(name, "") if stages else ""
            value = build_args.get(name, default.strip('"') if has_default else inherited)
            (visible if stages else global_args)[name] = value
        if instruction == "FROM":
            words = _substitute(args, global_args).split()
            stages.append(Stage(words[0], words[2] if len(words) > 2 else None))
            visible = {}
        elif stages:
            stages[-1].instructions.append((instruction, _substitute(args, visible)))
    return stages


def _substitute(text: str, values: Mapping[str, str]) -> str:
    """``text`` with ``${NAME}`` and ``$NAME`` (not ``$NAMES``) replaced for each
    name of ``values``."""
    if not values:
        return text
    names = "|".join(re.escape(name) for name in values)
    reference = rf"\$(?:\{{({names})\}}|({names})\b)"
    return re.sub(reference, lambda match: values[match[1] or match[2]], text)


def ignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def sent_to_builder(relative: str) -> bool:
    """Whether .dockerignore lets ``relative`` (a path in the repository) into the
    build context: the last pattern matching it or a folder above it decides."""
    parts = Path(relative).parts
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    sent = True
    for pattern in ignore_patterns():
        negated = pattern.startswith("!")
        bare = pattern.removeprefix("!").rstrip("/")
        if any(fnmatch.fnmatchcase(c, bare) for c in candidates):
            sent = negated
    return sent


def lay_out(stage: Stage, image_root: Path) -> None:
    """Put under ``image_root`` what ``stage``'s COPY from the repository and its
    ``mkdir -p`` and ``ln -s`` put in the image (absolute paths moved under
    it); pip, compileall and chmod are the test environment's business."""
    for sources, destination, origin in stage.copies():
        if origin is not None:
            continue
        target = image_root / destination.lstrip("/")
        for source in sources:
            path = ROOT / source
            if path.is_dir():
                shutil.copytree(path, target, dirs_exist_ok=True, ignore=_not_sent)
            else:
                copy_to = target / path.name if destination.endswith("/") else target
                copy_to.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, copy_to)
    for run in stage.all("RUN"):
        for command in run.split("&&"):
            words = shlex.split(command)
            if words[:2] == ["mkdir", "-p"]:
                for directory in words[2:]:
                    (image_root / directory.lstrip("/")).mkdir(parents=True, exist_ok=True)
            elif words[:2] == ["ln", "-s"]:
                link_target, link = words[2:4]
                moved = (
                    image_root / link_target.lstrip("/") if link_target.startswith("/") else None
                )
                os.symlink(moved or link_target, image_root / link.lstrip("/"))


def _not_sent(directory: str, names: list[str]) -> set[str]:
    relative = Path(directory).relative_to(ROOT)
    return {name for name in names if not sent_to_builder(str(relative / name))}
