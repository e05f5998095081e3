// Typesets the course website's TeX at build time, so its pages load no MathJax: reads a JSON list of
// [tex, display] pairs on stdin, writes {"svg": [...], "css": "..."}: each as SVG with hidden MathML for screen
// readers, and the style sheet those need.
const mathjax = require("mathjax");

let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", async () => {
  const MathJax = await mathjax.init({
    loader: { load: ["input/tex", "output/svg", "a11y/assistive-mml"] },
    tex: { packages: { "[+]": ["ams"] } },
    svg: { fontCache: "none" },
    startup: { typeset: false },
  });
  const adaptor = MathJax.startup.adaptor;
  const svg = [];
  for (const [tex, display] of JSON.parse(input)) {
    svg.push(adaptor.outerHTML(await MathJax.tex2svgPromise(tex, { display })));
  }
  process.stdout.write(JSON.stringify({ svg, css: adaptor.textContent(MathJax.svgStylesheet()) }));
});
