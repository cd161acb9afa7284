/*
 * Delegation in the browser: delegate directly or gaslessly, and sign a delegate statement.
 *
 * Plain JavaScript on top of window.govapp (static/js/wallet.js): no libraries.
 *
 *   [data-delegate-actions]  data-delegatee, data-token, data-selector, data-template-url, data-relay-url
 *     button[data-action=delegate-direct]   GovernanceToken.delegate(delegatee) via eth_sendTransaction,
 *                                           then polls eth_getTransactionReceipt: pending -> confirmed/failed
 *     button[data-action=delegate-gasless]  fetches the token's Delegation typed data (nonce, expiry),
 *                                           signs it with eth_signTypedData_v4, hands it to the portal's
 *                                           relayer and polls the relay: requested -> submitted -> confirmed/failed
 *     [data-status] gets data-state = pending | confirmed | failed and a sentence; [data-error] errors.
 *   form#statement-form     builds the DelegateStatement typed data on the server, signs it, publishes it.
 */
(function () {
  "use strict";

  const g = window.govapp;
  if (!g) return; // wallet.js did not load: the server-rendered page still works

  const POLL_MS = 1000;
  const MAX_POLLS = 300;

  function sleep(ms) {
    return new Promise(function (resolve) {
      setTimeout(resolve, ms);
    });
  }

  function setStatus(el, state, text) {
    if (!el) return;
    el.dataset.state = state;
    el.textContent = text;
  }

  /** Calldata of delegate(address): the 4-byte selector and the address left-padded to 32 bytes. */
  function delegateCalldata(selector, delegatee) {
    const hex = String(delegatee).toLowerCase().replace(/^0x/, "");
    if (!/^[0-9a-f]{40}$/.test(hex) || !/^0x[0-9a-f]{8}$/.test(selector)) {
      throw new Error("Cannot encode a delegation to " + delegatee);
    }
    return selector + hex.padStart(64, "0");
  }

  async function waitForReceipt(txHash) {
    for (let i = 0; i < MAX_POLLS; i++) {
      const receipt = await g.request("eth_getTransactionReceipt", [txHash]);
      if (receipt && receipt.blockNumber) return receipt;
      await sleep(POLL_MS);
    }
    throw new Error("The transaction " + txHash + " is still pending; check your wallet.");
  }

  async function delegateDirect(box, status) {
    const from = await g.connect();
    await g.ensureChain();
    setStatus(status, "pending", "Confirm the transaction in your wallet…");
    const txHash = await g.sendTransaction({
      from: from,
      to: box.dataset.token,
      data: delegateCalldata(box.dataset.selector, box.dataset.delegatee),
      value: "0x0",
    });
    status.dataset.txHash = txHash;
    setStatus(status, "pending", "Pending: transaction " + txHash + " sent, waiting for a block…");
    const receipt = await waitForReceipt(txHash);
    if (Number(receipt.status) === 1) {
      setStatus(status, "confirmed", "Confirmed in block " + Number(receipt.blockNumber) +
        ". The directory shows it once the block is indexed.");
    } else {
      setStatus(status, "failed", "The transaction failed (reverted in block " + Number(receipt.blockNumber) + ").");
    }
  }

  const RELAY_TEXT = {
    requested: "Signed. The relayer is about to send it…",
    submitted: "Submitted by the relayer, waiting for a block…",
  };

  async function delegateGasless(box, status) {
    const holder = await g.connect();
    const query = "?holder=" + encodeURIComponent(holder) + "&delegatee=" + encodeURIComponent(box.dataset.delegatee);
    const template = await g.getJSON(box.dataset.templateUrl + query);
    setStatus(status, "pending", "Sign the delegation in your wallet (it costs you no gas)…");
    const signature = await g.signTypedData(holder, template.typed_data);
    let relay = await g.postJSON(box.dataset.relayUrl, {
      holder: holder,
      typed_data: template.typed_data,
      signature: signature,
    });
    status.dataset.relayId = relay.id;
    for (let i = 0; i < MAX_POLLS; i++) {
      if (relay.status === "confirmed") {
        setStatus(status, "confirmed", "Confirmed in block " + relay.block_number + " (transaction " + relay.tx_hash +
          "). The directory shows it once the block is indexed.");
        return;
      }
      if (relay.status === "failed") {
        setStatus(status, "failed", "The relayer could not deliver it: " + (relay.failure_reason || relay.failure_code));
        return;
      }
      setStatus(status, "pending", (RELAY_TEXT[relay.status] || relay.status) +
        (relay.tx_hash ? " (transaction " + relay.tx_hash + ")" : ""));
      await sleep(POLL_MS);
      relay = await g.getJSON(relay.status_url);
    }
    setStatus(status, "pending", "Still waiting for the relayer; see My delegation for its status.");
  }

  function bind(button, box, action) {
    const status = box.querySelector("[data-status]");
    const errorEl = box.querySelector("[data-error]");
    button.addEventListener("click", async function (event) {
      event.preventDefault();
      if (button.disabled) return;
      g.clearError(errorEl);
      box.querySelectorAll("button").forEach(function (b) {
        b.disabled = true;
      });
      try {
        await action(box, status);
      } catch (err) {
        setStatus(status, "failed", "");
        g.showError(err, errorEl);
      } finally {
        box.querySelectorAll("button").forEach(function (b) {
          b.disabled = false;
        });
      }
    });
  }

  function initDelegateActions() {
    document.querySelectorAll("[data-delegate-actions]").forEach(function (box) {
      const direct = box.querySelector('[data-action="delegate-direct"]');
      const gasless = box.querySelector('[data-action="delegate-gasless"]');
      if (direct) bind(direct, box, delegateDirect);
      if (gasless) bind(gasless, box, delegateGasless);
    });
  }

  function initStatementForm() {
    const form = document.getElementById("statement-form");
    if (!form) return;
    const status = document.getElementById("statement-status");
    const errorEl = document.getElementById("statement-error");
    const button = document.getElementById("publish-statement");
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      if (button.disabled) return;
      g.clearError(errorEl);
      button.disabled = true;
      try {
        const address = await g.connect();
        const body = {
          delegate: address,
          display_name: form.elements.display_name.value,
          statement: form.elements.statement.value,
          interests: Array.from(form.querySelectorAll('input[name="interests"]:checked')).map(function (el) {
            return el.value;
          }),
          links: form.elements.links.value
            .split("\n")
            .map(function (line) {
              return line.trim();
            })
            .filter(Boolean),
        };
        const template = await g.postJSON(form.dataset.templateUrl, body);
        setStatus(status, "pending", "Sign the statement in your wallet (no gas)…");
        const signature = await g.signTypedData(address, template.typed_data);
        const published = await g.postJSON(form.dataset.publishUrl, {
          typed_data: template.typed_data,
          signature: signature,
        });
        setStatus(status, "confirmed", "Published version " + published.version + ".");
        window.location.assign(published.page_url);
      } catch (err) {
        setStatus(status, "failed", "");
        g.showError(err, errorEl);
      } finally {
        button.disabled = false;
      }
    });
  }

  function init() {
    initDelegateActions();
    initStatementForm();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
