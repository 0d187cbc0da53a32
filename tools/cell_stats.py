"""Length of the exported code cells of every notebook in nbs/: median, 90th percentile, the longest.

    python tools/cell_stats.py          # summary and the ten longest cells
"""
import json, statistics
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def exported_cells():
    "(notebook, cell id, lines) of every `#| export` code cell."
    for path in sorted((ROOT / 'nbs').glob('*.ipynb')):
        for cell in json.loads(path.read_text())['cells']:
            lines = ''.join(cell['source']).splitlines()
            if cell['cell_type'] == 'code' and lines and lines[0].startswith('#| export'):
                yield path.stem, cell.get('id'), len([l for l in lines if not l.startswith('#|')])


if __name__ == '__main__':
    cells = list(exported_cells())
    sizes = sorted(n for *_, n in cells)
    print(f'{len(cells)} exported cells: median {statistics.median(sizes):.0f} lines, '
          f'90th percentile {sizes[int(0.9 * (len(sizes) - 1))]}, over 50 lines: {sum(n > 50 for n in sizes)}, longest {sizes[-1]}')
    for nb, cid, n in sorted(cells, key=lambda c: -c[2])[:10]: print(f'{n:4d}  {nb} {cid}')
