"""``san_plugin.eval`` stays an alias of ``san_plugin.evaluation`` for one release."""
import importlib
import sys
import warnings


def test_old_name_gives_the_same_objects_with_a_deprecation_warning():
    sys.modules.pop('san_plugin.eval', None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        old = importlib.import_module('san_plugin.eval')
        from san_plugin.eval.measure import count_flops
    import san_plugin.evaluation as new
    assert any(issubclass(w.category, DeprecationWarning) and 'san_plugin.evaluation' in str(w.message)
               for w in caught)
    assert old.SweepResult is new.SweepResult and count_flops is new.count_flops
    assert set(old.__all__) == set(new.__all__)
