// The one DOM helper: elements from a tag, attributes and children.

export type Attrs = Record<string, string | boolean | ((e: Event) => void)>;

/** Builds an element; strings become text nodes, so task text is never parsed as HTML. */
export function h(tag: string, attrs: Attrs = {}, ...children: (Node | string | null)[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (typeof v === "function") el.addEventListener(k.replace(/^on/, ""), v);
    else if (v === true) el.setAttribute(k, "");
    else if (v !== false) el.setAttribute(k, v);
  }
  for (const c of children) if (c !== null) el.append(c);
  return el;
}
