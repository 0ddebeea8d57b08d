"""README.md stays a first-ten-minutes page, and every relative link in it and in docs/ resolves."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / 'README.md', *sorted((ROOT / 'docs').glob('*.md'))]
README_MAX_LINES = 250  # issue 25: the rest belongs in docs/


def heading_anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation but '-' and '_' dropped, spaces to '-'."""
    return re.sub(r'[^\w\- ]', '', heading.strip().lower()).replace(' ', '-')


def anchors(page: Path) -> set[str]:
    found, in_code = set(), False
    for line in page.read_text().splitlines():
        if line.startswith('```'):
            in_code = not in_code
        elif not in_code and re.match(r'#{1,6} ', line):
            found.add(heading_anchor(line.lstrip('#')))
    return found


def relative_links(page: Path) -> list[str]:
    prose = re.sub(r'```.*?```', '', page.read_text(), flags=re.S)
    return [target for target in re.findall(r'\]\(([^)\s]+)\)', prose) if not re.match(r'[a-z]+:', target)]


def test_heading_anchor_follows_github():
    assert heading_anchor("Performance on a GPU (`benchmarks/gpu/check.sh`)") == 'performance-on-a-gpu-benchmarksgpuchecksh'
    assert heading_anchor("ImageNet (the paper's recipe)") == 'imagenet-the-papers-recipe'


def test_readme_fits_the_first_ten_minutes():
    lines = (ROOT / 'README.md').read_text().count('\n')
    assert lines <= README_MAX_LINES, f'README.md has {lines} lines; move details to a docs/ page'


@pytest.mark.parametrize('page', PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_anchor_resolves(page):
    broken = []
    for target in relative_links(page):
        path, _, anchor = target.partition('#')
        destination = (page.parent / path).resolve() if path else page
        if not destination.exists():
            broken.append(f'{target} (no such file)')
        elif anchor and destination.suffix == '.md' and anchor not in anchors(destination):
            broken.append(f'{target} (no such heading)')
    assert not broken, f'{page.relative_to(ROOT)}: ' + ', '.join(broken)


def test_readme_maps_every_docs_page():
    readme = (ROOT / 'README.md').read_text()
    missing = [p.name for p in PAGES[1:] if f'](docs/{p.name})' not in readme]
    assert not missing, f'README.md does not link these docs pages: {missing}'
