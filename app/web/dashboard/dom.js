// Small DOM helpers: API text always goes in as text nodes, never as HTML.
const SVG = "http://www.w3.org/2000/svg";

export function $(selector, root = document) {
  return root.querySelector(selector);
}

export function bound(name) {
  return document.querySelector(`[data-bind="${name}"]`);
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined) node.setAttribute(key, value);
  }
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child ?? "")));
  }
  return node;
}

export function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  return node;
}

export function fill(container, nodes) {
  container.replaceChildren(...nodes);
}

export function show(id, visible) {
  document.getElementById(id).hidden = !visible;
}
