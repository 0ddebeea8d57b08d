"""The command line of a cascade bundle: ``python cascade_runtime.py [--bundle DIR] [--json OUT] IMAGE ...``.

Standalone: the last part of the bundle's runtime (:mod:`san_plugin.cascade.standalone`), where
``--bundle`` defaults to the runtime's own folder.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Sequence

from san_plugin.cascade.bundle import CascadeBundle


def main(argv: Sequence[str] | None = None) -> None:
    """``python cascade_runtime.py [--bundle DIR] [--json OUT] IMAGE ...``: one line per image."""
    import argparse
    parser = argparse.ArgumentParser(description='Classify images with a SAN cascade bundle')
    parser.add_argument('images', nargs='+')
    parser.add_argument('--bundle', default=str(Path(__file__).resolve().parent), help='default: this folder')
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--json', help='also write the results to this JSON file')
    args = parser.parse_args(argv)
    results = CascadeBundle(args.bundle).classify_files(args.images, args.batch_size)
    for r in results:
        name = f" ({r['class']})" if r['class'] else ''
        print(f"{r['path']}: class {r['label']}{name}, p={r['probability']:.3f}, stopped at {r['size']} px, "
              f"{r['gflops']:.4f} GFLOPs")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == '__main__':
    main(sys.argv[1:])
