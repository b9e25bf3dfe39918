"""Shared fixtures: the agent binary under test and a helper to run it."""
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"


@pytest.fixture(scope="session")
def agent_bin():
    path = os.environ.get("ZLAYER_AGENT", str(ROOT / "build" / "zlayer-agent"))
    if not os.access(path, os.X_OK):
        pytest.fail(f"agent binary {path} not built; run 'make build' or set ZLAYER_AGENT")
    return path


@pytest.fixture
def agent(agent_bin):
    """Run the agent with args; returns CompletedProcess with text output."""

    def run(*args, env=None, cwd=None, timeout=30):
        full_env = dict(os.environ)
        full_env.pop("ZLAYER_LOG_FORMAT", None)
        if env:
            full_env.update(env)
        return subprocess.run(
            [agent_bin, *map(str, args)],
            capture_output=True,
            text=True,
            env=full_env,
            cwd=cwd,
            timeout=timeout,
        )

    return run


# --- Image tests (regfix): registries on loopback, test images, an agent
# daemon per test. Helpers live in registry.py, testimages.py, tokenserver.py.
import shutil as _shutil
import signal as _signal
import socket as _socket
import tempfile as _tempfile
import time as _time

import registry as _registry
import testimages as _testimages


@pytest.fixture(scope="session")
def test_images(tmp_path_factory):
    """Every small test image, built once into one OCI layout (testimages.Layouts)."""
    return _testimages.build_layout(tmp_path_factory.mktemp("images"))


@pytest.fixture(scope="session")
def registry(tmp_path_factory, test_images):
    """registry(auth=None|"basic"|"token") -> a running registry.Registry,
    one per auth kind per session. The anonymous one holds every test image
    (see testimages.PUSH_PLAN and the evil-* repos; the unique layer of
    corrupt:latest is corrupted in storage); the others hold busybox:multi."""
    started = {}

    def get(auth=None):
        if auth not in started:
            reg = _registry.start_registry(tmp_path_factory.mktemp(f"registry-{auth or 'anon'}"), auth)
            started[auth] = reg
            if auth is None:
                _testimages.push(test_images, reg, list(_testimages.PUSH_PLAN) + sorted(test_images.evil))
                reg.corrupt_blob(test_images.corrupt_layer)
            else:
                _testimages.push(test_images, reg, ["multi"])
        return started[auth]

    yield get
    for reg in started.values():
        reg.stop()


@pytest.fixture
def proxy():
    """proxy(target, throttle_bytes_per_sec=None, cut_after_bytes=None,
    max_cuts=None, truncate_bodies_over=None, body_bytes=0) ->
    registry.TcpProxy (see there), closed after the test."""
    proxies = []

    def start(target, **kw):
        p = _registry.tcp_proxy(target, **kw)
        proxies.append(p)
        return p

    yield start
    for p in proxies:
        p.close()


class AgentDaemon:
    """One `zlayer-agent daemon` process; `cli()` talks to it."""

    def __init__(self, agent_bin, root, rundir, args, env, log, cli_env):
        self.agent_bin, self.root, self.rundir = agent_bin, root, rundir
        self.args, self.env, self.log = list(args), env, log
        self.base_cli_env = cli_env  # the CLI never sees the daemon's credentials
        self.socket = os.path.join(rundir, "agent.sock")
        self.proc = None
        self.expected_exit = False

    def start(self, timeout=20):
        self.expected_exit = False
        with open(self.log, "ab") as logf:
            self.proc = subprocess.Popen(
                [self.agent_bin, "daemon", "--root", str(self.root), "--runtime-dir", str(self.rundir),
                 *map(str, self.args)],
                stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.env,
                start_new_session=True)
        deadline = _time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"agent daemon exited with {self.proc.returncode} while starting:\n{self.log_tail()}")
            with _socket.socket(_socket.AF_UNIX) as s:
                try:
                    s.connect(self.socket)
                    return self
                except OSError:
                    pass
            if _time.monotonic() > deadline:
                pytest.fail(f"agent daemon not listening on {self.socket} after {timeout}s:\n{self.log_tail()}")
            _time.sleep(0.05)

    def log_tail(self, n=40):
        try:
            with open(self.log, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def cli_env(self, env=None):
        e = dict(self.base_cli_env)
        e["ZLAYER_RUNTIME_DIR"] = str(self.rundir)
        e.update(env or {})
        return e

    def cli(self, *args, timeout=90, env=None):
        return subprocess.run([self.agent_bin, *map(str, args)], capture_output=True, text=True,
                              env=self.cli_env(env), timeout=timeout)

    def popen(self, *args, env=None):
        return subprocess.Popen([self.agent_bin, *map(str, args)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=self.cli_env(env))

    def kill9(self):
        self.expected_exit = True
        self.proc.kill()
        self.proc.wait()

    def stop(self, timeout=15):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.expected_exit = True
        self.proc.send_signal(_signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"agent daemon ignored SIGTERM for {timeout}s:\n{self.log_tail()}")


@pytest.fixture
def agent_daemon(agent_bin, tmp_path):
    """agent_daemon(root=None, args=(), env=None) -> a started AgentDaemon.
    The store root defaults to tmp_path/store/root (deep, so that escapes
    land in tmp_path where tests can see them). DOCKER_CONFIG points at an
    empty directory unless env overrides it. Stopped (SIGTERM) after the
    test; a daemon that died on its own fails the test."""
    daemons, rundirs = [], []
    empty_cfg = tmp_path / "empty-docker-config"
    empty_cfg.mkdir(exist_ok=True)

    def start(root=None, args=(), env=None):
        root = root or tmp_path / "store" / "root"
        root.parent.mkdir(parents=True, exist_ok=True)
        rundir = _tempfile.mkdtemp(prefix="zl-run-", dir="/tmp")  # short: sun_path is 108 bytes
        rundirs.append(rundir)
        base_env = dict(os.environ)
        base_env.pop("ZLAYER_LOG_FORMAT", None)
        base_env["DOCKER_CONFIG"] = str(empty_cfg)
        full_env = dict(base_env)
        full_env.update(env or {})
        d = AgentDaemon(agent_bin, root, rundir, args, full_env, tmp_path / f"daemon-{len(daemons)}.log", base_env)
        daemons.append(d)
        return d.start()

    yield start
    crashed = []
    for d in daemons:
        if d.proc is not None and d.proc.poll() is not None and not d.expected_exit:
            crashed.append(f"agent daemon died with {d.proc.returncode}:\n{d.log_tail()}")
        d.stop()
    for r in rundirs:
        _shutil.rmtree(r, ignore_errors=True)
    if crashed:
        pytest.fail("\n".join(crashed))


@pytest.fixture(scope="session")
def big_image(registry, tmp_path_factory):
    """Reference of a ~200 MB, 5-layer image of random data in the anonymous
    registry (built and pushed on first use only, ~15 s; for benchmarks)."""
    return _testimages.push_big_image(tmp_path_factory.mktemp("big"), registry())
