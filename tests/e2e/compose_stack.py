"""docker-compose.yml as a test fixture: which images to run (the official ones where a
registry answers, local builds from images/local.sh where none does), compose projects
brought up on free host ports and torn down, and the running containers seen through the
harness' Envoy and Upstream interfaces (admin port, stats, log; what reached the app).

    python3 tests/e2e/compose_stack.py down     # remove this checkout's test stacks
    python3 tests/e2e/compose_stack.py announce # one line if the compose suite will be skipped

Every project is named after this checkout (wg<hash>-<role>), so stacks of two checkouts
on one Docker Engine never meet, and a rerun first removes what a killed run left.
"""

from __future__ import annotations

import hashlib
import json
import functools
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterable, Mapping

sys.path.insert(0, str(Path(__file__).parent))

import harness  # noqa: E402

REPO = harness.REPO
COMPOSE_FILE = REPO / "docker-compose.yml"
PREFIX = "wg" + hashlib.sha256(str(REPO).encode()).hexdigest()[:8]
ROLES = ("demo", "checks", "bad", "checks-native", "bad-native")
# Every published port of docker-compose.yml, set to "127.0.0.1:" (Docker picks a free port).
PORT_VARIABLES = ("WEBHOOK_GUARD_HTTP", "WEBHOOK_GUARD_ADMIN", "WEBHOOK_GUARD_CONTROL", "NATIVE_HTTP", "NATIVE_ADMIN",
                  "NATIVE_CONTROL", "COPYLEAKS_HTTPS", "COPYLEAKS_ADMIN", "COPYLEAKS_CONTROL", "COPYLEAKS_API_CONTROL")
# The services of each edition's pod: (application, its Envoy sidecar).
PODS = {"wasm": ("app", "envoy"), "native": ("native-app", "native-envoy")}
READY_TIMEOUT = 60.0


def _run(args: list[str], *, timeout: float = 120, env: Mapping[str, str] | None = None,
         check: bool = True) -> subprocess.CompletedProcess:
    out = subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd=REPO,
                         env={**os.environ, **(env or {})})
    if check and out.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited with {out.returncode}:\n{out.stdout}\n{out.stderr}")
    return out


NO_DOCKER = ("docker info does not answer: the compose and image tests are skipped "
             "(REQUIRE_DOCKER=1 makes this an error)")


def require_docker() -> None:
    """Skip the calling test where no Docker Engine answers, with one reason for the whole
    run (so pytest's summary says it in one line); fail instead under REQUIRE_DOCKER=1."""
    import pytest

    if not docker_answers():
        if os.environ.get("REQUIRE_DOCKER") == "1":
            pytest.fail("REQUIRE_DOCKER=1 but `docker info` does not answer", pytrace=False)
        pytest.skip(NO_DOCKER)
    # A run stopped with SIGTERM still runs its fixtures' teardown: the stacks come down.
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


@functools.cache
def docker_answers() -> bool:
    """Whether a Docker Engine answers `docker info`."""
    if not shutil.which("docker"):
        return False
    try:
        return _run(["docker", "info", "--format", "{{.ServerVersion}}"], timeout=20, check=False).returncode == 0
    except subprocess.TimeoutExpired:
        return False


@functools.cache
def compose_command() -> list[str] | None:
    """`docker compose` (the plugin) or `docker-compose`, whichever this machine has."""
    try:
        if _run(["docker", "compose", "version"], timeout=20, check=False).returncode == 0:
            return ["docker", "compose"]
    except (OSError, subprocess.TimeoutExpired):
        pass
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def default_images() -> dict[str, str]:
    """The images docker-compose.yml runs when nothing is set: `${NAME:-default}`."""
    text = COMPOSE_FILE.read_text()
    return {name: re.search(r"\$\{" + name + r":-([^}]+)\}", text).group(1) for name in ("ENVOY_IMAGE", "APP_IMAGE")}


def _present_or_pulled(image: str) -> bool:
    if _run(["docker", "image", "inspect", image], check=False).returncode == 0:
        return True
    try:
        return _run(["docker", "pull", "-q", image], timeout=300, check=False).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def resolve_images(say: Callable[[str], None]) -> dict[str, str]:
    """ENVOY_IMAGE and APP_IMAGE for the stack. Set in the environment: used as they are.
    Otherwise the official defaults if they are here or can be pulled, else local builds."""
    if os.environ.get("ENVOY_IMAGE") and os.environ.get("APP_IMAGE"):
        images = {k: os.environ[k] for k in ("ENVOY_IMAGE", "APP_IMAGE")}
        say(f"compose: images from the environment: {_describe(images)}")
        return images
    defaults = default_images()
    missing = [img for img in defaults.values() if not _present_or_pulled(img)]
    if not missing:
        say(f"compose: official images: {_describe(defaults)}")
        return defaults
    started = time.monotonic()
    out = _run([str(REPO / "images" / "local.sh")], timeout=1800)
    images = dict(line.split("=", 1) for line in out.stdout.split())
    say(f"compose: no registry answers (cannot pull {', '.join(missing)}): using images built here by "
        f"images/local.sh in {time.monotonic() - started:.0f}s: {_describe(images)}")
    return images


def require_native() -> None:
    """The native module is built (the compose suite runs both editions whichever
    --edition the rest of the suite runs)."""
    if not harness.NATIVE_LIB.is_file():
        raise FileNotFoundError(f"the native module is not built: {harness.NATIVE_LIB} is missing (run `make native`)")


def native_image(envoy_image: str, say: Callable[[str], None]) -> str:
    """NATIVE_IMAGE for the stack: set in the environment, used as it is; otherwise
    `make image-native`'s script builds it here FROM `envoy_image` (the official Envoy
    image, or the local one where no registry answers), under this checkout's own tag."""
    if os.environ.get("NATIVE_IMAGE"):
        say(f"compose: native image from the environment: NATIVE_IMAGE={os.environ['NATIVE_IMAGE']}")
        return os.environ["NATIVE_IMAGE"]
    tag = f"webhook-guard-envoy:{PREFIX}"
    started = time.monotonic()
    out = _run([str(REPO / "images" / "native-image.sh"), tag], timeout=600, env={"ENVOY_IMAGE": envoy_image})
    say(f"compose: NATIVE_IMAGE={tag} built by images/native-image.sh FROM {envoy_image} in "
        f"{time.monotonic() - started:.0f}s")
    return out.stdout.split()[-1]


def _describe(images: Mapping[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in images.items())


class Stack:
    """One compose project of docker-compose.yml."""

    def __init__(self, role: str, env: Mapping[str, str], *, profiles: Iterable[str] = (),
                 services: Iterable[str] = ()):
        self.compose = compose_command()
        if self.compose is None:
            raise RuntimeError("neither `docker compose` nor `docker-compose` is installed")
        self.role = role
        self.project = f"{PREFIX}-{role}"
        self.env = {**{v: "127.0.0.1:" for v in PORT_VARIABLES}, **env, "COMPOSE_PROJECT_NAME": self.project}
        self.profiles = list(profiles)
        self.services = list(services)
        self.logdir = harness.WORK / "compose"
        self.logdir.mkdir(parents=True, exist_ok=True)
        self._ids: dict[str, str] = {}  # service -> container id (compose calls take a second)

    def run(self, *args: str, timeout: float = 180, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [*self.compose, "-f", str(COMPOSE_FILE), "-p", self.project]
        for p in self.profiles:
            cmd += ["--profile", p]
        return _run([*cmd, *args], timeout=timeout, env=self.env, check=check)

    def up(self) -> "Stack":
        self.down(save_logs=False)  # whatever a killed run left
        self.run("up", "-d", "--no-color", *self.services)
        return self

    def container(self, service: str) -> str:
        if service not in self._ids:
            cid = self.run("ps", "-q", service).stdout.strip()
            if not cid:
                raise RuntimeError(f"{self.project}: no container for {service}")
            self._ids[service] = cid
        return self._ids[service]

    def inspect(self, service: str) -> dict:
        return json.loads(_run(["docker", "inspect", self.container(service)]).stdout)[0]

    def port(self, service: str, container_port: int) -> int:
        """The host port Docker published `container_port` of `service` on."""
        ports = self.inspect(service)["NetworkSettings"]["Ports"] or {}
        [binding, *_] = ports.get(f"{container_port}/tcp") or [None]
        if not binding:
            raise RuntimeError(f"{self.project}: {service} does not publish {container_port}")
        return int(binding["HostPort"])

    def logs(self, service: str) -> str:
        out = _run(["docker", "logs", self.container(service)], check=False)
        return out.stdout + out.stderr

    def down(self, save_logs: bool = True) -> None:
        if save_logs:
            for service in list(self._ids):
                (self.logdir / f"{self.role}-{service}.log").write_text(self.logs(service))
        self.run("down", "-v", "--remove-orphans", "-t", "3", check=False)
        self._ids.clear()


class StackEnvoy(harness.Envoy):
    """An Envoy container of a stack, with harness.Envoy's stats, counters and log checks."""

    def __init__(self, stack: Stack, service: str, netns_owner: str, listener_port: int,
                 secrets: Iterable[str] = ()):
        self.stack = stack
        self.name = service
        self.service = service
        self.secrets = [s for s in secrets if s]
        self.port = stack.port(netns_owner, listener_port)
        self.admin_port = stack.port(netns_owner, 9901)
        self.log_path = Path(f"docker logs of {stack.project} {service}")

    def log(self) -> str:
        return self.stack.logs(self.service)

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> "StackEnvoy":
        def ready():
            state = self.stack.inspect(self.service)["State"]
            if state["Status"] == "exited":
                raise harness.EnvoyFailedToStart(f"{self.service} exited with {state['ExitCode']}", self.log())
            try:
                status, body = harness._http("GET", self.admin + "/ready", timeout=1)
            except OSError:
                return False
            return status == 200 and body.strip() == b"LIVE"

        harness.wait_until(ready, timeout, interval=0.2, what=f"{self.stack.project} {self.service} to be ready")
        return self

    def stop(self) -> None:  # the stack's down() stops it
        pass


class StackUpstream(harness.Upstream):
    """The demo app of a stack, through its published control port."""

    def __init__(self, stack: Stack, service: str):
        self.stack = stack
        self.control_port = stack.port(service, 8081)
        self.port = 8080  # inside the pod only

    def stop(self) -> None:
        pass


def down_all() -> None:
    for role in ROLES:
        Stack(role, {}, profiles=["copyleaks", "native"]).down(save_logs=False)


if __name__ == "__main__":
    if sys.argv[1:] == ["down"]:
        if docker_answers() and compose_command():
            down_all()
        sys.exit(0)
    if sys.argv[1:] == ["announce"]:
        if not docker_answers() and os.environ.get("REQUIRE_DOCKER") != "1":
            print(f"e2e: {NO_DOCKER}", file=sys.stderr)
        sys.exit(0)
    print(__doc__, file=sys.stderr)
    sys.exit(2)
