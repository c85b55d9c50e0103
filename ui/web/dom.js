// One small DOM helper for the kiosk page and the GP console: text only (never innerHTML with
// data), elements built in code or cloned from <template>s.

import { applyStatic } from "./i18n.js";

/** The element with this id (the page's markup guarantees it exists). */
export const $ = (id) => document.getElementById(id);

/**
 * An element with attributes and children. `text` sets textContent, `dataset` sets data-*,
 * `on<event>` (a function) adds a listener; any other name is an attribute (true: present).
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "text") node.textContent = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (/^on[a-z]+$/.test(name)) {
      // A handler given as a string would be code made from data: only functions are listeners.
      if (typeof value !== "function") throw new TypeError(`el: ${name} must be a function`);
      node.addEventListener(name.slice(2), value);
    } else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) if (child !== null && child !== undefined && child !== false) node.append(child);
  return node;
}

/** A translated copy of the <template id=...>'s first element. */
export function fromTemplate(id) {
  const node = $(id).content.firstElementChild.cloneNode(true);
  applyStatic(node);
  return node;
}

/** The first descendant with data-role="role". */
export const role = (root, name) => root.querySelector(`[data-role="${name}"]`);

/** Remove every child of `node`. */
export function clear(node) {
  node.replaceChildren();
}

/** Count frames decoded into a <video> as its data-frames attribute, for tests and health. */
export function countFrames(video) {
  video.dataset.frames = video.dataset.frames ?? "0";
  if (typeof video.requestVideoFrameCallback !== "function") return;
  const tick = () => {
    video.dataset.frames = String(Number(video.dataset.frames || 0) + 1);
    video.requestVideoFrameCallback(tick);
  };
  video.requestVideoFrameCallback(tick);
}

/** Detach a <video>'s stream and reset its frame count. */
export function resetVideo(video) {
  video.srcObject = null;
  video.removeAttribute("src");
  video.dataset.frames = "0";
}

/** Give a canvas as many pixels as it shows on this screen; true when its size changed (it was cleared). */
export function fitCanvas(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const { width, height } = canvas.getBoundingClientRect();
  const w = Math.max(1, Math.round(width * ratio));
  const h = Math.max(1, Math.round(height * ratio));
  if (canvas.width === w && canvas.height === h) return false;
  canvas.width = w;
  canvas.height = h;
  return true;
}
