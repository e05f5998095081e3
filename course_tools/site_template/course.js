// Output boxes that scroll sideways (a wide table, a figure on a phone) scroll from the keyboard too.
window.addEventListener("load", () => {
  for (const box of document.querySelectorAll("div.cell_output, div.cell_output .output")) {
    if (box.scrollWidth > box.clientWidth + 1) box.tabIndex = 0;
  }
});
