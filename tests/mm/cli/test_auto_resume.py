"""apply_auto_resume: resume when the work dir holds a checkpoint, start as configured otherwise."""
from __future__ import annotations

import pytest
from mmengine.config import Config

from san_plugin.mm.cli.auto_resume import apply_auto_resume


def config(work_dir) -> Config:
    return Config(dict(work_dir=str(work_dir), resume=False, load_from='init.pth'))


def test_an_empty_or_missing_work_dir_starts_as_configured(tmp_path):
    for work_dir in (tmp_path / 'missing', tmp_path):
        cfg = config(work_dir)
        assert apply_auto_resume(cfg) is None
        assert (cfg.resume, cfg.load_from) == (False, 'init.pth')  # the initial weights are kept


def test_a_work_dir_with_a_checkpoint_resumes_from_it(tmp_path, monkeypatch):
    (tmp_path / 'iter_4.pth').write_bytes(b'')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_4.pth'))
    monkeypatch.setenv('TORCHELASTIC_RESTART_COUNT', '2')
    cfg = config(tmp_path)
    assert apply_auto_resume(cfg) == str(tmp_path / 'iter_4.pth')
    assert (cfg.resume, cfg.load_from) == (True, str(tmp_path / 'iter_4.pth'))


def test_a_pointer_to_a_missing_checkpoint_is_an_error_naming_both(tmp_path):
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_9.pth'))
    with pytest.raises(FileNotFoundError, match=f'last_checkpoint names {tmp_path / "iter_9.pth"}'):
        apply_auto_resume(config(tmp_path))
