// Bytes to a string, one character per byte (ISO-8859-1), straight from any Uint8Array: Buffer's
// own decoder (what toString('latin1') ends in) without making a Buffer view or checking arguments.
// For bytes known to be ASCII it is also their UTF-8 decoding.
const latin1Slice = (Buffer.prototype as unknown as { latin1Slice(this: Uint8Array, from: number, to: number): string }).latin1Slice;

/** The string of bytes[from..to), a character per byte. */
export const latin1 = (bytes: Uint8Array, from: number, to: number): string => latin1Slice.call(bytes, from, to);
