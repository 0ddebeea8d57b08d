"""The seeds section of the Imagenette report: mean and spread per cell over seed work dirs, and
where the SAN's gain exceeds twice the spread of the difference. Fake runs with known numbers."""
import json
import math
from pathlib import Path

import pytest

from benchmarks.imagenette import report, seeds
from benchmarks.portable_paths import portable

TRAIN = (64, 56, 48, 40, 32)
TESTS = (64, 48, 32)


def write_model(work: Path, name: str, value: float) -> None:
    folder = work / name
    folder.mkdir(parents=True)
    if name.startswith('baseline'):
        result = dict(rows={'baseline': {str(t): value for t in TESTS}}, proxy={}, num_images=3925)
    else:
        result = dict(rows={str(s): {str(t): value for t in TESTS} for s in TRAIN},
                      proxy={str(t): t for t in TESTS}, train_resolutions=list(TRAIN), num_images=3925,
                      row_mode='full')
    (folder / 'eval.json').write_text(json.dumps(result))
    seed = int(work.name.removeprefix('seed'))
    (folder / 'timing.json').write_text(json.dumps(dict(
        model=name, seed=seed, epochs=15, width=0.5, lr=0.1, train_wall_s=600.0 + seed * 60,
        command=f'python tools/train.py {name}_run_config.py --work-dir {work / name}')))


def three_seeds(root: Path, san, base64, base32) -> list[Path]:
    dirs = []
    for seed in range(3):
        work = root / f'seed{seed}'
        write_model(work, 'san', san[seed])
        write_model(work, 'baseline_64', base64[seed])
        write_model(work, 'baseline_32', base32[seed])
        dirs.append(work)
    return dirs


def test_mean_spread_and_where_the_gain_stands(tmp_path):
    # SAN 70/71/72 (sd 1); baseline_64 65/65/65 (sd 0): +6 > 2 x 1 stands; baseline_32 69/71/73 (sd 2):
    # +0 does not
    dirs = three_seeds(tmp_path, (70.0, 71.0, 72.0), (65.0, 65.0, 65.0), (69.0, 71.0, 73.0))
    stats = seeds.seed_statistics(dirs)
    assert stats['cells']['san'][64]['mean'] == pytest.approx(71.0) and stats['cells']['san'][64]['sd'] == pytest.approx(1.0)
    assert stats['gains'][64] == dict(gain=pytest.approx(6.0), spread=pytest.approx(1.0), stands=True)
    assert stats['gains'][32] == dict(gain=pytest.approx(0.0), spread=pytest.approx(math.sqrt(5)), stands=False)
    lines = '\n'.join(seeds.seed_section(stats))
    assert '| san | 71.00 ± 1.00 | 71.00 ± 1.00 | 71.00 ± 1.00 |' in lines
    assert '| 64 | +6.00 | 1.00 | yes |' in lines and '| 32 | +0.00 | 2.24 | no |' in lines
    # every seed's run is listed with its epochs, width, rate, wall time and command
    assert '| baseline_32 | 2 | 15 | 0.5 | 0.1 | 12.0 min |' in lines and '| san | 0 | 15 | 0.5 | 0.1 | 10.0 min |' in lines
    # ... printed without the machine's absolute paths
    assert f"python tools/train.py san_run_config.py --work-dir {portable(str(dirs[1] / 'san'))}" in lines
    assert str(tmp_path) not in lines

    out, notes = tmp_path / 'report', tmp_path / 'notes.md'
    notes.write_text('## Analysis of these runs')
    report.main(['--work-dir', str(dirs[0]), '--out', str(out), '--test-resolutions', *map(str, TESTS),
                 '--seeds', str(dirs[1]), str(dirs[2]), '--notes', str(notes)])
    md = out.with_suffix('.md').read_text()
    assert '## Seeds' in md and '| 64 | +6.00 | 1.00 | yes |' in md
    assert md.rstrip().endswith('## Analysis of these runs') and '## Analysis (issue 7)' not in md

    # --from writes the same markdown again from the json alone (the work dirs gone)
    for work in dirs:
        for folder in work.iterdir():
            for file in folder.iterdir():
                file.unlink()
    out.with_suffix('.md').unlink()
    report.main(['--from', str(out.with_suffix('.json')), '--out', str(out), '--test-resolutions', *map(str, TESTS),
                 '--notes', str(notes)])
    assert out.with_suffix('.md').read_text() == md
    with pytest.raises(SystemExit, match=f'--from {notes}: not a json written by report.py'):
        report.main(['--from', str(notes), '--out', str(tmp_path / 'bad')])


def test_a_model_missing_in_one_seed_is_left_out(tmp_path):
    dirs = three_seeds(tmp_path, (70.0, 71.0, 72.0), (65.0, 65.0, 65.0), (69.0, 71.0, 73.0))
    (dirs[2] / 'baseline_32' / 'eval.json').unlink()
    stats = seeds.seed_statistics(dirs)
    assert set(stats['cells']) == {'san', 'baseline_64'} and set(stats['gains']) == {64}
