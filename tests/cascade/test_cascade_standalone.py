"""The bundle's runtime is generated from the library's own modules: the same lines, the same
decisions, and nothing of san_plugin imported."""
from __future__ import annotations

import ast
import importlib.util
import textwrap

import numpy as np
import pytest
import torch
from PIL import Image

from import_graph import relative_import_levels, third_party_roots
from san_plugin.cascade import bundle, rule, standalone
from san_plugin.evaluation import test_crop

SIZES = (16, 24, 32)


@pytest.fixture(scope='module')
def runtime(tmp_path_factory):
    """The generated runtime, imported as the module ``cascade_runtime`` from a file."""
    path = standalone.write_runtime(tmp_path_factory.mktemp('runtime'))
    spec = importlib.util.spec_from_file_location('cascade_runtime', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return path, module


def test_the_runtime_holds_every_definition_of_its_modules_verbatim_and_imports_no_san_plugin(runtime):
    path, _ = runtime
    text = path.read_text()
    for name in standalone.RUNTIME_MODULES:
        source = standalone.module_source(name)
        definitions = [node for node in ast.parse(source).body
                       if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.Assign))]
        assert definitions, name
        for node in definitions:
            assert ast.get_source_segment(source, node) in text, (name, node.lineno)
    assert third_party_roots(path) <= {'torch', 'numpy', 'PIL', 'onnxruntime'}
    assert relative_import_levels(path) == set()
    assert text.count('from __future__ import annotations') == 1 and text.rstrip().endswith('main(sys.argv[1:])')


def test_the_runtime_and_the_library_take_the_same_decisions(runtime):
    _, generated = runtime
    generator = torch.Generator().manual_seed(0)
    logits = {s: torch.randn(50, 6, generator=generator) * 3 for s in SIZES}
    probs = {s: torch.softmax(x, dim=1) for s, x in logits.items()}
    gflops = {16: 0.1, 24: 0.25, 32: 0.5}
    for score in rule.SCORES:
        for combine in rule.COMBINES:
            thresholds = [float(rule.confidence(probs[s], score).median()) for s in SIZES[:-1]]
            ours = rule.simulate_cascade(probs, SIZES, thresholds, score=score, combine=combine)
            theirs = generated.simulate_cascade(probs, SIZES, thresholds, score=score, combine=combine)
            ran = generated.run_cascade(lambda size, x: x, logits, SIZES, thresholds, score=score, combine=combine)
            assert len(set(ours.exit_stage.tolist())) == 3
            for other in (theirs, ran):
                assert torch.equal(other.exit_stage, ours.exit_stage)
                torch.testing.assert_close(other.probs, ours.probs, rtol=0, atol=1e-7)
            assert torch.equal(generated.charged_gflops(ours.exit_stage, SIZES, gflops),
                               rule.charged_gflops(ours.exit_stage, SIZES, gflops))
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (37, 52, 3), dtype=np.uint8))
    for rounding in ('round', 'floor'):
        assert np.array_equal(generated.center_crop(image, 24, rounding=rounding),
                              test_crop.center_crop(image, 24, rounding=rounding))
    assert generated.TEST_CROP_RATIO == test_crop.TEST_CROP_RATIO
    assert (generated.BUNDLE_FORMAT_ID, generated.BUNDLE_VERSION) == (bundle.BUNDLE_FORMAT_ID, bundle.BUNDLE_VERSION)


@pytest.mark.parametrize('modules, error', [
    ({'part_a': 'from san_plugin.core import bake\n'}, r'part_a line 1: a standalone module imports only names of '
                                                       r'the modules above it'),
    ({'part_a': 'def f():\n    from san_plugin import core\n'}, r'part_a line 2: imports san_plugin inside a '
                                                                  r'function'),
    ({'part_a': 'def f():\n    return 1\n', 'part_b': 'f = 2\n'}, r"part_b defines \['f'\] again"),
    ({'part_a': 'X = 1\n', 'part_b': 'from san_plugin.part_a import X as Y\n'}, r'part_b line 1: a standalone'),
])
def test_a_module_the_runtime_cannot_hold_is_refused_by_name(tmp_path, monkeypatch, modules, error):
    for name, source in modules.items():
        (tmp_path / f'{name}.py').write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(standalone, 'RUNTIME_MODULES', tuple(modules))
    with pytest.raises(ValueError, match=error):
        standalone.runtime_source()
