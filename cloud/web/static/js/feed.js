// The live feed of redemptions: GET /api/v1/feed as server-sent events.

import { api, clock, el, money, num, when } from "./lib.js";

const STATE_TEXT = { connecting: "connecting", open: "live", closed: "offline, retrying" };

/**
 * Follows the feed into list (an <ol>), newest first, keeping at most its
 * data-limit items. It starts with the latest redemptions, fetched once the
 * stream is open so that none falls between the two. onRedemption is
 * called for each redemption that arrives live.
 */
export function followFeed(list, stateNode, onRedemption = () => {}) {
  const limit = Number(list.dataset.limit) || 50;
  const seen = new Set();

  function setState(s) {
    stateNode.dataset.state = s;
    stateNode.textContent = STATE_TEXT[s];
    list.dataset.state = s;
  }

  function add(x, live) {
    if (seen.has(x.id)) return;
    seen.add(x.id);
    list.querySelector(".empty")?.remove();
    const ms = Date.parse(x.at) || 0;
    const data = { id: x.id, txn: x.txn, offer: x.offer, store: x.store, ms };
    const item = el("li", { class: live ? "live" : undefined, dataset: data },
      el("time", { datetime: x.at, title: when(x.at), text: clock(x.at) }),
      el("span", { class: "offer", text: x.offer }),
      el("span", { class: "store", text: x.store, title: "Store" }),
      el("span", { class: "txn", text: x.txn, title: "Transaction" }),
      el("span", { class: "amount", dataset: { discount: x.discount }, text: "−" + money(x.discount) }),
      x.points ? el("span", { class: "points", text: "+" + num(x.points) + " pts" }) : null);
    // Newest first, also for one that arrives a little late.
    let before = list.firstElementChild;
    while (before && Number(before.dataset.ms) > ms) before = before.nextElementSibling;
    list.insertBefore(item, before);
    while (list.children.length > limit) list.lastElementChild.remove();
    if (seen.size > 10 * limit) {
      // Only what is listed can come again (from the history after a reconnect).
      seen.clear();
      for (const li of list.children) seen.add(li.dataset.id);
    }
  }

  function empty() {
    if (!list.children.length) list.append(el("li", { class: "empty", text: "No redemptions yet." }));
  }

  async function history() {
    try {
      const { data } = await api("redemptions?limit=" + Math.min(limit, 50));
      for (const x of data.items) add(x, false);
    } catch {
      // The live part still works; the list fills as redemptions come.
    }
    empty();
  }

  function connect() {
    setState("connecting");
    const source = new EventSource("/api/v1/feed");
    source.addEventListener("open", () => {
      setState("open");
      history();
    });
    source.addEventListener("redemption", (e) => {
      let x;
      try {
        x = JSON.parse(e.data);
      } catch {
        return;
      }
      add(x, true);
      onRedemption(x);
    });
    source.addEventListener("error", () => {
      if (source.readyState !== EventSource.CLOSED) {
        setState("connecting"); // the browser reconnects by itself
        return;
      }
      // Refused (a revoked token, HQ restarting): try again in a while;
      // api() goes back to login when the token is the reason.
      setState("closed");
      setTimeout(() => api("me").then(connect, () => setTimeout(connect, 5000)), 5000);
    });
  }

  connect();
}
