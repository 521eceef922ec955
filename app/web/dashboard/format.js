// Money and dates as an owner reads them; money keeps the API's digits.
let currency = "EUR";

export function setCurrency(code) {
  currency = code || "EUR";
}

export function money(value) {
  if (value === null || value === undefined) return "—";
  const [whole, cents = "00"] = String(value).split(".");
  let symbol = currency;
  try {
    const parts = new Intl.NumberFormat(undefined, { style: "currency", currency }).formatToParts(0);
    symbol = (parts.find((p) => p.type === "currency") || { value: currency }).value;
  } catch (err) {
    // an unknown currency code: show the code itself
  }
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${symbol}${grouped}.${cents}`;
}

export function day(iso) {
  const date = new Date(`${iso}T12:00:00Z`);
  return date.toLocaleDateString(undefined, { day: "numeric", month: "short", timeZone: "UTC" });
}

export function moment(iso) {
  return new Date(iso).toLocaleString(undefined, {
    day: "numeric", month: "short", hour: "2-digit", minute: "2-digit",
  });
}

export function words(status) {
  return String(status).replaceAll("_", " ");
}
