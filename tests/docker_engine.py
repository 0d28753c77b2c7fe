"""A Docker engine of the tests' own, and the images the container tests run.

The engine is Debian's dockerd (installed by `make test`), started as root with the vfs storage
driver and no iptables, its state under .cache/docker (kept between runs: the build cache makes
the next build quick). Docker Hub is never asked: the images come from `make image OFFLINE=1`
(a debootstrap base and ./wheelhouse) and, for the compose `scale` profile, from Debian's
redis-server and nginx packages.

Building takes minutes, so it starts in the background as soon as pytest has collected a
container test (tests/conftest.py) and the container tests, run last, wait for it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import TextIO

ROOT = Path(__file__).resolve().parent.parent
STATE = ROOT / ".cache" / "docker"
SOCKET = STATE / "docker.sock"
LOG = STATE / "build.log"
BASE_IMAGE = "dockfaq-base:bookworm"
SERVICES_IMAGE = "dockfaq-test-services:bookworm"  # redis-server and nginx, from Debian
# The next release, for the upgrade test: the same sources and one more corpus entry.
UPGRADE_IMAGE = "dockfaq:upgrade-test"
UPGRADE_ENTRY = "quux-layer-compressor"
UPGRADE_QUESTION = "How do I pick the right quux compressor for docker layers?"
UPGRADE_FIELDS = {
    "id": UPGRADE_ENTRY,
    "topic": "image-registry",
    "title_en": "Picking the quux compressor for layers",
    "title_zh": "为镜像层选择 quux 压缩器",
    "question_en": UPGRADE_QUESTION,
    "question_zh": "怎么为 docker 镜像层选择 quux 压缩器？",
    "answer_en": "Use the quux compressor only for layers you push to your own registry.",
    "answer_zh": "只有推送到自己的仓库的镜像层才使用 quux 压缩器。",
}


def _env() -> dict[str, str]:
    # The classic builder: BuildKit would fetch its frontend and base images from Docker Hub.
    return {**os.environ, "DOCKER_HOST": f"unix://{SOCKET}", "DOCKER_BUILDKIT": "0"}


class Engine:
    def __init__(self) -> None:
        self.env = _env()
        self.process: subprocess.Popen[bytes] | None = None
        self.unavailable = ""  # why no engine can run here, if none can
        self._build: threading.Thread | None = None
        self._build_error = ""

    def docker(self, *args: str, timeout: float = 300, check: bool = True) -> str:
        done = subprocess.run(
            ["docker", *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout.strip()

    def _answers(self) -> bool:
        if not SOCKET.exists():
            return False
        try:
            return (
                subprocess.run(
                    ["docker", "version"], env=self.env, capture_output=True, timeout=10
                ).returncode
                == 0
            )
        except subprocess.TimeoutExpired:
            return False

    def start(self) -> None:
        """Start dockerd (or use the one a previous run left on the socket)."""
        if self._answers():
            return
        missing = [tool for tool in ("dockerd", "docker", "debootstrap") if not shutil.which(tool)]
        if missing:
            self.unavailable = f"{', '.join(missing)} not installed (`make test` installs them)"
            return
        if os.geteuid() != 0:
            self.unavailable = "starting dockerd needs root and no engine answers on " + str(SOCKET)
            return
        for part in ("data", "exec"):
            (STATE / part).mkdir(parents=True, exist_ok=True)
        SOCKET.unlink(missing_ok=True)
        with (STATE / "dockerd.log").open("ab") as log:
            self.process = subprocess.Popen(
                [
                    "dockerd",
                    "--storage-driver=vfs",
                    "--iptables=false",
                    "--ip6tables=false",
                    f"--host=unix://{SOCKET}",
                    f"--data-root={STATE / 'data'}",
                    f"--exec-root={STATE / 'exec'}",
                    f"--pidfile={STATE / 'dockerd.pid'}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.unavailable = "dockerd exited: see " + str(STATE / "dockerd.log")
                return
            if self._answers():
                return
            time.sleep(0.5)
        self.unavailable = "dockerd did not answer within 60 s: see " + str(STATE / "dockerd.log")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def build_in_background(self) -> None:
        """`make image OFFLINE=1`, the test services image and the upgrade, in a thread."""

        def run() -> None:
            try:
                with LOG.open("w") as log:
                    for step in (self._build_dockfaq, self._build_services, self._build_upgrade):
                        step(log)
                    # Earlier builds' images, untagged by these: vfs keeps every layer whole,
                    # and run after run they filled the disk.
                    self.docker("image", "prune", "-f")
            except Exception as error:  # reported by wait_for_images
                self._build_error = f"{error}\n(build log: {LOG})"

        self._build = threading.Thread(target=run, name="image-build", daemon=True)
        self._build.start()

    def wait_for_images(self) -> None:
        if self._build is None:
            self.build_in_background()
        assert self._build is not None
        self._build.join()
        if self._build_error:
            raise RuntimeError(self._build_error)

    def _build_dockfaq(self, log: TextIO) -> None:
        started = time.monotonic()
        done = subprocess.run(
            ["make", "--no-print-directory", "image", "OFFLINE=1"],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        if done.returncode != 0:
            raise RuntimeError(f"make image OFFLINE=1 failed ({done.returncode})")
        print(f"make image OFFLINE=1: {time.monotonic() - started:.0f} s", file=log)

    def _build_upgrade(self, log: TextIO) -> None:
        """The build context with one more corpus entry, built like `make image OFFLINE=1`:
        every layer but the corpus's and the index's comes from the build cache."""
        from tests.conftest import write_entry

        started = time.monotonic()
        context = Path(tempfile.mkdtemp(prefix="upgrade-context-"))
        try:
            for name in ("Dockerfile", ".dockerignore", "pyproject.toml", "README.md"):
                shutil.copy2(ROOT / name, context / name)
            for name in ("service", "corpus"):
                shutil.copytree(
                    ROOT / name, context / name, ignore=shutil.ignore_patterns("__pycache__")
                )
            shutil.copytree(ROOT / "wheelhouse", context / "wheelhouse", copy_function=_link)
            write_entry(context / "corpus", **UPGRADE_FIELDS)
            subprocess.run(
                [
                    "docker",
                    "build",
                    "--build-arg",
                    f"BASE={BASE_IMAGE}",
                    "--build-arg",
                    "OFFLINE=1",
                    "-t",
                    UPGRADE_IMAGE,
                    str(context),
                ],
                env=self.env,
                check=True,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        finally:
            shutil.rmtree(context, ignore_errors=True)
        print(f"{UPGRADE_IMAGE}: {time.monotonic() - started:.0f} s", file=log)

    def _build_services(self, log: TextIO) -> None:
        """redis-server and nginx from Debian's packages, for the compose `scale` profile."""
        if self.docker("images", "-q", SERVICES_IMAGE):
            return
        rootfs = Path(tempfile.mkdtemp(prefix="services-rootfs-"))
        try:
            subprocess.run(
                [
                    "debootstrap",
                    "--variant=minbase",
                    "--include=redis-server,nginx",
                    "bookworm",
                    str(rootfs),
                    "http://deb.debian.org/debian",
                ],
                check=True,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            # Debian's default site would take port 80 from the compose file's site.
            (rootfs / "etc/nginx/sites-enabled/default").unlink(missing_ok=True)
            shutil.rmtree(rootfs / "var/cache/apt/archives", ignore_errors=True)
            rootfs.chmod(0o755)
            with subprocess.Popen(
                ["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE
            ) as tar:
                subprocess.run(
                    ["docker", "import", "-", SERVICES_IMAGE],
                    stdin=tar.stdout,
                    env=self.env,
                    check=True,
                    stdout=log,
                )
        finally:
            shutil.rmtree(rootfs, ignore_errors=True)


def _link(source: str, target: str) -> None:
    """Hard links where the file system allows: the wheels are large and only read."""
    try:
        Path(target).hardlink_to(source)
    except OSError:
        shutil.copy2(source, target)


ENGINE = Engine()
