"""The pages users read (README.md, docs/, the results reports) name no machine's paths and no issue
numbers: what they describe must make sense in any checkout."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / 'README.md', *sorted((ROOT / 'docs').glob('*.md')),
         *sorted((ROOT / 'benchmarks' / 'results').rglob('*.md'))]
MACHINE_PATH = re.compile(r"(?<![\w.:/~$-])/(?:work|root|home|tmp|Users|mnt|scratch|data)(?=[/\s`'\")\],.;:]|$)")
"""An absolute path into a machine's own folders (``/work/...``, ``/home/me``, ``/tmp/x``); system paths
such as ``/proc/self`` and relative ones such as ``../shared/data`` are fine."""
ISSUE_REFERENCE = re.compile(r"\b(?:issues?|pull request|PR)\s*#?\s*\d+|(?<![\w&/#])#\d+\b|\bthe issue(?:'s)?\b",
                             re.IGNORECASE)
"""``issue 12``, ``Issue 24's``, ``#24``, ``the issue's targets``: the project's tracker, not the reader's."""
WORK_NOTE = re.compile(r"\bthe lead\b|\bsessions?\b|\bworktree\b|\bat filing\b|\bcommit [0-9a-f]{7,40}\b"
                       r"|<!--(?! results:(?:begin|end)\b)", re.IGNORECASE)
"""Notes about the project's own work (who ran what, in which session, at which commit) and HTML markers
other than the README's results block."""


def offending_lines(page: Path, pattern: re.Pattern, root: Path = ROOT) -> list[str]:
    """``FILE:LINE: 'what matched' in 'the line'`` for every line of ``page`` that ``pattern`` matches."""
    return [f'{page.relative_to(root)}:{number}: {match.group(0)!r} in {line.strip()[:100]!r}'
            for number, line in enumerate(page.read_text().splitlines(), start=1)
            for match in [pattern.search(line)] if match]


def test_the_patterns_find_what_they_should_and_only_that(tmp_path):
    page = tmp_path / 'page.md'
    page.write_text('run `python tools/train.py --work-dir /work/exp/x`\nsee Issue 24\nand #7\n'
                    'the issue\'s targets\nfine: /proc/self/clear_refs, ../shared/data/imagenette, 64/48/32 px, '
                    '[a](docs/x.md#heading-2), https://github.com/d-li14/SAN, lr/5, issues of scale\n')
    assert offending_lines(page, MACHINE_PATH, tmp_path) == [
        "page.md:1: '/work' in 'run `python tools/train.py --work-dir /work/exp/x`'"]
    assert [line.split(':')[1] for line in offending_lines(page, ISSUE_REFERENCE, tmp_path)] == ['2', '3', '4']
    page.write_text("<!-- results:begin (x) -->\n<!-- issue24-results -->\non the lead's SAN\nat commit 2f0d1ef\n")
    assert [line.split(':')[1] for line in offending_lines(page, WORK_NOTE, tmp_path)] == ['2', '3', '4']


@pytest.mark.parametrize('page', PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_absolute_machine_path(page):
    found = offending_lines(page, MACHINE_PATH)
    assert not found, 'absolute paths of a machine (write them relative to the checkout, or WORK_DIR / DATA):\n' + \
        '\n'.join(found)


@pytest.mark.parametrize('page', PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_issue_reference(page):
    found = offending_lines(page, ISSUE_REFERENCE)
    assert not found, 'issue references (say what the result or the target is instead):\n' + '\n'.join(found)


@pytest.mark.parametrize('page', PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_note_about_the_projects_own_work(page):
    found = offending_lines(page, WORK_NOTE)
    assert not found, 'notes about the project\'s own work (say what the result is, not who made it when):\n' + \
        '\n'.join(found)
