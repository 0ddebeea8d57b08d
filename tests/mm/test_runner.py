"""SANRunner: registered as the configs' runner_type; broadcasts the tensors of a SAN's state dict only."""
from __future__ import annotations

from pathlib import Path

import torch
from mmengine.config import Config
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import san_plugin.mm  # noqa: F401  (registers the runner)
from san_plugin.mm import runner as runner_module
from san_plugin.mm.runner import SANRunner
from tiny_models import tiny_san


class InitialisedSAN(torch.nn.Module):
    """A SAN with the ``init_weights`` the Runner calls (counts the calls)."""

    def __init__(self):
        super().__init__()
        self.net = tiny_san()
        self.calls = 0

    def init_weights(self):
        self.calls += 1


def test_registered_under_its_name_and_the_default_runtime_names_it():
    assert RUNNERS.get('SANRunner') is SANRunner and issubclass(SANRunner, Runner)
    runtime = Path(__file__).resolve().parents[2] / 'configs' / '_base_' / 'default_runtime.py'
    assert Config.fromfile(runtime).runner_type == 'SANRunner'


def test_initial_weights_broadcast_every_tensor_and_skip_the_metadata(monkeypatch):
    model = InitialisedSAN()
    state = model.state_dict()
    tensors = [value for value in state.values() if isinstance(value, torch.Tensor)]
    assert len(tensors) < len(state)  # the SAN's metadata (san._extra_state) is no tensor
    sent = []
    monkeypatch.setattr(runner_module, 'broadcast', sent.append)
    runner = SANRunner.__new__(SANRunner)  # only the model is needed for this step
    runner.model = model
    runner._init_model_weights()
    assert model.calls == 1
    assert len(sent) == len(tensors) and all(torch.equal(a, b) for a, b in zip(sent, tensors))
