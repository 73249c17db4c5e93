// Passkeys on the example site: the browser's part of the WebAuthn
// ceremonies. No framework and nothing from elsewhere: the site serves
// this file itself (GET /static/passkeys.js).
//
// Each ceremony asks the site for options (authnz's webauthn-rs JSON, its
// binary fields in base64url), turns those fields into ArrayBuffers for
// navigator.credentials.create/get, turns the credential's ArrayBuffers
// back into base64url, and posts it as JSON. Every POST carries the
// session's CSRF token in the X-CSRF-Token header (from the page's
// <meta name="csrf-token">).
//
// The buttons it serves, by id:
//   #passkey-add     (account page)        add a passkey (#passkey-name, #passkey-password)
//   #passkey-login   (login page)          log in with a passkey, no password
//   #passkey-second  (second-factor page)  a passkey as the second factor (data-ticket)
// Errors go to #passkey-error.
(function () {
  "use strict";

  // ------------------------------------------------ base64url <-> bytes

  function toBuffer(text) {
    var b64 = String(text).replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) {
      b64 += "=";
    }
    var raw = atob(b64);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) {
      bytes[i] = raw.charCodeAt(i);
    }
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    var bytes = buffer instanceof ArrayBuffer
      ? new Uint8Array(buffer)
      : new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    var raw = "";
    for (var i = 0; i < bytes.length; i++) {
      raw += String.fromCharCode(bytes[i]);
    }
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  // A JSON-ready copy: ArrayBuffers and typed arrays as base64url.
  function plain(value) {
    if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) {
      return toBase64url(value);
    }
    if (Array.isArray(value)) {
      return value.map(plain);
    }
    if (value && typeof value === "object") {
      var out = {};
      Object.keys(value).forEach(function (k) {
        out[k] = plain(value[k]);
      });
      return out;
    }
    return value;
  }

  // A copy without null members (WebIDL turns a null enum into an error).
  function withoutNulls(value) {
    if (Array.isArray(value)) {
      return value.map(withoutNulls);
    }
    if (value && typeof value === "object") {
      var out = {};
      Object.keys(value).forEach(function (k) {
        if (value[k] !== null && value[k] !== undefined) {
          out[k] = withoutNulls(value[k]);
        }
      });
      return out;
    }
    return value;
  }

  function decodeDescriptors(list) {
    return (list || []).map(function (c) {
      var d = Object.assign({}, c);
      d.id = toBuffer(c.id);
      return d;
    });
  }

  // options.publicKey of a registration, ready for credentials.create.
  function creationOptions(options) {
    var pk = withoutNulls(options.publicKey);
    pk.challenge = toBuffer(pk.challenge);
    pk.user = Object.assign({}, pk.user, { id: toBuffer(pk.user.id) });
    if (pk.excludeCredentials) {
      pk.excludeCredentials = decodeDescriptors(pk.excludeCredentials);
    }
    return pk;
  }

  // options.publicKey of a login, ready for credentials.get.
  function requestOptions(options) {
    var pk = withoutNulls(options.publicKey);
    pk.challenge = toBuffer(pk.challenge);
    if (pk.allowCredentials) {
      pk.allowCredentials = decodeDescriptors(pk.allowCredentials);
    }
    return pk;
  }

  // The credential as webauthn-rs reads it (RegisterPublicKeyCredential or
  // PublicKeyCredential).
  function encodeCredential(cred) {
    var r = cred.response;
    var response = { clientDataJSON: toBase64url(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toBase64url(r.attestationObject);
      if (typeof r.getTransports === "function") {
        response.transports = r.getTransports();
      }
    } else {
      response.authenticatorData = toBase64url(r.authenticatorData);
      response.signature = toBase64url(r.signature);
      response.userHandle = r.userHandle ? toBase64url(r.userHandle) : null;
    }
    var extensions = {};
    if (typeof cred.getClientExtensionResults === "function") {
      extensions = plain(cred.getClientExtensionResults());
    }
    return {
      id: cred.id,
      rawId: toBase64url(cred.rawId),
      type: cred.type,
      response: response,
      extensions: extensions,
    };
  }

  // ---------------------------------------------------------- the site

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  // POST JSON; the reply's JSON, or an Error with a message for the user.
  async function post(url, body) {
    var response;
    try {
      response = await fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "Content-Type": "application/json",
          "Accept": "application/json",
          "X-CSRF-Token": csrfToken(),
        },
        body: JSON.stringify(body || {}),
      });
    } catch (e) {
      throw new Error("The site did not answer. Check your connection and try again.");
    }
    var type = response.headers.get("Content-Type") || "";
    if (type.indexOf("application/json") === 0) {
      var data = await response.json();
      if (!response.ok) {
        throw new Error(data.error || "The request was refused (" + response.status + ").");
      }
      return data;
    }
    var text = (await response.text()).trim();
    if (response.redirected || type.indexOf("text/html") === 0) {
      throw new Error("Your session has ended. Reload the page and log in again.");
    }
    throw new Error(text || "The request failed (" + response.status + ").");
  }

  // A message for an error of navigator.credentials.
  function explain(err) {
    switch (err && err.name) {
      case "NotAllowedError":
        return "The passkey prompt was cancelled or timed out, or no passkey for this site was found.";
      case "InvalidStateError":
        return "This authenticator already holds a passkey for your account.";
      case "SecurityError":
        return "Passkeys do not work at this address: open the site at the address it is configured for (for example http://localhost:<port>).";
      case "NotSupportedError":
        return "This authenticator cannot make a passkey this site accepts.";
      case "AbortError":
        return "The passkey prompt was cancelled.";
      default:
        return (err && err.message) || String(err);
    }
  }

  function showError(message) {
    var box = document.getElementById("passkey-error");
    if (box) {
      box.textContent = message;
      box.hidden = false;
    } else {
      window.alert(message);
    }
  }

  function clearError() {
    var box = document.getElementById("passkey-error");
    if (box) {
      box.textContent = "";
      box.hidden = true;
    }
  }

  function supported() {
    return !!(window.PublicKeyCredential && navigator.credentials);
  }

  // Run `task` with `button` disabled; errors end up in #passkey-error.
  async function run(button, task) {
    clearError();
    if (!supported()) {
      showError("This browser does not support passkeys.");
      return;
    }
    button.disabled = true;
    try {
      await task();
    } catch (e) {
      showError(e instanceof DOMException ? explain(e) : e.message || String(e));
    } finally {
      button.disabled = false;
    }
  }

  async function create(options) {
    try {
      return await navigator.credentials.create({ publicKey: creationOptions(options) });
    } catch (e) {
      throw new Error(explain(e));
    }
  }

  async function get(options) {
    try {
      return await navigator.credentials.get({ publicKey: requestOptions(options) });
    } catch (e) {
      throw new Error(explain(e));
    }
  }

  // The recovery codes of a first second factor, shown once.
  function showRecoveryCodes(result) {
    var box = document.getElementById("passkey-result");
    var form = document.getElementById("passkey-add-form");
    if (form) {
      form.hidden = true;
    }
    box.textContent = "";
    var p = document.createElement("p");
    p.id = "passkey-added";
    p.textContent = result.message;
    box.appendChild(p);
    var note = document.createElement("p");
    note.textContent = "Recovery codes: each logs you in once instead of a second factor. " +
      "Keep them in a safe place; they are shown only now.";
    box.appendChild(note);
    var list = document.createElement("ul");
    list.id = "recovery-codes";
    result.recovery_codes.forEach(function (code) {
      var li = document.createElement("li");
      li.className = "recovery-code";
      var c = document.createElement("code");
      c.textContent = code;
      li.appendChild(c);
      list.appendChild(li);
    });
    box.appendChild(list);
    var back = document.createElement("a");
    back.id = "passkey-back";
    back.href = result.redirect;
    back.textContent = "Back to your account";
    box.appendChild(back);
  }

  async function addPasskey(button) {
    var name = document.getElementById("passkey-name").value.trim();
    var password = document.getElementById("passkey-password").value;
    if (!password) {
      throw new Error("Enter your password to add a passkey.");
    }
    var start = await post("/account/passkeys/register/start", { name: name, password: password });
    var cred = await create(start.options);
    var result = await post("/account/passkeys/register/finish", {
      id: start.id,
      name: name,
      credential: encodeCredential(cred),
    });
    document.getElementById("passkey-password").value = "";
    if (result.recovery_codes && result.recovery_codes.length) {
      showRecoveryCodes(result);
    } else {
      window.location.assign(result.redirect);
    }
  }

  async function logIn() {
    var start = await post("/login/passkey/start", {});
    var cred = await get(start.options);
    var result = await post("/login/passkey/finish", {
      id: start.id,
      credential: encodeCredential(cred),
    });
    window.location.assign(result.redirect);
  }

  async function secondFactor(button) {
    var ticket = button.getAttribute("data-ticket");
    var start = await post("/login/second-factor/passkey/start", { ticket: ticket });
    var cred = await get(start.options);
    var result = await post("/login/second-factor/passkey/finish", {
      ticket: ticket,
      credential: encodeCredential(cred),
    });
    window.location.assign(result.redirect);
  }

  function wire(id, task) {
    var button = document.getElementById(id);
    if (button) {
      button.addEventListener("click", function (event) {
        event.preventDefault();
        run(button, function () {
          return task(button);
        });
      });
    }
  }

  wire("passkey-add", addPasskey);
  wire("passkey-login", logIn);
  wire("passkey-second", secondFactor);
})();
