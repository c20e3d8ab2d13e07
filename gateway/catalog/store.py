"""The catalog: every app, function and trigger, in SQLite as the Fn server keeps
them (its default datastore is SQLite too), with the whole catalog held in
memory so that an invoke costs a dictionary look-up, not a query.

One gateway owns one catalog file: writes go through to disk in a transaction
before the in-memory view changes, so what the API answered survives a crash.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import orjson

from gateway.catalog.models import (
    AppRecord,
    FnRecord,
    Record,
    TriggerRecord,
    new_app,
    new_fn,
    new_trigger,
    touched,
    updated_app,
    updated_fn,
    updated_trigger,
)
from gateway.catalog.views import Page
from gateway.errors import (
    AppNotFoundError,
    BadRequestError,
    CatalogUnavailableError,
    ConflictError,
    FnNotFoundError,
    TriggerNotFoundError,
)
from gateway.ids import new_id
from gateway.registry import DeclaredApp, app_id, function_id, trigger_id

log = logging.getLogger("eventfn.gateway")

_R = TypeVar("_R", AppRecord, FnRecord, TriggerRecord)
_TABLES = {AppRecord: "apps", FnRecord: "fns", TriggerRecord: "triggers"}
# Each kind's statements, spelled out: a table name is never built from input.
_CREATE = {
    "apps": "CREATE TABLE IF NOT EXISTS apps (id TEXT PRIMARY KEY, doc TEXT)",
    "fns": "CREATE TABLE IF NOT EXISTS fns (id TEXT PRIMARY KEY, doc TEXT)",
    "triggers": "CREATE TABLE IF NOT EXISTS triggers (id TEXT PRIMARY KEY, doc TEXT)",
}
_SELECT = {
    "apps": "SELECT doc FROM apps",
    "fns": "SELECT doc FROM fns",
    "triggers": "SELECT doc FROM triggers",
}
_UPSERT = {
    "apps": "INSERT OR REPLACE INTO apps (id, doc) VALUES (?, ?)",
    "fns": "INSERT OR REPLACE INTO fns (id, doc) VALUES (?, ?)",
    "triggers": "INSERT OR REPLACE INTO triggers (id, doc) VALUES (?, ?)",
}
_DELETE = {
    "apps": "DELETE FROM apps WHERE id = ?",
    "fns": "DELETE FROM fns WHERE id = ?",
    "triggers": "DELETE FROM triggers WHERE id = ?",
}
_TIMES = ("created_at", "updated_at")


def _now() -> datetime:
    return datetime.now(UTC)


class Catalog:
    """Apps, functions and triggers, with Fn's rules for creating, changing and removing them."""

    def __init__(
        self,
        path: Path,
        *,
        clock: Callable[[], datetime] = _now,
        ids: Callable[[], str] = new_id,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # A short busy timeout: writes run on the event loop, and only another
        # process (which should not be there) could hold the file's lock.
        self._db = sqlite3.connect(path, isolation_level=None, timeout=1.0)
        self._path = path
        self._db.execute("PRAGMA journal_mode=WAL")
        for statement in _CREATE.values():
            self._db.execute(statement)
        self._clock = clock
        self._ids = ids
        self.apps: dict[str, AppRecord] = self._load(AppRecord)
        self.fns: dict[str, FnRecord] = self._load(FnRecord)
        self.triggers: dict[str, TriggerRecord] = self._load(TriggerRecord)

    def close(self) -> None:
        self._db.close()

    # -- reads -------------------------------------------------------------

    def app(self, app_id: str) -> AppRecord:
        try:
            return self.apps[app_id]
        except KeyError:
            raise AppNotFoundError() from None

    def app_named(self, name: str) -> AppRecord:
        for app in self.apps.values():
            if app.name == name:
                return app
        raise AppNotFoundError()

    def fn(self, fn_id: str) -> FnRecord:
        try:
            return self.fns[fn_id]
        except KeyError:
            raise FnNotFoundError() from None

    def trigger(self, trigger_id: str) -> TriggerRecord:
        try:
            return self.triggers[trigger_id]
        except KeyError:
            raise TriggerNotFoundError() from None

    def http_trigger(self, app_name: str, source: str) -> TriggerRecord:
        """The trigger ``/t/{app_name}{source}`` runs (Fn's 404s when there is none)."""
        app = self.app_named(app_name)
        for trigger in self.triggers.values():
            if trigger.app_id == app.id and trigger.type == "http" and trigger.source == source:
                return trigger
        raise TriggerNotFoundError()

    def list_apps(self, page: Page, name: str = "") -> tuple[list[AppRecord], str]:
        return page.select(self.apps.values(), lambda a: not name or a.name == name)

    def list_fns(self, page: Page, app_id: str, name: str = "") -> tuple[list[FnRecord], str]:
        if not app_id:
            raise BadRequestError("Missing AppID on Fn")
        return page.select(
            self.fns.values(), lambda f: f.app_id == app_id and (not name or f.name == name)
        )

    def list_triggers(
        self, page: Page, app_id: str, fn_id: str = "", name: str = ""
    ) -> tuple[list[TriggerRecord], str]:
        if not app_id:
            raise BadRequestError("Missing App ID on Trigger")
        return page.select(
            self.triggers.values(),
            lambda t: (
                t.app_id == app_id
                and (not fn_id or t.fn_id == fn_id)
                and (not name or t.name == name)
            ),
        )

    # -- writes ------------------------------------------------------------

    def create_app(self, doc: Mapping[str, Any]) -> AppRecord:
        app = self._named_id(new_app(doc, self._ids(), self._clock()), app_id(doc["name"]))
        self._unique_app(app)
        self._write(upsert=[app])
        return app

    def update_app(self, app_id: str, doc: Mapping[str, Any]) -> AppRecord:
        changed = updated_app(self.app(app_id), doc, self._clock())
        self._write(upsert=[changed])
        return changed

    def delete_app(self, app_id: str) -> list[str]:
        """Remove the app with its functions and triggers; the IDs of the functions gone."""
        app = self.app(app_id)
        fns = [f for f in self.fns.values() if f.app_id == app.id]
        triggers = [t for t in self.triggers.values() if t.app_id == app.id]
        self._write(remove=[app, *fns, *triggers])
        return [f.id for f in fns]

    def create_fn(self, doc: Mapping[str, Any]) -> FnRecord:
        fn = new_fn(doc, self._ids(), self._clock())
        app = self.app(fn.app_id)
        fn = replace(fn, shape=app.shape)  # a function takes its app's shape, as in Fn
        fn = self._named_id(fn, function_id(app.name, fn.name))
        self._unique_fn(fn)
        self._write(upsert=[fn])
        return fn

    def update_fn(self, fn_id: str, doc: Mapping[str, Any]) -> FnRecord:
        changed = updated_fn(self.fn(fn_id), doc, self._clock())
        self._write(upsert=[changed])
        return changed

    def delete_fn(self, fn_id: str) -> None:
        fn = self.fn(fn_id)
        triggers = [t for t in self.triggers.values() if t.fn_id == fn.id]
        self._write(remove=[fn, *triggers])

    def create_trigger(self, doc: Mapping[str, Any]) -> TriggerRecord:
        trigger = new_trigger(doc, self._ids(), self._clock())
        self._placed_trigger(trigger)
        named = trigger_id(self.app(trigger.app_id).name, self.fn(trigger.fn_id).name, trigger.name)
        trigger = self._named_id(trigger, named)
        self._write(upsert=[trigger])
        return trigger

    def update_trigger(self, trigger_id: str, doc: Mapping[str, Any]) -> TriggerRecord:
        changed = updated_trigger(self.trigger(trigger_id), doc, self._clock())
        self._placed_trigger(changed)
        self._write(upsert=[changed])
        return changed

    def delete_trigger(self, trigger_id: str) -> None:
        self._write(remove=[self.trigger(trigger_id)])

    def deploy(self, declared: DeclaredApp) -> dict[str, str]:
        """Make the catalog hold the declared app as its files say, like ``fn
        deploy --all`` at every start: what exists keeps its ID and creation
        time, and its config and annotations are merged with the files' (as
        deploy's update is, so keys set with ``fn config`` stay); what does not
        exist gets the ID its names give. Returns name -> fn ID."""
        now = self._clock()
        try:
            app = self.app_named(declared.name)
        except AppNotFoundError:
            app = AppRecord(app_id(declared.name), declared.name, now, now)
        app = touched(
            app,
            replace(
                app,
                config={**app.config, **declared.config},
                annotations={**app.annotations, **declared.annotations},
            ),
            now,
        )
        records: list[Record] = [app]
        ids: dict[str, str] = {}
        claimed: dict[tuple[str, str], str] = {}  # (type, source) -> trigger, in this deploy
        for spec in declared.functions:
            fn = self._existing_fn(app.id, spec.name) or FnRecord(
                function_id(declared.name, spec.name), spec.name, app.id, spec.image, now, now
            )
            fn = touched(
                fn,
                replace(
                    fn,
                    image=spec.image,
                    memory=spec.memory,
                    timeout=spec.timeout,
                    idle_timeout=spec.idle_timeout,
                    config={**fn.config, **spec.config},
                    annotations={**fn.annotations, **spec.annotations},
                    shape=app.shape,
                ),
                now,
            )
            records.append(fn)
            ids[spec.name] = fn.id
            for t in spec.triggers:
                trigger = self._existing_trigger(app.id, fn.id, t.name) or TriggerRecord(
                    trigger_id(declared.name, spec.name, t.name),
                    t.name,
                    app.id,
                    fn.id,
                    t.type,
                    t.source,
                    now,
                    now,
                )
                trigger = touched(trigger, replace(trigger, type=t.type, source=t.source), now)
                clash = self._source_clash(trigger)
                holder = claimed.get((t.type, t.source)) or (clash.name if clash else None)
                if holder is not None:
                    log.warning(
                        "trigger %s of %s not deployed: trigger %s already serves %s",
                        t.name,
                        spec.name,
                        holder,
                        t.source,
                    )
                    continue
                claimed[(t.type, t.source)] = t.name
                records.append(trigger)
        self._write(upsert=records)
        return ids

    # -- rules that need the whole catalog --------------------------------

    def _named_id(self, record: _R, named: str) -> _R:
        """The ID its names give, unless that one is taken: a function deleted
        and created again under the same names (the repository's own, say)
        keeps the ID the bridge and the fn CLI's cache know it by."""
        taken = named in self.apps or named in self.fns or named in self.triggers
        return record if taken else replace(record, id=named)

    def _unique_app(self, app: AppRecord) -> None:
        if any(a.name == app.name for a in self.apps.values()):
            raise ConflictError("App already exists")

    def _unique_fn(self, fn: FnRecord) -> None:
        if self._existing_fn(fn.app_id, fn.name) is not None:
            raise ConflictError("Fn with specified name already exists")

    def _existing_fn(self, app_id: str, name: str) -> FnRecord | None:
        return next((f for f in self.fns.values() if f.app_id == app_id and f.name == name), None)

    def _existing_trigger(self, app_id: str, fn_id: str, name: str) -> TriggerRecord | None:
        return next(
            (
                t
                for t in self.triggers.values()
                if t.app_id == app_id and t.fn_id == fn_id and t.name == name
            ),
            None,
        )

    def _source_clash(self, trigger: TriggerRecord) -> TriggerRecord | None:
        return next(
            (
                t
                for t in self.triggers.values()
                if t.id != trigger.id
                and t.app_id == trigger.app_id
                and t.type == trigger.type
                and t.source == trigger.source
            ),
            None,
        )

    def _placed_trigger(self, trigger: TriggerRecord) -> None:
        """The checks Fn makes in the datastore: the app and function exist,
        the function is the app's, and the source and name are free."""
        self.app(trigger.app_id)
        if self.fn(trigger.fn_id).app_id != trigger.app_id:
            raise BadRequestError("Invalid Fn ID - not owned by specified app")
        if self._source_clash(trigger) is not None:
            raise ConflictError("Trigger with the same type and source exists on this app")
        same_name = self._existing_trigger(trigger.app_id, trigger.fn_id, trigger.name)
        if same_name is not None and same_name.id != trigger.id:
            raise ConflictError("Trigger already exists")

    # -- storage -----------------------------------------------------------

    def _load(self, kind: type[Any]) -> dict[str, Any]:
        rows = self._db.execute(_SELECT[_TABLES[kind]]).fetchall()
        records = {}
        for (doc,) in rows:
            fields = orjson.loads(doc)
            for name in _TIMES:
                fields[name] = datetime.fromisoformat(fields[name])
            record = kind(**fields)
            records[record.id] = record
        return records

    def _write(self, upsert: Sequence[Record] = (), remove: Sequence[Record] = ()) -> None:
        """One transaction on disk, then the same change in memory. A catalog
        file that cannot be written (locked, disk full) changes nothing: 503."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for record in upsert:
                    self._db.execute(_UPSERT[_TABLES[type(record)]], (record.id, _encode(record)))
                for record in remove:
                    self._db.execute(_DELETE[_TABLES[type(record)]], (record.id,))
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.rollback()
                raise
        except sqlite3.Error as error:
            log.error("catalog %s not written: %s", self._path, error)
            raise CatalogUnavailableError(headers={"Retry-After": "1"}) from None
        for record in upsert:
            self._memory(record)[record.id] = record
        for record in remove:
            self._memory(record).pop(record.id, None)

    def _memory(self, record: Record) -> dict[str, Any]:
        if isinstance(record, AppRecord):
            return self.apps
        if isinstance(record, FnRecord):
            return self.fns
        return self.triggers


def _encode(record: Record) -> bytes:
    fields = asdict(record)
    for name in _TIMES:
        fields[name] = fields[name].isoformat()
    return orjson.dumps(fields)
