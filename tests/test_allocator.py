"""The malloc tuning the CLI applies (its effect on speed is measured by benchmarks/speed.py)."""

import ctypes
import platform
from pathlib import Path

import pytest

from painterly import cli
from painterly.allocator import tune_malloc


def test_tuning_applies_on_glibc_only():
    assert tune_malloc() is (platform.system() == "Linux" and platform.libc_ver()[0] == "glibc")


def test_the_cli_tunes_the_allocator_before_running_a_command(monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(cli, "tune_malloc", lambda: calls.append(True) or True)
    assert cli.main(["models"]) == 0
    assert calls == [True]


@pytest.mark.skipif(not tune_malloc(), reason="glibc's malloc only (the previous test checks where it applies)")
def test_after_tuning_a_64_mb_block_comes_from_the_heap_not_its_own_mapping():
    # 64 MB is above glibc's default and capped (32 MiB) mmap thresholds: without the 1 GiB one
    # the block is mmap'd, and every step of a 1536 px run paid for the kernel zeroing such pages.
    block = bytearray(64 * 2**20)
    address = ctypes.addressof((ctypes.c_char * len(block)).from_buffer(block))
    heap = next(line.split()[0] for line in Path("/proc/self/maps").read_text().splitlines() if line.endswith("[heap]"))
    start, end = (int(part, 16) for part in heap.split("-"))
    assert start <= address < end
