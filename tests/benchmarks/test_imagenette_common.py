"""benchmarks/imagenette/common.py: one proxy row for baselines and SANs, and the reports' number formats."""
import math

from benchmarks.imagenette.common import fmt, fmt_minutes, proxy_row

BASELINE = {'rows': {'baseline': {'64': 70.0, '32': 50.0}}, 'proxy': {}}
SAN = {'rows': {'64': {'64': 72.0, '48': 66.0, '32': 40.0}, '32': {'64': 30.0, '48': 55.0, '32': 61.0}},
       'proxy': {'64': 64, '48': 64, '32': 32, '24': 32}}


def test_a_baseline_row_is_its_only_row():
    assert proxy_row(BASELINE) == {64: 70.0, 32: 50.0}


def test_a_san_row_takes_each_size_from_the_branch_its_proxy_names():
    assert proxy_row(SAN) == {64: 72.0, 48: 66.0, 32: 61.0}  # 24: named, never evaluated


def test_asked_sizes_come_back_in_order_with_none_where_missing():
    row = proxy_row(SAN, tests=[72, 64, 24])
    assert list(row) == [72, 64, 24] and row == {72: None, 64: 72.0, 24: None}
    assert proxy_row(BASELINE, tests=['32']) == {32: 50.0}


def test_formats():
    assert (fmt(None), fmt(math.nan), fmt(1.234), fmt(1.234, 1), fmt(0.5, sign=True)) == ('-', '-', '1.23', '1.2', '+0.50')
    assert (fmt_minutes(None), fmt_minutes(90)) == ('-', '1.5 min')
