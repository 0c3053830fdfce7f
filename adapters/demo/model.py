"""The demo model: a small two-stream fusion network trained on :mod:`stviz_adapters.demo.synthetic_actions`.

Shipped in ``stviz_adapters/demo/`` (weights, intermediate checkpoints and the
model card ``MODEL_CARD.md``). Reproduce them with::

    python -m stviz_adapters.demo.model train --out adapters/demo

Load them with :func:`load_demo_model` (PyTorch) or
``load_demo_model(framework="keras")`` (the Keras twin, ported at load time).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

from . import synthetic_actions as data

__all__ = ["DEMO_DIR", "CHECKPOINTS", "load_demo_model", "build_demo_model", "train", "evaluate"]

DEMO_DIR = Path(__file__).parent
#: checkpoint name -> fraction of training done when it was saved
CHECKPOINTS = {"early": 1 / 6, "middle": 1 / 2, "final": 1.0}
ARCH = dict(num_classes=len(data.CLASSES), width=1.0, flow_frames=data.FRAMES - 1,
            input_size=data.SIZE, fc_width=128)


def build_demo_model(framework: str = "torch", *, seed=0, dtype=None):
    """The demo architecture with random weights."""
    if framework == "torch":
        from ..zoo.vgg_c3d_torch import two_stream_small

        return two_stream_small(seed=seed, **ARCH)
    if framework == "keras":
        from ..zoo.vgg_c3d_keras import two_stream_small

        return two_stream_small(dtype=dtype or "float32", **ARCH)
    raise ValueError(f"unknown framework {framework!r}; valid choices: 'torch', 'keras'")


def load_demo_model(checkpoint: str = "final", *, framework: str = "torch", dtype=None, path=None):
    """The trained demo model (eval mode), from ``checkpoint`` in :data:`CHECKPOINTS`.

    Raises a ``ValueError`` that names the layer when the file does not fit
    the architecture (a corrupt or foreign weights file).
    """
    import torch

    if checkpoint not in CHECKPOINTS:
        raise ValueError(f"unknown checkpoint {checkpoint!r}; valid choices: {', '.join(CHECKPOINTS)}")
    file = Path(path) if path is not None else DEMO_DIR / f"{checkpoint}.pt"
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"no demo weights at {file}") from None
    except Exception as exc:
        raise ValueError(f"{file} is not a readable weights file ({type(exc).__name__}: {exc})") from None
    model = build_demo_model("torch")
    own = model.state_dict()
    for name, value in own.items():
        if name not in state:
            raise ValueError(f"{file} has no weights for layer {name!r}: not a demo-model file")
        if tuple(state[name].shape) != tuple(value.shape):
            raise ValueError(
                f"{file}: layer {name!r} has shape {tuple(state[name].shape)} in the file, the "
                f"model expects {tuple(value.shape)}"
            )
    extra = sorted(set(state) - set(own))
    if extra:
        raise ValueError(f"{file} holds layers the demo model does not have: {extra[:3]}")
    model.load_state_dict({k: v.float() for k, v in state.items()})
    model.eval()
    if dtype is not None:
        model = model.to(getattr(torch, dtype))
    if framework == "torch":
        return model
    from ..zoo.porting import torch_to_keras

    return torch_to_keras(model.double(), build_demo_model("keras", dtype=dtype))


def _tensors(split, index, device="cpu"):
    import torch

    from stviz_core.layouts import to_model

    args = to_model(data_layout(), split.inputs(index), np)
    return [torch.from_numpy(np.ascontiguousarray(a)).to(device) for a in args]


def data_layout():
    from stviz_core.layouts import TwoStream2D

    return TwoStream2D()


def evaluate(model, split, *, batch=64) -> dict:
    """Held-out accuracy of the fused model, of appearance alone and of motion alone.

    "Alone" means the other stream's input is all zeros, which the model saw
    in training (stream dropout), so each stream's own evidence is measured.
    Also per class, and the confusion of the fused model.
    """
    import torch

    model.eval()
    preds = {"fused": [], "appearance": [], "motion": []}
    with torch.no_grad():
        for start in range(0, len(split), batch):
            rgb, flow = _tensors(split, slice(start, start + batch))
            rgb, flow = rgb.to(next(model.parameters()).dtype), flow.to(next(model.parameters()).dtype)
            preds["fused"].append(model(rgb, flow).argmax(1))
            preds["appearance"].append(model(rgb, torch.zeros_like(flow)).argmax(1))
            preds["motion"].append(model(torch.zeros_like(rgb), flow).argmax(1))
    labels = split.labels
    out = {}
    for k, v in preds.items():
        p = torch.cat(v).numpy()
        out[k] = float((p == labels).mean())
        out[f"{k}_per_class"] = {data.CLASSES[c]: float((p[labels == c] == c).mean())
                                 for c in range(len(data.CLASSES))}
        if k == "fused":
            conf = np.zeros((len(data.CLASSES),) * 2, int)
            np.add.at(conf, (labels, p), 1)
            out["confusion"] = conf.tolist()
    return out


def train(out_dir, *, epochs=40, per_class=80, seed=0, batch=32, lr=1e-3, stream_dropout=0.2,
          log=print) -> dict:
    """Train the demo model and write ``early.pt``, ``middle.pt``, ``final.pt`` and ``training.json``.

    Deterministic for a given seed on one machine (``torch.use_deterministic_algorithms``).
    """
    import torch

    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    train_split = data.make_split("train", per_class, progress=_progress("train clips", log))
    test_split = data.make_split("test", 25, progress=_progress("test clips", log))
    t_data = time.perf_counter() - t0
    model = build_demo_model("torch", seed=seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    rng = np.random.default_rng(seed)
    n = len(train_split)
    saves = {max(1, round(f * epochs)): name for name, f in CHECKPOINTS.items()}
    history = []
    for epoch in range(1, epochs + 1):
        model.train()
        order = rng.permutation(n)
        total = 0.0
        for start in range(0, n, batch):
            idx = np.sort(order[start:start + batch])
            rgb, flow = _tensors(train_split, idx)
            drop = rng.random(len(idx))
            keep_rgb = torch.from_numpy((drop >= stream_dropout).astype(np.float32))
            keep_flow = torch.from_numpy(((drop < stream_dropout) | (drop >= 2 * stream_dropout))
                                         .astype(np.float32))
            rgb = rgb * keep_rgb[:, None, None, None]
            flow = flow * keep_flow[:, None, None, None]
            loss = torch.nn.functional.cross_entropy(model(rgb, flow),
                                                     torch.from_numpy(train_split.labels[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        sched.step()
        acc = evaluate(model, test_split)
        history.append({"epoch": epoch, "loss": total / n, "test_fused": acc["fused"]})
        log(f"epoch {epoch:3d}  loss {total / n:.4f}  held-out fused {acc['fused']:.3f}  "
            f"appearance {acc['appearance']:.3f}  motion {acc['motion']:.3f}")
        if epoch in saves:
            state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            torch.save(state, out_dir / f"{saves[epoch]}.pt")
    torch.use_deterministic_algorithms(False)
    final = evaluate(model, test_split)
    report = {
        "generator_version": data.GENERATOR_VERSION,
        "classes": list(data.CLASSES),
        "architecture": ARCH,
        "train_clips": n, "test_clips": len(test_split),
        "epochs": epochs, "batch": batch, "lr": lr, "stream_dropout": stream_dropout, "seed": seed,
        "seconds_data": round(t_data, 1), "seconds_total": round(time.perf_counter() - t0, 1),
        "held_out": final, "history": history,
        "sha256": {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                   for p in sorted(out_dir.glob("*.pt"))},
    }
    (out_dir / "training.json").write_text(json.dumps(report, indent=1) + "\n")
    return report


def _progress(what, log):
    def report(done, total):
        if done == total or done % 100 == 0:
            log(f"{what}: {done}/{total}")
    return report


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m stviz_adapters.demo.model",
                                     description="Train or evaluate the stviz demo model.")
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train and write the weights, checkpoints and training.json")
    t.add_argument("--out", type=Path, default=DEMO_DIR)
    t.add_argument("--epochs", type=int, default=40)
    t.add_argument("--per-class", type=int, default=80, help="training clips per class")
    t.add_argument("--seed", type=int, default=0)
    e = sub.add_parser("evaluate", help="held-out accuracy of a checkpoint")
    e.add_argument("--checkpoint", default="final", choices=list(CHECKPOINTS))
    args = parser.parse_args(argv)
    if args.command == "train":
        report = train(args.out, epochs=args.epochs, per_class=args.per_class, seed=args.seed)
        print(json.dumps(report["held_out"], indent=1))
    else:
        acc = evaluate(load_demo_model(args.checkpoint), data.make_split("test", 25))
        print(json.dumps(acc, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
