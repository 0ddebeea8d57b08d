"""The paper's released checkpoints through the tools users run: convert, test, sweep, calibrate, export.

Files in the official layout are generated (random weights; the real ones cannot be downloaded
here), converted by ``tools/convert_official.py``, then evaluated by ``tools/test.py`` and
``tools/eval_resolutions.py`` with ``configs/official/`` on a tiny generated ImageNet layout. The
expected predictions come from the reference forward of the official model on the official
evaluation preprocessing (PIL decode, torchvision ``Resize(int(S / 0.875))`` bilinear,
``CenterCrop(S)``, ``ToTensor()``), so the configs' preprocessing is checked too.
"""
from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch
import torchvision
from mmengine.config import Config
from PIL import Image
from torchvision import transforms

from image_layouts import write_imagenet
from official_layout import official_state, write_official_checkpoint
from official_reference import official_reference
from san_tools_helpers import REPO, run_tool
from smoke_options import as_cli, smoke_options

SAN_CONFIG = REPO / 'configs' / 'official' / 'san_resnet18_official.py'
BASELINE_CONFIG = REPO / 'configs' / 'official' / 'baseline_resnet18_official.py'
BRANCH = {224: 0, 192: 1, 160: 2, 128: 3, 96: 4}
pytestmark = pytest.mark.slow


def official_eval_input(path: Path, size: int) -> torch.Tensor:
    """The official evaluation preprocessing of one image (utils/dataloaders.py, PyTorch loader)."""
    steps = transforms.Compose([transforms.Resize(int(size / 0.875)), transforms.CenterCrop(size),
                                transforms.ToTensor()])
    with Image.open(path) as image:
        return steps(image.convert('RGB'))[None]


def val_images(root: Path) -> list[Path]:
    return [root / 'val' / line.split()[0] for line in (root / 'meta' / 'val.txt').read_text().splitlines()]


@pytest.fixture(scope='module')
def released(tmp_path_factory) -> dict:
    """A generated official SAN ResNet-18 and baseline, converted, and a tiny ImageNet whose val labels are the
    official SAN's top-1 at 160 px (so that accuracy there must be 100%)."""
    root = tmp_path_factory.mktemp('released')
    state = official_state('resnet18', seed=5)
    state['fc.module.weight'] = state['fc.module.weight'] * 20  # peaked scores: a wrong pipeline shows
    baseline = torchvision.models.resnet18().eval()
    data = write_imagenet(root / 'imagenet', per_split={'train': 2, 'val': 3})
    images = val_images(data)
    labels = [int(official_reference(state, 'resnet18', official_eval_input(p, 160), BRANCH[160]).argmax())
              for p in images]
    (data / 'meta' / 'val.txt').write_text(''.join(f'{p.name} {label}\n' for p, label in zip(images, labels)))
    san_file = write_official_checkpoint(root / 'checkpoint.pth.tar', 'resnet18', state)
    baseline_file = root / 'baseline.pth.tar'
    torch.save({'epoch': 120, 'arch': 'resnet18', 'state_dict': {f'module.{k}': v for k, v in
                                                                  baseline.state_dict().items()}}, baseline_file)
    converted = run_tool('convert_official.py', str(san_file), str(root / 'san_r18.pth'), '--arch', 'resnet18',
                         timeout=600)
    assert 'logits of the loaded release within' in converted.stdout
    run_tool('convert_official.py', str(baseline_file), str(root / 'base_r18.pth'), '--arch', 'resnet18', '--baseline',
             timeout=600)
    return dict(root=root, data=data, state=state, baseline=baseline, images=images, labels=labels,
                san=root / 'san_r18.pth', base=root / 'base_r18.pth')


def options(config: Path, data_root: Path) -> list[str]:
    return as_cli(smoke_options(Config.fromfile(str(config)), data_root))


def test_test_py_gives_the_official_predictions_with_the_official_preprocessing(released, tmp_path):
    preds = tmp_path / 'preds.pkl'
    done = run_tool('test.py', str(SAN_CONFIG), str(released['san']), '--resolution', '160', '--out', str(preds),
                    '--work-dir', str(tmp_path / 'work'), *options(SAN_CONFIG, released['data']), timeout=600)
    assert 'accuracy/top1: 100.0000' in done.stdout + done.stderr
    with open(preds, 'rb') as file:  # written by this test's own run
        samples = {Path(s['img_path']).name: s for s in pickle.load(file)}
    assert len(samples) == len(released['images'])
    for path in released['images']:
        expected = official_reference(released['state'], 'resnet18', official_eval_input(path, 160), BRANCH[160])
        torch.testing.assert_close(samples[path.name]['pred_score'], expected.softmax(1)[0], rtol=1e-4, atol=1e-5)


def test_eval_resolutions_matches_the_official_models_at_every_cell(released, tmp_path):
    out = tmp_path / 'sweep'
    run_tool('eval_resolutions.py', str(SAN_CONFIG), str(released['san']), '--resolutions', '224', '160', '96',
             '--no-costs', '--out', str(out), '--baseline', str(BASELINE_CONFIG), str(released['base']),
             *options(SAN_CONFIG, released['data']), timeout=600)
    rows = {(row['kind'], row['resolution']): row['cells']
            for row in json.loads(out.with_name('sweep.json').read_text())['rows']}
    labels = torch.tensor(released['labels'])
    for test_size in (224, 160, 96):
        inputs = torch.cat([official_eval_input(p, test_size) for p in released['images']])
        for train_size, branch in BRANCH.items():
            predicted = official_reference(released['state'], 'resnet18', inputs, branch).argmax(1)
            expected = 100.0 * float((predicted == labels).float().mean())
            assert rows['san', train_size][str(test_size)]['top1'] == pytest.approx(expected), (train_size, test_size)
        with torch.no_grad():
            expected = 100.0 * float((released['baseline'](inputs).argmax(1) == labels).float().mean())
        assert rows['baseline', 224][str(test_size)]['top1'] == pytest.approx(expected), test_size
    assert rows['san', 160]['160']['top1'] == 100.0


def test_calibrate_bn_and_export_load_the_converted_checkpoint(released, tmp_path):
    calibrated = tmp_path / 'calibrated.pth'
    run_tool('calibrate_bn.py', str(SAN_CONFIG), str(released['san']), '--resolutions', '176', '--num-batches', '1',
             '--out', str(calibrated), *options(SAN_CONFIG, released['data']), timeout=600)
    exported = tmp_path / 'r18_176px.pth'
    run_tool('export.py', str(SAN_CONFIG), str(calibrated), '--resolution', '176', '--mode', 'ideal', '--out',
             str(exported), timeout=600)
    plain = torch.load(exported, weights_only=True)['state_dict']
    assert 'backbone.timm_model.layer1.0.conv1.weight' in plain and 'head.fc.weight' in plain


def test_calibrate_bn_recalibrates_a_training_branch_in_place_when_asked(released, tmp_path):
    """--on-training recalibrate: the training branch's statistics are re-estimated (e.g. after a sampled
    training), its affine parameters kept, no new branch added; the default skips it."""
    before = torch.load(released['san'], weights_only=True)['state_dict']
    out = tmp_path / 'recalibrated.pth'
    run_tool('calibrate_bn.py', str(SAN_CONFIG), str(released['san']), '--resolutions', '160', '--num-batches', '1',
             '--on-training', 'recalibrate', '--out', str(out), *options(SAN_CONFIG, released['data']), timeout=600)
    after = torch.load(out, weights_only=True)['state_dict']
    means = [k for k in after if '.branches.160.' in k and k.endswith('running_mean')]
    assert means and any(not torch.equal(after[k], before[k]) for k in means)
    weights = [k for k in after if '.branches.160.' in k and k.endswith('.weight')]
    assert weights and all(torch.equal(after[k], before[k]) for k in weights)
    assert set(after) == set(before)  # no calibrated branch added
    skipped = tmp_path / 'skipped.pth'
    run_tool('calibrate_bn.py', str(SAN_CONFIG), str(released['san']), '--resolutions', '160', '--num-batches', '1',
             '--out', str(skipped), *options(SAN_CONFIG, released['data']), timeout=600)
    kept = torch.load(skipped, weights_only=True)['state_dict']
    assert all(torch.equal(kept[k], before[k]) for k in means)


def test_a_checkpoint_of_another_architecture_is_refused_and_nothing_written(released, tmp_path):
    out = tmp_path / 'r50.pth'
    done = run_tool('convert_official.py', str(released['root'] / 'checkpoint.pth.tar'), str(out), '--arch',
                    'resnet50', check=False, timeout=600)
    assert done.returncode != 0
    assert "'layer1.0.fc1.weight' has shape (36864, 1) in the checkpoint but (4096, 1)" in done.stderr
    assert not out.exists()
