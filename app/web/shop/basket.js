// The basket, kept in localStorage: [{product_id, title, price, currency, quantity}].
const STORE = "shop.basket";
const MAX_QUANTITY = 20;

function read() {
  try {
    const lines = JSON.parse(localStorage.getItem(STORE) || "[]");
    return Array.isArray(lines) ? lines.filter((l) => l && typeof l.product_id === "string") : [];
  } catch {
    return [];
  }
}

function write(lines) {
  localStorage.setItem(STORE, JSON.stringify(lines));
}

function clamp(quantity) {
  return Math.min(MAX_QUANTITY, Math.max(1, Math.floor(Number(quantity) || 1)));
}

export const basket = {
  items: read,
  count: () => read().reduce((sum, line) => sum + line.quantity, 0),
  currency: () => (read()[0] || {}).currency || "EUR",
  total: () => read().reduce((sum, line) => sum + Math.round(Number(line.price) * 100) * line.quantity, 0) / 100,
  add(product) {
    const lines = read();
    const line = lines.find((l) => l.product_id === product.id);
    if (line) line.quantity = clamp(line.quantity + 1);
    else lines.push({ product_id: product.id, title: product.title, price: product.price,
                      currency: product.currency, quantity: 1 });
    write(lines);
    localStorage.removeItem(`${STORE}.attempt`);
  },
  set(productId, quantity) {
    write(read().map((l) => (l.product_id === productId ? { ...l, quantity: clamp(quantity) } : l)));
    localStorage.removeItem(`${STORE}.attempt`);
  },
  remove(productId) {
    write(read().filter((l) => l.product_id !== productId));
    localStorage.removeItem(`${STORE}.attempt`);
  },
  clear() {
    write([]);
    localStorage.removeItem(`${STORE}.attempt`);
  },
  // one Idempotency-Key per basket as it stands: a retried click never orders twice
  attempt() {
    let id = localStorage.getItem(`${STORE}.attempt`);
    if (!id) {
      id = crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(36).slice(2)}`;
      localStorage.setItem(`${STORE}.attempt`, id);
    }
    return id;
  },
};
