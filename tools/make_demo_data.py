"""Generates the embedded synthetic demo dataset (no downloads).

Usage:
    python tools/make_demo_data.py --out data/demo [--train-per-class N]
        [--val-per-class N] [--size S] [--seed K] [--overwrite]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from san_plugin.data import generate_dataset  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Parses arguments, generates the dataset and prints a one-line summary.

    Example:
        >>> main(["--out", "data/demo", "--train-per-class", "10"])  # doctest: +SKIP
        0
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="data/demo", help="output directory")
    parser.add_argument("--train-per-class", type=int, default=300)
    parser.add_argument("--val-per-class", type=int, default=60)
    parser.add_argument("--size", type=int, default=96, help="image side in pixels")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overwrite", action="store_true",
                        help="regenerate even if complete / replace train, val, meta.json")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        info = generate_dataset(args.out, num_train_per_class=args.train_per_class,
                                num_val_per_class=args.val_per_class, image_size=args.size,
                                seed=args.seed, overwrite=args.overwrite)
    except (FileExistsError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    action = "generated" if info["generated"] else "already complete, skipped"
    print(f"{info['root']}: {info['num_classes']} classes, {info['counts']['train']} train / "
          f"{info['counts']['val']} val images at {info['image_size']} px, seed {info['seed']} "
          f"({action} in {time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
