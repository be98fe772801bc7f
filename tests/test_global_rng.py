"""Library calls leave the caller's global random generators alone: a fit seeds and draws only
its own (the initial weights come from the seed inside a fork of torch's global RNG)."""

from __future__ import annotations

import random

import numpy as np
import torch

import catlas

TINY = {"device": "cpu"}


def _global_states():
    states = {"torch": torch.get_rng_state(), "numpy": np.random.get_state()[1].copy(),
              "random": random.getstate()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _assert_same(before, after):
    assert torch.equal(before["torch"], after["torch"]), "fit changed torch's global CPU RNG"
    assert np.array_equal(before["numpy"], after["numpy"]), "fit changed numpy's global RNG"
    assert before["random"] == after["random"], "fit changed the random module's state"
    for a, b in zip(before.get("cuda", []), after.get("cuda", [])):
        assert torch.equal(a, b), "fit changed a CUDA device's global RNG"


def _weights(run):
    return {k: v.detach().cpu().clone() for k, v in run.model.state_dict().items()}


def test_fit_resume_and_load_leave_the_global_rng_alone(example_dir, tmp_path):
    torch.manual_seed(1234)
    torch.rand(3)  # some state of the caller's own, not a freshly seeded one
    before = _global_states()
    out = tmp_path / "run"
    run = catlas.fit(example_dir, out, preset="tiny", overrides={**TINY, "train": {"iterations": 10}},
                     progress=False)
    _assert_same(before, _global_states())
    catlas.fit(None, out, resume=True, overrides={"train": {"iterations": 20}}, progress=False)
    _assert_same(before, _global_states())
    catlas.load_run(out)
    _assert_same(before, _global_states())
    assert run.iteration == 10


def test_fit_does_not_depend_on_the_callers_rng(example_dir, tmp_path):
    """Same seed, same weights, whatever the caller's generator states."""
    weights = []
    for k, caller_seed in enumerate((0, 99)):
        torch.manual_seed(caller_seed)
        run = catlas.fit(example_dir, tmp_path / f"r{k}", preset="tiny",
                         overrides={**TINY, "train": {"iterations": 5, "seed": 3}}, progress=False)
        weights.append(_weights(run))
    for name in weights[0]:
        assert torch.equal(weights[0][name], weights[1][name]), name
