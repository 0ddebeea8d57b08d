"""The top-level API: ``san_plugin.__all__`` names every public object ``import san_plugin`` gives."""
import inspect

import san_plugin


def test_all_lists_every_public_name_of_the_package():
    public = {name for name, value in vars(san_plugin).items()
              if not name.startswith('_') and not inspect.ismodule(value)}
    assert set(san_plugin.__all__) == public
    assert 'from_official' in san_plugin.__all__ and callable(san_plugin.from_official)
