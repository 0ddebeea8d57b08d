"""The issue-18 report over learning rates: same-rate gains, the worst case that picks the default,
best against best. Fake runs with known numbers, so every figure can be checked by hand."""
import json
from pathlib import Path

import pytest

from benchmarks.imagenette import lr_sweep, run_summary

TRAIN = (64, 56, 48, 40, 32)
TESTS = (80, 72, 64, 56, 48, 44, 40, 36, 32, 24)


def write_run(root: Path, lr: float, name: str, value: float, seed: int = 0) -> None:
    """A finished run whose proxy cells are all ``value`` (a baseline: its only row)."""
    folder = root / f'lr{lr:g}' / name
    folder.mkdir(parents=True)
    if name.startswith('baseline'):
        rows, proxy = {'baseline': {str(t): value for t in TESTS}}, {}
    else:
        rows = {str(s): {str(t): value for t in TESTS} for s in TRAIN}
        proxy = {str(t): min(TRAIN, key=lambda s, t=t: (abs(s - t), -s)) for t in TESTS}
    (folder / 'eval.json').write_text(json.dumps(dict(rows=rows, proxy=proxy)))
    (folder / 'timing.json').write_text(json.dumps(dict(epochs=15, train_wall_s=60.0, seed=seed)))


def test_report_picks_the_best_worst_case_and_compares_best_against_best(tmp_path):
    for lr, base in ((0.025, 70.0), (0.1, 74.0)):
        for s in TRAIN:
            write_run(tmp_path, lr, f'baseline_{s}', base)
    # default: +3 at 0.025, -1 at 0.1 (worst -1); (a): +1 and +1 (worst +1): (a) is chosen
    write_run(tmp_path, 0.025, 'san', 73.0)
    write_run(tmp_path, 0.1, 'san', 73.0)
    write_run(tmp_path, 0.025, 'san_sharedlr', 71.0)
    write_run(tmp_path, 0.1, 'san_sharedlr', 75.0)
    write_run(tmp_path, 0.1, 'san_sharedconv', 74.5)
    out = tmp_path / 'report'
    lr_sweep.main(['--root', str(tmp_path), '--out', str(out), '--no-diagnostics'])
    summary = json.loads(out.with_suffix('.json').read_text())
    assert summary['worst_case_same_rate_gain'] == {'san': pytest.approx(-1.0), 'san_sharedlr': pytest.approx(1.0)}
    assert summary['chosen'] == 'san_sharedlr'
    best = summary['best_vs_best']
    assert {k: best['baseline_64'][k] for k in ('lr', 'top1', 'rates_tried')} == {
        'lr': 0.1, 'top1': 74.0, 'rates_tried': [0.025, 0.1]}
    assert not best['baseline_64']['bracket']['bracketed']  # best at the highest rate tried
    assert not best['san']['best_against_best'] and 'baseline_64' in best['san']['unbracketed']
    assert best['san']['lr'] == 0.025 and best['san']['mean_gain'] == pytest.approx(-1.0)  # tie 73/73: smaller rate
    assert best['san_sharedlr']['lr'] == 0.1 and best['san_sharedlr']['mean_gain'] == pytest.approx(1.0)
    md = out.with_suffix('.md').read_text()
    assert 'Highest: **san_sharedlr**' in md
    assert '| 64 | 74.00 (lr 0.1 of 0.025/0.1) |' in md and 'san_sharedconv (lr 0.1 of 0.1)' in md
    assert 'mean diagonal gain >= +1.0: met (+1.00)' in md
    assert 'on the trained sizes: NOT met (64: +0.50' in md  # 75 against shared convs' 74.5: within the noise


def test_a_best_rate_counts_only_with_a_worse_rate_tried_on_each_side(tmp_path):
    tops = {0.025: 70.0, 0.05: 73.0, 0.1: 74.0, 0.2: 73.5}  # every baseline peaks at 0.1, inside the sweep
    for lr, base in tops.items():
        for s in TRAIN:
            write_run(tmp_path, lr, f'baseline_{s}', base)
    write_run(tmp_path, 0.05, 'san', 75.0)
    write_run(tmp_path, 0.1, 'san', 76.0)  # the SAN's best at the highest rate it tried
    out = tmp_path / 'r'
    lr_sweep.main(['--root', str(tmp_path), '--out', str(out), '--no-diagnostics', '--arch', 'mobilenetv2'])
    best = json.loads(out.with_suffix('.json').read_text())['best_vs_best']
    b64 = best['baseline_64']['bracket']
    assert b64['bracketed'] and b64['below'] == [0.05, 73.0] and b64['above'] == [0.2, 73.5] and b64['plateau']
    assert not best['san']['bracket']['bracketed'] and best['san']['unbracketed'] == ['san']
    md = out.with_suffix('.md').read_text()
    assert md.startswith('# MobileNetV2 on Imagenette') and 'weight decay 4e-5' in md
    assert '| baseline_64 | 0.1 | 74.00 | 0.05: 73.00 | 0.2: 73.50 | bracketed (a neighbour within one' in md
    assert '| san | 0.1 | 76.00 | 0.05: 75.00 | - | NOT bracketed: best at the highest rate tried (try 0.2) |' in md
    assert '## Every model at its best rate tried' in md and 'san: **no** (not bracketed: san)' in md
    assert "Targets for `san` (best rates tried, NOT best against best)" in md
    write_run(tmp_path, 0.2, 'san', 75.5)  # now bracketed: the comparison is best against best
    lr_sweep.main(['--root', str(tmp_path), '--out', str(out), '--no-diagnostics'])
    md = out.with_suffix('.md').read_text()
    assert '## Best against best: every model' in md and 'Best against best? san: yes' in md
    assert 'Targets for `san` (best against best): SAN >= baseline at every training size: met' in md


def test_seeds_at_each_models_best_rate_from_seed_roots_and_a_previous_report(tmp_path):
    main, seed1 = tmp_path / 'main', tmp_path / 'seed1'
    for lr in (0.05, 0.1, 0.2):
        for s in TRAIN:
            write_run(main, lr, f'baseline_{s}', 70.0 + (lr == 0.1) + 2 * (s == 32 and lr == 0.2))
        write_run(main, lr, 'san', 73.0 + (lr == 0.1))
    # baseline_32's best rate is 0.2: its seeds there; the SAN and baseline_64 at 0.1
    write_run(seed1, 0.2, 'baseline_32', 71.0, seed=1)
    write_run(seed1, 0.1, 'baseline_64', 70.5, seed=1)
    write_run(seed1, 0.1, 'san', 73.0, seed=1)
    write_run(seed1, 0.05, 'san', 10.0, seed=1)  # another rate: not counted
    previous = tmp_path / 'report.json'  # a report.py --seeds json (seeds 0 and 2 of the SAN at 0.1)
    previous.write_text(json.dumps({'summary': {'seeds': {
        'cells': {'san': {'64': {'values': [99.0, 75.0]}, '32': {'values': [99.0, 75.0]}}},
        'runs': [{'model': 'san', 'seed': 0}, {'model': 'san', 'seed': 2}]}}}))
    out = tmp_path / 'r'
    lr_sweep.main(['--root', str(main), '--out', str(out), '--no-diagnostics', '--seed-roots', str(seed1),
                   '--previous-seeds', f'{previous}@0.1'])
    seeds = json.loads(out.with_suffix('.json').read_text())['seeds']
    s64, s32 = seeds['64'], seeds['32']
    assert s64['cells']['san']['values'] == {'0': 74.0, '1': 73.0, '2': 75.0}  # the sweep's seed 0 wins over 99
    assert s64['cells']['baseline_64']['values'] == {'0': 71.0, '1': 70.5} and s64['cells']['baseline_64']['lr'] == 0.1
    assert s32['cells']['baseline_32']['lr'] == 0.2 and s32['cells']['baseline_32']['values'] == {'0': 72.0, '1': 71.0}
    assert s64['gain'] == pytest.approx(74.0 - 70.75)
    spread = (1.0 ** 2 + 0.5 ** 2 / 2) ** 0.5  # sd of 73/74/75 is 1, of 71/70.5 is 0.354
    assert s64['spread'] == pytest.approx(spread) and s64['stands'] == (s64['gain'] > 2 * spread)
    md = out.with_suffix('.md').read_text()
    assert '## Seeds at the best rates' in md and '| 32 | lr 0.1, 74.00 / 73.00 / 75.00 (seeds 0/1/2)' in md
    with pytest.raises(SystemExit, match='REPORT.json@LR'):
        lr_sweep.main(['--root', str(main), '--out', str(out), '--no-diagnostics', '--previous-seeds', str(previous)])


def test_worst_case_uses_the_sizes_with_a_baseline_at_every_rate(tmp_path):
    for lr, base in ((0.025, 70.0), (0.1, 74.0)):
        for s in (TRAIN if lr == 0.1 else (64, 32)):
            write_run(tmp_path, lr, f'baseline_{s}', base + (s == 32))
    write_run(tmp_path, 0.025, 'san', 73.0)  # gains +3 at 64, +2 at 32
    write_run(tmp_path, 0.1, 'san', 75.0)    # +1 at 64, +0 at 32 (and +1 at 56/48/40, not counted)
    lr_sweep.main(['--root', str(tmp_path), '--out', str(tmp_path / 'r'), '--no-diagnostics'])
    summary = json.loads((tmp_path / 'r.json').read_text())
    assert summary['worst_case_same_rate_gain'] == {'san': pytest.approx(0.5)}
    assert summary['worst_case_sizes'] == {'san': [64, 32]} and summary['chosen'] == 'san'
    assert 'san: +0.50 (sizes 64/32)' in (tmp_path / 'r.md').read_text()


def test_no_runs_is_an_error_naming_the_folder(tmp_path):
    with pytest.raises(SystemExit, match=str(tmp_path)):
        lr_sweep.main(['--root', str(tmp_path), '--out', str(tmp_path / 'x')])


def test_previous_report_fills_in_the_runs_the_root_lacks_and_is_named(tmp_path):
    first, second = tmp_path / 'first', tmp_path / 'second'
    for s in TRAIN:
        write_run(first, 0.1, f'baseline_{s}', 74.0)
    write_run(first, 0.1, 'san', 70.0)
    lr_sweep.main(['--root', str(first), '--out', str(tmp_path / 'old'), '--no-diagnostics'])
    write_run(second, 0.1, 'san', 76.0)  # a rerun: the root's run wins over the carried one
    write_run(second, 0.025, 'san_sharedconv', 75.0)
    lr_sweep.main(['--root', str(second), '--previous', str(tmp_path / 'old.json'),
                   '--out', str(tmp_path / 'new'), '--no-diagnostics'])
    summary = json.loads((tmp_path / 'new.json').read_text())
    assert summary['best_vs_best']['san']['mean_gain'] == pytest.approx(2.0)
    assert summary['models']['baseline_64']['0.1']['carried_from'] == str(tmp_path / 'old.json')
    assert 'carried_from' not in summary['models']['san']['0.1']
    assert summary['best_vs_best']['san_sharedconv']['diagonal']['64'] == 75.0
    md = (tmp_path / 'new.md').read_text()
    assert f'Carried over from `{tmp_path / "old.json"}`' in md
    assert 'baseline_64 at 0.1' in md and 'san at' not in md.split('Carried over')[1].split('\n')[0]


def test_previous_that_is_not_a_report_is_an_error_naming_it(tmp_path):
    bad = tmp_path / 'bad.json'
    bad.write_text('{"rows": {}}')
    write_run(tmp_path / 'runs', 0.1, 'san', 70.0)
    with pytest.raises(SystemExit, match='bad.json'):
        lr_sweep.main(['--root', str(tmp_path / 'runs'), '--previous', str(bad), '--out', str(tmp_path / 'x')])


def test_run_summaries_carry_what_the_report_needs_and_it_regenerates_from_them(tmp_path):
    work = tmp_path / 'work'
    for s in TRAIN:
        write_run(work, 0.1, f'baseline_{s}', 70.0)
    write_run(work, 0.1, 'san', 72.0)
    san = work / 'lr0.1' / 'san'
    (san / 'san_run_config.py').write_text("model = dict(type='SANClassifier')\n")
    (san / '20261204_000000' / 'vis_data').mkdir(parents=True)
    (san / '20261204_000000' / 'vis_data' / 'scalars.json').write_text('\n'.join(json.dumps(r) for r in [
        {'epoch': 1, 'iter': 20, 'lr': 0.05, 'loss': 12.0, 'loss_ce_64': 2.0},
        {'epoch': 1, 'iter': 40, 'lr': 0.1, 'loss': 10.0, 'loss_ce_64': 1.0},
        {'epoch': 2, 'iter': 60, 'lr': 0.1, 'loss': 8.0, 'loss_ce_64': 0.5},
        {'accuracy/top1': 50.0, 'step': 2}]) + '\n')
    (san / '20261204_000000' / '20261204_000000.log').write_text(
        'INFO - ok\nWARNING - SAN training is diverging: the cross-entropy at 32 px is 7.8\n')
    summaries = tmp_path / 'summaries'
    run_summary.main([str(work), str(summaries), '--arch', 'resnet18', '--code', 'commit abc'])
    record = json.loads((summaries / 'lr0.1' / 'san.json').read_text())
    assert record['epoch_losses'] == {'1': {'lr': pytest.approx(0.075), 'loss': 11.0, 'loss_ce_64': 1.5},
                                      '2': {'lr': 0.1, 'loss': 8.0, 'loss_ce_64': 0.5}}
    assert record['divergence'].endswith('the cross-entropy at 32 px is 7.8')
    assert record['arch'] == 'resnet18' and record['code'] == 'commit abc' and record['config'].startswith('model =')
    assert json.loads((summaries / 'lr0.1' / 'baseline_64.json').read_text())['divergence'] is None
    for root, out in ((work, tmp_path / 'from_work'), (summaries, tmp_path / 'from_summaries')):
        lr_sweep.main(['--root', str(root), '--out', str(out), '--no-diagnostics'])
    from_work = json.loads((tmp_path / 'from_work.json').read_text())
    assert json.loads((tmp_path / 'from_summaries.json').read_text()) == from_work
    assert from_work['best_vs_best']['san']['mean_gain'] == pytest.approx(2.0)
    with pytest.raises(SystemExit, match='no finished run'):
        run_summary.main([str(tmp_path / 'empty'), str(summaries)])


def test_a_resumed_runs_epochs_come_from_every_log_folder_the_newest_winning(tmp_path):
    """A run resumed after a crash logs its later epochs into a new folder: the summary has them all,
    and an epoch both folders logged (the one the crash cut short) is the resumed run's."""
    def write(folder: str, records: list[dict]) -> None:
        path = tmp_path / folder / 'vis_data' / 'scalars.json'
        path.parent.mkdir(parents=True)
        path.write_text('\n'.join(json.dumps(r) for r in records) + '\n')

    write('20261207_100000', [{'epoch': 1, 'iter': 10, 'lr': 0.1, 'loss': 4.0},
                              {'epoch': 2, 'iter': 20, 'lr': 0.1, 'loss': 9.0}])  # cut short in epoch 2
    write('20261207_120000', [{'epoch': 2, 'iter': 20, 'lr': 0.1, 'loss': 3.0},
                              {'epoch': 3, 'iter': 30, 'lr': 0.05, 'loss': 2.0}])
    assert run_summary.epoch_losses(tmp_path) == {1: {'lr': 0.1, 'loss': 4.0}, 2: {'lr': 0.1, 'loss': 3.0},
                                                  3: {'lr': 0.05, 'loss': 2.0}}
