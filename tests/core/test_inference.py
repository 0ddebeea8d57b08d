"""``san_plugin.core.inference``: the one ``model_device``, shared by calibration, measurement and export."""
import torch
from torch import nn

from san_plugin.core import calibrate
from san_plugin.core.inference import example_input, model_device
from san_plugin.evaluation import measure


def test_the_device_of_the_first_parameter_else_buffer_else_the_cpu():
    assert model_device(nn.Conv2d(3, 4, 3).to('meta')) == torch.device('meta')
    buffers_only = nn.BatchNorm2d(4, affine=False).to('meta')
    assert list(buffers_only.parameters()) == [] and model_device(buffers_only) == torch.device('meta')
    assert model_device(nn.ReLU()) == torch.device('cpu')


def test_calibration_and_measurement_use_the_same_function():
    assert calibrate.model_device is model_device and measure.model_device is model_device


def test_an_example_input_lands_on_the_models_device():
    x = example_input(nn.Sequential(nn.Conv2d(2, 4, 3)).to('meta'), 16, batch=3)
    assert x.shape == (3, 2, 16, 16) and x.device == torch.device('meta')
