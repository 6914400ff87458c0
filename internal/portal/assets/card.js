// The card page of the billing pages (SPEC §14), with Stripe: the card is
// typed into Stripe's own field (an iframe of js.stripe.com) and the
// SetupIntent the server created is confirmed there with its client
// secret, so that no card number ever reaches the billing engine. Stripe
// then sends setup_intent.succeeded, whose webhook makes the card the
// account's method; until then Billing says the card is being confirmed.
(function () {
  'use strict';
  var form = document.getElementById('card-form');
  if (!form) return;
  var errors = document.getElementById('card-errors');
  var button = form.querySelector('button[type=submit]');
  var show = function (message) {
    errors.textContent = message;
    errors.hidden = false;
  };
  if (typeof Stripe !== 'function') {
    // Stripe.js did not load (offline, blocked): say so rather than
    // offer a form that cannot work.
    show(form.dataset.unavailable);
    button.disabled = true;
    return;
  }
  var stripe = Stripe(form.dataset.key, { locale: form.dataset.locale });
  var card = stripe.elements().create('card', { hidePostalCode: true });
  card.mount('#card-element');
  card.on('change', function (e) {
    if (e.error) show(e.error.message); else errors.hidden = true;
  });
  form.addEventListener('submit', function (e) {
    e.preventDefault();
    button.disabled = true;
    errors.hidden = true;
    stripe.confirmCardSetup(form.dataset.secret, {
      payment_method: { card: card, billing_details: { name: document.getElementById('holder').value } },
    }).then(function (result) {
      if (result.error) {
        show(result.error.message);
        button.disabled = false;
        return;
      }
      window.location.assign(form.dataset.return);
    });
  });
})();
