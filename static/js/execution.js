/*
 * The execution panel (templates/execution/_panel.html): the ETA countdown and the security council's veto.
 * Reuses window.govapp (static/js/wallet.js): connect, ensureChain, getJSON / postJSON, signTypedData,
 * showError / clearError.
 *
 * Veto flow: GET the Veto template for the member's address and reason (the exact EIP-712 typed data),
 * have the wallet sign it unchanged (eth_signTypedData_v4), POST {typed_data, signature}, show the receipt
 * and reload the panel (signatures so far, threshold).
 */
(function () {
  "use strict";

  if (window.govappExecution) return; // the panel may be included more than once
  window.govappExecution = true;

  let countdownTimer = null;

  function el(id) {
    return document.getElementById(id);
  }

  function formatDuration(seconds) {
    const parts = [];
    const units = [["d", 86400], ["h", 3600], ["min", 60], ["s", 1]];
    let rest = Math.max(0, Math.floor(seconds));
    for (const [label, size] of units) {
      const n = Math.floor(rest / size);
      rest -= n * size;
      if (n || (label === "s" && parts.length === 0)) parts.push(n + " " + label);
    }
    return parts.slice(0, 3).join(" ");
  }

  function startCountdown(panel) {
    if (countdownTimer) clearInterval(countdownTimer);
    const box = el("execution-countdown");
    const eta = Number(panel.dataset.eta);
    if (!box || !eta) return;
    function tick() {
      const left = eta - Date.now() / 1000;
      box.textContent = left > 0 ? "— in " + formatDuration(left) : "— the delay is over: execution is due";
      box.dataset.secondsLeft = String(Math.max(0, Math.round(left)));
    }
    tick();
    countdownTimer = setInterval(tick, 1000);
  }

  async function reloadPanel(panel) {
    const response = await fetch(panel.dataset.panelUrl, { credentials: "same-origin" });
    if (!response.ok) return;
    const holder = document.createElement("div");
    holder.innerHTML = await response.text();
    const fresh = holder.querySelector("#execution-panel");
    if (fresh) {
      panel.replaceWith(fresh);
      init();
    }
  }

  async function signVeto(panel) {
    const govapp = window.govapp;
    const reason = (el("veto-reason").value || "").trim();
    if (!reason) throw new govapp.ApiError("Write the reasons of your veto first.", "reason_required", 400);
    const address = panel.dataset.address || govapp.currentAddress() || (await govapp.connect());
    await govapp.ensureChain();
    const query = new URLSearchParams({ member: address, reason: reason });
    const typedData = await govapp.getJSON(panel.dataset.templateUrl + "?" + query.toString());
    const signature = await govapp.signTypedData(address, typedData);
    return govapp.postJSON(panel.dataset.vetoUrl, { typed_data: typedData, signature: signature });
  }

  function showReceipt(receipt) {
    const box = el("veto-receipt");
    if (!box) return;
    box.textContent = "Veto signed and archived (entry #" + receipt.archive_sequence + "): " + receipt.count +
      " of " + receipt.threshold + " signatures." + (receipt.threshold_reached ? " The threshold is reached." : "");
    box.hidden = false;
  }

  function init() {
    const panel = el("execution-panel");
    if (!panel) return;
    startCountdown(panel);
    const form = el("veto-form");
    if (!form || !window.govapp) return;
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      const button = el("veto-submit");
      const errorBox = el("veto-error");
      window.govapp.clearError(errorBox);
      button.disabled = true;
      button.setAttribute("aria-busy", "true");
      try {
        const receipt = await signVeto(panel);
        showReceipt(receipt);
        await reloadPanel(panel);
      } catch (err) {
        window.govapp.showError(err, errorBox);
        errorBox.dataset.code = (err && err.code) || "";
        button.disabled = false;
        button.removeAttribute("aria-busy");
      }
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
