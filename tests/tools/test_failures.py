"""What tools/train.py and tools/test.py do with bad runs, checkpoints and settings."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from image_layouts import write_image_folder
from san_tools_helpers import IMAGE_FOLDER, run_tool, write_config
from san_plugin.mm.engine.safe_load import safe_load

pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def trained(image_folder, tmp_path_factory) -> tuple[Path, Path]:
    """(config, checkpoint) of a 2-iteration run."""
    root = tmp_path_factory.mktemp('trained')
    config = write_config(root / 'config.py', image_folder, max_iters=2, ckpt_interval=2)
    run_tool('train.py', str(config), '--work-dir', str(root / 'work'))
    return config, root / 'work' / 'iter_2.pth'


def test_non_finite_loss_stops_training_and_keeps_the_last_good_checkpoint(image_folder, tmp_path):
    config = write_config(tmp_path / 'config.py', image_folder, max_iters=6, ckpt_interval=2,
                          custom_hooks=[dict(type='PoisonHook', at_iter=5)])
    work = tmp_path / 'work'
    result = run_tool('train.py', str(config), '--work-dir', str(work), check=False)
    assert result.returncode == 1
    assert 'training stopped at iteration 5 (epoch 1): the training loss at resolution 32 px is nan' in result.stderr
    assert f'Newest checkpoint, from before the failure: {work / "iter_4.pth"}' in result.stderr
    assert sorted(p.name for p in work.glob('iter_*.pth')) == ['iter_2.pth', 'iter_4.pth']
    checkpoint = safe_load(work / 'iter_4.pth', map_location='cpu')
    assert checkpoint['meta']['iter'] == 4
    assert all(torch.isfinite(v).all() for v in checkpoint['state_dict'].values() if isinstance(v, torch.Tensor))


def test_test_resolution_outside_training_range_runs_with_one_warning(trained):
    config, checkpoint = trained
    result = run_tool('test.py', str(config), str(checkpoint), '--resolution', '48',
                      '--work-dir', str(checkpoint.parent / 'test48'))
    warning = 'test resolution 48 px is outside the training range 24..32; using proxy inference'
    assert result.stderr.count(warning) == 1
    assert 'accuracy/top1:' in result.stdout


def test_checkpoint_of_another_san_is_refused_naming_every_differing_field(trained):
    """The config's training resolutions (its one key, overridden) against the checkpoint's: both named."""
    config, checkpoint = trained
    result = run_tool('test.py', str(config), str(checkpoint), '--work-dir', str(checkpoint.parent / 'other'),
                      '--cfg-options', 'model.san.resolutions=[40,24]',
                      'model.san.encoding.factor=0.2', 'model.san.meta_hidden=4', check=False)
    assert result.returncode != 0 and 'SANMetadataError' in result.stderr
    assert 'resolutions: checkpoint has [32, 24], this model has [40, 24]' in result.stderr
    for field in ('encoding', 'meta_hidden'):
        assert f'{field}: checkpoint has' in result.stderr
    assert f'SANMetadataError: {checkpoint}: the checkpoint was made for a differently converted SAN' in result.stderr
    assert ('To build the SAN this checkpoint holds, give the config its settings: --cfg-options '
            '"model.san.encoding.factor=0.1" "model.san.encoding.base=32.0" "model.san.encoding.offset=0.0" '
            '"model.san.meta_hidden=None" "model.san.resolutions=[32,24]"') in result.stderr


def test_an_image_given_as_the_checkpoint_is_called_what_it_is(trained, image_folder):
    config, checkpoint = trained
    image = next((image_folder / 'val' / 'classA').iterdir())
    result = run_tool('test.py', str(config), str(image), '--work-dir', str(checkpoint.parent / 'image'), check=False)
    assert result.returncode != 0
    assert f'NotACheckpointError: {image} is not a PyTorch checkpoint: it is a JPEG image' in result.stderr
    assert 'interrupted save' not in result.stderr


def test_a_topk_above_the_heads_classes_stops_testing_before_the_first_image(trained):
    config, checkpoint = trained
    result = run_tool('test.py', str(config), str(checkpoint), '--work-dir', str(checkpoint.parent / 'top5'),
                      '--cfg-options', 'test_evaluator.topk=(1,5)', check=False)
    assert result.returncode != 0
    assert ('EvaluatorTopkError: test_evaluator.topk = (1, 5) asks for top-5 accuracy, but the head has 2 classes'
            in result.stderr)
    assert 'Epoch(test)' not in result.stdout


def test_an_override_that_nothing_reads_stops_training_at_startup(image_folder, tmp_path):
    config = write_config(tmp_path / 'config.py', image_folder)
    result = run_tool('train.py', str(config), '--work-dir', str(tmp_path / 'work'), '--cfg-options',
                      'data_root=/elsewhere', check=False)
    assert result.returncode != 0
    assert ("UnusedConfigKeyError: --cfg-options data_root: 'data_root' is a variable of " in result.stderr
            and 'override the setting(s) that hold its value instead: test_dataloader.dataset.data_root, '
                'train_dataloader.dataset.data_root, val_dataloader.dataset.data_root' in result.stderr)
    assert not (tmp_path / 'work').exists()


SAFE_LOADING = """
train_dataloader['dataset'].update(type='CheckedCustomDataset', pipeline=[
    dict(type='SafeLoadImageFromFile', skip_bad_images=True),
    dict(type='MultiResolution', crop_ratio_range=(0.35, 1.0)),
    dict(type='PackInputs')])
"""


def test_bad_training_images_are_logged_and_skipped(tmp_path):
    """Without skip_bad_images the first bad file stops the run naming it: tests/mm/engine/test_checked_dataset.py."""
    images = write_image_folder(tmp_path / 'images', **IMAGE_FOLDER)
    empty, fake = images / 'train' / 'classA' / 'empty.jpg', images / 'train' / 'classB' / 'notes.jpg'
    empty.write_bytes(b'')
    fake.write_text('not an image')
    config = write_config(tmp_path / 'config.py', images, max_iters=5, ckpt_interval=5,
                          extra=SAFE_LOADING)
    result = run_tool('train.py', str(config), '--work-dir', str(tmp_path / 'work'), check=False)
    # 5 iterations x 4 images see all 18 files: both bad ones were drawn and replaced
    assert result.returncode == 0, result.stderr[-3000:]
    assert f'skipping bad image {empty}: the file is empty (0 bytes)' in result.stdout
    assert f'skipping bad image {fake}: not a decodable image' in result.stdout
    assert (tmp_path / 'work' / 'iter_5.pth').is_file()
