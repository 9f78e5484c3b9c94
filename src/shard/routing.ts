// Which shard owns a device: FNV-1a (32-bit) over the UTF-16 code units of device_id, modulo the
// shard count. Stable across processes, versions and platforms, because data on disk is laid out by
// it: changing this function is a data-format change.

export function hashDeviceId(deviceId: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < deviceId.length; i++) {
    h ^= deviceId.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export const shardOf = (deviceId: string, shards: number): number => hashDeviceId(deviceId) % shards;
