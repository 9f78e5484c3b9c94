// What a postMessage may move instead of copying.

/**
 * Every ArrayBuffer under value (typed arrays in nested arrays and objects) that a typed array
 * views whole: those can be moved to another thread. Views of part of a buffer are left to be
 * copied, since moving the buffer would take the rest of it along.
 */
export function transferables(value: unknown, out = new Set<ArrayBuffer>()): Set<ArrayBuffer> {
  if (ArrayBuffer.isView(value)) {
    if (value.buffer instanceof ArrayBuffer && value.byteOffset === 0 && value.byteLength === value.buffer.byteLength) out.add(value.buffer);
    return out;
  }
  if (Array.isArray(value)) for (const v of value) transferables(v, out);
  else if (value !== null && typeof value === 'object') for (const v of Object.values(value)) transferables(v, out);
  return out;
}
