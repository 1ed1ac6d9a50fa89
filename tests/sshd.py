"""A throwaway OpenSSH server on 127.0.0.1 for the --remote tests: its own host key, user key and config.

Nothing of the system's SSH configuration is read or changed: sshd runs with -f on a config file in
a temporary folder, and the client gets an ssh_config file (ssh -F) that names the key and a
known_hosts file of its own.
"""

from __future__ import annotations

import getpass
import os
import pathlib
import shutil
import socket
import subprocess
import time

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def keygen(path: pathlib.Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


class Sshd:
    def __init__(self, root: pathlib.Path) -> None:
        sshd = shutil.which("sshd") or ("/usr/sbin/sshd" if os.path.exists("/usr/sbin/sshd") else None)
        if sshd is None or shutil.which("ssh") is None:
            if os.environ.get("CI"):
                pytest.fail("OpenSSH server or client is not installed; `make test` installs openssh-server")
            pytest.skip("sshd is not installed (make test installs openssh-server)")
        self.root, self.port, self.user = root, free_port(), getpass.getuser()
        keygen(root / "host_key")
        keygen(root / "user_key")
        shutil.copy(root / "user_key.pub", root / "authorized_keys")
        os.chmod(root / "authorized_keys", 0o600)
        (root / "sshd_config").write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {root / 'host_key'}\nPidFile {root / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {root / 'authorized_keys'}\nPubkeyAuthentication yes\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\n"
        )
        host_pub = (root / "host_key.pub").read_text().split()
        (root / "known_hosts").write_text(f"[127.0.0.1]:{self.port} {host_pub[0]} {host_pub[1]}\n")
        self.config = self.client_config(root / "ssh_config", root / "known_hosts")
        if os.geteuid() == 0:
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege-separation directory
        self.proc = subprocess.Popen([sshd, "-D", "-e", "-f", str(root / "sshd_config")], stdout=subprocess.DEVNULL, stderr=open(root / "sshd.log", "w"))
        deadline = time.time() + 15
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("sshd exited: " + (root / "sshd.log").read_text())
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("sshd did not start listening")

    def client_config(self, path: pathlib.Path, known_hosts: pathlib.Path, port: int | None = None) -> pathlib.Path:
        path.write_text(
            f"Host board\n  HostName 127.0.0.1\n  Port {port or self.port}\n  User {self.user}\n  IdentityFile {self.root / 'user_key'}\n"
            f"  IdentitiesOnly yes\n  UserKnownHostsFile {known_hosts}\n  StrictHostKeyChecking yes\n  LogLevel ERROR\n"
        )
        return path

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
