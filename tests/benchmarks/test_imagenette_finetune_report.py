"""The fine-tune report: fine-tuned minus from-scratch per training size, the compute
ratio and the target, on fake runs with known numbers."""
import json
from pathlib import Path

import pytest

from benchmarks.imagenette import finetune_report as report

TRAIN = (64, 56, 48, 40, 32)
TESTS = (80, 72, 64, 56, 48, 44, 40, 36, 32, 24)


def write_san(folder: Path, diagonal: dict[int, float], epochs: int, lr: float = 0.01) -> Path:
    folder.mkdir(parents=True)
    rows = {str(s): {str(t): diagonal[s] for t in TESTS} for s in TRAIN}
    proxy = {str(t): min(TRAIN, key=lambda s, t=t: (abs(s - t), -s)) for t in TESTS}
    (folder / 'eval.json').write_text(json.dumps(dict(rows=rows, proxy=proxy)))
    (folder / 'timing.json').write_text(json.dumps(dict(epochs=epochs, lr=lr, train_wall_s=600.0, command='x')))
    return folder


def test_gain_per_size_and_the_target(tmp_path):
    scratch = write_san(tmp_path / 'san', dict(zip(TRAIN, (70.0, 69.0, 68.0, 66.0, 64.0))), 15)
    base = write_san(tmp_path / 'baseline_64', dict(zip(TRAIN, (72.0,) * 5)), 15)
    good = write_san(tmp_path / 'ft', dict(zip(TRAIN, (71.0, 69.0, 69.0, 66.5, 64.0))), 5)
    report.main(['--finetune', str(good), '--scratch', str(scratch), '--baseline', str(base),
                 '--out', str(tmp_path / 'r')])
    summary = json.loads((tmp_path / 'r.json').read_text())
    assert summary['gain_over_scratch'] == {'finetune_0': {'64': 1.0, '56': 0.0, '48': 1.0, '40': 0.5, '32': 0.0}}
    assert summary['mean_gain'] == {'finetune_0': pytest.approx(0.5)}
    assert summary['san_epoch_ratio'] == pytest.approx(1 / 3) and summary['target_met'] is True
    assert '| lr 0.01 | +1.00 | +0.00 | +1.00 | +0.50 | +0.00 | +0.50 |' in (tmp_path / 'r.md').read_text()
    # the same markdown again from the json alone
    report.main(['--from', str(tmp_path / 'r.json'), '--out', str(tmp_path / 'again')])
    assert (tmp_path / 'again.md').read_text() == (tmp_path / 'r.md').read_text()
    assert not (tmp_path / 'again.json').exists()
    # a second rate whose mean is lower but which misses at 48: the best (the first) decides the target
    worse = write_san(tmp_path / 'ft2', dict(zip(TRAIN, (71.0, 69.0, 67.9, 66.5, 64.0))), 5, lr=0.05)
    report.main(['--finetune', str(good), str(worse), '--scratch', str(scratch), '--baseline', str(base),
                 '--out', str(tmp_path / 'r2')])
    summary = json.loads((tmp_path / 'r2.json').read_text())
    assert summary['best'] == 'finetune_0' and summary['target_met'] is True
    assert '| lr 0.05 | +1.00 | +0.00 | -0.10 | +0.50 | +0.00 | +0.28 |' in (tmp_path / 'r2.md').read_text()
    report.main(['--finetune', str(worse), '--scratch', str(scratch), '--baseline', str(base),
                 '--out', str(tmp_path / 'r3')])
    assert json.loads((tmp_path / 'r3.json').read_text())['target_met'] is False
    assert '**not met**' in (tmp_path / 'r3.md').read_text()


def test_unfinished_run_is_named(tmp_path):
    (tmp_path / 'ft').mkdir()
    with pytest.raises(SystemExit, match='ft: no eval.json or timing.json'):
        report.main(['--finetune', str(tmp_path / 'ft'), '--scratch', str(tmp_path), '--baseline', str(tmp_path)])


def test_neither_folders_nor_a_json_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        report.main(['--scratch', str(tmp_path)])
    assert 'give --finetune, --scratch and --baseline (the run folders), or --from REPORT.json' in capsys.readouterr().err
