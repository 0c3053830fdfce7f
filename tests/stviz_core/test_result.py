"""Results: save and load, byte-for-byte reproducibility, safe writes, comparison."""

import json
import os

import numpy as np
import pytest

import stviz_core as sv
from stviz_core import atomic as atomic_module
from stviz_core.testing import LinearBackend


def small_result(seed=0, steps=8, scale=1.0):
    rng = np.random.default_rng(0)
    be = LinearBackend(
        {"rgb": scale * rng.standard_normal((1, 3, 3, 3, 2)),
         "flow": scale * rng.standard_normal((2, 3, 3, 2, 2))},
        {"rgb": ((1, 6, 6, 3), "appearance"), "flow": ((2, 6, 6, 2), "motion")},
        xp=np,
    )
    return sv.ascend(be, [sv.channel(0), sv.channel(1)], steps=steps, seed=[seed, seed + 1], preset="paper")


def test_round_trip(tmp_path):
    r = small_result()
    stem = r.save(tmp_path / "sub" / "run")
    assert stem.with_suffix(".npz").exists() and stem.with_suffix(".json").exists()
    for path in (stem, stem.with_suffix(".npz"), stem.with_suffix(".json")):
        back = sv.load(path)
        assert back.config == json.loads(json.dumps(r.config))
        for group in ("inputs", "trace", "final"):
            assert set(getattr(back, group)) == set(getattr(r, group))
            for k, v in getattr(r, group).items():
                np.testing.assert_array_equal(getattr(back, group)[k], v)
    assert len(back) == 2


def test_saving_twice_gives_the_same_bytes(tmp_path):
    r = small_result()
    a, b = r.save(tmp_path / "a"), r.save(tmp_path / "b")
    assert a.with_suffix(".npz").read_bytes() == b.with_suffix(".npz").read_bytes()
    assert a.with_suffix(".json").read_bytes() == b.with_suffix(".json").read_bytes()


def test_a_failed_save_leaves_the_previous_result_intact(tmp_path, monkeypatch):
    first = small_result(seed=0)
    stem = first.save(tmp_path / "run")
    before = {s: stem.with_suffix(s).read_bytes() for s in (".npz", ".json")}

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(atomic_module.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        small_result(seed=5).save(stem)
    monkeypatch.undo()
    assert {s: stem.with_suffix(s).read_bytes() for s in before} == before
    assert sorted(os.listdir(tmp_path)) == ["run.json", "run.npz"]  # no temporary files left
    sv.load(stem)


def test_load_refuses_a_mismatched_pair(tmp_path):
    a = small_result(seed=0).save(tmp_path / "a")
    b = small_result(seed=3).save(tmp_path / "b")
    b.with_suffix(".npz").replace(a.with_suffix(".npz"))
    with pytest.raises(ValueError, match="does not match its sidecar"):
        sv.load(a)
    with pytest.raises(FileNotFoundError, match="b.npz is missing"):
        sv.load(b)
    (tmp_path / "c.json").write_text('{"format": "other"}')
    (tmp_path / "c.npz").write_bytes(b"")
    with pytest.raises(ValueError, match="is not a stviz result"):
        sv.load(tmp_path / "c")


def test_compare_identical_and_different_results():
    a, b = small_result(seed=0), small_result(seed=0)
    same = sv.compare(a, b)
    for k in ("rgb", "flow", "all"):
        assert np.all(same.max_abs_diff[k] == 0)
        np.testing.assert_allclose(same.correlation[k], 1.0)
    assert all(np.all(v == 0) for v in same.trace_max_abs_diff.values())
    assert all(np.all(v == 0) for v in same.final_rel_diff.values())

    c = small_result(seed=0)
    c.inputs["rgb"] = a.inputs["rgb"] + 0.5
    c.final["objective"] = a.final["objective"] * 1.01
    diff = a.compare(c)
    np.testing.assert_allclose(diff.max_abs_diff["rgb"], 0.5)
    assert np.all(diff.max_abs_diff["flow"] == 0)
    np.testing.assert_allclose(diff.correlation["rgb"], 1.0)  # a shift keeps correlation
    np.testing.assert_allclose(diff.final_rel_diff["objective"], 0.01 / 1.01)
    text = str(diff)
    assert "rgb[0]" in text and "final objective" in text
    json.dumps(diff.to_dict())


def test_compare_rejects_different_layouts():
    a = small_result()
    b = small_result()
    b.inputs["rgb"] = b.inputs["rgb"][:, :, :4]
    with pytest.raises(ValueError, match="input 'rgb' has shape"):
        sv.compare(a, b)
    del b.inputs["rgb"]
    with pytest.raises(ValueError, match="different inputs"):
        sv.compare(a, b)


def single_run(objective, seed, steps=8):
    rng = np.random.default_rng(0)
    be = LinearBackend(
        {"rgb": rng.standard_normal((1, 3, 3, 3, 2)), "flow": rng.standard_normal((2, 3, 3, 2, 2))},
        {"rgb": ((1, 6, 6, 3), "appearance"), "flow": ((2, 6, 6, 2), "motion")},
        xp=np,
    )
    return sv.ascend(be, [objective], steps=steps, seed=[seed], preset="paper")


def test_select_gives_what_a_run_of_that_item_alone_records():
    batched = small_result(seed=3)
    alone = single_run(sv.channel(1), seed=4)
    picked = batched.select([1])
    quality = picked.config.pop("quality"), alone.config.pop("quality")
    assert picked.config == alone.config
    for q in quality:  # distinctness compares with the rest of the batch: none when alone
        q[0].pop("distinctness")
    assert quality[0] == quality[1]
    for group in ("inputs", "trace", "final"):
        for k, v in getattr(alone, group).items():
            np.testing.assert_allclose(getattr(picked, group)[k], v, rtol=1e-12, atol=1e-12)


def test_stack_inverts_select():
    r = small_result(seed=5)
    back = sv.stack([r.select([0]), r.select([1])])
    assert back.config == r.config
    for group in ("inputs", "trace", "final"):
        for k, v in getattr(r, group).items():
            np.testing.assert_array_equal(getattr(back, group)[k], v)


def test_stack_refuses_results_of_different_configs():
    a, b = small_result(steps=8), small_result(steps=9)
    with pytest.raises(ValueError, match="differs from result 0 in config 'learning_rate'|'steps'"):
        sv.stack([a, b])
    with pytest.raises(ValueError, match="at least one"):
        sv.stack([])
    with pytest.raises(IndexError, match="out of range"):
        a.select([2])


_RUN_IN_SUBPROCESS = """
import sys
import numpy as np
import stviz_core as sv
from stviz_core.testing import LinearBackend
rng = np.random.default_rng(0)
be = LinearBackend(
    {"rgb": rng.standard_normal((1, 3, 3, 3, 2)), "flow": rng.standard_normal((2, 3, 3, 2, 2))},
    {"rgb": ((1, 6, 6, 3), "appearance"), "flow": ((2, 6, 6, 2), "motion")},
    xp=np, dtype=np.float32)
sv.ascend(be, sv.channel(0), steps=6, seed=1).save(sys.argv[1])
"""


def test_same_seed_gives_the_same_bytes_in_every_process(tmp_path):
    # float32 sums over the inputs must not follow set order, which varies with PYTHONHASHSEED
    import subprocess
    import sys

    blobs = set()
    for hash_seed in range(6):
        stem = tmp_path / f"run{hash_seed}"
        subprocess.run([sys.executable, "-c", _RUN_IN_SUBPROCESS, str(stem)], check=True,
                       env={**os.environ, "PYTHONHASHSEED": str(hash_seed)})
        blobs.add(stem.with_suffix(".npz").read_bytes())
    assert len(blobs) == 1


def test_dotted_layer_names_keep_their_own_files(tmp_path):
    # "rgb.conv5_3_gamma1" is not a file "rgb" with suffix ".conv5_3_gamma1"
    a, b = small_result(seed=0), small_result(seed=7)
    sa = a.save(tmp_path / "rgb.conv5_3_gamma1")
    sb = b.save(tmp_path / "rgb.conv4_3_gamma1")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "rgb.conv4_3_gamma1.json", "rgb.conv4_3_gamma1.npz",
        "rgb.conv5_3_gamma1.json", "rgb.conv5_3_gamma1.npz"]
    np.testing.assert_array_equal(sv.load(sa).inputs["rgb"], a.inputs["rgb"])
    np.testing.assert_array_equal(sv.load(sb).inputs["rgb"], b.inputs["rgb"])
    np.testing.assert_array_equal(sv.load(tmp_path / "rgb.conv4_3_gamma1.npz").inputs["rgb"],
                                  b.inputs["rgb"])


_SAVE_AND_DIE = """
import os, sys
import numpy as np
import stviz_core as sv
from stviz_core import atomic
from stviz_core.testing import LinearBackend

stem, seed, die_at = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
kernels = {"rgb": np.random.default_rng(0).standard_normal((1, 3, 3, 3, 2))}
be = LinearBackend(kernels, {"rgb": (1, 8, 8, 3)}, xp=np)
result = sv.ascend(be, [sv.channel(0)], steps=3, seed=seed)
real_replace, calls = os.replace, [0]

def replace(src, dst):  # die before the die_at-th rename (die_at = 2k) or just after it (2k + 1)
    if calls[0] * 2 == die_at:
        os._exit(7)
    real_replace(src, dst)
    if calls[0] * 2 + 1 == die_at:
        os._exit(7)
    calls[0] += 1

if die_at >= 0:
    atomic.os.replace = replace
result.save(stem)
print(calls[0])
"""


def test_a_kill_at_any_point_of_an_overwrite_leaves_the_old_or_the_new_result(tmp_path):
    import subprocess
    import sys

    def run(stem, seed, die_at):
        return subprocess.run([sys.executable, "-c", _SAVE_AND_DIE, str(stem), str(seed), str(die_at)],
                              capture_output=True, text=True)

    fresh = {}
    for seed in (0, 1):  # the old (seed 0) and the new (seed 1) result, saved undisturbed
        assert run(tmp_path / f"fresh{seed}", seed, -1).returncode == 0
        fresh[seed] = sv.load(tmp_path / f"fresh{seed}")
    renames = int(run(tmp_path / "count", 0, -1).stdout)  # a fresh save: 2 renames
    seen = set()
    for die_at in range(2 * (renames + 1) + 2):
        stem = tmp_path / f"kill{die_at}"
        assert run(stem, 0, -1).returncode == 0
        killed = run(stem, 1, die_at)
        loaded = sv.load(stem)
        which = [s for s, r in fresh.items()
                 if np.array_equal(loaded.inputs["rgb"], r.inputs["rgb"]) and loaded.config == r.config]
        assert len(which) == 1, (die_at, killed.returncode)
        seen.add(which[0])
        assert run(stem, 1, -1).returncode == 0  # the next save clears what the killed one left
        assert not [p.name for p in tmp_path.glob(f".kill{die_at}.*")]
    assert seen == {0, 1}  # some kills keep the old result, later ones the new


def test_saved_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        stem = small_result().save(tmp_path / "r")
    finally:
        os.umask(old)
    for suffix in (".npz", ".json"):
        assert (stem.with_suffix(suffix).stat().st_mode & 0o777) == 0o644


@pytest.mark.parametrize("text,message", [
    ("[1, 2]", "is not a stviz result"),
    ("null", "is not a stviz result"),
    ('{"format": "stviz-result", "version": 1}', "has no config"),
    ('{"format": "stviz-result", "version": 99, "config": {}}', "format version 99; this stviz reads versions up to 1"),
    ("not json", "is not JSON"),
])
def test_load_refuses_sidecars_it_cannot_read(tmp_path, text, message):
    stem = small_result().save(tmp_path / "r")
    stem.with_suffix(".json").write_text(text)
    with pytest.raises(ValueError, match=message):
        sv.load(stem)


def test_load_refuses_an_unknown_group(tmp_path):
    import zipfile

    stem = small_result().save(tmp_path / "r")
    npz = stem.with_suffix(".npz")
    with zipfile.ZipFile(npz, "a") as zf:
        zf.writestr("weights/x.npy", b"")
    sidecar = json.loads(stem.with_suffix(".json").read_text())
    import hashlib

    sidecar["npz_sha256"] = hashlib.sha256(npz.read_bytes()).hexdigest()
    stem.with_suffix(".json").write_text(json.dumps(sidecar))
    with pytest.raises(ValueError, match="unknown entry 'weights/x.npy'"):
        sv.load(stem)
