"""The declared app: ``app.yaml`` and every ``functions/*/func.yaml``, as ``fn deploy`` reads them.

The gateway deploys them into its catalog at every start, with IDs derived
from their names, so the IDs stay the same across restarts and fresh run
directories alike (the fn CLI caches invoke endpoints by ID).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from eventcore.schedule import ANNOTATION, every
from gateway.errors import ConfigError, FnNotFoundError
from gateway.ids import stable_id
from gateway.scaling import config as scaling

_M = TypeVar("_M", bound=BaseModel)

FUNCFILE = "func.yaml"
APPFILE = "app.yaml"


class _TriggerSpec(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, max_length=255)
    type: str = "http"
    source: str = Field(pattern=r"^/")


class _FuncFile(BaseModel):
    """func.yaml, schema_version 20180708 (the fields the runtime reads)."""

    model_config = ConfigDict(extra="ignore")

    schema_version: int = 20180708
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,255}$")
    version: str = "0.0.1"
    runtime: str = "python"
    entrypoint: str | None = None
    memory: int = Field(default=128, ge=1, le=8192)
    timeout: int = Field(default=30, ge=1, le=300)
    idle_timeout: int = Field(default=30, ge=1, le=3600)
    config: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, Any] = Field(default_factory=dict)
    triggers: list[_TriggerSpec] = Field(default_factory=list)


class _AppFile(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,255}$")
    config: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, Any] = Field(default_factory=dict)


@dataclass(frozen=True)
class Code:
    """A function's code in this repository: what an instance runs."""

    directory: Path
    entry_file: Path
    entry_point: str


@dataclass(frozen=True)
class DeclaredTrigger:
    name: str
    type: str
    source: str


@dataclass(frozen=True)
class DeclaredFunction:
    """A ``func.yaml``: what ``fn deploy`` would register, and the code it names."""

    name: str
    version: str
    image: str
    memory: int
    timeout: int
    idle_timeout: int
    config: Mapping[str, str]
    annotations: Mapping[str, Any]
    triggers: tuple[DeclaredTrigger, ...]
    code: Code


@dataclass(frozen=True)
class DeclaredApp:
    """``app.yaml`` and its functions, deployed into the catalog at every start."""

    name: str
    config: Mapping[str, str]
    annotations: Mapping[str, Any]
    functions: tuple[DeclaredFunction, ...] = field(default=())

    def function_named(self, name: str) -> DeclaredFunction:
        for fn in self.functions:
            if fn.name == name:
                return fn
        raise FnNotFoundError()

    def code_for(self, image: str) -> Code | None:
        """The code an image names: ``[registry/]…/<function>[:tag][@digest]``
        runs ``functions/<function>``, whatever the registry and tag."""
        name = image.partition("@")[0].rpartition("/")[2].partition(":")[0]
        for fn in self.functions:
            if fn.name == name:
                return fn.code
        return None


@dataclass(frozen=True)
class Function:
    """A function as an instance runs it: its catalog entry joined with its code."""

    id: str
    name: str
    app_id: str
    app_name: str
    image: str
    code: Code
    memory: int
    timeout: int
    idle_timeout: int
    config: Mapping[str, str]
    # The file under the run's logs/ its instances write to.
    log_name: str
    # The catalog's, autoscaling.knative.dev/* among them (a change makes a new pool).
    annotations: Mapping[str, Any] = field(default_factory=dict)

    @property
    def directory(self) -> Path:
        return self.code.directory

    @property
    def entry_file(self) -> Path:
        return self.code.entry_file

    @property
    def entry_point(self) -> str:
        return self.code.entry_point

    def environment(self, overrides: Mapping[str, str]) -> dict[str, str]:
        """Its configuration as Fn gives it: app config, then function config; a
        key the gateway's own environment also sets takes that value, so
        ``.run/env`` or a deployment's variables override the yaml defaults."""
        return {key: overrides.get(key, value) for key, value in self.config.items()}


def load_app(root: Path, functions_dir: Path | None = None) -> DeclaredApp:
    """Read ``root/app.yaml`` and every ``func.yaml`` one level under ``functions/``."""
    app_file = _parse(root / APPFILE, _AppFile)
    functions = []
    for path in sorted((functions_dir or root / "functions").glob(f"*/{FUNCFILE}")):
        functions.append(_function(path, app_file.name))
    names = [fn.name for fn in functions]
    duplicates = {name for name in names if names.count(name) > 1}
    if duplicates:
        raise ConfigError(f"function names used twice: {', '.join(sorted(duplicates))}")
    return DeclaredApp(app_file.name, app_file.config, app_file.annotations, tuple(functions))


def app_id(app_name: str) -> str:
    """The ID the catalog gives a declared app, derived from its name alone."""
    return stable_id("app", app_name)


def function_id(app_name: str, fn_name: str) -> str:
    """The ID a declared function has, without reading any file."""
    return stable_id("fn", app_name, fn_name)


def trigger_id(app_name: str, fn_name: str, trigger_name: str) -> str:
    return stable_id("trigger", app_name, fn_name, trigger_name)


def _function(path: Path, app_name: str) -> DeclaredFunction:
    spec = _parse(path, _FuncFile)
    try:
        scaling.resolve(spec.annotations, scaling.ClusterDefaults())
    except scaling.ScalingConfigError as error:
        raise ConfigError(f"{path}: {error}") from None
    if (schedule := spec.annotations.get(ANNOTATION)) is not None:
        try:
            every(str(schedule))
        except ValueError as error:
            raise ConfigError(f"{path}: {ANNOTATION}: {error}") from None
    entry_file, entry_point = _entry(path.parent, spec.entrypoint)
    if not entry_file.is_file():
        raise ConfigError(f"{path}: entry point {entry_file.name} not found in {path.parent}")
    return DeclaredFunction(
        name=spec.name,
        version=spec.version,
        # fn deploy names the image <registry>/<name>:<version>; the app's name
        # stands in for the registry, as functions/Dockerfile's build command tags them.
        image=f"{app_name}/{spec.name}:{spec.version}",
        memory=spec.memory,
        timeout=spec.timeout,
        idle_timeout=spec.idle_timeout,
        config=spec.config,
        annotations=spec.annotations,
        triggers=tuple(DeclaredTrigger(t.name, t.type, t.source) for t in spec.triggers),
        code=Code(path.parent, entry_file, entry_point),
    )


def _entry(directory: Path, entrypoint: str | None) -> tuple[Path, str]:
    """``/python/bin/fdk /function/func.py handler`` -> (directory/func.py, "handler")."""
    words = shlex.split(entrypoint or "fdk func.py handler")
    for index, word in enumerate(words):
        if word.endswith(".py"):
            point = words[index + 1] if index + 1 < len(words) else "handler"
            return directory / Path(word).name, point
    return directory / "func.py", "handler"


def _parse(path: Path, model: type[_M]) -> _M:
    try:
        document = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path} not found") from None
    except (yaml.YAMLError, ValueError, RecursionError) as error:  # 2001-02-30, deep nesting
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    try:
        return model.model_validate(document)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        raise ConfigError(f"{path}: {problems}") from None
