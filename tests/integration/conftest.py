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
