"""Driver of bench/wasm.sh (b): starts of WebAssembly modules through
`zlayer-agent run --rm` against the OCI runtime's busybox `echo`, one
private daemon (its own compile cache). Cold starts use a module whose
digest the cache has never seen (a custom section with a fresh name is
appended), so every cold run pays the whole first-start path (validation,
wasm2c, libtcc). Prints medians and ratios."""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import startbench

ROOT = startbench.ROOT
HELLO = r'''
#include <stdio.h>
int main(int argc, char **argv) { printf("hello from %s\n", argv[0]); return 0; }
'''


def leb(n):
    out = bytearray()
    while True:
        b = n & 0x7f
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def with_custom_section(src, dst, tag):
    """A copy of module src with a custom section named tag: same code, new digest."""
    name = tag.encode()
    body = leb(len(name)) + name
    with open(src, "rb") as f:
        data = f.read()
    with open(dst, "wb") as f:
        f.write(data + b"\x00" + leb(len(body)) + body)


def big_source(path, functions=6000):
    """C source of a ~2 MB module: many distinct functions, all reachable."""
    with open(path, "w") as f:
        f.write("#include <stdio.h>\n#include <stdint.h>\n")
        for i in range(functions):
            f.write(f"uint32_t f{i}(uint32_t x) {{ for (int k = 0; k < {i % 7 + 3}; k++) "
                    f"{{ x = x * {2654435761 + i}u + {i}u; x ^= x >> {i % 13 + 3}; if (x % {i % 5 + 2}u == 0) "
                    f"x += (uint32_t)k * {i}u; else x -= {i % 11}u; }} return x; }}\n")
        f.write("uint32_t (*const table[])(uint32_t) = {" + ",".join(f"f{i}" for i in range(functions)) + "};\n")
        f.write("int main(int argc, char **argv) { uint32_t x = (uint32_t)argc; "
                f"for (int i = 0; i < {functions}; i++) x = table[i](x); printf(\"%u\\n\", x); return 0; }}\n")


def stop_background_builds(cache):
    """The tcc tier starts a cc -O2 build of the module in the background
    (minutes for a big module): stop it before the next run, or cold runs
    would measure each other's compilers. Only cold runs start one."""
    import signal
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if cache.encode() in f.read():
                    os.kill(int(pid), signal.SIGKILL)
        except OSError:
            pass



def main():
    if os.geteuid() != 0:
        sys.exit("bench: run as root")
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    work = tempfile.mkdtemp(prefix="za-bench-wasm-")
    os.environ["ZLAYER_WASM_CACHE_DIR"] = os.path.join(work, "wasm-cache")
    agent = None
    try:
        hello = os.path.join(work, "hello.wasm")
        with open(os.path.join(work, "hello.c"), "w") as f:
            f.write(HELLO)
        subprocess.run(["clang", "--target=wasm32-wasi", "-O2", "-o", hello, os.path.join(work, "hello.c")],
                       check=True)
        big = os.path.join(work, "big.wasm")
        big_source(os.path.join(work, "big.c"))
        subprocess.run(["clang", "--target=wasm32-wasi", "-O0", "-o", big, os.path.join(work, "big.c")], check=True)
        image = startbench.build_image(work)
        agent = startbench.Agent(work, image)
        env = agent.env
        subprocess.run(agent.cmd("wasm", "precompile", f"file:{hello}"), env=env, check=True,
                       stdout=subprocess.DEVNULL)
        print(f"modules: hello {os.path.getsize(hello)} bytes, big {os.path.getsize(big)} bytes")
        cold_dir = os.path.join(work, "cold")
        os.makedirs(cold_dir)

        def cold(src, i):
            dst = os.path.join(cold_dir, f"{os.path.basename(src)[:-5]}-{i}.wasm")
            with_custom_section(src, dst, f"zlbench-{time.time_ns()}-{i}")
            return agent.cmd("run", "--rm", f"file:{dst}")

        tools = {
            "wasm warm (cached tier)": lambda i: agent.cmd("run", "--rm", f"file:{hello}"),
            "wasm cold (hello, no cache)": lambda i: cold(hello, i),
            "wasm cold (2 MB module, no cache)": lambda i: cold(big, i),
            "oci busybox echo": lambda i: agent.cmd("run", "--rm", "--network", "none", startbench.IMAGE, "echo",
                                                     "hi"),
        }
        times = {k: [] for k in tools}
        for i in range(-2, runs):
            for name, make in tools.items():
                took = startbench.timed(make(i + 2), env=env)
                if i >= 0:
                    times[name].append(took)
                if "cold" in name:
                    stop_background_builds(os.environ["ZLAYER_WASM_CACHE_DIR"])
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"\nmedian milliseconds ({runs} runs each, taking turns):")
        for k, v in times.items():
            q = statistics.quantiles(v, n=10)
            print(f"  {k:36s} {med[k] * 1000:8.1f}   p10 {q[0] * 1000:.1f}  p90 {q[-1] * 1000:.1f}")
        print(f"\nratio: oci busybox echo / wasm warm = {med['oci busybox echo'] / med['wasm warm (cached tier)']:.2f}x")
        print("goals: warm < 10 ms and >= 2x faster than the OCI start; cold start of a 2 MB module < 150 ms")
    finally:
        if agent:
            agent.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
