// Moving between pages, and a message carried to the next one (after an erasure, say).

let flash = null;

export function flashNext(message) {
  flash = message;
}

/** The message left for this page, once. */
export function takeFlash() {
  const message = flash;
  flash = null;
  return message;
}

/** Goes to a console page; rendering it again when it is the current one. */
export function navigate(hash) {
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else location.hash = hash;
}
