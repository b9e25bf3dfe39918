"""Driver of bench/density.sh: start N (100) sleeping containers one after
another, report the wall time and the memory of what keeps them running,
per container: for zlayer-agent the daemon plus its shims, for docker
dockerd plus containerd plus its shims (a private dockerd). The containers'
own processes are not counted for either. RSS and PSS (shared pages split
among their users) from /proc. Shared pieces come from startbench.py."""
import os
import shutil
import sys
import tempfile
import time

from startbench import IMAGE, Agent, Dockerd, build_image, run_ok, umount_under

SLEEP = ["sleep", "3600"]


def proc_argv(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def memory_kib(pid):
    """(RSS, PSS) in KiB of one process; (0, 0) if it is gone."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def find(pred):
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and pred(proc_argv(int(p)))]


def zlayer_processes(agent):
    def shim(argv):
        return bool(argv) and os.path.basename(argv[0]) == "zlayer-shim" and any(agent.rundir in a for a in argv)
    return [agent.proc.pid], find(shim)


def docker_processes(dockerd):
    def containerd(argv):
        return bool(argv) and os.path.basename(argv[0]) == "containerd" and any(dockerd.exec_root in a for a in argv)

    def shim(argv):
        return bool(argv) and os.path.basename(argv[0]).startswith("containerd-shim") and \
            any(dockerd.exec_root in a for a in argv)
    return [dockerd.proc.pid] + find(containerd), find(shim)


def total(pids):
    rss = pss = 0
    for p in pids:
        r, s = memory_kib(p)
        rss, pss = rss + r, pss + s
    return rss, pss


def measure(name, n, start_cmd, env, processes, remove_cmd):
    daemons, _ = processes()
    idle = total(daemons)
    t = time.monotonic()
    for i in range(n):
        run_ok(start_cmd(f"zldense-{i}"), env=env)
    wall = time.monotonic() - t
    time.sleep(1)  # let the daemons settle after the last start
    daemons, shims = processes()
    d_rss, d_pss = total(daemons)
    s_rss, s_pss = total(shims)
    t = time.monotonic()
    names = [f"zldense-{i}" for i in range(n)]
    for i in range(0, n, 25):
        run_ok(remove_cmd(names[i:i + 25]), env=env, timeout=300)
    removed = time.monotonic() - t
    return {
        "name": name, "wall": wall, "removed": removed, "shims": len(shims), "idle": idle,
        "daemons": (d_rss, d_pss), "shim_mem": (s_rss, s_pss),
        "per": ((d_rss + s_rss) / n, (d_pss + s_pss) / n),
        "marginal": ((d_rss + s_rss - idle[0]) / n, (d_pss + s_pss - idle[1]) / n),
    }


def report(n, results):
    print(f"\n{n} sleeping containers started one after another (--network none):")
    for r in results:
        print(f"\n  {r['name']}")
        print(f"    start wall time      {r['wall']:7.2f} s  ({r['wall'] / n * 1000:.0f} ms per container); "
              f"rm -f of all {r['removed']:.2f} s")
        print(f"    daemons idle         RSS {r['idle'][0] / 1024:7.1f} MiB   PSS {r['idle'][1] / 1024:7.1f} MiB")
        print(f"    daemons with {n:3d}     RSS {r['daemons'][0] / 1024:7.1f} MiB   "
              f"PSS {r['daemons'][1] / 1024:7.1f} MiB")
        print(f"    {r['shims']:3d} shims            RSS {r['shim_mem'][0] / 1024:7.1f} MiB   "
              f"PSS {r['shim_mem'][1] / 1024:7.1f} MiB")
        print(f"    per container        RSS {r['per'][0]:7.0f} KiB   PSS {r['per'][1]:7.0f} KiB  (daemons + shims) / {n}")
        print(f"    marginal per ctr     RSS {r['marginal'][0]:7.0f} KiB   PSS {r['marginal'][1]:7.0f} KiB  "
              "(minus the idle daemons)")
    by = {r["name"]: r for r in results}
    z, d = by.get("zlayer-agent"), by.get("docker (dockerd + containerd + shims)")
    if z and d:
        print(f"\nratio docker / zlayer-agent: start wall time {d['wall'] / z['wall']:.2f}x, "
              f"memory per container RSS {d['per'][0] / z['per'][0]:.2f}x, PSS {d['per'][1] / z['per'][1]:.2f}x")


def main():
    if os.geteuid() != 0:
        sys.exit("bench: run as root (the runtimes need it)")
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    work = tempfile.mkdtemp(prefix="za-bench-density-")
    agent = dockerd = None
    results = []
    try:
        image = build_image(work)
        agent = Agent(work, image)
        print(f"zlayer-agent: starting {n} containers...", flush=True)
        results.append(measure(
            "zlayer-agent", n,
            lambda name: agent.cmd("run", "-d", "--network", "none", "--name", name, IMAGE, *SLEEP), agent.env,
            lambda: zlayer_processes(agent), lambda names: agent.cmd("rm", "-f", *names)))
        if os.environ.get("DENSITY_BRIDGE"):
            print(f"zlayer-agent (bridge): starting {n} containers...", flush=True)
            results.append(measure(
                "zlayer-agent (bridge network)", n,
                lambda name: agent.cmd("run", "-d", "--name", name, IMAGE, *SLEEP), agent.env,
                lambda: zlayer_processes(agent), lambda names: agent.cmd("rm", "-f", *names)))
        agent.close()
        agent = None
        if shutil.which("dockerd"):
            dockerd = Dockerd(work, image)
            print(f"docker: starting {n} containers...", flush=True)
            results.append(measure(
                "docker (dockerd + containerd + shims)", n,
                lambda name: ["docker", "run", "-d", "--network", "none", "--name", name, IMAGE, *SLEEP],
                dockerd.env, lambda: docker_processes(dockerd), lambda names: ["docker", "rm", "-f", *names]))
        report(n, results)
    finally:
        for x in (dockerd, agent):
            if x:
                x.close()
        umount_under(work)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
