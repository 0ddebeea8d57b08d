"""Reports print recorded commands and paths relative to a checkout, never a machine's absolute paths."""
import pytest

from benchmarks.portable_paths import portable, portable_path


@pytest.mark.parametrize('recorded, printed', [
    ('/home/me/san_plugin/.venv/bin/python3.11', 'python'),
    ('/srv/exp2/tools/train.py', 'tools/train.py'),
    ('/srv/exp/work_dirs/seed1/lr0.1', 'work_dirs/seed1/lr0.1'),
    ('/srv/shared/data/imagenette', 'data/imagenette'),
    ('/tmp/san_perf_views_x/small', '$TMPDIR/san_perf_views_x/small'),
    ('/srv/exp/i24/r18/lr0.2/san/epoch_15.pth', 'WORK_DIR/san/epoch_15.pth'),
    ('/proc/self/clear_refs', '/proc/self/clear_refs'),
    ('work_dirs/i18/lr0.1', 'work_dirs/i18/lr0.1'),
])
def test_each_kind_of_path(recorded, printed):
    assert portable_path(recorded) == printed


def test_a_command_keeps_everything_but_its_absolute_paths():
    command = ('/srv/main/.venv/bin/python /srv/exp/tools/train.py work_dirs/i18/lr0.1/san/san_run_config.py '
               '--data-root /srv/shared/data/imagenette --out /tmp/part --lr 0.1')
    assert portable(command) == ('python tools/train.py work_dirs/i18/lr0.1/san/san_run_config.py '
                                 '--data-root data/imagenette --out $TMPDIR/part --lr 0.1')


def test_text_that_is_not_a_path_stays():
    text = 'lr/5 at 64/48/32 px, 2 / (k + 1), see https://github.com/d-li14/SAN and ../benchmarks/results/x.md'
    assert portable(text) == text
