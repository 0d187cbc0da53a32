"""The documentation website, built and read in a real browser.

Builds the site with `python tools/build_site.py` (into _site/, executing the notebooks), serves it on 127.0.0.1 (a
free port), opens the index and every notebook's page in headless Chromium (Debian's /usr/bin/chromium driven by
Python's playwright) at 1280 px and checks, against the notebooks themselves: the page's title, one entry per
exported function or class, a drawn plotly figure wherever the executed notebook shows one, rendered formulas and no
raw TeX left in the visible text, no code block (nor display formula) wider than its box, a link to the next page,
no script error, and that no request left the machine (every non-local request is blocked and recorded); and that
the site's search finds the API entry of a function and the section of a command.
Screenshots for review go to _docs_check/.

CRYODRGN2_SITE_BUILT=1 reads the _site/ and _proc/ already built instead of building them (what a run of
`python tools/build_site.py` just made; the build itself executes only the notebooks changed since the last one).

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
SCREENSHOTS = ('index', 'pose', 'viz', 'train', 'vae')  # pages whose top (and first figure) go to _docs_check/
SECTIONS = {'index': ('command-line', 'your-own-data')}  # and these sections (ids), where the page has them
WIDTH = 1280           # px: the browser window the pages are read in
OVERFLOW_BUDGET = 2    # px: how far a code block (or a display formula) may run past its box
# TeX that a reader must never see: display delimiters, \( \[ delimiters, and any \command (outside code and rendered maths)
RAW_TEX = r'\$\$|\\[(\[]|\\[A-Za-z]{2,}'


def _screenshot_at(page, selector: str, path: Path, block: str = 'start') -> None:
    "A screenshot of the window scrolled to the first element that `selector` finds (at once: the theme scrolls smoothly)."
    page.locator(selector).first.evaluate('(e, block) => e.scrollIntoView({block, behavior: "instant"})', block)
    if block == 'start': page.evaluate('window.scrollBy({top: -70, behavior: "instant"})')  # out from under the navbar
    page.wait_for_timeout(300)
    page.screenshot(path=str(path))


def _raw_tex(page) -> list[str]:
    "The visible text nodes, outside code and rendered maths, that hold raw TeX (`$$`, `\\frac`, `\\(`...), each in context."
    return page.evaluate("""(pat) => {
      const skip = 'script, style, pre, code, .MathJax, .MathJax_Display, .MathJax_Preview, .MJX_Assistive_MathML, .katex';
      const re = new RegExp(pat), out = [];
      const w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
      for (let n = w.nextNode(); n; n = w.nextNode()) {
        const el = n.parentElement;
        if (!el || el.closest(skip) || !el.getClientRects().length) continue;
        const m = re.exec(n.textContent);
        if (m) out.push(n.textContent.slice(Math.max(0, m.index - 40), m.index + 60).replace(/\\s+/g, ' '));
      }
      return out;
    }""", RAW_TEX)


def _overflow(page) -> dict:
    """How far each visible code block (and display formula) runs past its box, in px, the page's own horizontal
    scroll, how many code lines wrap (informative: a line wider than the column wraps under its indentation), and
    the code blocks whose copied text (innerText) differs from their code."""
    return page.evaluate("""() => {
      const over = [];
      for (const el of document.querySelectorAll('main pre, main .MathJax_Display')) {
        if (!el.getClientRects().length) continue;
        const px = el.scrollWidth - el.clientWidth;
        if (px > 0) over.push({px, line: el.innerText.split('\\n').reduce((a, b) => a.length >= b.length ? a : b, '').slice(0, 100)});
      }
      let lines = 0, wrapped = 0;
      for (const l of document.querySelectorAll('main pre .sd-line')) {
        if (!l.getClientRects().length) continue;
        lines++;
        if (l.getClientRects().length > 1 || l.getBoundingClientRect().height > 1.5 * parseFloat(getComputedStyle(l).lineHeight)) wrapped++;
      }
      // what the copy button copies (innerText) is the code as written (textContent), line spans or not
      const copy = [...document.querySelectorAll('main pre code')].filter(c =>
        c.innerText.replace(/\\n+$/, '') !== c.textContent.replace(/\\n+$/, '')).map(c => c.textContent.slice(0, 80));
      return {over, page: document.documentElement.scrollWidth - document.documentElement.clientWidth, lines, wrapped, copy};
    }""")


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
ORDER = sorted(PAGES, key=lambda p: p['stem'] != 'index')  # the sidebar's order: the index, then the notebooks


def _has_figure(stem: str) -> bool:
    "Does the executed notebook (in _proc/) show a plotly figure?"
    nb = json.loads((PROC / f'{stem}.ipynb').read_text())
    return any(build_site.PLOTLY_MARK in ''.join(o.get('data', {}).get('text/html', ''))
               for c in nb['cells'] if c['cell_type'] == 'code' for o in c.get('outputs', []))


# ---------------------------------------------------------------- fixtures: build, serve, browse
@pytest.fixture(scope='module')
def site():
    _need_browser()
    if os.environ.get('CRYODRGN2_SITE_BUILT') == '1':
        assert (SITE / 'index.html').exists() and PROC.exists(), 'CRYODRGN2_SITE_BUILT=1 but no _site/ and _proc/ built'
        srv, url = build_site.serve(SITE)
        yield url
        srv.shutdown()
        return
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
        ctx = b.new_context(viewport={'width': WIDTH, 'height': 1000})
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
        page.wait_for_function('!window.MathJax || (MathJax.Hub && MathJax.Hub.queue.pending === 0 && !MathJax.Hub.queue.running)',
                               timeout=20_000)
        assert page.locator('.MathJax_Error, .merror').count() == 0, f"{pg['stem']}: MathJax could not typeset a formula"
        # no raw TeX in what the reader sees: every formula rendered (a `$$` split by a list item, a `\frac` in a
        # paragraph, a formula that MathJax never found all show here)
        raw = _raw_tex(page)
        assert not raw, f"{pg['stem']}: {len(raw)} fragments of raw TeX in the visible text:\n" + '\n'.join(raw[:10])
        # code fits the page: no code block (or display formula) runs past its box by more than the budget
        o = _overflow(page)
        print(f"{pg['stem']}: {o['lines']} code lines, {o['wrapped']} wrapped; worst overflow "
              f"{max([x['px'] for x in o['over']], default=0)} px")
        too_wide = sorted((x for x in o['over'] if x['px'] > OVERFLOW_BUDGET), key=lambda x: -x['px'])
        assert not too_wide, (f"{pg['stem']}: {len(too_wide)} code blocks wider than their box at {WIDTH} px (budget "
                              f"{OVERFLOW_BUDGET} px):\n" + '\n'.join(f"{x['px']} px: {x['line']}" for x in too_wide[:10]))
        assert o['page'] <= OVERFLOW_BUDGET, f"{pg['stem']}: the page scrolls sideways by {o['page']} px at {WIDTH} px"
        assert not o['copy'], f"{pg['stem']}: copying these wrapped code blocks would not give the code: {o['copy'][:3]}"
        # what to read next: a link to the next page of the sidebar at the end of the page
        i = [p['stem'] for p in ORDER].index(pg['stem'])
        if i + 1 < len(ORDER):
            nxt = page.locator('.page-navigation .nav-page-next a')
            assert nxt.count() == 1 and nxt.get_attribute('href') == f"{ORDER[i + 1]['stem']}.html", \
                f"{pg['stem']}: no link to the next page, {ORDER[i + 1]['stem']}.html"
        if pg['stem'] in SCREENSHOTS:
            CHECK.mkdir(exist_ok=True)
            page.wait_for_timeout(500)
            page.screenshot(path=str(CHECK / f"{pg['stem']}.png"))
            if page.locator('.js-plotly-plot').count():  # and the first figure, scrolled into view
                page.locator('.cell-output-display:has(.js-plotly-plot)').first.screenshot(path=str(CHECK / f"{pg['stem']}-figure.png"))
            if page.locator('.MathJax_Display').count():  # and the first display formula, with the text around it
                _screenshot_at(page, 'main p:has(.MathJax_Display)', CHECK / f"{pg['stem']}-formula.png", 'center')
            for section in SECTIONS.get(pg['stem'], ()):  # and sections named in SECTIONS, from their heading
                if page.locator(f'[id="{section}"]').count():
                    _screenshot_at(page, f'[id="{section}"]', CHECK / f"{pg['stem']}-{section}.png")
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


def _commands() -> list[str]:
    "The `cryodrgn2` commands, from the command line's own parser."
    import argparse
    from cryodrgn2.cli import build_parser
    return list(next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices)


SEARCH = """async (queries) => {
  const box = document.querySelector('.smalldocs-search'), input = box.querySelector('input');
  const res = box.querySelector('.smalldocs-search-results'), out = {};
  for (const q of queries) {
    res.innerHTML = '';
    input.value = q; input.dispatchEvent(new Event('input'));
    for (let t = 0; t < 250 && !res.innerHTML; t++) await new Promise(r => setTimeout(r, 20));
    out[q] = [...res.querySelectorAll('a.search-result')].map(a => ({
      href: a.getAttribute('href').replace(/^\\.\\//, ''),
      section: (a.querySelector('.search-result-section') || {}).textContent || ''}));
  }
  return out;
}"""


def test_search_finds_functions_and_commands(browser, site, outside):
    """The search box finds a function by its name (its API entry among the first 3 results) and a command: `cryodrgn2
    CMD` gives the command's section first, and CMD alone among the first 5 (after a function of the same name). Every
    exported name has its entry in search.json; the first of each page and every command are typed into the search box
    of the index."""
    entries = json.loads((SITE / 'search.json').read_text())
    sections = {(e['href'].split('#')[0], e['section']) for e in entries if '#' in e['href']}
    missing = [f"{p['stem']}: {n}" for p in PAGES for n in p['api'] if (f"{p['stem']}.html", n) not in sections]
    assert not missing, f'API entries missing from search.json: {missing[:20]}'
    commands = _commands()
    no_entry = [c for c in commands if not any(e['section'] == f'cryodrgn2 {c}' for e in entries)]
    assert not no_entry, f'commands missing from search.json: {no_entry}'
    names = {p['api'][0]: f"{p['stem']}.html" for p in PAGES if p['api']}  # the first API entry of each page
    page, errors = open_page(browser, site, outside, 'index')
    try:
        found = page.evaluate(SEARCH, list(names) + commands + [f'cryodrgn2 {c}' for c in commands])
    finally:
        page.close()
    bad = [f'{n}: {[h["href"] for h in found[n][:3]]}' for n, file in names.items()
           if not any(h['href'].startswith(file + '#') and h['section'] == n for h in found[n][:3])]
    for q, top in [(f'cryodrgn2 {c}', 1) for c in commands] + [(c, 5) for c in commands]:
        if not any(h['section'] == f'cryodrgn2 {q.split()[-1]}' for h in found[q][:top]):
            bad.append(f'{q} (first {top}): {[h["section"] for h in found[q][:top]]}')
    assert not bad, 'the search does not find:\n' + '\n'.join(bad)
    for c in commands:  # and the section it points to is on its page
        href = next(h['href'] for h in found[c] if h['section'] == f'cryodrgn2 {c}')
        file, _, anchor = href.partition('#')
        assert (SITE / file).exists() and (not anchor or f'id="{anchor}"' in (SITE / file).read_text()), f'{c}: {href} is not a section'
    assert not errors, f'script errors {errors}'


def test_internal_links(site):
    "Every link from a page to a page of the site (a notebook's `[Pose search](10_pose.ipynb)` included) lands on a page and section that exist."
    ids = {p.name: set(re.findall(r'\sid="([^"]+)"', p.read_text())) for p in SITE.glob('*.html')}
    bad = []
    for p in SITE.glob('*.html'):
        for href in re.findall(r'<a\s[^>]*href="([^"#:?]*\.(?:html|ipynb)|[^"#:?]*\.html#[^"]*|#[^"]+)"', p.read_text()):
            file, _, anchor = href.partition('#')
            target = Path(file).name if file else p.name
            if target not in ids or (anchor and anchor not in ids[target]): bad.append(f'{p.name}: {href}')
    assert not bad, f'{len(bad)} broken links:\n' + '\n'.join(sorted(set(bad))[:30])


def test_start_here(site):
    "The index's reading path links the demo, the tutorial on your own map, the pose search and the real-data workflow, in that order."
    sec = (SITE / 'index.html').read_text().split('id="start-here', 1)[1].split('<section', 1)[0]
    path = sec.split('<ol', 1)[1].split('</ol>', 1)[0]  # "Then read, in this order:"
    files = list(dict.fromkeys(h.split('#')[0] or 'index.html' for h in re.findall(r'<a href="([^"]+)"', path)))
    assert files == ['results.html', 'tutorial_your_map.html', 'pose.html', 'index.html'], files
