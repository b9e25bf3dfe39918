"""Story: the daemon runs under systemd as a Type=notify service (with a
watchdog). It says READY=1 once it listens and STOPPING=1 on SIGTERM, pings
the watchdog, and its containers still start: $NOTIFY_SOCKET is the
daemon's alone (`runc run --detach` given one waits for the container itself
to send READY=1, so every start would hang). Fixtures: conftest.py."""
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest


class NotifySocket:
    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self.sock.bind(path)

    def wait_for(self, line, timeout=10):
        """All messages until one holds line (e.g. "READY=1")."""
        got = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                msg = self.sock.recv(4096).decode()
            except TimeoutError:
                break
            got.append(msg)
            if line in msg.split("\n"):
                return got
        pytest.fail(f"no {line} on the notify socket within {timeout}s; got {got}")

    def close(self):
        self.sock.close()


    def quiet_for(self, seconds):
        """The messages that came within seconds (none expected)."""
        got = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                got.append(self.sock.recv(4096).decode())
            except TimeoutError:
                break
        return got


@pytest.fixture
def notify():
    d = tempfile.mkdtemp(prefix="zl-n-", dir="/tmp")  # short: sun_path
    n = NotifySocket(os.path.join(d, "notify.sock"))
    yield n
    n.close()
    shutil.rmtree(d, ignore_errors=True)


def test_ready_watchdog_stopping_and_containers_still_start(agent_daemon, notify, zl_test_image):
    # WATCHDOG_PID is checked against the daemon's pid; `zlayer-agent
    # daemon` execs zlayer-agentd, so the pid is the one Popen starts. The
    # fixture spawns it, so WATCHDOG_PID is left out (systemd's rule: unset
    # means "for whoever reads it").
    d = agent_daemon(env={"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "400000"})
    msgs = notify.wait_for("READY=1")
    assert any("STATUS=listening on " in m for m in msgs), msgs
    notify.wait_for("WATCHDOG=1", timeout=5)  # every 200 ms
    notify.wait_for("WATCHDOG=1", timeout=5)

    for cmd in (("load", zl_test_image.source), ("tag", zl_test_image.digest, zl_test_image.name)):
        r = d.cli(*cmd)
        assert r.returncode == 0, r.stderr
    try:
        r = d.cli("run", "--rm", "--network", "none", zl_test_image.name, "true", timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`run --rm ... true` hung (runc given the daemon's NOTIFY_SOCKET?):\n{d.log_tail()}")
    assert r.returncode == 0, f"{r.stdout}\n{r.stderr}\n{d.log_tail()}"

    assert d.stop() == 0
    notify.wait_for("STOPPING=1")  # queued on our socket meanwhile


def test_no_watchdog_pings_for_another_pid(agent_daemon, notify):
    agent_daemon(env={"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "200000", "WATCHDOG_PID": "1"})
    notify.wait_for("READY=1")
    got = notify.quiet_for(1.0)
    assert not any("WATCHDOG=1" in m for m in got), got
