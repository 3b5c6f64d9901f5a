"""The malloc tuning the CLI applies (its effect on speed is measured by benchmarks/speed.py)."""

import platform

from painterly import cli
from painterly.allocator import tune_malloc


def test_tuning_applies_on_glibc_only():
    assert tune_malloc() is (platform.system() == "Linux" and platform.libc_ver()[0] == "glibc")


def test_the_cli_tunes_the_allocator_before_running_a_command(monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(cli, "tune_malloc", lambda: calls.append(True) or True)
    assert cli.main(["models"]) == 0
    assert calls == [True]
