"""Driver of bench/restart.sh: how fast a restarted daemon takes back N
running containers, and how much memory the idle daemon needs for them.

zlayer-agent, a private daemon (its own root and runtime dir), four
scenarios: N plain `run -d` sleeping containers (on the daemon that loaded
the image), and one deployment of N replicas (the service manager adopts
them), each --network none and bridged, the last three each on a freshly
started daemon. Then ROUNDS times kill -9 the daemon, and ROUNDS times
SIGTERM it, and start it again. The clock starts when the new daemon is
spawned; end points, polled every POLL_S over the API socket, each time
stamped when its answer is in:
  ready    the daemon's READY=1 (sd_notify; the kernel's receive time on
           our NOTIFY_SOCKET)
  api      the first answer of the scenario's GET
  adopted  containers: GET /v1/containers lists all N running with the pids
           they had before the restart (the exit monitor has pidfds on them
           before the API answers at all); deployment: GET
           /v1/deployments?name=D shows the service manager with all N
           replicas "running" with their old pids (adopted, not restarted:
           exit monitoring on, health checks scheduled)
  healthy  bridged deployment only (an HTTP health check on each replica's
           address): every replica checked healthy by the new daemon
A different pid for any of them fails the bench (restarted, not adopted),
unless the new daemon's events show all N ContainerAdopted with the old
pids and a health check failed afterwards: that round is redone and
counted (other daemons on a shared test node can hold the same bridge
addresses).

Memory: VmRSS (and PSS) of zlayer-agentd idle with the N containers, both
the daemon that started them and the restarted one after the rounds, and
which of the libraries it loads on first use it has loaded; the shims'
total apart. Against dockerd + containerd (a private dockerd with
--live-restore, else its SIGTERM would stop the containers) with N
`docker run -d --network none` sleeping containers, shims apart, whose
restart is timed the same way (GET /containers/json lists all N running;
its list has no pids). Prints medians, spreads, ratios and the goals.
RESTART_ONLY=containers-none,...,docker runs a subset; RESTART_KEEP_LOGS=DIR
keeps the daemons' logs."""
import ctypes
import http.client
import json
import os
import select
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import startbench  # noqa: E402
from densitybench import docker_processes, find, total, zlayer_processes  # noqa: E402
from startbench import AGENT, IMAGE, run_ok, umount_under  # noqa: E402

SLEEP = ["sleep", "3600"]
TAG = f"zlrs{os.getpid() % 100000}"  # names and replica ids are node-wide
POLL_S = 0.005
SETTLE_S = 3.0
GOAL_ADOPT_S = 1.0
GOAL_RSS_MIB = 15.0
GOAL_RSS_RATIO = 0.1


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path, timeout=10):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


def get_json(sock, path):
    """(status, parsed body) of one GET, or None while nothing answers."""
    c = UnixHTTP(sock)
    try:
        c.request("GET", path)
        r = c.getresponse()
        body = r.read()
    except (OSError, http.client.HTTPException):
        return None
    finally:
        c.close()
    try:
        return r.status, json.loads(body)
    except ValueError:
        return r.status, None  # /_ping's "OK"


def get_lines(sock, path):
    """The JSON lines of a finite stream (events without follow), or []."""
    c = UnixHTTP(sock)
    try:
        c.request("GET", path)
        body = c.getresponse().read()
    except (OSError, http.client.HTTPException):
        return []
    finally:
        c.close()
    return [json.loads(line) for line in body.splitlines() if line.strip()]


class Disturbed(Exception):
    """Every replica was adopted, then one was restarted by the manager
    (a health check failed) before the end point: the round is retried."""


SO_TIMESTAMPNS = 35  # <asm-generic/socket.h>; Python's socket module lacks it


class Notify:
    """Our NOTIFY_SOCKET: when READY=1 came since the last reset(), by the
    kernel's receive timestamp (CLOCK_REALTIME), not when we read it."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.bind(path)
        self.ready_at = None
        threading.Thread(target=self._read, daemon=True).start()

    def reset(self):
        self.ready_at = None

    def _read(self):
        while True:
            try:
                msg, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(16))
            except OSError:
                return
            t = time.time()
            for level, kind, data in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
                    sec, nsec = struct.unpack("qq", data[:16])
                    t = sec + nsec / 1e9
            if b"READY=1" in msg.split(b"\n") and self.ready_at is None:
                self.ready_at = t

    def close(self):
        self.sock.close()


def signal_and_wait(proc, sig, timeout=120):
    """Send sig, wait for the exit (a pidfd: Popen.wait() polls in steps
    of up to 50 ms), reap; the seconds in between."""
    fd = os.pidfd_open(proc.pid)
    try:
        t = time.monotonic()
        proc.send_signal(sig)
        p = select.poll()
        p.register(fd, select.POLLIN)
        if not p.poll(timeout * 1000):
            raise RuntimeError(f"pid {proc.pid} still there {timeout}s after SIG{signal.Signals(sig).name[3:]}")
        took = time.monotonic() - t
    finally:
        os.close(fd)
    proc.wait()
    return took


class RestartAgent(startbench.Agent):
    """A private `zlayer-agent daemon` that can be killed and started again
    on the same directories; the test image loaded. Its removal and clean-up
    are startbench.Agent's, after taking its deployments down."""

    def __init__(self, work, image, notify):
        self.root, self.rundir = os.path.join(work, "zl-root"), os.path.join(work, "zl-run")
        os.makedirs(self.rundir, exist_ok=True)
        self.sock = os.path.join(self.rundir, "agent.sock")
        self.env = dict(os.environ, ZLAYER_RUNTIME_DIR=self.rundir)
        self.log = open(os.path.join(work, "agent.log"), "a")
        self.notify = notify
        self.proc = None
        self.spawn()
        self.wait_api()
        self.cli("load", image.source)
        self.cli("tag", image.digest, IMAGE)

    def spawn(self):
        """Start the daemon; the monotonic time just before the spawn."""
        self.notify.reset()
        env = dict(self.env, NOTIFY_SOCKET=self.notify.path)
        self.spawned_wall = time.time()
        t0 = time.monotonic()
        self.proc = subprocess.Popen([AGENT, "daemon", "--root", self.root, "--runtime-dir", self.rundir],
                                     env=env, stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        return t0

    def wait_api(self, timeout=60):
        deadline = time.monotonic() + timeout
        while get_json(self.sock, "/v1/ping") is None:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("zlayer-agent daemon did not start; see agent.log")
            time.sleep(0.01)

    def terminate(self, sig):
        """Send sig and reap the daemon; seconds until it was gone."""
        return signal_and_wait(self.proc, sig)

    def restart(self):
        self.terminate(signal.SIGTERM)
        self.spawn()
        self.wait_api()

    def cli(self, *args, timeout=600):
        return run_ok(self.cmd(*args), env=self.env, timeout=timeout)

    def daemon_pid(self):
        return self.proc.pid

    def remove_all(self, timeout=600):
        for d in get_json(self.sock, "/v1/deployments")[1] or []:
            subprocess.run(self.cmd("down", d["deployment"]), env=self.env, capture_output=True, timeout=timeout)
        super().remove_all(timeout)


# --- scenarios: what runs, and the adoption check ------------------------------------------

class Containers:
    """N plain `run -d` sleeping containers."""

    def __init__(self, n, network):
        self.n, self.network = n, network
        self.title = f"{n} containers (run -d, network {network})"
        self.names = [f"{TAG}-{network[0]}{i}" for i in range(n)]
        self.path = "/v1/containers"
        self.healthy_point = False

    def start(self, agent):
        for name in self.names:
            agent.cli("run", "-d", "--network", self.network, "--name", name, IMAGE, *SLEEP)

    def pids(self, reply):
        """{id: pid} of ours running, from one reply."""
        want = set(self.names)
        return {c["id"]: c["pid"] for c in reply.get("containers", [])
                if c["id"] in want and c["state"] == "running" and c.get("pid")}

    def healthy(self, reply):
        return True

    def adopted_events(self, agent):
        return None  # plain containers: no manager, no events

    def describe(self, reply):
        want = set(self.names)
        mine = [c for c in (reply or {}).get("containers", []) if c["id"] in want]
        odd = [f"{c['id']}: {c['state']} pid {c.get('pid')}" for c in mine if c["state"] != "running"]
        return f"{len(mine)} listed; not running: {odd[:5]}"

    def remove(self, agent):
        for i in range(0, self.n, 25):
            agent.cli("rm", "-f", *self.names[i:i + 25])


SPEC = """version: v1
deployment: {dep}
services:
  {svc}:
    image: {{ name: "{image}", pull_policy: never }}
    command: {{ entrypoint: {entrypoint} }}
    scale: {{ mode: fixed, replicas: {n} }}
    stop_grace_period: 1s
{extra}"""

# bridged replicas answer an HTTP health check on their own address
HEALTH = """    endpoints: [{ name: http, protocol: http, port: 8080 }]
    health:
      check: { type: http, url: "http://localhost:8080/" }
      interval: 5s
      timeout: 2s
      start_grace: 0s
"""


class Deployment:
    """One deployment of N replicas: the service manager adopts them."""

    def __init__(self, n, network, work):
        self.n, self.network = n, network
        self.dep, self.svc = f"{TAG}{network[0]}", f"{TAG}{network[0]}s"
        self.title = f"deployment of {n} replicas (network {network})"
        self.healthy_point = network == "bridge"
        extra = HEALTH if self.healthy_point else f"    network_mode: {network}\n"
        entry = ["zl-testhelper", "http", "8080"] if self.healthy_point else SLEEP
        self.spec = os.path.join(work, f"{self.dep}.yaml")
        with open(self.spec, "w") as f:
            f.write(SPEC.format(dep=self.dep, svc=self.svc, image=IMAGE, entrypoint=json.dumps(entry), n=n,
                                extra=extra))
        self.path = f"/v1/deployments?name={self.dep}"

    def start(self, agent):
        agent.cli("deploy", "--quiet", self.spec)

    def _replicas(self, reply):
        return (reply.get("services") or {}).get(self.svc, {}).get("replicas", [])

    def pids(self, reply):
        return {r["id"]: r["pid"] for r in self._replicas(reply) if r["state"] == "running" and r.get("pid")}

    def healthy(self, reply):
        reps = self._replicas(reply)
        return len(reps) == self.n and all(r["health"].get("status") == "healthy" and r["health"].get("checks", 0) > 0
                                           for r in reps)

    def adopted_events(self, agent):
        """{replica: pid} of the new daemon's ContainerAdopted events."""
        out = {}
        for e in get_lines(agent.sock, f"/v1/events?deployment={self.dep}"):
            if e.get("type") == "ContainerAdopted" and e.get("replica"):
                out[e["replica"]] = int(e["message"].rsplit(" ", 1)[-1]) if e["message"][-1:].isdigit() else 0
        return out

    def describe(self, reply):
        reps = self._replicas(reply or {})
        odd = [{k: r.get(k) for k in ("id", "state", "pid", "restarts", "error")} | {"health": r["health"]}
               for r in reps if r["state"] != "running" or r["health"].get("status") not in ("none", "healthy")]
        return f"{len(reps)} replicas; {len(odd)} not running or not healthy, e.g. {odd[:3]}"

    def remove(self, agent):
        agent.cli("down", self.dep)


def wait_steady(sock, scen, timeout=120):
    """{id: pid} once all N are running (and healthy, where it counts)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        res = get_json(sock, scen.path)
        if res and res[0] == 200:
            pids = scen.pids(res[1])
            if len(pids) == scen.n and (not scen.healthy_point or scen.healthy(res[1])):
                return pids
        time.sleep(0.05)
    raise RuntimeError(f"{scen.title}: not all running within {timeout}s")


def timed_restart(agent, scen, sig, before, timeout=60):
    """Stop the daemon with sig, start it, poll: seconds from the spawn to
    each end point, and how long the old one took to go."""
    down = agent.terminate(sig)
    t0 = agent.spawn()
    api = adopted = healthy = None
    deadline = t0 + timeout
    last = None

    def fail(what):
        """Not adopted, or adopted and then restarted (Disturbed)."""
        ev = scen.adopted_events(agent)
        if ev is not None and ev == before:
            raise Disturbed(f"all {scen.n} adopted, then {what}; the last answer: {scen.describe(last)}")
        raise RuntimeError(f"{scen.title}: {what} after a restart; the last answer: {scen.describe(last)}")

    while True:
        if time.monotonic() > deadline:
            fail(f"{'not all healthy' if adopted else 'not all running'} within {timeout}s")
        if agent.proc.poll() is not None:
            raise RuntimeError("the restarted daemon exited; see agent.log")
        res = get_json(agent.sock, scen.path)
        now = time.monotonic()  # the answer is in
        if res and res[0] == 200:
            api = api or now
            last = res[1]
            pids = scen.pids(res[1])
            if len(pids) == scen.n:
                if pids != before:
                    moved = sorted(k for k in pids if pids[k] != before.get(k))
                    fail(f"{len(moved)} with a new pid, e.g. {moved[:3]}")
                adopted = adopted or now
                if not scen.healthy_point or scen.healthy(res[1]):
                    healthy = now
                    break
        time.sleep(POLL_S if not adopted else 0.02)
    ready = agent.notify.ready_at
    return {"down": down, "ready": (ready - agent.spawned_wall) if ready else None, "api": api - t0,
            "adopted": adopted - t0, "healthy": (healthy - t0) if scen.healthy_point else None}


LAZY_LIBS = ("libarchive.so", "libcurl.so")  # zlayer-agentd loads them on first use


def zl_memory(agent):
    daemons, shims = zlayer_processes(agent)
    with open(f"/proc/{agent.proc.pid}/maps") as f:
        maps = f.read()
    return {"daemon": total(daemons), "shims": total(shims), "n_shims": len(shims),
            "libs": [lib.split(".")[0] for lib in LAZY_LIBS if lib in maps]}


def run_scenario(agent, scen, rounds, fresh=True):
    """fresh: on a newly started daemon, else on the one that loaded the
    image (which has used libarchive)."""
    print(f"\n{scen.title}: starting...", flush=True)
    if fresh:
        agent.restart()
    t = time.monotonic()
    scen.start(agent)
    started = time.monotonic() - t
    wait_steady(agent.sock, scen)
    time.sleep(SETTLE_S)
    res = {"title": scen.title, "started": started, "mem_first": zl_memory(agent), "rounds": {},
           "first_what": "the daemon that started them" + ("" if fresh else ", after loading the image")}
    res["disturbed"] = []
    for sig in (signal.SIGKILL, signal.SIGTERM):
        name = signal.Signals(sig).name
        res["rounds"][name] = []
        for i in range(rounds):
            for attempt in range(4):
                pids = wait_steady(agent.sock, scen)  # as they are now: the manager may have restarted some
                try:
                    r = timed_restart(agent, scen, sig, pids)
                    break
                except Disturbed as e:
                    res["disturbed"].append(str(e))
                    print(f"  {name} {i + 1}: round disturbed, again: {e}", flush=True)
                    time.sleep(SETTLE_S)
            else:
                raise RuntimeError(f"{scen.title}: four disturbed rounds in a row")
            res["rounds"][name].append(r)
            extra = f", healthy {r['healthy'] * 1000:6.1f} ms" if r["healthy"] is not None else ""
            print(f"  {name} {i + 1}: old daemon gone in {r['down'] * 1000:6.1f} ms; from the spawn: READY=1 "
                  f"{fmt_ms(r['ready'])}, API {r['api'] * 1000:6.1f} ms, all {scen.n} adopted "
                  f"{r['adopted'] * 1000:6.1f} ms{extra}", flush=True)
            time.sleep(1.0)
    time.sleep(SETTLE_S)
    res["mem_restarted"] = zl_memory(agent)
    scen.remove(agent)
    return res


def fmt_ms(s):
    return f"{s * 1000:6.1f} ms" if s is not None else "   n/a"


# --- docker ---------------------------------------------------------------------------------

class RestartDockerd(startbench.Dockerd):
    """startbench.Dockerd with --live-restore, restartable."""

    def __init__(self, work, image):
        self.work = work
        self.data, self.exec_root = os.path.join(work, "docker-data"), os.path.join(work, "docker-exec")
        self.sock = os.path.join(work, "docker.sock")
        self.env = dict(os.environ, DOCKER_HOST=f"unix://{self.sock}")
        self.log = open(os.path.join(work, "dockerd.log"), "a")
        self.proc = None
        try:
            self.spawn()
            self.wait_api()
            archive = os.path.join(work, "docker-image.tar")
            run_ok(["skopeo", "--insecure-policy", "copy", "--quiet", f"oci:{image.layout}:latest",
                    f"docker-archive:{archive}:{IMAGE}"])
            run_ok(["docker", "load", "-q", "-i", archive], env=self.env)
        except BaseException:
            self.close()
            raise

    def spawn(self):
        t0 = time.monotonic()
        self.proc = subprocess.Popen(["dockerd", "--iptables=false", "--bridge=none", "--live-restore",
                                      "--data-root", self.data, "--exec-root", self.exec_root,
                                      "-H", f"unix://{self.sock}", "--pidfile", os.path.join(self.work, "docker.pid")],
                                     stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        return t0

    def wait_api(self, timeout=60):
        deadline = time.monotonic() + timeout
        while get_json(self.sock, "/_ping") is None:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("dockerd did not start; see dockerd.log")
            time.sleep(0.05)

    def containerd(self):
        return find(lambda argv: bool(argv) and os.path.basename(argv[0]) == "containerd"
                    and any(self.exec_root in a for a in argv))

    def terminate(self, sig):
        """Stop dockerd; its containerd goes too (SIGKILL by its parent-death
        signal). We are the subreaper (main()), so we reap that containerd:
        this machine's pid 1 reaps late, and a new dockerd takes a zombie
        containerd for a live one and times out talking to it."""
        old = self.containerd()
        took = signal_and_wait(self.proc, sig)
        deadline = time.monotonic() + 30
        for pid in old:
            while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass  # not reparented to us yet, or reaped by its parent
                time.sleep(0.005)
        return took

    def close(self):
        try:
            if self.proc and self.proc.poll() is None:
                super().close()
            else:
                self.log.close()
        finally:
            # a containerd a killed dockerd left behind
            for pid in self.containerd():
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
            reap_orphans()


def become_subreaper():
    PR_SET_CHILD_SUBREAPER = 36
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def reap_orphans(timeout=10):
    """Reap the exited orphans that came to us as subreaper (docker's
    containerd and shims; never a subprocess of ours, which subprocess
    waits for itself)."""
    me = str(os.getpid())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = 0
        for p in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{p}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            comm, rest = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
            if rest[1] != me or not comm.startswith("containerd"):
                continue
            if rest[0] == "Z":
                try:
                    os.waitpid(int(p), os.WNOHANG)
                except ChildProcessError:
                    pass
            else:
                left += 1
        if not left:
            return
        time.sleep(0.1)


def docker_running(dockerd, names):
    res = get_json(dockerd.sock, "/containers/json")
    if not res or res[0] != 200:
        return None
    want = set(names)
    return sum(1 for c in res[1] if c["State"] == "running" and any(n.lstrip("/") in want for n in c["Names"]))


def docker_memory(dockerd):
    daemons, shims = docker_processes(dockerd)
    return {"daemon": total(daemons), "shims": total(shims), "n_shims": len(shims)}


def run_docker(dockerd, n, rounds):
    names = [f"{TAG}-d{i}" for i in range(n)]
    title = f"docker: {n} containers (run -d, network none, dockerd --live-restore)"
    print(f"\n{title}: starting...", flush=True)
    t = time.monotonic()
    for name in names:
        run_ok(["docker", "run", "-d", "--network", "none", "--name", name, IMAGE, *SLEEP], env=dockerd.env)
    started = time.monotonic() - t
    time.sleep(SETTLE_S)
    res = {"title": title, "started": started, "mem_first": docker_memory(dockerd), "rounds": {}}
    for sig in (signal.SIGKILL, signal.SIGTERM):
        name = signal.Signals(sig).name
        res["rounds"][name] = []
        for i in range(rounds):
            down = dockerd.terminate(sig)
            t0 = dockerd.spawn()
            api = None
            while True:
                if time.monotonic() > t0 + 120:
                    raise RuntimeError("dockerd: containers not back within 120 s; see dockerd.log")
                k = docker_running(dockerd, names)
                now = time.monotonic()
                if k is not None:
                    api = api or now
                    if k == n:
                        break
                time.sleep(POLL_S)
            r = {"down": down, "ready": None, "api": api - t0, "adopted": now - t0, "healthy": None}
            res["rounds"][name].append(r)
            print(f"  {name} {i + 1}: old dockerd gone in {down * 1000:6.1f} ms; from the spawn: API "
                  f"{r['api'] * 1000:6.1f} ms, all {n} listed running {r['adopted'] * 1000:6.1f} ms", flush=True)
            time.sleep(1.0)
    time.sleep(SETTLE_S)
    res["mem_restarted"] = docker_memory(dockerd)
    for i in range(0, n, 25):
        run_ok(["docker", "rm", "-f", *names[i:i + 25]], env=dockerd.env, timeout=600)
    return res


# --- report ---------------------------------------------------------------------------------

def spread(v):
    return f"median {statistics.median(v) * 1000:7.1f} ms (min {min(v) * 1000:.1f}, max {max(v) * 1000:.1f})"


def mib(kib):
    return kib / 1024


def report(n, rounds, results, docker):
    print(f"\n=== restart with {n} running containers, {rounds} rounds per signal; times from the new daemon's "
          "spawn ===")
    for r in results + ([docker] if docker else []):
        print(f"\n{r['title']}   (started in {r['started']:.1f} s)")
        for sig, rs in r["rounds"].items():
            print(f"  after {sig}:")
            print(f"    old daemon gone        {spread([x['down'] for x in rs])}")
            if rs[0]["ready"] is not None:
                print(f"    READY=1                {spread([x['ready'] for x in rs])}")
            print(f"    API answers            {spread([x['api'] for x in rs])}")
            print(f"    all {n} adopted        {spread([x['adopted'] for x in rs])}")
            if rs[0]["healthy"] is not None:
                print(f"    all {n} healthy again  {spread([x['healthy'] for x in rs])}")
        if r.get("disturbed"):
            print(f"  {len(r['disturbed'])} round(s) redone: every replica was adopted, then the manager restarted "
                  "one whose health check failed (on a shared node another daemon's container can hold the same "
                  "bridge address: each daemon has its own IPAM on the common zlayer0/10.88.0.0/16)")
        for key, what in (("mem_first", r.get("first_what", "the daemon that started them")),
                          ("mem_restarted", "the restarted daemon")):
            m = r[key]
            libs = "" if docker is r else f" (has loaded: {', '.join(m['libs']) or 'neither libarchive nor libcurl'})"
            print(f"  memory, {what}{libs}:\n    daemon{'s' if docker is r else ''} RSS {mib(m['daemon'][0]):6.1f} MiB "
                  f"(PSS {mib(m['daemon'][1]):6.1f}); {m['n_shims']} shims RSS {mib(m['shims'][0]):6.1f} MiB "
                  f"(PSS {mib(m['shims'][1]):6.1f})")
    print()
    if not results:
        return
    worst = max(statistics.median([x["adopted"] for x in rs]) for r in results for rs in r["rounds"].values())
    print(f"goal: all {n} re-adopted under {GOAL_ADOPT_S:.0f} s (worst median above {worst * 1000:.1f} ms): "
          f"{'met' if worst < GOAL_ADOPT_S else 'NOT met'}")
    rss = max(max(r["mem_first"]["daemon"][0], r["mem_restarted"]["daemon"][0]) for r in results)
    print(f"goal: daemon RSS under {GOAL_RSS_MIB:.0f} MiB with {n} containers (largest above "
          f"{mib(rss):.1f} MiB): {'met' if mib(rss) < GOAL_RSS_MIB else 'NOT met'}")
    if docker:
        worst_ratio = 0
        for key, what in (("mem_first", "the daemons that started them"), ("mem_restarted", "restarted")):
            d_rss = docker[key]["daemon"][0]
            for r in results:
                z = r[key]["daemon"][0]
                worst_ratio = max(worst_ratio, z / d_rss)
                print(f"ratio: zlayer-agentd / (dockerd + containerd) RSS, {what}, {r['title']}: "
                      f"{mib(z):.1f} / {mib(d_rss):.1f} MiB = {z / d_rss:.3f}")
        zs = max(r["mem_first"]["shims"][0] for r in results if r["mem_first"]["n_shims"] == n)
        ds = docker["mem_first"]["shims"][0]
        print(f"ratio: shims RSS, zlayer / docker: {mib(zs):.1f} / {mib(ds):.1f} MiB = {zs / ds:.3f}")
        print(f"goal: daemon RSS under a tenth of dockerd + containerd's (largest ratio {worst_ratio:.3f}): "
              f"{'met' if worst_ratio < GOAL_RSS_RATIO else 'NOT met'}")
        for sig in docker["rounds"]:
            d = statistics.median([x["adopted"] for x in docker["rounds"][sig]])
            z = statistics.median([x["adopted"] for x in results[0]["rounds"][sig]])
            print(f"ratio: restart after {sig}, dockerd / zlayer-agent ({results[0]['title']}): "
                  f"{d * 1000:.0f} / {z * 1000:.0f} ms = {d / z:.1f}x")


def main():
    if os.geteuid() != 0:
        sys.exit("bench: run as root (the runtimes need it)")
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    only = os.environ.get("RESTART_ONLY", "")  # e.g. "containers-none,docker": a subset
    work = tempfile.mkdtemp(prefix="zl-rs-", dir="/tmp")  # short: the socket path
    agent = dockerd = notify = None
    results, docker = [], None
    try:
        image = startbench.build_image(work)
        notify = Notify(os.path.join(work, "notify.sock"))
        agent = RestartAgent(work, image, notify)
        scenarios = [("containers-none", Containers(n, "none")), ("deployment-none", Deployment(n, "none", work)),
                     ("containers-bridge", Containers(n, "bridge")),
                     ("deployment-bridge", Deployment(n, "bridge", work))]
        for key, scen in scenarios:
            if not only or key in only.split(","):
                results.append(run_scenario(agent, scen, rounds, fresh=bool(results)))
        agent.close()
        agent = None
        if shutil.which("dockerd") and (not only or "docker" in only.split(",")):
            become_subreaper()  # see RestartDockerd.terminate()
            dockerd = RestartDockerd(work, image)
            docker = run_docker(dockerd, n, rounds)
        report(n, rounds, results, docker)
    finally:
        for x in (dockerd, agent, notify):
            if x:
                x.close()
        umount_under(work)
        for name in ("agent.log", "dockerd.log"):
            if os.environ.get("RESTART_KEEP_LOGS") and os.path.exists(os.path.join(work, name)):
                shutil.copy(os.path.join(work, name), os.path.join(os.environ["RESTART_KEEP_LOGS"], name))
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
