"""README's results block is what benchmarks/readme_results.py writes from the committed results files."""
import json
import shutil

import pytest

from benchmarks import readme_results
from benchmarks.readme_results import BEGIN, END, README, RESULTS, block, main, replace_block


def test_the_readme_block_is_written_from_the_committed_results():
    readme = README.read_text()
    assert readme == replace_block(readme, block(RESULTS)), (
        "README.md's results block differs from the results files: run python benchmarks/readme_results.py")


def test_the_block_says_where_its_numbers_come_from():
    text = block(RESULTS)
    assert text.startswith(BEGIN) and text.endswith(END)
    assert '| | SAN - baseline | +1.76 | +0.89 | +2.60 | +2.04 | +2.45 | **+1.95** |' in text  # ResNet-18 sweep
    for name in ('imagenette_lr_sweep.json', 'imagenette_mobilenetv2_lr_sweep.json'):  # the seeds, as the json has them
        seeds = json.loads((RESULTS / name).read_text())['seeds']['32']
        verdict = '**stands**' if seeds['stands'] else 'does not stand'
        assert f"{seeds['gain']:+.2f} ({seeds['spread']:.2f}) at 32 px, {verdict}" in text
    assert '**No GPU figure exists yet**' in text and 'not measured here' in text


def test_check_reports_a_stale_block_and_the_default_mode_rewrites_it(tmp_path, capsys):
    readme = tmp_path / 'README.md'
    readme.write_text(f'# title\n\n## Results\n\n{BEGIN}\nan old number: +9.99\n{END}\n\n## Next\n')
    assert main(['--check', '--readme', str(readme)]) == 1
    out = capsys.readouterr().out
    assert '-an old number: +9.99' in out and 'run python benchmarks/readme_results.py' in out
    assert 'an old number' in readme.read_text()  # --check changes nothing
    assert main(['--readme', str(readme)]) == 0
    assert readme.read_text() == f'# title\n\n## Results\n\n{block(RESULTS)}\n\n## Next\n'
    assert main(['--check', '--readme', str(readme)]) == 0


@pytest.mark.parametrize('text, found', [('no markers at all\n', 0), (f'{BEGIN}\n{END}\n{END}\n', 2)])
def test_a_readme_without_one_pair_of_markers_is_refused(text, found):
    with pytest.raises(SystemExit, match=f"README.md: want exactly one .* line around the results block \\(found {found}\\)"):
        replace_block(text, block(RESULTS))


def test_a_section_whose_file_is_absent_writes_nothing(tmp_path):
    for section in readme_results.SECTIONS:
        if section is not readme_results.cost:
            assert section(tmp_path) == [], section.__name__
    assert readme_results.cost(tmp_path) == [readme_results.gpu_cost(tmp_path)[0], '']  # only: no GPU figure yet


@pytest.mark.parametrize('name, title', [
    ('imagenette_seeds.json', 'The SAN and the baselines over five seeds'),
    ('perf_cuda.json', 'Cost on a GPU')])
def test_a_results_file_of_a_reserved_section_is_linked_under_its_title(tmp_path, name, title):
    results = tmp_path / 'benchmarks' / 'results'
    results.mkdir(parents=True)
    for path in RESULTS.glob('*.json'):
        shutil.copy(path, results / path.name)
    shutil.copytree(RESULTS / 'runs', results / 'runs')
    assert block(results) == block(RESULTS)
    (results / name).write_text(json.dumps({}))
    assert f'**{title}**: [{name}](benchmarks/results/{name}).' in block(results)
    (results / name).with_suffix('.md').write_text('# its report')
    md = name.replace('.json', '.md')
    assert f'**{title}**: [{md}](benchmarks/results/{md}).' in block(results)


def test_the_papers_numbers_in_the_model_zoo_page_are_those_of_the_committed_file():
    paper = json.loads((RESULTS / 'paper_reported.json').read_text())
    zoo = (README.parent / 'docs' / 'model_zoo.md').read_text()
    for model, cells in paper['models'].items():
        for kind, label in (('baselines', f'| {model}, baselines'), ('san', f'| {model} SAN')):
            row = next(line for line in zoo.splitlines() if line.startswith(label))
            values = [float(v) for v in row.split('|')[2:-1]]
            assert values == [cells[kind][str(s)] for s in paper['resolutions']], row


def test_the_sampling_section_gives_the_measured_step_cost_and_says_what_is_not_measured():
    lines = readme_results.resolution_sampling(RESULTS)
    cost = json.loads((RESULTS / 'imagenette_sampling_cost.json').read_text())['rows']
    assert f"{cost['sandwich1']['ratio_gflops']:.3f}x the GFLOPs" in lines[0]
    if not (RESULTS / 'imagenette_sampling.json').exists():
        assert lines[1] == 'Its accuracy is not measured yet.'


def test_the_off_grid_section_gives_each_size_before_and_after_calibration_from_the_json():
    text = readme_results.off_grid_inference(RESULTS)[0]
    result = json.loads((RESULTS / 'imagenette_table2_resnet18.json').read_text())
    for size in (72, 44, 36):
        row = result['summary']['per_size'][str(size)]
        assert f"{size} px {row['proxy']:.2f} -> {row['calibrated']:.2f}" in text
    assert 'worst at 36 px' in text and '(the paper, at ImageNet sizes: within 0.2)' in text


@pytest.mark.parametrize('rates, bracketed, lr, phrase', [
    ({'0.1': 76.0}, False, 0.1, 'at 0.1, the only rate run so far (not its bracketed best, the same rate: a '
                                'same-setting comparison)'),
    ({'0.2': 76.0}, False, 0.2, 'at 0.2, the only rate run so far (not its bracketed best)'),
    ({'0.1': 75.0, '0.2': 76.0}, False, 0.2, 'at 0.2, the best of the rates tried (not bracketed)'),
    ({'0.05': 74.0, '0.1': 76.0, '0.2': 75.0}, True, 0.1, 'at its best rate 0.1 (bracketed)')])
def test_a_sampled_sans_rate_is_labelled_by_what_was_run(rates, bracketed, lr, phrase):
    entry = {'lr': lr, 'rates': rates, 'bracket': {'bracketed': bracketed}}
    assert readme_results._sampled_rate(entry, reference_lr=0.1) == phrase
