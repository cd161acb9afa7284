// Drives static/js/wallet.js in Node against a live portal, like a browser page would.
//
// Usage: node wallet_harness.mjs '{"base": "http://localhost:PORT", "scenario": "...", "address": "0x..."}'
//
// The page HTML comes from the live server (GET /), wallet.js from the <script> it names, and the
// fake DOM is built from that HTML's #wallet element, so the test also checks base.html's wiring.
// window.ethereum is a fake EIP-1193 provider; personal_sign is answered by the Python test over
// stdin/stdout (one JSON object per line): the harness writes {"op": "personal_sign", "params": [...]}
// and reads back {"result": "0x..."} or {"error": {"code": 4001, "message": "..."}}. It ends with
// {"op": "done", "report": {...}}.
import readline from "node:readline";
import vm from "node:vm";

const config = JSON.parse(process.argv[2]);
const base = config.base;
const input = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const report = { steps: [] };

function send(message) {
  process.stdout.write(JSON.stringify(message) + "\n");
}

async function ask(message) {
  send(message);
  const { value, done } = await input.next();
  if (done) throw new Error("the test closed stdin");
  return JSON.parse(value);
}

// --- a browser's cookie jar over fetch ---------------------------------------------------------
const jar = new Map();

function storeCookies(response) {
  for (const header of response.headers.getSetCookie()) {
    const pair = header.split(";")[0];
    const at = pair.indexOf("=");
    const name = pair.slice(0, at).trim();
    const value = pair.slice(at + 1).trim();
    if (/max-age=0\b/i.test(header) || value === '""' || value === "") jar.delete(name);
    else jar.set(name, value);
  }
}

async function browserFetch(url, options = {}) {
  const target = new URL(String(url), base);
  if (target.origin !== new URL(base).origin) throw new Error("cross-origin fetch: " + target);
  const headers = new Headers(options.headers || {});
  if (jar.size) headers.set("Cookie", [...jar].map(([k, v]) => `${k}=${v}`).join("; "));
  headers.set("Origin", new URL(base).origin); // as a browser does on POST
  const { credentials, ...rest } = options; // same-origin: the jar above plays that part
  const response = await fetch(target, { ...rest, headers, redirect: "manual" });
  storeCookies(response);
  report.steps.push(`${rest.method || "GET"} ${target.pathname} ${response.status}`);
  return response;
}

// --- the page ------------------------------------------------------------------------------------
function unescapeHtml(text) {
  return text.replace(/&quot;/g, '"').replace(/&#x27;/g, "'").replace(/&lt;/g, "<").replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&");
}

async function loadPage(path) {
  const response = await browserFetch(path);
  const html = await response.text();
  if (response.status !== 200) throw new Error(`GET ${path} answered ${response.status}`);
  const meta = /<meta name="csrf-token" content="([^"]*)">/.exec(html);
  const walletTag = /<div\b[^>]*\bid="wallet"[^>]*>/s.exec(html);
  if (!meta || !walletTag) throw new Error("the page lacks the csrf-token meta tag or #wallet");
  const dataset = {};
  for (const m of walletTag[0].matchAll(/\bdata-([a-z-]+)="([^"]*)"/g)) {
    dataset[m[1].replace(/-([a-z])/g, (_, c) => c.toUpperCase())] = unescapeHtml(m[2]);
  }
  const ids = new Set([...html.matchAll(/\bid="([^"]+)"/g)].map((m) => m[1]));
  const script = [...html.matchAll(/<script src="([^"]+)"/g)].map((m) => m[1]).find((s) => s.endsWith("/wallet.js"));
  if (!script) throw new Error("the page does not load wallet.js");
  const source = await (await browserFetch(script)).text();
  const chainId = (/<body[^>]*data-chain-id="(\d+)"/.exec(html) || [])[1];
  return { meta: unescapeHtml(meta[1]), dataset, ids, source, chainId };
}

function fakeElement(id, dataset = {}) {
  const listeners = [];
  const attributes = {};
  return {
    id,
    dataset,
    textContent: "",
    disabled: false,
    addEventListener(type, fn) {
      if (type === "click") listeners.push(fn);
    },
    setAttribute(name, value) {
      attributes[name] = String(value);
    },
    removeAttribute(name) {
      delete attributes[name];
    },
    getAttribute(name) {
      return name in attributes ? attributes[name] : null;
    },
    listenerCount: () => listeners.length,
    async click() {
      await Promise.all(listeners.map((fn) => fn({ preventDefault() {} })));
    },
  };
}

function openPage(page, wallet) {
  const elements = { wallet: fakeElement("wallet", page.dataset) };
  for (const id of ["connect-wallet", "sign-out", "wallet-error"]) {
    if (page.ids.has(id)) elements[id] = fakeElement(id);
  }
  const state = { reloads: 0, walletCalls: [] };
  const document = {
    readyState: "complete",
    get cookie() {
      return jar.has("csrftoken") ? `csrftoken=${jar.get("csrftoken")}` : ""; // sessionid is HttpOnly
    },
    getElementById: (id) => elements[id] || null,
    querySelector: (selector) =>
      selector === 'meta[name="csrf-token"]' ? { getAttribute: () => page.meta } : null,
    addEventListener() {},
    body: { dataset: { chainId: page.chainId } },
  };
  const sandbox = {
    document,
    fetch: browserFetch,
    Headers,
    TextEncoder,
    URL,
    console,
    location: { reload: () => (state.reloads += 1) },
  };
  sandbox.window = sandbox;
  if (wallet) {
    sandbox.ethereum = {
      async request({ method, params }) {
        state.walletCalls.push(method);
        if (method === "eth_requestAccounts" || method === "eth_accounts") return [config.address.toLowerCase()];
        if (method === "eth_chainId") return "0x" + Number(page.chainId).toString(16);
        if (method === "personal_sign") {
          const answer = await ask({ op: "personal_sign", params });
          if (answer.error) throw Object.assign(new Error(answer.error.message), { code: answer.error.code });
          return answer.result;
        }
        throw Object.assign(new Error("unsupported"), { code: 4200 });
      },
    };
  }
  vm.createContext(sandbox);
  vm.runInContext(page.source, sandbox, { filename: "wallet.js" });
  return { sandbox, elements, state };
}

async function me() {
  const response = await browserFetch("/accounts/me", { headers: { Accept: "application/json" } });
  return { status: response.status, body: await response.json() };
}

// --- scenarios -----------------------------------------------------------------------------------
async function signInFlow(wallet) {
  const page = await loadPage("/");
  report.signedOutPage = { address: page.dataset.address, connect: page.ids.has("connect-wallet"),
    signOut: page.ids.has("sign-out") };
  const { sandbox, elements, state } = openPage(page, wallet);
  const govapp = sandbox.govapp;
  report.helpers = Object.keys(govapp).sort();
  report.hex = govapp.utf8ToHex("é€");
  report.frozen = Object.isFrozen(govapp);
  report.connectListeners = elements["connect-wallet"].listenerCount();
  await elements["connect-wallet"].click();
  report.signIn = { error: elements["wallet-error"].textContent, reloads: state.reloads,
    walletCalls: state.walletCalls, disabledAfter: elements["connect-wallet"].disabled };
  report.meAfterSignIn = await me();
}

async function signOutFlow() {
  const page = await loadPage("/"); // the reload
  report.signedInPage = { address: page.dataset.address, connect: page.ids.has("connect-wallet"),
    signOut: page.ids.has("sign-out") };
  const { elements, state } = openPage(page, true);
  await elements["sign-out"].click();
  report.signOut = { error: elements["wallet-error"].textContent, reloads: state.reloads };
  report.meAfterSignOut = await me();
}

try {
  await signInFlow(config.scenario !== "no-wallet");
  if (config.scenario === "sign-in-and-out") await signOutFlow();
} catch (err) {
  report.crash = String(err && err.stack ? err.stack : err);
}
send({ op: "done", report });
process.exit(0);
