"""User stories for the command line: version, help, and validating specs."""
import json

import pytest

from conftest import FIXTURES, ROOT

GOOD = sorted((FIXTURES / "specs" / "good").glob("*.yaml"))
BAD = sorted((FIXTURES / "specs" / "bad").glob("*.yaml"))


def test_version(agent):
    r = agent("--version")
    assert r.returncode == 0
    assert r.stdout.startswith("zlayer-agent ")
    assert r.stdout.strip().split()[1][0].isdigit()


def test_help_lists_commands(agent):
    r = agent("--help")
    assert r.returncode == 0
    assert "validate" in r.stdout
    assert "Usage: zlayer-agent" in r.stdout


def test_no_arguments_is_usage_error(agent):
    r = agent()
    assert r.returncode == 2
    assert "Usage:" in r.stdout


def test_unknown_command(agent):
    r = agent("frobnicate")
    assert r.returncode == 2
    assert "unknown command 'frobnicate'" in r.stderr
    assert r.stderr.count("\n") == 1


@pytest.mark.parametrize("args", [("validate", "--help"), ("help", "validate"), ("validate", "-h")])
def test_subcommand_help(agent, args):
    r = agent(*args)
    assert r.returncode == 0
    assert r.stdout.startswith("Usage: zlayer-agent validate")
    assert "--json" in r.stdout


def test_validate_without_files(agent):
    r = agent("validate")
    assert r.returncode == 2
    assert "no spec file given" in r.stderr


def test_validate_example_prints_summary(agent):
    r = agent("validate", ROOT / "examples" / "shop.yaml")
    assert r.returncode == 0, r.stderr
    assert "deployment 'shop', 3 services" in r.stdout
    assert "start order: db, web, nightly" in r.stdout
    assert "3 replicas" in r.stdout
    assert "after db (healthy within 1m)" in r.stdout
    assert r.stderr == ""


def test_validate_all_good_fixtures(agent):
    r = agent("validate", "--quiet", *GOOD)
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    assert r.stderr == ""


@pytest.mark.parametrize("spec", BAD, ids=[p.stem for p in BAD])
def test_bad_fixture_reports_expected_errors(agent, spec):
    r = agent("validate", spec.name, cwd=spec.parent)
    assert r.returncode == 1
    expected = spec.with_suffix(".err").read_text()
    lines = [l for l in r.stderr.splitlines() if "too many errors" not in l]
    assert "\n".join(lines) + "\n" == expected
    assert r.stdout == ""


def test_every_error_of_every_file_is_reported(agent):
    bad = FIXTURES / "specs" / "bad"
    r = agent("validate", "health-check-type-typo.yaml", ROOT / "examples" / "shop.yaml",
              "health-check-type-typo.yaml", cwd=bad)
    assert r.returncode == 1
    assert r.stderr.count("unknown check type 'tpc'") == 2
    assert "2 of 3 spec files are invalid" in r.stderr
    # the valid file still gets its summary
    assert "deployment 'shop'" in r.stdout


def test_json_output_has_defaults_and_revalidates(agent, tmp_path):
    r = agent("validate", "--json", ROOT / "examples" / "shop.yaml")
    assert r.returncode == 0, r.stderr
    spec = json.loads(r.stdout)
    assert spec["deployment"] == "shop"
    web = spec["services"]["web"]
    assert web["scale"] == {"mode": "fixed", "replicas": 3}
    assert web["depends"][0] == {"service": "db", "condition": "healthy", "timeout": "1m", "on_timeout": "fail"}
    assert web["endpoints"][0]["target_port"] == 8080
    assert web["endpoints"][0]["expose"] == "internal"
    assert web["stop_signal"] == "SIGTERM"
    assert web["stop_grace_period"] == "10s"
    assert web["logs"] == {"max_size_bytes": "100Mi"}
    db = spec["services"]["db"]
    assert db["scale"] == {"mode": "adaptive", "min": 1, "max": 10, "cooldown": "1m"}
    assert db["health"]["check"] == {"type": "tcp", "port": 5432}
    assert spec["services"]["nightly"]["concurrency"] == "forbid"
    # the normalised spec is itself a valid spec with the same meaning
    out = tmp_path / "normalised.json"
    out.write_text(r.stdout)
    r2 = agent("validate", "--json", out)
    assert r2.returncode == 0, r2.stderr
    assert json.loads(r2.stdout) == spec


def test_json_several_files_is_an_array(agent):
    r = agent("validate", "--json", *GOOD[:3])
    assert r.returncode == 0, r.stderr
    docs = json.loads(r.stdout)
    assert isinstance(docs, list) and len(docs) == 3


def test_missing_file(agent):
    r = agent("validate", "/nonexistent/app.yaml")
    assert r.returncode == 1
    assert r.stderr.strip() == "/nonexistent/app.yaml: cannot read file: No such file or directory"


def test_directory_instead_of_file(agent, tmp_path):
    r = agent("validate", tmp_path)
    assert r.returncode == 1
    assert r.stderr.strip() == f"{tmp_path}: cannot read file: Is a directory"


def test_yaml_syntax_error_points_at_position(agent, tmp_path):
    f = tmp_path / "broken.yaml"
    f.write_text("version: v1\ndeployment: app\nservices:\n  web: {image: {name: x}\n")
    r = agent("validate", f)
    assert r.returncode == 1
    assert r.stderr.startswith(f"{f}:5:1: invalid YAML: ")


def test_json_log_format_for_usage_errors(agent):
    r = agent("frobnicate", env={"ZLAYER_LOG_FORMAT": "json"})
    assert r.returncode == 2
    rec = json.loads(r.stderr)
    assert rec["level"] == "error"
    assert "unknown command 'frobnicate'" in rec["msg"]
