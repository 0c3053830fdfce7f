"""The bad-input probe of #18, as a table: every input -> a one-line message with the expected words.

Each row is one kind of bad input: a command line (run through ``stviz_adapters.cli.main``, the
console script's error path, inside click's ``CliRunner`` isolation) or an API call. A row passes
when the command fails with exactly one ``Error`` line (no traceback) holding the fragment, or the
call raises ``ValueError``/``TypeError``/``FileNotFoundError`` (or stviz's own) whose message is one
line holding it. ``KINDS`` counts the kinds; the test at the end checks every one gives a clear error.
"""

import json
import math

import numpy as np
import pytest

pytest.importorskip("click")
torch = pytest.importorskip("torch")
from click.testing import CliRunner  # noqa: E402

import stviz_core as sv  # noqa: E402
from stviz_adapters.cli import main  # noqa: E402
from stviz_core.testing import LinearBackend  # noqa: E402

SPEC = "tests.adapters.cli.test_bad_input_table:"


# -- models the command lines name ------------------------------------------------------------


def _clip_model(channels=3, out=3):
    from torch import nn

    from stviz_core.layouts import Clip3D

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv3d(channels, 4, 3, padding=1), nn.ReLU(), nn.Conv3d(4, out, 3))
    model.stviz_layout = Clip3D()
    model.stviz_inputs = {"clip": (4, 10, 10, 3)}
    return model


def tiny_model():
    """Conv3d(3 -> 4) -> ReLU -> Conv3d(4 -> 3) on (4, 10, 10, 3) clips."""
    return _clip_model()


def wrong_shape_model():
    """Its first convolution takes 2 channels, its declared input has 3."""
    return _clip_model(channels=2)


class _Pair(torch.nn.Module):
    def forward(self, x):
        return x, x


class _First(torch.nn.Module):
    def forward(self, pair):
        return pair[0]


def tuple_model():
    """Layer "1" returns a tuple (its output is unpacked by layer "2")."""
    from torch import nn

    model = _clip_model()
    seq = nn.Sequential(model[0], _Pair(), _First(), model[1], model[2])
    seq.stviz_layout, seq.stviz_inputs = model.stviz_layout, model.stviz_inputs
    return seq


class _NaN(torch.nn.Module):
    def forward(self, x):
        return x * float("nan")


def nan_model():
    """Layer "1" is always NaN."""
    from torch import nn

    model = _clip_model()
    seq = nn.Sequential(model[0], _NaN(), model[2])
    seq.stviz_layout, seq.stviz_inputs = model.stviz_layout, model.stviz_inputs
    return seq


def big_input_model():
    """The tiny model's layers on 16 x 112 x 112 clips (37 MiB of arrays per visualization)."""
    model = _clip_model()
    model.stviz_inputs = {"clip": (16, 112, 112, 3)}
    return model


def labelled_model():
    """The tiny model with class names (its last layer is no class layer: (N, 2, 8, 8, 3))."""
    model = _clip_model()
    model.stviz_labels = ("archery", "bowling", "juggling")
    return model


# -- API helpers ------------------------------------------------------------------------------


def _linear():
    be = LinearBackend({"rgb": np.ones((1, 3, 3, 3, 2))}, {"rgb": (1, 8, 8, 3)}, xp=np)
    be.activation_shape, be.layer = (1, 1, 6, 6, 2), "lin"
    return be


def _saved(tmp, name, change):
    """A saved result whose sidecar JSON is replaced by ``change(sidecar)``."""
    result = sv.ascend(_linear(), [sv.channel(0)], steps=1, seed=0, preset="paper")
    result.save(tmp / name)
    path = tmp / f"{name}.json"
    path.write_text(json.dumps(change(json.loads(path.read_text()))))
    return tmp / name


def _unknown_group(tmp):
    import hashlib
    import io

    buf = io.BytesIO()
    np.savez(buf, **{"inputs/rgb": np.zeros((1, 1, 8, 8, 3)), "bogus/x": np.zeros(1)})
    (tmp / "g.npz").write_bytes(buf.getvalue())
    good = _saved(tmp, "ok", lambda s: s)
    sidecar = json.loads((good.parent / "ok.json").read_text())
    sidecar["npz_sha256"] = hashlib.sha256(buf.getvalue()).hexdigest()
    (tmp / "g.json").write_text(json.dumps(sidecar))
    return tmp / "g"


def _grid_file(tmp, text):
    path = tmp / "grid.toml"
    path.write_text(f'model = "stviz_adapters.demo.model:load_demo_model"\nlayers = ["fc8"]\n{text}\n')
    return str(path)


def _pickled(tmp):
    torch.save(tiny_model(), tmp / "m.pt")
    return str(tmp / "m.pt")


def _results_folder(tmp, kind):
    """A folder of one good result and one broken in the way ``kind`` says (``only-`` alone)."""
    folder = tmp / f"R-{kind}"
    folder.mkdir()
    if not kind.startswith("only-"):
        sv.ascend(_linear(), [sv.channel(0)], steps=1, seed=0).save(folder / "good")
    bad = _saved(folder, "bad", (lambda s: dict(s, version=99)) if "future" in kind else (lambda s: s))
    if "cut-npz" in kind:
        npz = folder / "bad.npz"
        npz.write_bytes(npz.read_bytes()[:100])
    if "cut-json" in kind:
        side = folder / "bad.json"
        side.write_text(side.read_text()[:40])
    return str(bad.parent)


#: files a command line names by token: TOKEN -> (name in the row's folder, bytes)
FILES = {"EMPTYPT": ("empty.pt", b""), "TEXTPT": ("text.pt", b"this is not a model\n"),
         "BINGRID": ("grid.bin", b"\xff\xfe\x00\x81 binary grid")}

#: locks the rows that need a folder in use hold (released after the row)
_HELD = []


def _clip_file(tmp):
    np.savez(tmp / "clip.npz", clip=np.random.default_rng(0).normal(size=(1, 4, 10, 10, 3)))
    return str(tmp / "clip.npz")


def _held(tmp):
    from stviz_adapters.output_lock import lock_folder

    _HELD.append(lock_folder(tmp / "held"))
    return str(tmp / "held")


# -- the table --------------------------------------------------------------------------------

VIS = ["visualize", SPEC + "tiny_model", "--layer", "2", "--steps", "1"]
ACC = ["accentuate", SPEC + "tiny_model", "CLIP", "--layer", "2", "--channels", "0", "--steps", "1",
       "--out", "TMP/o"]
INV = ["invert", SPEC + "tiny_model", "CLIP", "--steps", "1", "--out", "TMP/o"]

#: (kind, command line or callable(tmp) -> API call, expected fragment); "TMP" in a command line
#: is the row's temporary folder
CLI = [
    ("unknown layer lists the layers", VIS[:3] + ["9", "--channels", "0"],
     "no layer '9'; closest names: "),
    ("unknown module", ["visualize", "no_such_module:f", "--layer", "x", "--channels", "0"],
     "cannot import"),
    ("missing model file", ["visualize", "TMP/missing.pt", "--layer", "x", "--channels", "0"],
     "no model file"),
    ("--channels ,", VIS + ["--channels", ","], "expected comma-separated channel numbers, got ','"),
    ("--channels not numbers", VIS + ["--channels", "a,b"], "comma-separated channel numbers"),
    ("neither --channels nor --classes", VIS, "give --channels or --classes"),
    ("--seed -1", VIS + ["--channels", "0", "--seed", "-1"], "-1 is not in the range x>=0"),
    ("--steps 0", VIS[:4] + ["--channels", "0", "--steps", "0"], "steps must be an integer >= 1"),
    ("--device bogus", VIS + ["--channels", "0", "--device", "bogus"], "device 'bogus'"),
    ("--out is a file", VIS + ["--channels", "0", "--out", "TMP/FILE"], "is a file, not a folder"),
    ("--out under a file", VIS + ["--channels", "0", "--out", "TMP/FILE/below"],
     "cannot write into --out"),
    ("--backend unknown", VIS + ["--channels", "0", "--backend", "jax"],
     "Invalid value for '--backend'"),
    ("--backend that does not take the model", VIS + ["--channels", "0", "--backend", "keras"],
     "backend 'keras' does not take a model of type"),
    ("unknown preset", VIS + ["--channels", "0", "--preset", "lucid"],
     "Invalid value for '--preset': 'lucid' is not one of"),
    ("--gamma inf", VIS + ["--channels", "0", "--gamma", "inf"], "gamma must be finite, got inf"),
    ("--kappa nan", VIS + ["--channels", "0", "--kappa", "nan"], "kappa must be finite, got nan"),
    ("units past the layer's channels", VIS + ["--channels", "0,7"],
     "channel 7 is out of range: the layer has 3 channels (0..2) [layer '2']"),
    ("a class name on a model without class names", VIS + ["--classes", "juggling"],
     "names a class, but the model has no class names"),
    ("wrong input shape", ["visualize", SPEC + "wrong_shape_model", "--layer", "2", "--channels",
                           "0", "--steps", "1"], "the model cannot take inputs"),
    ("a layer returning a tuple", ["visualize", SPEC + "tuple_model", "--layer", "1",
                                   "--channels", "0", "--steps", "1"],
     "returns tuple, not a tensor"),
    ("a model returning NaN", ["visualize", SPEC + "nan_model", "--layer", "2", "--channels", "0",
                               "--steps", "2"], "the optimization diverged at step 0"),
    ("a model spec calling the standard library",
     ["visualize", "subprocess:getoutput(cmd='echo pwned')", "--layer", "x", "--channels", "0"],
     "a model spec may not call functions of 'subprocess'"),
    ("a pickled model file without --trust-pickle", ["visualize", "PICKLE", "--layer", "2",
                                                     "--channels", "0"], "--trust-pickle"),
    ("flow --frames 0", ["flow", "TMP/missing.mp4", "--frames", "0"], "0 is not in the range 2<=x"),
    ("flow --start -5", ["flow", "TMP/missing.mp4", "--start", "-5"], "-5 is not in the range x>=0"),
    ("flow --size 0", ["flow", "TMP/missing.mp4", "--size", "0"], "0 is not in the range 16<=x"),
    ("flow of a missing video", ["flow", "TMP/missing.mp4"], "no video file"),
    ("demo --units past conv5_fusion", ["demo", "--units", "100"], "100 is not in the range"),
    ("sweep grid with gamma inf", ["sweep", "GRID:gamma = [0, inf]"],
     "'gamma' values must be >= 0 and finite, got inf"),
    ("sweep grid with an unknown key", ["sweep", "GRID:gama = [1]"],
     "unknown key 'gama' (did you mean 'gamma'?)"),
    ("sweep grid file missing", ["sweep", "TMP/none.toml"], "no grid file"),
    ("report on a folder without results", ["report", "TMP", "--by-layer"], "no results in"),
    ("record --windows bad", ["record", SPEC + "tiny_model", "TMP", "--layer", "2", "--windows",
                              "x"], "expected a number or 'all'"),
] + [  # issue 28: checked before anything is written, nothing left behind, bounds, messages
    ("accentuate --feature-weight nan", ACC + ["--feature-weight", "nan"],
     "--feature-weight must be a finite number, got nan"),
    ("accentuate --pixel-weight inf", ACC + ["--pixel-weight", "inf"],
     "--pixel-weight must be a finite number, got inf"),
    ("accentuate --regularization inf", ACC + ["--regularization", "inf"],
     "--regularization must be a finite number, got inf"),
    ("accentuate with both weights 0", ACC + ["--feature-weight", "0"],
     "--feature-weight and --pixel-weight are both 0"),
    ("accentuate a channel past the layer's", ACC[:5] + ["--channels", "0,9"] + ACC[7:],
     "channel 9 is out of range: the layer has 3 channels (0..2)"),
    ("accentuate an unknown layer", ACC[:3] + ["--layer", "conv9"] + ACC[5:],
     "the model has no layer 'conv9'"),
    ("accentuate 100,000 units at once",
     ["accentuate", SPEC + "big_input_model", "CLIP", "--layer", "2", "--channels", "0," * 100_000,
      "--out", "TMP/o"], "over the limit of"),
    ("visualize 100,000 units at once",
     ["visualize", SPEC + "big_input_model", "--layer", "2", "--channels", "0," * 100_000],
     "over the limit of"),
    ("invert a second layer that does not exist", INV + ["--layer", "2,nope"],
     "the model has no layer 'nope'"),
    ("invert --regularization nan", INV + ["--layer", "2", "--regularization", "nan"],
     "--regularization must be a finite number, got nan"),
    ("invert a clip of another shape", ["invert", SPEC + "tiny_model", "BADCLIP", "--layer", "2",
                                        "--out", "TMP/o"], "clip input 'clip' has shape"),
    ("invert a 10,000-character --layer", INV + ["--layer", "y" * 10_000],
     "... (10000 characters)"),
    ("visualize a 10,000-character --layer", VIS[:3] + ["y" * 10_000, "--channels", "0"],
     "... (10000 characters)"),
    ("--gamma 1,1.0", VIS + ["--channels", "0", "--gamma", "1,1.0"],
     "1 is given twice in '1,1.0'"),
    ("--backend-option fold_batch_norm=maybe",
     VIS + ["--channels", "0", "--backend-option", "fold_batch_norm=maybe"],
     "unknown fold_batch_norm 'maybe'; valid choices: True, False"),
    ("an empty .pt model file", ["visualize", "EMPTYPT", "--layer", "2", "--channels", "0"],
     "is empty (0 bytes)"),
    ("a text file named .pt", ["visualize", "TEXTPT", "--layer", "2", "--channels", "0"],
     "is a text file, not a saved model"),
    ("--classes on a layer that is no class layer",
     ["visualize", SPEC + "labelled_model", "--layer", "2", "--classes", "archery", "--steps", "1"],
     "class_logit needs a class layer"),
    ("visualize into a folder in use", VIS + ["--channels", "0", "--out", "HELD"],
     "is in use by process"),
    ("sweep into a folder in use", ["sweep", "GRID:gamma = [0]", "--out", "HELD"],
     "is in use by process"),
    ("sweep grid file with another extension", ["sweep", "BINGRID"],
     "grid.bin must end in .toml, .yaml or .yml"),
    pytest.param("sweep on cuda without CUDA", ["sweep", "GRID:device = \"cuda\""],
                 "device 'cuda': ", marks=pytest.mark.skipif(torch.cuda.is_available(),
                                                              reason="CUDA is there")),
    ("record --windows 10^12", ["record", SPEC + "tiny_model", "TMP", "--layer", "2", "--windows",
                                "1000000000000"], "out of range: give 1 to 10000"),
    ("record --windows 0", ["record", SPEC + "tiny_model", "TMP", "--layer", "2", "--windows",
                            "0"], "out of range: give 1 to 10000"),
    ("report on an empty folder", ["report", "TMP"], "no results in"),
    ("report of a truncated .npz alone", ["report", "RESULTS:only-cut-npz"],
     "1 file(s) could not be read (bad.npz: "),
    ("report of a truncated .json alone", ["report", "RESULTS:only-cut-json"],
     "(bad.json: not JSON"),
    ("report of a newer version alone", ["report", "RESULTS:only-future"],
     "format version 99"),
    ("report --strict with a truncated .npz", ["report", "RESULTS:cut-npz", "--strict"],
     "1 file(s) in"),
    ("flow --size past the limit", ["flow", "TMP/missing.mp4", "--size", "100000"],
     "100000 is not in the range 16<=x<=1024"),
    ("flow --frames past the limit", ["flow", "TMP/missing.mp4", "--frames", "100000"],
     "100000 is not in the range 2<=x<=1000"),
]


def _api_rows():
    def a_hat(values):
        return lambda tmp: sv.ascend(_linear(), sv.channel(0), steps=1, a_hat=values, preset="paper")

    def load(change):
        return lambda tmp: sv.load(_saved(tmp, "r", change))

    return [
        ("a_hat inf", a_hat([1.0, math.inf]), "a_hat[1] must be > 0 and finite"),
        ("a_hat NaN", a_hat([math.nan, 1.0]), "a_hat[0] must be > 0 and finite"),
        ("a_hat non-positive", a_hat([0.0, 1.0]), "a_hat[0] must be > 0"),
        ("a_hat of another layer", a_hat([1.0, 1.0, 1.0]), "a_hat has 3 entries but layer 'lin'"),
        ("units out of range", lambda tmp: sv.ascend(_linear(), [sv.channel(5)], steps=1, preset="paper"),
         "channel 5 is out of range: the layer has 2 channels (0..1) [layer 'lin']"),
        ("unknown layer", lambda tmp: sv.visualize(tiny_model(), "conv9", channels=[0], preset="paper"),
         "the model has no layer 'conv9'; closest names"),
        ("unknown preset by name", lambda tmp: sv.presets.get("lucid"),
         "unknown preset 'lucid'; valid choices: 'paper'"),
        ("negative seed", lambda tmp: sv.ascend(_linear(), sv.channel(0), seed=-1, preset="paper"),
         "a seed is a non-negative integer, got -1"),
        ("zero steps", lambda tmp: sv.ascend(_linear(), sv.channel(0), steps=0, preset="paper"),
         "steps must be an integer >= 1"),
        ("bad objective scale", lambda tmp: sv.ascend(_linear(), sv.channel(0),
                                                      objective_scale="x", preset="paper"),
         "objective_scale must be one of auto, paper"),
        ("sv.load of a JSON list", load(lambda s: []), "is not a stviz result"),
        ("sv.load of JSON null", load(lambda s: None), "is not a stviz result"),
        ("sv.load without config", load(lambda s: {k: v for k, v in s.items() if k != "config"}),
         "has no config"),
        ("sv.load of a future version", load(lambda s: dict(s, version=99)),
         "format version 99; this stviz reads versions up to"),
        ("sv.load with an unknown array group", lambda tmp: sv.load(_unknown_group(tmp)), "bogus"),
        ("sv.load of a missing result", lambda tmp: sv.load(tmp / "nothing"), "no result at"),
        ("model spec calling os", lambda tmp: _load_model("os:system(command='true')"),
         "may not call functions of 'os'"),
        ("grid with non-finite kappa", lambda tmp: _grid({"kappa": [math.nan]}),
         "'kappa' values must be >= 0 and finite, got nan"),
    ] + [  # issue 28
        ("sv.load of an empty zip", lambda tmp: sv.load(_empty_zip(tmp)), "holds no inputs"),
        ("sv.Code.load of a truncated file", lambda tmp: sv.Code.load(_cut_code(tmp)),
         "is not a readable code (a truncated or foreign file"),
        ("sv.Code.load of a missing file", lambda tmp: sv.Code.load(tmp / "none.npz"),
         "no code at"),
        ("Result.save under a file", lambda tmp: _result().save(_file(tmp) / "r"),
         "FILE is a file, not a folder"),
        ("Result with inputs of different batch sizes",
         lambda tmp: sv.Result({"rgb": np.zeros((1, 1, 8, 8, 3)), "flow": np.zeros((2, 1, 8, 8, 2))},
                               {}, {}), "first axes must agree; got rgb: 1, flow: 2"),
        ("preset.replace(appearance=None)",
         lambda tmp: sv.presets.get("paper").replace(appearance=None),
         "a preset's appearance must be a StreamRegularization, got NoneType"),
        ("channels=[]", lambda tmp: sv.visualize(tiny_model(), "2", channels=[], steps=1),
         "channels= is empty"),
        ("class_logit on a layer that is no class layer",
         lambda tmp: sv.visualize(labelled_model(), "2", objective=sv.class_logit("archery"),
                                  steps=1, preset="paper"), "class_logit needs a class layer"),
        ("backend option fold_batch_norm='maybe'",
         lambda tmp: sv.visualize(tiny_model(), "2", channels=[0], steps=1,
                                  backend_options={"fold_batch_norm": "maybe"}),
         "unknown fold_batch_norm 'maybe'; valid choices: True, False"),
        ("a 10,000-character layer name",
         lambda tmp: sv.visualize(tiny_model(), "z" * 10_000, channels=[0], steps=1),
         "... (10000 characters)"),
        ("load_model of an empty .pt", lambda tmp: _load_model(_named(tmp, "EMPTYPT")),
         "is empty (0 bytes)"),
        ("load_model of a text file named .pt", lambda tmp: _load_model(_named(tmp, "TEXTPT")),
         "is a text file, not a saved model"),
        ("load_grid of a file with another extension",
         lambda tmp: _load_grid(_named(tmp, "BINGRID")), "must end in .toml, .yaml or .yml"),
        ("rebuild_report of an empty folder", lambda tmp: _rebuild(tmp), "no results in"),
        ("lock_folder of a folder in use", lambda tmp: _lock_twice(tmp), "is in use by process"),
    ]


def _result():
    return sv.ascend(_linear(), [sv.channel(0)], steps=1, seed=0)


def _file(tmp):
    (tmp / "FILE").write_text("")
    return tmp / "FILE"


def _named(tmp, token):
    name, data = FILES[token]
    (tmp / name).write_bytes(data)
    return str(tmp / name)


def _empty_zip(tmp):
    """An empty zip archive beside a sidecar whose checksum matches it."""
    import hashlib
    import zipfile

    zipfile.ZipFile(tmp / "e.npz", "w").close()
    _saved(tmp, "e", lambda s: s)
    zipfile.ZipFile(tmp / "e.npz", "w").close()
    sidecar = json.loads((tmp / "e.json").read_text())
    sidecar["npz_sha256"] = hashlib.sha256((tmp / "e.npz").read_bytes()).hexdigest()
    (tmp / "e.json").write_text(json.dumps(sidecar))
    return tmp / "e"


def _cut_code(tmp):
    path = sv.Code(np.ones((1, 4, 3))).save(tmp / "code")
    path.write_bytes(path.read_bytes()[:150])
    return path


def _load_grid(path):
    from stviz_adapters.sweep.grid import load_grid

    return load_grid(path)


def _rebuild(tmp):
    from stviz_adapters.media.report import rebuild_report

    (tmp / "empty").mkdir()
    return rebuild_report(tmp / "empty", log=lambda *a: None)


def _lock_twice(tmp):
    from stviz_adapters.output_lock import lock_folder

    with lock_folder(tmp / "f"):
        lock_folder(tmp / "f")


def _load_model(spec):
    from stviz_adapters.model_loading import load_model

    return load_model(spec)


def _grid(changes):
    from stviz_adapters.sweep.grid import Grid

    return Grid.from_dict({"model": "stviz_adapters.demo.model:load_demo_model",
                           "layers": ["fc8"], **changes})


API = _api_rows()
KINDS = len(CLI) + len(API)


def _cli_args(args, tmp):
    (tmp / "FILE").write_text("")
    out = []
    for a in args:
        if a == "PICKLE":
            a = _pickled(tmp)
        elif a.startswith("GRID:"):
            a = _grid_file(tmp, a[len("GRID:"):])
        elif a.startswith("RESULTS:"):
            a = _results_folder(tmp, a[len("RESULTS:"):])
        elif a in FILES:
            (tmp / FILES[a][0]).write_bytes(FILES[a][1])
            a = str(tmp / FILES[a][0])
        elif a == "CLIP":
            a = _clip_file(tmp)
        elif a == "BADCLIP":
            np.savez(tmp / "bad.npz", clip=np.zeros((1, 4, 12, 12, 3)))
            a = str(tmp / "bad.npz")
        elif a == "HELD":
            a = _held(tmp)
        out.append(a.replace("TMP", str(tmp)))
    if "--out" not in out and out[0] in ("visualize", "sweep", "flow", "demo"):
        out += ["--out", str(tmp / "o")]
    return out


def run_cli(args, tmp):
    """``(exit status, stderr)`` of ``stviz ARGS`` through the console script's error path."""
    runner = CliRunner()
    try:
        with runner.isolation() as (_, err, *_):
            status = main(_cli_args(args, tmp))
            return status, err.getvalue().decode()
    finally:
        while _HELD:
            _HELD.pop().release()


def clear_cli(args, fragment, tmp) -> str:
    """``""`` when the command fails with one Error line holding ``fragment``; else what went wrong."""
    status, err = run_cli(args, tmp)
    errors = [line for line in err.splitlines() if line.startswith("Error")]
    if status == 0:
        return "succeeded"
    if "Traceback" in err:
        return "traceback: " + err[-300:]
    if len(errors) != 1 or fragment not in errors[0]:
        return f"expected one Error line with {fragment!r}, got {err!r}"
    return ""


def clear_api(call, fragment, tmp) -> str:
    """``""`` when ``call`` raises a clear one-line error holding ``fragment``; else what went wrong."""
    try:
        call(tmp)
    except (ValueError, TypeError, OSError) as exc:  # OSError: FileNotFoundError, NotADirectoryError
        text = str(exc)
    except Exception as exc:  # noqa: BLE001 - a stviz error type is clear too
        if not type(exc).__module__.startswith("stviz"):
            return f"{type(exc).__name__}: {exc}"
        text = str(exc)
    else:
        return "no error"
    if "\n" in text.strip() or fragment not in text:
        return f"expected a one-line message with {fragment!r}, got {text!r}"
    return ""


def _kind(row):
    return (row.values if hasattr(row, "values") else row)[0]


@pytest.mark.parametrize("kind, args, fragment", CLI, ids=[_kind(r) for r in CLI])
def test_command_line(kind, args, fragment, tmp_path):
    assert clear_cli(args, fragment, tmp_path) == ""
    assert not (tmp_path / "o").exists()  # a failed command leaves no output folder behind
    assert not list(tmp_path.rglob(".stviz-lock"))  # nor a lock


@pytest.mark.parametrize("kind, call, fragment", API, ids=[k for k, *_ in API])
def test_api(kind, call, fragment, tmp_path):
    assert clear_api(call, fragment, tmp_path) == ""


def test_the_table_covers_the_probe():
    """The issue's probe tried 33 kinds; this table holds at least as many, each a distinct kind."""
    kinds = [_kind(row) for row in CLI + API]
    assert len(set(kinds)) == len(kinds) == KINDS >= 33 + 18 + 25  # issue 28 added at least 25
