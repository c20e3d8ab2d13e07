"""The images, checked without Docker (this machine has no engine to build them):
functions/Dockerfile, built for each function (``--build-arg FUNCTION=<name>``),
against its func.yaml and the repository, and the files it lays out, run as Fn
and as Knative would run them."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from gateway.registry import DeclaredFunction, load_app
from infra.ports import free_port
from infra.waiting import wait_until
from tests.images.dockerfile import Stage, lay_out, parse, sent_to_builder
from tests.support import ROOT, python_env, running

APP = load_app(ROOT)
FUNCTIONS = sorted(fn.name for fn in APP.functions)
FUNCTION_DOCKERFILE = ROOT / "functions" / "Dockerfile"
GATEWAY_DOCKERFILE = ROOT / "infra" / "Dockerfile"
FDK = Path(sys.executable).parent / "fdk"
# the build argument naming the function, in ${FUNCTION} or $FUNCTION
USES_FUNCTION = re.compile(r"\$(\{FUNCTION\}|FUNCTION\b)")


def build_args(name: str) -> dict[str, str]:
    """What ``docker build --build-arg FUNCTION=<name>`` gives functions/Dockerfile."""
    return {"FUNCTION": name}


def function_stages(name: str) -> list[Stage]:
    """functions/Dockerfile's stages as built for the function ``name``."""
    return parse(FUNCTION_DOCKERFILE, build_args(name))


def func_yaml(name: str) -> dict:
    return yaml.safe_load((ROOT / "functions" / name / "func.yaml").read_text())


def pins(path: Path) -> dict[str, str]:
    """``name[extras]==version`` lines, by name (extras kept in the value)."""
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if match := re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[^\]]*\])?==(\S+)", line):
            found[match[1].lower()] = f"{match[2] or ''}=={match[3]}"
    return found


def test_there_are_functions_to_check():
    assert FUNCTIONS == ["alert", "archive", "persist", "publish"]


@pytest.mark.parametrize("name", FUNCTIONS)
def test_each_function_builds_on_and_runs_from_its_func_yaml_images(name):
    stages = function_stages(name)
    spec = func_yaml(name)
    assert [stage.image for stage in stages] == [spec["build_image"], spec["run_image"]]
    # the run stage keeps no build tools: only what the build stage made
    run = stages[-1]
    assert {origin for _, _, origin in run.copies()} == {stages[0].name}


@pytest.mark.parametrize("name", FUNCTIONS)
def test_each_entrypoint_is_the_func_yaml_one(name):
    assert function_stages(name)[-1].entrypoint() == shlex.split(func_yaml(name)["entrypoint"])


@pytest.mark.parametrize(
    ("path", "args"),
    [
        *((FUNCTION_DOCKERFILE, build_args(n)) for n in FUNCTIONS),
        (GATEWAY_DOCKERFILE, None),
    ],
    ids=[*FUNCTIONS, "gateway"],
)
def test_everything_copied_is_in_the_repository_and_sent_to_the_builder(path, args):
    for stage in parse(path, args):
        for sources, _, origin in stage.copies():
            if origin is not None:
                continue
            for source in sources:
                assert (ROOT / source).exists(), f"{path}: COPY {source}: not in the repository"
                assert sent_to_builder(source), f"{path}: COPY {source}: .dockerignore drops it"


def test_dockerignore_keeps_caches_and_tests_out_of_the_context():
    assert sent_to_builder("functions/publish/func.py")
    assert sent_to_builder("functions/alert/rules.yaml")
    assert sent_to_builder("infra/migrations/0001_events.sql")
    assert sent_to_builder("bridge/worker.py")
    assert not sent_to_builder("functions/publish/__pycache__/func.cpython-311.pyc")
    assert not sent_to_builder("tests/support.py")
    assert not sent_to_builder(".venv/bin/python")
    assert not sent_to_builder(".cache/go")


@pytest.mark.parametrize("name", FUNCTIONS)
def test_each_image_installs_its_requirements_at_the_projects_pins(name):
    copied = {
        source: destination
        for sources, destination, _ in function_stages(name)[0].copies()
        for source in sources
    }
    own = f"functions/{name}/requirements.txt"
    assert own in copied
    assert "requirements.txt" in copied  # the gateway's, for Knative
    (install,) = [run for run in function_stages(name)[0].all("RUN") if "pip install" in run]
    for destination in (copied[own], copied["requirements.txt"]):
        assert f"-r {destination}" in install
    project = pins(ROOT / "requirements.txt")
    function = pins(ROOT / own)
    assert function, f"{own} pins nothing"
    assert {n: project.get(n) for n in function} == function


def test_one_dockerfile_builds_every_function():
    # no functions/<name>/Dockerfile (nor Dockerfile.<name>) beside functions/Dockerfile
    found = [p for p in (ROOT / "functions").rglob("Dockerfile*") if "__pycache__" not in p.parts]
    assert found == [FUNCTION_DOCKERFILE]
    assert not list((ROOT / "functions").glob("*/Dockerfile"))


def test_the_function_dockerfile_refuses_to_build_without_a_function():
    build, run = parse(FUNCTION_DOCKERFILE)
    # declared in the build stage, the one that uses it (an ARG before FROM is
    # not visible inside a stage); nothing of the run stage depends on it
    assert build.all("ARG") == ["FUNCTION"]
    assert not [args for _, args in run.instructions if USES_FUNCTION.search(args)]
    # the first instruction to use it is the guard, so it runs before any COPY
    # that the name picks the files of (without one, functions/${FUNCTION}/ is
    # functions/ itself)
    using = [
        (i, n, args) for i, (n, args) in enumerate(build.instructions) if USES_FUNCTION.search(args)
    ]
    first, instruction, guard = using[0]
    assert instruction == "RUN"
    assert guard.startswith('test -n "$FUNCTION" ||')
    assert not [n for n, _ in build.instructions[:first] if n == "COPY"]
    # and the guard refuses an absent or empty FUNCTION, naming the argument
    for env in ({}, {"FUNCTION": ""}):
        refused = subprocess.run(["sh", "-c", guard], env=env, capture_output=True, text=True)
        assert refused.returncode != 0
        assert "--build-arg FUNCTION=<name>" in refused.stderr
        assert "required" in refused.stderr
    for name in FUNCTIONS:
        assert subprocess.run(["sh", "-c", guard], env={"FUNCTION": name}).returncode == 0


@pytest.mark.parametrize("fn", APP.functions, ids=lambda fn: fn.name)
def test_the_dockerfile_tags_each_image_with_its_fn_and_knative_name(fn: DeclaredFunction):
    # eventfn/<name>:<version>: what the registry calls it, and the k8s manifests
    # run; the build command each function's image is built with, in the header
    command = f"docker build -f functions/Dockerfile --build-arg FUNCTION={fn.name} -t {fn.image} ."
    assert command in FUNCTION_DOCKERFILE.read_text()


def test_the_gateway_image_runs_the_gateway_as_a_user_and_finds_its_fdk():
    build, run = parse(GATEWAY_DOCKERFILE)
    assert build.image == run.image
    assert run.all("USER") == ["eventfn"]
    assert run.all("CMD") == ['["python", "-m", "gateway"]']
    env = run.env()
    assert env["EVENTFN_FDK"] == "/python/bin/fdk"
    assert env["EVENTFN_HOST"] == "0.0.0.0"
    assert env["PATH"].startswith("/python/bin:")
    # the repository's layout under /eventfn: app.yaml, and functions/ beside gateway/
    copied = {s: d for sources, d, _ in build.copies() for s in sources}
    assert copied["app.yaml"] == "/eventfn/app.yaml"
    for package in ("gateway/", "bridge/", "functions/", "infra/"):
        assert copied[package] == f"/eventfn/{package}"
    assert env["EVENTFN_ROOT"] == "/eventfn"
    assert env["PYTHONPATH"] == "/eventfn:/eventfn/functions"


# --- the files an image lays out, run as Fn and as Knative run them ---------------


@pytest.fixture
def image(tmp_path, request) -> tuple[str, Path, Stage]:
    """A function image's files under tmp_path (the test's virtualenv stands in
    for /python), built with its name as FUNCTION, with its name and its run stage."""
    name = request.param
    build, run = function_stages(name)
    # the run stage takes exactly these folders from the build stage
    assert sorted(d for _, d, _ in run.copies()) == ["/eventfn", "/function", "/python"]
    lay_out(build, tmp_path)
    return name, tmp_path, run


def in_image(root: Path, value: str) -> str:
    """An absolute path of the image (or a PATH-like list of them), moved under root."""
    return ":".join(str(root / part.lstrip("/")) for part in value.split(":"))


def image_env(root: Path, run: Stage, **extra: str) -> dict[str, str]:
    env = run.env()
    moved = {k: in_image(root, env[k]) for k in ("PYTHONPATH", "EVENTFN_ROOT", "EVENTFN_RUN_DIR")}
    # the image's PYTHONPATH, not the repository's
    return python_env({**env, **moved, "EVENTFN_FDK": str(FDK), **extra})


def imported_from(root: Path, run: Stage, modules: list[str]) -> list[str]:
    """The file each module is imported from, with the image's environment:
    the image's files, not the repository's (which the test's Python also sees)."""
    probe = f"import {', '.join(modules)}; print({', '.join(m + '.__file__' for m in modules)})"
    done = subprocess.run(
        [sys.executable, "-c", probe],
        env=image_env(root, run),
        cwd=in_image(root, run.all("WORKDIR")[0]),
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.split()


def test_the_gateway_image_holds_every_command_it_is_run_with(tmp_path):
    build, run = parse(GATEWAY_DOCKERFILE)
    lay_out(build, tmp_path)
    modules = [
        "gateway.__main__",
        "bridge.__main__",
        "bridge.redrive.__main__",
        "bridge.replay.__main__",
    ]
    modules += ["infra.cli", "infra.migrate", "infra.topics"]
    assert imported_from(tmp_path, run, modules) == [
        str(tmp_path / "eventfn" / (m.replace(".", "/") + ".py")) for m in modules
    ]


@pytest.mark.parametrize("image", FUNCTIONS, indirect=True)
def test_the_function_imports_its_shared_packages_from_the_image(image):
    _, root, run = image
    assert imported_from(root, run, ["eventcore", "eventio", "func", "gateway"]) == [
        str(root / "function" / "eventcore" / "__init__.py"),
        str(root / "function" / "eventio" / "__init__.py"),
        str(root / "function" / "func.py"),
        str(root / "eventfn" / "gateway" / "__init__.py"),
    ]


@pytest.mark.integration
@pytest.mark.parametrize("image", FUNCTIONS, indirect=True)
def test_the_image_runs_its_function_as_fn_does(image):
    """The ENTRYPOINT with Fn's environment: the fdk on Fn's socket, and a call."""
    name, root, run = image
    fdk, entry, handler = run.entrypoint()
    assert fdk == "/python/bin/fdk"
    iofs = root / "tmp" / "iofs"  # Fn mounts it at /tmp/iofs
    iofs.mkdir(parents=True)
    env = image_env(root, run, FN_FORMAT="http-stream", FN_LISTENER=f"unix:{iofs}/lsnr.sock")
    process = subprocess.Popen(
        [str(FDK), in_image(root, entry), handler],
        env=env,
        cwd=in_image(root, run.all("WORKDIR")[0]),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until(
            lambda: (iofs / "lsnr.sock").exists() or process.poll() is not None,
            timeout=30,
            what=f"{name}'s fdk socket",
        )
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        transport = httpx.HTTPTransport(uds=str(iofs / "lsnr.sock"))
        with httpx.Client(transport=transport, timeout=30) as client:
            deadline = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 30))
            answer = client.post(
                "http://localhost/call",
                content=b"not a batch",
                headers={
                    "Fn-Call-Id": "01IMAGETEST",
                    "Fn-Deadline": deadline,
                    "Content-Type": "application/cloudevents-batch+json",
                },
            )
        # the handler ran: its own JSON refusal of the body (as 200 on a plain
        # invoke, where the fdk passes only 200, 502 and 504)
        assert answer.status_code == 200, answer.text
        assert "message" in answer.json()
    finally:
        process.kill()
        process.wait()


@pytest.mark.integration
@pytest.mark.parametrize("image", FUNCTIONS, indirect=True)
def test_the_image_runs_its_function_as_knative_does(image):
    """``command: ["/python/bin/python", "-m", "gateway"]``, EVENTFN_FUNCTION, $PORT."""
    name, root, run = image
    port = free_port()
    workdir = Path(in_image(root, run.all("WORKDIR")[0]))
    env = image_env(root, run, EVENTFN_FUNCTION=name, PORT=str(port), EVENTFN_HOST="127.0.0.1")
    base = f"http://127.0.0.1:{port}"
    with (
        running("gateway", env, f"{base}/readyz", root / "gateway.log", cwd=workdir),
        httpx.Client(base_url=base, timeout=30) as client,
    ):
        ready = client.get("/readyz").json()
        assert set(ready["functions"]) == {name}
        # any path is the function: a body it refuses, in its own words
        refused = client.post("/", content=b"not json", headers={"Content-Type": "text/plain"})
        assert refused.status_code in (400, 415), refused.text
        assert "message" in refused.json()
