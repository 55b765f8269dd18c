"""Board facts from fixture trees in the real formats of /proc and /sys (agents.probe, agents.board)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents import board
from agents.probe import cpu_model, environment

TREES = Path(__file__).with_name("board_trees")


def test_rk3588_is_big_little_with_three_clusters():
    env = environment(TREES / "rk3588")
    assert env["cpu_model"] == "4x Cortex-A55 + 4x Cortex-A76"
    assert env["board_model"] == "Radxa ROCK 5B"  # the device tree's trailing NUL stripped
    assert env["kernel"] == "6.1.43-15-rk2312" and env["jetson"] is None
    assert env["cpu_governor"] == "schedutil"
    assert env["cpu_clusters"] == [
        {"cpus": "0-3", "core": "Cortex-A55", "governor": "schedutil", "cur_freq_mhz": 1800.0,
         "max_freq_mhz": 1800.0, "scaling_max_freq_mhz": 1800.0},
        {"cpus": "4-5", "core": "Cortex-A76", "governor": "schedutil", "cur_freq_mhz": 2352.0,
         "max_freq_mhz": 2352.0, "scaling_max_freq_mhz": 2352.0},
        {"cpus": "6-7", "core": "Cortex-A76", "governor": "schedutil", "cur_freq_mhz": 408.0,
         "max_freq_mhz": 2352.0, "scaling_max_freq_mhz": 2352.0}]


def test_raspberry_pi_5_cpu_is_not_its_board_model_line():
    env = environment(TREES / "rpi5")
    # cpuinfo's `Model` line names the board, not the CPU.
    assert env["cpu_model"] == "4x Cortex-A76"
    assert env["board_model"] == "Raspberry Pi 5 Model B Rev 1.0"
    assert env["cpu_clusters"][0]["cur_freq_mhz"] == 1500.0 and env["cpu_clusters"][0]["max_freq_mhz"] == 2400.0


def test_jetson_agx_orin_module_l4t_and_jetpack():
    env = environment(TREES / "orin")
    assert env["cpu_model"] == "12x Cortex-A78AE"  # not "ARMv8 Processor rev 1 (v8l)"
    assert env["board_model"] == "Jetson AGX Orin Developer Kit"
    assert env["jetson"] == {"l4t": "R35.4.1", "jetpack": "5.1.2",
                             "module": "Jetson AGX Orin (p3701-0005, tegra234)"}
    assert [c["cpus"] for c in env["cpu_clusters"]] == ["0-3", "4-7", "8-11"]
    assert {c["max_freq_mhz"] for c in env["cpu_clusters"]} == {2201.6}


def test_x86_host_model_name_and_dmi():
    env = environment(TREES / "x86")
    assert env["cpu_model"] == "Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz"
    assert env["board_model"] == "Dell Inc. PowerEdge R740"
    assert env["kernel"] == "5.15.0-105-generic" and env["cpu_governor"] == "performance"
    assert [c["cpus"] for c in env["cpu_clusters"]] == ["0", "1", "2", "3"]
    assert env["cpu_clusters"][3] == {"cpus": "3", "core": None, "governor": "performance",
                                      "cur_freq_mhz": 3900.0, "max_freq_mhz": 3900.0,
                                      "scaling_max_freq_mhz": 3900.0}


def test_jetpack_of_an_l4t_release_not_in_the_table_is_its_major(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/nv_tegra_release").write_text(
        "# R36 (release), REVISION: 9.9, GCID: 1, BOARD: generic, EABI: aarch64, DATE: Mon Jan 1 00:00:00 UTC 2029\n")
    assert board.jetson(tmp_path) == {"l4t": "R36.9.9", "jetpack": "6.x", "module": None}


def test_cpuinfo_written_for_qemu_is_parsed_by_key_whatever_the_spacing(tmp_path):
    # Under qemu-user the board's /proc/cpuinfo is a file we write; spacing varies by writer.
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/cpuinfo").write_text(
        "processor:0\nCPU implementer :0x41\nCPU  part   :   0xd0b\n\n"
        "processor   :   1\nCPU implementer\t:\t0x41\nCPU part\t:\t0xd0b\n")
    assert cpu_model(tmp_path) == "2x Cortex-A76"


@pytest.mark.parametrize("implementer,part,name", [
    ("0x41", "0xd03", "Cortex-A53"), ("0x41", "0xd08", "Cortex-A72"), ("0x41", "0xd4f", "Neoverse-V2"),
    ("0x41", "0xd80", "Cortex-A520"), ("0x41", "0xd82", "Cortex-X4"), ("0x4e", "0x004", "Carmel"),
    ("0x41", "0xd99", "ARM part 0xd99"), ("0x99", "0x001", "implementer 0x99 part 0x001")])
def test_core_names(implementer, part, name):
    assert board.core_name(implementer, part) == name


def test_missing_files_give_none_not_errors(tmp_path):
    env = environment(tmp_path)
    assert env["board_model"] is None and env["jetson"] is None and env["cpu_clusters"] == []
    assert env["cpu_governor"] is None
