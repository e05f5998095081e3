"""The course website, read as a reader would: every page served on 127.0.0.1 and opened in headless Chromium."""
import functools
import os
import threading
import urllib.request
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from course_tools import config, notebook, site

REPO = "site-test-owner/site-test-release"
CHROMIUM = Path("/usr/bin/chromium")
AXE = config.ROOT / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
AXE_RUN = """axe.run(document, {resultTypes: ["violations"]}).then(result => result.violations
    .filter(v => ["serious", "critical"].includes(v.impact))
    .map(v => `${v.impact} ${v.id}: ${v.help} (${v.nodes.length} elements, e.g. ${v.nodes[0].target})`))"""
FIGURES = """[...document.querySelectorAll("img")].map(img => [img.alt, img.naturalWidth, img.getBoundingClientRect().width])"""


def secret_lines(solution_path: Path) -> set[str]:
    """Lines no page may show: answers, hidden tests and the outputs of answers and checks, less trivial ones
    (under 12 characters, or also in the student copy or in an output the page keeps)."""
    solution = notebook.read(solution_path)
    secret = set()
    for cell in solution.cells:
        secret |= notebook.secret_lines(cell)
        if site.answer_cell(cell):
            secret.update(line.strip() for text in output_texts(cell) for line in text.splitlines())
    page = site.lesson_notebook(solution_path, REPO)
    shown = "\n".join([c.source for c in page.cells] + [t for c in page.cells for t in output_texts(c)])
    return {line for line in secret if len(line) >= 12 and line not in shown}


def output_texts(cell) -> list[str]:
    return [output.get("text") or output.get("data", {}).get("text/plain", "") for output in cell.get("outputs", [])]


def watch(page, base: str) -> list[str]:
    """The page's console errors, script errors, failed requests and requests outside `base` (blocked), as they come."""
    found = []

    def route(route, request):
        if request.url.startswith(base):
            route.continue_()
        else:
            found.append(f"outside request: {request.url}")
            route.abort()

    page.on("console", lambda message: found.append(f"console: {message.text}") if message.type == "error" else None)
    page.on("pageerror", lambda error: found.append(f"script error: {error}"))
    page.on("requestfailed", lambda request: found.append(f"failed request: {request.url}"))
    page.on("response", lambda response: found.append(f"HTTP {response.status}: {response.url}")
            if response.status >= 400 else None)
    page.route("**/*", route)
    return found


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def served_site():
    """The site built for REPO into build/site/, served on 127.0.0.1: (base URL, pages)."""
    if not (CHROMIUM.exists() and AXE.exists()):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} or {AXE} is missing: .ci/run installs them (apt-get install chromium, npm ci).")
        pytest.skip("needs Debian's chromium and `npm ci` (see .ci/run)")
    out = config.BUILD / "site"
    pages = site.build(out, REPO)
    handler = functools.partial(QuietHandler, directory=str(out))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/", pages
    finally:
        server.shutdown()


def test_every_page_reads_well_in_chromium(served_site):
    from playwright.sync_api import sync_playwright

    base, pages = served_site
    shots = config.BUILD / "site-shots"
    shots.mkdir(parents=True, exist_ok=True)
    problems, links = [], set()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            for path in pages:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                found = watch(page, base)
                page.goto(base + path.name, wait_until="load")
                page.evaluate("window.MathJax.startup.promise")
                for alt, width, shown in page.evaluate(FIGURES):
                    if not (alt.strip() and width and shown):
                        found.append(f"figure not shown or without alt text (alt {alt!r})")
                text = page.inner_text("body")
                if path.stem[:2].isdigit():
                    solution = config.SOLUTIONS / f"{path.stem}.ipynb"
                    expected = config.colab_url(f"notebooks/{solution.name}", REPO)
                    colab = page.eval_on_selector_all("a[href*='colab.research.google.com']", "a => a.map(x => x.href)")
                    if not colab or set(colab) != {expected}:
                        found.append(f"Colab links {colab}, expected {expected}")
                    figures = sum("image/png" in o.get("data", {}) or 'class="animation"' in o.get("data", {}).get("text/html", "")
                                  for c in notebook.read(solution).cells if not site.answer_cell(c)
                                  for o in c.get("outputs", []))
                    if len(page.evaluate(FIGURES)) != figures:
                        found.append(f"{len(page.evaluate(FIGURES))} figures, the stored run has {figures}")
                    found += [f"shows a secret line: {line!r}" for line in secret_lines(solution) if line in text]
                hrefs = page.eval_on_selector_all("a[href]", "a => a.map(x => x.href)")
                links.update(h.split("#")[0] for h in hrefs if h.startswith(base))
                for href in hrefs:
                    anchor = href.partition("#")[2]
                    if href.startswith(base + path.name + "#") and not page.query_selector(f"[id='{anchor}']"):
                        found.append(f"link to a missing anchor: {href}")
                page.add_script_tag(path=str(AXE))
                found += page.evaluate(AXE_RUN)
                page.screenshot(path=str(shots / f"{path.stem}.png"), full_page=True)
                problems += [f"{path.name}: {problem}" for problem in found]
                page.close()
        finally:
            browser.close()
    for link in sorted(links):
        try:
            with urllib.request.urlopen(link) as response:
                response.read()
        except OSError as error:
            problems.append(f"internal link {link}: {error}")
    assert not problems, "\n".join(problems)


def test_pages_workflow_publishes_the_release_site_from_its_branch():
    workflow = yaml.safe_load(site.pages_workflow("trunk"))
    assert workflow[True]["push"]["branches"] == ["trunk"]  # YAML 1.1 reads the key `on` as True
    assert workflow["permissions"] == {"contents": "read", "pages": "write", "id-token": "write"}
    steps = {step["uses"].split("@")[0]: step for step in workflow["jobs"]["deploy"]["steps"]}
    assert steps["actions/upload-pages-artifact"]["with"] == {"path": "site"}
    assert "actions/deploy-pages" in steps and workflow["jobs"]["deploy"]["environment"]["name"] == "github-pages"
