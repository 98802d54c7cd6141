// Keep filter URLs short and bookmarkable: empty GET parameters are not sent (nor pushed to the address bar).
document.addEventListener("htmx:configRequest", function (e) {
  if (e.detail.verb !== "get") return;
  for (const key of Object.keys(e.detail.parameters)) {
    if (e.detail.parameters[key] === "") delete e.detail.parameters[key];
  }
});

// «Отметить все»: a checkbox with data-check-all="<selector>" sets every box it names (no inline handlers: CSP).
document.addEventListener("change", function (e) {
  const box = e.target.closest && e.target.closest("input[data-check-all]");
  if (!box) return;
  document.querySelectorAll(box.dataset.checkAll).forEach(function (c) { c.checked = box.checked; });
});
