"""A service's folder: what ``run`` records of the services its experiment offers.

``WS/experiments/NAME/services/SERVICE/`` holds ``service.json`` (the service's shell
command and url, rendered, with the port left open: a list of the text around each
``{port}``), a folder of links per parameter given a list (or a dict) of jobs, and, once
started (services.py), ``state.json``, ``stdout.log`` and ``stderr.log``. So
``xpmbuild services start`` starts it later without reading the .xpm file again.

Values are rendered as for a task's shell (actions.py, quoted for where they land), but
as absolute paths: a service runs in its own folder, not in a job's. A list of jobs is
one folder of symlinks, one per job, named by the job's tags (``lr=0.001,seed=0``), so
TensorBoard and the like show runs by their tags; a job without tags, or whose tags name
another job of the list too, is named by its id (its first 12 characters).
"""
from __future__ import annotations

import json
import os
import re

from . import model as M
from .actions import field_of, render_parts, to_text
from .servicedef import ServiceCall
from .workspace import atomic_write

SERVICE_FILE = "service.json"
_UNSAFE = re.compile(r"[^A-Za-z0-9._=,+@%-]")
_MAX_NAME = 200


def services_root(ws_root: str, experiment: str) -> str:
    return os.path.join(ws_root, "experiments", experiment, "services")


def service_dir(ws_root: str, experiment: str, name: str) -> str:
    return os.path.join(services_root(ws_root, experiment), name)


def link_name(tags: dict) -> str:
    """A job's link name from its tags: ``lr=0.001,seed=0``, filesystem-safe ("" if none)."""
    text = ",".join(f"{k}={v}" for k, v in tags.items())
    text = _UNSAFE.sub("_", text)
    if text.startswith("."):
        text = "_" + text[1:]
    return text[:_MAX_NAME]


def link_names(jobs) -> dict:
    """{name: job} for a list of jobs: by tags; by id when untagged or when names clash."""
    by_name: dict = {}
    for job in jobs:
        by_name.setdefault(link_name(job.tags), []).append(job)
    out = {}
    for name, group in by_name.items():
        distinct = list({j.id: j for j in group}.values())
        if name and len(distinct) == 1:
            out[name] = distinct[0]
        else:
            for j in distinct:
                out[j.id[:12]] = j
    return out


def fill_links(folder: str, targets: dict, ws_root: str) -> None:
    """Make ``folder`` hold exactly one symlink per name, to the job folders (relative
    links, so the workspace can move); other entries that are links are removed."""
    os.makedirs(folder, exist_ok=True)
    wanted = {name: os.path.relpath(ws_job_dir(ws_root, job), folder)
              for name, job in targets.items()}
    for entry in os.listdir(folder):
        path = os.path.join(folder, entry)
        if os.path.islink(path) and os.readlink(path) != wanted.get(entry):
            os.unlink(path)
    for name, target in wanted.items():
        path = os.path.join(folder, name)
        if not os.path.lexists(path):
            os.symlink(target, path)


def ws_job_dir(ws_root: str, job: M.Job) -> str:
    return os.path.join(ws_root, "jobs", job.task.name, job.id)


def _is_jobs(t: M.Type) -> bool:
    """A list or dict of jobs: rendered as a folder of links."""
    t = t.inner if isinstance(t, M.OptionalType) else t
    return isinstance(t, (M.ListType, M.DictType)) and isinstance(t.item, M.TaskType)


class _Values:
    """The values of a service call, as a service sees them: absolute paths, link folders."""

    def __init__(self, call: ServiceCall, folder: str, ws_root: str):
        self.call, self.folder, self.ws_root = call, folder, ws_root
        self.links: dict = {}       # param -> link folder

    def absolute(self, value):
        t = type(value)
        if t is M.Job:
            return ws_job_dir(self.ws_root, value)
        if t is M.OutputRef:
            return os.path.join(ws_job_dir(self.ws_root, value.job), value.relpath)
        if t is list:
            return [self.absolute(v) for v in value]
        if t is dict:
            return {k: self.absolute(v) for k, v in value.items()}
        if t is M.ConfigValue:
            return {k: self.absolute(v) for k, v in value.values.items()}
        return value

    def param(self, name):
        definition = self.call.definition
        value = self.call.values[name]
        if value is not None and _is_jobs(definition.params[name].type):
            folder = os.path.join(self.folder, name)
            jobs = value if type(value) is list else None
            targets = link_names(jobs) if jobs is not None else {
                _UNSAFE.sub("_", k)[:_MAX_NAME] or "_": j for k, j in value.items()}
            fill_links(folder, targets, self.ws_root)
            self.links[name] = folder
            return folder
        return self.absolute(value)

    def lookup(self, part):
        """A placeholder's value, with the jobs of a chain (``{model.log}``) resolved."""
        head, rest = part[0], part[1:]
        if head == "here":
            return self.call.definition.here
        if not rest:
            return self.param(head)
        value = self.call.values[head]
        if type(value) is list:         # ``{models.log}``: each item's field
            return self.absolute([field_of(v, rest) for v in value])
        return self.absolute(field_of(value, rest))


def _split_at_port(parts, template) -> list:
    """The rendered parts joined into the text around each ``{port}``."""
    chunks, buf = [], []
    for rendered, part in zip(parts, template.parts):
        if rendered is None:
            chunks.append("".join(buf))
            buf = []
        else:
            buf.append(rendered)
    chunks.append("".join(buf))
    return chunks


def service_document(call: ServiceCall, experiment: str, ws_root: str) -> dict:
    """Render a service call: its links are made; returns what service.json records."""
    definition = call.definition
    folder = service_dir(ws_root, experiment, definition.name)
    os.makedirs(folder, exist_ok=True)
    values = _Values(call, folder, ws_root)

    def is_port(part):
        return part == ("port",)
    command = _split_at_port(render_parts(definition.action, _Values.lookup, values, is_port),
                             definition.action)
    url_parts = [p if type(p) is str else (None if is_port(p) else to_text(values.lookup(p)))
                 for p in definition.url.parts]
    url = _split_at_port(url_parts, definition.url)
    return {"name": definition.name, "experiment": experiment, "doc": definition.doc,
            "file": definition.file, "command": command, "url": url,
            "links": values.links, "dir": folder}


def record_services(ws_root: str, experiment: str, plan: M.Plan) -> list[str]:
    """Write the service folders of the plan's services (names returned, in plan order);
    a service the plan no longer offers is stopped and loses its service.json."""
    names = []
    for call in plan.services.values():
        doc = service_document(call, experiment, ws_root)
        text = json.dumps(doc, indent=1, sort_keys=True) + "\n"
        path = os.path.join(doc["dir"], SERVICE_FILE)
        try:
            with open(path, encoding="utf-8") as f:
                same = f.read() == text
        except OSError:
            same = False
        if not same:
            atomic_write(path, text)
        names.append(call.name)
    root = services_root(ws_root, experiment)
    try:
        present = os.listdir(root)
    except FileNotFoundError:
        present = []
    for name in present:
        if name not in names and read_service(os.path.join(root, name)) is not None:
            from .services import ServiceError, stop_service
            try:        # no longer offered: stopped if it runs, then unlisted
                stop_service(ws_root, experiment, name)
            except (ServiceError, OSError):
                pass
            try:
                os.unlink(os.path.join(root, name, SERVICE_FILE))
            except OSError:
                pass
    return names


def read_service(folder: str) -> dict | None:
    try:
        with open(os.path.join(folder, SERVICE_FILE), encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None
