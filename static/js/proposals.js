/*
 * Proposal pages: the type-dependent fields of the submit/edit form, and the signed actions of the
 * detail page (endorse; core developers' approve / reject). Reuses window.govapp (static/js/wallet.js):
 * getJSON / postJSON (CSRF header, {"error": {code, message}} replies), signTypedData
 * (eth_signTypedData_v4) and showError.
 *
 * Signing flow: GET the template (the exact EIP-712 typed data for the signed-in address), have the
 * wallet sign it unchanged, POST {typed_data, signature}, then reload to show the new state.
 */
(function () {
  "use strict";

  function errorBox() {
    return document.getElementById("proposal-action-error");
  }

  function showError(err) {
    const box = errorBox();
    window.govapp.showError(err, box || undefined);
    if (box) box.dataset.code = (err && err.code) || "";
  }

  function signedInAddress() {
    const address = window.govapp.currentAddress();
    if (!address) {
      throw new window.govapp.WalletError("Connect your wallet and sign in first.", "not_signed_in");
    }
    return address;
  }

  async function signAndPost(templateUrl, postUrl, address) {
    const typedData = await window.govapp.getJSON(templateUrl);
    const signature = await window.govapp.signTypedData(address, typedData);
    return window.govapp.postJSON(postUrl, { typed_data: typedData, signature: signature });
  }

  function bind(button, action) {
    button.addEventListener("click", async function (event) {
      event.preventDefault();
      if (button.disabled) return;
      window.govapp.clearError(errorBox() || undefined);
      button.disabled = true;
      button.setAttribute("aria-busy", "true");
      try {
        await action();
        window.location.reload();
      } catch (err) {
        showError(err);
        button.disabled = false;
        button.removeAttribute("aria-busy");
      }
    });
  }

  function initEndorse() {
    const button = document.getElementById("endorse-button");
    if (!button) return;
    bind(button, async function () {
      const address = signedInAddress();
      const url = button.dataset.templateUrl + "?endorser=" + encodeURIComponent(address);
      await signAndPost(url, button.dataset.endorseUrl, address);
    });
  }

  function initReview() {
    const box = document.getElementById("review-box");
    if (!box) return;
    const comment = document.getElementById("review-comment");
    for (const button of box.querySelectorAll("button[data-approve]")) {
      bind(button, async function () {
        const address = signedInAddress();
        const text = comment ? comment.value.trim() : "";
        if (!text) throw new window.govapp.ApiError("Write a comment (the reasons) first.", "comment_required", 400);
        const query = new URLSearchParams({ reviewer: address, approve: button.dataset.approve, comment: text });
        await signAndPost(box.dataset.templateUrl + "?" + query.toString(), box.dataset.reviewUrl, address);
      });
    }
  }

  /** Show only the payload fields of the chosen type (all stay in the form; the server ignores the rest). */
  function initForm() {
    const form = document.getElementById("proposal-form");
    if (!form) return;
    const select = form.querySelector("select[name=kind]");
    if (!select) return;
    function update() {
      for (const el of form.querySelectorAll("[data-kind]")) {
        el.hidden = !el.dataset.kind.split(" ").includes(select.value);
      }
    }
    select.addEventListener("change", update);
    update();
  }

  function init() {
    if (!window.govapp) return;
    initForm();
    initEndorse();
    initReview();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
