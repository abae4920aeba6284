"""MIT's published Note10 lookup tables (tests/fixtures/ofa_note10, MIT license, see its
SOURCE.md) imported as a table: every subnet they cover predicts what MIT's own
`MBv3LatencyTable` computes from the same YAML; other resolutions, other widths and damaged
files are refused by name."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from latency_tables import LatencyTable, import_ofa_lut, measure_archs
from nas.cli import main
from supernet import ArtifactMismatchError, NASError
from tests.supernet.test_import_ofa import ofa_networks  # noqa: F401  (MIT's `ofa`, torchvision stubbed)

NOTE10 = Path(__file__).resolve().parents[1] / "fixtures" / "ofa_note10"


@pytest.fixture(scope="module")
def note10(tmp_path_factory) -> LatencyTable:
    return import_ofa_lut(NOTE10, space="ofa_mbv3_w12", out=tmp_path_factory.mktemp("lut") / "note10.csv")


def test_every_covered_subnet_predicts_what_mits_code_computes(note10, ofa_networks):  # noqa: F811
    from ofa.nas.efficiency_predictor.latency_lookup_table import MBv3LatencyTable

    mit = ofa_networks(dropout_rate=0, width_mult=1.2, ks_list=[3, 5, 7], expand_ratio_list=[3, 4, 6],
                       depth_list=[2, 3, 4])
    space = note10.covered_space
    assert space.resolutions == (160, 176, 192, 208, 224)
    luts = {}
    for res in space.resolutions:
        lut = MBv3LatencyTable.__new__(MBv3LatencyTable)  # its __init__ downloads; the same files, read here
        lut.lut = yaml.safe_load((NOTE10 / f"{res}_lookup_table.yaml").read_text())
        luts[res] = lut
    rng = np.random.default_rng(0)
    archs = [space.smallest(r) for r in space.resolutions] + [space.largest(r) for r in space.resolutions]
    archs += [space.sample(rng) for _ in range(30)]
    gaps = {}
    for arch in archs:
        n, m = space.num_stages, space.max_depth
        ks = [arch.kernel_sizes[s][i] if i < arch.depths[s] else 3 for s in range(n) for i in range(m)]
        es = [arch.expand_ratios[s][i] if i < arch.depths[s] else 3 for s in range(n) for i in range(m)]
        mit.set_active_subnet(ks=ks, e=es, d=list(arch.depths))
        want = luts[arch.resolution].predict_network_latency(mit.get_active_subnet(preserve_weight=False),
                                                            arch.resolution)
        got = float(note10.predict(arch)[0])
        gaps.setdefault(arch.resolution, []).append(abs(got / want - 1))
    assert max(gaps[160]) < 1e-12, max(gaps[160])  # no block of 160 px is in another resolution's table
    # 176 and 192 px both reach 6 px in the last stage, 208 and 224 px 7 px: those blocks are the
    # mean of both tables (they differ by at most 0.83 %), a small part of a whole net's latency
    assert max(max(v) for v in gaps.values()) < 1e-3  # 0.065 % at most, measured
    shared = note10.meta["imported"]
    assert shared["blocks_in_two_tables"] > 0 and shared["their_largest_gap_pct"] < 1


def test_uncovered_resolutions_widths_and_damaged_files_are_refused(note10, tmp_path):
    space = note10.space  # all 25 resolutions; the table covers five
    with pytest.raises(ArtifactMismatchError, match=r"resolutions \[160, 176, 192, 208, 224\] only, not 164"):
        note10.predict(space.smallest(164))
    with pytest.raises(NASError, match="imported from timings made elsewhere"):
        measure_archs(note10, [space.smallest(160)])
    with pytest.raises(ArtifactMismatchError, match=r"lack .* blocks of space 'ofa_mbv3'.*ofa_mbv3_w12"):
        import_ofa_lut(NOTE10, space="ofa_mbv3", out=tmp_path / "w10.csv")  # the tables are width 1.2's
    broken = tmp_path / "broken"
    shutil.copytree(NOTE10, broken)
    (broken / "160_lookup_table.yaml").write_text("Conv-input:160x160x3-output:80x80x24:\n  mean: -1\n")
    with pytest.raises(NASError, match="finite mean >= 0"):
        import_ofa_lut(broken, space="ofa_mbv3_w12", out=tmp_path / "b.csv")
    (broken / "160_lookup_table.yaml").unlink()
    (broken / "300_lookup_table.yaml").write_text("{}\n")
    with pytest.raises(NASError, match=r"resolution\(s\) \[300\], which space 'ofa_mbv3_w12' does not have"):
        import_ofa_lut(broken, space="ofa_mbv3_w12", out=tmp_path / "b.csv")
    with pytest.raises(NASError, match="holds no RES_lookup_table.yaml"):
        import_ofa_lut(tmp_path, space="ofa_mbv3_w12", out=tmp_path / "b.csv")


def test_cli_import_then_search_and_show_say_imported(tmp_path, capsys):
    out = tmp_path / "note10.csv"
    assert main(["latency", "import-ofa-lut", str(NOTE10), "--out", str(out), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["blocks"] == 445 and record["calibrated"] is False and record["format"] == "ofa-lut/mbv3"
    assert main(["latency", "import-ofa-lut", str(NOTE10), "--out", str(out)]) == 2  # never overwritten
    capsys.readouterr()
    assert main(["show", str(out)]) == 0
    assert "imported" in capsys.readouterr().out
    args = ["search", "--space", "ofa_mbv3_w12", "--table", str(out), "--objectives", "macs,latency",
            "--budget", "60", "--out", str(tmp_path / "s"), "--json"]
    assert main(args) == 0
    front = json.loads((tmp_path / "s" / "front.json").read_text())
    assert front and all(row["latency"] > 0 for row in front)
    assert {row["arch"]["resolution"] for row in front} <= {160, 176, 192, 208, 224}
