/*
 * govapp vote panel (templates/voting/_panel.html): connect, show the voting power at the snapshot,
 * choose, write a reason, sign the EIP-712 Vote with eth_signTypedData_v4, show the receipt, reload
 * the server-rendered results. Uses window.govapp (static/js/wallet.js) for the wallet and the API.
 */
(function () {
  "use strict";

  const TOKEN_DECIMALS = 18n;

  function formatTokens(text) {
    let value;
    try {
      value = BigInt(text);
    } catch (err) {
      return String(text);
    }
    const unit = 10n ** TOKEN_DECIMALS;
    const whole = value / unit;
    const fraction = value % unit;
    let out = whole.toLocaleString("en-US");
    if (fraction > 0n) out += "." + fraction.toString().padStart(Number(TOKEN_DECIMALS), "0").replace(/0+$/, "").slice(0, 4);
    return out;
  }

  function el(id) {
    return document.getElementById(id);
  }

  function setText(node, text) {
    if (node) node.textContent = text;
  }

  async function currentOrConnectedAddress(panel) {
    const known = panel.dataset.address || (window.govapp && window.govapp.currentAddress());
    if (known) return known;
    const address = await window.govapp.connect();
    panel.dataset.address = address;
    return address;
  }

  function describePower(info) {
    const parts = ["Your voting power at block " + info.snapshot_block + ": " + formatTokens(info.power)];
    if (info.overrides_delegate) {
      parts.push("(includes your own " + formatTokens(info.override_balance) + ", voted over your delegate " + info.delegate + ")");
    }
    if (info.overridden_by_delegators !== "0") {
      parts.push("(−" + formatTokens(info.overridden_by_delegators) + " overridden by delegators who vote themselves)");
    }
    if (!info.can_vote) {
      return info.delegate
        ? "You had no voting power at block " + info.snapshot_block + "."
        : "You had no voting power at block " + info.snapshot_block + ": your tokens were not delegated (delegate to yourself to vote on later proposals).";
    }
    let text = parts.join(" ");
    if (info.current_vote) {
      text += ". Your current vote: " + info.current_vote.support + (info.current_vote.changed ? " (changed)" : "") + ".";
    }
    return text;
  }

  async function showPower(panel, address) {
    const url = panel.dataset.powerUrl + "?address=" + encodeURIComponent(address);
    const info = await window.govapp.getJSON(url);
    setText(el("vote-power"), describePower(info));
    const submit = el("vote-submit");
    if (submit) submit.disabled = !info.can_vote;
    return info;
  }

  async function reloadResults() {
    const box = el("vote-results");
    if (!box || !box.dataset.url) return;
    const response = await fetch(box.dataset.url, { credentials: "same-origin", headers: { Accept: "text/html" } });
    if (response.ok) box.innerHTML = await response.text();
  }

  function showReceipt(receipt) {
    const box = el("vote-receipt");
    if (!box) return;
    box.replaceChildren();
    const title = document.createElement("strong");
    title.textContent = receipt.replaced ? "Your vote was changed." : "Your vote was recorded.";
    const detail = document.createElement("div");
    detail.textContent =
      receipt.support_label + " with " + formatTokens(receipt.weight) + " voting power" +
      (receipt.replaced ? " — it replaces your earlier vote " + receipt.replaced : "") + ".";
    const id = document.createElement("div");
    id.append("Vote id (EIP-712 digest): ");
    const code = document.createElement("code");
    code.id = "vote-receipt-id";
    code.textContent = receipt.id;
    id.append(code);
    box.append(title, detail, id);
    if (receipt.archive_sequence) {
      const archived = document.createElement("div");
      archived.textContent = "Archived as entry #" + receipt.archive_sequence + ".";
      box.append(archived);
    }
    box.hidden = false;
  }

  async function vote(panel, form) {
    const govapp = window.govapp;
    const address = await currentOrConnectedAddress(panel);
    await govapp.ensureChain();
    const support = form.querySelector("input[name=support]:checked");
    const reason = el("vote-reason") ? el("vote-reason").value : "";
    const query = new URLSearchParams({ voter: address, support: support ? support.value : "1", reason: reason });
    const template = await govapp.getJSON(panel.dataset.templateUrl + "?" + query.toString());
    const typedData = template.typed_data;
    const signature = await govapp.signTypedData(address, typedData);
    const receipt = await govapp.postJSON(panel.dataset.submitUrl, { typed_data: typedData, signature: signature });
    showReceipt(receipt);
    await reloadResults();
    await showPower(panel, address);
    return receipt;
  }

  function busy(button, on) {
    if (!button) return;
    button.disabled = on;
    if (on) button.setAttribute("aria-busy", "true");
    else button.removeAttribute("aria-busy");
  }

  function init() {
    const panel = el("vote-panel");
    if (!panel || panel.dataset.open !== "true" || !window.govapp) return;
    const errorBox = el("vote-error");
    const address = panel.dataset.address || window.govapp.currentAddress();
    if (address) {
      showPower(panel, address).catch(function (err) {
        window.govapp.showError(err, errorBox);
      });
    }
    const connect = el("vote-connect");
    if (connect) {
      connect.addEventListener("click", async function () {
        window.govapp.clearError(errorBox);
        busy(connect, true);
        try {
          const connected = await currentOrConnectedAddress(panel);
          connect.hidden = true;
          await showPower(panel, connected);
        } catch (err) {
          window.govapp.showError(err, errorBox);
        } finally {
          busy(connect, false);
        }
      });
    }
    const form = el("vote-form");
    if (form) {
      form.addEventListener("submit", async function (event) {
        event.preventDefault();
        const submit = el("vote-submit");
        if (submit && submit.getAttribute("aria-busy")) return;
        window.govapp.clearError(errorBox);
        busy(submit, true);
        try {
          await vote(panel, form);
        } catch (err) {
          window.govapp.showError(err, errorBox);
        } finally {
          busy(submit, false);
        }
      });
    }
  }

  window.govappVoting = Object.freeze({ formatTokens: formatTokens, reloadResults: reloadResults });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
