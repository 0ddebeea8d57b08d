"""The one markdown table writer of the benchmark reports."""
import pytest

from benchmarks.markdown import markdown_table


def test_a_table_is_its_header_the_rule_and_one_line_per_row():
    assert markdown_table(['S', 'top-1 (%)', 'note'], [[64, '78.75', ''], ['mean', None, '-']]) == [
        '| S | top-1 (%) | note |', '|---|---|---|', '| 64 | 78.75 | |', '| mean | None | - |']
    assert markdown_table(['only'], []) == ['| only |', '|---|']


def test_a_row_of_another_width_is_refused_naming_it():
    with pytest.raises(ValueError, match=r"a table row of 1 cells under a header of 2: \['lonely'\]"):
        markdown_table(['a', 'b'], [['x', 'y'], ['lonely']])
