// Passkeys (WebAuthn). A form marked data-passkey="create" or "get" carries the options the
// server made in data-options; on submit the browser asks the authenticator, and the answer
// goes back in the form's hidden field "answer". Without WebAuthn the form says so.
(function () {
  "use strict";

  function bytes(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    var bin = atob(b64 + "===".slice((b64.length + 3) % 4));
    return Uint8Array.from(bin, function (c) { return c.charCodeAt(0); });
  }

  function text(buffer) {
    if (!buffer) { return null; }
    var s = "";
    new Uint8Array(buffer).forEach(function (b) { s += String.fromCharCode(b); });
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function ids(list) {
    (list || []).forEach(function (c) { c.id = bytes(c.id); });
  }

  async function create(options) {
    options.challenge = bytes(options.challenge);
    options.user.id = bytes(options.user.id);
    ids(options.excludeCredentials);
    var c = await navigator.credentials.create({ publicKey: options });
    return {
      id: c.id,
      rawId: text(c.rawId),
      type: c.type,
      extensions: c.getClientExtensionResults(),
      response: {
        attestationObject: text(c.response.attestationObject),
        clientDataJSON: text(c.response.clientDataJSON),
        transports: c.response.getTransports ? c.response.getTransports() : undefined
      }
    };
  }

  async function get(options) {
    options.challenge = bytes(options.challenge);
    ids(options.allowCredentials);
    var c = await navigator.credentials.get({ publicKey: options });
    return {
      id: c.id,
      rawId: text(c.rawId),
      type: c.type,
      extensions: c.getClientExtensionResults(),
      response: {
        authenticatorData: text(c.response.authenticatorData),
        clientDataJSON: text(c.response.clientDataJSON),
        signature: text(c.response.signature),
        userHandle: text(c.response.userHandle)
      }
    };
  }

  document.querySelectorAll("form[data-passkey]").forEach(function (form) {
    var status = form.querySelector("[data-passkey-status]");
    var button = form.querySelector("button[type=submit]");
    if (!window.PublicKeyCredential || !navigator.credentials) {
      status.textContent = "Ce navigateur ne permet pas d'utiliser une clé d'accès.";
      button.disabled = true;
      return;
    }
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      if (!form.reportValidity()) { return; }
      status.textContent = "Suivez les indications de votre navigateur ou de votre clé…";
      button.disabled = true;
      var options = JSON.parse(form.dataset.options).publicKey;
      try {
        var answer = form.dataset.passkey === "create" ? await create(options) : await get(options);
        form.elements.answer.value = JSON.stringify(answer);
        form.submit();
      } catch (e) {
        button.disabled = false;
        status.textContent = "La clé d'accès n'a pas répondu (opération annulée, délai dépassé ou clé inconnue). Réessayez, ou utilisez un autre moyen.";
      }
    });
  });
})();
