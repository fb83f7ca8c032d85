"""Reading what a cluster is: real `scontrol show config` and `sinfo` output."""

from __future__ import annotations

from pathlib import Path

from runner.slurm.cluster import Partition, cluster_info, parse_config, parse_sinfo

HERE = Path(__file__).parent


def test_cluster_name_partitions_and_default_from_real_output() -> None:
    info = cluster_info(
        (HERE / "scontrol_config.txt").read_text(), (HERE / "sinfo.txt").read_text()
    )
    assert info.name == "tether"
    assert info.partitions == (Partition("debug", True, "infinite"),)
    assert info.default_partition == "debug"
    assert info.accounting


def test_accounting_off_is_seen_in_the_config() -> None:
    config = "ClusterName             = lab\nAccountingStorageType   = accounting_storage/none\n"
    assert not cluster_info(config, "").accounting


def test_a_partition_listed_once_per_node_state_is_kept_once() -> None:
    text = "gpu*|up|2-00:00:00\ngpu*|up|2-00:00:00\ncpu|down|1:00:00\n"
    partitions, default = parse_sinfo(text)
    assert [p.name for p in partitions] == ["gpu", "cpu"]
    assert default == "gpu"
    assert not partitions[1].up


def test_config_lines_with_equals_in_their_value_keep_it() -> None:
    config = parse_config("SlurmctldParameters     = enable_configless,idle_on_node_suspend=1\n")
    assert config["SlurmctldParameters"] == "enable_configless,idle_on_node_suspend=1"
