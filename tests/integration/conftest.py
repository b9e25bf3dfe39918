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


# --- Sanitizer reports. scripts/check runs this suite with the daemon from
# the ASan/UBSan build (ZLAYER_AGENTD); a report in any daemon's log fails
# the test during which it appeared, or the daemon's stop.
import re as _re

_SANITIZER_REPORT = _re.compile(r"ERROR: (Address|Leak)Sanitizer|\.[ch]:\d+:\d+: runtime error: ")
_daemon_logs = {}  # log path -> bytes already checked


def sanitizer_reports(log):
    """New sanitizer reports in a daemon log since the last call, as text
    (the first 60 lines of the first report), or None."""
    log = str(log)
    try:
        with open(log, "rb") as f:
            f.seek(_daemon_logs.get(log, 0))
            data = f.read()
    except OSError:
        return None
    _daemon_logs[log] = _daemon_logs.get(log, 0) + len(data)
    text = data.decode(errors="replace")
    m = _SANITIZER_REPORT.search(text)
    if not m:
        return None
    start = text.rfind("\n", 0, m.start()) + 1
    return "\n".join(text[start:].splitlines()[:60])


@pytest.fixture(autouse=True)
def _no_sanitizer_reports():
    yield
    for log in list(_daemon_logs):
        rep = sanitizer_reports(log)
        if rep:
            pytest.fail(f"sanitizer report in {log}:\n{rep}")


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
        _daemon_logs.setdefault(str(log), 0)

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

    def cli(self, *args, timeout=90, env=None, input=None):
        return subprocess.run([self.agent_bin, *map(str, args)], capture_output=True, text=True,
                              env=self.cli_env(env), timeout=timeout, input=input)

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
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"agent daemon ignored SIGTERM for {timeout}s:\n{self.log_tail()}")
        rep = sanitizer_reports(self.log)
        if rep:
            pytest.fail(f"sanitizer report from the agent daemon ({self.log}):\n{rep}")
        return rc


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


# --- Runtime contract tests (contract): the zl-test image, one agent daemon
# per test module and runtime with it loaded, and what "nothing left
# behind" means. Stories in test_runtime_contract.py.
import json as _json

import testimage as _testimage

# runtime name -> the extra `zlayer-agent daemon` arguments that select it.
# Later runtimes add an entry here and reuse every runtime contract test.
RUNTIMES = {"oci": []}
# Containers' log size before rotation when the daemon lets tests set it.
RUNTIME_TEST_LOG_MAX_SIZE = 1 << 20


@pytest.fixture(scope="session")
def zl_test_image(tmp_path_factory):
    """testimage.TestImage: the `zl-test:latest` OCI layout, built once."""
    try:
        return _testimage.build(tmp_path_factory.mktemp("zl-test-image"))
    except FileNotFoundError as e:
        pytest.fail(str(e))


@pytest.fixture(scope="session", params=sorted(RUNTIMES))
def runtime_name(request):
    return request.param


def _daemon_help(agent_bin):
    try:
        return subprocess.run([agent_bin, "daemon", "--help"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""


def _mount_points():
    """Mount points of this mount namespace, in mount order."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if len(fields) > 4:
                out.append(fields[4].encode().decode("unicode_escape"))
    return out


class RuntimeDaemon(AgentDaemon):
    """An AgentDaemon with the test image loaded (`image`: the name to run,
    `image_digest`), the runtime it runs (`runtime`), and the ids and IPs
    of every container the tests made (`created`, `ips`), for the
    leftover checks. `log_max_size` is the containers' rotation size when
    the daemon accepted --log-max-size, else None (the 100 MiB default)."""

    def __init__(self, *a, runtime, **kw):
        super().__init__(*a, **kw)
        self.runtime = runtime
        self.image = self.image_digest = None
        self.created, self.ips = set(), set()
        self.log_max_size = None

    def runc_roots(self):
        """Where the runtime keeps its state (runc/crun --root): RUNTIME/runc
        by the OCI runtime's layout, plus any other root named on a running
        runc/crun/shim command line under our directories."""
        roots = {os.path.join(self.rundir, "runc")}
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    argv = f.read().decode(errors="replace").split("\0")
            except OSError:
                continue
            prog = os.path.basename(argv[0])
            for flag in ("--root", "--runtime-root"):
                if flag in argv[:-1] and (flag != "--root" or prog in ("runc", "crun")):
                    r = argv[argv.index(flag) + 1]
                    if r.startswith((str(self.rundir), str(self.root))):
                        roots.add(r)
        return sorted(roots)

    def our_processes(self):
        """(pid, cmdline) of live processes other than the daemon that belong
        to this daemon's containers: shims and runtimes naming our
        directories, and the test helper from the image."""
        found = []
        marks = (str(self.rundir), str(self.root))
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) in (os.getpid(), self.proc.pid if self.proc else -1):
                continue
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    argv = [a for a in f.read().decode(errors="replace").split("\0") if a]
            except OSError:
                continue
            if not argv:
                continue
            line = " ".join(argv)
            if any(m in line for m in marks) or (os.path.basename(argv[0]) == "zl-testhelper" and
                                                 self._root_is_ours(pid)):
                found.append((int(pid), line))
        return found

    def _root_is_ours(self, pid):
        """The process runs in one of our containers: its root is a rootfs
        under our directories (other daemons on this machine run the same
        test helper in theirs)."""
        try:
            root = os.readlink(f"/proc/{pid}/root")
        except OSError:
            return False
        return any(root == str(p) or root.startswith(str(p) + "/") for p in (self.rundir, self.root))

    def leftovers(self):
        """Everything a removed container may leave behind, as readable lines;
        [] when the machine is clean."""
        left = []
        for root in self.runc_roots():
            if os.path.isdir(root):
                ids = sorted(e for e in os.listdir(root) if os.path.isdir(os.path.join(root, e)))
                if ids:
                    listing = subprocess.run(["runc", "--root", root, "list"], capture_output=True, text=True)
                    left.append(f"runtime state in {root}: {ids}\n{listing.stdout}{listing.stderr}")
        for mp in _mount_points():
            if any(mp == str(p) or mp.startswith(str(p) + "/") for p in (self.rundir, self.root)):
                left.append(f"mount: {mp}")
        for nsdir in (os.path.join(self.rundir, "netns"), os.path.join(self.root, "netns")):
            if os.path.isdir(nsdir) and os.listdir(nsdir):
                left.append(f"network namespaces in {nsdir}: {sorted(os.listdir(nsdir))}")
        if os.path.isdir("/run/netns"):
            mine = [n for n in os.listdir("/run/netns") if any(c in n for c in self.created)]
            if mine:
                left.append(f"network namespaces in /run/netns: {mine}")
        for pid, line in self.our_processes():
            left.append(f"process {pid}: {line}")
        left += [f"cgroup: {p}" for p in self._cgroups()]
        if self.ips or self.created:
            r = subprocess.run(["iptables-save"], capture_output=True, text=True)
            for line in r.stdout.splitlines():
                if any(f"{ip}/" in line or f"{ip}:" in line for ip in self.ips) or \
                        any(len(c) >= 8 and c in line for c in self.created):
                    left.append(f"iptables: {line}")
        return left

    def _cgroups(self):
        ids = [c for c in self.created if len(c) >= 8]
        if not ids:
            return []
        found, stack = [], [("/sys/fs/cgroup", 0)]
        while stack:
            path, depth = stack.pop()
            try:
                entries = list(os.scandir(path))
            except OSError:
                continue
            for e in entries:
                if e.is_dir(follow_symlinks=False):
                    if any(c in e.name for c in ids):
                        found.append(e.path)
                    elif depth < 5:
                        stack.append((e.path, depth + 1))
        return found

    def force_cleanup(self):
        """Last resort after the tests: remove every container through the
        agent, stop it, then undo by hand whatever is still there."""
        try:
            if self.proc is not None and self.proc.poll() is None:
                r = self.cli("ps", "-a", "--json", timeout=30)
                try:
                    ids = [c["id"] for c in _json.loads(r.stdout)] if r.returncode == 0 else []
                except ValueError:
                    ids = []
                ids = sorted(set(ids) | self.created)
                for i in range(0, len(ids), 20):
                    self.cli("rm", "-f", *ids[i:i + 20], timeout=120)
        finally:
            try:
                self.stop()
            finally:
                self._clean_by_hand()

    def _clean_by_hand(self):
        for root in self.runc_roots():
            if os.path.isdir(root):
                for cid in os.listdir(root):
                    subprocess.run(["runc", "--root", root, "delete", "-f", cid], capture_output=True)
        for pid, _ in self.our_processes():
            try:
                os.kill(pid, _signal.SIGKILL)
            except OSError:
                pass
        for mp in reversed(_mount_points()):
            if any(mp == str(p) or mp.startswith(str(p) + "/") for p in (self.rundir, self.root)):
                subprocess.run(["umount", "-l", mp], capture_output=True)
        for cg in self._cgroups():
            try:
                os.rmdir(cg)
            except OSError:
                pass
        _shutil.rmtree(self.rundir, ignore_errors=True)


@pytest.fixture(scope="module")
def runtime_daemon(runtime_name, agent_bin, zl_test_image, tmp_path_factory):
    """A RuntimeDaemon for this module with `zl-test:latest` loaded, per
    runtime in RUNTIMES. After the module: every container removed and the
    machine cleaned by hand if the agent left anything (the tests check
    leftovers themselves, before this)."""
    base = tmp_path_factory.mktemp(f"runtime-{runtime_name}")
    root = base / "root"
    rundir = _tempfile.mkdtemp(prefix="zl-rt-", dir="/tmp")  # short: sun_path is 108 bytes
    cfg = base / "empty-docker-config"
    cfg.mkdir()
    env = dict(os.environ)
    env.pop("ZLAYER_LOG_FORMAT", None)
    env["DOCKER_CONFIG"] = str(cfg)
    args = list(RUNTIMES[runtime_name])
    log_max = None
    if "--log-max-size" in _daemon_help(agent_bin):
        log_max = RUNTIME_TEST_LOG_MAX_SIZE
        args += ["--log-max-size", str(log_max)]
    d = RuntimeDaemon(agent_bin, root, rundir, args, env, base / "daemon.log", dict(env), runtime=runtime_name)
    d.log_max_size = log_max
    try:
        d.start()
        r = d.cli("load", zl_test_image.source)
        if r.returncode != 0:
            pytest.fail(f"load {zl_test_image.source}: {r.stderr}\n--- daemon:\n{d.log_tail()}")
        d.image_digest = zl_test_image.digest
        r = d.cli("tag", zl_test_image.digest, zl_test_image.name)
        d.image = zl_test_image.name if r.returncode == 0 else zl_test_image.source
        yield d
    finally:
        crashed = d.proc is not None and d.proc.poll() is not None and not d.expected_exit
        tail = d.log_tail()
        d.force_cleanup()
    if crashed:
        pytest.fail(f"agent daemon died with {d.proc.returncode}:\n{tail}")


# --- Service manager stories: one daemon per module, see deploykit.py.
import deploykit as _deploykit


@pytest.fixture(scope="module")
def dd(request, agent_bin, zl_test_image, tmp_path_factory):
    """A RuntimeDaemon for the module's deployment stories, the zl-test image
    loaded (as the module's IMAGE_TAG, else its own name), configured by the
    module's DAEMON_CONFIG; everything it ran is cleaned up after."""
    base = tmp_path_factory.mktemp(request.module.__name__.replace("test_", ""))
    d = _deploykit.start_daemon(RuntimeDaemon, agent_bin, zl_test_image, base,
                                getattr(request.module, "DAEMON_CONFIG", None),
                                getattr(request.module, "IMAGE_TAG", None))
    try:
        yield d
    finally:
        d.force_cleanup()


@pytest.fixture
def down(dd):
    """Deployment names a story made; taken down after it."""
    names = []
    yield names
    for n in names:
        dd.cli("down", n, timeout=120)
