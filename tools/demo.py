"""`make demo`: generate the embedded dataset, train a small SAN on the CPU, sweep resolutions.

    python tools/demo.py [--data data/demo] [--work-dir work_dirs/demo] [--epochs N]

1. writes the generated dataset (deterministic, ImageNet folder layout) unless present;
2. trains configs/demo/san_resnet18_demo.py with tools/train.py;
3. evaluates the last checkpoint at a spread of test resolutions with
   tools/eval_resolutions.py and prints the per-resolution accuracy table.
"""
import argparse
import os
import subprocess
import sys
from pathlib import Path

from san_plugin.data import generate_dataset

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / 'configs' / 'demo' / 'san_resnet18_demo.py'
TEST_RESOLUTIONS = ['80', '72', '64', '56', '48', '40', '32', '24']


def run(args: list[str]) -> None:
    print('+', ' '.join(args), flush=True)
    subprocess.run([sys.executable, *args], cwd=ROOT, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data', default='data/demo')
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--epochs', type=int, help='override the config\'s epochs')
    args = parser.parse_args()

    info = generate_dataset(ROOT / args.data)
    print(f'dataset: {args.data} ({info})', flush=True)
    options = [f'train_dataloader.dataset.data_root={args.data}', f'val_dataloader.dataset.data_root={args.data}',
               f'test_dataloader.dataset.data_root={args.data}']
    if args.epochs:
        options += [f'train_cfg.max_epochs={args.epochs}', f'train_cfg.val_interval={args.epochs}',
                    f'param_scheduler.1.T_max={args.epochs - 1}', f'param_scheduler.1.end={args.epochs}']
    run(['tools/train.py', str(CONFIG), '--work-dir', args.work_dir, '--cfg-options', *options])
    checkpoint = (ROOT / args.work_dir / 'last_checkpoint').read_text().strip()
    run(['tools/eval_resolutions.py', str(CONFIG), checkpoint, '--resolutions', *TEST_RESOLUTIONS,
         '--out', os.path.join(args.work_dir, 'sweep'), '--latency-batch', '1', '--cfg-options', *options])


if __name__ == '__main__':
    main()
