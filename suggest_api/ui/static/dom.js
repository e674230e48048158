// DOM building without innerHTML: every piece of API data becomes a text node or an attribute value.

/** An element: attrs (class, text, dataset, on<event>, others as attributes) and children (nodes or text). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = String(value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

/** A <select> of [value, label] pairs (or plain values), with `selected` chosen. */
export function select(id, options, selected, onchange) {
  const el = h("select", { id, onchange: () => onchange(el.value) });
  for (const option of options) {
    const [value, label] = Array.isArray(option) ? option : [option, option];
    el.append(new Option(String(label), String(value), false, String(value) === String(selected)));
  }
  return el;
}

/** A labelled control: <label>text <control></label>. */
export function labelled(text, control) {
  return h("label", { class: "control" }, h("span", { text }), control);
}
