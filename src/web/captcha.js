// Passerelle's CAPTCHA without reading: the browser finds a nonce such that
// SHA-256("salt:nonce") starts with the number of zero bits the server asks for, puts it in
// the hidden field captcha_work, and the code of the image is no longer needed. Without
// script (or without WebCrypto), the image code stays required. No third-party service.
(function () {
  "use strict";
  var box = document.querySelector("fieldset.captcha[data-work-salt]");
  if (!box || !window.crypto || !window.crypto.subtle || !window.TextEncoder) {
    return;
  }
  var salt = box.getAttribute("data-work-salt");
  var bits = parseInt(box.getAttribute("data-work-bits"), 10);
  var field = box.querySelector("input[name=captcha_work]");
  var status = box.querySelector(".captcha-status");
  var code = box.querySelector("input[name=captcha]");
  var encoder = new TextEncoder();
  status.textContent = "Vérification anti-robot en cours, quelques secondes… Vous pouvez continuer à remplir le formulaire.";

  function zeroBits(buffer) {
    var bytes = new Uint8Array(buffer);
    var count = 0;
    for (var i = 0; i < bytes.length; i++) {
      if (bytes[i] === 0) {
        count += 8;
        continue;
      }
      var b = bytes[i];
      while ((b & 0x80) === 0) {
        count += 1;
        b <<= 1;
      }
      return count;
    }
    return count;
  }

  // Digests in batches, so that the page stays responsive while it works.
  var BATCH = 512;
  function search(start) {
    var tries = [];
    for (var n = start; n < start + BATCH; n++) {
      tries.push(
        window.crypto.subtle.digest("SHA-256", encoder.encode(salt + ":" + n))
      );
    }
    return Promise.all(tries).then(function (digests) {
      for (var i = 0; i < digests.length; i++) {
        if (zeroBits(digests[i]) >= bits) {
          return String(start + i);
        }
      }
      return search(start + BATCH);
    });
  }

  search(0).then(
    function (nonce) {
      field.value = nonce;
      code.required = false;
      box.classList.add("captcha-done");
      status.textContent = "Vérification anti-robot réussie : vous n'avez pas de code à recopier.";
    },
    function () {
      status.textContent = "La vérification automatique n'a pas abouti : recopiez le code de l'image.";
    }
  );
})();
