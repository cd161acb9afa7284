/*
 * govapp wallet helpers and wallet sign-in (EIP-4361, Sign-In with Ethereum).
 *
 * Plain JavaScript, no libraries: talks EIP-1193 to the injected wallet (window.ethereum) and JSON
 * to the portal. Loaded on every page by base.html; later pages reuse window.govapp:
 *
 *   govapp.request(method, params)        EIP-1193 call; rejects with a WalletError
 *   govapp.connect()                      eth_requestAccounts -> the first account (lowercase hex)
 *   govapp.currentAddress()               the signed-in address (from #wallet), or null
 *   govapp.chainId()                      the wallet's chain id as a Number
 *   govapp.ensureChain(id?)               ask the wallet to switch to the portal's chain
 *   govapp.personalSign(address, text)    EIP-191 signature of UTF-8 text
 *   govapp.signTypedData(address, data)   eth_signTypedData_v4 (data: object or JSON string)
 *   govapp.sendTransaction(tx)            eth_sendTransaction -> tx hash
 *   govapp.getJSON(url) / postJSON(url, body)
 *                                         same-origin fetch with the CSRF header; rejects with an
 *                                         ApiError {code, status, message} built from the
 *                                         portal's {"error": {"code", "message"}} reply
 *   govapp.csrfToken()                    the token from <meta name="csrf-token"> (or the cookie)
 *   govapp.showError(err, el?) / clearError(el?)
 *                                         display a message in #wallet-error (or el)
 *   govapp.signIn() / govapp.signOut()    the header's flows
 *   govapp.errorMessage(err)              a human sentence for any error
 *   govapp.WalletError, govapp.ApiError   error classes
 */
(function () {
  "use strict";

  class WalletError extends Error {
    constructor(message, code, cause) {
      super(message);
      this.name = "WalletError";
      this.code = code; // EIP-1193 code (4001 = user rejected, ...) or "no_wallet"
      if (cause !== undefined) this.cause = cause;
    }
  }

  class ApiError extends Error {
    constructor(message, code, status, details) {
      super(message);
      this.name = "ApiError";
      this.code = code; // the portal's error code, e.g. "nonce_expired"
      this.status = status; // HTTP status
      this.details = details;
    }
  }

  // EIP-1193 / EIP-1474 provider error codes -> a sentence for the user.
  const WALLET_MESSAGES = {
    4001: "You rejected the request in your wallet.",
    4100: "Your wallet has not authorised this site for that account. Connect it first.",
    4200: "Your wallet does not support this request.",
    4900: "Your wallet is disconnected from all networks.",
    4901: "Your wallet is not connected to the requested network.",
    4902: "Your wallet does not know this network yet. Add it in your wallet, then try again.",
    "-32002": "A request is already waiting in your wallet. Open your wallet to answer it.",
    "-32603": "Your wallet reported an internal error.",
  };

  function walletElement() {
    return document.getElementById("wallet");
  }

  function provider() {
    const eth = window.ethereum;
    if (!eth || typeof eth.request !== "function") {
      throw new WalletError(
        "No Ethereum wallet found. Install a browser wallet (such as MetaMask) or open this page in your wallet's browser.",
        "no_wallet"
      );
    }
    return eth;
  }

  function toWalletError(err) {
    if (err instanceof WalletError) return err;
    const code = err && err.code !== undefined ? err.code : undefined;
    const known = code !== undefined ? WALLET_MESSAGES[String(code)] : undefined;
    const text = known || (err && err.message) || "Your wallet refused the request.";
    return new WalletError(text, code, err);
  }

  /** One EIP-1193 request; rejects with a WalletError carrying the provider's code. */
  async function request(method, params) {
    const eth = provider();
    try {
      const args = params === undefined ? { method: method } : { method: method, params: params };
      return await eth.request(args);
    } catch (err) {
      throw toWalletError(err);
    }
  }

  function cookie(name) {
    const prefix = name + "=";
    for (const part of document.cookie ? document.cookie.split(";") : []) {
      const item = part.trim();
      if (item.startsWith(prefix)) return decodeURIComponent(item.slice(prefix.length));
    }
    return "";
  }

  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    const token = meta ? meta.getAttribute("content") : "";
    return token || cookie("csrftoken");
  }

  async function readResponse(response) {
    if (response.status === 204) return null;
    const type = response.headers.get("Content-Type") || "";
    let data = null;
    if (type.includes("application/json")) {
      try {
        data = await response.json();
      } catch (err) {
        data = null;
      }
    }
    if (!response.ok) {
      const error = data && data.error ? data.error : {};
      let message = error.message;
      if (!message) {
        message =
          response.status === 403
            ? "The request was refused (403). Reload the page and try again."
            : "The portal answered with an error (" + response.status + "). Try again later.";
      }
      throw new ApiError(message, error.code || "http_" + response.status, response.status, error.details);
    }
    return data;
  }

  async function fetchJSON(url, options) {
    let response;
    try {
      response = await fetch(url, Object.assign({ credentials: "same-origin" }, options));
    } catch (err) {
      throw new ApiError("Could not reach the portal. Check your connection and try again.", "network_error", 0);
    }
    return readResponse(response);
  }

  /** GET JSON from the portal. */
  function getJSON(url) {
    return fetchJSON(url, { method: "GET", headers: { Accept: "application/json" } });
  }

  /** POST JSON to the portal with the CSRF header; resolves to the reply's JSON (null for 204). */
  function postJSON(url, body) {
    return fetchJSON(url, {
      method: "POST",
      headers: {
        Accept: "application/json",
        "Content-Type": "application/json",
        "X-CSRFToken": csrfToken(),
      },
      body: JSON.stringify(body === undefined ? {} : body),
    });
  }

  /** "0x" + hex of the UTF-8 bytes: the form personal_sign expects for text. */
  function utf8ToHex(text) {
    const bytes = new TextEncoder().encode(text);
    let hex = "0x";
    for (const byte of bytes) hex += byte.toString(16).padStart(2, "0");
    return hex;
  }

  async function connect() {
    const accounts = await request("eth_requestAccounts");
    if (!Array.isArray(accounts) || accounts.length === 0 || typeof accounts[0] !== "string") {
      throw new WalletError("Your wallet did not share an account. Unlock it and try again.", "no_account");
    }
    return accounts[0];
  }

  function currentAddress() {
    const el = walletElement();
    return (el && el.dataset.address) || null;
  }

  async function chainId() {
    return Number(await request("eth_chainId"));
  }

  function portalChainId() {
    return Number(document.body && document.body.dataset.chainId);
  }

  /** Make sure the wallet is on chain `expected` (default: the portal's), asking it to switch. */
  async function ensureChain(expected) {
    const want = Number(expected === undefined ? portalChainId() : expected);
    if (!Number.isSafeInteger(want) || want <= 0) throw new WalletError("Unknown network to switch to.", "bad_chain");
    if ((await chainId()) === want) return want;
    await request("wallet_switchEthereumChain", [{ chainId: "0x" + want.toString(16) }]);
    if ((await chainId()) !== want) {
      throw new WalletError("Switch your wallet to network " + want + " and try again.", "wrong_chain");
    }
    return want;
  }

  function personalSign(address, text) {
    return request("personal_sign", [utf8ToHex(text), address]);
  }

  function signTypedData(address, typedData) {
    const payload = typeof typedData === "string" ? typedData : JSON.stringify(typedData);
    return request("eth_signTypedData_v4", [address, payload]);
  }

  function sendTransaction(tx) {
    return request("eth_sendTransaction", [tx]);
  }

  function errorMessage(err) {
    if (!err) return "Something went wrong.";
    if (typeof err === "string") return err;
    return err.message || String(err);
  }

  function errorElement(el) {
    return el || document.getElementById("wallet-error");
  }

  function showError(err, el) {
    const target = errorElement(el);
    if (target) target.textContent = errorMessage(err);
    if (window.console && err && !(err instanceof ApiError) && !(err instanceof WalletError)) {
      console.error(err); // unexpected: keep the stack for whoever debugs it
    }
  }

  function clearError(el) {
    const target = errorElement(el);
    if (target) target.textContent = "";
  }

  function reload() {
    window.location.reload();
  }

  /** Connect, fetch a sign-in message, have the wallet sign it, start the session, reload. */
  async function signIn() {
    const el = walletElement();
    if (!el) throw new Error("#wallet is missing from the page");
    const address = await connect();
    const issued = await postJSON(el.dataset.nonceUrl, { address: address });
    const signature = await personalSign(address, issued.message);
    const result = await postJSON(el.dataset.loginUrl, { message: issued.message, signature: signature });
    reload();
    return result;
  }

  async function signOut() {
    const el = walletElement();
    if (!el) throw new Error("#wallet is missing from the page");
    await postJSON(el.dataset.logoutUrl, {});
    reload();
  }

  /** Run `action` from a button: disabled while busy, errors shown in #wallet-error. */
  function bindButton(button, action) {
    button.addEventListener("click", async function (event) {
      event.preventDefault();
      if (button.disabled) return;
      clearError();
      button.disabled = true;
      button.setAttribute("aria-busy", "true");
      try {
        await action();
      } catch (err) {
        showError(err);
      } finally {
        button.disabled = false;
        button.removeAttribute("aria-busy");
      }
    });
  }

  function init() {
    const connectButton = document.getElementById("connect-wallet");
    if (connectButton) bindButton(connectButton, signIn);
    const signOutButton = document.getElementById("sign-out");
    if (signOutButton) bindButton(signOutButton, signOut);
  }

  window.govapp = Object.freeze({
    request: request,
    connect: connect,
    currentAddress: currentAddress,
    chainId: chainId,
    ensureChain: ensureChain,
    personalSign: personalSign,
    signTypedData: signTypedData,
    sendTransaction: sendTransaction,
    getJSON: getJSON,
    postJSON: postJSON,
    csrfToken: csrfToken,
    utf8ToHex: utf8ToHex,
    showError: showError,
    clearError: clearError,
    errorMessage: errorMessage,
    signIn: signIn,
    signOut: signOut,
    WalletError: WalletError,
    ApiError: ApiError,
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
