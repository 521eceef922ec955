// The 30-day revenue chart: an inline SVG with one rect per day, its height in proportion.
import { svg } from "./dom.js";
import { day, money } from "./format.js";

const WIDTH = 300;
const HEIGHT = 120;

export function salesChart(days) {
  const chart = svg("svg", {
    "data-chart": "sales", viewBox: `0 0 ${WIDTH} ${HEIGHT}`, preserveAspectRatio: "none",
    role: "img", "aria-label": "Revenue per day over the last 30 days",
  });
  const highest = Math.max(0, ...days.map((d) => Number(d.revenue)));
  const slot = WIDTH / Math.max(days.length, 1);
  days.forEach((entry, index) => {
    const value = Number(entry.revenue);
    const height = highest > 0 ? (value / highest) * (HEIGHT - 4) : 0;
    const bar = svg("rect", {
      x: (index * slot + slot * 0.15).toFixed(2), width: (slot * 0.7).toFixed(2),
      y: (HEIGHT - height).toFixed(2), height: height.toFixed(2),
      "data-date": entry.date, "data-value": entry.revenue,
      class: entry.revenue === "0.00" ? "bar empty" : "bar",
    });
    const title = svg("title");
    title.textContent = `${day(entry.date)}: ${money(entry.revenue)} (${entry.orders} orders)`;
    bar.append(title);
    chart.append(bar);
  });
  return { chart, highest };
}
