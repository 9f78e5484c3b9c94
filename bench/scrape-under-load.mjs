// Does scraping /metrics disturb ingestion? The same batch load twice on fresh servers: once alone,
// once with a scrape every 100 ms (150x Prometheus' default 15 s). One JSON line per run.
import { rmSync } from 'node:fs';
import { batchBodies, ingest, startServer, tempDir } from './lib.mjs';

const REQUESTS = Number(process.env.REQUESTS ?? 300);
const bodies = batchBodies(REQUESTS, 1000);
const results = [];
for (const scrapeEveryMs of [0, 100]) {
  const dataDir = tempDir();
  const server = await startServer({ DATA_DIR: dataDir });
  let scrapes = 0;
  let stop = false;
  const scraper = (async () => {
    while (!stop && scrapeEveryMs > 0) {
      const r = await fetch(`http://127.0.0.1:${server.port}/metrics`);
      if (r.status !== 200) throw new Error(`/metrics answered ${r.status}`);
      await r.text();
      scrapes++;
      await new Promise((res) => setTimeout(res, scrapeEveryMs));
    }
  })();
  const r = await ingest(server.port, bodies, 1000);
  stop = true;
  await scraper;
  await server.stop();
  rmSync(dataDir, { recursive: true, force: true });
  results.push({ scenario: 'ingest-while-scraping', scrapeEveryMs, scrapes, ...r });
}
for (const r of results) console.log(JSON.stringify({ ...r, ratioToNoScrape: Number((r.eventsPerSec / results[0].eventsPerSec).toFixed(3)) }));
