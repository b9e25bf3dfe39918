"""The runtime contract: user stories through the `zlayer-agent` CLI that
every runtime must pass (parametrised by runtime, see conftest.RUNTIMES).
Each story runs containers of the `zl-test:latest` image (testimage.py)
whose programs are busybox and zl-testhelper (tests/helper), removes them
again, and the last test checks that nothing is left: no runtime state, no
mount, network namespace, cgroup, iptables rule or process.

Fixtures: conftest.py (runtime_daemon, zl_test_image)."""
import concurrent.futures
import json
import os
import re
import socket
import time
import urllib.request

import pytest

HELPER = "zl-testhelper"
MIB = 1 << 20


# --- helpers -------------------------------------------------------------

def show(r, d=None):
    text = f"{' '.join(map(str, r.args))}: exit {r.returncode}\n--- stdout:\n{r.stdout[-3000:]}\n" \
           f"--- stderr:\n{r.stderr[-3000:]}"
    if d is not None:
        text += f"\n--- daemon:\n{d.log_tail(30)}"
    return text


def ok(d, *args, timeout=90):
    r = d.cli(*args, timeout=timeout)
    assert r.returncode == 0, show(r, d)
    return r


def wait_for(what, cond, timeout=20.0, interval=0.1):
    """Poll cond() until it returns something truthy; fail naming `what`."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = cond()
        except AssertionError as e:
            last = e
        if last and not isinstance(last, AssertionError):
            return last
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
        time.sleep(interval)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def inspect(d, cid):
    r = ok(d, "inspect", cid)
    data = json.loads(r.stdout)
    # a JSON array of one (docker's shape) or the object itself
    if isinstance(data, list):
        assert len(data) == 1, r.stdout
        data = data[0]
    return data


def ps(d, all_=False):
    r = ok(d, "ps", *(["-a"] if all_ else []), "--json")
    data = json.loads(r.stdout)
    assert isinstance(data, list), r.stdout
    return {c["id"]: c for c in data}


def stats(d, cid):
    r = ok(d, "stats", "--json", cid)
    data = json.loads(r.stdout)
    # a list of one (docker's shape) or the object itself
    return data[0] if isinstance(data, list) else data


def logs(d, cid, *args):
    r = ok(d, "logs", *args, cid)
    return r.stdout, r.stderr


def gone(d, cid):
    return d.cli("inspect", cid).returncode != 0


class Containers:
    """Names and runs the containers of one test; removes them all after it."""

    def __init__(self, d, prefix):
        self.d = d
        self.prefix = prefix
        self.ids = []

    def name(self):
        n = f"zlt-{self.prefix}-{len(self.ids)}"
        self.track(n)
        return n

    def track(self, cid):
        self.ids.append(cid)
        self.d.created.add(cid)
        return cid

    def run(self, *args, timeout=90, name=None):
        """`run --rm --name N ...` in the foreground; returns CompletedProcess."""
        name = name or self.name()
        return self.d.cli("run", "--rm", "--name", name, *args, timeout=timeout)

    def run_out(self, *args, timeout=90):
        """A foreground run that must exit 0; returns its stdout."""
        r = self.run(*args, timeout=timeout)
        assert r.returncode == 0, show(r, self.d)
        return r.stdout

    def start(self, *args, name=None, timeout=90):
        """`run -d --name N ...`; returns the id it printed."""
        name = name or self.name()
        r = self.d.cli("run", "-d", "--name", name, *args, timeout=timeout)
        assert r.returncode == 0, show(r, self.d)
        lines = r.stdout.strip().splitlines()
        assert lines, f"run -d printed no id:\n{show(r)}"
        cid = lines[-1].strip()
        if cid != name:
            self.track(cid)
        return cid

    def ip(self, cid):
        ip = inspect(self.d, cid).get("ip")
        if ip:
            self.d.ips.add(ip)
        return ip

    def cleanup(self):
        if self.ids:
            self.d.cli("rm", "-f", *self.ids, timeout=120)


@pytest.fixture
def ctr(runtime_daemon, request):
    prefix = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower().removeprefix("test_"))[:24].strip("-")
    c = Containers(runtime_daemon, prefix)
    yield c
    c.cleanup()


def wait_log(d, cid, text, timeout=20):
    return wait_for(f"{text!r} in the logs of {cid}",
                    lambda: text in "".join(logs(d, cid)), timeout=timeout)


def wait_exit(d, cid, timeout=60):
    """`wait ID`; returns the exit code it printed."""
    r = d.cli("wait", cid, timeout=timeout)
    assert r.returncode == 0, show(r, d)
    return int(r.stdout.strip().splitlines()[-1])


# --- running ---------------------------------------------------------------

def test_run_streams_output_and_passes_the_exit_code(runtime_daemon, ctr):
    d = runtime_daemon
    out = ctr.run_out(d.image, HELPER, "args", "one", "two words", "")
    assert out == "one\ntwo words\n\n"
    for code in (1, 7, 255):
        r = ctr.run(d.image, HELPER, "exit", str(code))
        assert r.returncode == code, show(r, d)
    r = ctr.run(d.image, HELPER, "stderr", "to-stderr")
    assert r.returncode == 0, show(r, d)
    assert "to-stderr" in r.stderr and "to-stderr" not in r.stdout, show(r)


def test_run_rm_removes_the_container(runtime_daemon, ctr):
    d = runtime_daemon
    name = ctr.name()
    r = ctr.run(d.image, "true", name=name)
    assert r.returncode == 0, show(r, d)
    wait_for(f"{name} removed after run --rm", lambda: gone(d, name), timeout=10)
    assert name not in ps(d, all_=True)
    cid = ctr.start("--rm", d.image, HELPER, "sleep", "0.5")
    wait_for(f"{cid} removed after it exited (run -d --rm)", lambda: gone(d, cid), timeout=15)


def test_create_then_start(runtime_daemon, ctr):
    d = runtime_daemon
    name = ctr.name()
    r = d.cli("create", "--name", name, d.image, "sh", "-c", "echo started; exit 4")
    assert r.returncode == 0, show(r, d)
    assert r.stdout.strip().splitlines()[-1] == name, show(r)
    assert name not in ps(d)
    assert ps(d, all_=True)[name]["state"] == "created"
    assert inspect(d, name)["state"] == "created"
    assert logs(d, name) == ("", "")
    ok(d, "start", name)
    assert wait_exit(d, name) == 4
    assert logs(d, name)[0] == "started\n"
    info = inspect(d, name)
    assert info["state"] == "exited" and info["exit_code"] == 4, info


def test_image_command_and_entrypoint_override(runtime_daemon, ctr):
    d = runtime_daemon
    r = ctr.run(d.image)  # Cmd ["/bin/sh"] with stdin at EOF
    assert r.returncode == 0, show(r, d)
    out = ctr.run_out("--entrypoint", f"/usr/bin/{HELPER}", d.image, "args", "x", "y")
    assert out == "x\ny\n"
    r = ctr.run(d.image, "sh", "-c", "echo hi; exit 3")
    assert r.returncode == 3 and r.stdout == "hi\n", show(r, d)


def test_environment(runtime_daemon, ctr):
    d = runtime_daemon
    env = ctr.run_out("-e", "FOO=bar", "-e", "WITH_EQ=a=b", "-e", "EMPTY=", d.image, HELPER, "env").splitlines()
    assert "FOO=bar" in env and "WITH_EQ=a=b" in env and "EMPTY=" in env, env
    assert "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" in env, env
    assert "HOME=/root" in env, env
    env = ctr.run_out("-e", "PATH=/opt/x:/usr/bin", d.image, f"/usr/bin/{HELPER}", "env").splitlines()
    assert [e for e in env if e.startswith("PATH=")] == ["PATH=/opt/x:/usr/bin"], env


@pytest.mark.parametrize("user,want", [
    (None, "uid=0 gid=0"),
    ("1000", "uid=1000 gid=1000"),
    ("app", "uid=1000 gid=1000"),
    ("1000:2000", "uid=1000 gid=2000"),
    ("app:root", "uid=1000 gid=0"),
    ("4242", "uid=4242 gid=0"),
], ids=["image-default", "uid", "name", "uid-gid", "name-group", "unknown-uid"])
def test_user(runtime_daemon, ctr, user, want):
    d = runtime_daemon
    args = ["--user", user] if user else []
    out = ctr.run_out(*args, d.image, HELPER, "id")
    assert out.startswith(want + " "), out
    if user == "app":
        groups = out.split("groups=")[1].strip().split(",")
        assert "1000" in groups, out
        env = ctr.run_out(*args, d.image, HELPER, "env").splitlines()
        assert "HOME=/home/app" in env, env


def test_workdir(runtime_daemon, ctr):
    d = runtime_daemon
    assert ctr.run_out(d.image, HELPER, "cwd") == "/\n"
    assert ctr.run_out("--workdir", "/tmp", d.image, HELPER, "cwd") == "/tmp\n"
    # Docker creates a working directory the image lacks
    assert ctr.run_out("--workdir", "/made/by/runtime", d.image, HELPER, "cwd") == "/made/by/runtime\n"
    out = ctr.run_out("--user", "app", "--workdir", "/home/app", d.image, "sh", "-c",
                      f"{HELPER} cwd && {HELPER} write ./mine")
    assert out.startswith("/home/app\n"), out


def test_init_is_pid_1_with_its_hostname_and_no_stray_descriptors(runtime_daemon, ctr):
    d = runtime_daemon
    name = ctr.name()
    r = ctr.run(d.image, "sh", "-c", f"echo $$; {HELPER} hostname", name=name)
    assert r.returncode == 0, show(r, d)
    assert r.stdout.splitlines() == ["1", name], show(r)
    fds = ctr.run_out(d.image, HELPER, "fds")
    assert fds == "", f"descriptors leaked into the container:\n{fds}"


def test_read_only_rootfs(runtime_daemon, ctr):
    d = runtime_daemon
    script = f"{HELPER} write /etc/zl-ro; echo etc=$?; {HELPER} write /tmp/zl-ro; echo tmp=$?"
    out = ctr.run_out("--read-only", "--tmpfs", "/tmp", d.image, "sh", "-c", script)
    assert "etc=1" in out and "tmp=0" in out, out
    out = ctr.run_out(d.image, "sh", "-c", script)
    assert "etc=0" in out and "tmp=0" in out, out
    # a container's writes stay in its own layer
    out = ctr.run_out(d.image, "sh", "-c", "test -e /etc/zl-ro; echo seen=$?")
    assert "seen=1" in out, out


def test_volumes_and_tmpfs(runtime_daemon, ctr, tmp_path):
    d = runtime_daemon
    rw, ro = tmp_path / "rw", tmp_path / "ro"
    rw.mkdir()
    ro.mkdir()
    (ro / "given").write_text("from the host\n")
    script = (f"{HELPER} write /data/from-container; echo rw=$?; "
              f"cat /ro/given; {HELPER} write /ro/nope; echo ro=$?; "
              "grep ' /scratch ' /proc/mounts")
    out = ctr.run_out("-v", f"{rw}:/data", "-v", f"{ro}:/ro:ro", "--tmpfs", "/scratch", d.image, "sh", "-c", script)
    assert "rw=0" in out and "from the host" in out and "ro=1" in out, out
    assert re.search(r"^tmpfs /scratch tmpfs ", out, re.M), out
    assert (rw / "from-container").read_text() == "ok\n"
    assert not (ro / "nope").exists()


# --- limits and isolation ---------------------------------------------------

def test_resource_limits_are_visible_inside(runtime_daemon, ctr):
    d = runtime_daemon
    out = ctr.run_out("--memory", "64m", "--pids-limit", "64", "--cpus", "0.5", d.image, HELPER, "cgroup")
    seen = dict(line.split("=", 1) for line in out.splitlines())
    assert seen["memory_max"] == str(64 * MIB), out
    assert seen["pids_max"] == "64", out
    quota, period = seen["cpu_max"].split()
    assert int(quota) * 2 == int(period), out
    out = ctr.run_out(d.image, HELPER, "cgroup")
    assert "memory_max=max" in out, out


def test_pids_limit_stops_a_fork_bomb(runtime_daemon, ctr):
    d = runtime_daemon
    out = ctr.run_out("--pids-limit", "10", d.image, HELPER, "forks", "50")
    m = re.fullmatch(r"forked=(\d+) errno=EAGAIN\n", out)
    assert m and int(m.group(1)) < 10, out
    assert ctr.run_out(d.image, HELPER, "forks", "50") == "forked=50\n"


def test_seccomp_denies_what_dockers_profile_denies(runtime_daemon, ctr):
    d = runtime_daemon
    for syscall in ("keyctl", "add_key"):
        r = ctr.run(d.image, HELPER, "seccomp", syscall)
        assert r.returncode == 1, f"{syscall} should be denied:\n{show(r, d)}"
        assert "mode=2" in r.stdout and "denied" in r.stdout, show(r)
    r = ctr.run("--privileged", d.image, HELPER, "seccomp", "keyctl")
    assert r.returncode == 0, f"--privileged runs without a seccomp filter:\n{show(r, d)}"


def test_network_modes(runtime_daemon, ctr):
    d = runtime_daemon

    def ifaces(out):
        return sorted(line.split(":")[0].strip() for line in out.splitlines()[2:])

    assert ifaces(ctr.run_out("--network", "none", d.image, "cat", "/proc/net/dev")) == ["lo"]
    def host_ifaces():
        with open("/proc/net/dev") as f:
            return set(ifaces(f.read()))

    # other containers may come and go on the host meanwhile: compare with
    # the interfaces that were there before and after
    before = host_ifaces()
    seen = set(ifaces(ctr.run_out("--network", "host", d.image, "cat", "/proc/net/dev")))
    after = host_ifaces()
    assert before & after <= seen <= before | after, f"host network: {sorted(seen)}, host: {sorted(after)}"
    host = sorted(after)
    bridged = ifaces(ctr.run_out(d.image, "cat", "/proc/net/dev"))
    assert "lo" in bridged and len(bridged) >= 2 and bridged != host, bridged


# --- lifecycle ----------------------------------------------------------------

INSPECT_KEYS = {"id", "name", "state", "pid", "ip", "exit_code", "oom_killed", "image", "image_digest", "runtime",
                "created", "started_at", "finished_at"}
PS_KEYS = {"id", "image", "state", "status", "exit_code", "pid", "ip", "created"}


def test_ps_and_inspect_fields(runtime_daemon, ctr):
    d = runtime_daemon
    cid = ctr.start(d.image, HELPER, "sleep", "300")
    row = ps(d)[cid]
    assert PS_KEYS <= set(row), f"ps row lacks {sorted(PS_KEYS - set(row))}: {row}"
    info = inspect(d, cid)
    assert INSPECT_KEYS <= set(info), f"inspect lacks {sorted(INSPECT_KEYS - set(info))}: {info}"
    assert info["runtime"] == d.runtime or info["runtime"] in ("runc", "crun"), info
    assert info["name"] == cid, info


def test_ps_inspect_wait_and_rm(runtime_daemon, ctr):
    d = runtime_daemon
    cid = ctr.start(d.image, HELPER, "signals")
    wait_log(d, cid, "ready")
    running = ps(d)
    assert cid in running, running
    row = running[cid]
    assert row["state"] == "running" and row["pid"] > 0 and row["image"] == d.image, row
    info = inspect(d, cid)
    assert info["state"] == "running" and info["pid"] > 0 and info["oom_killed"] is False, info
    assert info["image_digest"] == d.image_digest, info
    assert info.get("created", info.get("created_at")) and info["started_at"] and not info["finished_at"], info
    os.kill(info["pid"], 0)  # the host pid of the container's init

    r = d.cli("rm", cid)
    assert r.returncode != 0, f"rm without -f must refuse a running container:\n{show(r)}"
    assert "running" in r.stderr, show(r)
    assert inspect(d, cid)["state"] == "running"

    ok(d, "stop", "-t", "10", cid)
    assert wait_exit(d, cid) == 0
    assert cid not in ps(d)
    row = ps(d, all_=True)[cid]
    assert row["state"] == "exited" and row["exit_code"] == 0, row
    info = inspect(d, cid)
    assert info["state"] == "exited" and info["exit_code"] == 0 and info["finished_at"], info
    assert "got SIGTERM" in logs(d, cid)[0]

    ok(d, "rm", cid)
    assert gone(d, cid)
    assert cid not in ps(d, all_=True)


def test_generated_id_and_wait_exit_code(runtime_daemon, ctr):
    d = runtime_daemon
    r = d.cli("run", "-d", d.image, HELPER, "exit", "3")
    assert r.returncode == 0, show(r, d)
    cid = ctr.track(r.stdout.strip().splitlines()[-1])
    assert re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+", cid), cid
    assert wait_exit(d, cid) == 3
    info = inspect(d, cid)
    assert info["exit_code"] == 3 and info["state"] == "exited", info


def test_stop_waits_the_grace_period_then_kills(runtime_daemon, ctr):
    d = runtime_daemon
    cid = ctr.start(d.image, HELPER, "ignore-term")
    wait_log(d, cid, "ignoring SIGTERM")
    t = time.monotonic()
    ok(d, "stop", "-t", "2", cid)
    took = time.monotonic() - t
    assert 1.8 <= took < 8, f"stop -t 2 took {took:.2f}s"
    info = inspect(d, cid)
    assert info["state"] == "exited" and info["exit_code"] == 137 and not info["oom_killed"], info


def test_stop_of_a_cooperative_container_is_quick(runtime_daemon, ctr):
    d = runtime_daemon
    cid = ctr.start(d.image, HELPER, "signals")
    wait_log(d, cid, "ready")
    t = time.monotonic()
    ok(d, "stop", "-t", "10", cid)
    took = time.monotonic() - t
    assert took < 4, f"a container that exits on SIGTERM took {took:.2f}s to stop"
    assert inspect(d, cid)["exit_code"] == 0
    assert "got SIGTERM" in logs(d, cid)[0]


def test_kill_delivers_signals_and_run_reports_128_plus_n(runtime_daemon, ctr):
    d = runtime_daemon
    name = ctr.name()
    fg = d.popen("run", "--rm", "--name", name, d.image, HELPER, "signals")
    try:
        wait_log(d, name, "ready")
        ok(d, "kill", "-s", "USR1", name)
        wait_log(d, name, "got SIGUSR1")
        ok(d, "kill", "-s", "SIGHUP", name)
        wait_log(d, name, "got SIGHUP")
        ok(d, "kill", "-s", "KILL", name)
        out, err = fg.communicate(timeout=20)
    finally:
        if fg.poll() is None:
            fg.kill()
            fg.wait()
    assert fg.returncode == 137, f"run exited {fg.returncode}\n{out}\n{err}"
    assert "got SIGUSR1" in out and "got SIGHUP" in out, out


def test_oom_is_reported_as_oom_killed(runtime_daemon, ctr):
    d = runtime_daemon
    cid = ctr.start("--memory", "32m", d.image, HELPER, "oom", "1024")
    assert wait_exit(d, cid, timeout=60) == 137
    info = inspect(d, cid)
    assert info["oom_killed"] is True and info["exit_code"] == 137 and info["state"] == "exited", info
    assert "not killed" not in logs(d, cid)[0]


# --- exec, logs, stats ------------------------------------------------------

def test_exec_passes_exit_codes_and_output(runtime_daemon, ctr):
    d = runtime_daemon
    cid = ctr.start("-e", "FOO=bar", "--user", "app", "--workdir", "/home/app", d.image, HELPER, "sleep", "300")
    r = d.cli("exec", cid, HELPER, "exit", "5")
    assert r.returncode == 5, show(r, d)
    r = d.cli("exec", cid, "sh", "-c", "echo out; echo err >&2; exit 3")
    assert r.returncode == 3 and r.stdout == "out\n" and "err" in r.stderr, show(r, d)
    r = d.cli("exec", cid, "sh", "-c", "kill -TERM $$")
    assert r.returncode == 143, show(r, d)
    r = d.cli("exec", cid, "sh", "-c", f"echo $FOO; {HELPER} id; {HELPER} cwd; {HELPER} pid")
    assert r.returncode == 0, show(r, d)
    foo, ident, cwd, pid = r.stdout.splitlines()
    assert foo == "bar" and ident.startswith("uid=1000 gid=1000") and cwd == "/home/app" and pid != "1", r.stdout
    ok(d, "kill", "-s", "KILL", cid)
    wait_exit(d, cid)
    r = d.cli("exec", cid, "true")
    assert r.returncode != 0 and "running" in r.stderr, f"exec in an exited container must fail:\n{show(r)}"


def test_a_missing_or_unexecutable_program_exits_127_or_126(runtime_daemon, ctr):
    """Docker's codes: `run` gives 127 for a program not found and 126 for
    one that cannot be executed; `exec` gives one of them."""
    d = runtime_daemon
    r = ctr.run(d.image, "/no/such/program")
    assert r.returncode == 127 and "/no/such/program" in r.stderr, show(r, d)
    r = ctr.run(d.image, "/etc/passwd")
    assert r.returncode == 126 and "/etc/passwd" in r.stderr, show(r, d)
    cid = ctr.start(d.image, HELPER, "sleep", "300")
    r = d.cli("exec", cid, "/no/such/program")
    assert r.returncode in (126, 127) and "/no/such/program" in r.stderr, show(r, d)
    r = d.cli("exec", cid, "/etc/passwd")
    assert r.returncode in (126, 127), show(r, d)


class ExecStream:
    """POST /v1/containers/exec?stream=1 on the daemon's socket, read line by
    line as the lines arrive; `close()` hangs up like a client that leaves."""

    def __init__(self, d, cid, body, stream=True, timeout=60):
        import test_daemon
        self.conn = test_daemon.UnixHTTPConnection(d.socket, timeout=timeout)
        self.conn.request("POST", f"/v1/containers/exec?id={cid}{'&stream=1' if stream else ''}",
                          body=json.dumps(body), headers={"Content-Type": "application/json"})
        self.resp = self.conn.getresponse()
        self.status = self.resp.status

    def line(self):
        raw = self.resp.readline()
        return json.loads(raw) if raw else None

    def lines(self):
        out = []
        while (ln := self.line()) is not None:
            out.append(ln)
        return out

    def body(self):
        return json.loads(self.resp.read())

    def close(self):
        self.conn.sock.shutdown(socket.SHUT_RDWR)
        self.conn.close()


def stream_bytes(lines, which):
    """The bytes of one stream of an exec's lines (text or base64)."""
    import base64
    out = b""
    for ln in lines:
        if ln.get("stream") == which:
            out += base64.b64decode(ln["data"]) if ln.get("encoding") == "base64" else ln["data"].encode()
    return out


def proc_with_cmdline(needle):
    """Host pids whose command line (args joined by spaces) contains needle."""
    pids = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    argv = f.read().decode(errors="replace").split("\0")
            except OSError:
                continue
            if needle in " ".join(a for a in argv if a):
                pids.append(int(pid))
    return pids


def zombie_children(ppid):
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] == "Z" and int(fields[1]) == ppid:
                found.append(int(pid))
    return found


def test_exec_output_arrives_as_it_is_produced(runtime_daemon, ctr):
    """A line printed before a pause reaches the client before the next one
    is printed; stdout and stderr stay apart; the exit is the last line."""
    d = runtime_daemon
    cid = ctr.start(d.image, "sleep", "300")
    p = d.popen("exec", cid, "sh", "-c", f"echo first; echo oops >&2; {HELPER} sleep 1.5; echo second; exit 4")
    try:
        assert p.stdout.readline() == "first\n"
        t_first = time.monotonic()
        assert p.stdout.readline() == "second\n"
        waited = time.monotonic() - t_first
        assert p.wait(timeout=30) == 4
        assert p.stderr.read() == "oops\n"
    finally:
        p.kill()
        p.wait()
    assert waited > 1.0, f"the first line came only {waited:.2f}s before the second: it was not streamed"

    x = ExecStream(d, cid, {"argv": ["sh", "-c", "echo out; echo err >&2; exit 3"]})
    assert x.status == 200 and x.resp.getheader("Content-Type") == "application/x-ndjson"
    lines = x.lines()
    assert lines[-1] == {"exit_code": 3}, lines
    assert stream_bytes(lines, "stdout") == b"out\n" and stream_bytes(lines, "stderr") == b"err\n", lines
    assert all(set(ln) in ({"stream", "data"}, {"exit_code"}) for ln in lines), lines


def test_exec_exit_codes_and_signals_through_the_stream(runtime_daemon, ctr):
    d = runtime_daemon
    cid = ctr.start(d.image, "sleep", "300")
    for cmd, code in (("exit 0", 0), ("exit 7", 7), ("exit 255", 255), ("kill -KILL $$", 137),
                      ("kill -TERM $$", 143), ("kill -INT $$", 130)):
        r = d.cli("exec", cid, "sh", "-c", cmd)
        assert r.returncode == code, (cmd, show(r, d))
        lines = ExecStream(d, cid, {"argv": ["sh", "-c", cmd]}).lines()
        assert lines == [{"exit_code": code}], (cmd, lines)
    lines = ExecStream(d, cid, {"argv": ["/no/such/program"]}).lines()
    assert lines[-1] == {"exit_code": 127} and b"/no/such/program" in stream_bytes(lines, "stderr"), lines
    # the buffered form reports the same
    x = ExecStream(d, cid, {"argv": ["sh", "-c", "kill -KILL $$"]}, stream=False)
    assert x.status == 200 and x.body() == {"exit_code": 137, "stdout": "", "stderr": ""}


def test_exec_streams_large_and_binary_output_without_loss(runtime_daemon, ctr):
    import hashlib
    import subprocess
    d = runtime_daemon
    cid = ctr.start(d.image, "sleep", "300")
    ok(d, "exec", cid, "dd", "if=/dev/urandom", "of=/tmp/blob", "bs=1048576", "count=10")
    want = ok(d, "exec", cid, "busybox", "sha256sum", "/tmp/blob").stdout.split()[0]
    t0 = time.monotonic()
    r = subprocess.run([d.agent_bin, "exec", cid, "cat", "/tmp/blob"], capture_output=True, env=d.cli_env(),
                       timeout=120)
    took = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    assert len(r.stdout) == 10 * MIB and hashlib.sha256(r.stdout).hexdigest() == want, \
        f"{len(r.stdout)} bytes, sha256 {hashlib.sha256(r.stdout).hexdigest()}, want {want}"
    assert took < 30, f"10 MiB took {took:.1f}s"
    # and to stderr, interleaved with stdout
    r = subprocess.run([d.agent_bin, "exec", cid, "sh", "-c", "cat /tmp/blob >&2; echo done"],
                       capture_output=True, env=d.cli_env(), timeout=120)
    assert r.returncode == 0 and r.stdout == b"done\n", r.stdout[-200:]
    assert hashlib.sha256(r.stderr).hexdigest() == want
    # every byte value, NUL included; base64 lines for what is not text
    printf = "".join(f"\\{b:03o}" for b in range(256))
    x = ExecStream(d, cid, {"argv": ["printf", printf]})
    lines = x.lines()
    assert stream_bytes(lines, "stdout") == bytes(range(256)), lines
    assert any(ln.get("encoding") == "base64" for ln in lines), lines
    r = subprocess.run([d.agent_bin, "exec", cid, "printf", printf], capture_output=True, env=d.cli_env())
    assert r.returncode == 0 and r.stdout == bytes(range(256))
    # UTF-8 text stays text, whatever the reads split
    line = "h\u00e9llo w\u00f6rld \u2603 \U0001f600"
    text = (line + "\n") * 50000
    lines = ExecStream(d, cid, {"argv": ["sh", "-c", f"yes '{line}' | head -n 50000"]}).lines()
    assert lines[-1] == {"exit_code": 0}
    assert stream_bytes(lines, "stdout").decode() == text
    assert not any(ln.get("encoding") for ln in lines), "valid UTF-8 split between reads went base64"


def test_exec_env_workdir_and_user(runtime_daemon, ctr):
    d = runtime_daemon
    cid = ctr.start("-e", "FOO=bar", "-e", "KEEP=1", "--user", "app", "--workdir", "/home/app", d.image,
                    "sleep", "300")
    r = ok(d, "exec", "-e", "FOO=override", "-e", "NEW=a=b", "-w", "/tmp", "-u", "nobody", cid,
           "sh", "-c", f"echo $FOO $KEEP $NEW; {HELPER} id; {HELPER} cwd")
    vars_, ident, cwd = r.stdout.splitlines()
    assert vars_ == "override 1 a=b" and ident.startswith("uid=65534 gid=65534") and cwd == "/tmp", r.stdout
    r = ok(d, "exec", "-u", "0:0", cid, HELPER, "id")
    assert r.stdout.startswith("uid=0 gid=0"), r.stdout
    r = ok(d, "exec", "-u", "1000", cid, HELPER, "id")
    assert r.stdout.startswith("uid=1000 gid=1000"), r.stdout
    # NAME alone: the CLI's own value
    r = d.cli("exec", "-e", "ZL_FROM_CLI", cid, "sh", "-c", "echo $ZL_FROM_CLI", env={"ZL_FROM_CLI": "yes"})
    assert r.returncode == 0 and r.stdout == "yes\n", show(r, d)
    # the defaults are the container's
    r = ok(d, "exec", cid, "sh", "-c", f"echo $FOO; {HELPER} id; {HELPER} cwd")
    assert r.stdout.splitlines()[0] == "bar" and "uid=1000" in r.stdout and "/home/app" in r.stdout
    # mistakes
    r = d.cli("exec", "-u", "ghost", cid, "true")
    assert r.returncode == 1 and "invalid-spec" in r.stderr and "ghost" in r.stderr, show(r)
    r = d.cli("exec", "-w", "relative", cid, "true")
    assert r.returncode == 2 and "must be an absolute path" in r.stderr, show(r)
    r = d.cli("exec", "-w", "/no/such/dir", cid, "true")
    assert r.returncode == 126, show(r, d)
    for body, part in (({"argv": ["true"], "workdir": "rel"}, "'workdir' must be an absolute path"),
                       ({"argv": ["true"], "env": ["NOEQUALS"]}, "'env[0]' must be of the form NAME=VALUE"),
                       ({"argv": ["true"], "user": 5}, "'user' must be a string"),
                       ({"argv": ["true"], "tty": True}, "unknown field 'tty'"),
                       ({"argv": []}, "'argv' must have at least one entry"),
                       ({"argv": ["true"], "user": "ghost"}, "user 'ghost' not found")):
        for stream in (True, False):
            x = ExecStream(d, cid, body, stream=stream)
            err = x.body()
            assert x.status == 400 and err["kind"] == "invalid_spec" and part in err["message"], (body, err)


def test_exec_client_that_leaves_kills_the_command(runtime_daemon, ctr):
    """Ctrl-C on the CLI, or any client hanging up, ends the command in the
    container: it is gone from the container's processes and from /proc."""
    import signal as signal_
    d = runtime_daemon
    cid = ctr.start(d.image, "sleep", "300")
    # quiet after its first line
    p = d.popen("exec", cid, "sh", "-c", f"echo started; exec {HELPER} sleep 301")
    try:
        assert p.stdout.readline() == "started\n"
        assert wait_for("the exec'd command", lambda: proc_with_cmdline(f"{HELPER} sleep 301"), timeout=10)
        p.send_signal(signal_.SIGINT)
        p.wait(timeout=10)
    finally:
        p.kill()
        p.wait()
    wait_for("the command to be killed", lambda: not proc_with_cmdline(f"{HELPER} sleep 301"), timeout=10)
    assert "sleep 301" not in ok(d, "exec", cid, "ps", "-o", "pid,args").stdout
    # chatty, with children, and the client stops reading mid-stream
    x = ExecStream(d, cid, {"argv": ["sh", "-c", f"{HELPER} sleep 302 & yes flood"]})
    assert x.status == 200
    assert x.line()["stream"] == "stdout"
    assert wait_for("the background child", lambda: proc_with_cmdline(f"{HELPER} sleep 302"), timeout=10)
    x.close()
    wait_for("the command and its child to be killed",
             lambda: not proc_with_cmdline("yes flood") and not proc_with_cmdline(f"{HELPER} sleep 302"),
             timeout=10)
    out = ok(d, "exec", cid, "ps", "-o", "pid,args").stdout
    assert "yes flood" not in out and "sleep 302" not in out, out
    # the runtime's exec processes were reaped, and their files removed
    wait_for("no zombie children of the daemon", lambda: not zombie_children(d.proc.pid), timeout=10)
    rdir = os.path.join(d.rundir, "containers", cid)
    wait_for("no exec files", lambda: not [f for f in os.listdir(rdir) if f.startswith("exec-")], timeout=10)


def test_exec_refused_where_nothing_runs(runtime_daemon, ctr):
    d = runtime_daemon
    cid = ctr.start(d.image, "sleep", "300")
    for stream in (True, False):
        x = ExecStream(d, "zlt-no-such-container", {"argv": ["true"]}, stream=stream)
        assert x.status == 404 and x.body()["kind"] == "not_found"
    ok(d, "kill", "-s", "KILL", cid)
    wait_exit(d, cid)
    for stream in (True, False):
        x = ExecStream(d, cid, {"argv": ["true"]}, stream=stream)
        err = x.body()
        assert x.status == 400 and err == {"kind": "configuration",
                                           "message": f"container '{cid}' is not running"}, err
    r = d.cli("exec", cid, "true")
    assert r.returncode == 1 and r.stderr == f"error: configuration: container '{cid}' is not running\n", show(r)


def test_logs_tail_since_timestamps_and_follow(runtime_daemon, ctr):
    d = runtime_daemon
    cid = ctr.start(d.image, "sh", "-c", f"echo one; echo two >&2; echo three; {HELPER} sleep 1.2; echo late")
    assert wait_exit(d, cid) == 0
    out, err = logs(d, cid)
    assert out.splitlines() == ["one", "three", "late"], out
    assert err.splitlines() == ["two"], err
    assert logs(d, cid, "--tail", "1")[0] == "late\n"
    stamped = logs(d, cid, "-t")[0].splitlines()
    assert [s.split(" ", 1)[1] for s in stamped] == ["one", "three", "late"], stamped
    since = stamped[-1].split(" ", 1)[0]
    assert logs(d, cid, "--since", since)[0] == "late\n"

    cid = ctr.start(d.image, "sh", "-c", f"echo first; {HELPER} sleep 1; echo second; {HELPER} sleep 1; echo third")
    follow = d.popen("logs", "-f", cid)
    try:
        out, err = follow.communicate(timeout=30)
    finally:
        if follow.poll() is None:
            follow.kill()
            follow.wait()
    assert follow.returncode == 0, err
    assert out.splitlines() == ["first", "second", "third"], out


def _log_files(d, cid):
    cdir = os.path.join(d.root, "containers", cid)
    names = [n for n in os.listdir(cdir) if re.fullmatch(r"container\.log(\.\d+)?", n)]
    # oldest first: the highest suffix, the live file last
    return [os.path.join(cdir, n) for n in sorted(names, key=lambda n: -int(n.rsplit(".", 1)[1])
                                                  if n[-1].isdigit() else 0)]


def test_log_rotation_loses_no_line(runtime_daemon, ctr):
    d = runtime_daemon
    max_size = d.log_max_size or 100 * MIB
    # long lines when the 100 MiB default must be filled: fewer records to check
    line_bytes = 100 if d.log_max_size else 4000
    # enough for several rotations
    lines = (max_size * 3) // line_bytes if d.log_max_size else (max_size * 11 // 10) // line_bytes
    cid = ctr.start(d.image, HELPER, "flood", str(lines), str(line_bytes))
    assert wait_exit(d, cid, timeout=120) == 0
    files = _log_files(d, cid)
    assert len(files) >= 2, f"no rotation after {lines * line_bytes} bytes: {files}"
    seen = []
    for path in files:
        assert os.path.getsize(path) <= max_size + 64 * 1024, f"{path} is {os.path.getsize(path)} bytes"
        with open(path) as f:
            for raw in f:
                rec = json.loads(raw)
                seen.append(int(rec["log"].split(" ", 1)[0]))
    assert seen, files
    # what is kept is a gapless run of the newest lines
    assert seen == list(range(seen[0], lines)), \
        f"kept lines {seen[0]}..{seen[-1]} ({len(seen)}) are not contiguous up to {lines - 1}"
    r = d.cli("logs", "--tail", "3", cid, timeout=120)
    assert r.returncode == 0, show(r, d)
    assert [int(x.split(" ", 1)[0]) for x in r.stdout.splitlines()] == [lines - 3, lines - 2, lines - 1]
    if d.log_max_size:  # reading back 100 MiB through the API takes too long for the suite
        r = d.cli("logs", cid, timeout=120)
        assert r.returncode == 0, show(r, d)
        got = [int(x.split(" ", 1)[0]) for x in r.stdout.splitlines()]
        assert got == seen, f"logs printed {len(got)} lines, the files hold {len(seen)}"


def test_log_max_size_option_rotates_and_logs_reads_every_kept_line(runtime_daemon, ctr):
    """`run --log-max-size` (docker: --log-opt max-size=) sets the shim's rotation size."""
    d = runtime_daemon
    max_size, line_bytes, lines = 64 * 1024, 100, 5000
    cid = ctr.start("--log-max-size", "64Ki", d.image, HELPER, "flood", str(lines), str(line_bytes))
    assert wait_exit(d, cid, timeout=60) == 0
    files = _log_files(d, cid)
    assert len(files) >= 2, f"no rotation after {lines * line_bytes} bytes: {files}"
    seen = []
    for path in files:
        assert os.path.getsize(path) <= max_size + 64 * 1024, f"{path} is {os.path.getsize(path)} bytes"
        with open(path) as f:
            seen += [int(json.loads(raw)["log"].split(" ", 1)[0]) for raw in f]
    assert seen == list(range(seen[0], lines)), f"kept lines {seen[0]}..{seen[-1]} are not contiguous"
    r = d.cli("logs", cid, timeout=60)
    assert r.returncode == 0, show(r, d)
    assert [int(x.split(" ", 1)[0]) for x in r.stdout.splitlines()] == seen
    bad = d.cli("run", "--rm", "--log-max-size", "12", d.image, "true")
    assert bad.returncode == 2 and "--log-max-size" in bad.stderr, show(bad, d)


def test_stats_change_under_load(runtime_daemon, ctr):
    d = runtime_daemon
    script = (f"{HELPER} sleep 3; {HELPER} alloc 96 & for i in 1 2 3 4; do {HELPER} sleep 300 & done; "
              f"{HELPER} sleep 3.5; {HELPER} cpu 0")
    cid = ctr.start("--memory", "512m", d.image, "sh", "-c", script)
    idle = stats(d, cid)
    assert {"cpu_percent", "memory_usage", "memory_limit", "pids"} <= set(idle), idle
    assert idle["memory_limit"] == 512 * MIB, idle
    assert 0 < idle["memory_usage"] < 48 * MIB, idle
    assert 1 <= idle["pids"] <= 3, idle
    assert idle["cpu_percent"] < 30, idle

    busy = wait_for("memory and pids to rise", lambda: (lambda s: s if s["memory_usage"] > 96 * MIB and
                                                        s["pids"] >= 6 else None)(stats(d, cid)), timeout=20)
    assert busy["memory_limit"] == 512 * MIB
    wait_for("cpu_percent to rise", lambda: stats(d, cid)["cpu_percent"] > 50, timeout=20, interval=0.5)


# --- networking -----------------------------------------------------------------

def test_published_ports_are_reachable_from_the_host(runtime_daemon, ctr):
    d = runtime_daemon
    http_port, tcp_port = free_port(), free_port()
    cid = ctr.start("-p", f"127.0.0.1:{http_port}:8080", "-p", f"{tcp_port}:9000/tcp", d.image, "sh", "-c",
                    f"{HELPER} http 8080 & {HELPER} tcp 9000")
    wait_log(d, cid, "listening on 8080")
    wait_log(d, cid, "listening on 9000")

    def get(url):
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()

    status, body = wait_for("the published HTTP port", lambda: get(f"http://127.0.0.1:{http_port}/"), timeout=10)
    assert (status, body) == (200, "zl-testhelper 200\n")

    def echo():
        with socket.create_connection(("127.0.0.1", tcp_port), timeout=5) as s:
            s.sendall(b"ping over the published port\n")
            return s.recv(100)

    assert wait_for("the published TCP port", echo, timeout=10) == b"ping over the published port\n"

    ip = ctr.ip(cid)
    assert ip, inspect(d, cid)
    assert ps(d)[cid]["ip"] == ip
    assert get(f"http://{ip}:8080/") == (200, "zl-testhelper 200\n")

    ok(d, "rm", "-f", cid)
    with pytest.raises(OSError):
        get(f"http://127.0.0.1:{http_port}/")


# --- scale and cleanup ------------------------------------------------------------

def test_50_containers_start_concurrently_and_all_clean_up(runtime_daemon, ctr):
    d = runtime_daemon
    names = [ctr.name() for _ in range(50)]

    def start(name):
        return d.cli("run", "-d", "--name", name, d.image, HELPER, "sleep", "600", timeout=180)

    with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(start, names))
    failed = [show(r) for r in results if r.returncode != 0]
    assert not failed, f"{len(failed)} of 50 failed to start; first:\n{failed[0]}\n{d.log_tail(30)}"
    running = ps(d)
    assert set(names) <= set(running), f"not running: {sorted(set(names) - set(running))}"
    pids = {running[n]["pid"] for n in names}
    ips = {running[n]["ip"] for n in names}
    d.ips.update(ip for ip in ips if ip)
    assert len(pids) == 50 and 0 not in pids, pids
    assert len(ips) == 50, f"50 bridged containers share addresses: {sorted(ips, key=str)}"

    def rm(name):
        return d.cli("rm", "-f", name, timeout=180)

    with concurrent.futures.ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(rm, names))
    failed = [show(r) for r in results if r.returncode != 0]
    assert not failed, f"{len(failed)} of 50 failed to remove; first:\n{failed[0]}"
    left = set(names) & set(ps(d, all_=True))
    assert not left, f"still listed after rm -f: {sorted(left)}"
    assert not d.leftovers(), "\n".join(d.leftovers())


def test_zz_nothing_left_behind(runtime_daemon):
    """Last in the module: every story removed its containers, and the
    runtime removed everything they had."""
    d = runtime_daemon
    listed = ps(d, all_=True)
    assert not listed, f"containers still listed: {sorted(listed)}"
    deadline = time.monotonic() + 10
    while (left := d.leftovers()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, "left behind:\n" + "\n".join(left)
