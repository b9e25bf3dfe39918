"""zlayer-shim with the real runc on a busybox bundle: the shim creates the
container, the test plays the agent (runc start, exit.json, "collected").

Needs root, runc and busybox-static. The shim binary is ZLAYER_SHIM or
build/zlayer-shim. Every container gets its own runc --root, and every
test deletes its container and directories even when it fails. The test
process is a child subreaper while these tests run, so detached shims (and
orphaned inits) become its children and are reaped here instead of being
left to pid 1."""
import ctypes
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
RUNC = shutil.which("runc") or "/usr/sbin/runc"
BUSYBOX = shutil.which("busybox") or "/bin/busybox"
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")
PR_SET_CHILD_SUBREAPER = 36

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="runc needs root"),
    pytest.mark.skipif(not os.access(RUNC, os.X_OK), reason="runc not installed"),
    pytest.mark.skipif(not os.access(BUSYBOX, os.X_OK), reason="busybox not installed"),
]


def set_subreaper(on):
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1 if on else 0, 0, 0, 0)


def reap(pid):
    """Reap pid if it is our (adopted) child and has exited; True if gone."""
    try:
        got, _ = os.waitpid(pid, os.WNOHANG)
        if got == pid:
            return True
    except ChildProcessError:
        pass
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def wait_gone(pid, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if reap(pid):
            return True
        time.sleep(0.02)
    return False


@pytest.fixture(scope="module")
def shim_bin():
    path = os.environ.get("ZLAYER_SHIM", str(ROOT / "build" / "zlayer-shim"))
    if not os.access(path, os.X_OK):
        pytest.fail(f"shim binary {path} not built; run 'make build' or set ZLAYER_SHIM")
    set_subreaper(True)
    yield path
    set_subreaper(False)


@pytest.fixture(scope="module")
def rootfs():
    """One read-only busybox rootfs shared by every bundle."""
    d = tempfile.mkdtemp(prefix="zs-rootfs-", dir="/tmp")
    (pathlib.Path(d) / "bin").mkdir()
    shutil.copy(BUSYBOX, pathlib.Path(d) / "bin" / "busybox")
    yield pathlib.Path(d)
    shutil.rmtree(d, ignore_errors=True)


class Container:
    def __init__(self, shim_bin, rootfs, base, cid):
        self.shim_bin, self.rootfs, self.base, self.id = shim_bin, rootfs, base, cid
        self.bundle = base / "bundle"
        self.state = base / "state"
        self.runc_root = base / "runc"
        self.log = base / "logs" / "container.log"
        self.shim_pid = self.init_pid = None
        self.report = None

    def runc(self, *args, check=True):
        return subprocess.run([RUNC, "--root", str(self.runc_root), *args], capture_output=True, text=True,
                              timeout=20, check=check)

    def write_config(self, args, tty=False, memory_limit=None):
        self.bundle.mkdir(parents=True, exist_ok=True)
        (self.bundle / "config.json").unlink(missing_ok=True)
        subprocess.run([RUNC, "spec", "--bundle", str(self.bundle)], check=True, capture_output=True)
        cfgpath = self.bundle / "config.json"
        cfg = json.loads(cfgpath.read_text())
        cfg["root"] = {"path": str(self.rootfs), "readonly": True}
        cfg["process"]["args"] = ["/bin/busybox", *args]
        cfg["process"]["terminal"] = tty
        cfg["process"]["env"] = ["PATH=/bin"]
        if memory_limit:
            cfg["linux"].setdefault("resources", {})["memory"] = {"limit": memory_limit}
        cfgpath.write_text(json.dumps(cfg))

    def create(self, args, tty=False, memory_limit=None, log_max_size=None, log_max_files=None, extra=()):
        """Run the shim the way the agent does; returns the report line."""
        self.write_config(args, tty=tty, memory_limit=memory_limit)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        cmd = [self.shim_bin, "--id", self.id, "--bundle", str(self.bundle), "--state-dir", str(self.state),
               "--runtime", RUNC, "--runtime-root", str(self.runc_root), "--log-file", str(self.log)]
        if log_max_size is not None:
            cmd += ["--log-max-size", str(log_max_size)]
        if log_max_files is not None:
            cmd += ["--log-max-files", str(log_max_files)]
        if tty:
            cmd.append("--tty")
        cmd += list(extra)
        t0 = time.monotonic()
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                           timeout=20)
        self.report = p.stdout.decode()
        self.first_exit = p.returncode
        self.create_seconds = time.monotonic() - t0
        m = re.fullmatch(r"ok (\d+) (\d+)\n", self.report)
        if m:
            self.shim_pid, self.init_pid = int(m.group(1)), int(m.group(2))
        return self.report

    def run(self, args, **kw):
        report = self.create(args, **kw)
        assert report.startswith("ok "), report
        self.runc("start", self.id)
        return self

    def wait_exit(self, timeout=15):
        path = self.state / "exit.json"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if path.exists():
                return json.loads(path.read_text())
            time.sleep(0.02)
        pytest.fail(f"no exit.json after {timeout}s; log: {self.log_files()}")

    def control(self, word):
        fd = os.open(self.state / "control", os.O_WRONLY | os.O_NONBLOCK)
        try:
            os.write(fd, (word + "\n").encode())
        finally:
            os.close(fd)

    def log_files(self):
        """The log and its rotated siblings, oldest first."""
        rotated = sorted(self.log.parent.glob(self.log.name + ".*"), key=lambda p: -int(p.suffix[1:]))
        return rotated + ([self.log] if self.log.exists() else [])

    def records(self, running=False):
        """Every record; a container still writing (running=True) may have a
        record half written at the end of its current log, which is left out."""
        recs = []
        files = self.log_files()
        for f in files:
            data = f.read_bytes()
            if running and f == files[-1] and not data.endswith(b"\n"):
                data = data[:data.rfind(b"\n") + 1]
            assert data == b"" or data.endswith(b"\n"), f"{f} ends in a half record"
            for line in data.splitlines():
                rec = json.loads(line)
                assert set(rec) == {"log", "stream", "time"}, rec
                assert TIME_RE.match(rec["time"]), rec["time"]
                recs.append(rec)
        return recs

    def text(self, stream=None, running=False):
        return "".join(r["log"] for r in self.records(running) if stream in (None, r["stream"]))

    def cleanup(self):
        if self.runc_root.exists():
            subprocess.run([RUNC, "--root", str(self.runc_root), "delete", "-f", self.id], capture_output=True,
                           timeout=20)
        if not self.shim_pid:  # a shim that reported an error has exited: reap it
            try:
                self.shim_pid = int((self.state / "shim.pid").read_text())
            except (OSError, ValueError):
                pass
        for pid in (self.shim_pid, self.init_pid):
            if pid and not reap(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                wait_gone(pid)
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture
def container(shim_bin, rootfs):
    """container() -> a Container (not created yet); all are deleted after the test."""
    made = []

    def make():
        base = pathlib.Path(tempfile.mkdtemp(prefix="zs-", dir="/tmp"))  # short: sun_path is 108 bytes
        c = Container(shim_bin, rootfs, base, f"zshim-{os.getpid()}-{len(made)}-{base.name[3:]}")
        made.append(c)
        return c

    yield make
    for c in made:
        c.cleanup()


def test_stdout_and_stderr_become_json_lines(container):
    c = container().run(["sh", "-c", "echo out1; echo err1 >&2; echo 'quote \" and \\ back'; printf tail"])
    assert os.getpid() != c.shim_pid
    exit_rec = c.wait_exit()
    assert exit_rec["exit_code"] == 0 and exit_rec["signal"] == 0 and exit_rec["oom_killed"] is False
    recs = c.records()
    assert [r["log"] for r in recs if r["stream"] == "stdout"] == ["out1\n", 'quote " and \\ back\n', "tail"]
    assert [r["log"] for r in recs if r["stream"] == "stderr"] == ["err1\n"]


def test_init_is_the_shims_child_in_its_own_session(container):
    c = container().run(["sleep", "100"])
    with open(f"/proc/{c.init_pid}/status") as f:
        ppid = int(re.search(r"^PPid:\s+(\d+)", f.read(), re.M).group(1))
    assert ppid == c.shim_pid
    assert os.getsid(c.shim_pid) == c.shim_pid
    assert (c.state / "shim.pid").read_text().strip() == str(c.shim_pid)
    assert (c.state / "init.pid").read_text().strip() == str(c.init_pid)
    assert c.first_exit == 0


def test_exit_code_recorded(container):
    c = container().run(["sh", "-c", "exit 3"])
    rec = c.wait_exit()
    assert rec["exit_code"] == 3 and rec["signal"] == 0 and rec["oom_killed"] is False
    assert TIME_RE.match(rec["finished_at"])
    assert abs(rec["finished_at_ns"] / 1e9 - time.time()) < 30
    assert rec["finished_at"].endswith(f"{rec['finished_at_ns'] % 10**9:09d}Z")


def test_sigkill_recorded_as_137(container):
    c = container().run(["sleep", "100"])
    c.runc("kill", c.id, "KILL")
    rec = c.wait_exit()
    assert (rec["exit_code"], rec["signal"], rec["oom_killed"]) == (137, 9, False)


def test_rotation_loses_no_line(container):
    max_size = 128 * 1024
    c = container().run(["seq", "1", "100000"], log_max_size=max_size, log_max_files=99)
    assert c.wait_exit()["exit_code"] == 0
    files = c.log_files()
    assert len(files) > 10
    assert all(f.stat().st_size <= max_size for f in files)
    nums = [int(r["log"]) for r in c.records()]
    assert nums == list(range(1, 100001))


def test_rotation_keeps_max_files(container):
    c = container().run(["seq", "1", "20000"], log_max_size=16 * 1024, log_max_files=3)
    assert c.wait_exit()["exit_code"] == 0
    assert [f.name for f in c.log_files()] == ["container.log.2", "container.log.1", "container.log"]
    nums = [int(r["log"]) for r in c.records()]
    assert nums[-1] == 20000 and nums == list(range(nums[0], 20001))


def test_binary_output_stays_valid_json(container):
    c = container().run(["sh", "-c", "head -c 200000 /dev/urandom; echo; printf '\\377'; head -c 2 /dev/zero; echo; "
                                     "echo done"])
    assert c.wait_exit()["exit_code"] == 0
    recs = c.records()  # every line parses
    assert recs[-1]["log"] == "done\n"
    assert recs[-2]["log"] == "\ufffd\u0000\u0000\n"
    assert all(len(r["log"].encode("utf-8", "surrogatepass")) <= 3 * 16384 for r in recs)
    assert any("\ufffd" in r["log"] for r in recs[:-2])


def test_long_line_split_at_16k(container):
    c = container().run(["sh", "-c", "head -c 40000 /dev/zero | tr '\\0' x; echo"])
    assert c.wait_exit()["exit_code"] == 0
    logs = [r["log"] for r in c.records()]
    assert [len(x) for x in logs] == [16384, 16384, 40000 - 2 * 16384 + 1]
    assert "".join(logs) == "x" * 40000 + "\n"


def test_oom_kill_detected(container):
    c = container().run(["sh", "-c", "x=aaaaaaaa; while true; do x=$x$x; done"], memory_limit=20 << 20)
    rec = c.wait_exit(timeout=20)
    assert (rec["exit_code"], rec["signal"], rec["oom_killed"]) == (137, 9, True)


def test_container_survives_shim_sigkill(container):
    c = container().run(["sleep", "1000"])
    os.kill(c.shim_pid, signal.SIGKILL)
    assert wait_gone(c.shim_pid)
    time.sleep(0.2)
    state = json.loads(c.runc("state", c.id).stdout)
    assert state["status"] == "running" and state["pid"] == c.init_pid
    os.kill(c.init_pid, 0)


def test_collected_makes_the_shim_exit(container):
    c = container().run(["sleep", "100"])
    c.control("collected")  # too early: ignored
    time.sleep(0.2)
    assert not reap(c.shim_pid)
    c.runc("kill", c.id, "KILL")
    assert c.wait_exit()["signal"] == 9
    time.sleep(0.2)
    assert not reap(c.shim_pid), "the shim must wait to be collected"
    c.control("bogus")
    c.control("collected")
    assert wait_gone(c.shim_pid)
    assert c.runc("state", c.id, check=False).returncode == 0  # the container is the agent's to delete


def test_shim_rss_under_1mib(container):
    c = container().run(["sh", "-c", "seq 1 20000; head -c 100000 /dev/urandom; echo; sleep 100"])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "20000\n" not in c.text(running=True):
        time.sleep(0.05)
    rss_kib = int(subprocess.run(["ps", "-o", "rss=", "-p", str(c.shim_pid)], capture_output=True, text=True,
                                 check=True).stdout)
    print(f"shim RSS: {rss_kib} KiB")
    assert rss_kib < 1024


def test_create_error_reported(container):
    c = container()
    c.write_config(["sh"])
    cfg = json.loads((c.bundle / "config.json").read_text())
    cfg["process"]["args"] = ["/bin/does-not-exist"]
    (c.bundle / "config.json").write_text(json.dumps(cfg))
    c.log.parent.mkdir(parents=True)
    p = subprocess.run([c.shim_bin, "--id", c.id, "--bundle", str(c.bundle), "--state-dir", str(c.state),
                        "--runtime", RUNC, "--runtime-root", str(c.runc_root), "--log-file", str(c.log)],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode == 0  # the first process only detaches
    assert re.fullmatch(r"error runc create failed: .*does-not-exist.*\n", p.stdout), p.stdout
    assert "time=" not in p.stdout and "level=" not in p.stdout
    assert c.id not in c.runc("list", "-q", check=False).stdout.split()
    assert not (c.state / "exit.json").exists()


def test_bad_runtime_and_usage_errors(container, shim_bin):
    c = container()
    report = c.create(["true"], extra=["--runtime", "/nonexistent/runc"])
    assert report == "error cannot run the runtime '/nonexistent/runc': No such file or directory\n"
    p = subprocess.run([shim_bin, "--id", "x"], capture_output=True, text=True, timeout=10)
    assert p.returncode == 2 and p.stdout.startswith("error missing option")
    p = subprocess.run([shim_bin, "--id", "x", "--bundle", "rel", "--state-dir", "/s", "--runtime", "r",
                        "--log-file", "/l"], capture_output=True, text=True, timeout=10)
    assert p.returncode == 2 and p.stdout == "error path 'rel' must be absolute (the shim runs in '/')\n"


def test_tty_output_logged_as_stdout(container):
    c = container().run(["sh", "-c", "echo on-tty; tty; echo to-stderr >&2; exit 4"], tty=True)
    assert c.wait_exit()["exit_code"] == 4
    recs = c.records()
    assert {r["stream"] for r in recs} == {"stdout"}
    logs = [r["log"] for r in recs]
    assert logs[0] == "on-tty\r\n" and re.fullmatch(r"/dev/pts/\d+\r\n", logs[1]) and logs[2] == "to-stderr\r\n"
    assert not (c.state / "console.sock").exists()


def test_reopen_logs(container):
    c = container().run(["sh", "-c", "echo before; sleep 1; echo after"])
    deadline = time.monotonic() + 5
    while "before" not in c.text(running=True) and time.monotonic() < deadline:
        time.sleep(0.02)
    moved = c.log.with_name("moved.log")
    c.log.rename(moved)
    c.control("reopen-logs")
    assert c.wait_exit()["exit_code"] == 0
    assert [json.loads(x)["log"] for x in moved.read_text().splitlines()] == ["before\n"]
    assert [r["log"] for r in c.records()] == ["after\n"]
