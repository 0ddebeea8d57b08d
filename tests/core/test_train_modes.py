"""train_modes_restored: every module's train/eval flag comes back, also when the body raises."""
import pytest
from torch import nn

from san_plugin.core.train_modes import train_modes_restored


def test_every_flag_is_restored_after_the_body_and_after_an_error():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Dropout())
    net[1].eval()  # mixed modes: the net and the dropout train, the norm does not
    before = [m.training for m in net.modules()]
    with train_modes_restored(net):
        net.eval()
        net[2].train()
        assert [m.training for m in net.modules()] == [False, False, False, True]
    assert [m.training for m in net.modules()] == before == [True, True, False, True]
    with pytest.raises(RuntimeError, match='inside'):
        with train_modes_restored(net):
            net.train()
            raise RuntimeError('inside')
    assert [m.training for m in net.modules()] == before
