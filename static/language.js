// The language menu applies its choice at once (without script, its OK button does).
(function () {
  "use strict";
  var menu = document.getElementById("lang");
  if (menu) { menu.addEventListener("change", function () { menu.form.submit(); }); }
})();
