"""Running things in a Debian root with systemd-nspawn, for the system tests.

Each test session works on a :class:`WorkRoot`, an overlay on a cached base root
(:mod:`tests.system.roots`) that is thrown away afterwards. Commands run in it with
``systemd-nspawn --pipe`` (not booted; with the host's network, for installing), or in a
:class:`Machine` booted with ``systemd-nspawn --boot --private-network``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from tests.system.roots import cache_folder

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SOURCE_IN_ROOT = "/usr/src/party-button"
HOST_CA_FOLDER = Path("/usr/local/share/ca-certificates")


class WorkRoot:
    """A throw-away copy of a base root: an overlay (or, where overlays fail, a full copy)."""

    def __init__(self, base: Path, name: str) -> None:
        self.base = base
        self.folder = cache_folder() / "work" / f"{name}-{uuid.uuid4().hex[:8]}"
        self.path = self.folder / "root"
        self._mounted = False

    def __enter__(self) -> WorkRoot:
        upper, work = self.folder / "upper", self.folder / "work"
        for folder in (upper, work, self.path):
            folder.mkdir(parents=True)
        options = f"lowerdir={self.base},upperdir={upper},workdir={work}"
        mounted = subprocess.run(
            ["mount", "-t", "overlay", "overlay", "-o", options, str(self.path)],
            capture_output=True,
            check=False,
        )
        if mounted.returncode == 0:
            self._mounted = True
        else:
            self.path.rmdir()
            subprocess.run(["cp", "-a", str(self.base), str(self.path)], check=True)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._mounted:
            subprocess.run(["umount", "--lazy", str(self.path)], check=False)
        subprocess.run(["rm", "-rf", "--one-file-system", str(self.folder)], check=False)

    def put_source(self, repo: Path) -> Path:
        """Copy the project's working tree (committed or not, minus ignored files) in."""
        target = self.path / SOURCE_IN_ROOT.lstrip("/")
        files = ["ls-files", "-z", "--cached", "--others", "--exclude-standard"]
        listed = subprocess.run(
            ["git", "-C", str(repo), *files],
            capture_output=True,
            check=False,
        )
        if listed.returncode == 0:
            for name in filter(None, listed.stdout.decode().split("\0")):
                source = repo / name
                if source.is_file():
                    (target / name).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(source, target / name)
        else:  # not a git checkout (an unpacked release): everything but build output
            shutil.copytree(
                repo,
                target,
                ignore=shutil.ignore_patterns(
                    ".git", ".venv", "__pycache__", "*.egg-info", "build", ".*_cache"
                ),
            )
        return target

    def trust_host_certificate_authorities(self) -> None:
        """Trust the host's own CAs in the root too (a proxy that inspects TLS needs them)."""
        local = sorted(HOST_CA_FOLDER.glob("*.crt")) if HOST_CA_FOLDER.is_dir() else []
        if not local:
            return
        target = self.path / HOST_CA_FOLDER.relative_to("/")
        target.mkdir(parents=True, exist_ok=True)
        for certificate in local:
            shutil.copy(certificate, target / certificate.name)
        self.run(["update-ca-certificates"], log=None)

    def _nspawn(
        self, network: bool, binds: Sequence[tuple[Path, str]], user: str | None = None
    ) -> list[str]:
        """systemd-nspawn's command line for running one program in the root, not booted."""
        nspawn = [
            "systemd-nspawn",
            f"--directory={self.path}",
            "--quiet",
            *_registration(),
            f"--machine=pb-run-{uuid.uuid4().hex[:8]}",
            f"--setenv=PATH={PATH}",
            "--setenv=LANG=C.UTF-8",
        ]
        if not network:
            nspawn.append("--private-network")
        if user is not None:
            nspawn.append(f"--user={user}")
        for host, inside in binds:
            host.mkdir(parents=True, exist_ok=True)
            nspawn.append(f"--bind={host}:{inside}")
        return nspawn

    def run(
        self,
        command: Sequence[str],
        *,
        log: Path | None,
        network: bool = True,
        binds: Sequence[tuple[Path, str]] = (),
        timeout: float = 1800,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``command`` in the root (``systemd-nspawn --pipe``); ``check`` raises on failure.

        With ``network`` the root shares the host's network (for apt and pip); ``binds`` are
        host folders mounted in (the download caches).
        """
        started = time.monotonic()
        result = subprocess.run(
            [*self._nspawn(network, binds), "--pipe", "--", *command],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if log is not None:
            with log.open("a") as output:
                took = time.monotonic() - started
                output.write(f"$ {' '.join(command)}\n{result.stdout}{result.stderr}")
                output.write(f"({took:.0f} s, exit code {result.returncode})\n")
        if check and result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(command)} failed in {self.path} ({result.returncode}):\n"
                f"{result.stdout[-3000:]}{result.stderr[-3000:]}"
            )
        return result

    def start(
        self,
        command: Sequence[str],
        *,
        log: Path,
        user: str | None = None,
        binds: Sequence[tuple[Path, str]] = (),
        environment: Mapping[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start ``command`` in the root with a private network, its output into ``log``.

        A stub init is PID 1 and the program PID 2 (see :func:`descendants` to signal it).
        """
        nspawn = [*self._nspawn(False, binds, user), "--as-pid2"]
        nspawn += [f"--setenv={name}={value}" for name, value in (environment or {}).items()]
        with log.open("ab") as output:
            return subprocess.Popen(
                [*nspawn, "--", *command],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )

    def user_id(self, name: str) -> int:
        """The uid of user ``name`` in the root."""
        for line in (self.path / "etc/passwd").read_text().splitlines():
            fields = line.split(":")
            if fields[0] == name:
                return int(fields[2])
        raise KeyError(f"no user {name} in {self.path}")


def _registration() -> list[str]:
    """nspawn's options for where it registers: no machined; its own scope only under systemd.

    Where systemd is not PID 1 (a CI container), nspawn cannot ask it for a scope and stays
    in the cgroup it was started in.
    """
    if Path("/run/systemd/system").is_dir():
        return ["--register=no"]
    return ["--register=no", "--keep-unit"]


class Machine:
    """A root booted with ``systemd-nspawn -b --private-network``: systemd as PID 1."""

    def __init__(self, root: Path, log: Path) -> None:
        self.root = root
        self.log = log
        self.name = f"pb-test-{uuid.uuid4().hex[:8]}"
        self.leader: int | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Machine:
        try:
            self.boot()
        except BaseException:
            self.shut_down()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shut_down()

    def boot(self, timeout: float = 120) -> None:
        """Boot, and return once systemd has finished starting the system."""
        with self.log.open("ab") as output:
            self._process = subprocess.Popen(
                [
                    "systemd-nspawn",
                    f"--directory={self.root}",
                    "--boot",
                    "--private-network",
                    "--console=read-only",
                    *_registration(),
                    f"--machine={self.name}",
                ],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        self.leader = self._wait_for_leader(timeout)
        # Early in the boot systemctl finds no systemd yet ("offline": /run/systemd/system is
        # not made) or no bus to it; on a busy machine that can last seconds.
        while True:
            state = self.run(
                ["systemctl", "is-system-running", "--wait"], check=False, timeout=timeout
            )
            answer = state.stdout.strip()
            if answer in ("running", "degraded"):
                return
            starting = answer == "offline" or "Failed to connect to bus" in state.stderr
            if not starting or time.monotonic() > deadline:
                raise RuntimeError(f"the machine did not boot: {state.stdout}{state.stderr}")
            time.sleep(0.2)

    def _wait_for_leader(self, timeout: float) -> int:
        """The container's PID 1 (systemd) as the host sees it."""
        assert self._process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                code = self._process.returncode
                raise RuntimeError(f"systemd-nspawn ended ({code}); see {self.log}")
            for child in _children(self._process.pid):
                with contextlib.suppress(OSError):
                    if Path(f"/proc/{child}/comm").read_text().strip() == "systemd":
                        return child
            time.sleep(0.1)
        raise RuntimeError(f"the container's systemd did not start within {timeout}s")

    def command(self, command: Sequence[str], user: str | None = None) -> list[str]:
        """``command`` as run inside the machine (as ``user``, with that user's groups)."""
        assert self.leader is not None
        inside = ["env", "-i", f"PATH={PATH}", "LANG=C.UTF-8"]
        if user is not None:
            inside = [
                "setpriv",
                f"--reuid={user}",
                f"--regid={user}",
                "--init-groups",
                "--",
                *inside,
                f"HOME=/home/{user}",
            ]
        else:
            inside.append("HOME=/root")
        return ["nsenter", f"--target={self.leader}", "--all", *inside, *command]

    def run(
        self,
        command: Sequence[str],
        *,
        user: str | None = None,
        check: bool = True,
        timeout: float = 120,
        input_text: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``command`` in the machine; ``check`` raises with its output when it fails."""
        result = subprocess.run(
            self.command(command, user),
            input=input_text,
            stdin=None if input_text is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
            )
        return result

    def write(self, path: str, text: str) -> None:
        """Write a file inside the machine (as root, mode 0644)."""
        self.run(["sh", "-c", 'cat > "$1" && chmod 0644 "$1"', "-", path], input_text=text)

    def shut_down(self, timeout: float = 60) -> None:
        """Power off; kill the container if it does not stop in time."""
        if self._process is None or self._process.poll() is not None:
            return
        with contextlib.suppress(subprocess.TimeoutExpired, AssertionError, OSError):
            self.run(["systemctl", "poweroff"], check=False, timeout=20)
        try:
            self._process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()


def _children(pid: int) -> list[int]:
    children: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            children += [int(c) for c in (task / "children").read_text().split()]
    return children


def descendants(pid: int) -> Iterator[tuple[int, str]]:
    """The processes below ``pid`` (a container's, as the host sees them) and their commands."""
    for child in _children(pid):
        with contextlib.suppress(OSError):
            yield child, Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        yield from descendants(child)
