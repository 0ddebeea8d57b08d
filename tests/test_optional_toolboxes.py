"""``pip install san_plugin`` without extras: the core and the timm glue work without OpenMMLab.

Each test runs in a fresh interpreter in which mmengine, mmcv and mmpretrain (and
matplotlib) cannot be imported, as on a machine where they are not installed.
"""
from toolbox_blocker import OPENMMLAB, run_without


def test_a_timm_user_needs_no_openmmlab():
    done = run_without(OPENMMLAB + ('matplotlib',), '''
        import timm
        import torch

        import san_plugin
        from san_plugin import bake, convert
        import san_plugin.cascade, san_plugin.deploy, san_plugin.evaluation  # toolbox-free as well
        import san_plugin.diagnostics.divergence, san_plugin.diagnostics.loss_scale, san_plugin.diagnostics.meta_report

        net = timm.create_model('san_resnet18', resolutions=[64, 32], num_classes=10).eval()
        with torch.no_grad():
            logits = net(torch.randn(2, 3, 48, 48))
        assert logits.shape == (2, 10)

        plain = bake(net, 48)
        timm.create_model('resnet18', num_classes=10).load_state_dict(plain.state_dict())
        converted, report = convert(timm.create_model('resnet18', num_classes=10), [64, 32], init='pretrained')
        assert report.convs > 0 and report.norms > 0

        for mm_only in ('san_plugin.mm', 'san_plugin.mm.sweep'):
            try:
                __import__(mm_only)
            except ImportError as error:
                assert 'pip install "san_plugin[mm]"' in str(error), error
                assert 'mmcv' in str(error) and 'mmpretrain' in str(error), error
            else:
                raise AssertionError(f'{mm_only} imported without OpenMMLab')

        from san_plugin.evaluation.sweep_report import plot_accuracy
        from san_plugin.evaluation.sweep_result import SweepResult, SweepRow
        try:
            plot_accuracy(SweepResult((32,), [SweepRow.san(32, {32: 50.0})]), 'never_written.png')
        except ImportError as error:
            assert 'pip install "san_plugin[plots]"' in str(error), error
        else:
            raise AssertionError('a plot was drawn without matplotlib')

        assert loaded_blocked() == [], loaded_blocked()
        print('timm user: OK')
    ''')
    assert 'timm user: OK' in done.stdout
