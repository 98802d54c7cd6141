// Keep filter URLs short and bookmarkable: empty GET parameters are not sent (nor pushed to the address bar).
document.addEventListener("htmx:configRequest", function (e) {
  if (e.detail.verb !== "get") return;
  for (const key of Object.keys(e.detail.parameters)) {
    if (e.detail.parameters[key] === "") delete e.detail.parameters[key];
  }
});
