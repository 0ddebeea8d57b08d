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
    assert '+1.37 (0.76) at 32 px, does not stand' in text and '+11.88 (3.73) at 32 px, **stands**' in text
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


@pytest.mark.parametrize('name', ['imagenette_seeds.json', 'imagenette_table2_ideal.json', 'imagenette_sampling.json',
                                  'perf_cuda.json'])
def test_a_results_file_with_no_section_yet_stops_the_script_naming_it(tmp_path, name):
    for path in RESULTS.glob('*.json'):
        shutil.copy(path, tmp_path / path.name)
    shutil.copytree(RESULTS / 'runs', tmp_path / 'runs')
    assert block(tmp_path) == block(RESULTS)
    (tmp_path / name).write_text(json.dumps({}))
    with pytest.raises(SystemExit, match=f'{name}: a results file for the README section'):
        block(tmp_path)
