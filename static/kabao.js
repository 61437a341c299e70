// Kabao's small behaviours, served by the app itself (no outside scripts).
(function () {
  "use strict";

  // <div data-poll="url" data-poll-seconds="2">: replace the element with the fragment the URL
  // returns until the fragment no longer asks to be polled (the order was delivered, cancelled…).
  function poll(el) {
    var seconds = parseFloat(el.getAttribute("data-poll-seconds") || "3");
    setTimeout(function () {
      fetch(el.getAttribute("data-poll"), { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
        .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.text(); })
        .then(function (html) {
          var box = document.createElement("div");
          box.innerHTML = html.trim();
          var fresh = box.firstElementChild;
          el.replaceWith(fresh);
          if (fresh.hasAttribute("data-poll")) { poll(fresh); }
          document.dispatchEvent(new CustomEvent("kabao:updated"));
        })
        .catch(function () { poll(el); });
    }, seconds * 1000);
  }
  document.querySelectorAll("[data-poll]").forEach(poll);

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) { return navigator.clipboard.writeText(text); }
    var area = document.createElement("textarea");
    area.value = text; area.setAttribute("readonly", ""); area.style.position = "fixed"; area.style.opacity = "0";
    document.body.appendChild(area); area.select();
    try { document.execCommand("copy"); } finally { document.body.removeChild(area); }
    return Promise.resolve();
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-copy]");
    if (button) {
      var label = button.getAttribute("data-label") || button.textContent;
      button.setAttribute("data-label", label);
      copyText(button.getAttribute("data-copy")).then(function () {
        button.textContent = button.getAttribute("data-copied") || "✓";
        button.classList.add("done");
        setTimeout(function () { button.textContent = label; button.classList.remove("done"); }, 2500);
      });
    }
    if (event.target.closest("button[data-print]")) { window.print(); }
  });

  // <form data-upload-progress>: send a chosen file with XMLHttpRequest to show its progress, then
  // show the page the server answers (the upload report) as a normal submit would.
  document.querySelectorAll("form[data-upload-progress]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      var file = form.querySelector("input[type=file]");
      if (!file || !file.files.length || !window.FormData) { return; }
      event.preventDefault();
      var bar = form.querySelector("progress"), text = form.querySelector("[data-progress-text]");
      var wrap = form.querySelector(".upload-progress");
      if (wrap) { wrap.hidden = false; }
      form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action || window.location.href);
      xhr.upload.addEventListener("progress", function (e) {
        if (!e.lengthComputable) { return; }
        var pct = Math.round(e.loaded / e.total * 100);
        if (bar) { bar.value = pct; }
        if (text) { text.textContent = pct + " %"; }
      });
      xhr.upload.addEventListener("load", function () {
        if (bar) { bar.value = 100; bar.removeAttribute("value"); }
        if (text) { text.textContent = text.getAttribute("data-checking") || "…"; }
      });
      xhr.addEventListener("load", function () {
        document.open(); document.write(xhr.responseText); document.close();
      });
      xhr.addEventListener("error", function () {
        if (text) { text.textContent = text.getAttribute("data-failed") || "!"; }
        form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = false; });
      });
      xhr.send(new FormData(form));
    });
  });
})();
