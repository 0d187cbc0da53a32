"""The documentation website, built and read in a real browser.

Builds the site with `python tools/build_site.py` (into _site/, executing the notebooks), serves it on 127.0.0.1 (a
free port), opens the index and every notebook's page in headless Chromium (Debian's /usr/bin/chromium driven by
Python's playwright) and checks, against the notebooks themselves: the page's title, one entry per exported
function or class, a drawn plotly figure wherever the executed notebook shows one, rendered formulas, no script
error, and that no request left the machine (every non-local request is blocked and recorded).
Screenshots for review go to _docs_check/.

Needs Chromium (`apt-get install -y chromium`; .ci/run installs it when missing). Without it the test FAILS,
unless CRYODRGN2_SKIP_BROWSER=1. CHROMIUM=/path/to/chromium picks another binary.
"""
from __future__ import annotations
import ast, json, os, re, shutil, subprocess, sys, time
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'tools'))
import build_site  # noqa: E402

SITE, PROC, CHECK = ROOT / '_site', ROOT / '_proc', ROOT / '_docs_check'
SCREENSHOTS = ('index', 'pose', 'viz', 'train')  # pages whose top (and first figure) go to _docs_check/


def _chromium() -> str | None:
    for c in (os.environ.get('CHROMIUM'), '/usr/bin/chromium', shutil.which('chromium'), shutil.which('chromium-browser')):
        if c and Path(c).exists(): return c
    return None


def _need_browser():
    "Fail (not skip) when the browser or its driver is missing, unless CRYODRGN2_SKIP_BROWSER=1."
    why = None
    if _chromium() is None: why = 'Chromium not found (apt-get install -y chromium, or set CHROMIUM=/path)'
    else:
        try: import playwright.sync_api  # noqa: F401
        except ImportError: why = "Python package playwright missing (pip install -e '.[dev]')"
    if why is None: return
    if os.environ.get('CRYODRGN2_SKIP_BROWSER') == '1': pytest.skip(why + '; skipped because CRYODRGN2_SKIP_BROWSER=1')
    pytest.fail(why + '; set CRYODRGN2_SKIP_BROWSER=1 to skip this test instead', pytrace=False)


# ---------------------------------------------------------------- what each page must show, read from the notebooks
def _cells(nb: dict, kind: str) -> list[str]:
    return [''.join(c['source']) for c in nb['cells'] if c['cell_type'] == kind]


def _exported_names(nb: dict) -> list[str]:
    "Public functions and classes defined in `#| export(s)` cells: nbdev documents each one with show_doc."
    names = []
    for src in _cells(nb, 'code'):
        if not re.search(r'^#\|\s*exports?\s*$', src, re.M): continue
        for node in ast.parse(src).body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and not node.name.startswith('_'):
                names.append(_patched(node) or node.name)
    return names


def _patched(node) -> str | None:
    "`Cls.name` for a method added to Cls with fastcore's `@patch` (first argument `self:Cls`) or `@patch_to(Cls)`."
    for d in getattr(node, 'decorator_list', []):
        f = d.func if isinstance(d, ast.Call) else d
        if isinstance(f, ast.Name) and f.id == 'patch' and node.args.args and isinstance(node.args.args[0].annotation, ast.Name):
            return f'{node.args.args[0].annotation.id}.{node.name}'
        if isinstance(f, ast.Name) and f.id == 'patch_to' and isinstance(d, ast.Call) and isinstance(d.args[0], ast.Name):
            return f'{d.args[0].id}.{node.name}'
    return None


def _expected_pages() -> list[dict]:
    pages = []
    for f in sorted((ROOT / 'nbs').glob('*.ipynb')):
        nb = json.loads(f.read_text())
        h1 = next(m.group(1).strip() for s in _cells(nb, 'markdown') for m in [re.match(r'#\s+(.+)', s)] if m)
        exp = next((m.group(1) for s in _cells(nb, 'code') for m in [re.search(r'^#\|\s*default_exp\s+(\S+)', s, re.M)] if m), None)
        stem = exp.split('.')[-1] if exp else f.stem  # nbdev names a module's page after the module
        math = any(re.search(r'\$[^$\n]+\$', s) for s in _cells(nb, 'markdown'))
        pages.append(dict(nb=f.name, stem=stem, title=h1, api=_exported_names(nb), math=math))
    return pages


PAGES = _expected_pages()


def _has_figure(stem: str) -> bool:
    "Does the executed notebook (in _proc/) show a plotly figure?"
    nb = json.loads((PROC / f'{stem}.ipynb').read_text())
    return any(build_site.PLOTLY_MARK in ''.join(o.get('data', {}).get('text/html', ''))
               for c in nb['cells'] if c['cell_type'] == 'code' for o in c.get('outputs', []))


# ---------------------------------------------------------------- fixtures: build, serve, browse
@pytest.fixture(scope='module')
def site():
    _need_browser()
    t0 = time.time()
    r = subprocess.run([sys.executable, str(ROOT / 'tools' / 'build_site.py'), '--proc', str(PROC), '--out', str(SITE)],
                       cwd=ROOT, capture_output=True, text=True, timeout=900)
    print(r.stdout[-3000:])
    assert r.returncode == 0, f'site build failed:\n{r.stdout[-3000:]}\n{r.stderr[-5000:]}'
    print(f'site built in {time.time() - t0:.0f} s')
    srv, url = build_site.serve(SITE)
    yield url
    srv.shutdown()


@pytest.fixture(scope='module')
def browser(site):
    """One Chromium context for all pages (plotly.js and MathJax load once, then come from the cache). Every request to a
    host other than 127.0.0.1 goes to a proxy that does not exist, so it fails; each one is recorded (see open_page)."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=_chromium(), args=['--no-sandbox', '--disable-gpu'],
                              proxy={'server': 'http://127.0.0.1:9', 'bypass': '127.0.0.1'})
        ctx = b.new_context(viewport={'width': 1400, 'height': 1000})
        yield ctx
        b.close()


@pytest.fixture(scope='module')
def outside():
    "Every request that was meant to leave 127.0.0.1, per page."
    return {}


def open_page(ctx, url: str, outside: dict, name: str):
    page = ctx.new_page()
    errors, sent = [], outside.setdefault(name, [])
    local = ('data:', 'blob:', 'about:', url)
    page.on('request', lambda r: None if r.url.startswith(local) else sent.append(r.url))
    page.on('pageerror', lambda e: errors.append(str(e)))
    page.goto(url + name + '.html', wait_until='load')
    return page, errors


def test_every_notebook_is_a_page(site):
    built = {p.stem for p in SITE.glob('*.html')}
    missing = [p['nb'] for p in PAGES if p['stem'] not in built]
    assert not missing, f'notebooks without a page: {missing}'
    assert 'index' in built


@pytest.mark.parametrize('pg', PAGES, ids=[p['stem'] for p in PAGES])
def test_page(browser, site, outside, pg):
    page, errors = open_page(browser, site, outside, pg['stem'])
    try:
        # title: the notebook's H1, as the page's <h1> and in the window title
        assert page.locator('h1').first.inner_text().strip() == pg['title']
        assert pg['title'] in page.title()
        # API entries: one heading per exported public name, from show_doc, with its signature and docstring
        headings = set(page.locator('.cell-output-markdown :is(h2,h3,h4)').all_inner_texts())
        missing = [n for n in pg['api'] if n not in headings]
        assert not missing, f"{pg['stem']}: no API entry for {missing}"
        if pg['api']: assert page.locator('.cell-output-markdown pre code').count() >= len(set(pg['api']))
        # plotly figures, drawn (an svg inside each .js-plotly-plot), wherever the notebook shows one
        if _has_figure(pg['stem']):
            page.wait_for_selector('.js-plotly-plot .main-svg', timeout=20_000)
            n = page.locator('.js-plotly-plot').count()
            drawn = page.evaluate("[...document.querySelectorAll('.js-plotly-plot')].filter(d => d.querySelector('svg')).length")
            assert n > 0 and drawn == n, f"{pg['stem']}: {drawn} of {n} plotly figures drawn"
        # formulas typeset by the local MathJax
        if pg['math']:
            page.wait_for_selector('.MathJax, .MathJax_Display', timeout=20_000)
            page.wait_for_function('window.MathJax && MathJax.Hub.queue.pending === 0 && !MathJax.Hub.queue.running', timeout=20_000)
            assert page.locator('.MathJax_Error, .merror').count() == 0, f"{pg['stem']}: MathJax could not typeset a formula"
        if pg['stem'] in SCREENSHOTS:
            CHECK.mkdir(exist_ok=True)
            page.wait_for_timeout(500)
            page.screenshot(path=str(CHECK / f"{pg['stem']}.png"))
            if page.locator('.js-plotly-plot').count():  # and the first figure, scrolled into view
                page.locator('.cell-output-display:has(.js-plotly-plot)').first.screenshot(path=str(CHECK / f"{pg['stem']}-figure.png"))
        assert not errors, f"{pg['stem']}: script errors {errors}"
        assert not outside.get(pg['stem']), f"{pg['stem']}: requests to outside the machine: {outside[pg['stem']]}"
    finally:
        page.close()


def test_site_is_self_contained(site):
    "No page or stylesheet refers to a script, stylesheet, font or image outside the site."
    pat = re.compile(r'''(?:src=|<link[^>]*href=|@import\s+url\(|url\()\s*["']?(https?:)?//''')
    bad = [f'{p.relative_to(SITE)}: {m.group(0)}' for p in list(SITE.rglob('*.html')) + list(SITE.rglob('*.css'))
           for m in pat.finditer(p.read_text(errors='ignore'))]
    assert not bad, '\n'.join(bad[:20])
