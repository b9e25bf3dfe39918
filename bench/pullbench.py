"""Driver of bench/pull.sh; reuses the integration test's registry helpers."""
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

import registry as regmod  # noqa: E402
import testimages  # noqa: E402

AGENT = os.path.join(ROOT, "build", "zlayer-agent")
RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 5


def timed(cmd, env=None):
    t = time.monotonic()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.monotonic() - t


def wait_socket(path, proc, what, timeout=30):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start")
        time.sleep(0.02)


def stop(proc):
    if proc and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def bench_zlayer(work, ref):
    times = []
    for _ in range(RUNS):
        root, run = os.path.join(work, "zl-root"), os.path.join(work, "zl-run")
        shutil.rmtree(root, ignore_errors=True)
        os.makedirs(run, exist_ok=True)
        proc = subprocess.Popen([AGENT, "daemon", "--root", root, "--runtime-dir", run],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_socket(os.path.join(run, "agent.sock"), proc, "zlayer-agent daemon")
            env = dict(os.environ, ZLAYER_RUNTIME_DIR=run)
            times.append(timed([AGENT, "pull", "--quiet", ref], env=env))
        finally:
            stop(proc)
    shutil.rmtree(os.path.join(work, "zl-root"), ignore_errors=True)
    return times


def bench_skopeo_umoci(work, ref):
    times = []
    for _ in range(RUNS):
        layout, bundle = os.path.join(work, "sk-layout"), os.path.join(work, "sk-bundle")
        shutil.rmtree(layout, ignore_errors=True)
        shutil.rmtree(bundle, ignore_errors=True)
        t = time.monotonic()
        subprocess.run(["skopeo", "copy", "--src-tls-verify=false", f"docker://{ref}", f"oci:{layout}:img"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        subprocess.run(["umoci", "unpack", "--image", f"{layout}:img", bundle], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        times.append(time.monotonic() - t)
    shutil.rmtree(os.path.join(work, "sk-layout"), ignore_errors=True)
    shutil.rmtree(os.path.join(work, "sk-bundle"), ignore_errors=True)
    return times


def bench_docker(work, ref):
    if not shutil.which("dockerd"):
        return None
    data, sock = os.path.join(work, "docker-data"), os.path.join(work, "docker.sock")
    exec_root = os.path.join(work, "docker-exec")
    log = open(os.path.join(work, "dockerd.log"), "w")
    proc = subprocess.Popen(["dockerd", "--iptables=false", "--bridge=none", "--data-root", data,
                             "--exec-root", exec_root, "-H", f"unix://{sock}",
                             "--pidfile", os.path.join(work, "docker.pid")], stdout=log, stderr=log)
    env = dict(os.environ, DOCKER_HOST=f"unix://{sock}")
    times = []
    try:
        wait_socket(sock, proc, "dockerd")
        for _ in range(60):
            if subprocess.run(["docker", "info"], env=env, capture_output=True).returncode == 0:
                break
            time.sleep(0.25)
        for _ in range(RUNS):
            subprocess.run(["docker", "rmi", "-f", ref], env=env, capture_output=True)
            subprocess.run(["docker", "image", "prune", "-af"], env=env, capture_output=True)
            times.append(timed(["docker", "pull", "-q", ref], env=env))
        subprocess.run(["docker", "rmi", "-f", ref], env=env, capture_output=True)
    finally:
        stop(proc)
        log.close()
        subprocess.run(["umount", "-R", exec_root], capture_output=True)
        shutil.rmtree(data, ignore_errors=True)
    return times


def main():
    if os.geteuid() != 0:
        sys.exit("bench: run as root (the agent and dockerd need it)")
    work = tempfile.mkdtemp(prefix="za-bench-pull-")
    reg = None
    try:
        reg = regmod.start_registry(os.path.join(work, "registry"))
        print("building and pushing a ~200 MB image of 5 layers...", flush=True)
        testimages.push_big_image(os.path.join(work, "img"), reg, repo="big", tag="latest")
        ref = f"{reg.host}/big:latest"
        results = {
            "zlayer-agent pull": bench_zlayer(work, ref),
            "skopeo copy + umoci unpack": bench_skopeo_umoci(work, ref),
            "docker pull": bench_docker(work, ref),
        }
        print(f"\ncold pull of {ref}, {RUNS} runs each (median seconds):")
        med = {k: statistics.median(v) for k, v in results.items() if v}
        for k, v in results.items():
            if v:
                print(f"  {k:28s} {med[k]:7.3f}s  (runs: {', '.join(f'{x:.2f}' for x in v)})")
            else:
                print(f"  {k:28s}   n/a (not installed)")
        z = med["zlayer-agent pull"]
        for k in ("docker pull", "skopeo copy + umoci unpack"):
            if k in med:
                print(f"ratio: {k} / zlayer-agent = {med[k] / z:.2f}x")
    finally:
        if reg:
            reg.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
