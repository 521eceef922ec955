// The back-office dashboard: sign in, then the figures of GET /api/dashboard, the low-stock list
// and a product's recent movements, all read from the public API.
import { Refused, SignedOut, call, signIn, signOut, signedIn } from "./api.js";
import { salesChart } from "./chart.js";
import { bound, el, fill, show } from "./dom.js";
import { day, money, moment, setCurrency, words } from "./format.js";

function figure(board, path) {
  return path.split(".").reduce((value, key) => (value == null ? value : value[key]), board);
}

function showFigures(board) {
  for (const node of document.querySelectorAll("[data-figure]")) {
    const value = figure(board, node.dataset.figure);
    node.dataset.value = String(value);
    node.textContent = node.hasAttribute("data-money") ? money(value) : String(value);
  }
}

function showChart(days) {
  const { chart, highest } = salesChart(days);
  const first = days.length ? day(days[0].date) : "";
  const last = days.length ? day(days[days.length - 1].date) : "";
  fill(bound("chart"), [
    el("p", { class: "chart-scale" }, `Best day ${money(highest.toFixed(2))}`),
    chart,
    el("p", { class: "chart-axis" }, el("span", {}, first), el("span", {}, last)),
  ]);
}

function showTopProducts(products) {
  const rows = products.map((p) => el("tr", {},
    el("td", {}, el("span", { class: "title" }, p.title), el("small", {}, p.sku)),
    el("td", { class: "num" }, p.items_sold),
    el("td", { class: "num" }, money(p.net))));
  fill(bound("top-products"), rows.length ? rows : [el("tr", {}, el("td", { colspan: 3, class: "empty" }, "No sales in 30 days."))]);
}

function showRecentOrders(orders) {
  const rows = orders.map((o) => el("tr", {},
    el("td", {}, `#${o.number}`),
    el("td", {}, el("span", { class: `badge ${o.status}` }, words(o.status))),
    el("td", { class: "num" }, money(o.total))));
  fill(bound("recent-orders"), rows.length ? rows : [el("tr", {}, el("td", { colspan: 3, class: "empty" }, "No orders yet."))]);
}

function showStatuses(counts) {
  fill(bound("orders-by-status"), Object.entries(counts).map(([status, count]) =>
    el("li", { "data-status": status }, el("span", { class: `badge ${status}` }, words(status)),
      el("strong", {}, count))));
}

function showLowStock(products, total) {
  const items = products.map((p) => el("li", {},
    el("a", { href: `#/products/${encodeURIComponent(p.id)}` }, p.title),
    el("span", { class: p.stock === 0 ? "level out" : "level low" }, `${p.stock} left · low at ${p.low_stock_threshold}`)));
  if (total > products.length) items.push(el("li", { class: "more" }, `and ${total - products.length} more`));
  fill(bound("low-stock"), items.length ? items : [el("li", { class: "empty" }, "Nothing is running low.")]);
}

async function showBoard() {
  const [board, low] = await Promise.all([
    call("/api/dashboard"), call("/api/inventory/low-stock?limit=20"),
  ]);
  setCurrency(board.currency);
  bound("date").textContent = new Date(`${board.date}T12:00:00Z`).toLocaleDateString(undefined, {
    weekday: "long", day: "numeric", month: "long", timeZone: "UTC",
  });
  bound("range").textContent = `${day(board.last_30_days.since)} – ${day(board.last_30_days.until)}`;
  showFigures(board);
  showChart(board.sales_by_day);
  showTopProducts(board.top_products);
  showRecentOrders(board.recent_orders);
  showStatuses(board.orders_by_status);
  showLowStock(low.items, low.total);
  bound("status").textContent = `Updated ${moment(board.generated_at)}`;
}

async function showProduct(id) {
  const [product, moves] = await Promise.all([
    call(`/api/products/${encodeURIComponent(id)}`),
    call(`/api/stock-movements?product_id=${encodeURIComponent(id)}&limit=20`),
  ]);
  bound("product-title").textContent = product.title;
  bound("product-sku").textContent = product.sku;
  bound("product-stock").textContent = String(product.stock);
  bound("product-threshold").textContent = String(product.low_stock_threshold);
  const rows = moves.items.map((m) => el("tr", {},
    el("td", {}, moment(m.created_at)), el("td", {}, words(m.reason)),
    el("td", { class: m.delta < 0 ? "num minus" : "num plus" }, m.delta > 0 ? `+${m.delta}` : m.delta),
    el("td", { class: "num" }, m.stock_after)));
  fill(bound("movements"), rows.length ? rows : [el("tr", {}, el("td", { colspan: 4, class: "empty" }, "No movements."))]);
}

function showSignIn(message) {
  for (const id of ["board", "product"]) show(id, false);
  show("sign-in", true);
  document.querySelector("[data-action=sign-out]").hidden = true;
  bound("user").textContent = "";
  bound("date").textContent = "";
  const refusal = bound("refusal");
  refusal.textContent = message || "";
  refusal.hidden = !message;
}

async function route() {
  if (!signedIn()) {
    showSignIn();
    return;
  }
  show("sign-in", false);
  document.querySelector("[data-action=sign-out]").hidden = false;
  const match = location.hash.match(/^#\/products\/(.+)$/);
  try {
    if (match) {
      show("board", false);
      show("product", true);
      await showProduct(decodeURIComponent(match[1]));
    } else {
      show("product", false);
      show("board", true);
      await showBoard();
    }
  } catch (err) {
    if (err instanceof SignedOut) {
      showSignIn(err.message);
    } else {
      bound("status").textContent = err.message;
    }
  }
}

document.querySelector("[data-form=sign-in]").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const button = form.querySelector("button");
  button.disabled = true;
  try {
    const user = await signIn(form.username.value.trim(), form.password.value);
    form.reset();
    bound("user").textContent = user.username;
    sessionStorage.setItem("backroom.username", user.username);
    await route();
  } catch (err) {
    showSignIn(err instanceof Refused ? err.message : "The server could not be reached.");
  } finally {
    button.disabled = false;
  }
});

document.querySelector("[data-action=sign-out]").addEventListener("click", async () => {
  await signOut();
  sessionStorage.removeItem("backroom.username");
  showSignIn();
});

document.querySelector("[data-action=refresh]").addEventListener("click", () => route());
window.addEventListener("hashchange", () => route());
bound("user").textContent = sessionStorage.getItem("backroom.username") || "";
route();
