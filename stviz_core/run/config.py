"""The config of a run, as :attr:`Result.config` records it: enough to rerun it."""

from __future__ import annotations

from .. import __version__
from ..backend import backend_member
from ..quality import STATISTIC
from ..regularizers import ANCHOR_TERM
from .planning import RunSettings

__all__ = ["run_config"]


def run_config(backend, run: RunSettings, optimizer) -> dict:
    """The run's config, as :attr:`Result.config` records it: enough to rerun it.

    Parameters
    ----------
    backend : Backend
    run : RunSettings
    optimizer : Optimizer
        The run's Adam, for its settings.

    Returns
    -------
    dict
    """
    details = dict(backend_member(backend, "describe")())
    objective = run.objective
    return {
        "stviz_version": __version__,
        "backend": backend.name,
        "model": details.get("model"),
        "layer": details.get("layer"),
        "backend_details": details,
        "objective": objective.describe(),
        "objectives": [o.describe() for o in objective.per_visualization(run.batch)],
        "batch": run.batch,
        "seeds": list(run.seeds),
        "preset": run.preset.to_dict(),
        "steps": run.steps,
        "init": dict(run.start.origin),
        "learning_rate": run.schedule.to_dict(),
        "optimizer": optimizer.config,
        "jitter": {"enabled": run.jitter, "stride": run.stride, "mode": "roll (wraps around)"},
        "parameterization": run.parameterization.to_dict(),
        "transforms": dict(run.transforms.to_dict(), drawn_from=_TRANSFORM_SEEDS),
        "diversity": {"weight": run.diversity, "of": "Gram matrices of the target layer's "
                      "activations (mean cosine with the other visualizations)"},
        "rho": run.rho,
        "a_hat": run.context.a_hat,
        "objective_scale": {"mode": run.objective_scale,
                            "applied": "auto" if run.auto_scaled else "paper",
                            "statistic": STATISTIC if run.auto_scaled else "1/(rho^2 a_hat)",
                            **({"scale_free": "feature_match terms: never scaled (already "
                                "normalized by ||A0||^2)"} if run.free_part is not None else {})},
        **({"plan": {"first_step": run.first_step, "schedule_steps": run.plan_steps}}
           if (run.first_step, run.plan_steps) != (0, run.steps) else {}),
        **({"anchor": {"weight": run.anchor, "inputs": sorted(run.anchor_to),
                       "to": "the clip the run started from (config['init'])",
                       "term": ANCHOR_TERM}} if run.anchor_to else {}),
        "optimized_inputs": sorted(run.used),
        "inputs": {k: _input_config(run, k) for k in sorted(run.specs)},
        "dtype": _name(backend.dtype),
        "device": str(backend.device),
    }


_TRANSFORM_SEEDS = ("numpy: one uniform per kind and step from each visualization's seed's "
                    "third SeedSequence child")


def _input_config(run, k):
    spec, stream = run.specs[k], run.streams[k]
    return {
        "shape": list(spec.shape),
        "role": spec.role,
        "bound": stream.bound,
        "alpha": stream.alpha,
        "kappa": stream.kappa,
        "gamma": stream.gamma,
        "lambda_norm": run.weights[k][0],
        "lambda_tv": run.weights[k][1],
    }


def _name(obj):
    text = str(obj)
    return text.rsplit(".", 1)[-1].strip("'>")
