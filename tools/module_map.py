"""The module map: each notebook, its module, lines and the package modules it imports (any upward import is flagged).

    python tools/module_map.py .        # this checkout
"""
import ast, re, sys
from pathlib import Path
root = Path(sys.argv[1]) / 'cryodrgn2'
mods = sorted(p.stem for p in root.glob('*.py') if p.stem not in ('__init__', '_modidx'))
def imports(m):
    out = set()
    for node in ast.walk(ast.parse((root / f'{m}.py').read_text())):
        if isinstance(node, ast.ImportFrom):
            name = node.module or ''
            if node.level == 1: out.add(name.split('.')[0])
            elif name.startswith('cryodrgn2.'): out.add(name.split('.')[1])
    return sorted(out & set(mods))
def nbname(m):
    head = (root / f'{m}.py').read_text().split('\n', 5)
    return next(re.search(r'nbs/([\w.-]+)\.ipynb', l).group(1) for l in head if 'File to edit' in l)
rows = sorted((nbname(m), m) for m in mods)
for nb, m in rows:
    n = len((root / f'{m}.py').read_text().splitlines())
    up = [d for d in imports(m) if nbname(d) >= nb]
    print(f'| {nb} | {m} | {n} | {", ".join(imports(m))} |' + (f' UPWARD: {up}' if up else ''))
print(len(mods), 'modules,', sum(len((root / f'{m}.py').read_text().splitlines()) for m in mods), 'lines')
