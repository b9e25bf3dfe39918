"""Driver of bench/recover.sh: how fast the service manager brings a killed
replica back. A private daemon (bench/startbench.py's Agent and test image)
runs a one-replica deployment of the test helper's HTTP server with an HTTP
health check every 100 ms and no start grace; then, RUNS times, the
replica's init process gets SIGKILL and the daemon's own events (read from a
followed `events --json` stream) time it: kill -> ContainerRestarted
(running again, new pid) and kill -> HealthHealthy. The daemon's debug log
(JSON) splits the first interval into its steps (exit noticed, old container
removed, new one created, started). Prints medians and p90.
RECOVER_KEEP_LOG=FILE keeps a copy of the daemon's log."""
import calendar
import json
import math
import os
import queue
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import startbench  # noqa: E402
from startbench import AGENT, IMAGE, stop, umount_under, wait_socket  # noqa: E402

DEPLOYMENT, SERVICE, REPLICA = "recover", "rec", "rec-rep-1"
CRASHLOOP_RESTARTS = 1000  # the default (5 within 300 s) would back off after the 6th kill
SPEC = f"""version: v1
deployment: {DEPLOYMENT}
services:
  {SERVICE}:
    image: {{ name: "{IMAGE}", pull_policy: never }}
    command: {{ entrypoint: ["zl-testhelper", "http", "8080"] }}
    endpoints: [{{ name: http, protocol: http, port: 8080 }}]
    scale: {{ mode: fixed, replicas: 1 }}
    health:
      check: {{ type: http, url: "http://localhost:8080/" }}
      interval: 100ms
      timeout: 1s
      start_grace: 0s
    stop_grace_period: 1s
"""


class RecoverAgent(startbench.Agent):
    """startbench.Agent with a config file (crash loop threshold raised) and
    the debug log in JSON, for the exit timestamps."""

    def __init__(self, work, image, network):
        self.root, self.rundir = os.path.join(work, "zl-root"), os.path.join(work, "zl-run")
        os.makedirs(self.rundir, exist_ok=True)
        self.env = dict(os.environ, ZLAYER_RUNTIME_DIR=self.rundir)
        cfg = os.path.join(work, "agent.json")
        with open(cfg, "w") as f:
            json.dump({"crashloop_restarts": CRASHLOOP_RESTARTS}, f)
        self.log_path = os.path.join(work, "agent.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([AGENT, "daemon", "--root", self.root, "--runtime-dir", self.rundir,
                                      "--config", cfg, "--log-level", "debug", "--log-format", "json"],
                                     stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        wait_socket(os.path.join(self.rundir, "agent.sock"), self.proc, "zlayer-agent daemon")
        self.cli("load", image.source)
        self.cli("tag", image.digest, IMAGE)
        self.spec = os.path.join(work, "recover.yaml")
        with open(self.spec, "w") as f:
            f.write(SPEC if network == "bridge" else SPEC.replace(
                "    stop_grace_period", f"    network_mode: {network}\n    stop_grace_period"))

    def replica(self):
        st = json.loads(self.cli("status", "--json", DEPLOYMENT))
        return st["services"][SERVICE]["replicas"][0]

    def close(self):
        try:
            if self.proc.poll() is None:
                subprocess.run(self.cmd("down", DEPLOYMENT), env=self.env, capture_output=True, timeout=120)
        finally:
            super().close()
            self.log.close()


class Events:
    """A followed `events --json` stream, read by a thread."""

    def __init__(self, agent):
        self.proc = subprocess.Popen(agent.cmd("events", "--json", DEPLOYMENT), env=agent.env, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        self.q = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            if line.strip():
                self.q.put(json.loads(line))

    def next(self, types, after_seq, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"no {'/'.join(types)} event within {timeout}s")
            try:
                e = self.q.get(timeout=left)
            except queue.Empty:
                continue
            if e["seq"] > after_seq and e["type"] in types and e.get("replica") == REPLICA:
                return e
            if e["type"] == "CrashLoopBackOff":
                raise RuntimeError(f"crash loop: {e['message']}")

    def close(self):
        stop(self.proc, timeout=5)


def event_ns(e):
    t = e["time"]  # 2024-05-01T12:00:00.123456789Z
    return time_ns_of(t[:19]) + int(t[20:29])


def time_ns_of(date):
    return calendar.timegm(time.strptime(date, "%Y-%m-%dT%H:%M:%S")) * 1_000_000_000


# Phases of a restart in the daemon's debug log, in order: the manager
# learns of the exit, the old container is removed (network detached), the
# new one created (network attached, bundle written), then started (shim
# and `runc run`).
PHASES = [("exit noticed by the manager", f"replica {REPLICA}: running + exited"),
          ("old container removed (CNI DEL)", f"removed container {REPLICA}"),
          ("new one created (netns, CNI ADD)", f"created container {REPLICA}"),
          ("started (shim + runc run)", f"started container {REPLICA}")]


def log_marks(log_path, after_ns):
    """{phase: ns} of each phase's first debug line after after_ns."""
    marks = {}
    with open(log_path, errors="replace") as f:
        for line in f:
            phase = next((name for name, text in PHASES if text in line and name not in marks), None)
            if not phase:
                continue
            try:
                t = json.loads(line)["time"]  # ...T12:00:00.123456Z
            except ValueError:
                continue
            ns = time_ns_of(t[:19]) + int(t[20:26]) * 1000
            if ns >= after_ns:
                marks[phase] = ns
    return marks


def pct(values, p):
    s = sorted(values)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


def main():
    if os.geteuid() != 0:
        sys.exit("bench: run as root (the runtime needs it)")
    args = [a for a in sys.argv[1:] if not a.startswith("--network=")]
    network = next((a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--network=")), "bridge")
    runs = int(args[0]) if args else 20
    if network not in ("bridge", "host"):
        sys.exit("bench: --network is bridge or host (the http health check needs an address)")
    work = tempfile.mkdtemp(prefix="zl-rc-", dir="/tmp")  # short: the socket path
    agent = events = None
    try:
        image = startbench.build_image(work)
        agent = RecoverAgent(work, image, network)
        print(f"daemon config: crashloop_restarts {CRASHLOOP_RESTARTS} (the default, more than 5 restarts within "
              f"300 s, would put the replica in CrashLoopBackOff with 30 s delays after the 6th kill)")
        print(f"one replica of `zl-testhelper http 8080` (network {network}), http health check every 100 ms, "
              f"start_grace 0; {runs} SIGKILLs of its init process", flush=True)
        events = Events(agent)
        agent.cli("deploy", "--quiet", agent.spec)
        seq = events.next(("HealthHealthy",), 0)["seq"]
        running, healthy = [], []
        phases = {name: [] for name, _ in PHASES}
        for i in range(runs):
            rep = agent.replica()
            if rep["state"] != "running" or rep["health"]["status"] != "healthy":
                raise RuntimeError(f"replica not running and healthy before kill {i + 1}: {rep}")
            old = rep["pid"]
            time.sleep(0.2)  # settle: no check or restart work in flight
            t_kill = time.time_ns()
            os.kill(old, signal.SIGKILL)
            up = events.next(("ContainerRestarted",), seq)
            ok = events.next(("HealthHealthy",), up["seq"])
            seq = ok["seq"]
            new = agent.replica()["pid"]
            if new == old:
                raise RuntimeError(f"kill {i + 1}: the replica kept pid {old}")
            running.append((event_ns(up) - t_kill) / 1e6)
            healthy.append((event_ns(ok) - t_kill) / 1e6)
            marks = log_marks(agent.log_path, t_kill)
            if len(marks) == len(PHASES):
                prev = t_kill
                for name, _ in PHASES:
                    phases[name].append((marks[name] - prev) / 1e6)
                    prev = marks[name]
            print(f"  kill {i + 1:2d}: pid {old} -> {new}: running after {running[-1]:6.1f} ms, "
                  f"healthy after {healthy[-1]:6.1f} ms", flush=True)

        print(f"\nkill -> running again (ContainerRestarted), {runs} kills: median {statistics.median(running):.1f} ms"
              f", p90 {pct(running, 90):.1f} ms, min {min(running):.1f}, max {max(running):.1f}")
        print(f"kill -> healthy again (HealthHealthy):          median {statistics.median(healthy):.1f} ms"
              f", p90 {pct(healthy, 90):.1f} ms, min {min(healthy):.1f}, max {max(healthy):.1f}")
        if all(phases.values()):
            print(f"kill -> running, step by step (the daemon's debug log, {len(phases[PHASES[0][0]])} kills):")
            for name, v in phases.items():
                print(f"  {name:34s} median {statistics.median(v):6.1f} ms, p90 {pct(v, 90):6.1f} ms")
        goal = statistics.median(running) < 100
        print(f"goal (median kill -> running under 100 ms): {'met' if goal else 'NOT met'}")
    finally:
        if events:
            events.close()
        if agent:
            agent.close()
        umount_under(work)
        if os.environ.get("RECOVER_KEEP_LOG"):
            shutil.copy(os.path.join(work, "agent.log"), os.environ["RECOVER_KEEP_LOG"])
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
