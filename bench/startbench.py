"""Driver of bench/start.sh: create + start + wait-for-exit of a `true`
container, side by side in one run (the tools take turns, run after run, so
drift hits them alike): zlayer-agent `run --rm`, raw `runc run` on a
prepared bundle, `docker run --rm` (a private dockerd) and `podman run --rm`.
Prints medians and ratios. Also the shared pieces of bench/densitybench.py:
the test image, a private agent daemon, a private dockerd, podman flags."""
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

import testimage  # noqa: E402

AGENT = os.environ.get("ZLAYER_AGENT", os.path.join(ROOT, "build", "zlayer-agent"))
IMAGE = testimage.NAME
PODMAN_IMAGE = "localhost/" + IMAGE
WARMUP = 2


def run_ok(cmd, env=None, timeout=120):
    p = subprocess.run([str(c) for c in cmd], env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p.stdout


def timed(cmd, env=None):
    t = time.monotonic()
    p = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       timeout=120)
    took = time.monotonic() - t
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.decode(errors='replace')}")
    return took


def wait_socket(path, proc, what, timeout=30):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start")
        time.sleep(0.02)


def stop(proc, timeout=30):
    if proc and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def umount_under(path):
    """Lazily unmount everything at or below path, deepest first."""
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4].encode().decode("unicode_escape") for line in f]
    for mp in reversed(points):
        if mp == path or mp.startswith(path + "/"):
            subprocess.run(["umount", "-l", mp], capture_output=True)


def build_image(work):
    helper = testimage.default_helper_path()
    if not os.access(helper, os.X_OK):
        sys.exit(f"bench: {helper} not built (make build)")
    return testimage.build(os.path.join(work, "image"), helper)


class Agent:
    """A private `zlayer-agent daemon` with the test image loaded."""

    def __init__(self, work, image):
        self.root, self.rundir = os.path.join(work, "zl-root"), os.path.join(work, "zl-run")
        os.makedirs(self.rundir, exist_ok=True)
        self.env = dict(os.environ, ZLAYER_RUNTIME_DIR=self.rundir)
        self.log = open(os.path.join(work, "agent.log"), "w")
        self.proc = subprocess.Popen([AGENT, "daemon", "--root", self.root, "--runtime-dir", self.rundir],
                                     stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        wait_socket(os.path.join(self.rundir, "agent.sock"), self.proc, "zlayer-agent daemon")
        self.cli("load", image.source)
        self.cli("tag", image.digest, IMAGE)

    def cmd(self, *args):
        return [AGENT, *map(str, args)]

    def cli(self, *args, timeout=120):
        return run_ok(self.cmd(*args), env=self.env, timeout=timeout)

    def remove_all(self, timeout=300):
        ids = [c["id"] for c in json.loads(self.cli("ps", "-a", "--json"))]
        for i in range(0, len(ids), 25):
            subprocess.run(self.cmd("rm", "-f", *ids[i:i + 25]), env=self.env, capture_output=True,
                           timeout=timeout)

    def close(self):
        try:
            if self.proc.poll() is None:
                self.remove_all()
        finally:
            stop(self.proc)
            self.log.close()
            runc_root = os.path.join(self.rundir, "runc")
            if os.path.isdir(runc_root):
                for cid in os.listdir(runc_root):
                    subprocess.run(["runc", "--root", runc_root, "delete", "-f", cid], capture_output=True)
            umount_under(self.rundir)
            umount_under(self.root)


class Dockerd:
    """A private dockerd (its own containerd) with the test image loaded."""

    def __init__(self, work, image):
        self.data, self.exec_root = os.path.join(work, "docker-data"), os.path.join(work, "docker-exec")
        sock = os.path.join(work, "docker.sock")
        self.log = open(os.path.join(work, "dockerd.log"), "w")
        self.proc = subprocess.Popen(["dockerd", "--iptables=false", "--bridge=none", "--data-root", self.data,
                                      "--exec-root", self.exec_root, "-H", f"unix://{sock}",
                                      "--pidfile", os.path.join(work, "docker.pid")],
                                     stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        self.env = dict(os.environ, DOCKER_HOST=f"unix://{sock}")
        wait_socket(sock, self.proc, "dockerd")
        for _ in range(120):
            if subprocess.run(["docker", "info"], env=self.env, capture_output=True).returncode == 0:
                break
            time.sleep(0.25)
        archive = os.path.join(work, "docker-image.tar")
        run_ok(["skopeo", "--insecure-policy", "copy", "--quiet", f"oci:{image.layout}:{testimage.TAG}",
                f"docker-archive:{archive}:{IMAGE}"])
        run_ok(["docker", "load", "-q", "-i", archive], env=self.env)

    def close(self):
        try:
            ids = subprocess.run(["docker", "ps", "-aq"], env=self.env, capture_output=True, text=True).stdout.split()
            for i in range(0, len(ids), 25):
                subprocess.run(["docker", "rm", "-f", *ids[i:i + 25]], env=self.env, capture_output=True,
                               timeout=300)
        finally:
            stop(self.proc)
            self.log.close()
            umount_under(self.exec_root)
            umount_under(self.data)


class Podman:
    """podman with its own storage under work (runc, cgroupfs, as the
    machine requires), the test image pulled from the OCI layout."""

    def __init__(self, work, image):
        self.work = os.path.join(work, "podman")
        self.base = ["podman", "--root", os.path.join(self.work, "root"), "--runroot",
                     os.path.join(self.work, "run"), "--tmpdir", os.path.join(self.work, "tmp"),
                     "--runtime", "runc", "--cgroup-manager", "cgroupfs", "--events-backend", "file"]
        run_ok(self.base + ["pull", "-q", f"oci:{image.layout}:{testimage.TAG}"])
        image_id = run_ok(self.base + ["images", "-q"]).split()[0]
        run_ok(self.base + ["tag", image_id, PODMAN_IMAGE])

    def run_cmd(self, *args):
        return self.base + ["run", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", *args]

    def close(self):
        subprocess.run(self.base + ["rm", "-af"], capture_output=True, timeout=300)
        subprocess.run(self.base + ["rmi", "-af"], capture_output=True, timeout=300)
        umount_under(self.work)


def runc_bundle(work, image):
    bundle = os.path.join(work, "bundle")
    image.extract_rootfs(os.path.join(bundle, "rootfs"))
    run_ok(["runc", "spec", "--bundle", bundle])
    path = os.path.join(bundle, "config.json")
    with open(path) as f:
        cfg = json.load(f)
    cfg["process"]["args"] = ["true"]
    cfg["process"]["terminal"] = False
    with open(path, "w") as f:
        json.dump(cfg, f)
    return bundle


def agent_bundle(work, agent, image):
    """The bundle zlayer-agent itself writes for `--network none IMAGE true`
    (its seccomp profile, capabilities, masks, cgroup), on a plain copy of
    the rootfs: what raw runc does with the same container, without the
    agent around it. Each run gets its own cgroup."""
    bundle = os.path.join(work, "agent-bundle")
    cid = agent.cli("create", "--network", "none", IMAGE, "true").split()[-1]
    try:
        # the runtime writes the bundle when the container starts
        agent.cli("start", cid)
        agent.cli("wait", cid)
        path = os.path.join(agent.rundir, "containers", cid, "bundle", "config.json")
        with open(path) as f:
            cfg = json.load(f)
        image.extract_rootfs(os.path.join(bundle, "rootfs"))
        cfg["root"]["path"] = os.path.join(bundle, "rootfs")
        for m in cfg.get("mounts", []):
            if m.get("source", "").startswith(agent.rundir):  # hostname, hosts, resolv.conf
                shutil.copy(m["source"], os.path.join(bundle, os.path.basename(m["source"])))
                m["source"] = os.path.join(bundle, os.path.basename(m["source"]))
    finally:
        agent.cli("rm", "-f", cid)
    return bundle, cfg


def agent_bundle_cmd(bundle, cfg, runc_root, i):
    cfg["linux"]["cgroupsPath"] = f"/zlbench/run-{i}"
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(cfg, f)
    return ["runc", "--root", runc_root, "run", "--bundle", bundle, f"zlbench-a{i}"]


def main():
    if os.geteuid() != 0:
        sys.exit("bench: run as root (the runtimes need it)")
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    work = tempfile.mkdtemp(prefix="za-bench-start-")
    agent = dockerd = podman = None
    try:
        image = build_image(work)
        agent = Agent(work, image)
        bundle = runc_bundle(work, image)
        abundle, acfg = agent_bundle(work, agent, image)
        runc_root = os.path.join(work, "runc-state")
        tools = {
            "zlayer-agent run --rm": lambda i: agent.cmd("run", "--rm", "--network", "none", IMAGE, "true"),
            "zlayer-agent run --rm (bridge)": lambda i: agent.cmd("run", "--rm", IMAGE, "true"),
            "runc run (prepared bundle)": lambda i: ["runc", "--root", runc_root, "run", "--bundle", bundle,
                                                     f"zlbench-{i}"],
            "runc run (zlayer's bundle)": lambda i: agent_bundle_cmd(abundle, acfg, runc_root, i),
        }
        envs = {k: agent.env for k in tools}
        if shutil.which("dockerd"):
            dockerd = Dockerd(work, image)
            tools["docker run --rm"] = lambda i: ["docker", "run", "--rm", "--network", "none", IMAGE, "true"]
            envs["docker run --rm"] = dockerd.env
        if shutil.which("podman"):
            podman = Podman(work, image)
            tools["podman run --rm"] = lambda i: podman.run_cmd("--rm", "--network", "none", PODMAN_IMAGE, "true")
            envs["podman run --rm"] = None

        print(f"create + start + wait-for-exit of a `true` container, {runs} runs each, taking turns...",
              flush=True)
        times = {k: [] for k in tools}
        for i in range(-WARMUP, runs):
            for name, make in tools.items():
                took = timed(make(i + WARMUP), env=envs[name])
                if i >= 0:
                    times[name].append(took)

        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"\nmedian seconds ({runs} runs; docker and podman with --network none, as is zlayer-agent's "
              "first row):")
        for k, v in times.items():
            q = statistics.quantiles(v, n=10)
            print(f"  {k:32s} {med[k]:7.3f}s   p10 {q[0]:.3f}  p90 {q[-1]:.3f}")
        z = med["zlayer-agent run --rm"]
        print()
        for k in ("docker run --rm", "podman run --rm", "runc run (prepared bundle)", "runc run (zlayer's bundle)",
                  "zlayer-agent run --rm (bridge)"):
            if k in med:
                print(f"ratio: {k} / zlayer-agent run --rm = {med[k] / z:.2f}x")
        print("\n(`runc spec`'s bundle has no seccomp filter; zlayer's has Docker's default profile, which runc\n"
              " compiles at every start: the second runc row is the same container without the agent)")
    finally:
        for x in (podman, dockerd, agent):
            if x:
                x.close()
        umount_under(work)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
