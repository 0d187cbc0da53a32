"""Write README.md from nbs/index.ipynb, the site's index page (what `nbdev_readme` does with Quarto, in pure Python).

    python tools/readme.py            # rewrite README.md
    python tools/readme.py --check    # exit 1, saying so, if README.md differs from what index.ipynb gives

Markdown cells are copied as they are, except that links to notebooks (`[Pose search](10_pose.ipynb)`) point into nbs/. Code cells become ```python blocks without their `#|` directive lines;
cells marked `#| hide` are left out, and outputs are never copied (they live on the website).
"""
from __future__ import annotations
import argparse, json, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEADER = '<!-- generated from nbs/index.ipynb by tools/readme.py: edit the notebook, not this file -->\n\n'


def readme_text(index: Path) -> str:
    "README.md's text for the notebook `index`."
    parts = []
    for cell in json.loads(index.read_text(encoding='utf-8'))['cells']:
        lines = ''.join(cell['source']).splitlines()
        directives = [l for l in lines if l.startswith('#|')]
        if any(d.split()[1:2] == ['hide'] for d in directives): continue
        body = '\n'.join(l for l in lines if not l.startswith('#|')).strip('\n')
        if not body.strip(): continue
        if cell['cell_type'] == 'markdown': body = re.sub(r'\]\((?![a-z]+:|#|/)([\w.-]+\.ipynb)', r'](nbs/\1', body)
        parts.append(body if cell['cell_type'] == 'markdown' else f'```python\n{body}\n```')
    return HEADER + '\n\n'.join(parts) + '\n'


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--check', action='store_true', help='only check that README.md is up to date')
    args = ap.parse_args()
    text, readme = readme_text(ROOT / 'nbs' / 'index.ipynb'), ROOT / 'README.md'
    if args.check:
        if readme.read_text(encoding='utf-8') != text: sys.exit('README.md is out of date: run python tools/readme.py')
        return
    readme.write_text(text, encoding='utf-8')


if __name__ == '__main__': main()
