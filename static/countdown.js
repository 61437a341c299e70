// Live countdowns: <time data-countdown="ISO-8601">; the page itself states the absolute time too.
(function () {
  function pad(n) { return n < 10 ? "0" + n : "" + n; }
  // Days in the page's language: "2天 3:04:05" in Chinese, "2d 3:04:05" otherwise.
  var dayUnit = /^zh/i.test(document.documentElement.lang || "") ? "天 " : "d ";
  function tick() {
    document.querySelectorAll("time[data-countdown]").forEach(function (el) {
      var left = Math.floor((Date.parse(el.getAttribute("data-countdown")) - Date.now()) / 1000);
      if (isNaN(left)) { return; }
      if (left <= 0) { el.textContent = el.getAttribute("data-expired") || "0:00:00"; el.classList.add("breached"); return; }
      var d = Math.floor(left / 86400), h = Math.floor(left % 86400 / 3600), m = Math.floor(left % 3600 / 60), s = left % 60;
      el.textContent = (d ? d + dayUnit : "") + h + ":" + pad(m) + ":" + pad(s);
    });
  }
  tick();
  setInterval(tick, 1000);
})();
