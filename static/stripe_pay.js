// The Stripe pay page: confirms in the browser; the order proceeds when Stripe's signed webhook
// arrives, not on return. Its data come from json_script blocks (no inline script: CSP).
(function () {
  "use strict";
  var read = function (id) { return JSON.parse(document.getElementById(id).textContent); };
  var stripe = Stripe(read("stripe-key"));
  var elements = stripe.elements({ clientSecret: read("stripe-secret") });
  elements.create("payment").mount("#payment-element");
  document.getElementById("stripe-pay").addEventListener("submit", function (event) {
    event.preventDefault();
    stripe.confirmPayment({ elements: elements, confirmParams: { return_url: read("stripe-return") } })
      .then(function (result) {
        if (result.error) { document.getElementById("payment-message").textContent = result.error.message; }
      });
  });
})();
