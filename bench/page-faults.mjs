// What fresh memory costs on this machine against memory already in use: touches one byte per 4 KiB
// page of a new 64 MiB array (each touch a page fault), then fills an array whose pages are all
// present. On the shared VM the benchmarks run on, a fault cost 14-20 µs, 70 to 140 times the fill
// of a warm page, which is why the RESULTS count faults per event (bench/ab-ingest.mjs prints them per thread).
//
//   node bench/page-faults.mjs
const BYTES = 64 << 20;
const PAGE = 4096;
const pages = BYTES / PAGE;
for (let round = 0; round < 3; round++) {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const fresh = new Uint8Array(BYTES);
  for (let i = 0; i < BYTES; i += PAGE) fresh[i] = 1;
  const wallUs = (performance.now() - t0) * 1000;
  const cpu = process.cpuUsage(cpu0);
  const warm = new Uint8Array(BYTES);
  warm.fill(1);
  const t1 = performance.now();
  for (let r = 0; r < 3; r++) warm.fill(r);
  const warmUs = ((performance.now() - t1) * 1000) / 3;
  console.log(
    JSON.stringify({
      freshPageUs: Number((wallUs / pages).toFixed(2)),
      freshPageSystemUs: Number((cpu.system / pages).toFixed(2)),
      warmPageFillUs: Number((warmUs / pages).toFixed(3)),
      ratio: Math.round(wallUs / warmUs),
    }),
  );
}
