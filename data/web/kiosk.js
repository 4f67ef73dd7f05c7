// data/web/kiosk.js: the kiosk page of one session (/?session=ID[&token=T]).
// It opens shopd's WebSocket bridge, asks for the session's current state,
// then follows the events published on the session (intent, product,
// recommendations, cart, answer). Typed requests go to shopd as "text"
// requests of its protocol. Product names and photos come from "catalogue"
// requests, remembered per product.
"use strict";

const params = new URLSearchParams(location.search);
const session = params.get("session") || "";
const token = params.get("token") || "";
const $ = (id) => document.getElementById(id);

let ws = null;
let nextId = 1;
const pending = new Map();     // request id -> function(reply envelope)
const items = new Map();       // product id -> catalogue item (or a promise of it)
let viewItem = "";             // the product in view

function showError(text) {
  const e = $("error");
  e.textContent = text;
  e.hidden = !text;
}

function request(type, body) {
  return new Promise((resolve) => {
    const id = nextId++;
    pending.set(id, resolve);
    ws.send(JSON.stringify({ id: id, type: type, body: body || {} }));
  });
}

function item(id) {
  if (!items.has(id)) {
    items.set(id, request("catalogue", { op: "get", id: id }).then(
      (r) => (r.ok ? r.body.item : null)));
  }
  return items.get(id);
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function photo(cls, id) {
  const img = el("img", cls);
  img.alt = "";
  item(id).then((it) => {
    if (it && it.photo) img.src = "/photo/" + it.photo;
  });
  return img;
}

function money(v) {
  return typeof v === "number" ? v.toFixed(2) : "";
}

function renderIntent(intent) {
  if (!intent) return;
  $("heard").textContent = intent.heard_text || (intent.heard || []).map((w) => w.word).join(" ")
    || "(spoken)";
  $("heard").className = "";
  $("intent").textContent = intent.understood ? intent.text : "not understood";
}

function renderView(id) {
  if (!id || id === viewItem) return;
  viewItem = id;
  const v = $("view");
  v.textContent = "";
  v.className = "";
  v.appendChild(photo("photo", id));
  const t = el("div");
  const name = el("div", "name", id);
  const price = el("div", "price");
  t.appendChild(name);
  t.appendChild(price);
  v.appendChild(t);
  item(id).then((it) => {
    if (!it) return;
    name.textContent = it.name;
    price.textContent = money(it.price) + (it.in_stock ? "" : " (out of stock)");
  });
}

function renderRecs(recs) {
  if (!recs) return;
  const title = { search: "Here for you", cheaper: "Cheaper", similar: "Similar",
                  together: "Goes with your cart", recommend: "You might like",
                  personal: "You might like", popular: "Popular", category: "Best of" };
  let t = title[recs.kind] || "Recommendations";
  if (recs.category) t += ": " + recs.category;
  if (recs.max_price) t += " under " + money(recs.max_price);
  $("recs-title").textContent = t;
  const ol = $("recs");
  ol.textContent = "";
  for (const r of recs.results || []) {
    const li = el("li");
    li.dataset.item = r.item;
    li.appendChild(photo("thumb", r.item));
    const t2 = el("span", "text");
    t2.appendChild(el("span", "name", r.name));
    t2.appendChild(el("span", "reason", r.reason));
    li.appendChild(t2);
    li.appendChild(el("span", "price", money(r.price)));
    ol.appendChild(li);
  }
  if (!(recs.results || []).length) ol.appendChild(el("li", "muted", "Nothing to show."));
}

function renderCart(cart) {
  if (!cart) return;
  $("cart-count").textContent = String(cart.count || 0);
  const ul = $("cart-lines");
  ul.textContent = "";
  for (const line of cart.lines || []) {
    const li = el("li", "", line.quantity + " \u00d7 " + line.item);
    item(line.item).then((it) => {
      if (it) li.textContent = line.quantity + " \u00d7 " + it.name;
    });
    ul.appendChild(li);
  }
  if (!(cart.lines || []).length) ul.appendChild(el("li", "muted", "Empty."));
}

// an answer of text / audio / photo: every part it has
function renderAnswer(a) {
  renderIntent(a.intent);
  if (a.say !== undefined) $("say").textContent = a.say;
  if (a.product && a.product.item) renderView(a.product.item.id);
  else if (a.session && a.session.product) renderView(a.session.product);
  renderRecs(a.recommendations);
  renderCart(a.cart);
}

function onEvent(ev) {
  const b = ev.body;
  if (ev.type === "answer") renderAnswer(b);
  else if (ev.type === "intent") renderIntent(b);
  else if (ev.type === "recommendations") renderRecs(b);
  else if (ev.type === "cart") renderCart(b);
  else if (ev.type === "product" && b.item) renderView(b.item.id);
}

function connect() {
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host +
    "/ws?session=" + encodeURIComponent(session) +
    (token ? "&token=" + encodeURIComponent(token) : "");
  ws = new WebSocket(url, "shopd-kiosk");
  ws.onopen = () => {
    $("link").textContent = "live";
    $("link").className = "badge";
    showError("");
    // the state the session is in now
    request("session").then((r) => {
      if (!r.ok) {
        showError("session: " + r.error.message);
        return;
      }
      renderAnswer(r.body);
      if (r.body.item) renderView(r.body.item.id);
    });
  };
  ws.onmessage = (m) => {
    let msg;
    try {
      msg = JSON.parse(m.data);
    } catch (e) {
      return;
    }
    if (msg.kind === "reply" && pending.has(msg.id)) {
      const f = pending.get(msg.id);
      pending.delete(msg.id);
      f(msg.reply);
    } else if (msg.kind === "event") {
      onEvent(msg.event);
    } else if (msg.kind === "error") {
      showError(msg.message);
    }
  };
  ws.onclose = () => {
    $("link").textContent = "reconnecting";
    $("link").className = "badge off";
    for (const f of pending.values()) f({ ok: false, error: { message: "connection lost" } });
    pending.clear();
    items.clear();
    setTimeout(connect, 2000);
  };
}

$("ask").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("text").value.trim();
  if (!text || !ws || ws.readyState !== WebSocket.OPEN) return;
  request("text", { text: text }).then((r) => {
    if (r.ok) {
      renderAnswer(r.body);
      $("text").value = "";
    } else {
      showError(r.error.message);
    }
  });
});

if (!session) {
  showError("Open this page as /?session=ID (the kiosk's session).");
  $("link").textContent = "no session";
} else {
  $("session").textContent = "session " + session;
  connect();
}
