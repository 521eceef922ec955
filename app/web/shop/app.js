// The shop page: a client of /api/storefront/* with the builtin key. Text from the API is set
// with textContent, never as HTML. Views follow the address's #fragment.
import { api, ApiError } from "./api.js";
import { basket } from "./basket.js";

const PAGE_SIZE = 12;
const $ = (selector, root = document) => root.querySelector(selector);
const bound = (name) => $(`[data-bind="${name}"]`);
const state = { q: "", offset: 0, total: 0, product: null };

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function money(amount, currency) {
  const value = Number(amount);
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency: currency || "EUR" }).format(value);
  } catch {
    return `${amount} ${currency || ""}`.trim();
  }
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "";
}

function words(status) {
  return String(status || "").replaceAll("_", " ");
}

function notice(text) {
  const node = bound("notice");
  node.textContent = text || "";
  node.hidden = !text;
}

function show(view) {
  for (const section of document.querySelectorAll("[data-view]")) {
    section.hidden = section.dataset.view !== view;
  }
  notice("");
  window.scrollTo(0, 0);
}

function refreshBasketCount() {
  bound("basket-count").textContent = String(basket.count());
}

// ---- catalog ------------------------------------------------------------------------------------

async function showCatalog(params) {
  show("catalog");
  state.q = params.get("q") || "";
  state.offset = Math.max(0, Number(params.get("offset")) || 0);
  $("#search-q").value = state.q;
  const list = bound("results");
  list.replaceChildren();
  const query = new URLSearchParams({ limit: String(PAGE_SIZE), offset: String(state.offset) });
  if (state.q) query.set("q", state.q);
  try {
    const page = await api.get(`/api/storefront/products?${query}`);
    state.total = page.total;
    for (const product of page.items) list.append(productCard(product));
    bound("result-count").textContent = page.total === 0
      ? (state.q ? `Nothing matches “${state.q}”.` : "Nothing for sale yet.")
      : `${page.total} ${page.total === 1 ? "product" : "products"}${state.q ? ` for “${state.q}”` : ""}`;
    const pages = Math.max(1, Math.ceil(page.total / PAGE_SIZE));
    bound("page").textContent = `Page ${Math.floor(state.offset / PAGE_SIZE) + 1} of ${pages}`;
    $('[data-action="previous"]').disabled = state.offset === 0;
    $('[data-action="next"]').disabled = state.offset + PAGE_SIZE >= page.total;
  } catch (error) {
    notice(error.message);
  }
}

// An image's variant as an <img>: its alt text (the product's title when it has none), and
// width and height scaled from the picture's own size the way the server fits each variant
// (the longest side at most `side` pixels, never larger than the picture), so nothing jumps.
function picture(product, variant, side, lazy) {
  const image = (product.images || [])[0];
  if (!image) return null;
  const scale = Math.min(1, side / Math.max(image.width, image.height));
  const img = document.createElement("img");
  img.src = image.urls[variant];
  img.alt = image.alt || product.title;
  img.width = Math.max(1, Math.round(image.width * scale));
  img.height = Math.max(1, Math.round(image.height * scale));
  img.className = `picture ${variant}`;
  if (lazy) img.loading = "lazy";
  return img;
}

function productCard(product) {
  const item = el("li", null, "card");
  const thumb = picture(product, "thumb", 200, true);
  if (thumb) item.append(thumb);
  const title = el("a", product.title, "title");
  title.href = `#/product/${encodeURIComponent(product.id)}`;
  item.append(el("h2")); item.firstChild.append(title);
  if (product.author) item.append(el("p", product.author, "author"));
  const foot = el("p", null, "card-foot");
  foot.append(el("span", money(product.price, product.currency), "price"));
  foot.append(el("span", product.available ? "In stock" : "Sold out", product.available ? "ok" : "out"));
  item.append(foot);
  return item;
}

function catalogHash(q, offset) {
  const params = new URLSearchParams();
  if (q) params.set("q", q);
  if (offset) params.set("offset", String(offset));
  const text = params.toString();
  return `#/${text ? `?${text}` : ""}`;
}

// ---- a product ----------------------------------------------------------------------------------

async function showProduct(id) {
  show("product");
  const button = $('[data-action="add-to-basket"]');
  bound("added").textContent = "";
  for (const name of ["product-title", "product-author", "product-price", "product-available", "product-description"]) {
    bound(name).textContent = "";
  }
  bound("product-facts").replaceChildren();
  bound("product-picture").replaceChildren();
  button.disabled = true;
  try {
    const product = await api.get(`/api/storefront/products/${encodeURIComponent(id)}`);
    state.product = product;
    document.title = `${product.title} · Shop`;
    bound("product-title").textContent = product.title;
    const large = picture(product, "large", 1200, false);
    if (large) bound("product-picture").append(large);
    bound("product-author").textContent = product.author || "";
    bound("product-price").textContent = money(product.price, product.currency);
    bound("product-available").textContent = product.available ? "In stock" : "Sold out";
    bound("product-available").className = `availability ${product.available ? "ok" : "out"}`;
    bound("product-description").textContent = product.description || "";
    const facts = bound("product-facts");
    for (const [label, value] of [["ISBN", product.isbn], ["Category", product.category], ["SKU", product.sku]]) {
      if (!value) continue;
      facts.append(el("dt", label), el("dd", value));
    }
    button.disabled = !product.available;
  } catch (error) {
    bound("product-title").textContent = error.status === 404 ? "No such product" : "Something went wrong";
    notice(error.status === 404 ? "" : error.message);
  }
}

// ---- the basket ---------------------------------------------------------------------------------

function showBasket() {
  show("basket");
  const lines = bound("basket-lines");
  lines.replaceChildren();
  const items = basket.items();
  bound("basket-empty").hidden = items.length > 0;
  $('[data-link="checkout"]').hidden = items.length === 0;
  for (const line of items) {
    const row = el("li", null, "line");
    const title = el("a", line.title, "title");
    title.href = `#/product/${encodeURIComponent(line.product_id)}`;
    const quantityId = `qty-${line.product_id}`;
    const label = el("label", "Quantity");
    label.htmlFor = quantityId;
    const quantity = el("input");
    Object.assign(quantity, { id: quantityId, type: "number", min: "1", max: "20", value: String(line.quantity) });
    quantity.addEventListener("change", () => {
      basket.set(line.product_id, Number(quantity.value));
      showBasket();
    });
    const remove = el("button", "Remove", "secondary");
    remove.type = "button";
    remove.addEventListener("click", () => { basket.remove(line.product_id); showBasket(); });
    const amount = el("span", money((Number(line.price) * line.quantity).toFixed(2), line.currency), "price");
    const controls = el("div", null, "line-controls");
    controls.append(label, quantity, remove);
    row.append(title, controls, amount);
    lines.append(row);
  }
  bound("basket-total").textContent = items.length ? `Total ${money(basket.total(), basket.currency())}` : "";
  refreshBasketCount();
}

// ---- checkout -----------------------------------------------------------------------------------

function clearErrors(root) {
  for (const node of root.querySelectorAll("[data-error]")) {
    node.textContent = "";
    node.hidden = true;
  }
  for (const input of root.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
}

function showError(root, field, messages) {
  let node = root.querySelector(`[data-error="${CSS.escape(field)}"]`);
  if (!node && field.startsWith("items")) node = root.querySelector('[data-error="items"]');
  if (!node && field.startsWith("customer")) node = root.querySelector('[data-error="customer.name"]');
  if (!node) node = root.querySelector('[data-error="_form"]');
  const text = Array.isArray(messages) ? messages.join(" ") : String(messages);
  node.textContent = node.textContent ? `${node.textContent} ${text}` : text;
  node.hidden = false;
  const input = node.parentElement && node.parentElement.querySelector("input, textarea");
  if (input) input.setAttribute("aria-invalid", "true");
}

function showCheckout() {
  if (basket.items().length === 0) {
    location.hash = "#/basket";
    return;
  }
  show("checkout");
  clearErrors($("#checkout"));
  bound("checkout-total").textContent = `Total ${money(basket.total(), basket.currency())}`;
  syncAddress();
}

function syncAddress() {
  const form = $('[data-form="checkout"]');
  const pickup = form.elements.method.value === "pickup";
  bound("address").hidden = pickup;
}

function itemsError(error) {
  // a line's error names its index in the basket: say which title it is
  const items = basket.items();
  const out = [];
  for (const [field, messages] of Object.entries(error.errors || {})) {
    const match = /^items\.(\d+)/.exec(field);
    if (match && items[Number(match[1])]) out.push([field, [`${items[Number(match[1])].title}: ${[].concat(messages).join(" ")}`]]);
    else out.push([field, messages]);
  }
  return out;
}

async function placeOrder(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const section = $("#checkout");
  clearErrors(section);
  const value = (name) => form.elements[name].value.trim();
  const body = {
    items: basket.items().map((line) => ({ product_id: line.product_id, quantity: line.quantity })),
    customer: { name: value("name"), email: value("email") },
  };
  if (value("phone")) body.customer.phone = value("phone");
  if (value("notes")) body.notes = value("notes");
  if (form.elements.method.value === "delivery") {
    body.shipping_address = {
      name: value("name") || null, line1: value("line1"), line2: value("line2") || null,
      city: value("city"), postal_code: value("postal_code"), country: value("country"),
    };
  }
  const button = form.querySelector('button[type="submit"]');
  button.disabled = true;
  try {
    const order = await api.post("/api/storefront/orders", body, { "Idempotency-Key": basket.attempt() });
    basket.clear();
    refreshBasketCount();
    form.reset();
    sessionStorage.setItem("shop.lastOrder", JSON.stringify({
      number: order.number, email: body.customer.email, total: order.total, currency: order.currency,
      hold_expires_at: order.hold_expires_at }));
    location.hash = `#/done/${order.number}`;
  } catch (error) {
    if (error instanceof ApiError && error.errors) {
      for (const [field, messages] of itemsError(error)) showError(section, field, messages);
    } else {
      showError(section, "_form", error.message);
    }
    const first = section.querySelector("[data-error]:not([hidden])");
    if (first) first.scrollIntoView({ block: "center" });
  } finally {
    button.disabled = false;
  }
}

function showDone(number) {
  const order = JSON.parse(sessionStorage.getItem("shop.lastOrder") || "null");
  if (!order || String(order.number) !== String(number)) {
    showTrack(new URLSearchParams({ number: number || "" }));
    return;
  }
  show("done");
  bound("done-number").textContent = `Order ${order.number}`;
  bound("done-total").textContent = money(order.total, order.currency);
  bound("done-hold").textContent = order.hold_expires_at
    ? `Please pay by ${when(order.hold_expires_at)}; until then we keep your items for you.` : "";
  $('[data-link="done-track"]').href = `#/track?number=${encodeURIComponent(order.number)}`;
}

// ---- tracking -----------------------------------------------------------------------------------

function showTrack(params) {
  show("track");
  const form = $('[data-form="track"]');
  const last = JSON.parse(sessionStorage.getItem("shop.lastOrder") || "null");
  if (params.get("number")) form.elements.number.value = params.get("number");
  if (last && String(last.number) === form.elements.number.value && !form.elements.email.value) {
    form.elements.email.value = last.email;
  }
  bound("tracked").hidden = true;
  bound("track-miss").hidden = true;
}

async function track(event) {
  event.preventDefault();
  const form = event.currentTarget;
  clearErrors($("#track"));
  const number = form.elements.number.value.trim();
  const email = form.elements.email.value.trim();
  const miss = bound("track-miss");
  miss.hidden = true;
  bound("tracked").hidden = true;
  if (!email) {
    showError($("#track"), "email", "Give the email you ordered with.");
    return;
  }
  try {
    const order = await api.get(`/api/storefront/orders/${encodeURIComponent(number || "0")}?email=${encodeURIComponent(email)}`);
    renderTracked(order);
  } catch (error) {
    miss.textContent = error.status === 404 ? "We found no order with this number and email." : error.message;
    miss.hidden = false;
  }
}

function renderTracked(order) {
  bound("tracked").hidden = false;
  bound("tracked-number").textContent = `Order ${order.number}`;
  bound("tracked-status").textContent = words(order.status);
  bound("tracked-status").dataset.status = order.status;
  bound("tracked-payment").textContent = words(order.payment_status);
  const lines = bound("tracked-lines");
  lines.replaceChildren();
  for (const line of order.lines) {
    lines.append(el("li", `${line.quantity} × ${line.title} — ${money(line.line_total, order.currency)}`));
  }
  bound("tracked-total").textContent = `Total ${money(order.total, order.currency)}`;
  const delivery = bound("tracked-delivery");
  delivery.replaceChildren();
  if (!order.delivery) {
    delivery.append(el("p", order.shipping_address ? "Not sent yet." : "Pickup in the shop.", "muted"));
    return;
  }
  const d = order.delivery;
  delivery.append(el("h3", "Delivery"));
  const facts = [d.carrier, d.tracking_number, d.estimated_date ? `expected ${d.estimated_date}` : null].filter(Boolean);
  if (facts.length) delivery.append(el("p", facts.join(" · "), "muted"));
  const events = el("ol", null, "events");
  for (const step of d.events) {
    const item = el("li");
    item.dataset.status = step.status;
    item.append(el("strong", words(step.status)), el("span", ` ${when(step.at)}`, "muted"));
    events.append(item);
  }
  delivery.append(events);
}

// ---- routing ------------------------------------------------------------------------------------

function route() {
  const hash = location.hash || "#/";
  const [path, query] = hash.slice(1).split("?");
  const params = new URLSearchParams(query || "");
  const parts = path.split("/").filter(Boolean);
  document.title = "Shop";
  if (parts[0] === "product" && parts[1]) return showProduct(decodeURIComponent(parts[1]));
  if (parts[0] === "basket") return showBasket();
  if (parts[0] === "checkout") return showCheckout();
  if (parts[0] === "track") return showTrack(params);
  if (parts[0] === "done") return showDone(parts[1]);
  return showCatalog(params);
}

function wire() {
  $('[data-form="search"]').addEventListener("submit", (event) => {
    event.preventDefault();
    location.hash = catalogHash($("#search-q").value.trim(), 0);
  });
  $('[data-action="previous"]').addEventListener("click", () => {
    location.hash = catalogHash(state.q, Math.max(0, state.offset - PAGE_SIZE));
  });
  $('[data-action="next"]').addEventListener("click", () => {
    location.hash = catalogHash(state.q, state.offset + PAGE_SIZE);
  });
  $('[data-action="add-to-basket"]').addEventListener("click", () => {
    if (!state.product) return;
    basket.add(state.product);
    refreshBasketCount();
    bound("added").textContent = `Added. ${basket.count()} in your basket.`;
  });
  const checkout = $('[data-form="checkout"]');
  checkout.addEventListener("submit", placeOrder);
  for (const radio of checkout.elements.method) radio.addEventListener("change", syncAddress);
  $('[data-form="track"]').addEventListener("submit", track);
  window.addEventListener("hashchange", route);
  window.addEventListener("storage", refreshBasketCount);
}

wire();
refreshBasketCount();
route();
