// The compose page (issue 13): the chosen photos' sizes go to the per-network preview in a hidden field (the preview
// request never carries the files themselves). No inline script: CSP.
document.addEventListener("change", function (e) {
  const input = e.target.closest && e.target.closest("input[type=file][data-sizes-into]");
  if (!input) return;
  const into = document.getElementById(input.dataset.sizesInto);
  if (into) into.value = Array.from(input.files || []).map(function (f) { return f.size; }).join(",");
});
