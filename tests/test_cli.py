"""The command line answers at once: help, listings, data and report commands import neither torch nor transformers.

Each case runs `obliviate.cli.main` in a fresh interpreter and reports which heavy packages are in `sys.modules`
afterwards (no timing is asserted: the CI machine is shared; `bench`-style timings belong in the PR text).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import obliviate
from obliviate.cli import build_parser

SRC = str(Path(obliviate.__file__).resolve().parents[1])
HEAVY = ("torch", "transformers", "accelerate", "peft", "datasets", "matplotlib")  # report may draw

# Runs each argv of argv[1] (a JSON list) through main(); prints, per argv, the heavy modules loaded by then.
PROBE = """
import json, sys
from obliviate.cli import main
heavy = json.loads(sys.argv[2])
loaded = []
for argv in json.loads(sys.argv[1]):
    try:
        main(argv)
    except SystemExit:  # --help exits
        pass
    loaded.append(sorted(m for m in heavy if m in sys.modules))
print("\\nPROBE " + json.dumps(loaded))
"""


def python(cwd: Path, code: str, *args: str) -> str:
    """stdout of `python -c code args...` in a fresh interpreter that imports this checkout's obliviate."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def probe(argvs: list[list[str]], cwd: Path) -> dict[str, list[str]]:
    """{" ".join(argv): heavy modules in sys.modules after it} from one fresh interpreter."""
    out = python(cwd, PROBE, json.dumps(argvs), json.dumps(HEAVY))
    loaded = json.loads(out.rsplit("PROBE ", 1)[1])
    return {" ".join(argv): mods for argv, mods in zip(argvs, loaded, strict=True)}


def command_paths(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every (sub)command path of the parser, e.g. ("data", "persons"), depth first."""
    paths = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                paths += [(*prefix, name), *command_paths(sub, (*prefix, name))]
    return paths


COMMANDS = command_paths(build_parser())


def test_every_subcommand_is_found():
    assert {("demo",), ("data", "persons"), ("data", "check"), ("train",), ("unlearn",), ("methods",), ("eval",),
            ("report",), ("vision", "demo"), ("vision", "methods"), ("vision", "train"), ("vision", "unlearn"),
            ("vision", "eval")} <= set(COMMANDS)


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_help_of_every_subcommand(path, capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args([*path, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: obliviate {' '.join(path)}") and "--help" in out


def test_help_and_listings_import_nothing_heavy(tmp_path):
    argvs = [["--help"], *([*p, "--help"] for p in COMMANDS), ["methods"], ["methods", "--json"],
             ["vision", "methods"]]
    loaded = probe(argvs, tmp_path)
    assert {cmd: mods for cmd, mods in loaded.items() if mods} == {}


def _results(path: Path, name: str) -> Path:
    entry = {"value": 0.5, "ci_low": 0.4, "ci_high": 0.6, "n": 2, "per_item": [0.4, 0.6]}
    path.write_text(json.dumps({"schema_version": 1, "name": name, "config": {}, "env": {}, "conventions": {},
                                "cost": {}, "metrics": {"forget/prob": entry}, "oracle": {}}))
    return path


@pytest.mark.parametrize("command", ["data", "report"])
def test_data_and_report_commands_import_nothing_heavy(tmp_path, command):
    if command == "data":
        corpus = tmp_path / "corpus"
        argvs = [["data", "persons", "--out", str(corpus), "--persons", "4", "--facts", "2", "--holdout", "1"],
                 ["data", "check", str(corpus)]]
    else:
        files = [str(_results(tmp_path / f"{n}.json", n)) for n in ("target", "npo", "oracle")]
        argvs = [["report", *files, "--out", str(tmp_path / "report.html")]]
    allowed = ["matplotlib"] if command == "report" else []
    loaded = probe(argvs, tmp_path)
    assert {cmd: mods for cmd, mods in loaded.items() if set(mods) - set(allowed)} == {}
    assert command != "report" or (tmp_path / "report.html").stat().st_size > 0


def test_import_obliviate_and_its_packages_is_light(tmp_path):
    code = ("import sys, json; import obliviate, obliviate.models, obliviate.engine, obliviate.eval, "
            "obliviate.vision, obliviate.report, obliviate.data; "
            f"print(json.dumps(sorted(m for m in {list(HEAVY)!r} if m in sys.modules)))")
    assert json.loads(python(tmp_path, code)) == []


def test_a_submodule_import_does_not_hide_the_export_of_its_name(tmp_path):
    """`obliviate.models.train` is the function, as with eager imports, even when the submodule `train` (which
    defines it) was imported first: the import system binds submodules on their package."""
    code = ("from obliviate.models.train import train as fn; "
            "from obliviate.models import train; import obliviate.models as m; "
            "print(train is fn and m.train is fn, 'load' in dir(m), hasattr(m, 'nope'))")
    assert python(tmp_path, code).split() == ["True", "True", "False"]


@pytest.mark.parametrize("flag", ["--oracle-results", "--target-results"])
@pytest.mark.parametrize("text, expected", [
    ('{"metrics": 5}', "field 'metrics': must be an object of metric entries (got 5)"),
    ("[]", "a results file must hold a JSON object (got [])"),
    ("{oops", "not valid JSON"),
])
def test_eval_rejects_broken_saved_results_in_one_line(tmp_path, capsys, flag, text, expected):
    from obliviate.cli import main

    bad = tmp_path / "bad.json"
    bad.write_text(text)
    argv = ["eval", "--model", str(tmp_path / "model"), "--data", str(tmp_path), "--out", str(tmp_path / "r.json")]
    assert main([*argv, flag, str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"obliviate eval: error: {bad}") and expected in err and "\n" not in err
