"""Profile on the board itself over SSH (Raspberry Pi, Jetson, any Linux machine with Python).

Uses the system OpenSSH client, so ``~/.ssh/config``, agents, jump hosts and known_hosts work as
they do for the user. The runner that goes to the board is ``edgedistill/_measure.py`` itself (it
imports onnxruntime and numpy only): the same protocol as local profiling, not a copy of it.
Files travel as a tar stream over ``ssh`` (no scp/sftp needed on the board), into a ``mktemp -d``
folder that is removed afterwards.
"""

from __future__ import annotations

import dataclasses
import io
import json
import pathlib
import re
import shlex
import subprocess
import tarfile
from typing import Any

import numpy as np

from .errors import EdgeDistillError

PROBE = (
    "import json, platform, sys\n"
    "info = {'python': platform.python_version(), 'platform': platform.platform(), 'machine': platform.machine()}\n"
    "try:\n"
    "    import numpy, onnxruntime\n"
    "    info.update(onnxruntime=onnxruntime.__version__, providers=onnxruntime.get_available_providers(), numpy=numpy.__version__)\n"
    "except Exception as e:\n"
    "    info['missing'] = f'{type(e).__name__}: {e}'\n"
    "print('EDGEDISTILL-PROBE ' + json.dumps(info))\n"
)


@dataclasses.dataclass(frozen=True)
class Remote:
    target: str  # user@host or an ssh_config alias
    port: int | None = None
    python: str = "python3"
    ssh_config: str | None = None
    connect_timeout: int = 10

    @property
    def label(self) -> str:
        return self.target + (f":{self.port}" if self.port else "")


def parse_remote(spec: str, *, python: str = "python3", ssh_config: str | None = None) -> Remote:
    """``user@host``, ``user@host:port``, ``host`` or an alias from ssh_config."""
    m = re.fullmatch(r"((?:[^@\s:]+@)?[^@\s:]+)(?::(\d+))?", spec or "")
    if not m:
        raise EdgeDistillError(f"--remote {spec!r} is not user@host[:port]")
    if ssh_config is not None and not pathlib.Path(ssh_config).is_file():
        raise EdgeDistillError(f"--ssh-config {ssh_config} does not exist")
    return Remote(m.group(1), int(m.group(2)) if m.group(2) else None, python, ssh_config)


def _ssh(r: Remote) -> list[str]:
    cmd = ["ssh", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={r.connect_timeout}", "-o", "ServerAliveInterval=15"]
    if r.ssh_config:
        cmd += ["-F", r.ssh_config]
    if r.port:
        cmd += ["-p", str(r.port)]
    return [*cmd, "--", r.target]


def _explain(r: Remote, stderr: str) -> str:
    """One line for each way an ssh connection fails."""
    text = stderr.strip()
    checks = [
        ("Host key verification failed", f"the host key of {r.label} does not match your known_hosts; if the board was reinstalled, "
                                         f"remove its old key with ssh-keygen -R and connect once with ssh to accept the new one"),
        ("Connection refused", f"cannot connect to {r.label}: connection refused; is sshd running there and is the port right?"),
        ("Permission denied", f"authentication to {r.label} failed; install your key there (ssh-copy-id {r.target}) or load it into ssh-agent"),
        ("timed out", f"connecting to {r.label} timed out after {r.connect_timeout} s; check the address and that the board is on the network"),
        ("Could not resolve hostname", f"cannot resolve the host name of {r.label}; check the name or add it to ~/.ssh/config"),
        ("No route to host", f"no route to {r.label}; check the address and the network"),
    ]
    for needle, message in checks:
        if needle.lower() in text.lower():
            return message
    last = text.splitlines()[-1] if text else "ssh failed without a message"
    return f"ssh to {r.label} failed: {last}"


def _run(r: Remote, command: str, *, stdin: bytes | None = None, timeout: float = 120) -> bytes:
    try:
        proc = subprocess.run([*_ssh(r), command], input=stdin, capture_output=True, timeout=timeout)
    except FileNotFoundError:
        raise EdgeDistillError("the ssh command is not installed; install OpenSSH's client (apt-get install openssh-client)") from None
    except subprocess.TimeoutExpired:
        raise EdgeDistillError(f"the command on {r.label} did not finish within {timeout:.0f} s") from None
    if proc.returncode == 255:  # ssh's own failure (connection, authentication, host key)
        raise EdgeDistillError(_explain(r, proc.stderr.decode(errors="replace")))
    if proc.returncode != 0:
        tail = (proc.stderr.decode(errors="replace").strip().splitlines() or ["no message"])[-1]
        raise _RemoteCommandFailed(proc.returncode, tail)
    return proc.stdout


class _RemoteCommandFailed(Exception):
    def __init__(self, code: int, tail: str) -> None:
        super().__init__(tail)
        self.code, self.tail = code, tail


def probe(r: Remote) -> dict[str, Any]:
    """The remote Python, its onnxruntime and execution providers; a clear error when unusable."""
    try:
        out = _run(r, f"{shlex.quote(r.python)} -c {shlex.quote(PROBE)}", timeout=60).decode(errors="replace")
    except _RemoteCommandFailed as e:
        raise EdgeDistillError(f"{r.python} does not run on {r.label} ({e.tail}); give the board's Python with --remote-python") from None
    line = next((ln for ln in out.splitlines() if ln.startswith("EDGEDISTILL-PROBE ")), None)
    if line is None:
        raise EdgeDistillError(f"{r.python} on {r.label} gave no answer to the probe; give the board's Python with --remote-python")
    info = json.loads(line.split(" ", 1)[1])
    if "missing" in info:
        raise EdgeDistillError(
            f"{r.python} on {r.label} (Python {info['python']}) cannot import onnxruntime and numpy ({info['missing']}); "
            f"on the board run: {r.python} -m pip install onnxruntime numpy"
        )
    return info


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _npz(**arrays: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def measure_remote(
    r: Remote,
    model: str | pathlib.Path,
    *,
    spec: dict[str, Any],
    feed: dict[str, np.ndarray],
    eval_x: np.ndarray | list[np.ndarray] | None,
    timeout: float = 900,
) -> tuple[dict[str, Any], np.ndarray | None]:
    """Run ``_measure.py`` on the board with ``spec`` (providers, session, protocol); returns (figures, eval outputs)."""
    from . import _measure

    files = {
        "_measure.py": pathlib.Path(_measure.__file__).read_bytes(),
        f"model{pathlib.Path(model).suffix or '.onnx'}": pathlib.Path(model).read_bytes(),  # .ort files keep their suffix
        "feed.npz": _npz(**feed),
    }
    spec = {**spec, "model": f"model{pathlib.Path(model).suffix or '.onnx'}", "feed": "feed.npz", "progress": False}
    if eval_x is not None:
        files["eval.npz"] = _npz(**_measure.eval_arrays(eval_x))
        spec.update(eval="eval.npz", eval_out="eval_out.npy")
    files["spec.json"] = json.dumps(spec).encode()
    try:
        remote_dir = _run(r, "mktemp -d -t edgedistill.XXXXXX").decode().strip()
    except _RemoteCommandFailed as e:
        raise EdgeDistillError(f"cannot make a temporary folder on {r.label}: {e.tail}") from None
    d = shlex.quote(remote_dir)
    try:
        _run(r, f"tar -C {d} -xf -", stdin=_tar(files), timeout=300)
        try:
            _run(r, f"cd {d} && {shlex.quote(r.python)} _measure.py spec.json result.json", timeout=timeout)
        except _RemoteCommandFailed:
            pass  # the runner writes its error into result.json and exits 3; read it below
        try:
            blob = _run(r, f"cd {d} && tar -cf - result.json" + (" eval_out.npy" if eval_x is not None else ""), timeout=300)
        except _RemoteCommandFailed as e:
            raise EdgeDistillError(f"the measuring run on {r.label} left no result ({e.tail})") from None
    finally:
        try:
            _run(r, f"rm -rf {d}", timeout=60)
        except (EdgeDistillError, _RemoteCommandFailed):
            pass  # best effort: the folder is under the board's temp dir
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        result = json.loads(tar.extractfile("result.json").read())  # type: ignore[union-attr]
        if "error" in result:
            raise EdgeDistillError(f"measuring {pathlib.Path(model).name} on {r.label} failed: {result['error']}")
        outputs = np.load(io.BytesIO(tar.extractfile("eval_out.npy").read())) if eval_x is not None else None  # type: ignore[union-attr]
    result["host"]["remote"] = r.label
    return result, outputs
