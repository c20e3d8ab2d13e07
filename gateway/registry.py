"""The function registry: ``app.yaml`` and every ``functions/*/func.yaml``, as Fn sees them.

IDs are derived from names, so an app, function or trigger keeps its ID across
restarts, as it would in the Fn server's database.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway.errors import AppNotFoundError, ConfigError, FnNotFoundError, TriggerNotFoundError
from gateway.ids import stable_id

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
    content_type: str | None = None
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
class Trigger:
    id: str
    name: str
    type: str
    source: str
    fn_id: str


@dataclass(frozen=True)
class Function:
    """One function of the app, with what it takes to run it."""

    id: str
    name: str
    app_id: str
    app_name: str
    version: str
    directory: Path
    entry_file: Path
    entry_point: str
    memory: int
    timeout: int
    idle_timeout: int
    content_type: str | None
    config: Mapping[str, str]
    annotations: Mapping[str, Any]
    triggers: tuple[Trigger, ...]

    def environment(self, overrides: Mapping[str, str]) -> dict[str, str]:
        """Its configuration as Fn gives it: app config, then function config; a
        key the gateway's own environment also sets takes that value, so
        ``.run/env`` or a deployment's variables override the yaml defaults."""
        return {key: overrides.get(key, value) for key, value in self.config.items()}


@dataclass(frozen=True)
class App:
    id: str
    name: str
    config: Mapping[str, str]
    annotations: Mapping[str, Any]
    functions: tuple[Function, ...] = field(default=())

    def function(self, fn_id: str) -> Function:
        for fn in self.functions:
            if fn.id == fn_id:
                return fn
        raise FnNotFoundError()

    def function_named(self, name: str) -> Function:
        for fn in self.functions:
            if fn.name == name:
                return fn
        raise FnNotFoundError()

    def trigger(self, app_name: str, source: str) -> tuple[Function, Trigger]:
        if app_name != self.name:
            raise AppNotFoundError()
        for fn in self.functions:
            for trigger in fn.triggers:
                if trigger.type == "http" and trigger.source == source:
                    return fn, trigger
        raise TriggerNotFoundError()


def load_app(root: Path, functions_dir: Path | None = None) -> App:
    """Read ``root/app.yaml`` and every ``func.yaml`` one level under ``functions/``."""
    app_file = _parse(root / APPFILE, _AppFile)
    app_id = stable_id("app", app_file.name)
    functions = []
    for path in sorted((functions_dir or root / "functions").glob(f"*/{FUNCFILE}")):
        functions.append(_function(path, app_file, app_id))
    names = [fn.name for fn in functions]
    duplicates = {name for name in names if names.count(name) > 1}
    if duplicates:
        raise ConfigError(f"function names used twice: {', '.join(sorted(duplicates))}")
    return App(app_id, app_file.name, app_file.config, app_file.annotations, tuple(functions))


def function_id(app_name: str, fn_name: str) -> str:
    """The ID a function of this app has, without reading any file."""
    return stable_id("fn", app_name, fn_name)


def _function(path: Path, app_file: _AppFile, app_id: str) -> Function:
    spec = _parse(path, _FuncFile)
    fn_id = function_id(app_file.name, spec.name)
    entry_file, entry_point = _entry(path.parent, spec.entrypoint)
    if not entry_file.is_file():
        raise ConfigError(f"{path}: entry point {entry_file.name} not found in {path.parent}")
    triggers = tuple(
        Trigger(
            stable_id("trigger", app_file.name, spec.name, t.name), t.name, t.type, t.source, fn_id
        )
        for t in spec.triggers
    )
    return Function(
        id=fn_id,
        name=spec.name,
        app_id=app_id,
        app_name=app_file.name,
        version=spec.version,
        directory=path.parent,
        entry_file=entry_file,
        entry_point=entry_point,
        memory=spec.memory,
        timeout=spec.timeout,
        idle_timeout=spec.idle_timeout,
        content_type=spec.content_type,
        config={**app_file.config, **spec.config},
        annotations=spec.annotations,
        triggers=triggers,
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
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    try:
        return model.model_validate(document)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        raise ConfigError(f"{path}: {problems}") from None
